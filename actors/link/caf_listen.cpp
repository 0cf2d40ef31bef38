// The CAF gateway (contract: actors/link/caf_listen.hpp).
#include "actors/link/caf_listen.hpp"

#include <cstdlib>
#include <memory>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>

#include "base/error.hpp"
#include "base/logger.hpp"

namespace cc {

namespace {

constexpr std::string_view who = "caf-listen";

} // namespace

caf::expected<std::pair<std::string, uint16_t>>
parse_host_port(const std::string& text) {
  auto bad = [&](const char* why) {
    return make_error(errc::config_invalid,
                      "'" + text + "' " + why + "; expected HOST:PORT");
  };
  auto colon = text.rfind(':');
  if (colon == std::string::npos)
    return bad("has no port");
  auto host = text.substr(0, colon);
  auto port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty())
    return bad("has no host");
  if (port_text.empty() || port_text.size() > 5 ||
      port_text.find_first_not_of("0123456789") != std::string::npos)
    return bad("has no port number");
  auto port = std::atol(port_text.c_str());
  if (port < 1 || port > 65535)
    return bad("has a port outside 1..65535");
  return std::make_pair(host, static_cast<uint16_t>(port));
}

caf_tls_settings caf_tls_settings_of(const config::section& main) {
  caf_tls_settings tls;
  tls.certificate = main.file("caf-certificate");
  tls.key = main.file("caf-key");
  tls.cafile = main.file("caf-cafile");
  return tls;
}

caf::error check_caf_tls_files(const caf_tls_settings& tls) {
  if (!tls.enabled())
    return caf::none;
  auto failed = [](const std::string& key, const std::string& path) {
    std::string why;
    while (auto code = ERR_get_error()) {
      char buf[256];
      ERR_error_string_n(code, buf, sizeof(buf));
      why += why.empty() ? buf : std::string{"; "} + buf;
    }
    return make_error(errc::config_invalid,
                      "[ccserver] " + key + " " + path + ": " +
                        (why.empty() ? "cannot be loaded" : why));
  };
  std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> ctx{SSL_CTX_new(TLS_method()),
                                                   SSL_CTX_free};
  if (!ctx)
    return failed("caf-certificate", "(no OpenSSL context)");
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), tls.certificate.c_str()) !=
      1)
    return failed("caf-certificate", tls.certificate);
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), tls.key.c_str(),
                                  SSL_FILETYPE_PEM) != 1)
    return failed("caf-key", tls.key);
  if (SSL_CTX_check_private_key(ctx.get()) != 1)
    return failed("caf-key", tls.key + " (does not match caf-certificate)");
  if (SSL_CTX_load_verify_locations(ctx.get(), tls.cafile.c_str(), nullptr) !=
      1)
    return failed("caf-cafile", tls.cafile);
  return caf::none;
}

// -- caf_listen_state ------------------------------------------------------------

std::string caf_listen_state::frame_of(const caf::actor& sender, bool& fresh) {
  auto i = frames.find(sender.address());
  if (i != frames.end()) {
    fresh = false;
    return i->second;
  }
  fresh = true;
  // Node and actor id name the remote actor uniquely, also across restarts
  // of either side (the node id includes the process id).
  auto frame = wire::local_route_frame("caf:" + to_string(sender.node()) +
                                       "/" + std::to_string(sender.id()));
  frames.emplace(sender.address(), frame);
  peers.emplace(frame, sender);
  return frame;
}

void caf_listen_state::push_route(wire::cc_message& msg,
                                  const std::string& peer_frame) const {
  msg.route.insert(msg.route.begin(), {own_frame, peer_frame});
}

caf::actor caf_listen_state::reply_target(wire::cc_message& msg) {
  ++replies;
  if (msg.route.empty()) {
    ++undeliverable;
    return {};
  }
  auto i = peers.find(msg.route.front());
  if (i == peers.end()) {
    ++undeliverable;
    log::debug(who, "reply " + msg.type + " for a peer that is gone, dropped");
    return {};
  }
  msg.route.erase(msg.route.begin());
  return i->second;
}

bool caf_listen_state::forget(const caf::actor_addr& gone) {
  auto i = frames.find(gone);
  if (i == frames.end())
    return false;
  peers.erase(i->second);
  frames.erase(i);
  ++peers_lost;
  return true;
}

counters caf_listen_state::stats() const {
  return {{"received", received},
          {"bytes_in", bytes_in},
          {"replies", replies},
          {"undeliverable", undeliverable},
          {"connected", static_cast<int64_t>(peers.size())},
          {"peers_lost", peers_lost},
          {"refused", refused},
          {"pending", static_cast<int64_t>(held.size())}};
}

// -- the actor -------------------------------------------------------------------

