// CAF jobs run on the thread that made them: see loop_jobs.hpp.
#include "base/loop_jobs.hpp"

#include <caf/actor_system.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>

namespace cc {

namespace {

thread_local loop_jobs* current = nullptr;
thread_local int resuming = 0;

} // namespace

loop_jobs::loop_jobs(caf::actor_system& sys, size_t max_jobs, size_t max_messages)
  : caf::execution_unit(&sys), max_jobs_(max_jobs), max_messages_(max_messages),
    outer_(current) {
  jobs_.reserve(max_jobs_);
  current = this;
}

loop_jobs::~loop_jobs() {
  closed_ = true;
  for (; next_ < jobs_.size(); ++next_)
    to_scheduler(jobs_[next_]);
  current = outer_;
}

bool loop_jobs::offer(caf::resumable* job) {
  return current != nullptr && current->take(job);
}

bool loop_jobs::running() {
  return resuming > 0;
}

bool loop_jobs::take(caf::resumable* job) {
  if (closed_ || jobs_.size() >= max_jobs_)
    return false;
  jobs_.push_back(job);
  return true;
}

void loop_jobs::to_scheduler(caf::resumable* job) {
  // take() refuses now, so offer() does too: the scheduler queues it.
  system().scheduler().enqueue(job);
}

void loop_jobs::exec_later(caf::resumable* job) {
  if (!take(job))
    to_scheduler(job);
}

void loop_jobs::run() {
  while (next_ < jobs_.size()) {
    auto* job = jobs_[next_++];
    ++resumed_;
    ++resuming;
    auto res = job->resume(this, max_messages_);
    --resuming;
    // As a scheduler worker does (caf/scheduler/worker.hpp): the job's
    // reference goes with it to the scheduler, or is released.
    switch (res) {
      case caf::resumable::resume_later:
        closed_ = true;
        to_scheduler(job);
        break;
      case caf::resumable::done:
      case caf::resumable::awaiting_message:
      case caf::resumable::shutdown_execution_unit:
        caf::intrusive_ptr_release(job);
        break;
    }
  }
}

} // namespace cc
