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

#include "main/commands.hpp"
#include "main/dealer.hpp"
#include "wire/bodies.hpp"
#include "wire/message.hpp"

namespace cc::cli {

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
  dealer d{timeout_ms};
  if (!d.ok()) {
    std::cerr << "ccserver --send: " << dealer::error() << "\n";
    return exit_failure;
  }
  if (!d.connect(opts.endpoint)) {
    std::cerr << "ccserver --send: " << opts.endpoint << ": " << dealer::error() << "\n";
    return exit_usage;
  }
  if (!d.send(msg)) {
    std::cerr << "ccserver --send: could not send to " << opts.endpoint
              << " within " << opts.timeout << " s: " << dealer::error() << "\n";
    d.discard_on_close();
    return exit_failure;
  }
  std::cout << "sent " << msg.type << " to " << opts.endpoint << " ("
            << msg.wire_size() << " bytes)\n";
  if (!want_reply)
    return exit_ok; // ~dealer flushes within LINGER
  std::vector<std::string> frames;
  if (!d.receive(timeout_ms, frames)) {
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
