// The options of a logtail daemon section ([d:...], module = logtail), as
// the tailer uses them, and how they are read from a validated section.
// Every field bound to a key is filled through config::reader, so its
// default is the schema's (a default-constructed struct holds the values an
// empty section resolves to); the fields after job_name are the tailer's
// own constants, not options.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <caf/expected.hpp>

#include "actors/core/ack_caps.hpp"
#include "actors/core/direct_lanes.hpp"
#include "config/config.hpp"
#include "config/reader.hpp"
#include "wire/codec.hpp"

namespace cc {

namespace tail {
class ack_progress;
}

/// The tailer's options, read once from its [d:...] section.
struct tailer_options {
  enum class mode { classic, rotated };

  /// The schema's defaults (config::reader::defaults("logtail")).
  tailer_options();

  mode op{};
  std::string op_mode;        // operation-mode as written ("" when unset)
  std::string logdir;
  std::string logmask;        // classic
  std::string logname;        // rotated
  bool binary{};              // file-mode = binary
  uint64_t lag_max_bytes{};   // 0: never skip
  /// Largest fragment (uncompressed bytes): buffer-bytes, or ack_window
  /// when that is 0 (no byte limit of its own). The loader raised it to at
  /// least 64 KiB with compression.
  uint64_t fragment_bytes{};
  int64_t fragment_lines{};   // 0: no line limit
  wire::compression comp{};
  int comp_level{};
  /// compression = zstd: whether every peer takes it now (else gzip is sent;
  /// actors/core/ack_caps.hpp); set by the spawner. Null: zstd as configured.
  std::shared_ptr<const zstd_view> zstd_peers;
  std::string msg_type;       // pub.logtail[.msg-suffix]
  bool use_blob{};
  /// Large uncompressed fragments as file ranges (sendfile, tail_send.cpp).
  bool sendfile{};
  bool ack{};                 // ack = yes (or auto), as sent in `ack`
  /// ack = auto: whether the route acknowledges (actors/core/ack_caps.hpp); set
  /// by the spawner, which knows the routes. Null: `ack` decides alone.
  std::shared_ptr<const ack_view> auto_acks;
  uint64_t ack_window{};
  /// The window while the fragments are file ranges and the data
  /// connection is up (tail_core::window); ack_window when smaller.
  uint64_t ack_window_ranges{};
  /// Whether the forwarders of msg_type have their data connection up
  /// (actors/core/ack_caps.hpp); set by the spawner. Null: never (ack_window).
  std::shared_ptr<const data_view> data_lanes;
  /// The process's direct lanes (actors/core/direct_lanes.hpp): a fragment
  /// goes past the router when the one handler of msg_type takes it there
  /// (a forwarder's door, with its data connection up). Set by the spawner;
  /// null: always the router.
  direct_lanes_ptr lanes;
  std::chrono::milliseconds ack_timeout{};
  /// The acks of the process's tailers of msg_type (ack_progress.hpp): no
  /// resend while the central is still acknowledging fragments sent before
  /// the one waiting. Set by the spawner; null: the timeout alone decides.
  std::shared_ptr<tail::ack_progress> ack_clock;
  std::chrono::milliseconds poll_interval{};
  std::chrono::milliseconds idle_flush{};
  /// The .save file lags the acknowledged position at most this long while
  /// acks keep coming (tail_core::save_due).
  std::chrono::milliseconds save_interval{};
  /// Background verify of the open generation against its copy; 0: never.
  std::chrono::milliseconds verify_period{};
  std::string hostname;
  /// This server's identity as a source ([ccserver] source-id): one copy is
  /// written by one source only. "" sends none (as the original).
  std::string source_id;
  std::string save_file;
  bool inotify{};
  std::string job_name;       // registered with the router; names the route
  /// Requests to the router in flight at once (back-pressure).
  int max_outstanding = 4;
  /// Pause after the router refused a fragment (no_route, queue_full).
  std::chrono::milliseconds retry_delay{500};
  /// Pause between the two looks at an exhausted file for late writes.
  std::chrono::milliseconds probe_interval{100};
  /// How often an exhausted file is looked at again before switching.
  int probes = 2;

  /// The logdir/logname path of rotated mode.
  std::string rotated_path() const;
};

/// The compression of the next fragment: `comp`, except zstd while a peer
/// does not take it (then gzip; zstd_peers logs the change).
wire::compression wire_compression(const tailer_options& o);

/// Reads a logtail section validated by the loader (or built by hand: a
/// key it lacks reads as the schema's default). errc::config_invalid
/// naming the section and key when logdir or save-file is missing.
caf::expected<tailer_options> make_tailer_options(const config::section& sec);

} // namespace cc
