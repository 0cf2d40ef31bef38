// The infosender (daemon kind infosender, cc.daemon.infosender): sends whole
// info files as pub.infofile whenever they changed and settled.
//
// The original's rule: every second it looks at infodir/infomask; a file goes
// out once its mtime and size stayed the same for a whole look (files found
// at start included), and again only after it changed and settled again. A
// file whose size or mtime changes while it is read is not sent (it is not
// settled). With inotify a change is seen when it happens, so a file goes
// out one second after its last change; without, one to two seconds.
//
// With acknowledgements (ack = yes, or auto towards our infowriter) every
// file asks for an infofile.ack; the version (mtime, size) the writer
// confirmed is saved (one position per file in `<save-file>.d`, written by
// the process's position saver), so after a restart only files that changed
// or were never confirmed are sent; an unconfirmed file is sent again after
// ack-timeout (doubling while none comes). Without (ack = no, or auto
// towards an original CC) it behaves as the original: sent once, nothing
// saved, everything sent again at start.
//
// Owns: what it knows of each file (tracked), the inotify thread.
// Takes:  (reply_atom, cc_message infofile.ack)
//         (wake_atom)    inotify: the directory changed
//         (scan_atom)    internal: the once-a-second look
//         (flush_atom)   one-shot timer: a file settles
//         (maint_atom)   maint-period: forget files that are gone
//         (stats_atom)   -> counters: files_sent, bytes_read, bytes_sent,
//             acked, resends, changed_while_read, too_large, read_errors,
//             send_errors, refused, write_errors, denied (`denied` answers:
//             this server's key may not write the host), stale_acks, forgotten;
//             gauges pending (changed, not yet sent) and in_flight (sent,
//             not yet acknowledged)
// Sends:  router <- (register_atom, job_name, self) once at start
//         router <- request (dispatch_atom, pub.infofile[.suffix]), at most
//             max_outstanding at a time; an error answer: sent again later.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "actors/core/router_actor.hpp"
#include "actors/core/ack_caps.hpp"
#include "config/config.hpp"
#include "wire/codec.hpp"

namespace cc {

/// An infosender section's options. The fields bound to keys are filled
/// through config::reader (schema defaults); scan_period and below are the
/// sender's own constants.
struct infosender_options {
  /// The schema's defaults (config::reader::defaults("infosender")).
  infosender_options();

  std::string infodir;
  std::string infomask;
  wire::compression comp{};
  std::string comp_name;          // sent as `comp`, as configured
  int comp_level{};               // 0: the format's default
  std::string msg_type;           // pub.infofile[.msg-suffix]
  bool use_blob{};
  std::chrono::milliseconds maint_period{};
  bool ack{};                     // ack = yes (or auto), as sent in `ack`
  /// ack = auto: whether the route acknowledges; set by the spawner.
  std::shared_ptr<const ack_view> auto_acks;
  std::chrono::milliseconds ack_timeout{};
  uint64_t max_file_bytes{};
  bool inotify{};
  std::string hostname;
  std::string save_dir;           // <save-file>.d
  std::string job_name;           // registered with the router
  /// The original's look, once a second, and how long a file must stay
  /// the same before it goes (one whole look).
  std::chrono::milliseconds scan_period{1000};
  std::chrono::milliseconds settle{1000};
  int max_outstanding = 4;
};

/// Reads a validated infosender section (a key it lacks reads as the
/// schema's default); errc::config_invalid when infodir, infomask or
/// save-file is missing.
caf::expected<infosender_options>
make_infosender_options(const config::section& sec);

caf::actor spawn_infosender_actor(caf::actor_system& sys,
                                  infosender_options opts, router_actor router);

/// What the jobmgr calls: options from `sec`, ack = auto resolved through
/// `acks` for the routes of `cfg`.
caf::expected<caf::actor>
spawn_infosender_daemon(caf::actor_system& sys, const config::server_config& cfg,
                        const config::section& sec, router_actor router,
                        std::shared_ptr<const ack_registry> acks);

} // namespace cc
