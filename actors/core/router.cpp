// The router actor (contract: actors/core/router.hpp, actors/core/atoms.hpp). The
// handler bodies only move messages; every decision is a router_state function.
#include "actors/core/router.hpp"

#include <memory>

#include <caf/event_based_actor.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>

#include "actors/core/echo.hpp"
#include "base/error.hpp"
#include "base/logger.hpp"

namespace cc {

namespace {

constexpr std::string_view who = "router";

} // namespace

// -- log_limiter ---------------------------------------------------------------

std::optional<uint64_t> log_limiter::admit(const std::string& key,
                                           clock::time_point now) {
  auto i = keys_.find(key);
  if (i == keys_.end()) {
    if (keys_.size() >= max_keys_) {
      // Forget keys that have been quiet for a whole interval; if every key
      // is busy, start over (a few repeated lines beat unbounded memory).
      for (auto j = keys_.begin(); j != keys_.end();)
        j = now - j->second.last >= interval_ ? keys_.erase(j) : std::next(j);
      if (keys_.size() >= max_keys_)
        keys_.clear();
    }
    keys_.emplace(key, entry{now, 0});
    return uint64_t{0};
  }
  auto& e = i->second;
  if (now - e.last < interval_) {
    ++e.suppressed;
    return std::nullopt;
  }
  auto suppressed = e.suppressed;
  e.last = now;
  e.suppressed = 0;
  return suppressed;
}

std::string printable_type(const std::string& type) {
  std::string shown = type.substr(0, 64);
  for (auto& c : shown)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e)
      c = '?';
  if (type.size() > shown.size())
    shown += "...";
  return shown;
}

namespace {

std::string suppressed_note(uint64_t n) {
  return n == 0 ? std::string{}
                : " (" + std::to_string(n) + " more since the last such line)";
}

} // namespace

// -- router_state ----------------------------------------------------------------

caf::error router_state::on_received(const wire::cc_message& msg,
                                     log_limiter::clock::time_point now) {
  ++received;
  bytes += static_cast<int64_t>(msg.wire_size());
  if (wire::valid_type(msg.type))
    return caf::none;
  ++invalid;
  auto shown = printable_type(msg.type);
  if (auto n = unrouted_log.admit("invalid type", now))
    log::warning(who, "invalid message type '" + shown + "' dropped" +
                        suppressed_note(*n));
  return make_error(errc::invalid_type, "message type '" + shown + "'");
}

std::vector<std::pair<std::string, caf::actor>>
router_state::targets_for(const std::string& type) const {
  std::vector<std::pair<std::string, caf::actor>> result;
  for (auto& section : cfg.table.lookup(type)) {
    auto i = handlers.find(section);
    if (i != handlers.end() && i->second)
      result.emplace_back(section, i->second);
  }
  return result;
}

router_state::unrouted_outcome
router_state::on_unrouted(const wire::cc_message& msg,
                          log_limiter::clock::time_point now) {
  unrouted_outcome out;
  if (msg.type == "echo.request") {
    auto rsp = make_echo_response(msg, cfg.hostname, cfg.acks.get());
    if (rsp) {
      out.echo_response = std::move(*rsp);
      return out;
    }
    ++invalid;
    if (auto n = unrouted_log.admit("bad echo.request", now))
      log::warning(who, "malformed echo.request dropped: " +
                          describe(rsp.error()) + suppressed_note(*n));
    out.answer = std::move(rsp.error());
    return out;
  }
  ++unrouted;
  auto shown = printable_type(msg.type);
  if (auto n = unrouted_log.admit(msg.type, now))
    log::warning(who, "no route for message type '" + shown + "', dropped" +
                        suppressed_note(*n));
  out.answer = make_error(errc::no_route, "no handler for message type '" +
                                            shown + "'");
  return out;
}

caf::actor router_state::reply_target(wire::cc_message& msg) {
  ++replies;
  if (msg.route.empty()) {
    ++undeliverable;
    log::debug(who, "reply " + printable_type(msg.type) +
                      " has no route frame, dropped");
    return {};
  }
  auto name = wire::local_endpoint_name(msg.route.front());
  if (name.empty()) {
    if (!gateway) {
      ++undeliverable;
      log::debug(who, "reply " + printable_type(msg.type) +
                        " for a socket peer but no gateway, dropped");
    }
    return gateway;
  }
  auto i = endpoints.find(std::string{name});
  if (i == endpoints.end()) {
    ++undeliverable;
    log::debug(who, "reply " + printable_type(msg.type) +
                      " for unknown endpoint '" + std::string{name} +
                      "', dropped");
    return {};
  }
  msg.route.erase(msg.route.begin());
  return i->second;
}

void router_state::on_handler_error(const std::string& section,
                                    const caf::error& err,
                                    log_limiter::clock::time_point now) {
  ++handler_errors;
  if (auto n = error_log.admit(section, now))
    log::warning(who, section + " refused a message: " + describe(err) +
                        suppressed_note(*n));
}

