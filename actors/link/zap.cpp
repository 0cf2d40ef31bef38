// The ZAP handler of a Curve cc-socket: see zap.hpp.
#include "actors/link/zap.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>

#include <sys/eventfd.h>
#include <unistd.h>

#include <zmq.h>

#include "actors/link/curve_keys.hpp"
#include "base/error.hpp"
#include "base/logger.hpp"
#include "base/thread_name.hpp"

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

} // namespace

zap_handler::zap_handler(curve::allow_list allowed, std::string who)
  : who_(std::move(who)),
    allowed_(std::make_shared<const curve::allow_list>(std::move(allowed))),
    log_(refusal_log_interval, refusal_log_keys) {
  // start() binds the socket.
}

zap_handler::~zap_handler() {
  stop();
  if (wake_fd_ >= 0)
    ::close(wake_fd_);
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
    std::string id = request.size() > 1 ? request[1] : std::string{};
    return std::vector<std::string>{"1.0", id, code, text, user_id, ""};
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

caf::error zap_handler::start(void* ctx) {
  if (thread_.joinable())
    return caf::none;
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0)
    return make_error(errc::io, who_ + ": ZAP: eventfd: " + std::strerror(errno));
  std::promise<caf::error> bound;
  auto result = bound.get_future();
  // The REP socket is created, bound, used and closed on the new thread.
  thread_ = std::thread{[this, ctx, p = std::move(bound)]() mutable {
    name_this_thread("cc-zap");
    rep_ = zmq_socket(ctx, ZMQ_REP);
    int zero = 0;
    if (rep_ == nullptr || zmq_setsockopt(rep_, ZMQ_LINGER, &zero, sizeof(zero)) != 0 ||
        zmq_bind(rep_, zap_endpoint) != 0) {
      auto err = make_error(errc::io, who_ + ": ZAP: binding " +
                                        std::string{zap_endpoint} + ": " +
                                        zmq_strerror(zmq_errno()));
      if (rep_ != nullptr)
        zmq_close(rep_);
      rep_ = nullptr;
      p.set_value(std::move(err));
      return;
    }
    p.set_value(caf::none);
    run();
    zmq_close(rep_);
    rep_ = nullptr;
  }};
  auto err = result.get();
  if (err)
    thread_.join();
  return err;
}

void zap_handler::stop() {
  if (!thread_.joinable())
    return;
  stopping_ = true;
  uint64_t one = 1;
  auto rc = ::write(wake_fd_, &one, sizeof(one));
  (void) rc;
  thread_.join();
}

void zap_handler::run() {
  while (!stopping_) {
    zmq_pollitem_t items[2] = {{rep_, 0, ZMQ_POLLIN, 0},
                               {nullptr, wake_fd_, ZMQ_POLLIN, 0}};
    if (zmq_poll(items, 2, -1) < 0) {
      if (zmq_errno() == EINTR)
        continue;
      log::error(who_, std::string{"ZAP: zmq_poll: "} + zmq_strerror(zmq_errno()));
      return;
    }
    if (!(items[0].revents & ZMQ_POLLIN))
      continue;
    std::vector<std::string> request;
    for (;;) {
      zmq_msg_t part;
      zmq_msg_init(&part);
      if (zmq_msg_recv(&part, rep_, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&part);
        break;
      }
      // RFC 27 requests are a few short frames; keep at most 16 of them.
      if (request.size() < 16)
        request.emplace_back(static_cast<const char*>(zmq_msg_data(&part)),
                             zmq_msg_size(&part));
      bool more = zmq_msg_more(&part) != 0;
      zmq_msg_close(&part);
      if (!more)
        break;
    }
    if (request.empty())
      continue;
    auto frames = answer(request);
    for (size_t i = 0; i < frames.size(); ++i) {
      int flags = i + 1 < frames.size() ? ZMQ_SNDMORE : 0;
      if (zmq_send(rep_, frames[i].data(), frames[i].size(), flags) < 0) {
        log::error(who_, std::string{"ZAP: reply: "} + zmq_strerror(zmq_errno()));
        break;
      }
    }
  }
}

} // namespace cc
