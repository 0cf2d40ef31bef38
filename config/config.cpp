// Validation of a parsed INI document against the schema tables, and the
// resolved server_config that main and the actors read. One pass collects
// every problem; only a document without errors yields a config.
#include "config/config.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <sstream>

#include <caf/message.hpp>

#include "base/error.hpp"
#include "config/address.hpp"
#include "config/text.hpp"

namespace cc::config {

namespace {

const std::vector<std::string> builtin_defaults{
  "job_name", "service_name", "host_name", "config_dir", "config_file"};

// Filled by the tailwriter per fragment, not by config interpolation.
const std::vector<std::string> dstmask_fields{"hostname", "filename",
                                              "filepath"};

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1,
                         diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string error_text(const caf::error& err) {
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return cc::describe(err);
}

std::string expected_hint(const option& opt) {
  switch (opt.type) {
    case value_type::endpoint:
      return "an endpoint like tcp://127.0.0.1:22632";
    case value_type::file:
      return "a path";
    case value_type::list:
      return "a comma-separated list";
    case value_type::choice: {
      std::string out = "one of:";
      for (auto c : opt.choices)
        out += " " + std::string(c);
      return out;
    }
    default:
      return std::string("a ") + to_string(opt.type);
  }
}

// -- the validator ------------------------------------------------------------

struct validator {
  ini doc; // a copy: daemon sections get their own defaults set on it
  const ini& original;
  std::vector<diagnostic> diags;
  server_config cfg;
  std::string role = "insecure";
  // save-file -> the daemon that has it: one lookup per daemon (a walk of
  // every daemon before it made 10,000 daemons cost 50 million comparisons).
  std::map<std::string, std::string> save_files;
  bool role_known = true;

  explicit validator(const ini& in) : doc(in), original(in) {
  }

  void add(diagnostic::severity_t sev, const std::string& section,
           const std::string& key, std::string message) {
    diags.push_back({sev, doc.path(), section, key, std::move(message)});
  }
  void error(const std::string& section, const std::string& key,
             std::string message) {
    add(diagnostic::error, section, key, std::move(message));
  }
  void warning(const std::string& section, const std::string& key,
               std::string message) {
    add(diagnostic::warning, section, key, std::move(message));
  }

  // An ini::get error already names path:section:key; keep the rest.
  std::string strip_position(const std::string& section, const std::string& key,
                             const std::string& text) const {
    auto prefix = doc.path() + ":" + section + ":" + key + ": ";
    if (text.rfind(prefix, 0) == 0)
      return text.substr(prefix.size());
    return text;
  }

  void unknown_key_warning(const std::string& name, const std::string& key,
                           const section_schema& schema) {
    std::string best;
    size_t best_dist = 3;
    for (const auto& opt : schema.options) {
      auto d = edit_distance(key, std::string(opt.name));
      if (d < best_dist) {
        best_dist = d;
        best = opt.name;
      }
    }
    auto what = schema.kind == "ccserver" ? std::string("[ccserver]")
                                          : std::string(schema.kind);
    std::string msg = "unknown key for " + what + ", ignored";
    if (!best.empty())
      msg += "; did you mean '" + best + "'?";
    warning(name, key, msg);
  }

