// CAF jobs run on the thread that made them: the I/O loop, for a trickle.
//
// A line appended to a followed file used to cross two thread wake-ups on
// the local before its bytes left: the kernel wakes the loop (`cc-io`) for
// the inotify event, and the loop's wake_atom wakes a scheduler worker for
// the tailer, which then runs the tailer, the router and the forwarder.
// While a loop_jobs scope is open on a thread, the scheduler hands that
// thread the jobs it is given there (main/sharing_policy.hpp asks offer()),
// and run() resumes them on it, with this scope as their execution unit: an
// actor they message is queued here too (exec_later), so the tailer's look,
// the router and the forwarder's write into the data connection run on the
// loop thread right after its inotify read, with no second wake-up
// (inotify_hub.cpp opens the scope for tailers that ask for it,
// watch_signal::run_here). The central's ack of such a line comes back the
// same way: a data connection with nothing to write hands its replies on
// inside a scope (the forwarder's on_message_here, actors/link/data_link.hpp),
// so the forwarder, the router and the tailer take it on the loop thread,
// and such a tailer's timer fires there too (base/loop_clock.hpp).
//
// Bounds, so the loop is never held long: at most `max_jobs` jobs per scope
// and `max_messages` messages per job; an actor with more mail, and every
// job past the bound, goes to the scheduler as before. CAF's own rules keep
// an actor on one thread at a time (a job is queued once per wake of its
// mailbox, here or there, never both), so what an actor sees is unchanged:
// the same messages in the same order, only on another thread.
//
// What runs here must not wait for the loop (io_attachment and the sockets
// check io_loop::in_loop() and do not), and running() tells data_link that
// the loop is not inside its own socket code, so the forwarder may write a
// small message into the data connection itself.
//
// Nor for the disk: while a job runs here the loop is held for every other
// connection, watch and request of the process. A job that finds it needs
// blocking work (an fsync, a decompression, a big read) leaves instead:
// after_job() runs a function once the job returned, with the scope taking
// nothing, so the message it sends the actor wakes it on a worker, where it
// does that work (the tailer: tail_effects::may_block). note_blocking() is
// the check: the disk waits that must not happen here (the .save's durable
// write, position_saver) count themselves when they do (blocked_in_scope).
//
// Owns: the scope's queue of jobs (each with the reference the scheduler
// would hold), on its own thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/execution_unit.hpp>
#include <caf/fwd.hpp>
#include <caf/send.hpp>

namespace cc {

class loop_jobs final : public caf::execution_unit {
public:
  /// Opens the scope on this thread (scopes nest: the inner one takes the
  /// jobs until it closes).
  explicit loop_jobs(caf::actor_system& sys, size_t max_jobs = 8, size_t max_messages = 4);
  /// Closes the scope; jobs not run yet go to the scheduler.
  ~loop_jobs() override;
  loop_jobs(const loop_jobs&) = delete;
  loop_jobs& operator=(const loop_jobs&) = delete;

  /// The scheduler's hook: true when an open scope on this thread took
  /// `job` (with its reference); false: schedule it as usual.
  static bool offer(caf::resumable* job);

  /// Whether this thread is resuming a job of a scope now: it must not
  /// block.
  static bool running();

  /// From a job being resumed by a scope: `fn` runs on this thread once
  /// the job returned, while the scope takes no job, so an actor it
  /// messages is woken on a scheduler worker. False (and `fn` dropped)
  /// when no job of a scope runs on this thread.
  static bool after_job(std::function<void()> fn);

  /// How many functions after_job() took, process-wide (tests).
  static uint64_t after_jobs();

  /// Called by a wait for the disk: counted (blocked_in_scope) when it
  /// happens in a job of a scope, which must not block.
  static void note_blocking();

  /// How many waits for the disk happened in jobs of scopes, process-wide
  /// (0 unless something that should have left the loop did not).
  static uint64_t blocked_in_scope();

  /// Resumes the jobs taken, and those they make, within the bounds.
  void run();

  /// Runs `fn` on this thread as if it were a job this scope resumes, for
  /// work the loop does itself with no actor woken (a settled tailer's
  /// inotify look, actors/tail/inotify_hub.hpp): running() is true (nothing
  /// may block, the data connection may be written), after_job() works,
  /// and what `fn` messages is taken by this scope, to run on run().
  /// Returns what `fn` returned.
  bool run_inline(const std::function<bool()>& fn);

  /// Sends `xs` to `to` inside a scope of its own on this thread and runs
  /// what that wakes here: a trickle's ack (the forwarder's
  /// on_message_here) and a tailer's timer (base/loop_clock.hpp) on the
  /// I/O loop.
  template <class... Ts>
  static void send_and_run(const caf::actor& to, Ts&&... xs) {
    loop_jobs scope{to->home_system()};
    caf::anon_send(to, std::forward<Ts>(xs)...);
    scope.run();
  }

  /// A job made by an actor resumed here: taken while within the bounds,
  /// else to the scheduler.
  void exec_later(caf::resumable* job) override;

  /// Jobs resumed here so far (tests).
  size_t resumed() const {
    return resumed_;
  }

private:
  bool take(caf::resumable* job);
  void to_scheduler(caf::resumable* job);
  void run_after();

  size_t max_jobs_;
  size_t max_messages_;
  std::vector<caf::resumable*> jobs_;
  /// What after_job() left for the end of the job being resumed.
  std::vector<std::function<void()>> after_;
  size_t next_ = 0;
  size_t resumed_ = 0;
  bool closed_ = false;  // an actor had more mail: take nothing more
  bool refusing_ = false; // running after_: take nothing meanwhile
  loop_jobs* outer_;
};

} // namespace cc
