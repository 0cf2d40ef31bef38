// Keys bound to host names: see host_binding.hpp.
#include "actors/link/host_binding.hpp"

#include "base/logger.hpp"
#include "wire/replies.hpp"

namespace cc {

namespace {

// A misbound sender retries every fragment: say so again at most this often
// per key and host (every refusal is counted).
constexpr auto denial_log_interval = std::chrono::minutes{10};
// Distinct (key, host) pairs remembered for that; past it the quietest go.
constexpr size_t denial_log_keys = 4096;

// `type` is `family` or `family.<suffix>` (whole words, as routes match).
bool of_family(const std::string& type, const std::string& family) {
  return type.compare(0, family.size(), family) == 0
         && (type.size() == family.size() || type[family.size()] == '.');
}

} // namespace

host_binding_check::host_binding_check(std::string who)
    : who_(std::move(who)), log_(denial_log_interval, denial_log_keys) {
  // Nothing else: the bindings come with each message.
}

std::optional<std::string> host_binding_check::refuse(const wire::peer_ptr& peer,
                                                      const std::string& hostname,
                                                      const std::string& type,
                                                      const std::string& file) {
  if (!peer || peer->may_write(hostname))
    return std::nullopt;
  ++denied_;
  auto why = peer->name() + ", bound to " + peer->binding_text()
             + " by curve-allowed-keys line " + std::to_string(peer->line)
             + ", may not write host '" + printable_type(hostname) + "'";
  if (auto n = log_.admit(peer->key + '\n' + hostname, log_limiter::clock::now()))
    log::warning(
        who_,
        "denied: " + why + ": " + printable_type(type) + " of " + printable_type(file)
            + " not written; the sender keeps its data"
            + (*n > 0 ? " (" + std::to_string(*n) + " more refusals since the last line)"
                      : std::string{}));
  return why;
}

host_binding_check::verdict host_binding_check::screen(const wire::cc_message& msg,
                                                       const std::string& hostname) {
  verdict v;
  if (!msg.peer || !msg.peer->bound())
    return v;
  if (of_family(msg.type, "pub.logtail")) {
    auto body = wire::parse_logtail(msg.body);
    if (!body)
      return v;
    auto why = refuse(msg.peer, body->hdr.hostname, msg.type, body->filename);
    v.denied = why.has_value();
    if (why && body->ack)
      v.reply = denied_reply(msg.route, *body, std::move(*why), hostname, "");
  } else if (of_family(msg.type, "pub.infofile")) {
    auto body = wire::parse_infofile(msg.body);
    if (!body)
      return v;
    auto why = refuse(msg.peer, body->hdr.hostname, msg.type, body->filename);
    v.denied = why.has_value();
    if (why && body->ack) {
      v.reply = wire::infofile_reply(msg.route, *body,
                                     std::string{wire::info_status::denied}, *why,
                                     hostname);
    }
  }
  return v;
}

wire::cc_message denied_reply(const std::vector<std::string>& route,
                              const wire::logtail_body& fragment, std::string detail,
                              const std::string& hostname, const std::string& writer) {
  wire::cc_message msg;
  msg.route = route;
  if (!fragment.query.empty()) {
    wire::logtail_state_body a;
    a.hdr = wire::make_header("logtail.state");
    a.hdr.hostname = hostname;
    a.filename = fragment.filename;
    a.st_dev = fragment.st_dev;
    a.st_ino = fragment.st_ino;
    a.gen = fragment.gen;
    a.query = fragment.query;
    a.writer = writer;
    a.status = wire::state_status::denied;
    a.detail = std::move(detail);
    msg.type = a.hdr.req;
    msg.body = wire::make_body(a);
    return msg;
  }
  wire::logtail_ack_body a;
  a.hdr = wire::make_header("logtail.ack");
  a.hdr.hostname = hostname;
  a.filename = fragment.filename;
  a.st_dev = fragment.st_dev;
  a.st_ino = fragment.st_ino;
  a.gen = fragment.gen;
  a.fpos = fragment.fpos;
  a.status = wire::ack_status::denied;
  a.writer = writer;
  a.detail = std::move(detail);
  msg.type = a.hdr.req;
  msg.body = wire::make_body(a);
  return msg;
}

} // namespace cc
