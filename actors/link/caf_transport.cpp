// The CAF transport and its link actor (contract: actors/link/caf_transport.hpp).
#include "actors/link/caf_transport.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <set>

#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>

#include "actors/core/router.hpp"
#include "actors/link/caf_listen.hpp"
#include "actors/link/range_loader.hpp"
#include "actors/link/zmq_transport.hpp"
#include "base/error.hpp"
#include "base/logger.hpp"

namespace cc {

namespace {

/// This actor's own timer: the next connect attempt is due (after the backoff).
using connect_atom = caf::atom_constant<caf::atom("connect")>;

using std::chrono::milliseconds;

constexpr milliseconds first_backoff{100};
constexpr milliseconds max_backoff{2000};
// The middleman answers a connect within the TCP and CAF handshakes; a peer
// that accepts and then says nothing must not hold the link forever.
constexpr auto connect_bound = std::chrono::seconds(30);
// An accepted request is answered when the remote router took the message;
// past this the message counts as lost and its room is given back (the
// tailer's ack window resends what matters).
constexpr auto answer_bound = std::chrono::minutes(5);
// Bytes in requests not yet answered. Each one costs its message (kept for a
// resend after a link loss) and CAF's serialized copy in the middleman's
// buffers: without this cap the whole queue-bytes went out at once and the
// local server doubled its memory (bench ours-caf: 82 MiB). Beyond it messages
// wait in `held`, still counted in the forwarder's queue-bytes.
constexpr uint64_t max_in_flight_bytes = 4ull << 20;

} // namespace

/// What the transport object and its link actor share.
struct caf_link_shared {
  caf_link_counters counters;
  std::mutex mtx;                 // guards drained
  std::promise<void> drained;     // set once when the link has finished
  bool drained_set = false;

  void finish() {
    std::lock_guard<std::mutex> guard{mtx};
    if (!drained_set) {
      drained_set = true;
      drained.set_value();
    }
  }
};

namespace {

using link_shared = caf_link_shared;

struct caf_link_state {
  std::string who;
  std::string host;
  uint16_t port = 0;
  std::string peer;               // "caf://host:port" for log lines
  bool tls = false;
  milliseconds linger{500};
  transport::callbacks cb;
  std::shared_ptr<link_shared> shared;
  std::shared_ptr<range_loader> loader; // reads a range as it is sent

  caf::actor remote;              // null while disconnected
  bool connecting = false;
  milliseconds backoff = first_backoff;
  std::deque<wire::cc_message> held;            // waiting for the link
  std::map<uint64_t, wire::cc_message> in_flight;  // by send order
  uint64_t in_flight_bytes = 0;
  uint64_t next_seq = 0;
  bool draining = false;
  log_limiter limiter{std::chrono::seconds{30}};

  ~caf_link_state() {
    if (shared)
      shared->finish();
  }

  void update_gauges() {
    shared->counters.in_flight = static_cast<int64_t>(in_flight.size());
    shared->counters.held = static_cast<int64_t>(held.size());
  }

  /// The link dropped: what was in flight goes back to the front of `held`
  /// in its order (resent after the reconnect; the tailwriter's fpos check
  /// makes a resent fragment harmless). Returns how many.
  size_t requeue_in_flight() {
    size_t n = in_flight.size();
    for (auto i = in_flight.rbegin(); i != in_flight.rend(); ++i)
      held.push_front(std::move(i->second));
    in_flight.clear();
    in_flight_bytes = 0;
    update_gauges();
    return n;
  }

  /// A request `seq` was answered (or given up): the room goes back.
  void settle(uint64_t seq) {
    auto i = in_flight.find(seq);
    if (i == in_flight.end())
      return; // requeued when the link dropped: a stale answer
    auto bytes = i->second.wire_size();
    in_flight_bytes -= std::min(in_flight_bytes, bytes);
    in_flight.erase(i);
    update_gauges();
    if (cb.on_sent)
      cb.on_sent(bytes);
  }

