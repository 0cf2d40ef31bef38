// The tailer actor: a thin shell around tail::tail_core (tail_core.hpp holds
// the logic and the offset invariant). The shell gives the core CAF's actor
// clock as its clock (a tail_due_atom is its one-shot timer: from the I/O
// loop's clock for a tailer the loop may run, a delayed_send otherwise, in
// virtual time under the test coordinator), dispatches to the router for it, and
// turns messages into the core's events. The contract is in tailer.hpp.
//
// A settled tailer's inotify look is run by the I/O loop itself, with no
// message, mailbox or resume (watch_signal::look_here, ~24 us of a cold
// trickle line's ~90 on the local: bench/PROFILE.md, "Session 30"). So the
// core is reached from two places, the actor's handlers and that look: the
// look_cell's mutex keeps it to one at a time. Every handler holds it; the
// loop only tries it (busy: the actor is woken as before), and what the
// look cannot do outside the actor (a dispatch through the router, which is
// a request) is owed to the actor's next turn, in order (owed_atom).
#include "actors/tail/tailer.hpp"

#include <deque>
#include <mutex>
#include <optional>

#include <caf/detail/test_actor_clock.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/core/atoms.hpp"
#include "actors/core/types.hpp"
#include "actors/tail/tail_core.hpp"
#include "base/error.hpp"
#include "base/logger.hpp"
#include "base/loop_clock.hpp"
#include "base/loop_jobs.hpp"
#include "base/thread_name.hpp"

namespace cc {

namespace {

struct tailer_state;

/// What the loop's inline look shares with the actor.
struct look_cell {
  std::mutex mtx; // held by whoever runs the core: a handler, or the look
  tailer_state* st = nullptr; // set from start-up on, null once ending
};

/// A dispatch the inline look made, for the actor to send.
struct owed_dispatch {
  wire::cc_message msg;
  tail::tail_effects::on_ok ok;
  tail::tail_effects::on_error failed;
};

struct tailer_state : tail::tail_clock, tail::tail_effects {
  static inline const char* name = "tailer";

  caf::stateful_actor<tailer_state>* self;
  router_actor router;
  std::optional<tail::tail_core> core;
  // Whether inotify's wakes may run this tailer on the I/O loop's thread
  // (base/loop_jobs.hpp): a scheduled tailer whose looks compress nothing.
  bool watch_here = false;
  // Such a tailer's one-shot timer, on the loop too (base/loop_clock.hpp),
  // where CAF's clock is real time; null: CAF's delayed_send (a detached or
  // compressing tailer, virtual time under the test coordinator).
  std::shared_ptr<loop_clock> timers;
  // On the loop's thread nothing here may block (tail_effects::may_block).
  // An off_loop_atom to ourselves is on its way to a worker.
  bool leaving = false;
  // The writer's answers that came on the loop's thread (an answer feeds
  // the reconcile, which reads the source for digests, and settles with a
  // durable .save), and every reply after them, in order: handled on the
  // worker before anything else that replies.
  std::deque<wire::cc_message> postponed;
  // The core failed on the loop's thread: the actor ends on the worker
  // (its end writes the .save durably).
  std::optional<caf::error> quit_owed;
  // Shared with the watch's look_here (see the top of this file).
  std::shared_ptr<look_cell> cell = std::make_shared<look_cell>();
  // The loop runs the core's look now, outside the actor.
  bool looking_inline = false;
  // Dispatches that look made, sent by the actor first thing (owed_atom).
  std::deque<owed_dispatch> owed;

  explicit tailer_state(caf::stateful_actor<tailer_state>* ptr) : self(ptr) {}

  ~tailer_state() override {
    // The loop's looks end here; the core (a member) goes after this body.
    std::lock_guard<std::mutex> guard{cell->mtx};
    cell->st = nullptr;
  }

  /// Holds the core for a handler (the loop's look waits for none).
  std::unique_lock<std::mutex> hold() {
    return std::unique_lock<std::mutex>{cell->mtx};
  }

  // tail_clock: the actor system's clock (virtual under the test coordinator).

  time_point now() const override {
    return self->clock().now();
  }

  void arm(time_point due) override {
    // One millisecond late rather than early: the core finds `due` past.
    using ms = std::chrono::milliseconds;
    if (timers) {
      timers->arm(due + ms{1}, [addr = self->address()] {
        if (auto me = caf::actor_cast<caf::actor>(addr))
          loop_jobs::send_and_run(me, tail_due_atom::value);
      });
      return;
    }
    auto in = std::chrono::duration_cast<ms>(due - now()) + ms{1};
    self->delayed_send(self, in, tail_due_atom::value);
  }

  // tail_effects

  void dispatch(wire::cc_message msg, on_ok ok, on_error failed) override {
    if (looking_inline) { // a request is the actor's: owed to its next turn
      owed.push_back({std::move(msg), std::move(ok), std::move(failed)});
      if (owed.size() == 1)
        caf::anon_send(caf::actor{self}, owed_atom::value);
      return;
    }
    send_owed(); // what the loop's look owes goes first, in order
    request(std::move(msg), std::move(ok), std::move(failed));
  }

  void request(wire::cc_message msg, on_ok ok, on_error failed) {
    // The answer runs the core: held as any handler holds it.
    self->request(router, caf::infinite, dispatch_atom::value, std::move(msg))
        .then(
            [this, ok = std::move(ok)](caf::ok_atom) {
              auto held = hold();
              ok();
            },
            [this, failed = std::move(failed)](caf::error& err) {
              auto held = hold();
              failed(err);
            });
  }

