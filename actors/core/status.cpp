// Health, /status and the --status table (contract: actors/status.hpp).
#include "actors/core/status.hpp"
#include "config/reader.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

namespace cc {

namespace {

using json = nlohmann::json;

std::string seconds_text(double s) {
  char buf[32];
  if (s < 10)
    snprintf(buf, sizeof(buf), "%.1f s", s);
  else
    snprintf(buf, sizeof(buf), "%.0f s", s);
  return buf;
}

std::string ms_text(std::chrono::milliseconds d) {
  return seconds_text(static_cast<double>(d.count()) / 1000);
}

bool is_true_failure(const part_snapshot& p) {
  return !p.failure.empty() && p.failed_at > 0;
}

/// The values of a part's labelled keys, grouped by one label's value:
/// for "file" on a tailer, file -> {"lag_bytes" -> 5, "file_size" -> 9}.
std::map<std::string, std::map<std::string, int64_t>>
by_label(const part_snapshot& p, const std::string& label,
         std::map<std::string, std::string>* other = nullptr,
         const std::string& other_label = {}) {
  std::map<std::string, std::map<std::string, int64_t>> out;
  for (const auto& [key, value] : p.values) {
    auto brace = key.find('{');
    if (brace == std::string::npos)
      continue;
    const auto* spec = find_metric(p.kind, std::string_view{key}.substr(0, brace));
    auto [name, labels] =
        parse_counter_key(key, spec ? spec->bare_label() : std::string_view{"file"});
    std::string mine;
    std::string theirs;
    for (auto& [k, v] : labels) {
      if (k == label)
        mine = v;
      else if (k == other_label)
        theirs = v;
    }
    if (mine.empty())
      continue;
    out[mine][name] = value;
    if (other && !theirs.empty())
      (*other)[mine] = theirs;
  }
  return out;
}

std::string label(const part_snapshot& p, const std::string& name) {
  for (const auto& [k, v] : p.labels)
    if (k == name)
      return v;
  return {};
}

int64_t get(const std::map<std::string, int64_t>& m, const std::string& k,
            int64_t dflt = 0) {
  auto i = m.find(k);
  return i == m.end() ? dflt : i->second;
}

json optional_seconds(const std::map<std::string, int64_t>& m, const std::string& k) {
  auto i = m.find(k);
  if (i == m.end())
    return nullptr;
  return static_cast<double>(i->second) / 1000;
}

} // namespace

namespace {

void read_health(health_settings& s, const config::reader& r) {
  s.link_timeout = r.millis("health-link-timeout");
  s.failure_hold = r.millis("health-failure-hold");
}

} // namespace

health_settings::health_settings() {
  read_health(*this, config::reader::defaults("ccserver"));
}

health_settings health_settings_from(const config::section& main) {
  health_settings s;
  read_health(s, config::reader{main});
  return s;
}

health_report evaluate_health(const server_snapshot& snap,
                              const health_settings& settings, double now) {
  health_report r;
  if (snap.stopping)
    r.problems.push_back(
        {"server", "server", "shutting down", "a shutdown is under way"});
  double hold = static_cast<double>(settings.failure_hold.count()) / 1000;
  for (const auto& p : snap.parts) {
    if (!p.up && is_true_failure(p)) {
      r.problems.push_back(
          {p.name, p.kind, "failed",
           p.failure + " (" + seconds_text(now - p.failed_at) + " ago; not running)"});
    } else if (p.up && is_true_failure(p) && now - p.up_since < hold) {
      r.problems.push_back({p.name, p.kind, "restarted after a failure",
                            p.failure + "; running again for "
                                + seconds_text(std::max(0.0, now - p.up_since))
                                + " of the " + ms_text(settings.failure_hold)
                                + " health-failure-hold"});
    }
    if (!p.up)
      continue;
    if (auto failing = value_of(p, "failing"); failing && *failing > 0) {
      if (p.kind == "tailwriter")
        r.problems.push_back({p.name, p.kind, "cannot write",
                              std::to_string(*failing)
                                  + " copies whose last open, write or sync "
                                    "failed (the log says why)"});
      else if (p.kind == "logtail")
        r.problems.push_back({p.name, p.kind, "cannot read",
                              "cannot list its directory or open its file "
                              "(the log says why)"});
      else
        r.problems.push_back(
            {p.name, p.kind, "failing", "reports failing = " + std::to_string(*failing)});
    }
    if (p.kind == "jobmgr") {
      // A daemon that is down: the stats actor knows why when its actor
      // ended (reported above); one that could not be started has no actor.
      for (const auto& [daemon, v] : by_label(p, "daemon")) {
        if (get(v, "daemon_running", 1) != 0)
          continue;
        const auto* d = snap.find(daemon);
        if (d != nullptr && !d->up && is_true_failure(*d))
          continue;
        r.problems.push_back(
            {daemon, "daemon", "not running",
             "supervised by " + p.name + ", waiting for its restart (the log says why)"});
      }
    }
    if (p.kind == "proxy") {
      auto connected = value_of(p, "connected");
      auto down_ms = value_of(p, "link_down_ms");
      if (connected && *connected == 0 && down_ms
          && *down_ms > settings.link_timeout.count()) {
        auto peer = label(p, "peer");
        r.problems.push_back(
            {p.name, p.kind, "link down",
             (peer.empty() ? std::string{"the link"} : peer) + " down for "
                 + seconds_text(static_cast<double>(*down_ms) / 1000)
                 + " (health-link-timeout " + ms_text(settings.link_timeout) + ")"});
      }
    }
  }
  return r;
}

json health_json(const health_report& report) {
  json problems = json::array();
  for (const auto& p : report.problems)
    problems.push_back({{"part", p.part},
                        {"kind", p.kind},
                        {"problem", p.problem},
                        {"detail", p.detail}});
  return {{"status", report.healthy() ? "ok" : "unhealthy"},
          {"problems", std::move(problems)}};
}

json status_json(const server_snapshot& snap, const health_report& report, double now) {
  json tailers = json::array();
  json links = json::array();
  json copies = json::array();
  json parts = json::array();
  for (const auto& p : snap.parts) {
    json values = json::object();
    for (const auto& [k, v] : p.values)
      values[k] = v;
    parts.push_back({{"name", p.name},
                     {"kind", p.kind},
                     {"up", p.up},
                     {"failure", p.failure},
                     {"counters", std::move(values)}});
    if (p.kind == "logtail") {
      auto files = by_label(p, "file");
      auto failing = value_of(p, "failing").value_or(0);
      auto state_of = [&](const std::map<std::string, int64_t>* f) -> std::string {
        if (!p.up)
          return is_true_failure(p) ? "failed: " + p.failure : "stopped";
        if (failing > 0)
          return "failing";
        if (f == nullptr)
          return "waiting for a file";
        return get(*f, "lag_bytes") == 0 ? "caught up" : "behind";
      };
      if (files.empty())
        tailers.push_back(
            {{"section", p.name}, {"file", nullptr}, {"state", state_of(nullptr)}});
      for (const auto& [file, f] : files) {
        tailers.push_back(
            {{"section", p.name},
             {"file", file},
             {"size", get(f, "file_size")},
             {"read", get(f, "read_offset")},
             {"sent", get(f, "sent_offset")},
             {"acked", get(f, "acked_offset")},
             {"lag_bytes", get(f, "lag_bytes")},
             {"last_ack_age_seconds", optional_seconds(f, "last_ack_age_ms")},
             {"state", state_of(&f)}});
      }
    } else if (p.kind == "proxy") {
      auto down = value_of(p, "link_down_ms");
      auto pong = value_of(p, "last_pong_age_ms");
      links.push_back({{"section", p.name},
                       {"peer", label(p, "peer")},
                       {"up", p.up},
                       {"connected", value_of(p, "connected").value_or(0) == 1},
                       {"queued_bytes", value_of(p, "queued_bytes").value_or(0)},
                       {"waiting_messages", value_of(p, "waiting").value_or(0)},
                       {"reconnects", value_of(p, "reconnects").value_or(0)},
                       {"down_seconds",
                        down ? json(static_cast<double>(*down) / 1000) : json(nullptr)},
                       {"last_pong_age_seconds",
                        pong ? json(static_cast<double>(*pong) / 1000) : json(nullptr)}});
    } else if (p.kind == "tailwriter") {
      std::map<std::string, std::string> hosts;
      for (const auto& [file, c] : by_label(p, "file", &hosts, "host")) {
        copies.push_back(
            {{"section", p.name},
             {"host", hosts.count(file) ? hosts[file] : std::string{}},
             {"file", file},
             {"written_bytes", get(c, "copy_written_bytes")},
             {"last_write_age_seconds", optional_seconds(c, "copy_last_write_age_ms")},
             {"write_errors", get(c, "copy_write_errors")}});
      }
    }
  }
  return {
      {"server",
       {{"job_name", snap.job_name},
        {"version", snap.version},
        {"pid", snap.pid},
        {"role", snap.role},
        {"started", snap.started},
        {"uptime_seconds", snap.started > 0 ? now - snap.started : 0.0},
        {"snapshot_age_seconds", snap.taken > 0 ? std::max(0.0, now - snap.taken) : 0.0},
        {"stopping", snap.stopping}}},
      {"health", health_json(report)},
      {"tailers", std::move(tailers)},
      {"links", std::move(links)},
      {"copies", std::move(copies)},
      {"parts", std::move(parts)}};
}

// -- the table ---------------------------------------------------------------------

namespace {

std::string bytes_text(const json& v) {
  if (!v.is_number())
    return "-";
  auto b = v.get<double>();
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0)
    snprintf(buf, sizeof(buf), "%.0f B", b);
  else
    snprintf(buf, sizeof(buf), "%.1f %s", b, units[u]);
  return buf;
}

std::string age_text(const json& v) {
  if (!v.is_number())
    return "-";
  auto s = v.get<double>();
  char buf[32];
  if (s < 60)
    snprintf(buf, sizeof(buf), "%.1f s", s);
  else if (s < 3600)
    snprintf(buf, sizeof(buf), "%dm%02ds", static_cast<int>(s) / 60,
             static_cast<int>(s) % 60);
  else
    snprintf(buf, sizeof(buf), "%dh%02dm", static_cast<int>(s) / 3600,
             static_cast<int>(s) % 3600 / 60);
  return buf;
}

std::string text_of(const json& v) {
  if (v.is_string())
    return v.get<std::string>();
  if (v.is_null())
    return "-";
  if (v.is_boolean())
    return v.get<bool>() ? "yes" : "no";
  return v.dump();
}

/// Columns padded to the widest cell, two spaces apart, indented by two.
std::string table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) {
      if (width.size() <= i)
        width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
  std::string out;
  for (const auto& r : rows) {
    std::string line = " ";
    for (size_t i = 0; i < r.size(); ++i) {
      line += ' ';
      line += r[i];
      if (i + 1 < r.size())
        line += std::string(width[i] - r[i].size() + 1, ' ');
    }
    out += line + '\n';
  }
  return out;
}

} // namespace

