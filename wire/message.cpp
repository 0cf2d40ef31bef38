#include "wire/message.hpp"

#include "base/error.hpp"

namespace cc::wire {

namespace {

// First byte of an in-process endpoint's route frame. ZeroMQ's generated peer
// identities start with 0x00 and user-set ones may not start with 0x00 either
// way; 0x01 plus the "cc:" tag keeps ours recognisable.
constexpr std::string_view local_tag = "\x01" "cc:";

bool word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '-';
}

} // namespace

size_t cc_message::wire_size() const {
  size_t n = type.size() + body.size() + signature.size();
  for (const auto& r : route)
    n += r.size();
  if (blob)
    n += blob->size();
  return n;
}

bool valid_type(std::string_view type) {
  if (type.empty())
    return false;
  bool word_started = false;
  for (char c : type) {
    if (c == '.') {
      if (!word_started)
        return false;
      word_started = false;
    } else if (word_char(c)) {
      word_started = true;
    } else {
      return false;
    }
  }
  return word_started;
}

caf::expected<cc_message> parse(std::vector<std::string> frames,
                                blob_ptr last) {
  size_t delim = 0;
  while (delim < frames.size() && !frames[delim].empty())
    ++delim;
  // A kept last frame is the blob when three frames (type, body, signature)
  // sit between the delimiter and it; anywhere else it is an ordinary frame
  // (a sender's oddity, rare enough to copy).
  if (last && !(delim < frames.size() && frames.size() - delim - 1 == 3)) {
    frames.emplace_back(last->view());
    last = nullptr;
    while (delim < frames.size() && !frames[delim].empty())
      ++delim;
  }
  if (delim == frames.size())
    return make_error(errc::malformed_frames,
                      "no empty delimiter frame among " +
                        std::to_string(frames.size()) + " frames");
  size_t rest = frames.size() - delim - 1 + (last ? 1 : 0);
  if (rest < 3)
    return make_error(errc::malformed_frames,
                      "need type, body and signature after the delimiter, got " +
                        std::to_string(rest) + " frames");
  if (rest > 4)
    return make_error(errc::malformed_frames,
                      "at most type, body, signature and blob after the "
                      "delimiter, got " +
                        std::to_string(rest) + " frames");
  cc_message msg;
  auto& type = frames[delim + 1];
  if (!valid_type(type)) {
    std::string shown = type.substr(0, 64);
    for (auto& c : shown)
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e)
        c = '?';
    return make_error(errc::invalid_type, "message type '" + shown + "'");
  }
  msg.route.reserve(delim);
  for (size_t i = 0; i < delim; ++i)
    msg.route.push_back(std::move(frames[i]));
  msg.type = std::move(type);
  msg.body = std::move(frames[delim + 2]);
  msg.signature = std::move(frames[delim + 3]);
  if (last)
    msg.blob = std::move(last);
  else if (rest == 4)
    msg.blob = blob::from_string(std::move(frames[delim + 4]));
  return msg;
}

caf::error load_blob(cc_message& msg) {
  auto loaded = load(msg.blob);
  if (!loaded)
    return std::move(loaded.error());
  msg.blob = std::move(*loaded);
  return caf::none;
}

std::vector<std::string_view> frames_of(const cc_message& msg, bool with_blob) {
  std::vector<std::string_view> out;
  out.reserve(msg.route.size() + 5);
  each_frame(msg, with_blob, [&out](std::string_view f) { out.push_back(f); });
  return out;
}

std::string local_route_frame(std::string_view name) {
  std::string frame{local_tag};
  frame += name;
  return frame;
}

std::string_view local_endpoint_name(std::string_view frame) {
  if (frame.size() > local_tag.size() &&
      frame.compare(0, local_tag.size(), local_tag) == 0)
    return frame.substr(local_tag.size());
  return {};
}

} // namespace cc::wire
