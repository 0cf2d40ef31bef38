// CAF jobs run on the thread that made them: see loop_jobs.hpp.
#include "base/loop_jobs.hpp"

#include <atomic>

#include <caf/actor_system.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>

namespace cc {

namespace {

thread_local loop_jobs* current = nullptr;
thread_local int resuming = 0;
/// The scope whose job this thread resumes now (after_job's).
thread_local loop_jobs* resuming_in = nullptr;

std::atomic<uint64_t> blocked{0};
std::atomic<uint64_t> afters{0};

/// Brackets what a scope runs as its job (a resume, or run_inline's
/// function): running() is true and after_job() lands in `scope`; undone
/// also when the job throws.
struct as_job {
  loop_jobs* outer = resuming_in;
  explicit as_job(loop_jobs* scope) {
    ++resuming;
    resuming_in = scope;
  }
  ~as_job() {
    resuming_in = outer;
    --resuming;
  }
  as_job(const as_job&) = delete;
  as_job& operator=(const as_job&) = delete;
};

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

bool loop_jobs::after_job(std::function<void()> fn) {
  if (resuming == 0 || resuming_in == nullptr)
    return false;
  resuming_in->after_.push_back(std::move(fn));
  afters.fetch_add(1, std::memory_order_relaxed);
  return true;
}

uint64_t loop_jobs::after_jobs() {
  return afters.load(std::memory_order_relaxed);
}

void loop_jobs::note_blocking() {
  if (resuming > 0)
    blocked.fetch_add(1, std::memory_order_relaxed);
}

uint64_t loop_jobs::blocked_in_scope() {
  return blocked.load(std::memory_order_relaxed);
}

bool loop_jobs::take(caf::resumable* job) {
  if (closed_ || refusing_ || jobs_.size() >= max_jobs_)
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
    auto res = [&] {
      as_job bracket{this};
      return job->resume(this, max_messages_);
    }();
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
    if (!after_.empty())
      run_after();
  }
}

bool loop_jobs::run_inline(const std::function<bool()>& fn) {
  bool ran;
  {
    as_job bracket{this};
    ran = fn();
  }
  if (!after_.empty())
    run_after();
  return ran;
}

void loop_jobs::run_after() {
  // Whatever these send goes to the scheduler's workers (take() refuses).
  auto fns = std::move(after_);
  after_.clear();
  refusing_ = true;
  for (auto& fn : fns)
    fn();
  refusing_ = false;
}

} // namespace cc
