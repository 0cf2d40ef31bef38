// A tailwriter worker's actor: see tailwriter_worker.hpp for what it owns
// and takes. The worker actor (detached: writes block) lives here with its
// timers, handing its fdatasyncs to the process's sync thread
// (base/sync_thread.hpp); what
// the worker does with a fragment is worker_core's, in
// tailwriter_core.cpp (taking it), tailwriter_place.cpp (placing its bytes),
// tailwriter_sync.cpp (syncs and acks) and tailwriter_questions.cpp.
#include <cerrno>

#include <unistd.h>

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>

#include "actors/write/tailwriter_worker.hpp"
#include "base/error.hpp"
#include "base/files.hpp"
#include "base/logger.hpp"
#include "base/sync_thread.hpp"
#include "base/thread_name.hpp"

namespace cc::tw {

counters writer_counters::snapshot() const {
  return {
    {"fragments", fragments.load()},
    {"bytes_written", bytes_written.load()},
    {"duplicates", duplicates.load()},
    {"duplicate_bytes", duplicate_bytes.load()},
    {"gaps", gaps.load()},
    {"gap_bytes", gap_bytes.load()},
    {"refused_paths", refused_paths.load()},
    {"invalid", invalid.load()},
    {"too_large", too_large.load()},
    {"open_files", open_files.load()},
    {"acks_sent", acks_sent.load()},
    {"fsyncs", fsyncs.load()},
    {"open_files_evicted", open_files_evicted.load()},
    {"queries", queries.load()},
    {"repaired_bytes", repaired_bytes.load()},
    {"copy_changed", copy_changed.load()},
    {"diverged", diverged.load()},
    {"sources_denied", sources_denied.load()},
  };
}

void run_sync_jobs(sync_batch& batch) {
  // Side by side on the sync thread's helpers: each copy's own job.
  sync_thread::for_each(batch.size(), [&batch](size_t i) {
    auto& job = batch[i];
    if (!job.ticket.fd)
      return;
    if (::fdatasync(job.ticket.fd->get()) != 0)
      job.err = make_error(errc::io, "fdatasync copy " + job.ticket.path + ": "
                                       + errno_text(errno));
    job.ticket.fd.reset(); // a copy closed meanwhile: its descriptor closes here
  });
}

// -- the actor --------------------------------------------------------------------

namespace {

/// This worker's own timer: the grouped sync of its open copies is due.
using sync_due_atom = caf::atom_constant<caf::atom("syncdue")>;
/// Its batch came back from the sync thread, each job's error set.
using synced_atom = caf::atom_constant<caf::atom("synced")>;
/// Its commit round came back from the sync thread.
using committed_atom = caf::atom_constant<caf::atom("committed")>;

struct worker_state {
  std::unique_ptr<worker_core> core;
  router_actor router;
  direct_lanes_ptr lanes;  // replies to a data connection go there directly
  std::shared_ptr<sync_thread> syncer;
  worker_core::outbox out;
  bool tick_pending = false;
  bool sync_in_flight = false;
  std::chrono::steady_clock::time_point last_sync_start{};
  bool member_check_pending = false;
  bool retry_pending = false;
  static inline const char* name = "tailwriter_worker";
};

using worker_actor = caf::stateful_actor<worker_state>;

void deliver(worker_actor* self) {
  auto& st = self->state;
  for (auto& msg : st.out)
    if (!(st.lanes && st.lanes->reply(msg)) && st.router)
      self->send(st.router, reply_atom::value, std::move(msg));
  st.out.clear();
}

void start_sync(worker_actor* self);

void schedule_sync(worker_actor* self) {
  auto& st = self->state;
  if (st.sync_in_flight || !st.core->needs_sync())
    return;
  if (st.core->sync_early()) {
    // A tick still pending finds nothing (or little) to do.
    start_sync(self);
    return;
  }
  if (st.tick_pending)
    return;
  st.tick_pending = true;
  // At most one sync starts per sync_interval, counted from when the last
  // one started: a sync that took part of the interval does not add it
  // again, so a busy copy is synced (and acknowledged) as often as the
  // interval allows, and an idle one waits the whole interval to group.
  using namespace std::chrono;
  auto since = duration_cast<milliseconds>(steady_clock::now() - st.last_sync_start);
  auto delay = st.core->options().sync_interval - since;
  if (delay.count() <= 0)
    self->send(self, sync_due_atom::value);
  else
    self->delayed_send(self, delay, sync_due_atom::value);
}

void start_sync(worker_actor* self) {
  auto& st = self->state;
  auto batch = st.core->start_sync(st.out);
  deliver(self);
  if (batch->empty()) {
    schedule_sync(self);
    return;
  }
  st.sync_in_flight = true;
  st.last_sync_start = std::chrono::steady_clock::now();
  // The batch comes back as a message: a worker gone meanwhile (its exit
  // handler synced everything in place) loses nothing by not taking it.
  st.syncer->submit([worker = caf::actor_cast<caf::actor>(self), batch = std::move(batch)] {
    run_sync_jobs(*batch);
    caf::anon_send(worker, synced_atom::value, batch);
  });
}

void finish_sync(worker_actor* self, sync_batch_ptr& done) {
  auto& st = self->state;
  st.sync_in_flight = false;
  st.core->finish_sync(*done, st.out);
  deliver(self);
  schedule_sync(self);
}

/// New copies wait for a commit round: one at a time, on the sync thread,
/// while the worker goes on with the other copies.
void start_commit(worker_actor* self) {
  auto& st = self->state;
  if (!st.core->commit_due())
    return;
  st.syncer->submit([worker = caf::actor_cast<caf::actor>(self),
                     round = st.core->start_commit()] {
    run_commit_round(*round);
    caf::anon_send(worker, committed_atom::value, round);
  });
}

/// While a copy cannot be written, its senders are invited to send again
/// every retry_blocked_every (when the cause looks gone).
void schedule_retry(worker_actor* self) {
  auto& st = self->state;
  if (st.retry_pending || !st.core->blocked())
    return;
  st.retry_pending = true;
  self->delayed_send(self, worker_core::retry_blocked_every, resend_atom::value);
}

void schedule_member_check(worker_actor* self) {
  auto& st = self->state;
  if (st.member_check_pending || !st.core->has_open_members())
    return;
  st.member_check_pending = true;
  self->delayed_send(self, st.core->options().member_check, flush_atom::value);
}

caf::behavior worker_behavior(worker_actor* self, worker_options opts,
                              counters_ptr counters, router_actor router,
                              direct_lanes_ptr lanes) {
  name_this_thread("cc-tw-worker");  // detached: its own thread
  auto& st = self->state;
  auto maint = opts.maint_period;
  st.router = std::move(router);
  st.lanes = std::move(lanes);
  opts.sync_off_thread = true;
  opts.group_commit = true;
  st.core = std::make_unique<worker_core>(std::move(opts), std::move(counters));
  if (auto err = st.core->init()) {
    log::error(st.core->options().who, describe(err));
    self->quit(err);
    return {};
  }
  st.syncer = sync_thread::shared();
  self->set_exit_handler([self](caf::exit_msg& msg) {
    // Shutdown: nothing written may stay unsynced or unacknowledged, and
    // nothing held for a commit round unwritten (its round's answer would
    // come to a worker that is gone).
    self->state.core->commit_at_exit(worker_core::clock::now(), self->state.out);
    self->state.core->close_all(self->state.out);
    deliver(self);
    self->quit(msg.reason);
  });
  self->delayed_send(self, maint, maint_atom::value);
  return {
    [self](dispatch_atom, const fragment_ptr& f) {
      self->state.core->handle(f, worker_core::clock::now(), self->state.out);
      deliver(self);
      start_commit(self);
      schedule_sync(self);
      schedule_member_check(self);
      schedule_retry(self);
      // No answer: the fragment's receipt tells the tailwriter it is done.
    },
    [self](flush_atom) {
      self->state.member_check_pending = false;
      self->state.core->flush_members(worker_core::clock::now(), self->state.out);
      deliver(self);
      schedule_sync(self);
      schedule_member_check(self);
    },
    [self](synced_atom, sync_batch_ptr& done) { finish_sync(self, done); },
    [self](committed_atom, commit_round_ptr& round) {
      auto& st = self->state;
      st.core->finish_commit(*round, worker_core::clock::now(), st.out);
      deliver(self);
      start_commit(self);
      schedule_sync(self);
      schedule_member_check(self);
      schedule_retry(self);
    },
    [self](sync_due_atom) {
      self->state.tick_pending = false;
      if (!self->state.sync_in_flight)
        start_sync(self);
    },
    [self](resend_atom) {
      self->state.retry_pending = false;
      self->state.core->retry_blocked(worker_core::clock::now(), self->state.out);
      deliver(self);
      schedule_retry(self);
    },
    [self, maint](maint_atom) {
      self->state.core->maintain(worker_core::clock::now(), self->state.out);
      deliver(self);
      schedule_sync(self);
      self->delayed_send(self, maint, maint_atom::value);
    },
  };
}

} // namespace

caf::actor spawn_tailwriter_worker(caf::actor_system& sys, worker_options opts,
                                   counters_ptr counters, router_actor router,
                                   direct_lanes_ptr lanes) {
  return sys.spawn<caf::detached>(worker_behavior, std::move(opts),
                                  std::move(counters), std::move(router),
                                  std::move(lanes));
}

} // namespace cc::tw
