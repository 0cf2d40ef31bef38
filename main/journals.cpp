// --export-journals STATE_DIR: for a downgrade to a build before session 18
// (which reads a journal file per copy and no journal log), every copy's
// journal written back as a journal file (actors/write/journal_log.hpp,
// export_journal_files; docs/operations.md, "downgrade").
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

#include "actors/write/journal_log.hpp"
#include "base/error.hpp"
#include "base/files.hpp"
#include "main/commands.hpp"

namespace cc::cli {

std::vector<int> journal_log_holders(const std::string& state_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto dir = fs::canonical(state_dir, ec);
  if (ec)
    return {};
  auto logs = dir.string() + "/jl-";
  std::vector<int> out;
  for (const auto& proc : fs::directory_iterator("/proc", ec)) {
    auto name = proc.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit))
      continue;
    std::error_code fd_ec; // another user's, or gone meanwhile: skipped
    for (const auto& fd : fs::directory_iterator(proc.path() / "fd", fd_ec)) {
      std::error_code link_ec;
      auto target = fs::read_symlink(fd.path(), link_ec).string();
      if (!link_ec && target.compare(0, logs.size(), logs) == 0) {
        out.push_back(std::atoi(name.c_str()));
        break;
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

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
  // A server that takes no lock (builds before session 19) holds its logs
  // open: exporting them would remove what it still writes.
  if (auto pids = journal_log_holders(dir); !pids.empty()) {
    std::cerr << "ccserver: --export-journals: " << dir << ": its journal logs are open in pid "
              << pids.front() << " (a running server); stop it first\n";
    return exit_failure;
  }
  auto r = tw::export_journal_files(fd.get());
  if (!r) {
    std::cerr << "ccserver: --export-journals: " << dir << ": " << describe(r.error()) << "\n";
    return exit_failure;
  }
  std::cout << "wrote " << r->copies << " journal files from " << r->logs
            << " journal logs in " << dir << (r->logs > 0 ? " (the logs are removed)" : "");
  if (r->bad_records > 0)
    std::cout << "; " << r->bad_records << " damaged records skipped";
  std::cout << "\n";
  return exit_ok;
}

} // namespace cc::cli
