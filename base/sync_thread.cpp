// The process's sync thread: see sync_thread.hpp.
#include "base/sync_thread.hpp"

#include <algorithm>
#include <system_error>

#include "base/thread_name.hpp"

namespace cc {

namespace {

std::mutex shared_mtx;
std::weak_ptr<sync_thread> shared_instance;

/// The instance whose job runs on this thread (for_each spreads its work).
thread_local sync_thread* running_on = nullptr;

} // namespace

std::shared_ptr<sync_thread> sync_thread::shared() {
  std::lock_guard<std::mutex> guard{shared_mtx};
  if (auto p = shared_instance.lock())
    return p;
  auto p = std::make_shared<sync_thread>();
  shared_instance = p;
  return p;
}

sync_thread::sync_thread() : thread_([this] { run(); }) {
}

sync_thread::~sync_thread() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stopping_ = true;
  }
  work_cv_.notify_all();
  thread_.join(); // never from a job: jobs do not hold the instance
  {
    std::lock_guard<std::mutex> guard{help_mtx_};
    help_stopping_ = true;
  }
  help_cv_.notify_all();
  for (auto& slot : helpers_)
    if (slot.thread.joinable())
      slot.thread.join();
}

void sync_thread::submit(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    jobs_.push_back(std::move(job));
  }
  work_cv_.notify_one();
}

uint64_t sync_thread::jobs_run() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return run_;
}

void sync_thread::run() {
  name_this_thread("cc-sync");
  running_on = this;
  std::unique_lock<std::mutex> lock{mtx_};
  for (;;) {
    work_cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    if (jobs_.empty())
      return; // stopping, and every job submitted ran
    auto job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    job();
    lock.lock();
    ++run_;
  }
}

void sync_thread::for_each(size_t n, const std::function<void(size_t)>& fn) {
  if (running_on != nullptr && n >= min_spread) {
    running_on->spread(n, fn);
    return;
  }
  for (size_t i = 0; i < n; ++i)
    fn(i);
}

void sync_thread::spread(size_t n, const std::function<void(size_t)>& fn) {
  std::vector<std::thread> ended;
  {
    std::lock_guard<std::mutex> guard{help_mtx_};
    size_t want = std::min(helpers, n - 1);
    for (size_t i = 0; i < helpers_.size() && help_live_ < want; ++i) {
      auto& slot = helpers_[i];
      if (slot.live)
        continue;
      if (slot.thread.joinable())
        ended.push_back(std::move(slot.thread)); // it ended: joined below
      try {
        slot.thread = std::thread{[this, i] { help(i); }};
      } catch (const std::system_error&) {
        break; // no thread to spare: fewer helpers (or none) take part
      }
      slot.live = true;
      ++help_live_;
    }
    help_fn_ = &fn;
    help_n_ = n;
    help_next_ = 0;
    ++help_call_;
  }
  help_cv_.notify_all();
  for (auto& t : ended)
    t.join();
  for (size_t i; (i = help_next_++) < n;)
    fn(i);
  // Every index is taken: close the call to latecomers, wait for the rest.
  std::unique_lock<std::mutex> lock{help_mtx_};
  help_fn_ = nullptr;
  help_done_cv_.wait(lock, [this] { return help_active_ == 0; });
}

void sync_thread::help(size_t slot) {
  name_this_thread("cc-sync-help");
  uint64_t seen = 0; // calls are numbered from 1: the open one is joined
  std::unique_lock<std::mutex> lock{help_mtx_};
  for (;;) {
    bool called = help_cv_.wait_for(lock, helper_idle, [&] {
      return help_stopping_ || (help_fn_ != nullptr && help_call_ != seen);
    });
    if (help_stopping_)
      return;
    if (!called) {
      // Idle: end (the next spread joins it, or the destructor).
      helpers_[slot].live = false;
      --help_live_;
      return;
    }
    seen = help_call_;
    const auto* fn = help_fn_;
    size_t n = help_n_;
    ++help_active_;
    lock.unlock();
    for (size_t i; (i = help_next_++) < n;)
      (*fn)(i);
    lock.lock();
    if (--help_active_ == 0)
      help_done_cv_.notify_all();
  }
}

} // namespace cc
