// Who acknowledges (`ack = auto`, the default of tailers and infosenders).
//
// Our writers (tailwriter, infowriter) acknowledge what a sender asks them
// to; the original CC's never do, and a sender that waits for acks from them
// resends, and the original writer appends every resend. So a sender with
// `ack = auto` waits for acks only when the handlers its message type routes
// to acknowledge: a writer in this process does; a forwarder does when its
// remote said so. A forwarder learns that at every connect from the pong to
// a probe (an echo.request): our servers answer with `acks` set, the
// original's answer has no such field, or there is no answer at all (no
// echo route there). See docs/wire.md §6.
//
// The same registry carries the one other capability a sender must know
// before it uses it: zstd on the wire (docs/wire.md §6.6). A tailer with
// `compression = zstd` sends zstd only while every handler of its message
// type takes it (our writers do; a forwarder when its remote's echo answer
// said `zstd: true`), else gzip.
//
// Owns: per handler section of this server generation, whether it is a
// writer and what a forwarder learned. Written by forwarders (their own
// thread) and read by senders (their own threads) and by the echo answers
// (router, echo handler): a mutex, held for a map lookup.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "config/config.hpp"
#include "config/reader.hpp"

namespace cc {

/// What a sender may expect of the handlers of its message type.
enum class peer_acks : int {
  unknown, // a forwarder has not heard from its remote yet
  yes,     // every ack-relevant handler acknowledges
  no,      // a remote that does not acknowledge (an original CC), or no writer
};

const char* to_string(peer_acks v);

class ack_registry {
public:
  /// Handler section `section` is one of our writers: it acknowledges.
  void add_writer(const std::string& section);
  /// What forwarder `section` knows of its remote now.
  void set_forwarder(const std::string& section, peer_acks v);
  /// Whether forwarder `section`'s remote takes zstd (yes/no/unknown).
  void set_forwarder_zstd(const std::string& section, peer_acks v);
  /// Where forwarder `section`'s transport says whether its data connection
  /// is up (transport::data_up; null: it has none).
  void set_forwarder_data(const std::string& section,
                          std::shared_ptr<const std::atomic<bool>> up);

  /// For the handler sections a message type routes to: no when a forwarder
  /// among them learned no, or none of them is a writer or a forwarder;
  /// unknown while a forwarder among them has not learned yet; else yes.
  peer_acks of(const std::vector<std::string>& sections) const;
  /// The same for zstd: no when a forwarder among them learned no (or none
  /// of them is a writer or forwarder); unknown while one has not learned.
  peer_acks zstd_of(const std::vector<std::string>& sections) const;
  /// Whether every handler section of them that takes part is a forwarder
  /// whose data connection is up now (false when none is, or a writer in
  /// this process is among them): a sender's file ranges then go by
  /// sendfile and wait in no queue as bytes (tailer: ack-window-ranges).
  bool data_up_of(const std::vector<std::string>& sections) const;

  /// The `acks` this server puts in its echo.response: a writer here, or a
  /// forwarder whose remote acknowledges.
  bool advertises() const;
  /// The `zstd` of this server's echo.response: every forwarder here learned
  /// that its remote takes zstd (our writers all do). Per server, not per
  /// message type: one forwarder to an original CC turns it off.
  bool advertises_zstd() const;

  /// Where the gateway publishes its data connection's port (0: none;
  /// actors/link/data_listen.hpp); one cell per process, shared by every
  /// generation's registry. The echo answer carries it as `data_port`.
  void set_data_offer(std::shared_ptr<const std::atomic<int>> port);
  int data_port() const;

private:
  std::shared_ptr<const std::atomic<int>> data_port_;  // set before use
  struct entry {
    bool writer = false;
    peer_acks learned = peer_acks::unknown; // forwarders only
    peer_acks zstd = peer_acks::unknown;    // forwarders only
    std::shared_ptr<const std::atomic<bool>> data_up; // forwarders only
  };
  peer_acks combine(const std::vector<std::string>& sections,
                    peer_acks entry::*field) const;
  mutable std::mutex mtx_;
  std::map<std::string, entry> sections_;
};

using ack_registry_ptr = std::shared_ptr<ack_registry>;

/// A sender's view with `ack = auto`: the registry's answer for the handler
/// sections of its message type. now() logs once, under `who`, when the
/// answer turns no (the guarantees that are lost) and when it turns yes
/// again after that.
/// What ack_view and zstd_view share: the handler sections of one message
/// type, who logs, and the last answer (so that a change is logged once).
class peer_view {
public:
  peer_view(std::shared_ptr<const ack_registry> registry,
            std::vector<std::string> sections, std::string who,
            std::string msg_type);

protected:
  /// Records `v` as the last answer; returns the one before it.
  peer_acks exchange(peer_acks v) const;

  std::shared_ptr<const ack_registry> registry_;
  std::vector<std::string> sections_;
  std::string who_;
  std::string msg_type_;

private:
  mutable std::atomic<int> last_{static_cast<int>(peer_acks::unknown)};
};

class ack_view : public peer_view {
public:
  using peer_view::peer_view;

  peer_acks now() const;
};

/// A tailer's view with `compression = zstd`: whether zstd may go now.
/// usable() logs once, under `who`, when the answer turns no (falling back
/// to gzip) and when it turns yes again after that.
class zstd_view : public peer_view {
public:
  using peer_view::peer_view;

  /// yes: send zstd. unknown (a forwarder has not heard yet) or no: gzip.
  bool usable() const;
};

/// A tailer's view of its message type's data connections: up() while
/// every forwarder it goes to has its data connection up
/// (ack_registry::data_up_of). No logging.
class data_view : public peer_view {
public:
  using peer_view::peer_view;

  bool up() const;
};

/// The view for daemon section `daemon` sending `msg_type`; nullptr without
/// a registry (tests: no data connection is known up).
std::shared_ptr<const data_view>
data_view_for(const config::section& daemon, const config::server_config& cfg,
              const std::string& msg_type,
              std::shared_ptr<const ack_registry> registry);

/// The view for daemon section `daemon` sending `msg_type` with compression
/// zstd; nullptr for other compressions and without a registry (tests: zstd
/// goes as configured).
std::shared_ptr<const zstd_view>
zstd_view_for(const config::section& daemon, const config::server_config& cfg,
              const std::string& msg_type,
              std::shared_ptr<const ack_registry> registry);

/// The view for daemon section `daemon` sending `msg_type`, when its `ack`
/// is `auto`; nullptr for `yes` and `no` (and without a registry: tests).
std::shared_ptr<const ack_view>
auto_ack_view(const config::section& daemon, const config::server_config& cfg,
              const std::string& msg_type,
              std::shared_ptr<const ack_registry> registry);

/// The `ack` option's value: auto (true) or a boolean (false).
bool is_auto_ack(const config::reader& daemon);
/// `ack = yes` or a true boolean: what a sender writes in `ack` and does
/// when the value is not auto. auto reads as yes.
bool ack_value(const config::reader& daemon);

} // namespace cc
