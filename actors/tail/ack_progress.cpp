// The process's clock of a central's acks; see ack_progress.hpp.
#include "actors/tail/ack_progress.hpp"

#include <algorithm>
#include <map>

namespace cc::tail {

std::shared_ptr<ack_progress> ack_progress::shared(const std::string& msg_type,
                                                   duration ack_timeout) {
  static std::mutex mutex;
  static std::map<std::string, std::weak_ptr<ack_progress>> clocks;
  std::lock_guard<std::mutex> guard{mutex};
  auto& slot = clocks[msg_type];
  auto clock = slot.lock();
  if (!clock) {
    clock = std::make_shared<ack_progress>(8 * ack_timeout);
    slot = clock;
  }
  std::lock_guard<std::mutex> window_guard{clock->mutex_};
  clock->window_ = std::max(clock->window_, duration{8 * ack_timeout});
  return clock;
}

void ack_progress::forget(time_point now) {
  while (!acks_.empty() && (acks_.front().second + window_ < now || acks_.size() > max_entries))
    acks_.pop_front();
}

void ack_progress::acked(time_point sent, time_point now) {
  std::lock_guard<std::mutex> guard{mutex_};
  // An entry sent no earlier than this one and acked before now tells less.
  while (!acks_.empty() && acks_.back().first >= sent)
    acks_.pop_back();
  acks_.emplace_back(sent, now);
  forget(now);
}

bool ack_progress::behind(time_point sent, time_point since) const {
  std::lock_guard<std::mutex> guard{mutex_};
  // The last entry sent no later than `sent` is the latest ack among those.
  auto i = std::upper_bound(acks_.begin(), acks_.end(), sent,
                            [](time_point t, const auto& e) { return t < e.first; });
  return i != acks_.begin() && std::prev(i)->second > since;
}

size_t ack_progress::size() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return acks_.size();
}

} // namespace cc::tail
