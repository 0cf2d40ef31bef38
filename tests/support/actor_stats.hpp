// The counters of a running actor, asked the way the stats actor asks them
// ((stats_atom) -> counters), for actor tests on a real actor system. Bounded:
// an actor that does not answer within 10 s fails the check and gives empty
// counters.
#pragma once

#include <chrono>

#include <caf/actor.hpp>
#include <caf/scoped_actor.hpp>

#include <catch2/catch.hpp>

#include "actors/core/atoms.hpp"
#include "actors/core/types.hpp"

namespace cc::test {

inline cc::counters stats_of(caf::scoped_actor& self, const caf::actor& a) {
  cc::counters out;
  self->request(a, std::chrono::seconds{10}, cc::stats_atom::value)
    .receive([&](cc::counters& c) { out = std::move(c); },
             [&](caf::error& err) {
               FAIL_CHECK("stats request failed: " << caf::to_string(err));
             });
  return out;
}

} // namespace cc::test
