// A ZeroMQ DEALER for the command line's clients (--send, --verify): one
// socket of its own context, whole CC messages in and out, every wait
// bounded.
#pragma once

#include <string>
#include <vector>

#include "wire/message.hpp"

namespace cc::cli {

class dealer {
public:
  /// `timeout_ms` bounds sending (the connection must come up) and LINGER.
  explicit dealer(int timeout_ms);
  ~dealer();
  dealer(const dealer&) = delete;
  dealer& operator=(const dealer&) = delete;

  /// False (error() says why) when the context or socket could not be made.
  bool ok() const { return sock_ != nullptr; }
  /// Makes this a CURVE client of a server with public key `server_public`
  /// (binary keys, 32 bytes each). Before connect().
  bool curve(const std::string& server_public, const std::string& public_key,
             const std::string& secret_key);
  bool connect(const std::string& endpoint);
  /// Sends `msg` (its route frames, "", type, body, signature, blob).
  bool send(const wire::cc_message& msg);
  /// Receives one multipart message, waiting at most `timeout_ms`.
  bool receive(long timeout_ms, std::vector<std::string>& frames);
  /// Drop what is unsent at close (after a failed send).
  void discard_on_close();
  /// The last ZeroMQ error, as text.
  static std::string error();

private:
  void* ctx_ = nullptr;
  void* sock_ = nullptr;
};

} // namespace cc::cli