  // Reads, interpolates and checks every option of `schema` in section
  // `name`; fills defaults. `type_text` is the handler/module value.
  section resolve(const std::string& name, const section_schema& schema,
                  const std::string& type_text = "") {
    section sec;
    sec.name = name;
    sec.kind = std::string(schema.kind);
    for (const auto& key : doc.keys(name)) {
      bool known = schema.find(key) != nullptr
                   || (key == "plugin" && !schema.is_daemon
                       && !schema.type_names.empty())
                   || std::find(builtin_defaults.begin(), builtin_defaults.end(),
                                key)
                        != builtin_defaults.end();
      if (!known)
        unknown_key_warning(name, key, schema);
    }
    for (const auto& opt : schema.options) {
      std::string key(opt.name);
      if (!schema.type_names.empty() && key == type_key(schema)) {
        sec.values[key] = type_text;
        continue;
      }
      std::optional<std::string> text;
      if (doc.has(name, key)) {
        auto got = key == "dstmask" ? doc.get(name, key, dstmask_fields)
                                    : doc.get(name, key);
        if (!got) {
          error(name, key, strip_position(name, key, error_text(got.error())));
          continue;
        }
        text = trim(*got);
        if (text->empty() && !opt.required)
          text.reset(); // `key =` leaves an optional key unset
      }
      if (text) {
        std::string why;
        if (!check_value(opt, *text, why)) {
          error(name, key, "'" + *text + "' " + why);
          continue;
        }
        if (!opt.boolean_means.empty())
          if (auto b = parse_bool(*text))
            text = *b ? std::string(opt.boolean_means) : std::string("0");
        if (opt.floor > 0)
          apply_floor(name, opt, *text);
        sec.values[key] = *text;
        if (!doc.raw(name, key))
          sec.defaulted.insert(key); // from [DEFAULT] or a section default
      } else if (opt.has_default) {
        // Read from the schema when asked (section::text), not stored.
      } else if (opt.required) {
        error(name, key,
              "required key is missing; expected " + expected_hint(opt));
      }
    }
    if (schema.kind == "tailwriter")
      complete_tailwriter(sec);
    else if (schema.kind == "infowriter")
      complete_infowriter(sec);
    else if (schema.kind == "logtail")
      complete_logtail(sec);
    else if (schema.kind == "infosender")
      complete_infosender(sec);
    else if (schema.kind == "ccserver")
      complete_ccserver(sec);
    return sec;
  }

  // A value below the option's floor is raised to it (schema.hpp: floor),
  // so that --check shows what the actor will use.
  void apply_floor(const std::string& name, const option& opt, std::string& text) {
    double v = opt.type == value_type::size
                 ? static_cast<double>(parse_size(text).value_or(0))
                 : std::strtod(text.c_str(), nullptr);
    if (v < 0 || v >= opt.floor || (v == 0 && opt.floor_keeps_zero))
      return;
    auto least = number_text(opt.floor);
    warning(name, std::string(opt.name),
            "'" + text + "' is below " + least + "; raised to " + least);
    text = least;
  }

  void complete_ccserver(section& sec) {
    check_caf_tls(sec);
    // The endpoint has no authentication: it stays on this host unless the
    // operator says otherwise.
    if (sec.has("http-listen") && !sec.boolean("http-allow-remote")) {
      std::string host, port, why;
      if (split_host_port(sec.str("http-listen"), host, port) &&
          !is_loopback_host(host, why))
        error(sec.name, "http-listen",
              why + "; expected a loopback address (127.0.0.1:PORT, "
                    "[::1]:PORT, localhost:PORT), or http-allow-remote = yes");
    }
    if (!sec.has("control-socket") && sec.has("pidfile"))
      set_computed(sec, "control-socket",
                   without_extension(sec.str("pidfile")) + ".sock");
    if (sec.has("control-socket") && sec.file("control-socket").size() > 107)
      error(sec.name, "control-socket",
            "'" + sec.file("control-socket") + "' is longer than a Unix "
            "socket path may be (107 bytes); set a shorter control-socket");
  }

  // CAF's TLS needs all three files; one alone would leave a node that
  // every peer refuses.
  void check_caf_tls(const section& sec) {
    const char* keys[] = {"caf-certificate", "caf-key", "caf-cafile"};
    bool any = false;
    for (auto* k : keys)
      any |= sec.has(k);
    if (!any)
      return;
    for (auto* k : keys)
      if (!sec.has(k))
        error(sec.name, k,
              "required with the other CAF TLS keys; expected caf-certificate, "
              "caf-key and caf-cafile together (see docs/clusters.md)");
  }

  void set_computed(section& sec, const std::string& key, std::string value) {
    sec.values[key] = std::move(value);
    sec.defaulted.insert(key);
  }

  void complete_tailwriter(section& sec) {
    complete_dstmask(sec);
    if (!sec.has("state-dir") && sec.has("dstdir"))
      set_computed(sec, "state-dir", default_state_dir(sec.str("dstdir")));
  }

