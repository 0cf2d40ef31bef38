// Timers on the I/O loop: see loop_clock.hpp.
#include "base/loop_clock.hpp"

#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "base/io_attachment.hpp"
#include "base/io_loop.hpp"

namespace cc {

class loop_clock::timers : public io_client {
public:
  explicit timers(std::shared_ptr<io_loop> loop) : loop_(std::move(loop)) {
  }

  void arm(clock::time_point due, std::function<void()> fn) {
    bool earliest = false;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      earliest = due_.empty() || due < due_.begin()->first;
      due_.emplace(due, std::move(fn)); // after those of the same time
    }
    // On the loop thread its next wait is computed after this; elsewhere
    // the loop may be waiting past `due` already.
    if (earliest && !loop_->in_loop())
      loop_->wake();
  }

  size_t pending() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return due_.size();
  }

  void poll_items(std::vector<zmq_pollitem_t>&) override {
  }

  long wait_limit_ms() override {
    std::lock_guard<std::mutex> guard{mtx_};
    if (due_.empty())
      return -1;
    auto left = due_.begin()->first - clock::now();
    if (left <= clock::duration::zero())
      return 0;
    return static_cast<long>(std::chrono::ceil<std::chrono::milliseconds>(left).count());
  }

  void on_ready(zmq_pollitem_t*, size_t) override {
    // Taken out under the lock, run without it: a function may arm again.
    {
      std::lock_guard<std::mutex> guard{mtx_};
      auto end = due_.upper_bound(clock::now());
      for (auto i = due_.begin(); i != end; ++i)
        ready_.push_back(std::move(i->second));
      due_.erase(due_.begin(), end);
    }
    for (auto& fn : ready_)
      fn();
    ready_.clear();
  }

private:
  std::shared_ptr<io_loop> loop_;
  mutable std::mutex mtx_;
  std::multimap<clock::time_point, std::function<void()>> due_;
  std::vector<std::function<void()>> ready_; // the loop thread's
};

loop_clock::loop_clock() = default;

loop_clock::~loop_clock() {
  attachment_.reset(); // the loop calls the timers no more
}

std::shared_ptr<loop_clock> loop_clock::shared() {
  static std::mutex mtx;
  static std::weak_ptr<loop_clock> current;
  std::lock_guard<std::mutex> guard{mtx};
  if (auto c = current.lock())
    return c;
  std::shared_ptr<loop_clock> c{new loop_clock};
  auto loop = io_loop::shared();
  c->timers_ = std::make_shared<timers>(loop);
  c->attachment_ = std::make_unique<io_attachment>(std::move(loop), c->timers_);
  current = c;
  return c;
}

void loop_clock::arm(clock::time_point due, std::function<void()> fn) {
  timers_->arm(due, std::move(fn));
}

size_t loop_clock::pending() const {
  return timers_->pending();
}

} // namespace cc
