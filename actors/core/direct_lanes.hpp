// Direct lanes: a way past the router (and the scheduler's thread) for the
// messages of the central's data connections (docs/wire.md §6.8), and for
// the replies going back on them. A trickle line otherwise wakes CAF's
// scheduler twice on the central (router and tailwriter on the way in, router
// and gateway on the way back; bench/PROFILE.md "Session 11: the central's
// receive path").
//
// A message goes direct only where the router would hand it to exactly one
// handler (by the same route table, whole dot-separated words) and that
// handler put a door here (direct_handler: the tailwriter, whose door does
// everything its actor does with (dispatch_atom, msg): parsing, checks,
// dstdir confinement, the source-key limit, the worker's queue). Anything
// else, an invalid type included, takes the router as before.
//
// The same for this process's own senders (take_local): a tailer's fragment
// goes straight to the one handler its type routes to when that handler put
// a local door here (add_local_door: a forwarder, whose door hands it to the
// data connection while that is up and the forwarder holds nothing back,
// actors/link/forwarder_door.hpp), instead of crossing the router's and the
// forwarder's CAF jobs (bench/PROFILE.md, "Session 22: latency"). Peers'
// messages never take a local door, nor this process's a peer door.
//
// Owns: the route table and the doors of the running generation (the actor
// tree prepares them at each start and reload, opens them once the handlers
// run, closes them before it pauses or stops the gateway), and the path
// replies take straight to a data connection (set by the gateway while its
// data port is open). One per process; a mutex, held for a lookup.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "routes/route_table.hpp"
#include "wire/message.hpp"

namespace cc {

/// A handler that takes a routed message on the caller's thread, as its
/// actor takes (dispatch_atom, msg), without blocking.
class direct_handler {
public:
  virtual ~direct_handler() = default;
  /// Takes `msg` (moved from): handed on, or refused and counted as the
  /// actor would. false (msg untouched): not now (the handler is gone):
  /// the caller sends it through the router.
  virtual bool take(wire::cc_message& msg) = 0;
};

class direct_lanes {
public:
  using door_ptr = std::shared_ptr<direct_handler>;
  /// Sends a reply on a data connection; false when none is open for its
  /// route[0] (msg untouched).
  using reply_path = std::function<bool(wire::cc_message&)>;

  /// A generation starts: its route table; no doors, closed.
  void prepare(routes::route_table table);
  /// Handler section `section` of the generation being built takes
  /// messages directly (its spawn function calls this).
  void add_door(const std::string& section, door_ptr door);
  /// From now on take() hands messages to the doors / never does.
  void open();
  void close();

  /// The I/O loop's way in: true when a door took `msg` (moved from).
  bool take(wire::cc_message& msg);

  /// Handler section `section` of the generation being built takes this
  /// process's own messages directly (take_local).
  void add_local_door(const std::string& section, door_ptr door);
  /// An in-process sender's way past the router: true when the local door
  /// of the one handler its type routes to took `msg` (moved from); false
  /// (msg untouched): send it through the router.
  bool take_local(wire::cc_message& msg);

  /// The gateway's data port `owner` opened (or closed: an empty path; a
  /// reload's new gateway may have set its own meanwhile, which stays).
  void set_reply_path(reply_path path, const void* owner);
  /// A handler's reply straight to its peer's data connection; false
  /// (msg untouched) when none is open: then it goes through the router.
  bool reply(wire::cc_message& msg);

  int64_t taken() const { return taken_.load(); }
  int64_t replies() const { return replies_.load(); }
  int64_t local_taken() const { return local_taken_.load(); }

private:
  /// Doors by handler section and the lookups made (null: none).
  struct door_table {
    std::map<std::string, door_ptr> doors;
    std::map<std::string, door_ptr> by_type;
  };
  /// The door of `doors` for `type`, or null.
  door_ptr door_for(door_table& doors, const std::string& type);
  bool take_from(door_table& doors, wire::cc_message& msg);

  std::mutex mtx_;
  routes::route_table table_;
  door_table peers_;  // doors for the data connections' messages
  door_table local_;  // doors for this process's own
  bool open_ = false;
  std::shared_ptr<const reply_path> replies_to_; // null: no data port
  const void* replies_owner_ = nullptr;
  std::atomic<int64_t> taken_{0};
  std::atomic<int64_t> replies_{0};
  std::atomic<int64_t> local_taken_{0};
};

using direct_lanes_ptr = std::shared_ptr<direct_lanes>;

} // namespace cc
