// The frame-level helpers of zmq_socket_loop: see zmq_frames.hpp.
#include "actors/link/zmq_frames.hpp"

#include <cstring>

namespace cc::zmq_detail {

namespace {

// Blob frames below this size are copied: ZeroMQ keeps small messages inline,
// so handing over ownership would cost more than the copy.
constexpr size_t zero_copy_min = 1024;

// Frees the blob reference a zero-copy frame held (called by ZeroMQ, possibly
// on one of its I/O threads; shared_ptr's count is thread-safe).
void release_blob(void*, void* hint) {
  delete static_cast<wire::blob_ptr*>(hint);
}

// Closes a received frame kept as a blob (keep_frame), on whichever thread
// drops the blob: zmq_msg_close only releases the message's (atomically
// counted) content.
void close_kept_frame(void* context) {
  auto* part = static_cast<zmq_msg_t*>(context);
  zmq_msg_close(part);
  delete part;
}

} // namespace

wire::blob_ptr keep_frame(zmq_msg_t& part) {
  auto* kept = new zmq_msg_t;
  zmq_msg_init(kept);
  zmq_msg_move(kept, &part);
  return wire::blob::external(static_cast<const char*>(zmq_msg_data(kept)),
                              zmq_msg_size(kept), close_kept_frame, kept);
}

// Hands one multipart message to ZeroMQ without blocking. A multipart message
// is atomic in ZeroMQ: once its first frame is accepted the rest are too, so
// EAGAIN can only come on the first frame.
send_result send_one(void* sock, const wire::cc_message& msg, int& err) {
  auto frames = wire::frames_of(msg);
  for (size_t i = 0; i < frames.size(); ++i) {
    bool last = i + 1 == frames.size();
    zmq_msg_t part;
    if (last && msg.blob && frames[i].size() >= zero_copy_min) {
      auto* hold = new wire::blob_ptr(msg.blob);
      zmq_msg_init_data(&part, const_cast<char*>((*hold)->data()), (*hold)->size(),
                        release_blob, hold);
    } else {
      zmq_msg_init_size(&part, frames[i].size());
      if (!frames[i].empty())
        std::memcpy(zmq_msg_data(&part), frames[i].data(), frames[i].size());
    }
    if (zmq_msg_send(&part, sock, ZMQ_DONTWAIT | (last ? 0 : ZMQ_SNDMORE)) < 0) {
      err = zmq_errno();
      zmq_msg_close(&part); // releases the blob reference of a failed frame
      if (i == 0 && err == EAGAIN)
        return send_result::would_block;
      if (i == 0 && err == EHOSTUNREACH)
        return send_result::unroutable;
      return send_result::failed;
    }
  }
  return send_result::sent;
}

bool read_monitor_event(void* monitor, uint16_t& event, uint32_t& value,
                        std::string& peer) {
  zmq_msg_t head;
  zmq_msg_init(&head);
  if (zmq_msg_recv(&head, monitor, ZMQ_DONTWAIT) < 0) {
    zmq_msg_close(&head);
    return false;
  }
  event = 0;
  value = 0;
  if (zmq_msg_size(&head) >= sizeof(event) + sizeof(value)) {
    std::memcpy(&event, zmq_msg_data(&head), sizeof(event));
    std::memcpy(&value, static_cast<const char*>(zmq_msg_data(&head)) + sizeof(event),
                sizeof(value));
  }
  bool more = zmq_msg_more(&head) != 0;
  zmq_msg_close(&head);
  peer.clear();
  while (more) {
    zmq_msg_t part;
    zmq_msg_init(&part);
    if (zmq_msg_recv(&part, monitor, 0) < 0) {
      zmq_msg_close(&part);
      break;
    }
    if (peer.empty())
      peer.assign(static_cast<const char*>(zmq_msg_data(&part)), zmq_msg_size(&part));
    more = zmq_msg_more(&part) != 0;
    zmq_msg_close(&part);
  }
  return true;
}

} // namespace cc::zmq_detail
