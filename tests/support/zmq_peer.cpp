#include "tests/support/zmq_peer.hpp"

#include <zmq.h>

namespace cc::test {

zmq_peer::zmq_peer(int type, int linger_ms)
    : ctx_(zmq_ctx_new()), sock_(zmq_socket(ctx_, type)) {
  set_option(ZMQ_LINGER, linger_ms);
}

zmq_peer::~zmq_peer() {
  zmq_close(sock_);
  zmq_ctx_term(ctx_);
}

bool zmq_peer::set_option(int option, int value) {
  return zmq_setsockopt(sock_, option, &value, sizeof(value)) == 0;
}

bool zmq_peer::connect(const std::string& endpoint) {
  return zmq_connect(sock_, endpoint.c_str()) == 0;
}

bool zmq_peer::bind(const std::string& endpoint) {
  return zmq_bind(sock_, endpoint.c_str()) == 0;
}

bool zmq_peer::send(const std::vector<std::string>& frames) {
  for (size_t i = 0; i < frames.size(); ++i)
    if (zmq_send(sock_, frames[i].data(), frames[i].size(),
                 i + 1 < frames.size() ? ZMQ_SNDMORE : 0) < 0)
      return false;
  return true;
}

std::optional<std::vector<std::string>>
zmq_peer::receive(std::chrono::milliseconds t) {
  zmq_pollitem_t item{sock_, 0, ZMQ_POLLIN, 0};
  if (zmq_poll(&item, 1, static_cast<long>(t.count())) <= 0)
    return std::nullopt;
  std::vector<std::string> frames;
  for (;;) {
    zmq_msg_t part;
    zmq_msg_init(&part);
    if (zmq_msg_recv(&part, sock_, 0) < 0) {
      zmq_msg_close(&part);
      return std::nullopt;
    }
    frames.emplace_back(static_cast<char*>(zmq_msg_data(&part)),
                        zmq_msg_size(&part));
    bool more = zmq_msg_more(&part);
    zmq_msg_close(&part);
    if (!more)
      return frames;
  }
}

} // namespace cc::test