  void complete_infowriter(section& sec) {
    complete_dstmask(sec);
    if (sec.str("bakext").find('/') != std::string::npos)
      error(sec.name, "bakext",
            "'" + sec.str("bakext") + "' contains '/'; expected a suffix "
            "of the copy's name, like .prev or --prev");
  }

  void complete_infosender(section& sec) {
    check_msg_suffix(sec);
    if (!sec.has("hostname"))
      set_computed(sec, "hostname", doc.defaults().at("host_name"));
  }

  void check_msg_suffix(const section& sec) {
    if (sec.has("msg-suffix") && !sec.str("msg-suffix").empty()
        && !valid_type_words(sec.str("msg-suffix")))
      error(sec.name, "msg-suffix",
            "'" + sec.str("msg-suffix")
              + "' is not a message-type suffix; expected dot-separated "
                "words of A-Z, a-z, 0-9, _ and -");
  }

  void complete_dstmask(section& sec) {
    if (!sec.has("dstmask"))
      set_computed(sec, "dstmask", default_dstmask(sec.boolean("host-subdirs")));
    auto mask = sec.str("dstmask");
    if (mask.find("%(filename)s") == std::string::npos
        && mask.find("%(filepath)s") == std::string::npos)
      warning(sec.name, "dstmask",
              "'" + mask + "' has neither %(filename)s nor %(filepath)s: "
              "every file of a host would be written into one copy");
  }

  void complete_logtail(section& sec) {
    const auto& name = sec.name;
    auto mode = sec.str("operation-mode");
    if (mode == "rotated") {
      if (!sec.has("logname"))
        error(name, "logname",
              "required in operation-mode rotated; expected the name of the "
              "one file to follow, like pping-stats.log");
      else if (sec.str("logname").find_first_of("*?[") != std::string::npos)
        error(name, "logname",
              "'" + sec.str("logname")
                + "' contains a wildcard (*, ? or [); rotated mode follows "
                  "one file name: use operation-mode classic with logmask "
                  "for a set of files");
      if (sec.has("logmask"))
        warning(name, "logmask", "ignored in operation-mode rotated");
    } else if (sec.has("operation-mode")) {
      if (!sec.has("logmask"))
        error(name, "logmask",
              "required in operation-mode classic (the default); expected a "
              "glob like postgresql-*.log");
      if (sec.has("logname"))
        warning(name, "logname", "ignored in operation-mode classic");
    }
    check_msg_suffix(sec);
    if (!sec.has("buffer-bytes"))
      set_computed(sec, "buffer-bytes",
                   sec.integer("buffer-lines") > 0 ? "0" : "1 MB");
    auto comp = sec.str("compression");
    constexpr uint64_t min_compressed_buffer = 64 * 1024;
    // 0 (no byte limit) is more than the least a compressed fragment needs.
    auto bytes = sec.size("buffer-bytes");
    if ((comp == "gzip" || comp == "bzip2" || comp == "zstd") && bytes > 0
        && bytes < min_compressed_buffer) {
      if (!sec.is_default("buffer-bytes"))
        warning(name, "buffer-bytes",
                "'" + sec.str("buffer-bytes")
                  + "' is below 64 KB; raised to 64 KB, the least a "
                    "compressed fragment gets");
      set_computed(sec, "buffer-bytes", "64 KB");
    }
    if (!sec.has("hostname"))
      set_computed(sec, "hostname", doc.defaults().at("host_name"));
  }

  // -- the sections -----------------------------------------------------------

  void check_main() {
    const auto* schema = schema_by_kind("ccserver");
    if (!doc.has_section(ini::main_section)) {
      error(ini::main_section, "",
            "missing [ccserver] section: every configuration needs one, "
            "with at least cc-socket");
      role_known = false;
      return;
    }
    cfg.main = resolve(ini::main_section, *schema);
    if (!doc.raw(ini::main_section, "cc-role")) {
      warning(ini::main_section, "cc-role",
              "not set: running as 'insecure', every handler type allowed; "
              "set cc-role = local or remote");
    } else if (cfg.main.has("cc-role")) {
      role = cfg.main.str("cc-role");
    } else {
      role_known = false; // the bad value is reported already
    }
  }