std::string status_table(const json& status) {
  const auto& server = status.at("server");
  const auto& health = status.at("health");
  bool healthy = health.value("status", "") == "ok";
  std::string out = "ccserver " + server.value("job_name", std::string{}) + ": "
                    + (healthy ? "healthy" : "UNHEALTHY") + " (pid "
                    + text_of(server.value("pid", json(nullptr))) + ", version "
                    + server.value("version", std::string{}) + ", role "
                    + server.value("role", std::string{}) + ", up "
                    + age_text(server.value("uptime_seconds", json(nullptr))) + ")\n";
  if (!healthy) {
    out += "problems:\n";
    for (const auto& p : health.at("problems"))
      out += "  " + p.value("part", std::string{}) + ": "
             + p.value("problem", std::string{}) + ": " + p.value("detail", std::string{})
             + "\n";
  }
  if (!status.at("tailers").empty()) {
    std::vector<std::vector<std::string>> rows{
        {"TAILER", "FILE", "SIZE", "ACKED", "LAG", "LAST ACK", "STATE"}};
    for (const auto& t : status.at("tailers"))
      rows.push_back({t.value("section", std::string{}),
                      text_of(t.value("file", json(nullptr))),
                      bytes_text(t.value("size", json(nullptr))),
                      bytes_text(t.value("acked", json(nullptr))),
                      t.contains("lag_bytes") ? text_of(t["lag_bytes"]) + " B" : "-",
                      age_text(t.value("last_ack_age_seconds", json(nullptr))),
                      t.value("state", std::string{})});
    out += "\n" + table(rows);
  }
  if (!status.at("links").empty()) {
    std::vector<std::vector<std::string>> rows{
        {"LINK", "REMOTE", "CONNECTED", "QUEUED", "RECONNECTS", "DOWN FOR", "LAST PONG"}};
    for (const auto& l : status.at("links"))
      rows.push_back({l.value("section", std::string{}), l.value("peer", std::string{}),
                      text_of(l.value("connected", json(nullptr))),
                      bytes_text(l.value("queued_bytes", json(nullptr))),
                      text_of(l.value("reconnects", json(nullptr))),
                      l.value("connected", false)
                          ? std::string{"-"}
                          : age_text(l.value("down_seconds", json(nullptr))),
                      age_text(l.value("last_pong_age_seconds", json(nullptr)))});
    out += "\n" + table(rows);
  }
  if (!status.at("copies").empty()) {
    std::vector<std::vector<std::string>> rows{
        {"WRITER", "HOST", "COPY", "WRITTEN", "LAST WRITE", "ERRORS"}};
    for (const auto& c : status.at("copies"))
      rows.push_back({c.value("section", std::string{}), c.value("host", std::string{}),
                      c.value("file", std::string{}),
                      bytes_text(c.value("written_bytes", json(nullptr))),
                      age_text(c.value("last_write_age_seconds", json(nullptr))),
                      text_of(c.value("write_errors", json(nullptr)))});
    out += "\n" + table(rows);
  }
  return out;
}

} // namespace cc
