// The status board: where the stats actor leaves the server's latest
// snapshot (actors/core/metrics.hpp) and where threads outside the actor system
// (the HTTP endpoint, the control socket) take it. Thread-safe.
//
// A reader that wants fresh facts asks for a round (refresh_atom to the
// stats actor) when the snapshot is older than it accepts, without waiting
// (try_read): at most one round is asked for at a time, so no number of
// readers makes the actors answer more than about once per `max_age`. It is
// told of the next publish (watch) and takes the result (finish_read); when
// the round did not come within its bound it gets the last snapshot, marked
// stale (the server is too busy or stuck: unhealthy). Nothing here waits:
// the HTTP endpoint reads it on the I/O loop.
//
// Owned by main (it outlives reloads, which replace the stats actor: set_source).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include <caf/actor.hpp>

#include "actors/core/metrics.hpp"
#include "actors/core/status.hpp"

namespace cc {

class status_board {
public:
  using clock = std::chrono::steady_clock;

  explicit status_board(health_settings health = {});

  /// The stats actor that makes snapshots (null between reloads).
  void set_source(caf::actor stats);

  /// A new snapshot (the stats actor, at the end of every round).
  void publish(server_snapshot snap);

  /// From now on every snapshot says a shutdown is under way.
  void set_stopping();

  /// Health settings for readers (replaced on reload).
  void set_health(health_settings health);
  health_settings health() const;

  struct reading {
    server_snapshot snap; // stopping set when a shutdown is under way
    bool stale = false;   // no round answered within the bound
    bool any = false;     // a snapshot was ever published
  };

  /// The reading when the snapshot is at most `max_age` old (or there is no
  /// source); else asks for a round (unless one asked less than `bound` ago
  /// is outstanding) and returns nothing, `seen` set to the generation a new
  /// snapshot will pass.
  std::optional<reading> try_read(std::chrono::milliseconds max_age,
                                  std::chrono::milliseconds bound, uint64_t& seen);

  /// After try_read asked: whether a snapshot came since `seen`.
  bool published_since(uint64_t seen) const;

  /// After try_read asked and the caller waited up to `bound`: the latest
  /// snapshot, stale unless one came since `seen`.
  reading finish_read(uint64_t seen, std::chrono::milliseconds bound);

  /// `fn` runs after every publish on the publisher's thread (keep it short:
  /// wake a waiter). The id is for unwatch, after which it runs no more once
  /// a publish under way returned.
  uint64_t watch(std::function<void()> fn);
  void unwatch(uint64_t id);

  /// The latest snapshot as it is, without asking for a round.
  reading peek() const;

  /// The snapshot's health plus the board's own: a stale snapshot is a
  /// problem ("the server did not answer a stats round in N s").
  health_report health_of(const reading& r, double now) const;

private:
  /// Asks for a round unless fresh (or no source); true when fresh.
  bool ask_unless_fresh(std::chrono::milliseconds max_age, std::chrono::milliseconds bound);
  reading current(bool stale, std::chrono::milliseconds bound);

  mutable std::mutex mtx_;
  caf::actor source_;
  std::shared_ptr<const server_snapshot> latest_;
  clock::time_point latest_at_;
  uint64_t generation_ = 0;
  bool round_asked_ = false;
  clock::time_point asked_at_;
  bool stopping_ = false;
  health_settings health_;
  std::chrono::milliseconds last_bound_{0};
  std::mutex watch_mtx_; // held while watchers run, so unwatch waits for them
  std::vector<std::pair<uint64_t, std::function<void()>>> watchers_;
  uint64_t next_watch_ = 0;
};

} // namespace cc
