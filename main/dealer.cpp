// The command line's DEALER; see dealer.hpp.
#include "main/dealer.hpp"

#include <cerrno>
#include <chrono>

#include <zmq.h>

namespace cc::cli {

namespace {

void set_int(void* sock, int option, int value) {
  zmq_setsockopt(sock, option, &value, sizeof(value));
}

} // namespace

dealer::dealer(int timeout_ms) {
  ctx_ = zmq_ctx_new();
  sock_ = ctx_ ? zmq_socket(ctx_, ZMQ_DEALER) : nullptr;
  if (sock_ == nullptr)
    return;
  set_int(sock_, ZMQ_IMMEDIATE, 1); // queue only on a live connection
  set_int(sock_, ZMQ_SNDTIMEO, timeout_ms);
  set_int(sock_, ZMQ_LINGER, timeout_ms);
}

dealer::~dealer() {
  if (sock_)
    zmq_close(sock_);
  if (ctx_)
    zmq_ctx_term(ctx_);
}

bool dealer::curve(const std::string& server_public, const std::string& public_key,
                   const std::string& secret_key) {
  return zmq_setsockopt(sock_, ZMQ_CURVE_SERVERKEY, server_public.data(), 32) == 0
         && zmq_setsockopt(sock_, ZMQ_CURVE_PUBLICKEY, public_key.data(), 32) == 0
         && zmq_setsockopt(sock_, ZMQ_CURVE_SECRETKEY, secret_key.data(), 32) == 0;
}

bool dealer::connect(const std::string& endpoint) {
  return zmq_connect(sock_, endpoint.c_str()) == 0;
}

bool dealer::send(const wire::cc_message& msg) {
  auto frames = wire::frames_of(msg);
  for (size_t i = 0; i < frames.size(); ++i) {
    bool last = i + 1 == frames.size();
    // Blocking (bounded by SNDTIMEO): with ZMQ_IMMEDIATE the first frame
    // waits until the connection is up.
    if (zmq_send(sock_, frames[i].data(), frames[i].size(), last ? 0 : ZMQ_SNDMORE) < 0)
      return false;
  }
  return true;
}

bool dealer::receive(long timeout_ms, std::vector<std::string>& frames) {
  zmq_pollitem_t item{sock_, 0, ZMQ_POLLIN, 0};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - std::chrono::steady_clock::now())
                  .count();
    if (left < 0)
      left = 0;
    int rc = zmq_poll(&item, 1, left);
    if (rc < 0 && zmq_errno() == EINTR)
      continue;
    if (rc <= 0)
      return false;
    break;
  }
  frames.clear();
  for (;;) {
    zmq_msg_t part;
    zmq_msg_init(&part);
    if (zmq_msg_recv(&part, sock_, 0) < 0) {
      zmq_msg_close(&part);
      return false;
    }
    frames.emplace_back(static_cast<const char*>(zmq_msg_data(&part)), zmq_msg_size(&part));
    bool more = zmq_msg_more(&part) != 0;
    zmq_msg_close(&part);
    if (!more)
      return true;
  }
}

void dealer::discard_on_close() {
  set_int(sock_, ZMQ_LINGER, 0);
}

std::string dealer::error() {
  return zmq_strerror(zmq_errno());
}

} // namespace cc::cli
