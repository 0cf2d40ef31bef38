// --verify [--repair]: the central's copies of every file this config's
// tailers ship, compared with their sources through the running server's own
// cc-socket (its router sends the questions where the fragments go: the
// forwarder, the central, its tailwriter). The logic is actors/verify.*; here
// the connection, the table and the exit status.
#include <chrono>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "actors/link/curve_keys.hpp"
#include "actors/tail/tailer.hpp"
#include "actors/tail/verify.hpp"
#include "base/error.hpp"
#include "config/config.hpp"
#include "main/commands.hpp"
#include "main/dealer.hpp"
#include "wire/bodies.hpp"

namespace cc::cli {

namespace {

/// Where a client reaches a server bound to `bind`: a wildcard address is
/// reached on the loopback.
std::string connect_endpoint(const std::string& bind) {
  for (auto [any, loopback] : {std::pair{"tcp://0.0.0.0:", "tcp://127.0.0.1:"},
                               std::pair{"tcp://*:", "tcp://127.0.0.1:"},
                               std::pair{"tcp://[::]:", "tcp://[::1]:"}})
    if (bind.rfind(any, 0) == 0)
      return loopback + bind.substr(std::string{any}.size());
  return bind;
}

/// The writer, through the server's socket: one exchange at a time; other
/// replies (a late ack of an earlier repair) are passed over.
class socket_link final : public tail::writer_link {
public:
  socket_link(dealer& d, long timeout_ms) : d_(d), timeout_ms_(timeout_ms) {
  }

  caf::expected<wire::logtail_state_body> ask(const wire::logtail_body& question) override {
    auto reply = exchange(question, nullptr, "logtail.state");
    if (!reply)
      return std::move(reply.error());
    return wire::parse_logtail_state(reply->body);
  }

  caf::expected<wire::logtail_ack_body> send(const wire::logtail_body& fragment,
                                             std::string payload) override {
    auto blob = wire::blob::from_string(std::move(payload));
    for (;;) {
      auto reply = exchange(fragment, blob, "logtail.ack");
      if (!reply)
        return std::move(reply.error());
      auto ack = wire::parse_logtail_ack(reply->body);
      if (!ack)
        return std::move(ack.error());
      // An ack of an earlier repair of this generation may come late.
      if (ack->gen == fragment.gen && ack->fpos >= fragment.fpos)
        return ack;
      blob = nullptr; // wait for ours without sending again
      pending_ = true;
    }
  }

private:
  caf::expected<wire::cc_message> exchange(const wire::logtail_body& body,
                                           const wire::blob_ptr& blob,
                                           const std::string& want) {
    if (!pending_) {
      wire::cc_message msg;
      msg.type = body.hdr.req;
      msg.body = wire::make_body(body);
      msg.blob = blob;
      if (!d_.send(msg))
        return make_error(errc::io, "cannot send to the server: " + dealer::error());
    }
    pending_ = false;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds{timeout_ms_};
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now()).count();
      std::vector<std::string> frames;
      if (left <= 0 || !d_.receive(left, frames))
        return make_error(errc::io, "no " + want + " within "
                                      + std::to_string(timeout_ms_ / 1000.0).substr(0, 4)
                                      + " s: is the server running, its forwarder "
                                        "connected, and the central a ccserver?");
      auto msg = wire::parse(std::move(frames));
      if (msg && msg->type == want)
        return std::move(*msg);
    }
  }

  dealer& d_;
  long timeout_ms_;
  bool pending_ = false;
};

std::string mib(uint64_t bytes) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(1) << static_cast<double>(bytes) / (1 << 20);
  return out.str();
}

void print_row(const tail::verify_result& r) {
  std::ostringstream copy;
  if (r.segment)
    copy << r.segment->src_base << ".." << r.segment->src_end;
  else
    copy << "-";
  std::cout << std::left << std::setw(44) << r.target.path << " " << std::right
            << std::setw(12) << r.source_bytes << " " << std::setw(23) << copy.str() << " "
            << std::setw(7) << r.blocks_equal << " " << std::setw(7) << r.blocks_differing
            << " " << std::setw(10) << r.missing << " " << std::setw(10) << r.lag << "  "
            << r.status << "\n";
  for (const auto& [from, to] : r.differences)
    std::cout << "    differs at " << from << ".." << to << " (" << (to - from) << " bytes)\n";
  if (r.extra > 0)
    std::cout << "    the copy holds " << r.extra << " bytes past the source's end ("
              << r.source_bytes << ".." << r.source_bytes + r.extra << ")\n";
}