  // The type named by `handler =` (or the old `plugin =`), "" if neither.
  std::string handler_type(const std::string& name) {
    bool has_handler = doc.raw(name, "handler").has_value();
    bool has_plugin = doc.raw(name, "plugin").has_value();
    auto read = [&](const std::string& key) -> std::string {
      auto v = doc.get(name, key);
      if (!v) {
        error(name, key, strip_position(name, key, error_text(v.error())));
        return "";
      }
      auto type = trim(*v);
      if (type.empty()) // an empty type names no handler (found by fuzzing)
        error(name, key, "empty; expected a handler type: "
                           + known_type_names(false));
      return type;
    };
    if (has_handler && has_plugin) {
      auto h = read("handler");
      auto p = read("plugin");
      if (h != p)
        error(name, "plugin",
              "'" + p + "' differs from handler = '" + h
                + "'; plugin is the old name of handler: keep one");
      return h;
    }
    if (has_handler)
      return read("handler");
    if (has_plugin)
      return read("plugin");
    return "";
  }

  std::vector<std::string> handler_order;

  void note_handler(const std::string& name) {
    if (std::find(handler_order.begin(), handler_order.end(), name)
        == handler_order.end())
      handler_order.push_back(name);
  }

  void check_routes() {
    const std::string routes = "routes";
    if (!doc.has_section(routes)) {
      warning(routes, "", "no [routes] section: every message will be dropped");
      return;
    }
    for (const auto& key : doc.keys(routes)) {
      if (key != "*" && !valid_type_words(key))
        error(routes, key,
              "not a message-type prefix; expected dot-separated words of "
              "A-Z, a-z, 0-9, _ and -, or *");
      auto value = doc.get(routes, key);
      if (!value) {
        error(routes, key, strip_position(routes, key, error_text(value.error())));
        continue;
      }
      route r{key, parse_list(*value)};
      if (r.handlers.empty())
        error(routes, key, "names no handler section; expected a "
                           "comma-separated list like h:forward");
      for (const auto& h : r.handlers) {
        if (!doc.has_section(h)) {
          error(routes, key,
                "routes to [" + h + "], which does not exist");
        } else if (!doc.raw(h, "handler") && !doc.raw(h, "plugin")) {
          error(routes, key,
                "routes to [" + h + "], which has no 'handler =' line");
        } else {
          note_handler(h);
        }
      }
      cfg.routes.push_back(std::move(r));
    }
  }

  // A jobmgr runs its daemons even when no route names it.
  void find_unrouted_jobmgrs() {
    for (const auto& name : doc.sections()) {
      if (!doc.raw(name, "handler") && !doc.raw(name, "plugin"))
        continue;
      auto v = doc.get(name, doc.raw(name, "handler") ? "handler" : "plugin");
      if (!v)
        continue;
      const auto* s = schema_by_type_name(trim(*v), false);
      if (s && s->kind == "jobmgr")
        note_handler(name);
    }
  }

  void check_handlers() {
    for (const auto& name : handler_order) {
      auto type = handler_type(name);
      if (type.empty())
        continue; // reported: a read error
      const auto* schema = schema_by_type_name(type, false);
      auto type_key_used = doc.raw(name, "handler") ? "handler" : "plugin";
      if (!schema) {
        std::string msg = "unknown handler type '" + type + "'; known: "
                          + known_type_names(false)
                          + " (short names work too)";
        if (schema_by_type_name(type, true))
          msg += "; '" + type + "' is a daemon: list its section in a "
                 "jobmgr's daemons";
        error(name, type_key_used, msg);
        continue;
      }
      if (role_known && role != "insecure"
          && std::find(schema->roles.begin(), schema->roles.end(), role)
               == schema->roles.end()) {
        std::string roles;
        for (auto r : schema->roles)
          roles += (roles.empty() ? "" : ", ") + std::string(r);
        error(name, type_key_used,
              std::string(schema->kind) + " cannot run in cc-role " + role
                + "; it runs in: " + roles);
      }
      cfg.handlers[name] = resolve(name, *schema, type);
    }
  }