  bool idle() const { return held.empty() && in_flight.empty(); }
  /// Whether another request may go now (one always may when none is out).
  bool has_room() const {
    return in_flight.empty() || in_flight_bytes < max_in_flight_bytes;
  }
};

using caf_link_actor = caf::stateful_actor<caf_link_state>;

void finish_drain(caf_link_actor* self) {
  auto& st = self->state;
  if (!st.idle())
    log::warning(st.who, std::to_string(st.held.size() + st.in_flight.size()) +
                           " messages still unsent or unanswered by " +
                           st.peer + " after " +
                           std::to_string(st.linger.count()) +
                           " ms at shutdown: given up");
  st.shared->finish();
  self->quit();
}

void flush_held(caf_link_actor* self);

void send_one(caf_link_actor* self, wire::cc_message msg) {
  auto& st = self->state;
  // A fragment left in its source file (wire/file_range.hpp) waits in
  // `held` as a range, costing no memory, and is read here, once, as it
  // goes out (a lost link's requeue sends the bytes read).
  if (!st.loader->ready(msg))
    return;
  auto seq = st.next_seq++;
  auto& kept = st.in_flight.emplace(seq, std::move(msg)).first->second;
  st.in_flight_bytes += kept.wire_size();
  st.update_gauges();
  self->request(st.remote, answer_bound, dispatch_atom::value, kept)
    .then(
      [self, seq](ok_atom) {
        self->state.settle(seq);
        flush_held(self);
        if (self->state.draining && self->state.idle())
          finish_drain(self);
      },
      [self, seq](caf::error& err) {
        auto& st = self->state;
        if (st.in_flight.count(seq) == 0)
          return; // requeued: the answer of a dropped link
        ++st.shared->counters.remote_errors;
        if (auto n = st.limiter.admit("answer", log_limiter::clock::now()))
          log::warning(st.who, st.peer + " did not take a message: " +
                                 self->system().render(err) +
                                 (*n > 0 ? " (and " + std::to_string(*n) +
                                             " more)"
                                         : std::string{}));
        st.settle(seq);
        flush_held(self);
        if (st.draining && st.idle())
          finish_drain(self);
      });
}

void flush_held(caf_link_actor* self) {
  auto& st = self->state;
  while (st.remote && !st.held.empty() && st.has_room()) {
    auto msg = std::move(st.held.front());
    st.held.pop_front();
    send_one(self, std::move(msg));
  }
  st.update_gauges();
}

void schedule_reconnect(caf_link_actor* self) {
  auto& st = self->state;
  self->delayed_send(self, st.backoff, connect_atom::value);
  st.backoff = std::min(st.backoff * 2, max_backoff);
}

void try_connect(caf_link_actor* self) {
  auto& st = self->state;
  if (st.remote || st.connecting)
    return;
  st.connecting = true;
  auto& sys = self->system();
  auto mm = st.tls ? sys.openssl_manager().actor_handle()
                   : sys.middleman().actor_handle();
  self->request(mm, connect_bound, caf::connect_atom::value, st.host, st.port)
    .then(
      [self](caf::node_id&, caf::strong_actor_ptr& ptr,
             std::set<std::string>&) {
        auto& st = self->state;
        st.connecting = false;
        if (!ptr) {
          ++st.shared->counters.connect_failures;
          if (st.limiter.admit("connect", log_limiter::clock::now()))
            log::warning(st.who, "no actor published at " + st.peer +
                                   "; retrying");
          schedule_reconnect(self);
          return;
        }
        st.remote = caf::actor_cast<caf::actor>(std::move(ptr));
        self->monitor(st.remote);
        st.backoff = first_backoff;
        if (st.cb.on_link)
          st.cb.on_link(true, st.peer + (st.tls ? " (TLS)" : ""));
        flush_held(self);
      },
      [self](caf::error& err) {
        auto& st = self->state;
        st.connecting = false;
        ++st.shared->counters.connect_failures;
        if (auto n = st.limiter.admit("connect", log_limiter::clock::now()))
          log::warning(st.who,
                       "cannot connect to " + st.peer + ": " +
                         self->system().render(err) +
                         (st.tls ? " (TLS: is our certificate signed by the "
                                   "CA the peer trusts, and the peer's by "
                                   "our caf-cafile?)"
                                 : "") +
                         "; retrying with a backoff up to " +
                         std::to_string(max_backoff.count()) + " ms" +
                         (*n > 0 ? " (" + std::to_string(*n) +
                                     " failures since the last such line)"
                                 : std::string{}));
        if (st.draining)
          finish_drain(self);
        else
          schedule_reconnect(self);
      });
}

caf::behavior caf_link(caf_link_actor* self, caf_link_state init) {
  self->state = std::move(init);
  self->set_down_handler([self](const caf::down_msg& dm) {
    auto& st = self->state;
    if (!st.remote || dm.source != st.remote.address())
      return;
    st.remote = nullptr;
    ++st.shared->counters.links_lost;
    auto requeued = st.requeue_in_flight();
    st.shared->counters.requeued += static_cast<int64_t>(requeued);
    if (st.cb.on_link)
      st.cb.on_link(false, st.peer + ": " + self->system().render(dm.reason) +
                             (requeued > 0 ? "; " + std::to_string(requeued) +
                                               " unanswered messages are "
                                               "sent again after the "
                                               "reconnect"
                                           : std::string{}));
    if (st.draining) {
      finish_drain(self);
      return;
    }
    st.backoff = first_backoff;
    schedule_reconnect(self);
  });
  self->send(self, connect_atom::value);
  return {
    [self](dispatch_atom, wire::cc_message& msg) {
      auto& st = self->state;
      if (st.remote && st.held.empty() && st.has_room()) {
        send_one(self, std::move(msg));
      } else {
        st.held.push_back(std::move(msg));
        st.update_gauges();
      }
    },
    [self](reply_atom, wire::cc_message& msg) {
      if (self->state.cb.on_message)
        self->state.cb.on_message(std::move(msg));
    },
    [self](connect_atom) { try_connect(self); },
    [self](drain_atom) {
      auto& st = self->state;
      st.draining = true;
      if (st.idle() || !st.remote) {
        finish_drain(self);
        return;
      }
      self->delayed_send(self, st.linger, drain_atom::value, ok_atom::value);
    },
    [self](drain_atom, ok_atom) { finish_drain(self); },
  };
}

} // namespace

// -- caf_transport -----------------------------------------------------------------

caf_transport::caf_transport(caf::actor_system& sys, bool tls, int linger_ms,
                             std::string who)
  : sys_(sys), tls_(tls), linger_ms_(std::max(0, linger_ms)),
    who_(std::move(who)) {
  // connect() spawns the link actor.
}

caf_transport::~caf_transport() {
  close();
}

caf::error caf_transport::connect(const std::string& endpoint, callbacks cb) {
  if (link_)
    return make_error(errc::config_invalid,
                      who_ + ": the CAF link is already connected");
  constexpr std::string_view scheme = "caf://";
  if (endpoint.compare(0, scheme.size(), scheme) != 0)
    return make_error(errc::config_invalid,
                      who_ + ": remote-cc " + endpoint + ": not caf://");
  auto hp = parse_host_port(endpoint.substr(scheme.size()));
  if (!hp)
    return make_error(errc::config_invalid,
                      who_ + ": remote-cc " + endpoint + ": " +
                        describe(hp.error()));
  if (tls_ && !sys_.has_openssl_manager())
    return make_error(errc::config_invalid,
                      who_ + ": remote-cc " + endpoint +
                        ": TLS configured but CAF's OpenSSL module is not "
                        "loaded");
  auto shared = std::make_shared<link_shared>();
  caf_link_state init;
  init.who = who_;
  init.host = hp->first;
  init.port = hp->second;
  init.peer = endpoint;
  init.tls = tls_;
  init.linger = milliseconds{linger_ms_};
  init.loader = std::make_shared<range_loader>(
    who_, std::shared_ptr<std::atomic<int64_t>>{shared, &shared->counters.ranges_read},
    std::shared_ptr<std::atomic<int64_t>>{shared, &shared->counters.ranges_gone},
    cb.on_sent);
  init.cb = std::move(cb);
  init.shared = shared;
  shared_ = shared;
  link_ = sys_.spawn(caf_link, std::move(init));
  return caf::none;
}

void caf_transport::send(wire::cc_message msg) {
  if (!link_)
    return;
  caf::anon_send(link_, dispatch_atom::value, std::move(msg));
}

void caf_transport::close() {
  if (!link_)
    return;
  auto shared = shared_;
  auto done = [&] {
    std::lock_guard<std::mutex> guard{shared->mtx};
    return shared->drained.get_future();
  }();
  caf::anon_send(link_, drain_atom::value);
  // The link gives up after linger; the extra second covers a busy scheduler.
  if (done.wait_for(milliseconds{linger_ms_} + std::chrono::seconds(1)) !=
      std::future_status::ready)
    log::warning(who_, "the CAF link did not finish draining in time");
  caf::anon_send_exit(link_, caf::exit_reason::user_shutdown);
  link_ = nullptr;
}

void caf_transport::add_stats(counters& out) const {
  if (!shared_)
    return;
  const auto& c = shared_->counters;
  out["caf_connect_failures"] = c.connect_failures.load();
  out["caf_links_lost"] = c.links_lost.load();
  out["caf_remote_errors"] = c.remote_errors.load();
  out["caf_requeued"] = c.requeued.load();
  out["ranges_read"] = c.ranges_read.load();
  out["ranges_gone"] = c.ranges_gone.load();
  // Gauges under the names the stats actor knows as gauges.
  out["in_flight"] = c.in_flight.load();
  out["pending"] = c.held.load();
}

caf::expected<std::unique_ptr<transport>>
make_transport(caf::actor_system& sys, const config::section& main,
               const std::string& endpoint, const zmq_options& opts,
               std::string who) {
  if (endpoint.compare(0, 6, "caf://") != 0)
    return make_transport(endpoint, opts, std::move(who));
  auto tls = caf_tls_settings_of(main).enabled();
  return std::unique_ptr<transport>{
    new caf_transport(sys, tls, opts.linger_ms, std::move(who))};
}

} // namespace cc
