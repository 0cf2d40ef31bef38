// The infosender actor; the contract is in infosender.hpp.
//
// Per file: `seen` is its stat at the last look and `seen_since` when that
// stat was first observed; `pending` says it changed since it was last
// sent. A pending file goes once its stat has been the same for `settle`.
// `in_flight` is the version sent and not yet acknowledged, `confirmed` the
// last one the writer acknowledged (saved across restarts).
#include "actors/tail/infosender.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <set>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/core/atoms.hpp"
#include "actors/tail/file_watch.hpp"
#include "actors/tail/log_files.hpp"
#include "actors/tail/position.hpp"
#include "actors/tail/position_saver.hpp"
#include "base/error.hpp"
#include "base/files.hpp"
#include "base/logger.hpp"
#include "base/thread_name.hpp"
#include "wire/base64.hpp"
#include "wire/bodies.hpp"
#include "wire/message.hpp"

namespace cc {

namespace {

/// This actor's own timer: the next look at infodir is due (every second).
using scan_atom = caf::atom_constant<caf::atom("scan")>;

using steady = std::chrono::steady_clock;
using ms = std::chrono::milliseconds;

/// The ack timeout doubles per timeout up to this many times ack-timeout.
constexpr int max_ack_backoff = 8;
/// Pause after the router refused a file (no route, a full queue).
constexpr ms retry_delay{1000};

/// One version of an info file: what its stat says.
struct version {
  uint64_t st_dev = 0;
  uint64_t st_ino = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;

  friend bool operator==(const version& x, const version& y) {
    return x.st_dev == y.st_dev && x.st_ino == y.st_ino && x.size == y.size &&
           x.mtime_ns == y.mtime_ns;
  }
  friend bool operator!=(const version& x, const version& y) {
    return !(x == y);
  }
};

version version_of(const tail::file_id& id) {
  return {id.st_dev, id.st_ino, id.size, id.mtime_ns};
}

/// What the infosender knows of one file.
struct tracked {
  version seen;
  steady::time_point seen_since;
  bool pending = true;
  std::optional<version> in_flight;
  steady::time_point sent_at;
  ms timeout{0};
  std::optional<version> confirmed;
  bool trouble_logged = false; // a read or write problem, once per episode
};

/// A confirmed version as a position (actors/tail/position.hpp): the file's
/// path, device and inode, its mtime in nanoseconds as the generation id,
/// its size as the offset.
tail::position position_of(const std::string& path, const version& v) {
  tail::position pos;
  pos.filename = path;
  pos.st_dev = v.st_dev;
  pos.st_ino = v.st_ino;
  pos.gen = cc::hex64(static_cast<uint64_t>(v.mtime_ns));
  pos.offset = v.size;
  return pos;
}

std::optional<version> version_from(const tail::position& pos) {
  auto mtime = cc::parse_hex64(pos.gen);
  if (!mtime || !pos.has_identity)
    return std::nullopt;
  return version{pos.st_dev, pos.st_ino, pos.offset, static_cast<int64_t>(*mtime)};
}

struct infosender_state {
  static inline const char* name = "infosender";

  caf::stateful_actor<infosender_state>* self;
  infosender_options opts;
  router_actor router;
  std::unique_ptr<tail::file_watch> watch;
  bool watch_failed_logged = false;
  std::shared_ptr<tail::position_saver> saver;
  std::set<std::string> saved_paths;          // stored in this run
  std::map<std::string, version> saved;       // loaded at start, by file
  std::map<std::string, tracked> files;       // by path
  int outstanding = 0;
  steady::time_point retry_until;
  bool send_failing = false;
  bool listing_failed = false;
  std::optional<steady::time_point> timer_at;

  counters stats{{"files_sent", 0},  {"bytes_read", 0},   {"bytes_sent", 0},
                 {"acked", 0},       {"resends", 0},      {"changed_while_read", 0},
                 {"too_large", 0},   {"read_errors", 0},  {"send_errors", 0},
                 {"refused", 0},     {"write_errors", 0}, {"stale_acks", 0},
                 {"denied", 0},      {"forgotten", 0}};

  explicit infosender_state(caf::stateful_actor<infosender_state>* ptr)
    : self(ptr) {
  }

  ~infosender_state() {
    watch.reset();
    // What the writer confirmed is on disk before the jobmgr hears of our
    // end: a restarted infosender reads it.
    if (saver)
      for (const auto& path : saved_paths)
        saver->flush(path);
  }