  /// [ccserver] source-id, or the one derived from this machine.
  std::string server_source_id() {
    if (!source_id_known) {
      auto set = doc.get(ini::main_section, "source-id");
      source_id = set && !trim(*set).empty() ? trim(*set) : derived_source_id(cfg.job_name);
      source_id_known = true;
    }
    return source_id;
  }
  std::string source_id;
  bool source_id_known = false;

  void check_daemons() {
    std::string server_job = cfg.job_name;
    auto pidfile_template = doc.raw(ini::main_section, "pidfile");
    for (const auto& mgr_name : handler_order) {
      auto mgr = cfg.handlers.find(mgr_name);
      if (mgr == cfg.handlers.end() || mgr->second.kind != "jobmgr")
        continue;
      for (const auto& name : mgr->second.list("daemons")) {
        if (!doc.has_section(name)) {
          error(mgr_name, "daemons", "names [" + name + "], which does not exist");
          continue;
        }
        if (!doc.raw(name, "module")) {
          error(mgr_name, "daemons",
                "names [" + name + "], which has no 'module =' line");
          continue;
        }
        if (cfg.daemons.count(name)) {
          warning(mgr_name, "daemons",
                  "[" + name + "] is run by another jobmgr entry already; "
                  "it runs once");
          continue;
        }
        // The original's make_job_defaults: per-daemon job_name and
        // service_name, and the server's pidfile template unexpanded.
        doc.set_section_default(name, "job_name", server_job + "." + name);
        doc.set_section_default(name, "service_name", name);
        if (pidfile_template)
          doc.set_section_default(name, "pidfile", *pidfile_template);
        auto module = doc.get(name, "module");
        if (!module) {
          error(name, "module",
                strip_position(name, "module", error_text(module.error())));
          continue;
        }
        const auto* schema = schema_by_type_name(trim(*module), true);
        if (!schema) {
          error(name, "module",
                "unknown daemon type '" + trim(*module) + "'; known: "
                  + known_type_names(true) + " (short names work too)");
          continue;
        }
        auto sec = resolve(name, *schema, trim(*module));
        complete_daemon(sec, mgr->second);
        check_shared_save_file(sec);
        cfg.daemons[name] = std::move(sec);
      }
    }
  }

  void complete_daemon(section& sec, const section& mgr) {
    if (sec.kind == "logtail" && !sec.has("source-id") && !server_source_id().empty())
      set_computed(sec, "source-id", server_source_id());
    for (const char* key : {"job_name", "service_name"}) {
      auto v = doc.get(sec.name, key);
      if (!v) {
        error(sec.name, key, strip_position(sec.name, key, error_text(v.error())));
        continue;
      }
      sec.values[key] = *v;
      if (!doc.raw(sec.name, key))
        sec.defaulted.insert(key);
    }
    for (const auto& opt : schema_by_kind("jobmgr")->options) {
      std::string key(opt.name);
      if (key.rfind("watchdog-", 0) == 0 && !sec.has(key) && mgr.has(key))
        set_computed(sec, key, mgr.str(key));
    }
    if (!sec.has("save-file")) {
      if (sec.has("pidfile"))
        set_computed(sec, "save-file",
                     without_extension(sec.str("pidfile")) + ".save");
      else
        error(sec.name, "save-file",
              "no save-file here and no pidfile in [ccserver] to derive it "
              "from; positions must be saved somewhere: set save-file in ["
                + sec.name + "] or pidfile in [ccserver]");
    }
  }

  // Two tailers saving into one file would overwrite each other's position.
  void check_shared_save_file(const section& sec) {
    if (!sec.has("save-file"))
      return;
    auto [at, added] = save_files.emplace(sec.str("save-file"), sec.name);
    if (!added)
      error(sec.name, "save-file",
            "'" + at->first + "' is the save-file of [" + at->second
              + "] too; expected one file per daemon: set save-file, or "
                "use a pidfile template ending in an extension (.pid)");
  }

