// The tailwriter's way in: what happens to a pub.logtail message before a
// worker takes it, shared by the tailwriter actor (messages the router
// hands it) and the direct lane (messages of a data connection the I/O loop
// hands it, actors/core/direct_lanes.hpp), so both apply the same checks.
// The body is parsed once and checked (`req`, blob hash), the destination
// expanded and confined to dstdir, a host the sender's key may not write
// refused (`denied`), the max-source-keys-per-host limit applied; then the
// fragment goes to the worker its destination hashes to, counted in that
// worker's queue until the worker lets go of it.
//
// The direct lane has no answer to hold for back-pressure: the message's own
// receipt (the gateway's in-flight budget) is kept until the worker is done
// with the fragment, so the data connection stops being read while that
// budget is spent (the actor's way answers late instead).
//
// On the direct lane a fragment up to inline_max_bytes whose worker is idle
// (and has no sync in the kernel) is written here, on the I/O loop's thread
// (write_inline, tailwriter_worker.hpp): the copy shows it without a thread
// hand-off; bigger ones and everything else go to the worker.
//
// Owns: the workers' handles and queue meters (shared with the actor), the
// source-key limit and the host-binding check (a mutex: the I/O loop and
// the actor both pass messages here).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/expected.hpp>

#include "actors/core/direct_lanes.hpp"
#include "actors/core/router_actor.hpp"
#include "actors/core/router.hpp"
#include "actors/link/host_binding.hpp"
#include "actors/write/source_limit.hpp"
#include "actors/write/tailwriter.hpp"
#include "actors/write/tailwriter_worker.hpp"
#include "base/room_meter.hpp"

namespace cc::tw {

class tailwriter_door : public direct_handler {
public:
  /// A worker and the bytes sent to it not yet handled (counted down on its
  /// thread by each fragment's receipt).
  struct slot {
    caf::actor actor;
    std::shared_ptr<room_meter> meter = std::make_shared<room_meter>();
    /// Its core, for a small fragment the direct lane writes itself (null:
    /// every fragment goes to the worker).
    worker_inline_ptr inlet = nullptr;
  };

  /// `reserved`: the state directory relative to dstdir when inside it.
  tailwriter_door(tailwriter_config cfg, std::string reserved,
                  std::vector<slot> workers, counters_ptr counters,
                  router_actor router, std::string writer_id);

  /// The tailwriter, told (written_atom) when room frees while senders
  /// wait; set once it is spawned, before anything passes here.
  void set_tailwriter(caf::actor_addr tailwriter);

  /// Checks `msg` and hands it to its worker: that worker's index (its
  /// queue may now be over its share), nullopt when it was answered here
  /// (`denied`), or the error (an invalid body, too many source keys;
  /// counted and logged). `may_write`: a small fragment may be written on
  /// the caller's thread (write_inline; the direct lane's, the I/O loop).
  caf::expected<std::optional<size_t>> pass(wire::cc_message&& msg,
                                            bool may_write = false);

  /// The direct lane: pass() on the caller's thread; false only once the
  /// tailwriter is gone (close()).
  bool take(wire::cc_message& msg) override;
  void close();

  /// max_queued_bytes shared out: a worker's part, at least 1 MiB.
  uint64_t worker_limit() const;
  const slot& worker(size_t i) const { return workers_[i]; }
  size_t workers() const { return workers_.size(); }

  int64_t too_many_sources() const;
  int64_t host_denied() const;

private:
  /// Parses and checks one message; a fragment for a worker, or why not.
  caf::expected<std::shared_ptr<fragment>> prepare(wire::cc_message&& msg) const;
  /// The worker of a fragment: by its destination, so one copy is only
  /// ever written by one worker.
  size_t pick(const fragment& f) const;
  /// A fragment its sender's key may not write: answered `denied`.
  bool refuse_foreign_host(const fragment& f);
  /// The max-source-keys-per-host limit (a question takes no place).
  caf::error admit_key(const fragment& f);
  /// write_inline for a fragment up to inline_max_bytes; true when written here.
  bool write_here(const slot& w, const std::shared_ptr<fragment>& f);

  const tailwriter_config cfg_;
  const std::string reserved_;
  const std::vector<slot> workers_;
  const counters_ptr counters_;
  const router_actor router_;
  const std::string writer_id_;
  mutable std::mutex mtx_;  // guards what follows
  caf::actor_addr tailwriter_;
  bool closed_ = false;
  source_key_limit source_keys_;
  std::string key_scratch_; // admit_key's key, built in place (mtx_)
  int64_t too_many_sources_ = 0;
  log_limiter source_log_{std::chrono::seconds{10}, 256};
  host_binding_check host_check_;
};

using tailwriter_door_ptr = std::shared_ptr<tailwriter_door>;

} // namespace cc::tw
