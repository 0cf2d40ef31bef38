// The text exposition (contract: actors/core/metrics.hpp): a server
// snapshot as Prometheus's format 0.0.4, each counter named by the catalog
// (metric_catalog.cpp) or by the generic fallback, with the process's own
// metrics (sample_process, from /proc and getrusage).
#include "actors/core/metrics.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include "actors/core/counter_key.hpp"
#include "base/loop_jobs.hpp"

namespace cc {

namespace {

// The counter names of the generic fallback that are gauges (values that go
// down as well as up), for counters the catalog does not know.
bool generic_gauge(std::string_view name) {
  static constexpr std::string_view gauges[] = {
      "queued_bytes", "unacked_bytes",   "in_flight", "open_files", "connected",
      "waiting",      "pending",         "lag_bytes", "daemons",    "running",
      "outstanding",  "in_flight_bytes", "failing",
  };
  return std::find(std::begin(gauges), std::end(gauges), name) != std::end(gauges);
}

std::string format_value(int64_t value, double scale) {
  if (scale == 1)
    return std::to_string(value);
  char buf[64];
  snprintf(buf, sizeof(buf), "%.6f", static_cast<double>(value) * scale);
  std::string out{buf};
  out.erase(out.find_last_not_of('0') + 1);
  if (!out.empty() && out.back() == '.')
    out.pop_back();
  return out;
}

std::string format_double(double v) {
  char buf[64];
  snprintf(buf, sizeof(buf), "%.3f", v);
  return buf;
}

// `text` with every byte that is not part of valid UTF-8 replaced by U+FFFD:
// Prometheus refuses a whole scrape for one invalid label value, and file and
// host names come from senders.
std::string valid_utf8(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    size_t n = c < 0x80           ? 1
               : (c >> 5) == 0x6  ? 2
               : (c >> 4) == 0xe  ? 3
               : (c >> 3) == 0x1e ? 4
                                  : 0;
    bool ok = n > 0 && i + n <= text.size();
    for (size_t k = 1; ok && k < n; ++k)
      ok = (static_cast<unsigned char>(text[i + k]) & 0xc0) == 0x80;
    if (!ok) {
      out += "\xef\xbf\xbd";
      ++i;
      continue;
    }
    out.append(text, i, n);
    i += n;
  }
  return out;
}

std::string label_text(const label_list& labels) {
  if (labels.empty())
    return {};
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first)
      out += ',';
    first = false;
    out += k;
    out += "=\"";
    out += escape_label_value(valid_utf8(v));
    out += '"';
  }
  out += '}';
  return out;
}

// Parses `k="v",k2="v2"` (Prometheus's escapes); nullopt when it is not.
std::optional<label_list> parse_label_set(std::string_view text) {
  label_list out;
  size_t i = 0;
  while (i < text.size()) {
    auto eq = text.find('=', i);
    if (eq == std::string_view::npos || eq == i)
      return std::nullopt;
    std::string name{text.substr(i, eq - i)};
    for (char c : name)
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
            || c == '_'))
        return std::nullopt;
    i = eq + 1;
    if (i >= text.size() || text[i] != '"')
      return std::nullopt;
    ++i;
    std::string value;
    bool closed = false;
    while (i < text.size()) {
      char c = text[i++];
      if (c == '\\' && i < text.size()) {
        char e = text[i++];
        value += e == 'n' ? '\n' : e;
      } else if (c == '"') {
        closed = true;
        break;
      } else {
        value += c;
      }
    }
    if (!closed)
      return std::nullopt;
    out.emplace_back(std::move(name), std::move(value));
    if (i == text.size())
      break;
    if (text[i] != ',')
      return std::nullopt;
    ++i;
  }
  return out;
}

struct family {
  metric_type type = metric_type::counter;
  std::string help;
  std::vector<std::string> samples;
};

void add_sample(std::map<std::string, family>& families, const std::string& name,
                metric_type type, std::string_view help, const label_list& labels,
                const std::string& value) {
  auto& fam = families[name];
  if (fam.samples.empty()) {
    fam.type = type;
    fam.help = std::string{help};
  }
  fam.samples.push_back(name + label_text(labels) + ' ' + value);
}

std::string help_escaped(std::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

} // namespace

const part_snapshot* server_snapshot::find(std::string_view name) const {
  for (const auto& p : parts)
    if (p.name == name)
      return &p;
  return nullptr;
}

std::string subsystem_of(std::string_view kind) {
  if (kind == "logtail")
    return "tail";
  if (kind == "proxy")
    return "forward";
  return metric_fragment(kind);
}

std::string metric_fragment(std::string_view text) {
  std::string out{text};
  for (auto& c : out)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
          || c == '_'))
      c = '_';
  return out;
}

std::pair<std::string, label_list> parse_counter_key(const std::string& key,
                                                     std::string_view bare_label) {
  auto open = key.find('{');
  if (open == std::string::npos || key.back() != '}')
    return {key, {}};
  auto name = key.substr(0, open);
  std::string_view inside{key.data() + open + 1, key.size() - open - 2};
  if (auto set = parse_label_set(inside); set && !set->empty())
    return {name, std::move(*set)};
  return {name, {{std::string{bare_label}, std::string{inside}}}};
}

bool is_clock_gauge(std::string_view key) {
  auto name = key.substr(0, key.find('{'));
  auto ends = [&](std::string_view tail) {
    return name.size() >= tail.size()
           && name.compare(name.size() - tail.size(), tail.size(), tail) == 0;
  };
  return ends("_age_ms") || name == "link_down_ms";
}

