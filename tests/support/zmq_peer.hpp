// A plain ZeroMQ socket for tests that play the other end of a link (a CC
// client, a central's ROUTER, the original's proxy), with blocking helpers.
// Its own context, so nothing is shared with the servers under test.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace cc::test {

class zmq_peer {
public:
  /// `type` is a ZeroMQ socket type (ZMQ_DEALER, ZMQ_ROUTER, ...).
  explicit zmq_peer(int type, int linger_ms = 0);
  ~zmq_peer();
  zmq_peer(const zmq_peer&) = delete;
  zmq_peer& operator=(const zmq_peer&) = delete;

  bool set_option(int option, int value);
  bool connect(const std::string& endpoint);
  bool bind(const std::string& endpoint);
  /// One multipart message.
  bool send(const std::vector<std::string>& frames);
  /// One multipart message (a ROUTER's identity first), waiting at most `t`.
  std::optional<std::vector<std::string>> receive(std::chrono::milliseconds t);

private:
  void* ctx_;
  void* sock_;
};

} // namespace cc::test