  const std::string& who() const { return opts.job_name; }

  steady::time_point now() const { return steady::now(); }

  /// yes / no as configured; ack = auto as the route's forwarder learned
  /// (unknown: wait for acks, but send nothing again).
  peer_acks acks() const {
    if (opts.auto_acks)
      return opts.auto_acks->now();
    return opts.ack ? peer_acks::yes : peer_acks::no;
  }

  std::string save_path(const std::string& file) const {
    return tail::join_path(opts.save_dir, cc::hex64(cc::fnv1a64(file)) + ".save");
  }

  // -- start-up -----------------------------------------------------------------

  void start() {
    log::info(who(), "sending " + tail::join_path(opts.infodir, opts.infomask) +
                       " as " + opts.msg_type +
                       (opts.ack ? ", confirmed versions in " + opts.save_dir
                                 : std::string{", without acknowledgements"}));
    ensure_watch();
    if (opts.ack) {
      saver = tail::position_saver::shared();
      load_saved();
    }
    scan();
  }

  void load_saved() {
    auto listing = tail::list_log_files(opts.save_dir, "*.save");
    if (!listing) {
      log::warning(who(), describe(listing.error()));
      return;
    }
    for (const auto& path : *listing) {
      saver->flush(path); // a predecessor in this process may still write it
      auto pos = tail::load_position(path);
      if (!pos || !*pos) {
        if (!pos)
          log::warning(who(), describe(pos.error()) + "; ignored");
        continue;
      }
      if (auto v = version_from(**pos))
        saved[(*pos)->filename] = *v;
    }
  }

  void ensure_watch() {
    if (!opts.inotify || watch)
      return;
    auto w = tail::file_watch::start(caf::actor{self}, opts.infodir);
    if (!w) {
      if (!watch_failed_logged)
        log::warning(who(), describe(w.error()) + "; looking once a second");
      watch_failed_logged = true;
      return;
    }
    watch = std::move(*w);
  }

  // -- looking at the files -------------------------------------------------------

  /// Stats every file of infodir/infomask; a new or changed stat starts the
  /// file's settling time now.
  void scan() {
    auto listing = tail::list_log_files(opts.infodir, opts.infomask);
    if (!listing) {
      if (!listing_failed)
        log::warning(who(), describe(listing.error()));
      listing_failed = true;
      return;
    }
    listing_failed = false;
    auto t = now();
    for (const auto& path : *listing) {
      auto id = tail::stat_file(path);
      if (!id || !*id) {
        if (!id)
          log::info(who(), describe(id.error()));
        continue;
      }
      auto v = version_of(**id);
      auto [it, fresh] = files.try_emplace(path);
      auto& f = it->second;
      if (fresh) {
        f.seen = v;
        f.seen_since = t;
        auto s = saved.find(path);
        if (s != saved.end())
          f.confirmed = s->second;
        f.pending = !(f.confirmed && *f.confirmed == v);
      } else if (f.seen != v) {
        f.seen = v;
        f.seen_since = t;
        f.pending = true;
      }
    }
  }

  bool settled(const tracked& f, steady::time_point t) const {
    return t - f.seen_since >= opts.settle;
  }

  /// Sends every pending file that settled, within max_outstanding.
  void send_settled() {
    auto t = now();
    if (t < retry_until)
      return;
    for (auto& [path, f] : files) {
      if (outstanding >= opts.max_outstanding)
        return;
      if (f.pending && settled(f, t))
        send_file(path, f, t);
    }
  }

  /// Reads `path` and sends it, unless it is not settled after all (its
  /// stat moved, it changed while read), too large or unreadable.
  void send_file(const std::string& path, tracked& f, steady::time_point t) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
      read_trouble(f, errno_text("open", path));
      return;
    }
    std::string content;
    auto read = read_settled(fd, path, f, t, content);
    ::close(fd);
    if (!read)
      return;
    f.trouble_logged = false;
    stats["bytes_read"] += static_cast<int64_t>(content.size());
    auto packed = wire::compress(content, opts.comp, opts.comp_level);
    if (!packed) {
      log::error(who(), path + ": " + describe(packed.error()));
      f.pending = false;
      return;
    }
    dispatch(path, f, *read, std::move(*packed));
  }

