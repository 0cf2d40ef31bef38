#include "main/options.hpp"

#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "config/schema.hpp"

namespace cc::cli {

namespace {

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() &&
         s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// Records `a` as the action; a second, different one is a usage error.
bool set_action(options& o, bool& chosen, action a, std::string& error) {
  if (chosen && o.what != a) {
    error = "only one of -s, -k, -r, --check, --status, --send, --verify, "
            "--version, "
            "--help, --config-reference, --keygen, --export-journals at a time";
    return false;
  }
  chosen = true;
  o.what = a;
  return true;
}

} // namespace

namespace {

/// Every command-line option, once: --help and the man page are made from
/// this table.
struct cli_option {
  const char* flags;  // "-d", "--keygen NAME"
  const char* help;   // one paragraph
};

const cli_option cli_options[] = {
  {"-d", "run in the background (fork, setsid, chdir /); the parent exits "
         "with the server's start-up status: 0 once it is up, 2 for a "
         "configuration it refuses, 1 for any other failure"},
  {"-v", "more log output (debug); -q: warnings and errors only"},
  {"-s", "stop the running instance named by the config's pidfile (SIGTERM) "
         "and wait until it has exited"},
  {"-k", "kill it (SIGKILL) and remove its pidfile"},
  {"-r", "make it reload its configuration (SIGHUP); refused (exit 2) when "
         "the file has errors"},
  {"--check", "validate CONFIG.ini, print the resolved handlers, routes and "
              "daemons; exit 0, or 2 listing every problem"},
  {"--status", "ask the running server (its control socket, or http-listen) "
               "for every tailer, link and copy; exit 0 when it is healthy, 1 "
               "when not or not running"},
  {"--config-reference", "print every option of every section type (Markdown)"},
  {"--keygen NAME", "write a CurveZMQ key pair: NAME.key (secret, mode 0600) "
                    "and NAME.pub (public), Z85; never overwrites a file"},
  {"--send ENDPOINT TYPE [JSON]",
   "send one CC message to a server (a DEALER connected to ENDPOINT); req, "
   "time, hostname and blob_hash are filled in when JSON lacks them. Waits "
   "for a reply for *.request types and bodies with \"ack\": true (or with "
   "--expect-reply) and prints it; exit 1 on timeout"},
  {"--export-journals STATE_DIR",
   "for a downgrade to a build before session 18: with the server stopped, "
   "write every copy's journal from the journal logs (jl-*) in a "
   "tailwriter's STATE_DIR back as a journal file <id>.j, durably, then "
   "remove the logs; refused (exit 1) while a server holds STATE_DIR (its "
   "lock, or its journal logs open)"},
  {"--verify", "on a source host, with its server running: compare the "
               "central's copy of every file its tailers know with the source, "
               "block by block over the server's own link (XXH3 digests); print "
               "a table; exit 0 only when every copy equals its source up to "
               "what was delivered"},
  {"--repair", "(--verify) send again what differs or is missing, cut back "
               "what a copy holds past its source, verify again"},
  {"--blob FILE", "(--send) attach FILE's bytes as the blob frame"},
  {"--timeout S", "(--send) seconds to connect and to wait (default 2); "
                  "(--verify) seconds to wait for each answer (default 10)"},
  {"--expect-reply, --no-reply", "(--send) wait for a reply, or not, whatever the type"},
  {"--version", "print the version"},
  {"-h, --help", "this text"},
};

/// `text` wrapped at `width` columns, every line after the first indented
/// by `indent` spaces.
std::string wrap(const std::string& text, size_t indent, size_t width) {
  std::string out;
  size_t col = indent;
  size_t i = 0;
  bool first = true;
  while (i < text.size()) {
    auto end = text.find(' ', i);
    if (end == std::string::npos)
      end = text.size();
    auto word = text.substr(i, end - i);
    if (!first && col + 1 + word.size() > width) {
      out += "\n" + std::string(indent, ' ');
      col = indent;
    } else if (!first) {
      out += ' ';
      ++col;
    }
    out += word;
    col += word.size();
    first = false;
    i = end + 1;
  }
  return out;
}

/// roff: a backslash written as \e, a '-' as \- (a minus, so options can
/// be searched and copied), a line never starting with '.' or '\''.
std::string roff(const std::string& text, bool minus = false) {
  std::string out;
  for (char c : text) {
    if (c == '\\')
      out += "\\e";
    else if (c == '-' && minus)
      out += "\\-";
    else
      out += c;
  }
  return out;
}

} // namespace

std::string usage() {
  std::string out = R"(usage: ccserver [options] CONFIG.ini
       ccserver --send ENDPOINT TYPE [JSON] [--blob FILE] [--timeout S]
                [--expect-reply | --no-reply]
       ccserver --verify CONFIG.ini [--repair] [--timeout S]

Runs one CC server: binds cc-socket, routes messages to the handlers of
[routes], runs the daemons of its jobmgr sections.

options:
)";
  constexpr size_t column = 22;
  for (const auto& o : cli_options) {
    std::string flags = std::string{"  "} + o.flags;
    if (flags.size() + 1 < column)
      out += flags + std::string(column - flags.size(), ' ');
    else
      out += flags + "\n" + std::string(column, ' ');
    out += wrap(o.help, column, 78) + "\n";
  }
  out += R"(
exit status: 0 success, 1 runtime failure, 2 usage or configuration error.
signals: SIGTERM/SIGINT stop cleanly, SIGHUP reopens the logfile and reloads.
)";
  return out;
}