  void send_owed() {
    while (!owed.empty()) {
      auto d = std::move(owed.front());
      owed.pop_front();
      request(std::move(d.msg), std::move(d.ok), std::move(d.failed));
    }
  }

  void quit(const caf::error& err) override {
    cell->st = nullptr; // held here (a handler, or the loop's look): no more looks
    if (!may_block()) {
      quit_owed = err;
      leave_loop();
      return;
    }
    end(err);
  }

  /// The actor's end: what the loop's look owes is sent first.
  void end(const caf::error& err) {
    send_owed();
    self->quit(err);
  }

  bool may_block() const override {
    return !loop_jobs::running();
  }

  void leave_loop() override {
    if (leaving)
      return;
    // After this job, with the loop's scope taking nothing: on a worker.
    leaving = loop_jobs::after_job(
        [to = caf::actor{self}] { caf::anon_send(to, off_loop_atom::value); });
  }

  // The shell's handlers

  // On the loop's thread (an idle data connection's ack, a writer in this
  // process): an ack is handled there like an inotify wake, by a tailer
  // that inotify's wakes may run there; anything else on a worker.
  void on_reply(wire::cc_message& msg) {
    if (!may_block() && (!watch_here || msg.type == "logtail.state" || !postponed.empty())) {
      postponed.push_back(std::move(msg));
      leave_loop();
      return;
    }
    take_postponed();
    core->on_reply(msg);
  }

  void on_off_loop() {
    leaving = false;
    if (!may_block()) { // not expected: after_job sends it to a worker
      leave_loop();
      return;
    }
    if (quit_owed) {
      end(*quit_owed);
      return;
    }
    take_postponed();
    core->check();
  }

  void take_postponed() {
    while (!postponed.empty() && !quit_owed) {
      auto msg = std::move(postponed.front());
      postponed.pop_front();
      core->on_reply(msg);
    }
  }

  caf::expected<std::unique_ptr<tail::file_watch>>
  watch(const std::string& dir, const std::string& names) override {
    std::function<bool()> look;
    if (timers) // its timer on the loop too: nothing of a look needs CAF's
      look = [cell = cell] {
        std::unique_lock<std::mutex> held{cell->mtx, std::try_to_lock};
        if (!held.owns_lock() || cell->st == nullptr)
          return false; // busy on a worker, or ending: woken as before
        cell->st->look_inline();
        return true;
      };
    return tail::file_watch::start(caf::actor{self}, dir, names, watch_here,
                                   std::move(look));
  }

  /// An inotify wake's look, run by the I/O loop itself (within
  /// loop_jobs::run_inline), the cell held: as the wake_atom handler's.
  /// (A core that asked to end took itself out of the cell: quit().)
  void look_inline() {
    looking_inline = true;
    core->check();
    looking_inline = false;
  }
};

caf::behavior tailer_actor(caf::stateful_actor<tailer_state>* self, tailer_options opts,
                           router_actor router, bool detached) {
  if (detached)
    name_this_thread("cc-tailer"); // its own thread
  auto& st = self->state;
  st.router = std::move(router);
  st.watch_here = !detached && opts.comp == wire::compression::none;
  if (st.watch_here && !dynamic_cast<caf::detail::test_actor_clock*>(&self->clock()))
    st.timers = loop_clock::shared();
  auto& core = st.core.emplace(std::move(opts), st, st);
  self->set_exit_handler([self](caf::exit_msg& msg) {
    // Positions are saved as acks arrive; the core's destructor waits until
    // the last one is on disk.
    {
      auto held = self->state.hold();
      self->state.cell->st = nullptr;
      self->state.send_owed();
      log::info(self->state.core->who(), "stopping: " + self->system().render(msg.reason));
    }
    self->quit(msg.reason);
  });
  self->request(st.router, caf::infinite, register_atom::value, core.who(),
                caf::actor{self})
      .then([](caf::ok_atom) {},
            [self](caf::error& err) {
              log::warning(self->state.core->who(),
                           "router did not register us: " + describe(err));
            });
  {
    // From here the loop may run its looks, once this start-up lets go of
    // the cell (a start-up that quits takes the tailer out again).
    auto held = st.hold();
    st.cell->st = &st;
    core.start();
    core.check();
  }
  auto poll = core.options().poll_interval;
  self->delayed_send(self, poll, tail_poll_atom::value);
  return {
      [self](reply_atom, wire::cc_message& msg) {
        auto held = self->state.hold();
        self->state.on_reply(msg);
      },
      [self](off_loop_atom) {
        auto held = self->state.hold();
        self->state.on_off_loop();
      },
      [self](owed_atom) {
        auto held = self->state.hold();
        self->state.send_owed();
      },
      [self](wake_atom) {
        auto held = self->state.hold();
        self->state.core->check();
      },
      [self](tail_poll_atom) {
        auto held = self->state.hold();
        auto& core = *self->state.core;
        core.on_tick();
        self->delayed_send(self, core.next_tick(), tail_poll_atom::value);
      },
      [self](tail_due_atom) {
        auto held = self->state.hold();
        self->state.core->on_timer();
      },
      [self](stats_atom) {
        auto held = self->state.hold();
        return self->state.core->snapshot();
      },
  };
}

} // namespace

caf::actor spawn_tailer_actor(caf::actor_system& sys, tailer_options opts,
                              router_actor router, tailer_thread thread) {
  if (thread == tailer_thread::scheduled)
    return sys.spawn(tailer_actor, std::move(opts), std::move(router), false);
  return sys.spawn<caf::detached>(tailer_actor, std::move(opts), std::move(router), true);
}

} // namespace cc
