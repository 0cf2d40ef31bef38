// The status board (contract: actors/core/status_board.hpp).
#include "actors/core/status_board.hpp"

#include <algorithm>
#include <cstdio>

#include <caf/send.hpp>

#include "actors/core/atoms.hpp"

namespace cc {

status_board::status_board(health_settings health) : health_(health) {}

void status_board::set_source(caf::actor stats) {
  std::lock_guard<std::mutex> guard{mtx_};
  source_ = std::move(stats);
  round_asked_ = false;
}

void status_board::publish(server_snapshot snap) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    latest_ = std::make_shared<const server_snapshot>(std::move(snap));
    latest_at_ = clock::now();
    ++generation_;
    round_asked_ = false;
  }
  std::lock_guard<std::mutex> guard{watch_mtx_};
  for (auto& w : watchers_)
    w.second();
}

uint64_t status_board::watch(std::function<void()> fn) {
  std::lock_guard<std::mutex> guard{watch_mtx_};
  watchers_.emplace_back(++next_watch_, std::move(fn));
  return next_watch_;
}

void status_board::unwatch(uint64_t id) {
  std::lock_guard<std::mutex> guard{watch_mtx_};
  watchers_.erase(std::remove_if(watchers_.begin(), watchers_.end(),
                                 [id](const auto& w) { return w.first == id; }),
                  watchers_.end());
}

void status_board::set_stopping() {
  std::lock_guard<std::mutex> guard{mtx_};
  stopping_ = true;
}

void status_board::set_health(health_settings health) {
  std::lock_guard<std::mutex> guard{mtx_};
  health_ = health;
}

health_settings status_board::health() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return health_;
}

status_board::reading status_board::peek() const {
  std::lock_guard<std::mutex> guard{mtx_};
  reading r;
  if (latest_) {
    r.snap = *latest_;
    r.any = true;
  }
  r.snap.stopping = r.snap.stopping || stopping_;
  return r;
}

bool status_board::ask_unless_fresh(std::chrono::milliseconds max_age,
                                    std::chrono::milliseconds bound) {
  auto now = clock::now();
  // Without a source (between the generations of a reload) the last
  // snapshot is the best there is.
  if ((latest_ && now - latest_at_ <= max_age) || !source_)
    return true;
  // One round asked for at a time; one asked long ago and never answered
  // is asked for again.
  if (!round_asked_ || now - asked_at_ > bound) {
    round_asked_ = true;
    asked_at_ = now;
    caf::anon_send(source_, refresh_atom::value);
  }
  return false;
}

status_board::reading status_board::current(bool stale, std::chrono::milliseconds bound) {
  reading r;
  if (latest_) {
    r.snap = *latest_;
    r.any = true;
  }
  r.snap.stopping = r.snap.stopping || stopping_;
  r.stale = stale;
  last_bound_ = bound;
  return r;
}

std::optional<status_board::reading>
status_board::try_read(std::chrono::milliseconds max_age, std::chrono::milliseconds bound,
                       uint64_t& seen) {
  std::lock_guard<std::mutex> guard{mtx_};
  seen = generation_;
  if (!ask_unless_fresh(max_age, bound))
    return std::nullopt;
  return current(false, bound);
}

bool status_board::published_since(uint64_t seen) const {
  std::lock_guard<std::mutex> guard{mtx_};
  return generation_ != seen;
}

status_board::reading status_board::finish_read(uint64_t seen,
                                                std::chrono::milliseconds bound) {
  std::lock_guard<std::mutex> guard{mtx_};
  return current(generation_ == seen, bound);
}

health_report status_board::health_of(const reading& r, double now) const {
  auto report = evaluate_health(r.snap, health(), now);
  if (r.stale || !r.any) {
    std::lock_guard<std::mutex> guard{mtx_};
    char buf[64];
    snprintf(buf, sizeof(buf), "%.1f s", static_cast<double>(last_bound_.count()) / 1000);
    report.problems.push_back(
        {"server", "server", "not answering",
         r.any ? std::string{"the actors did not answer a stats round within "} + buf
                     + " (busy or stuck)"
               : std::string{"no stats round has completed yet"}});
  }
  return report;
}

} // namespace cc