std::string man_page(const std::string& version) {
  std::string out;
  out += ".TH CCSERVER 8 \"\" \"ccserver " + version + "\" \"System Administration\"\n";
  out += ".SH NAME\nccserver \\- ship growing log files to a central host, byte for byte (CC's log-file transport)\n";
  out += ".SH SYNOPSIS\n.B ccserver\n[\\fIoptions\\fR] \\fICONFIG.ini\\fR\n.br\n"
         ".B ccserver \\-\\-send\n\\fIENDPOINT TYPE\\fR [\\fIJSON\\fR] [\\fB\\-\\-blob\\fR "
         "\\fIFILE\\fR] [\\fB\\-\\-timeout\\fR \\fIS\\fR]\n.br\n"
         ".B ccserver \\-\\-verify\n\\fICONFIG.ini\\fR [\\fB\\-\\-repair\\fR] "
         "[\\fB\\-\\-timeout\\fR \\fIS\\fR]\n";
  out += ".SH DESCRIPTION\n"
         "One \\fBccserver\\fR process runs one configuration file: it binds \\fBcc\\-socket\\fR, "
         "routes each CC message by its type to the handlers of \\fB[routes]\\fR, and runs "
         "the daemons of its jobmgr sections. On a source host, tailers follow log files "
         "and a forwarder sends every appended byte range to a central server, whose "
         "tailwriter appends it to a copy; acknowledged delivery makes each copy "
         "byte-identical to its source across crashes and outages.\n"
         ".PP\nUnder systemd, \\fBccserver@NAME.service\\fR runs \\fI/etc/cc/NAME.ini\\fR as "
         "user \\fBcc\\fR (Type=notify, with a watchdog).\n";
  out += ".SH OPTIONS\n";
  for (const auto& o : cli_options)
    out += ".TP\n.B " + roff(o.flags, true) + "\n" + roff(o.help) + "\n";
  out += config::schema_roff();
  out += ".SH SIGNALS\n"
         ".TP\n.B SIGTERM, SIGINT\nstop cleanly: stop reading, persist positions, drain "
         "queues, flush and sync copies.\n"
         ".TP\n.B SIGHUP\nreopen the logfile and reload the configuration; a configuration "
         "with errors is logged and the running one kept.\n";
  out += ".SH EXIT STATUS\n"
         ".TP\n.B 0\nsuccess (for \\fB\\-\\-status\\fR: the server is healthy)\n"
         ".TP\n.B 1\nruntime failure: an endpoint cannot be bound, another instance runs, an "
         "actor failed, the server is not running or (\\fB\\-\\-status\\fR) unhealthy\n"
         ".TP\n.B 2\nusage or configuration error, each problem as file:section:key\n";
  out += ".SH FILES\n"
         ".TP\n.I /etc/cc/*.ini\none configuration per instance\n"
         ".TP\n.I /var/lib/cc\npositions (.save), the central's copies and the writer's state\n"
         ".TP\n.I /var/log/cc\nlogfiles (rotated by logrotate; SIGHUP reopens them)\n"
         ".TP\n.I /run/cc\npidfiles and control sockets (\\fBccserver \\-\\-status\\fR)\n";
  out += ".SH SEE ALSO\n"
         ".BR systemctl (1),\n.BR logrotate (8),\n"
         "and /usr/share/doc/ccserver: operations.md (metrics, health, alerts), "
         "config.md, architecture.md.\n";
  return out;
}