  /// The version read into `content`, or nullopt when the file is not
  /// settled (its stat moved, it changed while read: counted), too large
  /// or unreadable.
  std::optional<version> read_settled(int fd, const std::string& path,
                                      tracked& f, steady::time_point t,
                                      std::string& content) {
    auto before = tail::stat_fd(fd, path);
    if (!before) {
      read_trouble(f, describe(before.error()));
      return std::nullopt;
    }
    auto v = version_of(*before);
    if (v != f.seen) {
      f.seen = v;
      f.seen_since = t;
      return std::nullopt;
    }
    if (v.size > opts.max_file_bytes) {
      stats["too_large"] += 1;
      log::warning(who(), path + ": " + std::to_string(v.size) +
                            " bytes, above max-file-bytes (" +
                            std::to_string(opts.max_file_bytes) +
                            "); not sent until it changes");
      f.pending = false;
      return std::nullopt;
    }
    content.resize(v.size);
    size_t got = 0;
    for (;;) {
      // One byte more than the size: a file that grew is seen here.
      if (got == content.size())
        content.resize(got + 1);
      auto n = ::pread(fd, content.data() + got, content.size() - got,
                       static_cast<off_t>(got));
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0) {
        read_trouble(f, errno_text("read", path));
        return std::nullopt;
      }
      if (n == 0)
        break;
      got += static_cast<size_t>(n);
      if (got > v.size)
        break;
    }
    content.resize(std::min<size_t>(got, v.size + 1));
    auto after = tail::stat_fd(fd, path);
    if (got != v.size || !after || version_of(*after) != v) {
      stats["changed_while_read"] += 1;
      if (after)
        f.seen = version_of(*after);
      f.seen_since = t;
      return std::nullopt;
    }
    return v;
  }

  void read_trouble(tracked& f, const std::string& what) {
    stats["read_errors"] += 1;
    if (!f.trouble_logged)
      log::warning(who(), what + "; trying again when it changes");
    f.trouble_logged = true;
    f.pending = false; // a vanished file is forgotten at maintenance
  }

  void dispatch(const std::string& path, tracked& f, const version& v,
                std::string packed) {
    wire::infofile_body body;
    body.hdr.req = opts.msg_type;
    body.hdr.time = wire::now_seconds();
    body.hdr.hostname = opts.hostname;
    body.filename = path;
    std::replace(body.filename.begin(), body.filename.end(), '\\', '/');
    body.mtime = wire::seconds_of_ns(v.mtime_ns);
    body.mtime_ns = v.mtime_ns;
    body.comp = opts.comp_name;
    body.ack = opts.ack;
    wire::cc_message msg;
    auto size = packed.size();
    if (opts.use_blob)
      msg.blob = wire::blob::from_string(std::move(packed));
    else
      body.data = wire::base64_encode(packed);
    msg.route.push_back(wire::local_route_frame(opts.job_name));
    msg.type = opts.msg_type;
    msg.body = wire::make_body(body);
    f.pending = false;
    if (acks() != peer_acks::no) {
      f.in_flight = v;
      f.sent_at = now();
      f.timeout = std::max(f.timeout, opts.ack_timeout);
    }
    ++outstanding;
    stats["files_sent"] += 1;
    stats["bytes_sent"] += static_cast<int64_t>(size);
    log::debug(who(), "sent " + path + " (" + std::to_string(v.size) + " bytes)");
    self->request(router, caf::infinite, dispatch_atom::value, std::move(msg))
      .then([this](caf::ok_atom) { on_dispatched(); },
            [this, path](caf::error& err) { on_dispatch_failed(path, err); });
  }

  void on_dispatched() {
    --outstanding;
    if (send_failing) {
      send_failing = false;
      log::info(who(), "the router accepts info files again");
    }
    send_settled();
  }

  void on_dispatch_failed(const std::string& path, const caf::error& err) {
    --outstanding;
    stats["send_errors"] += 1;
    if (!send_failing)
      log::warning(who(), path + " not sent (" + describe(err) +
                            "); trying again every second");
    send_failing = true;
    auto i = files.find(path);
    if (i != files.end()) {
      i->second.pending = true;
      i->second.in_flight.reset();
    }
    retry_until = now() + retry_delay;
    schedule_at(retry_until);
  }

  // -- acknowledgements ---------------------------------------------------------

  void on_reply(const wire::cc_message& msg) {
    if (msg.type != "infofile.ack") {
      log::debug(who(), "ignoring reply of type " + msg.type);
      return;
    }
    auto ack = wire::parse_infofile_ack(msg.body);
    if (!ack) {
      log::warning(who(), "bad infofile.ack: " + describe(ack.error()));
      return;
    }
    auto i = files.find(ack->filename);
    if (i == files.end() || !i->second.in_flight ||
        i->second.in_flight->mtime_ns != ack->mtime_ns) {
      stats["stale_acks"] += 1;
      return;
    }
    auto& f = i->second;
    // Not now: an I/O error at the writer, or this server's key may not
    // write the host it claims (keys bound to host names). Kept in flight.
    bool denied = ack->status == wire::info_status::denied;
    if (denied || ack->status == wire::info_status::error) {
      stats[denied ? "denied" : "write_errors"] += 1;
      if (!f.trouble_logged)
        log::warning(who(), (denied ? "the writer denies " : "the writer cannot write ") +
                              ack->filename + " now (" + ack->reason +
                              "); sending it again in " +
                              std::to_string(f.timeout.count()) + " ms");
      f.trouble_logged = true;
      return; // the ack timeout sends it again
    }
    if (ack->status == wire::info_status::refused) {
      stats["refused"] += 1;
      log::error(who(), "the writer refuses " + ack->filename + " (" + ack->reason +
                          "); not sent again until it changes");
    } else {
      stats["acked"] += 1;
      if (f.trouble_logged)
        log::info(who(), "the writer took " + ack->filename + " again");
      f.trouble_logged = false;
    }
    f.confirmed = *f.in_flight;
    f.in_flight.reset();
    f.timeout = opts.ack_timeout;
    save(i->first, *f.confirmed);
  }

  void save(const std::string& file, const version& v) {
    if (!saver)
      return;
    auto path = save_path(file);
    saved_paths.insert(path);
    saver->store(path, position_of(file, v), who());
  }

  /// Files whose ack did not come within their timeout go again (ack = yes,
  /// or auto towards a writer that acknowledges); with auto turned `no`,
  /// what the router took counts as delivered, as with ack = no.
  void check_ack_timeouts() {
    auto mode = acks();
    if (mode == peer_acks::unknown)
      return;
    auto t = now();
    for (auto& [path, f] : files) {
      if (!f.in_flight)
        continue;
      if (mode == peer_acks::no) {
        f.in_flight.reset();
        continue;
      }
      if (t - f.sent_at < f.timeout)
        continue;
      stats["resends"] += 1;
      log::warning(who(), "no acknowledgement of " + path + " within " +
                            std::to_string(f.timeout.count()) +
                            " ms; sending it again");
      f.in_flight.reset();
      f.pending = true;
      f.timeout = std::min(f.timeout * 2, opts.ack_timeout * max_ack_backoff);
    }
  }

  // -- time -------------------------------------------------------------------------

  /// Arms the one-shot timer for the next file to settle.
  void schedule_settling() {
    for (const auto& [path, f] : files)
      if (f.pending)
        schedule_at(f.seen_since + opts.settle);
  }

  void schedule_at(steady::time_point t) {
    auto n = now();
    if (t < n)
      t = n;
    if (timer_at && *timer_at <= t && *timer_at >= n)
      return;
    timer_at = t;
    self->delayed_send(self, std::chrono::duration_cast<ms>(t - n) + ms{1},
                       flush_atom::value);
  }

  /// Everything that reacts to a look at the directory.
  void look() {
    if (watch)
      watch->rearm();
    scan();
    send_settled();
    schedule_settling();
  }

  void on_tick() {
    if (watch && watch->dir_lost())
      watch.reset(); // infodir was replaced: watch the new one
    ensure_watch();
    check_ack_timeouts();
    look();
    self->delayed_send(self, opts.scan_period, scan_atom::value);
  }

  void on_timer() {
    if (timer_at && now() >= *timer_at)
      timer_at.reset();
    look();
  }

  /// Forgets files that are gone (and what was saved for them).
  void maintain() {
    auto listing = tail::list_log_files(opts.infodir, opts.infomask);
    if (!listing)
      return;
    std::set<std::string> present(listing->begin(), listing->end());
    size_t removed = 0;
    for (auto i = files.begin(); i != files.end();) {
      if (present.count(i->first) > 0) {
        ++i;
        continue;
      }
      if (saver) {
        auto path = save_path(i->first);
        saver->flush(path);
        ::unlink(path.c_str());
        saved_paths.erase(path);
      }
      saved.erase(i->first);
      i = files.erase(i);
      ++removed;
    }
    stats["forgotten"] += static_cast<int64_t>(removed);
    log::info(who(), "maintenance: " + std::to_string(present.size()) +
                       " files, " + std::to_string(removed) + " forgotten");
  }

  counters snapshot() const {
    auto out = stats;
    int64_t pending = 0;
    int64_t in_flight = 0;
    for (const auto& [path, f] : files) {
      pending += f.pending ? 1 : 0;
      in_flight += f.in_flight ? 1 : 0;
    }
    out["pending"] = pending;
    out["in_flight"] = in_flight;
    return out;
  }
};

