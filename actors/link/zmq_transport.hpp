// The forwarder's ZeroMQ transport (a DEALER connected to remote-cc, on a
// zmq_socket_loop: zmq_socket.hpp), make_transport choosing a transport by
// the endpoint's scheme, and the reading of the zmq_* options of a section.
#pragma once

#include <memory>
#include <string>

#include <caf/error.hpp>

#include "actors/link/data_link.hpp"
#include "actors/link/range_loader.hpp"
#include "actors/link/transport.hpp"
#include "actors/link/zmq_socket.hpp"
#include "config/config.hpp"
#include "wire/message.hpp"

namespace cc {

/// The zmq_* keys (and max-message-size, zmq_nthreads) present in `sec`;
/// absent keys keep the defaults above.
zmq_options zmq_options_of(const config::section& sec);

/// The client side of CURVE (a proxy section): reads remote-cc-public-key
/// and curve-secret-key (both or neither) into `o`'s binary keys, the public
/// key derived from the secret one. errc::config_invalid naming `who`, the
/// key and the path.
caf::error resolve_client_keys(zmq_options& o, const std::string& who);

/// The forwarder's ZeroMQ transport: a DEALER connected to remote-cc.
class zmq_transport : public transport {
public:
  zmq_transport(zmq_options opts, std::string who);
  ~zmq_transport() override;

  caf::error connect(const std::string& endpoint, callbacks cb) override;
  void send(wire::cc_message msg) override;
  void close() override;
  void close_async(std::function<void()> done) override;
  /// Opens (or moves) the data connection to the remote's host on `port`
  /// when this link is tcp:// without CURVE; 0 closes it.
  void offer_data(int port) override;
  void add_stats(counters& out) const override;
  std::shared_ptr<const std::atomic<bool>> data_up() const override;
  std::shared_ptr<data_gate> data_path() const override;

private:
  zmq_options opts_;
  std::string who_;
  std::string endpoint_;
  std::unique_ptr<zmq_socket_loop> socket_;
  // The data connection: set and dropped on the forwarder's thread, sent
  // on from there and from the forwarder's door (data_gate).
  std::function<void(uint64_t)> on_sent_;
  std::function<void(wire::cc_message)> on_reply_;
  std::function<void(wire::cc_message)> on_reply_here_;  // the data link's, idle
  std::function<void(const caf::error&)> on_invalid_;
  std::shared_ptr<data_gate> data_ = std::make_shared<data_gate>();
  int data_port_ = 0;
  std::shared_ptr<data_link_counters> data_counters_ =
    std::make_shared<data_link_counters>();
  /// Reads file-range blobs for the socket (forwarder's and loop thread).
  std::shared_ptr<range_loader> loader_;
};

} // namespace cc
