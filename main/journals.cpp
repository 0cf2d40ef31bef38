// --export-journals STATE_DIR: for a downgrade to a build before session 18
// (which reads a journal file per copy and no journal log), every copy's
// journal written back as a journal file (actors/write/journal_log.hpp,
// export_journal_files; docs/operations.md, "downgrade").
#include <iostream>
#include <string>

#include <fcntl.h>
#include <unistd.h>

#include "actors/write/journal_log.hpp"
#include "base/error.hpp"
#include "base/files.hpp"
#include "main/commands.hpp"

namespace cc::cli {

int run_export_journals(const options& opts) {
  const auto& dir = opts.state_dir;
  tw::unique_fd fd{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (fd.get() < 0) {
    std::cerr << "ccserver: --export-journals: " << dir << ": " << errno_text(errno) << "\n";
    return exit_failure;
  }
  // Held until the end: no server starts on it meanwhile.
  if (auto err = tw::lock_state_dir(fd.get(), true)) {
    std::cerr << "ccserver: --export-journals: " << dir << ": " << describe(err)
              << "; stop it first\n";
    return exit_failure;
  }
  auto r = tw::export_journal_files(fd.get());
  if (!r) {
    std::cerr << "ccserver: --export-journals: " << dir << ": " << describe(r.error()) << "\n";
    return exit_failure;
  }
  std::cout << "wrote " << r->copies << " journal files from " << r->logs
            << " journal logs in " << dir << " (the logs are removed)";
  if (r->bad_records > 0)
    std::cout << "; " << r->bad_records << " damaged records skipped";
  std::cout << "\n";
  return exit_ok;
}

} // namespace cc::cli