caf::behavior infosender_actor(caf::stateful_actor<infosender_state>* self,
                               infosender_options opts, router_actor router) {
  name_this_thread("cc-infosender"); // detached: its own thread
  auto& st = self->state;
  st.opts = std::move(opts);
  st.router = std::move(router);
  self->set_exit_handler([self](caf::exit_msg& msg) {
    log::info(self->state.who(), "stopping: " + self->system().render(msg.reason));
    self->quit(msg.reason);
  });
  self->request(st.router, caf::infinite, register_atom::value, st.opts.job_name,
                caf::actor{self})
    .then([](caf::ok_atom) {},
          [self](caf::error& err) {
            log::warning(self->state.who(),
                         "router did not register us: " + describe(err));
          });
  st.start();
  st.schedule_settling();
  self->delayed_send(self, st.opts.scan_period, scan_atom::value);
  self->delayed_send(self, st.opts.maint_period, maint_atom::value);
  return {
    [self](reply_atom, const wire::cc_message& msg) { self->state.on_reply(msg); },
    [self](wake_atom) { self->state.look(); },
    [self](scan_atom) { self->state.on_tick(); },
    [self](flush_atom) { self->state.on_timer(); },
    [self](maint_atom) {
      self->state.maintain();
      self->delayed_send(self, self->state.opts.maint_period, maint_atom::value);
    },
    [self](stats_atom) { return self->state.snapshot(); },
  };
}

