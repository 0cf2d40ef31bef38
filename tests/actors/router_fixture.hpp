// Shared by router_test, locallogger_test and stats_test: an actor system on
// CAF 0.17's test coordinator (deterministic: nothing runs until the test calls
// sched.run(); time moves only by advance_time), and small real actors used as
// handlers, endpoints and gateways that record what they get. Everything is in
// an anonymous namespace so other test files may define their own fixtures.
#pragma once

#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/send.hpp>

#include "actors/core/atoms.hpp"
#include "actors/core/types.hpp"
#include "base/error.hpp"
#include "wire/message.hpp"

namespace {

inline caf::actor_system_config& testing_config(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("testing"));
  cc::register_types(cfg);
  return cfg;
}

struct actor_fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  std::vector<caf::actor> spawned;  // ended by the destructor

  actor_fixture()
    : sys(testing_config(cfg)),
      sched(dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())) {
  }

  ~actor_fixture() {
    for (auto& a : spawned)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    sched.run();
    sys.await_actors_before_shutdown(false);
  }

  caf::actor keep(caf::actor a) {
    spawned.push_back(a);
    return a;
  }
  /// A typed handle (the router) kept the same way; tests talk to it
  /// untyped (malformed messages included).
  template <class... Sigs>
  caf::actor keep(caf::typed_actor<Sigs...> a) {
    return keep(caf::actor_cast<caf::actor>(std::move(a)));
  }

  /// Runs every pending message; returns how many ran.
  size_t run() { return sched.run(); }
};

/// What a recording actor received.
struct record {
  std::vector<cc::wire::cc_message> dispatched;  // (dispatch_atom, msg)
  std::vector<cc::wire::cc_message> replies;     // (reply_atom, msg)
};

/// A handler / endpoint / gateway stand-in that records and accepts.
inline caf::behavior recorder(caf::event_based_actor*, std::shared_ptr<record> rec) {
  return {
    [rec](cc::dispatch_atom, const cc::wire::cc_message& m) {
      rec->dispatched.push_back(m);
      return cc::ok_atom::value;
    },
    [rec](cc::reply_atom, const cc::wire::cc_message& m) {
      rec->replies.push_back(m);
    },
  };
}

/// A handler whose queue is "full": it holds each request's answer until it
/// gets (flush_atom), the way a forwarder delays its answer.
struct held_answers {
  size_t received = 0;
  std::vector<caf::response_promise> promises;
};

inline caf::behavior slow_handler(caf::event_based_actor* self,
                           std::shared_ptr<held_answers> held) {
  return {
    [self, held](cc::dispatch_atom, const cc::wire::cc_message&) {
      ++held->received;
      held->promises.push_back(self->make_response_promise());
    },
    [held](cc::flush_atom) {
      for (auto& p : held->promises)
        p.deliver(cc::ok_atom::value);
      held->promises.clear();
    },
  };
}

/// A handler that refuses everything with errc::queue_full.
inline caf::behavior refusing_handler(caf::event_based_actor*) {
  return {
    [](cc::dispatch_atom, const cc::wire::cc_message&) -> caf::result<cc::ok_atom> {
      return cc::make_error(cc::errc::queue_full, "test handler is full");
    },
  };
}

/// The answer to a request made by ask().
template <class T>
struct answer {
  bool done = false;
  std::optional<T> value;
  caf::error error;
};

/// Sends `xs...` to `dest` as a request from a fresh event-based actor and
/// records the answer; run the scheduler to get it.
template <class T, class... Ts>
std::shared_ptr<answer<T>> ask(caf::actor_system& sys, caf::actor dest, Ts... xs) {
  auto out = std::make_shared<answer<T>>();
  sys.spawn([out, dest, xs...](caf::event_based_actor* self) {
    self->request(dest, caf::infinite, xs...)
      .then(
        [out](const T& v) {
          out->done = true;
          out->value = v;
        },
        [out](caf::error& e) {
          out->done = true;
          out->error = std::move(e);
        });
  });
  return out;
}

inline cc::wire::cc_message make_msg(std::string type, std::string body = "{}",
                              std::vector<std::string> route = {},
                              cc::wire::blob_ptr blob = nullptr) {
  cc::wire::cc_message m;
  m.route = std::move(route);
  m.type = std::move(type);
  m.body = std::move(body);
  m.blob = std::move(blob);
  return m;
}

/// The errc of `err` when it is one of ours, else errc::none.
inline cc::errc code_of(const caf::error& err) {
  if (err.category() != cc::error_category)
    return cc::errc::none;
  return static_cast<cc::errc>(err.code());
}

inline std::string read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

/// How many lines of `text` contain `needle`.
inline size_t count_lines_with(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (auto& line : lines_of(text))
    if (line.find(needle) != std::string::npos)
      ++n;
  return n;
}

} // namespace
