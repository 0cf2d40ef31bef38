// CAF's work-sharing scheduler (one central queue, idle workers asleep on a
// condition variable) with one change: a job is handed to a sleeping worker
// with the queue's mutex already released.
//
// CAF 0.17's policy::work_sharing signals its condition variable while it
// still holds the queue's mutex. A worker asleep on it wakes, finds the mutex
// taken, sleeps again on the mutex and is woken a second time by the unlock:
// two wake-ups instead of one for every message a thread outside the
// scheduler (the I/O loop with an inotify event or a received fragment, a
// tailwriter worker with an ack) sends to an idle scheduler, about 10-20 us
// each on a virtual machine (bench/PROFILE.md, "Session 9: trickle
// latency"). Signalling after the unlock is the usual form: the worker
// waits with a predicate under the mutex, so a job queued before it sleeps
// is never missed.
//
// One more: a job given to the scheduler from outside the workers while a
// loop_jobs scope is open on that thread (the I/O loop with a tailer's
// inotify wake, base/loop_jobs.hpp) is run there, not handed to a worker.
//
// main/serve.cpp loads it as the scheduler module when `caf-scheduler` is
// `sharing` (the default); CAF then does not create its own.
#pragma once

#include <caf/policy/work_sharing.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/coordinator.hpp>

#include "base/loop_jobs.hpp"

namespace cc::cli {

class prompt_sharing : public caf::policy::work_sharing {
public:
  // The worker and coordinator templates call these by name on the policy
  // type, so they hide work_sharing's (which are not virtual).

  template <class Coordinator>
  void enqueue(Coordinator* self, caf::resumable* job) {
    auto& data = d(self);
    {
      std::lock_guard<std::mutex> guard{data.lock};
      data.queue.push_back(job);
    }
    data.cv.notify_one();
  }

  template <class Coordinator>
  void central_enqueue(Coordinator* self, caf::resumable* job) {
    if (loop_jobs::offer(job))
      return;
    enqueue(self, job);
  }

  template <class Worker>
  void external_enqueue(Worker* self, caf::resumable* job) {
    enqueue(self->parent(), job);
  }

  template <class Worker>
  void internal_enqueue(Worker* self, caf::resumable* job) {
    enqueue(self->parent(), job);
  }

  template <class Worker>
  void resume_job_later(Worker* self, caf::resumable* job) {
    enqueue(self->parent(), job);
  }
};

using prompt_sharing_coordinator = caf::scheduler::coordinator<prompt_sharing>;

} // namespace cc::cli