  // Diagnostics in file order: by section, then key, as written.
  void sort_diagnostics() {
    const auto& order = original.sections();
    auto section_rank = [&](const std::string& s) -> size_t {
      auto it = std::find(order.begin(), order.end(), s);
      return it == order.end() ? order.size() : static_cast<size_t>(it - order.begin());
    };
    auto key_rank = [&](const diagnostic& d) -> size_t {
      if (d.key.empty())
        return 0;
      auto keys = original.keys(d.section);
      auto it = std::find(keys.begin(), keys.end(), d.key);
      return it == keys.end() ? keys.size() + 1
                              : static_cast<size_t>(it - keys.begin()) + 1;
    };
    std::stable_sort(diags.begin(), diags.end(),
                     [&](const diagnostic& a, const diagnostic& b) {
                       if (a.section.empty() != b.section.empty())
                         return a.section.empty(); // syntax-level first
                       auto sa = section_rank(a.section);
                       auto sb = section_rank(b.section);
                       if (sa != sb)
                         return sa < sb;
                       return key_rank(a) < key_rank(b);
                     });
  }

  void take_ini_warnings() {
    for (const auto& w : doc.warnings()) {
      // "path:line: text"
      diagnostic d{diagnostic::warning, doc.path(), "", "", w};
      auto prefix = doc.path() + ":";
      if (w.rfind(prefix, 0) == 0) {
        auto rest = w.substr(prefix.size());
        auto colon = rest.find(": ");
        d.line = std::atoi(rest.substr(0, colon).c_str());
        d.message = colon == std::string::npos ? rest : rest.substr(colon + 2);
      }
      diags.push_back(std::move(d));
    }
  }

  load_result run() {
    cfg.file = doc.path();
    auto job = doc.get(ini::main_section, "job_name");
    cfg.job_name = job ? *job : doc.defaults().at("job_name");
    cfg.host_name = doc.defaults().at("host_name");
    take_ini_warnings();
    check_main();
    check_routes();
    find_unrouted_jobmgrs();
    check_handlers();
    check_daemons();
    sort_diagnostics();
    load_result result;
    bool failed = std::any_of(diags.begin(), diags.end(), [](const auto& d) {
      return d.severity == diagnostic::error;
    });
    if (!failed)
      result.config = std::move(cfg);
    result.diagnostics = std::move(diags);
    return result;
  }
};

} // namespace

// -- load, validate, describe ---------------------------------------------------

section default_section(std::string_view kind) {
  const auto* schema = schema_by_kind(kind);
  if (schema == nullptr)
    return {};
  auto doc = ini::parse("", "(defaults)");
  validator v{*doc};
  // Required keys are missing: their errors are not wanted here.
  return v.resolve(std::string(kind), *schema, "");
}

load_result validate(const ini& doc) {
  validator v{doc};
  return v.run();
}

load_result load(const std::string& path) {
  auto doc = ini::load(path);
  if (doc)
    return validate(*doc);
  // errc::io: "path: strerror"; errc::config_syntax: "path:N: what" lines.
  load_result result;
  std::istringstream lines(error_text(doc.error()));
  std::string text;
  while (std::getline(lines, text)) {
    diagnostic d{diagnostic::error, path, "", "", text};
    if (text.rfind(path + ":", 0) == 0) {
      auto rest = text.substr(path.size() + 1);
      auto colon = rest.find(": ");
      auto head = rest.substr(0, colon);
      bool numeric = !head.empty()
                     && std::all_of(head.begin(), head.end(), [](char c) {
                          return std::isdigit(static_cast<unsigned char>(c));
                        });
      if (numeric && colon != std::string::npos) {
        d.line = std::atoi(head.c_str());
        d.message = rest.substr(colon + 2);
      } else {
        d.message = trim(rest);
      }
    }
    result.diagnostics.push_back(std::move(d));
  }
  return result;
}

} // namespace cc::config
