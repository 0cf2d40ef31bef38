// A tailwriter worker's actor: see tailwriter_worker.hpp for what it owns
// and takes. The worker actor (detached: writes block) lives here with its
// timers, handing its fdatasyncs to the process's sync thread
// (base/sync_thread.hpp); what
// the worker does with a fragment is worker_core's, in
// tailwriter_core.cpp (taking it), tailwriter_place.cpp (placing its bytes),
// tailwriter_sync.cpp (syncs and acks) and tailwriter_questions.cpp.
#include <cerrno>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>

#include "actors/write/tailwriter_worker.hpp"

#include "base/error.hpp"
#include "base/files.hpp"
#include "base/io_loop.hpp"
#include "base/logger.hpp"
#include "base/room_meter.hpp"
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
    {"syncfs_rounds", syncfs_rounds.load()},
    {"syncfs_copies", syncfs_copies.load()},
    {"open_files_evicted", open_files_evicted.load()},
    {"queries", queries.load()},
    {"repaired_bytes", repaired_bytes.load()},
    {"copy_changed", copy_changed.load()},
    {"diverged", diverged.load()},
    {"sources_denied", sources_denied.load()},
    {"written_inline", written_inline.load()},
  };
}

namespace {

/// What the job's sync made durable leaves the page cache: a central writes
/// far more than anyone reads back, and pages freed here are the next
/// writes' pages again (on a virtual machine, pages the host still backs:
/// writes into guest memory the host had taken back cost several times the
/// copy; bench/PROFILE.md, "Session 23: the central's throughput").
void drop_synced(const copy_file::sync_ticket& t) {
  if (t.drop_to > t.drop_from)
    ::posix_fadvise(t.fd->get(), static_cast<off_t>(t.drop_from),
                    static_cast<off_t>(t.drop_to - t.drop_from), POSIX_FADV_DONTNEED);
}

} // namespace

