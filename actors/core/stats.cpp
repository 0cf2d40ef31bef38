// The stats actor (contract: actors/core/stats.hpp). Polling rounds: on each tick
// every watched actor is asked for its counters; when all answered (or their
// requests timed out, or the next tick came first) the round is reported.
#include "actors/core/stats.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>

#include <fcntl.h>
#include <unistd.h>

#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>

#include "actors/core/status_board.hpp"
#include "base/error.hpp"
#include "base/logger.hpp"
#include "base/thread_name.hpp"
#include "config/reader.hpp"

namespace cc {

namespace {

/// This actor's own timer: a stats round is due (every stats-period).
using round_atom = caf::atom_constant<caf::atom("round")>;

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

} // namespace

// -- settings and pure helpers ---------------------------------------------------

namespace {

void read_settings(stats_settings& s, const config::reader& r) {
  s.level = r.integer("cc-stats");
  s.period = r.millis("stats-period");
  s.infofile = r.file("infofile");
  s.infofile_level = r.integer("infofile-level");
  s.metrics_file = r.file("metrics-file");
  s.job_name = r.builtin("job_name");
  s.role = r.str("cc-role");
}

} // namespace

stats_settings::stats_settings() {
  read_settings(*this, config::reader::defaults("ccserver"));
}

stats_settings stats_settings_from(const config::section& main) {
  stats_settings s;
  read_settings(s, config::reader{main});
  s.health = health_settings_from(main);
  s.version = CC_VERSION;
  return s;
}

stats_settings stats_settings_from(const config::server_config& cfg) {
  auto s = stats_settings_from(cfg.main);
  s.job_name = cfg.job_name;
  for (const auto* sections : {&cfg.handlers, &cfg.daemons})
    for (const auto& [name, sec] : *sections) {
      part_info info{sec.kind, {{"section", name}}};
      if (sec.kind == "proxy" && sec.has("remote-cc"))
        info.labels.emplace_back("peer", sec.str("remote-cc"));
      s.parts[name] = std::move(info);
    }
  return s;
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

void stats_state::watch(const std::string& name, caf::actor actor, double now) {
  auto [at, added] = by_name.try_emplace(name, watched.size());
  if (added) {
    watched_actor w;
    w.name = name;
    w.actor = std::move(actor);
    w.up_since = now;
    watched.push_back(std::move(w));
  } else {
    auto& w = watched[at->second];
    w.actor = std::move(actor);
    w.up_since = now;
  }
}

void stats_state::forget(const caf::actor_addr& gone, const std::string& failure,
                         double now) {
  for (auto& w : watched)
    if (w.actor && w.actor.address() == gone) {
      w.actor = nullptr;
      if (!failure.empty()) {
        w.failure = failure;
        w.failed_at = now;
      }
    }
}

void stats_state::store(uint64_t r, const std::string& name, counters values) {
  if (r != round)
    return;
  if (auto at = by_name.find(name); at != by_name.end())
    watched[at->second].current = std::move(values);
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
    // Ages change with the clock alone: at level 1 they would fill every
    // line; they are in the metrics and /status.
    if ((!changed || is_clock_gauge(key)) && settings.level < 2)
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

server_snapshot stats_state::snapshot(double now) const {
  server_snapshot snap;
  snap.job_name = settings.job_name;
  snap.role = settings.role;
  snap.version = settings.version;
  snap.pid = static_cast<long>(::getpid());
  snap.started = started;
  snap.taken = now;
  for (const auto& w : watched) {
    part_snapshot p;
    p.name = w.name;
    if (auto i = settings.parts.find(w.name); i != settings.parts.end()) {
      p.kind = i->second.kind;
      p.labels = i->second.labels;
    } else {
      p.kind = w.name;  // the server's own parts: router, gateway, caf-listen
    }
    p.values = w.current;
    p.up = w.actor != nullptr;
    p.failure = w.failure;
    p.failed_at = w.failed_at;
    p.up_since = w.up_since;
    snap.parts.push_back(std::move(p));
  }
  return snap;
}

std::string stats_state::metrics_text(double now) const {
  auto snap = snapshot(now);
  exposition_options opts;
  auto health = evaluate_health(snap, settings.health, now);
  opts.health = std::make_pair(health.healthy(), health.problems.size());
  return exposition(snap, opts);
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
    write(settings.metrics_file, metrics_text(now));
  for (auto& w : watched)
    w.previous = w.current;
}

// -- the actor ------------------------------------------------------------------------

namespace {

using stats_actor = caf::stateful_actor<stats_state>;

void finish_round(stats_actor* self) {
  auto& st = self->state;
  st.waiting = 0;
  auto now = wall_clock();
  if (st.settings.board)
    st.settings.board->publish(st.snapshot(now));
  if (!st.report_due)
    return;
  st.report_due = false;
  st.report(now);
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

void start_round(stats_actor* self, bool report) {
  auto& st = self->state;
  st.report_due = report;
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
    // A requested stop is no failure; anything else is kept for health.
    std::string failure;
    if (dm.reason && dm.reason != caf::exit_reason::user_shutdown &&
        dm.reason != caf::exit_reason::normal)
      failure = dm.reason.category() == error_category
                  ? message_of(dm.reason)
                  : self->system().render(dm.reason);
    self->state.forget(dm.source, failure, wall_clock());
  });
  self->delayed_send(self, self->state.settings.period, round_atom::value);
  return {
    [self](register_atom, const std::string& name, const caf::actor& actor) {
      self->monitor(actor);
      self->state.watch(name, actor, wall_clock());
      return ok_atom::value;
    },
    [self](round_atom) {
      // A round still waiting for a slow actor is finished as it stands.
      if (self->state.waiting > 0)
        finish_round(self);
      start_round(self, true);
      self->delayed_send(self, self->state.settings.period, round_atom::value);
    },
    [self](flush_atom) {
      self->state.flush_waiters.push_back(self->make_response_promise());
      if (self->state.waiting == 0)
        start_round(self, true);
      else
        self->state.report_due = true;  // the round under way reports
    },
    [self](refresh_atom) {
      if (self->state.waiting == 0)
        start_round(self, false);
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