void read_options(infosender_options& o, const config::reader& r) {
  o.infodir = r.file("infodir");
  o.infomask = r.str("infomask");
  o.comp_name = r.str("compression");
  // The schema admits none, gzip and bzip2.
  o.comp = wire::parse_compression(o.comp_name).value_or(wire::compression::none);
  o.comp_level = static_cast<int>(r.integer("compression-level"));
  auto suffix = r.str("msg-suffix");
  o.msg_type = suffix.empty() ? "pub.infofile" : "pub.infofile." + suffix;
  o.use_blob = r.boolean("use-blob");
  o.maint_period = r.millis("maint-period");
  o.ack = ack_value(r);
  o.ack_timeout = r.millis("ack-timeout");
  o.max_file_bytes = r.size("max-file-bytes");
  o.inotify = r.boolean("inotify");
  o.hostname = r.str("hostname");
  auto save_file = r.file("save-file");
  o.save_dir = save_file.empty() ? std::string{} : save_file + ".d";
  o.job_name = r.builtin("job_name");
  if (o.job_name.empty())
    o.job_name = r.name();
}

} // namespace

infosender_options::infosender_options() {
  read_options(*this, config::reader::defaults("infosender"));
}

caf::expected<infosender_options>
make_infosender_options(const config::section& sec) {
  auto missing = [&](const std::string& key, const std::string& why) {
    return make_error(errc::config_invalid, sec.name + ":" + key + ": " + why);
  };
  infosender_options o;
  read_options(o, config::reader{sec});
  if (o.infodir.empty())
    return missing("infodir", "required");
  if (o.infomask.empty())
    return missing("infomask", "required");
  if (o.save_dir.empty())
    return missing("save-file", "required (or a pidfile to derive it from)");
  return o;
}

caf::actor spawn_infosender_actor(caf::actor_system& sys,
                                  infosender_options opts, router_actor router) {
  return sys.spawn<caf::detached>(infosender_actor, std::move(opts),
                                  std::move(router));
}

caf::expected<caf::actor>
spawn_infosender_daemon(caf::actor_system& sys, const config::server_config& cfg,
                        const config::section& sec, router_actor router,
                        std::shared_ptr<const ack_registry> acks) {
  auto opts = make_infosender_options(sec);
  if (!opts)
    return opts.error();
  opts->auto_acks = auto_ack_view(sec, cfg, opts->msg_type, std::move(acks));
  return spawn_infosender_actor(sys, std::move(*opts), std::move(router));
}

} // namespace cc