void run_sync_jobs(sync_batch& batch, const fs_sync* fs) {
  if (fs != nullptr && fs->min_copies > 0 && fs->fd.get() >= 0 && batch.size() >= fs->min_copies) {
    // Many copies: one sync of their file system makes them all durable
    // (each fdatasync would write its copy's inode table block and flush the
    // device's cache once more). Only copies on that file system count.
    std::vector<size_t> on_fs;
    on_fs.reserve(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      const auto& t = batch[i].ticket;
      if (!t.fd)
        continue;
      // The device the copy's last measure saw (an open file's never
      // changes), else asked now.
      struct stat st {};
      if (t.dev ? *t.dev == fs->dev
                : ::fstat(t.fd->get(), &st) == 0 && st.st_dev == fs->dev)
        on_fs.push_back(i);
    }
    if (on_fs.size() >= fs->min_copies && sync_file_system(fs->fd.get()) == 0)
      for (auto i : on_fs) {
        batch[i].by_syncfs = true;
        drop_synced(batch[i].ticket);
        batch[i].ticket.fd.reset();
      }
    // A failed syncfs: the fdatasyncs below find whose copy failed.
  }
  // Side by side on the sync thread's helpers: each copy's own job, for
  // the copies the syncfs did not cover (none after a syncfs of all: then
  // no helper is woken for nothing).
  std::vector<size_t> left;
  left.reserve(batch.size());
  for (size_t i = 0; i < batch.size(); ++i)
    if (batch[i].ticket.fd)
      left.push_back(i);
  sync_thread::for_each(left.size(), [&batch, &left](size_t i) {
    auto& job = batch[left[i]];
    if (::fdatasync(job.ticket.fd->get()) != 0)
      job.err = make_error(errc::io, "fdatasync copy " + job.ticket.path + ": "
                                       + errno_text(errno));
    else
      drop_synced(job.ticket);
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
  worker_inline_ptr in;
  static inline const char* name = "tailwriter_worker";
};

using worker_actor = caf::stateful_actor<worker_state>;

// The steps below run under in.mtx, on the worker's thread or (after a
// fragment written inline) on the I/O loop's: they send to the worker by
// its handle, never as `self`.

void deliver(worker_inline& in) {
  for (auto& msg : in.out)
    if (!(in.lanes && in.lanes->reply(msg)) && in.router)
      caf::anon_send(in.router, reply_atom::value, std::move(msg));
  in.out.clear();
}

void start_sync(worker_inline& in, const caf::actor& worker);

/// `here`: called after a fragment written inline, when the worker has
/// nothing queued: a sync due now starts from here, not by waking the
/// worker to start it (the worker is woken once, by the batch coming back).
void schedule_sync(worker_inline& in, const caf::actor& worker, bool here = false) {
  if (in.sync_in_flight || !in.core->needs_sync())
    return;
  using namespace std::chrono;
  auto since = duration_cast<milliseconds>(steady_clock::now() - in.last_sync_start);
  auto delay = in.core->options().sync_interval - since;
  if (in.core->sync_early() || (here && !in.tick_pending && delay.count() <= 0)) {
    // Inline: after the loop's next wait (write_inline). A tick still
    // pending finds nothing (or little) to do.
    if (here)
      in.sync_after_wait = true;
    else
      start_sync(in, worker);
    return;
  }
  if (in.tick_pending)
    return;
  in.tick_pending = true;
  // At most one sync starts per sync_interval, counted from when the last
  // one started: a sync that took part of the interval does not add it
  // again, so a busy copy is synced (and acknowledged) as often as the
  // interval allows, and an idle one waits the whole interval to group.
  if (delay.count() <= 0)
    caf::anon_send(worker, sync_due_atom::value);
  else
    caf::delayed_anon_send(worker, delay, sync_due_atom::value);
}

void start_sync(worker_inline& in, const caf::actor& worker) {
  in.sync_after_wait = false; // this batch takes what it waited for
  auto batch = in.core->start_sync(in.out);
  deliver(in);
  if (batch->empty()) {
    schedule_sync(in, worker);
    return;
  }
  in.sync_in_flight = true;
  in.last_sync_start = std::chrono::steady_clock::now();
  // The batch comes back as a message: a worker gone meanwhile (its exit
  // handler synced everything in place) loses nothing by not taking it.
  in.syncer->submit([worker, batch = std::move(batch), fs = in.core->fs_sync_plan(),
                     gate = in.disk_gate] {
    {
      // After the loop's write in progress; the loop writes none meanwhile.
      std::lock_guard<std::mutex> syncing{*gate};
      run_sync_jobs(*batch, fs.get());
    }
    caf::anon_send(worker, synced_atom::value, batch);
  });
}

void finish_sync(worker_inline& in, const caf::actor& worker, sync_batch_ptr& done) {
  in.sync_in_flight = false;
  in.core->finish_sync(*done, in.out);
  deliver(in);
  schedule_sync(in, worker);
}

/// New copies wait for a commit round: one at a time, on the sync thread,
/// while the worker goes on with the other copies.
void start_commit(worker_inline& in, const caf::actor& worker) {
  if (!in.core->commit_due())
    return;
  in.syncer->submit([worker, round = in.core->start_commit()] {
    run_commit_round(*round);
    caf::anon_send(worker, committed_atom::value, round);
  });
}

/// While a copy cannot be written, its senders are invited to send again
/// every retry_blocked_every (when the cause looks gone).
void schedule_retry(worker_inline& in, const caf::actor& worker) {
  if (in.retry_pending || !in.core->blocked())
    return;
  in.retry_pending = true;
  caf::delayed_anon_send(worker, worker_core::retry_blocked_every, resend_atom::value);
}

void schedule_member_check(worker_inline& in, const caf::actor& worker) {
  if (in.member_check_pending || !in.core->has_open_members())
    return;
  in.member_check_pending = true;
  caf::delayed_anon_send(worker, in.core->options().member_check, flush_atom::value);
}

/// What follows a fragment handled, wherever it was (`here`: inline).
void after_fragment(worker_inline& in, const caf::actor& worker, bool here = false) {
  deliver(in);
  start_commit(in, worker);
  schedule_sync(in, worker, here);
  schedule_member_check(in, worker);
  schedule_retry(in, worker);
}

/// Runs `step` on the worker's core under its lock; nothing once the core
/// is gone.
template <class Step>
void locked(worker_actor* self, Step step) {
  auto& in = *self->state.in;
  std::lock_guard<std::mutex> guard{in.mtx};
  if (in.core)
    step(in, caf::actor_cast<caf::actor>(self));
}

/// Makes the worker's core and puts it into `in`; false (quit) when its
/// directories cannot be opened.
bool start_worker(worker_actor* self, worker_options opts, counters_ptr counters,
                  router_actor router, direct_lanes_ptr lanes, const worker_inline_ptr& in) {
  opts.sync_off_thread = true;
  opts.group_commit = true;
  auto core = std::make_unique<worker_core>(std::move(opts), std::move(counters));
  if (auto err = core->init()) {
    log::error(core->options().who, describe(err));
    self->quit(err);
    return false;
  }
  {
    std::lock_guard<std::mutex> guard{in->mtx};
    in->router = std::move(router);
    in->lanes = std::move(lanes);
    in->syncer = sync_thread::shared();
    in->core = std::move(core);
  }
  self->state.in = in;
  // However it ends, the loop writes nothing more for it; and `in` (the
  // door keeps it) lets go of the lanes, whose door holds this actor.
  self->attach_functor([in] {
    std::lock_guard<std::mutex> guard{in->mtx};
    in->core.reset();
    in->lanes = nullptr;
    in->router = nullptr;
    in->syncer = nullptr;
    in->out.clear();
  });
  self->set_exit_handler([self](caf::exit_msg& msg) {
    // Shutdown: nothing written may stay unsynced or unacknowledged, and
    // nothing held for a commit round unwritten (its round's answer would
    // come to a worker that is gone).
    locked(self, [](worker_inline& in, const caf::actor&) {
      in.core->commit_at_exit(worker_core::clock::now(), in.out);
      in.core->close_all(in.out);
      deliver(in);
      in.core.reset();
    });
    self->quit(msg.reason);
  });
  return true;
}

caf::behavior worker_behavior(worker_actor* self, worker_options opts,
                              counters_ptr counters, router_actor router,
                              direct_lanes_ptr lanes, worker_inline_ptr in) {
  name_this_thread("cc-tw-worker");  // detached: its own thread
  auto maint = opts.maint_period;
  if (!start_worker(self, std::move(opts), std::move(counters), std::move(router),
                    std::move(lanes), in))
    return {};
  self->delayed_send(self, maint, maint_atom::value);
  return {
    [self](dispatch_atom, const fragment_ptr& f) {
      locked(self, [&f](worker_inline& in, const caf::actor& me) {
        in.core->handle(f, worker_core::clock::now(), in.out);
        after_fragment(in, me);
      });
      // No answer: the fragment's receipt tells the tailwriter it is done.
    },
    [self](flush_atom) {
      locked(self, [](worker_inline& in, const caf::actor& me) {
        in.member_check_pending = false;
        in.core->flush_members(worker_core::clock::now(), in.out);
        deliver(in);
        schedule_sync(in, me);
        schedule_member_check(in, me);
      });
    },
    [self](synced_atom, sync_batch_ptr& done) {
      locked(self, [&done](worker_inline& in, const caf::actor& me) {
        finish_sync(in, me, done);
      });
    },
    [self](committed_atom, commit_round_ptr& round) {
      locked(self, [&round](worker_inline& in, const caf::actor& me) {
        in.core->finish_commit(*round, worker_core::clock::now(), in.out);
        after_fragment(in, me);
      });
    },
    [self](sync_due_atom) {
      locked(self, [](worker_inline& in, const caf::actor& me) {
        in.tick_pending = false;
        if (!in.sync_in_flight)
          start_sync(in, me);
      });
    },
    [self](resend_atom) {
      locked(self, [](worker_inline& in, const caf::actor& me) {
        in.retry_pending = false;
        in.core->retry_blocked(worker_core::clock::now(), in.out);
        deliver(in);
        schedule_retry(in, me);
      });
    },
    [self, maint](maint_atom) {
      locked(self, [](worker_inline& in, const caf::actor& me) {
        in.core->maintain(worker_core::clock::now(), in.out);
        deliver(in);
        schedule_sync(in, me);
      });
      self->delayed_send(self, maint, maint_atom::value);
    },
  };
}

/// The sync write_inline left for after the loop's wait, unless one started
/// meanwhile. The worker starts it when it holds the lock: the loop does not
/// wait for it.
void start_sync_after_wait(const std::weak_ptr<worker_inline>& weak, const caf::actor& worker) {
  auto in = weak.lock();
  if (!in)
    return;
  in->after_wait_queued = false;
  std::unique_lock<std::mutex> lock{in->mtx, std::try_to_lock};
  if (!lock.owns_lock()) {
    caf::anon_send(worker, sync_due_atom::value);
    return;
  }
  if (!in->core || !in->sync_after_wait)
    return;
  in->sync_after_wait = false;
  if (!in->sync_in_flight)
    start_sync(*in, worker);
}

} // namespace

bool write_inline(const worker_inline_ptr& inp, const caf::actor& worker,
                  const room_meter& meter, const fragment_ptr& f) {
  auto& in = *inp;
  // Busy (writing, syncing, answering): the worker takes it after that.
  std::unique_lock<std::mutex> lock{in.mtx, std::try_to_lock};
  if (!lock.owns_lock() || !in.core || !worker)
    return false;
  // Something sent to the worker is not done yet (in its mailbox, or held
  // for a commit round): this one comes after it, so it goes there too.
  if (meter.queued.load() != 0 || !in.core->cheap(*f))
    return false;
  // A sync of the worker's in the kernel: the append may wait behind its
  // writeback. Only while it runs: a batch queued on the sync thread or
  // back but not yet taken by the worker holds nothing up.
  std::unique_lock<std::mutex> disk{*in.disk_gate, std::try_to_lock};
  if (!disk.owns_lock())
    return false;
  in.core->handle(f, worker_core::clock::now(), in.out);
  disk.unlock(); // a sync started below may begin at once
  after_fragment(in, worker, true);
  if (in.sync_after_wait && !in.after_wait_queued.exchange(true)
      && !io_loop::after_next_wait([weak = std::weak_ptr<worker_inline>{inp}, worker] {
           start_sync_after_wait(weak, worker);
         })) {
    in.after_wait_queued = false;
    start_sync(in, worker); // not on a loop's thread (tests): now
  }
  return true;
}

caf::actor spawn_tailwriter_worker(caf::actor_system& sys, worker_options opts,
                                   counters_ptr counters, router_actor router,
                                   direct_lanes_ptr lanes, worker_inline_ptr in) {
  if (!in)
    in = std::make_shared<worker_inline>();
  return sys.spawn<caf::detached>(worker_behavior, std::move(opts),
                                  std::move(counters), std::move(router),
                                  std::move(lanes), std::move(in));
}

} // namespace cc::tw
