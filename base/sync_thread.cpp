// The process's sync thread: see sync_thread.hpp.
#include "base/sync_thread.hpp"

#include "base/thread_name.hpp"

namespace cc {

namespace {

std::mutex shared_mtx;
std::weak_ptr<sync_thread> shared_instance;

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

} // namespace cc
