// describe(): the --check dump of a validated configuration, every option
// with its value and whether it is a default.
#include "config/config.hpp"
#include "config/text.hpp"

#include <algorithm>
#include <sstream>

namespace cc::config {

namespace {

std::string printable(const std::string& v) {
  std::string out;
  for (char c : v)
    out += c == '\n' ? std::string("\\n") : std::string(1, c);
  return out;
}

void describe_section(std::ostringstream& os, const section& sec,
                      const std::string& title) {
  os << "\n[" << sec.name << "] " << title << "\n";
  const auto* schema = schema_by_kind(sec.kind);
  std::vector<std::string> keys;
  if (schema)
    for (const auto& opt : schema->options)
      keys.emplace_back(opt.name);
  for (const auto& kv : sec.values)
    if (std::find(keys.begin(), keys.end(), kv.first) == keys.end())
      keys.push_back(kv.first); // job_name, service_name of daemons
  size_t width = 0;
  for (const auto& k : keys)
    width = std::max(width, k.size());
  for (const auto& k : keys) {
    os << "  " << k << std::string(width - k.size(), ' ') << " = ";
    if (!sec.has(k)) {
      os << "(unset)\n";
      continue;
    }
    auto v = sec.str(k).empty() ? std::string("\"\"") : printable(sec.str(k));
    os << v;
    const option* opt = schema ? schema->find(k) : nullptr;
    std::string note;
    if (opt && opt->type == value_type::size) {
      auto bytes = parse_size(sec.str(k));
      if (bytes && std::to_string(*bytes) != trim(sec.str(k)))
        note = "= " + std::to_string(*bytes) + " bytes";
    }
    if (sec.is_default(k))
      note += std::string(note.empty() ? "" : ", ") + "default";
    if (!note.empty())
      os << std::string(v.size() < 28 ? 28 - v.size() : 1, ' ') << "(" << note
         << ")";
    os << "\n";
  }
}

} // namespace

std::string describe(const server_config& cfg) {
  std::ostringstream os;
  os << "config file: " << cfg.file << "\n"
     << "job_name: " << cfg.job_name << "\n"
     << "host_name: " << cfg.host_name << "\n";
  describe_section(os, cfg.main, "server");
  os << "\n[routes] message-type prefix -> handlers, in file order\n";
  if (cfg.routes.empty())
    os << "  (none: every message is dropped)\n";
  for (const auto& r : cfg.routes) {
    os << "  " << r.prefix << " -> ";
    for (size_t i = 0; i < r.handlers.size(); ++i)
      os << (i ? ", " : "") << r.handlers[i];
    os << "\n";
  }
  std::map<std::string, std::string> run_by;
  for (const auto& [name, sec] : cfg.handlers) {
    std::string title = "handler " + sec.kind;
    if (const auto* s = schema_by_kind(sec.kind)) {
      title += ", roles:";
      for (auto r : s->roles)
        title += " " + std::string(r);
    }
    describe_section(os, sec, title);
    if (sec.kind == "jobmgr")
      for (const auto& d : sec.list("daemons"))
        run_by.emplace(d, name);
  }
  for (const auto& [name, sec] : cfg.daemons) {
    auto owner = run_by.count(name) ? ", run by " + run_by[name] : "";
    describe_section(os, sec, "daemon " + sec.kind + owner);
  }
  return os.str();
}

} // namespace cc::config