/// Verifies (and with --repair mends) the files of one tailer; false when a
/// copy is not equal to its source afterwards.
bool verify_daemon(const tailer_options& opts, socket_link& link, bool repair) {
  bool all_ok = true;
  for (const auto& target : tail::verify_targets(opts)) {
    auto last = std::chrono::steady_clock::now();
    auto progress = [&](uint64_t done, uint64_t total) {
      auto now = std::chrono::steady_clock::now();
      if (now - last < std::chrono::seconds{2})
        return;
      last = now;
      std::cerr << "verifying " << target.path << ": " << mib(done) << " of " << mib(total)
                << " MiB compared\n";
    };
    auto r = tail::verify_file(target, opts, link, progress);
    if (!r.ok && repair && r.segment) {
      auto sent = tail::repair_file(r, opts, link);
      if (!sent) {
        r.status += "; repair failed: " + describe(sent.error());
      } else {
        std::cerr << "repaired " << target.path << ": " << *sent << " bytes sent again\n";
        r = tail::verify_file(target, opts, link, progress);
        r.status += " (after repair)";
      }
    }
    print_row(r);
    all_ok = all_ok && r.ok;
  }
  return all_ok;
}

} // namespace

int run_verify(const options& opts) {
  auto res = config::load(opts.config_file);
  for (const auto& d : res.diagnostics)
    if (d.severity == config::diagnostic::error)
      std::cerr << "error: " << d.str() << "\n";
  if (!res.ok())
    return exit_usage;
  const auto& cfg = *res.config;
  int timeout_ms = static_cast<int>(opts.timeout * 1000);
  dealer d{timeout_ms};
  if (!d.ok()) {
    std::cerr << "ccserver --verify: " << dealer::error() << "\n";
    return exit_failure;
  }
  // A CURVE socket lets in its own key when curve-allowed-keys lists it.
  if (auto secret_file = cfg.main.file("curve-secret-key"); !secret_file.empty()) {
    auto secret = curve::read_secret_file(secret_file, "[ccserver] curve-secret-key");
    auto pub = secret ? curve::public_of(*secret) : caf::expected<curve::key>{secret.error()};
    if (!pub) {
      std::cerr << "ccserver --verify: " << message_of(pub.error()) << "\n";
      return exit_usage;
    }
    if (!d.curve(*pub, *pub, *secret)) {
      std::cerr << "ccserver --verify: CURVE: " << dealer::error() << "\n";
      return exit_failure;
    }
  }
  auto endpoint = connect_endpoint(cfg.main.str("cc-socket"));
  if (!d.connect(endpoint)) {
    std::cerr << "ccserver --verify: " << endpoint << ": " << dealer::error() << "\n";
    return exit_usage;
  }
  socket_link link{d, timeout_ms};
  std::cout << std::left << std::setw(44) << "file" << " " << std::right << std::setw(12)
            << "source" << " " << std::setw(23) << "copy holds" << " " << std::setw(7)
            << "equal" << " " << std::setw(7) << "differ" << " " << std::setw(10)
            << "missing" << " " << std::setw(10) << "lag" << "  status\n";
  bool all_ok = true;
  int tailers = 0;
  for (const auto& [name, sec] : cfg.daemons) {
    if (sec.kind != "logtail")
      continue;
    auto t = make_tailer_options(sec);
    if (!t) {
      std::cerr << "ccserver --verify: " << message_of(t.error()) << "\n";
      all_ok = false;
      continue;
    }
    ++tailers;
    all_ok = verify_daemon(*t, link, opts.repair) && all_ok;
  }
  if (tailers == 0) {
    std::cerr << "ccserver --verify: " << opts.config_file << " runs no logtail daemon\n";
    return exit_usage;
  }
  return all_ok ? exit_ok : exit_failure;
}

} // namespace cc::cli
