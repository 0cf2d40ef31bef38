// The stats actor (contract: actors/stats.hpp). Polling rounds: on each tick
// every watched actor is asked for its counters; when all answered (or their
// requests timed out, or the next tick came first) the round is reported.
#include "actors/stats.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>

#include <fcntl.h>
#include <unistd.h>

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>

#include "actors/logger.hpp"
#include "actors/thread_name.hpp"
#include "config/error.hpp"

namespace cc {

namespace {

constexpr std::string_view who = "stats";

double wall_clock() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

/// "1764162301.123 (2026-11-26 14:05:01 CET)"
std::string show_time(double epoch) {
  auto secs = static_cast<time_t>(epoch);
  tm parts{};
  localtime_r(&secs, &parts);
  char stamp[64];
  strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S %Z", &parts);
  char buf[128];
  snprintf(buf, sizeof(buf), "%.3f (%s)", epoch, stamp);
  return buf;
}

std::string signed_delta(int64_t d) {
  return d < 0 ? std::to_string(d) : "+" + std::to_string(d);
}

std::string escape_label(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

} // namespace

// -- settings and pure helpers ---------------------------------------------------

stats_settings stats_settings_from(const config::section& main) {
  stats_settings s;
  if (main.has("cc-stats"))
    s.level = main.integer("cc-stats");
  if (main.has("stats-period")) {
    auto secs = main.seconds("stats-period");
    // A period below a tenth of a second would only burn CPU.
    s.period = std::chrono::milliseconds{
      std::max<int64_t>(100, static_cast<int64_t>(secs * 1000))};
  }
  if (main.has("infofile"))
    s.infofile = main.file("infofile");
  if (main.has("infofile-level"))
    s.infofile_level = main.integer("infofile-level");
  if (main.has("metrics-file"))
    s.metrics_file = main.file("metrics-file");
  if (main.has("job_name"))
    s.job_name = main.str("job_name");
  return s;
}

stats_settings stats_settings_from(const config::server_config& cfg) {
  auto s = stats_settings_from(cfg.main);
  s.job_name = cfg.job_name;
  return s;
}

std::string metric_fragment(std::string_view text) {
  std::string out{text};
  for (auto& c : out)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_'))
      c = '_';
  return out;
}

bool is_gauge(std::string_view name) {
  if (name.find('{') != std::string_view::npos)
    return true;
  // Values that go down as well as up; everything else only counts events.
  // The gauges the project's actors report (their headers list them).
  static constexpr std::string_view gauges[] = {
    "queued_bytes", "unacked_bytes", "in_flight", "open_files", "connected",
    "waiting",      "pending",       "lag_bytes", "daemons",    "running",
    "outstanding",  "in_flight_bytes", "allowed_keys", "bound_keys",
    "ack_timeout_ms",
  };
  return std::find(std::begin(gauges), std::end(gauges), name) !=
         std::end(gauges);
}

std::pair<std::string, std::optional<std::string>>
split_label(const std::string& key) {
  auto open = key.find('{');
  if (open == std::string::npos || key.back() != '}')
    return {key, std::nullopt};
  return {key.substr(0, open), key.substr(open + 1, key.size() - open - 2)};
}

caf::error write_atomically(const std::string& path, const std::string& text) {
  auto tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return make_error(errc::io, tmp + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < text.size()) {
    auto n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      auto err = make_error(errc::io, tmp + ": " + std::strerror(errno));
      ::close(fd);
      ::unlink(tmp.c_str());
      return err;
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) {
    auto err = make_error(errc::io, tmp + ": " + std::strerror(errno));
    ::unlink(tmp.c_str());
    return err;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    auto err = make_error(errc::io, path + ": rename: " + std::strerror(errno));
    ::unlink(tmp.c_str());
    return err;
  }
  return caf::none;
}

// -- stats_state -------------------------------------------------------------------

void stats_state::watch(const std::string& name, caf::actor actor) {
  auto i = std::find_if(watched.begin(), watched.end(),
                        [&](const watched_actor& w) { return w.name == name; });
  if (i == watched.end())
    watched.push_back(watched_actor{name, std::move(actor), {}, {}});
  else
    i->actor = std::move(actor);
}

void stats_state::forget(const caf::actor_addr& gone) {
  for (auto& w : watched)
    if (w.actor && w.actor.address() == gone)
      w.actor = nullptr;
}

void stats_state::store(uint64_t r, const std::string& name, counters values) {
  if (r != round)
    return;
  for (auto& w : watched)
    if (w.name == name)
      w.current = std::move(values);
}

std::optional<std::string>
stats_state::summary_line(const watched_actor& w) const {
  if (settings.level <= 0)
    return std::nullopt;
  std::string line = w.name + ":";
  bool any = false;
  for (auto& [key, value] : w.current) {
    auto prev = w.previous.find(key);
    int64_t delta = prev == w.previous.end() ? value : value - prev->second;
    bool changed = prev == w.previous.end() ? value != 0 : delta != 0;
    if (!changed && settings.level < 2)
      continue;
    line += ' ';
    line += key;
    line += '=';
    line += std::to_string(value);
    if (changed) {
      line += '(';
      line += signed_delta(delta);
      line += ')';
    }
    any = true;
  }
  if (!any)
    return std::nullopt;
  return line;
}

std::string stats_state::infofile_text(double now, long pid) const {
  if (settings.infofile_level <= 0)
    return {};
  std::string text;
  text += "name: " + settings.job_name + "\n";
  text += "service: ccserver\n";
  text += "pid: " + std::to_string(pid) + "\n";
  text += "started: " + show_time(started) + "\n";
  char period[32];
  snprintf(period, sizeof(period), "%g",
           static_cast<double>(settings.period.count()) / 1000);
  text += "info-period: " + std::string{period} + "\n";
  text += "info-written: " + show_time(now) + "\n";
  if (settings.infofile_level < 2)
    return text;
  for (auto& w : watched) {
    text += "\n[" + w.name + "]\n";
    if (!w.actor)
      text += "# gone; last known values\n";
    for (auto& [key, value] : w.current) {
      text += key + ": " + std::to_string(value);
      auto prev = w.previous.find(key);
      int64_t delta = prev == w.previous.end() ? value : value - prev->second;
      if (delta != 0)
        text += " (" + signed_delta(delta) + " in the last period)";
      text += '\n';
    }
  }
  return text;
}

std::string stats_state::metrics_text() const {
  // Grouped by metric name so each gets one TYPE line, as the format wants.
  struct family {
    bool gauge;
    std::vector<std::string> samples;
  };
  std::map<std::string, family> families;
  for (auto& w : watched) {
    auto prefix = "ccserver_" + metric_fragment(w.name) + "_";
    for (auto& [key, value] : w.current) {
      auto [name, label] = split_label(key);
      bool gauge = label.has_value() || is_gauge(name);
      auto metric = prefix + metric_fragment(name) + (gauge ? "" : "_total");
      auto& fam = families[metric];
      fam.gauge = gauge;
      std::string sample = metric;
      if (label)
        sample += "{file=\"" + escape_label(*label) + "\"}";
      sample += ' ';
      sample += std::to_string(value);
      fam.samples.push_back(std::move(sample));
    }
  }
  std::string text;
  for (auto& [metric, fam] : families) {
    text += "# TYPE " + metric + (fam.gauge ? " gauge\n" : " counter\n");
    for (auto& s : fam.samples)
      text += s + '\n';
  }
  return text;
}

void stats_state::report(double now) {
  for (auto& w : watched)
    if (auto line = summary_line(w))
      log::info(who, *line);
  auto write = [&](const std::string& path, const std::string& text) {
    if (auto err = write_atomically(path, text)) {
      auto msg = describe(err);
      if (msg != last_write_error)
        log::warning(who, "cannot write " + msg);
      last_write_error = msg;
    }
  };
  if (!settings.infofile.empty() && settings.infofile_level > 0)
    write(settings.infofile, infofile_text(now, static_cast<long>(::getpid())));
  if (!settings.metrics_file.empty())
    write(settings.metrics_file, metrics_text());
  for (auto& w : watched)
    w.previous = w.current;
}

// -- the actor ------------------------------------------------------------------------

namespace {

using stats_actor = caf::stateful_actor<stats_state>;

void finish_round(stats_actor* self) {
  auto& st = self->state;
  st.waiting = 0;
  st.report(wall_clock());
  for (auto& rp : st.flush_waiters)
    rp.deliver(ok_atom::value);
  st.flush_waiters.clear();
}

void answered(stats_actor* self, uint64_t r) {
  auto& st = self->state;
  if (r != st.round || st.waiting == 0)
    return;
  if (--st.waiting == 0)
    finish_round(self);
}

void start_round(stats_actor* self) {
  auto& st = self->state;
  ++st.round;
  st.waiting = static_cast<size_t>(
    std::count_if(st.watched.begin(), st.watched.end(),
                  [](const watched_actor& w) { return w.actor != nullptr; }));
  if (st.waiting == 0) {
    finish_round(self);
    return;
  }
  for (auto& w : st.watched) {
    if (!w.actor)
      continue;
    auto r = st.round;
    self->request(w.actor, st.settings.period, stats_atom::value)
      .then(
        [self, r, name = w.name](counters& values) {
          self->state.store(r, name, std::move(values));
          answered(self, r);
        },
        [self, r, name = w.name](caf::error& err) {
          log::debug(who, name + " did not report: " + describe(err));
          answered(self, r);
        });
  }
}

caf::behavior stats(stats_actor* self, stats_settings settings) {
  if (settings.detached)
    name_this_thread("cc-stats");
  self->state.settings = std::move(settings);
  self->state.started = wall_clock();
  self->set_down_handler([self](const caf::down_msg& dm) {
    self->state.forget(dm.source);
  });
  self->delayed_send(self, self->state.settings.period, tick_atom::value);
  return {
    [self](register_atom, const std::string& name, const caf::actor& actor) {
      self->monitor(actor);
      self->state.watch(name, actor);
      return ok_atom::value;
    },
    [self](tick_atom) {
      // A round still waiting for a slow actor is reported as it stands.
      if (self->state.waiting > 0)
        finish_round(self);
      start_round(self);
      self->delayed_send(self, self->state.settings.period, tick_atom::value);
    },
    [self](flush_atom) {
      self->state.flush_waiters.push_back(self->make_response_promise());
      if (self->state.waiting == 0)
        start_round(self);
    },
  };
}

} // namespace

caf::actor spawn_stats(caf::actor_system& sys, const config::section& main) {
  return spawn_stats(sys, stats_settings_from(main));
}

caf::actor spawn_stats(caf::actor_system& sys, const config::server_config& cfg) {
  return spawn_stats(sys, stats_settings_from(cfg));
}

caf::actor spawn_stats(caf::actor_system& sys, stats_settings settings) {
  if (settings.detached)
    return sys.spawn<caf::detached>(stats, std::move(settings));
  return sys.spawn(stats, std::move(settings));
}

} // namespace cc