void router_state::on_down(const caf::actor_addr& gone) {
  auto forget = [&](std::map<std::string, caf::actor>& m, const char* what) {
    for (auto i = m.begin(); i != m.end();) {
      if (i->second.address() == gone) {
        log::info(who, std::string{what} + " '" + i->first + "' is gone");
        i = m.erase(i);
      } else {
        ++i;
      }
    }
  };
  forget(endpoints, "endpoint");
  forget(handlers, "handler");
  if (gateway && gateway.address() == gone) {
    log::info(who, "gateway is gone");
    gateway = nullptr;
  }
}

counters router_state::stats() const {
  return {{"received", received},
          {"routed", routed},
          {"unrouted", unrouted},
          {"invalid", invalid},
          {"replies", replies},
          {"undeliverable", undeliverable},
          {"bytes", bytes},
          {"handler_errors", handler_errors},
          {"in_flight", in_flight}};
}

// -- the actor -------------------------------------------------------------------

namespace {

using router_self = router_actor::stateful_pointer<router_state>;

/// One dispatched message's outstanding handler answers. The requesting
/// sender (if any) gets ok once all are ok, or the first error at once.
struct fanout {
  size_t remaining;
  caf::response_promise promise;  // invalid when the sender did not ask
  std::shared_ptr<void> receipt;  // the gateway's accounting, dropped with us

  void ok() {
    if (--remaining == 0 && promise.pending())
      promise.deliver(ok_atom::value);
  }
  void fail(caf::error err) {
    if (promise.pending())
      promise.deliver(std::move(err));
  }
};

void deliver_reply(router_self self, wire::cc_message msg) {
  if (auto dest = self->state.reply_target(msg))
    // Typed actors may only send() to typed ones (CAF 0.17); endpoints and
    // the gateway are untyped and never answer a reply.
    caf::anon_send(dest, reply_atom::value, std::move(msg));
}

void dispatch(router_self self, wire::cc_message& msg) {
  auto& st = self->state;
  // The gateway's receipt stays with us (released when the last handler
  // answered, or on return when none takes the message), not with the
  // handlers: a handler that keeps the message queued has answered.
  auto receipt = std::move(msg.receipt);
  auto now = self->clock().now();
  bool asked = self->current_message_id().is_request();
  caf::response_promise promise;
  if (asked)
    promise = self->make_response_promise();
  if (auto err = st.on_received(msg, now)) {
    if (asked)
      promise.deliver(std::move(err));
    return;
  }
  auto targets = st.targets_for(msg.type);
  if (targets.empty()) {
    auto out = st.on_unrouted(msg, now);
    if (out.echo_response)
      deliver_reply(self, std::move(*out.echo_response));
    if (asked) {
      if (out.answer)
        promise.deliver(std::move(out.answer));
      else
        promise.deliver(ok_atom::value);
    }
    return;
  }
  ++st.routed;
  // Take the (dispatch_atom, cc_message) content out of our mailbox element
  // and send that one caf::message to every handler: they share it, so
  // neither body nor blob is copied. `msg` must not be used after this.
  auto content = self->current_mailbox_element()->move_content_to_message();
  auto pending = std::make_shared<fanout>(
    fanout{targets.size(), promise, std::move(receipt)});
  for (auto& [section, handler] : targets) {
    ++st.in_flight;
    self->request(handler, caf::infinite, content)
      .then(
        [self, pending](ok_atom) {
          --self->state.in_flight;
          pending->ok();
        },
        [self, pending, section = section](caf::error& err) {
          --self->state.in_flight;
          self->state.on_handler_error(section, err, self->clock().now());
          pending->fail(std::move(err));
        });
  }
}

router_actor::behavior_type router(router_self self, router_config cfg) {
  self->state.cfg = std::move(cfg);
  self->set_down_handler([self](const caf::down_msg& dm) {
    self->state.on_down(dm.source);
  });
  return {
    [self](dispatch_atom, wire::cc_message& msg) -> caf::result<ok_atom> {
      // dispatch() answers a request through its own promise; an answer
      // returned here would go back even to a sender that did not ask.
      dispatch(self, msg);
      return caf::delegated<ok_atom>{};
    },
    [self](reply_atom, wire::cc_message& msg) {
      deliver_reply(self, std::move(msg));
    },
    [self](register_atom, const std::string& name, const caf::actor& endpoint) {
      // A restarted endpoint (a tailer) registers under its old name and
      // takes over the replies meant for its predecessor.
      self->monitor(endpoint);
      self->state.endpoints[name] = endpoint;
      log::debug(who, "endpoint '" + name + "' registered");
      return ok_atom::value;
    },
    [self](handler_atom, const std::string& section, const caf::actor& handler) {
      self->monitor(handler);
      self->state.handlers[section] = handler;
      return ok_atom::value;
    },
    [self](gateway_atom, const caf::actor& gateway) {
      self->monitor(gateway);
      self->state.gateway = gateway;
      return ok_atom::value;
    },
    [self](stats_atom) { return self->state.stats(); },
  };
}

} // namespace

router_actor spawn_router(caf::actor_system& sys, router_config cfg) {
  return sys.spawn(router, std::move(cfg));
}

} // namespace cc
