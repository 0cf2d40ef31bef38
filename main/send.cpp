// --send: a small client for operators and tests. Connects a DEALER to the
// endpoint, sends one CC message (no route frames: the server's ROUTER adds
// ours), and waits for a reply when one is expected.
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>
#include <zmq.h>

#include "main/commands.hpp"
#include "wire/bodies.hpp"
#include "wire/message.hpp"

namespace cc::cli {

namespace {

// Owns the context and the socket; closing waits at most the LINGER set.
struct dealer {
  void* ctx = zmq_ctx_new();
  void* sock = ctx ? zmq_socket(ctx, ZMQ_DEALER) : nullptr;
  ~dealer() {
    if (sock)
      zmq_close(sock);
    if (ctx)
      zmq_ctx_term(ctx);
  }
};

void set_int(void* sock, int option, int value) {
  zmq_setsockopt(sock, option, &value, sizeof(value));
}

bool send_message(void* sock, const wire::cc_message& msg) {
  auto frames = wire::frames_of(msg);
  for (size_t i = 0; i < frames.size(); ++i) {
    bool last = i + 1 == frames.size();
    // Blocking (bounded by SNDTIMEO): with ZMQ_IMMEDIATE the first frame
    // waits until the connection is up.
    if (zmq_send(sock, frames[i].data(), frames[i].size(),
                 last ? 0 : ZMQ_SNDMORE) < 0)
      return false;
  }
  return true;
}

// Receives one multipart message, waiting at most `timeout_ms`.
bool receive_message(void* sock, long timeout_ms,
                     std::vector<std::string>& frames) {
  zmq_pollitem_t item{sock, 0, ZMQ_POLLIN, 0};
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(timeout_ms);
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
  for (;;) {
    zmq_msg_t part;
    zmq_msg_init(&part);
    if (zmq_msg_recv(&part, sock, 0) < 0) {
      zmq_msg_close(&part);
      return false;
    }
    frames.emplace_back(static_cast<const char*>(zmq_msg_data(&part)),
                        zmq_msg_size(&part));
    bool more = zmq_msg_more(&part) != 0;
    zmq_msg_close(&part);
    if (!more)
      return true;
  }
}

} // namespace

int run_send(const send_options& opts) {
  if (!wire::valid_type(opts.type)) {
    std::cerr << "ccserver --send: '" << opts.type
              << "' is not a message type (dot-separated words of "
                 "[A-Za-z0-9_-])\n";
    return exit_usage;
  }
  auto body = nlohmann::json::parse(opts.json.empty() ? "{}" : opts.json,
                                    nullptr, false);
  if (!body.is_object()) {
    std::cerr << "ccserver --send: the body must be a JSON object\n";
    return exit_usage;
  }
  wire::cc_message msg;
  msg.type = opts.type;
  if (!opts.blob_file.empty()) {
    std::ifstream in{opts.blob_file, std::ios::binary};
    if (!in) {
      std::cerr << "ccserver --send: --blob " << opts.blob_file << ": "
                << std::strerror(errno) << "\n";
      return exit_usage;
    }
    std::ostringstream bytes;
    bytes << in.rdbuf();
    msg.blob = wire::blob::from_string(bytes.str());
  }
  // What every CC body carries (SPEC §7). An unsigned sender leaves
  // blob_hash empty even with a blob, as the original does.
  if (!body.contains("req"))
    body["req"] = opts.type;
  if (!body.contains("time"))
    body["time"] = wire::now_seconds();
  if (!body.contains("hostname"))
    body["hostname"] = wire::short_hostname();
  if (!body.contains("blob_hash"))
    body["blob_hash"] = "";
  msg.body = body.dump();

  bool want_reply = opts.expect_reply.value_or(
    expects_reply(opts.type, msg.body));
  int timeout_ms = static_cast<int>(std::lround(opts.timeout * 1000));
  dealer d;
  if (d.sock == nullptr) {
    std::cerr << "ccserver --send: " << zmq_strerror(zmq_errno()) << "\n";
    return exit_failure;
  }
  set_int(d.sock, ZMQ_IMMEDIATE, 1); // queue only on a live connection
  set_int(d.sock, ZMQ_SNDTIMEO, timeout_ms);
  set_int(d.sock, ZMQ_LINGER, timeout_ms);
  if (zmq_connect(d.sock, opts.endpoint.c_str()) != 0) {
    std::cerr << "ccserver --send: " << opts.endpoint << ": "
              << zmq_strerror(zmq_errno()) << "\n";
    return exit_usage;
  }
  if (!send_message(d.sock, msg)) {
    std::cerr << "ccserver --send: could not send to " << opts.endpoint
              << " within " << opts.timeout << " s: "
              << zmq_strerror(zmq_errno()) << "\n";
    set_int(d.sock, ZMQ_LINGER, 0);
    return exit_failure;
  }
  std::cout << "sent " << msg.type << " to " << opts.endpoint << " ("
            << msg.wire_size() << " bytes)\n";
  if (!want_reply)
    return exit_ok; // ~dealer flushes within LINGER
  std::vector<std::string> frames;
  if (!receive_message(d.sock, timeout_ms, frames)) {
    std::cerr << "ccserver --send: no reply from " << opts.endpoint
              << " within " << opts.timeout << " s\n";
    return exit_failure;
  }
  auto reply = wire::parse(std::move(frames));
  if (!reply) {
    std::cerr << "ccserver --send: the reply is not a CC message\n";
    return exit_failure;
  }
  std::cout << "reply: " << reply->type << "\n"
            << "body: " << reply->body << "\n";
  if (reply->blob)
    std::cout << "blob: " << reply->blob->size() << " bytes\n";
  else
    std::cout << "blob: none\n";
  return exit_ok;
}

} // namespace cc::cli