std::optional<int64_t> value_of(const part_snapshot& part, const std::string& key) {
  auto i = part.values.find(key);
  if (i == part.values.end())
    return std::nullopt;
  return i->second;
}

process_sample sample_process() {
  process_sample s;
  long ticks = sysconf(_SC_CLK_TCK);
  long page = sysconf(_SC_PAGESIZE);
  if (FILE* f = std::fopen("/proc/self/stat", "r")) {
    char buf[2048];
    size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
    std::fclose(f);
    buf[n] = '\0';
    // The command name is in parentheses and may hold spaces: fields count
    // from the last ')'.
    if (char* p = std::strrchr(buf, ')')) {
      unsigned long utime = 0, stime = 0, vsize = 0;
      long threads = 0, rss = 0;
      unsigned long long starttime = 0;
      // Fields 3.. after ')': state ppid pgrp session tty tpgid flags minflt
      // cminflt majflt cmajflt utime stime cutime cstime priority nice
      // num_threads itrealvalue starttime vsize rss
      if (std::sscanf(p + 2,
                      "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu "
                      "%*d %*d %*d %*d %ld %*d %llu %lu %ld",
                      &utime, &stime, &threads, &starttime, &vsize, &rss)
          == 6) {
        if (ticks > 0)
          s.cpu_seconds = static_cast<double>(utime + stime) / static_cast<double>(ticks);
        s.threads = threads;
        s.virtual_bytes = static_cast<int64_t>(vsize);
        s.resident_bytes = static_cast<int64_t>(rss) * page;
        // starttime is in ticks after boot.
        if (FILE* st = std::fopen("/proc/stat", "r")) {
          char line[256];
          while (std::fgets(line, sizeof(line), st))
            if (std::strncmp(line, "btime ", 6) == 0) {
              double btime = std::atof(line + 6);
              if (ticks > 0)
                s.start_time =
                    btime + static_cast<double>(starttime) / static_cast<double>(ticks);
              break;
            }
          std::fclose(st);
        }
      }
    }
  }
  if (DIR* d = ::opendir("/proc/self/fd")) {
    int64_t n = 0;
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.')
        ++n;
    ::closedir(d);
    s.open_fds = n - 1; // the directory stream's own descriptor
  }
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0)
    s.max_fds = lim.rlim_cur == RLIM_INFINITY ? -1 : static_cast<int64_t>(lim.rlim_cur);
  return s;
}

std::string exposition(const server_snapshot& snap, const exposition_options& opts) {
  std::map<std::string, family> families;
  auto server = [&](std::string_view name) -> const server_metric& {
    for (const auto& m : server_metrics())
      if (m.name == name)
        return m;
    return server_metrics().front();
  };
  auto add_server = [&](std::string_view name, const label_list& labels,
                        const std::string& value) {
    const auto& m = server(name);
    add_sample(families, std::string{name}, m.type, m.help, labels, value);
  };
  add_server("ccserver_build_info", {{"version", snap.version}}, "1");
  if (snap.started > 0)
    add_server("ccserver_start_time_seconds", {}, format_double(snap.started));
  for (const auto& part : snap.parts) {
    add_server("ccserver_part_up", {{"part", part.name}, {"kind", part.kind}},
               part.up ? "1" : "0");
    auto subsystem = subsystem_of(part.kind);
    for (const auto& [key, value] : part.values) {
      auto bare = key.find('{');
      std::string plain = bare == std::string::npos ? key : key.substr(0, bare);
      const auto* spec = find_metric(part.kind, plain);
      auto [name, key_labels] =
          parse_counter_key(key, spec ? spec->bare_label() : std::string_view{"file"});
      label_list labels = part.labels;
      for (auto& [k, v] : key_labels)
        labels.emplace_back(metric_fragment(k), v);
      if (spec) {
        add_sample(families, std::string{spec->name}, spec->type, spec->help, labels,
                   format_value(value, spec->scale));
        continue;
      }
      bool gauge = !key_labels.empty() || generic_gauge(name);
      auto metric =
          "ccserver_" + subsystem + "_" + metric_fragment(name) + (gauge ? "" : "_total");
      add_sample(families, metric, gauge ? metric_type::gauge : metric_type::counter,
                 "counter '" + name + "' of " + part.kind
                     + " (not in the metric catalog)",
                 labels, std::to_string(value));
    }
  }
  add_server("ccserver_loop_disk_waits_total", {},
             std::to_string(loop_jobs::blocked_in_scope()));
  if (opts.health) {
    add_server("ccserver_healthy", {}, opts.health->first ? "1" : "0");
    add_server("ccserver_health_problems", {}, std::to_string(opts.health->second));
  }
  if (opts.process) {
    const auto& p = *opts.process;
    add_server("process_cpu_seconds_total", {}, format_double(p.cpu_seconds));
    add_server("process_resident_memory_bytes", {}, std::to_string(p.resident_bytes));
    add_server("process_virtual_memory_bytes", {}, std::to_string(p.virtual_bytes));
    add_server("process_open_fds", {}, std::to_string(p.open_fds));
    add_server("process_max_fds", {}, std::to_string(p.max_fds));
    add_server("process_threads", {}, std::to_string(p.threads));
    add_server("process_start_time_seconds", {}, format_double(p.start_time));
  }
  std::string text;
  for (const auto& [name, fam] : families) {
    text += "# HELP " + name + ' ' + help_escaped(fam.help) + '\n';
    text +=
        "# TYPE " + name + (fam.type == metric_type::gauge ? " gauge\n" : " counter\n");
    for (const auto& s : fam.samples)
      text += s + '\n';
  }
  return text;
}

} // namespace cc
