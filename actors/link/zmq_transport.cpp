// The forwarder's ZeroMQ transport and the zmq_* options: see
// zmq_transport.hpp.
#include "actors/link/zmq_transport.hpp"

#include <algorithm>
#include <climits>
#include <cstring>
#include <mutex>
#include <optional>
#include <random>

#include "actors/core/router.hpp"
#include "actors/link/curve_keys.hpp"
#include "base/error.hpp"
#include "base/io_loop.hpp"
#include "base/logger.hpp"
#include "config/reader.hpp"

namespace cc {

namespace {

int clamp_int(int64_t v, int lo, int hi) {
  return static_cast<int>(std::clamp<int64_t>(v, lo, hi));
}

// A routing id of our own for the DEALER (its data connection names the
// same peer): 16 random bytes, the first not 0 (ZeroMQ keeps ids starting
// with 0 for those it makes up) and not 1 (our in-process route frames).
std::string new_routing_id() {
  std::random_device rd;
  std::string id(16, '\0');
  for (auto& c : id)
    c = static_cast<char>(rd() & 0xff);
  id[0] = static_cast<char>(2 + (static_cast<unsigned char>(id[0]) % 250));
  return id;
}

} // namespace

zmq_options zmq_options_of(const config::section& sec) {
  // Through the schema (config/reader.hpp): a key the section lacks reads
  // as the schema's default. [ccserver] and proxy share the zmq_* keys.
  config::reader r{sec};
  zmq_options o;
  o.hwm = clamp_int(r.integer("zmq_hwm"), 0, INT_MAX);
  // -1 is ZeroMQ's own: linger until sent, keepalive timing from the OS
  // (the loader raised a 0 keepalive value to 1).
  o.linger_ms = clamp_int(r.integer("zmq_linger"), -1, INT_MAX);
  o.rcvbuf = clamp_int(static_cast<int64_t>(r.size("zmq_rcvbuf")), 0, INT_MAX);
  o.sndbuf = clamp_int(static_cast<int64_t>(r.size("zmq_sndbuf")), 0, INT_MAX);
  o.tcp_keepalive = r.boolean("zmq_tcp_keepalive");
  o.tcp_keepalive_intvl = clamp_int(r.integer("zmq_tcp_keepalive_intvl"), -1, INT_MAX);
  o.tcp_keepalive_idle = clamp_int(r.integer("zmq_tcp_keepalive_idle"), -1, INT_MAX);
  o.tcp_keepalive_cnt = clamp_int(r.integer("zmq_tcp_keepalive_cnt"), -1, INT_MAX);
  o.curve_secret_key_file = r.file("curve-secret-key");
  if (r.declares("zmq_rcvhwm"))
    o.rcvhwm = clamp_int(r.integer("zmq_rcvhwm"), 0, INT_MAX);
  if (r.declares("max-message-size")) {
    auto v = r.size("max-message-size");
    o.max_message_size = v == 0 || v > static_cast<uint64_t>(INT64_MAX)
                           ? -1
                           : static_cast<int64_t>(v);
  }
  if (r.declares("zmq_nthreads"))
    o.io_threads = clamp_int(r.integer("zmq_nthreads"), 1, 64);
  if (r.declares("remote-cc-public-key"))
    o.curve_server_key_source = r.str("remote-cc-public-key");
  if (r.declares("curve-allowed-keys"))
    o.curve_allowed_keys_file = r.file("curve-allowed-keys");
  return o;
}

// -- zmq_transport --------------------------------------------------------------

zmq_transport::zmq_transport(zmq_options opts, std::string who)
  : opts_(opts), who_(std::move(who)) {
  // connect() opens the socket on the process's I/O loop.
}

zmq_transport::~zmq_transport() {
  close();
}

caf::error resolve_client_keys(zmq_options& o, const std::string& who) {
  bool has_server = !o.curve_server_key_source.empty();
  bool has_secret = !o.curve_secret_key_file.empty();
  if (!has_server && !has_secret)
    return caf::none;
  if (!has_server || !has_secret)
    return make_error(errc::config_invalid,
                      who + ": " +
                        (has_server ? "remote-cc-public-key needs curve-secret-key "
                                      "(this forwarder's own key) too"
                                    : "curve-secret-key needs remote-cc-public-key "
                                      "(the server's key) too"));
  if (!curve::available())
    return make_error(errc::config_invalid,
                      who + ": curve-secret-key: this libzmq has no CURVE support");
  auto server = curve::read_public(o.curve_server_key_source,
                                   who + ": remote-cc-public-key");
  if (!server)
    return std::move(server.error());
  auto secret =
    curve::read_secret_file(o.curve_secret_key_file, who + ": curve-secret-key");
  if (!secret)
    return std::move(secret.error());
  auto pub = curve::public_of(*secret);
  if (!pub)
    return std::move(pub.error());
  o.curve_server = std::move(*server);
  o.curve_secret = std::move(*secret);
  o.curve_public = std::move(*pub);
  return caf::none;
}

caf::error zmq_transport::connect(const std::string& endpoint, callbacks cb) {
  if (socket_)
    return make_error(errc::config_invalid,
                      who_ + ": already connected to " + socket_->endpoint());
  // A DEALER is never a CURVE server: the keys are the client's.
  opts_.curve_allowed_keys_file.clear();
  opts_.zap = nullptr;
  if (auto err = resolve_client_keys(opts_, who_))
    return err;
  if (!opts_.curve_server.empty())
    log::info(who_, "CURVE to " + endpoint + " as client key " +
                      curve::encode(opts_.curve_public));
  endpoint_ = endpoint;
  if (opts_.curve_server.empty() && tcp_host_of(endpoint))
    opts_.routing_id = new_routing_id();
  on_sent_ = cb.on_sent;
  // ZeroMQ takes a blob's bytes from memory: a file range is read on the
  // thread that hands it to the socket, the forwarder's or, for what a lost
  // data connection gives back, the loop's.
  loader_ = std::make_shared<range_loader>(
    who_, std::shared_ptr<std::atomic<int64_t>>{data_counters_, &data_counters_->ranges_read},
    std::shared_ptr<std::atomic<int64_t>>{data_counters_, &data_counters_->ranges_gone},
    cb.on_sent);
  on_reply_ = cb.on_message;
  on_reply_here_ = cb.on_message_here;
  on_invalid_ = cb.on_invalid;
  zmq_socket_loop::events ev;
  ev.on_frames = [on_message = cb.on_message, on_invalid = cb.on_invalid](
                   std::vector<std::string>&& frames, wire::blob_ptr&& last,
                   wire::peer_ptr&&) {
    auto msg = wire::parse(std::move(frames), std::move(last));
    if (msg) {
      if (on_message)
        on_message(std::move(*msg));
    } else if (on_invalid) {
      on_invalid(msg.error());
    }
  };
  ev.on_sent = std::move(cb.on_sent);
  ev.on_link = std::move(cb.on_link);
  auto sock = std::make_unique<zmq_socket_loop>(
    zmq_socket_loop::role::dealer_connect, endpoint, opts_, std::move(ev),
    who_);
  if (auto err = sock->start())
    return err;
  socket_ = std::move(sock);
  return caf::none;
}

void zmq_transport::send(wire::cc_message msg) {
  if (data_->send(msg))
    return;
  if (socket_ && loader_->ready(msg))
    socket_->send(std::move(msg));
}

void zmq_transport::close() {
  data_->exchange(nullptr); // what it held goes to the socket, which drains it
  if (socket_)
    socket_->stop();
}

void zmq_transport::offer_data(int port) {
  if (port == data_port_ && (data_->has_link() || port <= 0))
    return;
  data_->exchange(nullptr);
  data_port_ = 0;
  if (port <= 0 || opts_.routing_id.empty() || !socket_)
    return;
  auto host = tcp_host_of(endpoint_);
  auto to = host ? resolve_data_address(*host, port) : std::nullopt;
  if (!to) {
    log::warning(who_, "the remote offers a data connection on port " +
                         std::to_string(port) + " but " + endpoint_ +
                         "'s host does not resolve: staying on ZeroMQ");
    return;
  }
  data_link::callbacks cb;
  cb.on_sent = on_sent_;
  cb.fallback = [sock = socket_.get(), loader = loader_](wire::cc_message msg) {
    if (loader->ready(msg))
      sock->send(std::move(msg));
  };
  cb.on_message = on_reply_;
  cb.on_message_here = on_reply_here_;
  cb.on_invalid = on_invalid_;
  data_->exchange(std::make_unique<data_link>(io_loop::shared(opts_.io_threads),
                                              std::move(*to), opts_.routing_id, who_,
                                              std::move(cb), data_counters_));
  data_port_ = port;
}

std::shared_ptr<const std::atomic<bool>> zmq_transport::data_up() const {
  return {data_counters_, &data_counters_->up};
}

std::shared_ptr<data_gate> zmq_transport::data_path() const {
  return data_;
}

void zmq_transport::add_stats(counters& out) const {
  const auto& c = *data_counters_;
  out["data_offered"] = data_->has_link() ? 1 : 0;
  out["data_connects"] = c.connects.load();
  out["data_failures"] = c.failures.load();
  out["data_messages"] = c.messages.load();
  out["data_direct"] = c.direct.load();
  out["data_bytes_out"] = c.bytes.load();
  out["data_fell_back"] = c.fell_back.load();
  out["data_lost"] = c.lost.load();
  out["data_replies"] = c.replies.load();
  out["data_replies_here"] = c.replies_here.load();
  out["data_bytes_in"] = c.bytes_in.load();
  out["data_sendfile"] = c.sendfile.load();
  out["ranges_read"] = c.ranges_read.load();
  out["ranges_gone"] = c.ranges_gone.load();
}

void zmq_transport::close_async(std::function<void()> done) {
  data_->exchange(nullptr);
  if (socket_)
    socket_->stop_async(std::move(done));
  else if (done)
    done();
}

namespace {

bool has_scheme(const std::string& endpoint, const char* scheme) {
  return endpoint.compare(0, std::strlen(scheme), scheme) == 0;
}

bool is_zmq_endpoint(const std::string& endpoint) {
  return has_scheme(endpoint, "tcp://") || has_scheme(endpoint, "ipc://");
}

} // namespace

bool transport_closes_async(const std::string& endpoint) {
  return is_zmq_endpoint(endpoint);
}

caf::expected<std::unique_ptr<transport>>
make_transport(const std::string& endpoint, const zmq_options& opts,
               std::string who) {
  if (is_zmq_endpoint(endpoint))
    return std::unique_ptr<transport>{new zmq_transport(opts, std::move(who))};
  if (has_scheme(endpoint, "caf://"))
    return make_error(errc::config_invalid,
                      who + ": remote-cc " + endpoint +
                        ": the CAF transport is not part of this build yet");
  // inproc:// would need a context shared with the remote side, which a
  // separate server process never is.
  return make_error(errc::config_invalid,
                    who + ": remote-cc " + endpoint +
                      ": not a tcp:// or ipc:// endpoint");
}

} // namespace cc
