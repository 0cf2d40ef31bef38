// See range_loader.hpp.
#include "actors/link/range_loader.hpp"

#include <optional>

#include "base/error.hpp"
#include "base/logger.hpp"

namespace cc {

range_loader::range_loader(std::string who, std::shared_ptr<std::atomic<int64_t>> read,
                           std::shared_ptr<std::atomic<int64_t>> gone,
                           std::function<void(uint64_t)> on_sent)
  : who_(std::move(who)), read_(std::move(read)), gone_(std::move(gone)),
    on_sent_(std::move(on_sent)) {
  // nop
}

bool range_loader::ready(wire::cc_message& msg) {
  if (!msg.blob || msg.blob->file() == nullptr)
    return true;
  auto err = wire::load_blob(msg);
  if (!err) {
    ++*read_;
    return true;
  }
  ++*gone_;
  std::optional<uint64_t> said;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    said = limiter_.admit("gone", log_limiter::clock::now());
  }
  if (said)
    log::warning(who_, message_of(err) + ": fragment dropped; the writer's gap "
                         "answer or the ack timeout sends those bytes again" +
                         (*said > 0 ? " (" + std::to_string(*said) + " more since the last line)"
                                    : std::string{}));
  if (on_sent_)
    on_sent_(msg.wire_size()); // still the range's size: the room it held
  return false;
}

} // namespace cc
