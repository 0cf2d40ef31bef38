// ZAP for the Curve cc-sockets: each socket's policy and the process's one
// handler socket on the I/O loop; see zap.hpp.
#include "actors/link/zap.hpp"

#include <chrono>
#include <cstdio>
#include <map>

#include <zmq.h>

#include "actors/link/curve_keys.hpp"
#include "base/io_loop.hpp"
#include "base/logger.hpp"

namespace cc {

namespace {

// Fixed by RFC 27: every context looks for its handler here.
constexpr const char* zap_endpoint = "inproc://zeromq.zap.01";

// A refused peer is logged again after this long if it keeps trying.
constexpr auto refusal_log_interval = std::chrono::hours{1};
// Distinct (key, address) pairs remembered for that; past it the quietest
// are forgotten (a flood of fresh keys cannot grow the memory).
constexpr size_t refusal_log_keys = 4096;

// Printable for a log line: a peer controls these bytes.
std::string printable(const std::string& s, size_t max = 64) {
  std::string out;
  for (char c : s.substr(0, max)) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) {
      out += c;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", u);
      out += buf;
    }
  }
  return out;
}

// The RFC 27 reply to `request` (its request id echoed).
std::vector<std::string> zap_reply(const std::vector<std::string>& request,
                                   const char* code, const char* text,
                                   const std::string& user_id) {
  std::string id = request.size() > 1 ? request[1] : std::string{};
  return {"1.0", id, code, text, user_id, ""};
}

} // namespace

zap_handler::zap_handler(curve::allow_list allowed, std::string who)
  : who_(std::move(who)),
    allowed_(std::make_shared<const curve::allow_list>(std::move(allowed))),
    log_(refusal_log_interval, refusal_log_keys) {
  // start() binds the socket.
}

size_t zap_handler::set_allowed(curve::allow_list allowed) {
  auto fresh = std::make_shared<const curve::allow_list>(std::move(allowed));
  std::lock_guard<std::mutex> guard{mtx_};
  size_t removed = 0;
  for (const auto& entry : *allowed_)
    if (fresh->count(entry.first) == 0)
      ++removed;
  allowed_ = std::move(fresh);
  return removed;
}

wire::peer_ptr zap_handler::identity_of(const std::string& z85) const {
  std::shared_ptr<const curve::allow_list> list;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    list = allowed_;
  }
  auto it = list->find(z85);
  return it == list->end() ? nullptr : it->second;
}

bool zap_handler::is_allowed(const std::string& z85) const {
  return identity_of(z85) != nullptr;
}

size_t zap_handler::allowed_count() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return allowed_->size();
}

size_t zap_handler::bound_count() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return curve::bound_count(*allowed_);
}

std::vector<std::string>
zap_handler::answer(const std::vector<std::string>& request) {
  // RFC 27 request: version, request id, domain, address, routing id,
  // mechanism, credentials...
  auto reply = [&](const char* code, const char* text,
                   const std::string& user_id) {
    return zap_reply(request, code, text, user_id);
  };
  if (request.size() < 6 || request[0] != "1.0") {
    ++malformed;
    log::warning(who_, "ZAP: malformed request dropped (" +
                         std::to_string(request.size()) + " frames)");
    return reply("500", "malformed request", "");
  }
  const auto& address = request[3];
  const auto& mechanism = request[5];
  if (mechanism != "CURVE" || request.size() < 7 || request[6].size() != 32) {
    ++refused;
    std::lock_guard<std::mutex> guard{mtx_};
    if (log_.admit("mech\n" + address, log_limiter::clock::now()))
      log::warning(who_, "refused a " + printable(mechanism) + " client from " +
                           printable(address) + ": only CURVE is accepted");
    return reply("400", "CURVE only", "");
  }
  auto key = curve::encode(request[6]);
  if (is_allowed(key)) {
    ++accepted;
    log::debug(who_, "accepted client key " + key + " from " +
                       printable(address));
    return reply("200", "OK", key);
  }
  ++refused;
  std::lock_guard<std::mutex> guard{mtx_};
  if (auto n = log_.admit(key + "\n" + address, log_limiter::clock::now()))
    log::warning(who_, "refused client key " + key + " from " +
                         printable(address) + ": not in curve-allowed-keys" +
                         (*n > 0 ? " (" + std::to_string(*n) +
                                     " more attempts since the last line)"
                                 : std::string{}));
  return reply("400", "key not allowed", "");
}

// -- the process's ZAP socket --------------------------------------------------

namespace {

// The REP socket on the loop and the policies by domain. One at a time per
// process (`current`), created by the first zap_attach, dropped by the last
// zap_detach or when the loop ends. Apart from `current` and `domain_count`,
// everything here is the loop thread's.
class zap_service : public io_client {
public:
  explicit zap_service(io_loop& loop) : loop_(&loop) {
  }

