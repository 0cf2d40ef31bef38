// The command line (SPEC §10): what ccserver was asked to do. Parsing only;
// each action lives in its own main/*.cpp.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace cc::cli {

/// Exit status of every ccserver invocation.
enum exit_code : int {
  exit_ok = 0,
  exit_failure = 1, // runtime failure: cannot bind, not running, timeout
  exit_usage = 2,   // bad command line or configuration
};

enum class action {
  run,               // the server (foreground, or -d)
  check,             // --check
  stop,              // -s: SIGTERM to the running instance
  kill,              // -k: SIGKILL
  reload,            // -r: SIGHUP
  send,              // --send ENDPOINT TYPE [JSON]
  version,           // --version
  help,              // -h, --help
  config_reference,  // --config-reference
  keygen,            // --keygen NAME
  status,            // --status: the running server's table, via its control socket
  man_page,          // --man-page: ccserver(8) in roff (the package's man page)
  verify,            // --verify [--repair]: copies against their sources
  export_journals,   // --export-journals STATE_DIR: journal logs to journal files
};

struct send_options {
  std::string endpoint;
  std::string type;
  std::string json;                 // "" means {}
  std::string blob_file;            // "" means no blob frame
  double timeout = 2.0;             // seconds, for connecting and the reply
  std::optional<bool> expect_reply; // unset: by type (see expects_reply)
};

struct options {
  action what = action::run;
  std::string config_file;
  bool daemonize = false;
  int verbosity = 0; // -v: +1 each, -q: -1
  send_options send;
  std::string keygen_base;  // --keygen NAME: NAME.key and NAME.pub
  std::string state_dir;    // --export-journals STATE_DIR
  bool repair = false;      // --verify --repair
  double timeout = 10.0;    // --verify: seconds to wait for each answer
};

/// Parses argv. On a usage error returns nullopt and sets `error`.
std::optional<options> parse(const std::vector<std::string>& args,
                             std::string& error);

/// Whether --send waits for a reply when neither --expect-reply nor
/// --no-reply was given: for *.request types and bodies with "ack": true.
bool expects_reply(const std::string& type, const std::string& json_body);

/// The --help text.
std::string usage();

/// ccserver(8) in roff: the options of usage() and every section's options
/// from the schema (config::schema_roff).
std::string man_page(const std::string& version);

} // namespace cc::cli
