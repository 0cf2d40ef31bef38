// --export-journals' guard against a running server that takes no lock
// (main/journals.cpp): the processes holding a state directory's journal
// logs open, found in /proc.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <string>

#include <fcntl.h>
#include <unistd.h>

#include "main/commands.hpp"
#include "tests/support/process.hpp"

namespace fs = std::filesystem;

TEST_CASE("export-journals: a process holding a journal log of the state directory open "
          "is found, one holding another file there is not",
          "[main][journal_log]") {
  cc::test::temp_dir tmp{"cc-holders"};
  auto state = tmp / "state";
  fs::create_directories(state);
  cc::test::write_file(state + "/jl-0123456789abcdef.1.0", "");
  cc::test::write_file(state + "/cl-0123456789abcdef-0.0", "");
  auto mine = static_cast<int>(::getpid());
  auto held = [&] {
    auto pids = cc::cli::journal_log_holders(state);
    return std::find(pids.begin(), pids.end(), mine) != pids.end();
  };
  CHECK(!held());
  int other = ::open((state + "/cl-0123456789abcdef-0.0").c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(other >= 0);
  CHECK(!held());
  // As a worker holds its log: found, also through another path to it.
  int log = ::open((state + "/jl-0123456789abcdef.1.0").c_str(), O_RDWR | O_APPEND | O_CLOEXEC);
  REQUIRE(log >= 0);
  CHECK(held());
  fs::create_directory_symlink(state, tmp / "link");
  auto pids = cc::cli::journal_log_holders(tmp / "link");
  CHECK(std::find(pids.begin(), pids.end(), mine) != pids.end());
  ::close(log);
  ::close(other);
  CHECK(!held());
}
