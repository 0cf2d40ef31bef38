// How a logtail section becomes tailer_options: every key through
// config::reader, so the schema is the only source of a default.
#include "actors/tail/tailer_options.hpp"

#include "actors/tail/log_files.hpp"
#include "base/error.hpp"
#include "wire/message.hpp"

namespace cc {

namespace {

void read_options(tailer_options& o, const config::reader& r) {
  o.op_mode = r.str("operation-mode");
  o.op = o.op_mode == "rotated" ? tailer_options::mode::rotated
                                : tailer_options::mode::classic;
  o.logdir = r.file("logdir");
  o.logmask = r.str("logmask");
  o.logname = r.str("logname");
  o.binary = r.str("file-mode") == "binary";
  o.lag_max_bytes = r.size("lag-max-bytes");
  o.fragment_lines = r.integer("buffer-lines");
  o.ack_window = r.size("ack-window");
  o.ack_window_ranges = r.size("ack-window-ranges");
  // 0: no byte limit of its own; what may be in flight bounds a fragment.
  o.fragment_bytes = r.size("buffer-bytes");
  if (o.fragment_bytes == 0)
    o.fragment_bytes = o.ack_window;
  // The schema admits none, gzip, bzip2, zstd and "" (none).
  o.comp = wire::parse_compression(r.str("compression")).value_or(wire::compression::none);
  o.comp_level = static_cast<int>(r.integer("compression-level"));
  auto suffix = r.str("msg-suffix");
  o.msg_type = suffix.empty() ? "pub.logtail" : "pub.logtail." + suffix;
  o.use_blob = r.boolean("use-blob");
  o.sendfile = r.boolean("sendfile");
  o.ack = ack_value(r);  // auto: yes until the spawner sets auto_acks
  o.ack_timeout = r.millis("ack-timeout");
  o.poll_interval = r.millis("poll-interval");
  o.idle_flush = r.millis("idle-flush");
  o.save_interval = r.millis("save-interval");
  o.verify_period = r.millis("verify-period");
  o.hostname = r.str("hostname");
  o.source_id = r.str("source-id");
  o.save_file = r.file("save-file");
  o.inotify = r.boolean("inotify");
  o.job_name = r.builtin("job_name");
  if (o.job_name.empty())
    o.job_name = r.name();
}

} // namespace

tailer_options::tailer_options() {
  read_options(*this, config::reader::defaults("logtail"));
}

std::string tailer_options::rotated_path() const {
  return tail::join_path(logdir, logname);
}

wire::compression wire_compression(const tailer_options& o) {
  // gzip, which every peer takes, to peers that did not announce zstd (and
  // while a forwarder has not heard from its remote yet).
  if (o.comp == wire::compression::zstd && o.zstd_peers && !o.zstd_peers->usable())
    return wire::compression::gzip;
  return o.comp;
}

caf::expected<tailer_options> make_tailer_options(const config::section& sec) {
  auto missing = [&](const std::string& key, const std::string& why) {
    return make_error(errc::config_invalid, sec.name + ":" + key + ": " + why);
  };
  tailer_options o;
  read_options(o, config::reader{sec});
  if (o.logdir.empty())
    return missing("logdir", "required");
  if (o.save_file.empty())
    return missing("save-file", "required (or a pidfile to derive it from)");
  return o;
}

} // namespace cc