namespace {

using caf_listen_actor = caf::stateful_actor<caf_listen_state>;

// Only dispatch_atom is for peers. Everything else (router_atom, reply_atom,
// stats_atom) must come from this node: a peer could otherwise re-point or
// pause our router, or hand replies to other peers.
bool from_this_node(caf_listen_actor* self) {
  auto& sender = self->current_sender();
  if (!sender || sender->node() == self->node())
    return true;
  ++self->state.refused;
  if (auto n = self->state.refused_log.admit("refused",
                                             log_limiter::clock::now()))
    log::warning(who, "refused a control message from remote " +
                        to_string(sender->node()) +
                        (*n > 0 ? " (and " + std::to_string(*n) + " more)"
                                : std::string{}));
  return false;
}

// Hands one message to the router; its answer goes to whoever asked us.
void pass_on(caf_listen_actor* self, wire::cc_message msg,
             caf::response_promise promise) {
  self->request(self->state.router, caf::infinite, dispatch_atom::value,
                std::move(msg))
    .then([promise](ok_atom) mutable { promise.deliver(ok_atom::value); },
          [promise](caf::error& err) mutable {
            promise.deliver(std::move(err));
          });
}

caf::behavior caf_listen(caf_listen_actor* self) {
  self->set_down_handler([self](const caf::down_msg& dm) {
    auto& st = self->state;
    if (st.forget(dm.source)) {
      log::info(who, "peer " + to_string(dm.source) + " is gone (" +
                       self->system().render(dm.reason) + ")");
      return;
    }
    if (st.router && dm.source == st.router.address())
      st.router = nullptr; // main stops us or hands us the next one
  });
  return {
    [self](dispatch_atom, wire::cc_message& msg) -> caf::result<ok_atom> {
      auto& st = self->state;
      ++st.received;
      st.bytes_in += static_cast<int64_t>(msg.wire_size());
      auto sender = caf::actor_cast<caf::actor>(self->current_sender());
      auto promise = self->make_response_promise();
      if (!sender) {
        // Nobody to reply to: route it without our frames.
        log::debug(who, "anonymous " + msg.type + " routed without a route");
      } else {
        bool fresh = false;
        auto frame = st.frame_of(sender, fresh);
        if (fresh) {
          self->monitor(sender);
          log::info(who, "new peer " + to_string(sender.address()));
        }
        st.push_route(msg, frame);
      }
      if (!st.router)
        st.held.emplace_back(std::move(msg), promise);
      else
        pass_on(self, std::move(msg), promise);
      return promise;
    },
    [self](reply_atom, wire::cc_message& msg) {
      if (!from_this_node(self))
        return;
      if (auto dest = self->state.reply_target(msg))
        self->send(dest, reply_atom::value, std::move(msg));
    },
    [self](router_atom, const caf::actor& router) -> caf::result<ok_atom> {
      if (!from_this_node(self))
        return make_error(errc::unavailable, "caf-listen: not for peers");
      auto& st = self->state;
      st.router = caf::actor_cast<router_actor>(router);
      if (!router)
        return ok_atom::value;
      self->monitor(router);
      auto promise = self->make_response_promise();
      self
        ->request(router, caf::infinite, register_atom::value,
                  std::string{caf_listen_endpoint},
                  caf::actor_cast<caf::actor>(self))
        .then(
          [self, promise](ok_atom) mutable {
            auto held = std::move(self->state.held);
            self->state.held.clear();
            for (auto& [msg, rp] : held)
              pass_on(self, std::move(msg), std::move(rp));
            promise.deliver(ok_atom::value);
          },
          [promise](caf::error& err) mutable {
            promise.deliver(std::move(err));
          });
      return promise;
    },
    [self](stats_atom) -> caf::result<counters> {
      if (!from_this_node(self))
        return make_error(errc::unavailable, "caf-listen: not for peers");
      return self->state.stats();
    },
  };
}

} // namespace

caf::expected<caf::actor> spawn_caf_listen(caf::actor_system& sys,
                                           const config::section& main) {
  auto address = main.str("caf-listen");
  auto hp = parse_host_port(address);
  if (!hp)
    return make_error(errc::config_invalid,
                      "caf-listen: " + describe(hp.error()));
  auto tls = caf_tls_settings_of(main);
  auto gw = sys.spawn(caf_listen);
  const char* host = hp->first.c_str();
  auto published = tls.enabled()
                     ? caf::openssl::publish(gw, hp->second, host, true)
                     : sys.middleman().publish(gw, hp->second, host, true);
  if (!published) {
    caf::anon_send_exit(gw, caf::exit_reason::user_shutdown);
    return make_error(errc::io, "caf-listen " + address + ": cannot publish: " +
                                  sys.render(published.error()));
  }
  log::info(who, std::string{"listening on "} + address +
                   (tls.enabled() ? " (TLS, peers need a certificate of " +
                                      tls.cafile + ")"
                                  : " (plain CAF, no TLS)"));
  return gw;
}

} // namespace cc
