// Keys bound to host names: see host_binding.hpp.
#include "actors/host_binding.hpp"

#include "actors/logger.hpp"

namespace cc {

namespace {

// A misbound sender retries every fragment: say so again at most this often
// per key and host (every refusal is counted).
constexpr auto denial_log_interval = std::chrono::minutes{10};
// Distinct (key, host) pairs remembered for that; past it the quietest go.
constexpr size_t denial_log_keys = 4096;

} // namespace

host_binding_check::host_binding_check(std::string who)
  : who_(std::move(who)), log_(denial_log_interval, denial_log_keys) {
  // Nothing else: the bindings come with each message.
}

std::optional<std::string>
host_binding_check::refuse(const wire::peer_ptr& peer, const std::string& hostname,
                           const std::string& what) {
  if (!peer || peer->may_write(hostname))
    return std::nullopt;
  ++denied_;
  auto why = peer->name() + ", bound to " + peer->binding_text() +
             " by curve-allowed-keys line " + std::to_string(peer->line) +
             ", may not write host '" + printable_type(hostname) + "'";
  if (auto n = log_.admit(peer->key + '\n' + hostname, log_limiter::clock::now()))
    log::warning(who_, "denied: " + why + ": " + what +
                         " not written; the sender keeps its data" +
                         (*n > 0 ? " (" + std::to_string(*n) +
                                     " more refusals since the last line)"
                                 : std::string{}));
  return why;
}

wire::cc_message denied_ack(const std::vector<std::string>& route,
                            const wire::logtail_body& fragment, std::string detail,
                            const std::string& hostname, const std::string& writer) {
  wire::logtail_ack_body body;
  body.hdr.req = "logtail.ack";
  body.hdr.time = wire::now_seconds();
  body.hdr.hostname = hostname;
  body.filename = fragment.filename;
  body.st_dev = fragment.st_dev;
  body.st_ino = fragment.st_ino;
  body.gen = fragment.gen;
  body.fpos = fragment.fpos;
  body.status = wire::ack_status::denied;
  body.writer = writer;
  body.detail = std::move(detail);
  wire::cc_message msg;
  msg.route = route;
  msg.type = body.hdr.req;
  msg.body = wire::make_body(body);
  return msg;
}

} // namespace cc
