// ccserver's entry point: parses the command line and runs one action
// (main/commands.hpp). Process wiring only; the server's lifetime is in
// main/server.cpp.
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include <malloc.h>

#include "config/schema.hpp"
#include "main/commands.hpp"
#include "main/options.hpp"

namespace {

/// Fragment buffers are about a MiB: glibc would map and unmap each one
/// (its mmap threshold starts at 128 KiB), so every buffer costs 256 page
/// faults and the kernel zeroing its pages, on both servers (bench/PROFILE.md:
/// -20 % CPU per GB shipped, same peak RSS). Served from the heap instead,
/// and kept (up to the trim threshold) for the next fragment. An operator's
/// GLIBC_TUNABLES, read by glibc itself, wins.
void tune_malloc() {
  if (std::getenv("GLIBC_TUNABLES") != nullptr)
    return;
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 32 << 20);
}

} // namespace

int main(int argc, char** argv) {
  tune_malloc();
  using namespace cc::cli;
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string error;
  auto opts = parse(args, error);
  if (!opts) {
    std::cerr << "ccserver: " << error << "\n"
              << "usage: ccserver [options] CONFIG.ini (ccserver --help)\n";
    return exit_usage;
  }
  switch (opts->what) {
    case action::help:
      std::cout << usage();
      return exit_ok;
    case action::version:
      std::cout << "ccserver " << CC_VERSION << "\n";
      return exit_ok;
    case action::config_reference:
      std::cout << cc::config::schema_markdown();
      return exit_ok;
    case action::man_page:
      std::cout << man_page(CC_VERSION);
      return exit_ok;
    case action::check: {
      // The config first; then the key files it names.
      int status = run_check(*opts);
      return status == exit_ok ? run_key_check(*opts) : status;
    }
    case action::keygen:
      return run_keygen(*opts);
    case action::verify:
      return run_verify(*opts);
    case action::export_journals:
      return run_export_journals(*opts);
    case action::stop:
    case action::kill:
    case action::reload:
      return run_control(*opts);
    case action::send:
      return run_send(opts->send);
    case action::status:
      return run_status(*opts);
    case action::run:
      break;
  }
  return run_server(*opts);
}