namespace {

// The long options that choose the action.
struct long_action {
  std::string_view flag;
  action what;
};
constexpr long_action long_actions[] = {
  {"--check", action::check},       {"--status", action::status},
  {"--send", action::send},         {"--version", action::version},
  {"--help", action::help},         {"--man-page", action::man_page},
  {"--config-reference", action::config_reference},
  {"--verify", action::verify},
  {"--export-journals", action::export_journals},
};

// A cluster of short flags: -dv, -vv, -s.
bool parse_short_flags(options& o, bool& chosen, const std::string& a, std::string& error) {
  for (size_t k = 1; k < a.size(); ++k) {
    switch (a[k]) {
      case 'd': o.daemonize = true; break;
      case 'v': ++o.verbosity; break;
      case 'q': --o.verbosity; break;
      case 's':
        if (!set_action(o, chosen, action::stop, error))
          return false;
        break;
      case 'k':
        if (!set_action(o, chosen, action::kill, error))
          return false;
        break;
      case 'r':
        if (!set_action(o, chosen, action::reload, error))
          return false;
        break;
      case 'h':
        if (!set_action(o, chosen, action::help, error))
          return false;
        break;
      default:
        error = std::string{"unknown option -"} + a[k];
        return false;
    }
  }
  return true;
}

// The value `v` of --keygen, --blob or --timeout.
bool take_value(options& o, const std::string& a, const std::string& v, std::string& error) {
  if (a == "--keygen") {
    o.keygen_base = v;
  } else if (a == "--blob") {
    o.send.blob_file = v;
  } else {
    char* end = nullptr;
    double t = std::strtod(v.c_str(), &end);
    if (end == v.c_str() || *end != '\0' || !(t > 0) || t > 86400) {
      error = "--timeout: expected seconds > 0, got '" + v + "'";
      return false;
    }
    o.send.timeout = t;
    o.timeout = t;
  }
  return true;
}

// One option (args[i], maybe with its value args[i + 1]); false with `error`.
bool parse_option(options& o, bool& chosen, const std::vector<std::string>& args, size_t& i,
                  std::string& error) {
  const auto& a = args[i];
  for (const auto& la : long_actions)
    if (a == la.flag)
      return set_action(o, chosen, la.what, error);
  if (a == "--repair") {
    o.repair = true;
  } else if (a == "--expect-reply") {
    o.send.expect_reply = true;
  } else if (a == "--no-reply") {
    o.send.expect_reply = false;
  } else if (a == "--keygen" || a == "--blob" || a == "--timeout") {
    if (a == "--keygen" && !set_action(o, chosen, action::keygen, error))
      return false;
    if (i + 1 >= args.size()) {
      error = a + " needs a value";
      return false;
    }
    return take_value(o, a, args[++i], error);
  } else if (a.size() > 1 && a[1] != '-') {
    return parse_short_flags(o, chosen, a, error);
  } else {
    error = "unknown option " + a;
    return false;
  }
  return true;
}

// The positional arguments the chosen action takes, and the options that
// go with one action only.
std::optional<options> check_arguments(options o, const std::vector<std::string>& positional,
                                       std::string& error) {
  switch (o.what) {
    case action::help:
    case action::version:
    case action::config_reference:
    case action::man_page:
    case action::keygen:
      if (!positional.empty()) {
        error = "unexpected argument " + positional.front();
        return std::nullopt;
      }
      return o;
    case action::send:
      if (positional.size() < 2 || positional.size() > 3) {
        error = "--send needs ENDPOINT TYPE [JSON]";
        return std::nullopt;
      }
      o.send.endpoint = positional[0];
      o.send.type = positional[1];
      if (positional.size() == 3)
        o.send.json = positional[2];
      return o;
    case action::export_journals:
      if (positional.size() != 1) {
        error = "--export-journals needs STATE_DIR (a tailwriter's state-dir)";
        return std::nullopt;
      }
      o.state_dir = positional[0];
      return o;
    default:
      break;
  }
  if (o.repair && o.what != action::verify) {
    error = "--repair goes with --verify";
    return std::nullopt;
  }
  if (!o.send.blob_file.empty() || o.send.expect_reply) {
    error = "--blob, --timeout, --expect-reply and --no-reply go with --send";
    return std::nullopt;
  }
  if (positional.size() != 1) {
    error = positional.empty() ? "no config file given"
                               : "one config file only, got " +
                                   std::to_string(positional.size()) + " arguments";
    return std::nullopt;
  }
  if (o.daemonize && o.what != action::run) {
    error = "-d goes with running the server only";
    return std::nullopt;
  }
  o.config_file = positional[0];
  return o;
}

} // namespace

std::optional<options> parse(const std::vector<std::string>& args,
                             std::string& error) {
  options o;
  bool chosen = false;
  std::vector<std::string> positional;
  bool only_positional = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    if (only_positional || a.empty() || a[0] != '-' || a == "-")
      positional.push_back(a);
    else if (a == "--")
      only_positional = true;
    else if (!parse_option(o, chosen, args, i, error))
      return std::nullopt;
  }
  return check_arguments(std::move(o), positional, error);
}

bool expects_reply(const std::string& type, const std::string& json_body) {
  if (ends_with(type, ".request"))
    return true;
  auto body = nlohmann::json::parse(json_body, nullptr, false);
  if (!body.is_object())
    return false;
  auto it = body.find("ack");
  return it != body.end() && it->is_boolean() && it->get<bool>();
}

} // namespace cc::cli