  std::string bind(void* ctx) {
    rep_ = zmq_socket(ctx, ZMQ_REP);
    int zero = 0;
    if (rep_ != nullptr && zmq_setsockopt(rep_, ZMQ_LINGER, &zero, sizeof(zero)) == 0 &&
        zmq_bind(rep_, zap_endpoint) == 0)
      return {};
    std::string why = std::string{"ZAP: binding "} + zap_endpoint + ": " +
                      zmq_strerror(zmq_errno());
    close();
    return why;
  }

  // The endpoint is unbound first: a later bind (the next CURVE socket)
  // must not find it still taken while the closed socket is reaped.
  void close() {
    if (rep_ == nullptr)
      return;
    zmq_unbind(rep_, zap_endpoint);
    zmq_close(rep_);
    rep_ = nullptr;
  }

  /// Whether this was the last domain (the socket is closed then).
  bool drop(const std::string& domain) {
    policies_.erase(domain);
    if (!policies_.empty())
      return false;
    close();
    if (loop_ != nullptr)
      loop_->remove(this);
    return true;
  }

  std::map<std::string, std::shared_ptr<zap_handler>> policies_;

  void poll_items(std::vector<zmq_pollitem_t>& items) override {
    if (rep_ != nullptr)
      items.push_back(zmq_pollitem_t{rep_, 0, ZMQ_POLLIN, 0});
  }

  // A handful of requests a round: handshakes are rare, sockets are many.
  void on_ready(zmq_pollitem_t* items, size_t count) override {
    if (count == 0 || !(items[0].revents & ZMQ_POLLIN))
      return;
    for (int n = 0; n < 64 && rep_ != nullptr; ++n) {
      auto request = receive();
      if (request.empty())
        return;
      reply(answer(request));
    }
  }

  void on_loop_end() override;

private:
  std::vector<std::string> receive() {
    std::vector<std::string> request;
    for (;;) {
      zmq_msg_t part;
      zmq_msg_init(&part);
      if (zmq_msg_recv(&part, rep_, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&part);
        return request;
      }
      // RFC 27 requests are a few short frames; keep at most 16 of them.
      if (request.size() < 16)
        request.emplace_back(static_cast<const char*>(zmq_msg_data(&part)),
                             zmq_msg_size(&part));
      bool more = zmq_msg_more(&part) != 0;
      zmq_msg_close(&part);
      if (!more)
        return request;
    }
  }

  // By the request's domain (its third frame).
  std::vector<std::string> answer(const std::vector<std::string>& request) {
    if (request.size() > 2)
      if (auto it = policies_.find(request[2]); it != policies_.end())
        return it->second->answer(request);
    if (auto n = log_.admit(request.size() > 2 ? request[2] : "",
                            log_limiter::clock::now()))
      log::warning("zap", "refused a handshake for ZAP domain '" +
                            (request.size() > 2 ? printable(request[2]) : "") +
                            "': no socket of this process has it");
    return zap_reply(request, "400", "unknown domain", "");
  }

  void reply(const std::vector<std::string>& frames) {
    for (size_t i = 0; i < frames.size(); ++i) {
      int flags = i + 1 < frames.size() ? ZMQ_SNDMORE : 0;
      if (zmq_send(rep_, frames[i].data(), frames[i].size(), flags) < 0) {
        log::error("zap", std::string{"reply: "} + zmq_strerror(zmq_errno()));
        return;
      }
    }
  }

  io_loop* loop_;  // null once the loop ends
  void* rep_ = nullptr;
  log_limiter log_{refusal_log_interval, 64};
};

std::mutex current_mtx;
std::shared_ptr<zap_service> current;  // the loop holds it too while bound
std::atomic<size_t> domain_count{0};

void zap_service::on_loop_end() {
  close();
  loop_ = nullptr;
  std::lock_guard<std::mutex> guard{current_mtx};
  if (current.get() == this) {
    current = nullptr;
    domain_count = 0;
  }
}

} // namespace

std::string zap_attach(io_loop& loop, const std::string& domain,
                       std::shared_ptr<zap_handler> policy) {
  std::lock_guard<std::mutex> guard{current_mtx};
  if (!current) {
    auto fresh = std::make_shared<zap_service>(loop);
    if (auto why = fresh->bind(loop.zmq_context()); !why.empty())
      return why;
    loop.add(fresh);
    current = std::move(fresh);
  }
  if (!current->policies_.emplace(domain, std::move(policy)).second)
    return "ZAP domain " + domain + " registered twice";
  domain_count = current->policies_.size();
  return {};
}

void zap_detach(const std::string& domain) {
  std::lock_guard<std::mutex> guard{current_mtx};
  if (!current || current->policies_.count(domain) == 0)
    return;
  if (current->drop(domain))
    current = nullptr;
  domain_count = current ? current->policies_.size() : 0;
}

size_t zap_domains() {
  return domain_count;
}

std::string unique_zap_domain(const std::string& who) {
  static std::atomic<uint64_t> n{0};
  return "cc-" + who + "-" + std::to_string(++n);
}

} // namespace cc
