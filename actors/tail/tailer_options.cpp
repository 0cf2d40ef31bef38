#include "actors/tail/tailer_options.hpp"

#include <algorithm>

#include "actors/tail/log_files.hpp"
#include "base/error.hpp"
#include "wire/bodies.hpp"
#include "wire/message.hpp"

namespace cc {

namespace {

using ms = std::chrono::milliseconds;

/// Compression needs room to pay: a fragment is at least this large then.
constexpr uint64_t min_compressed_fragment = 64 * 1024;

ms to_ms(double seconds, ms floor) {
  auto x = ms{static_cast<int64_t>(seconds * 1000.0)};
  return std::max(x, floor);
}

} // namespace

std::string tailer_options::rotated_path() const {
  return tail::join_path(logdir, logname);
}

caf::expected<tailer_options> make_tailer_options(const config::section& sec) {
  auto bad = [&](const std::string& key, const std::string& why) {
    return make_error(errc::config_invalid, sec.name + ":" + key + ": " + why);
  };
  tailer_options o;
  o.op_mode = sec.str("operation-mode");
  if (o.op_mode.empty() || o.op_mode == "classic")
    o.op = tailer_options::mode::classic;
  else if (o.op_mode == "rotated")
    o.op = tailer_options::mode::rotated;
  else
    return bad("operation-mode", "expected classic or rotated, got " + o.op_mode);
  o.logdir = sec.file("logdir");
  if (o.logdir.empty())
    return bad("logdir", "required");
  o.logmask = sec.str("logmask");
  o.logname = sec.str("logname");
  if (o.op == tailer_options::mode::classic && o.logmask.empty())
    return bad("logmask", "required in classic mode");
  if (o.op == tailer_options::mode::rotated) {
    if (o.logname.empty())
      return bad("logname", "required in rotated mode");
    if (o.logname.find_first_of("*?[") != std::string::npos)
      return bad("logname", "wildcards are not supported: " + o.logname);
  }
  auto file_mode = sec.str("file-mode");
  if (!file_mode.empty() && file_mode != "text" && file_mode != "binary")
    return bad("file-mode", "expected text or binary, got " + file_mode);
  o.binary = file_mode == "binary";
  o.lag_max_bytes = sec.size("lag-max-bytes");
  uint64_t bytes = sec.has("buffer-bytes") ? sec.size("buffer-bytes") : 0;
  o.fragment_lines = sec.has("buffer-lines") ? sec.integer("buffer-lines") : 0;
  if (o.fragment_lines < 0)
    o.fragment_lines = 0;
  // With only buffer-lines set, 1 MiB still caps one fragment (memory).
  o.fragment_bytes = bytes > 0 ? bytes : uint64_t{1} << 20;
  auto comp = wire::parse_compression(sec.str("compression"));
  if (!comp)
    return bad("compression", "expected none, gzip or bzip2, got " +
                                sec.str("compression"));
  o.comp = *comp;
  if (o.comp != wire::compression::none)
    o.fragment_bytes = std::max(o.fragment_bytes, min_compressed_fragment);
  o.comp_level = sec.has("compression-level")
                   ? static_cast<int>(sec.integer("compression-level"))
                   : 6;
  if (o.comp_level < 1 || o.comp_level > 9)
    return bad("compression-level", "expected 1..9");
  auto suffix = sec.str("msg-suffix");
  o.msg_type = suffix.empty() ? "pub.logtail" : "pub.logtail." + suffix;
  if (!wire::valid_type(o.msg_type))
    return bad("msg-suffix", "not a message type word: " + suffix);
  o.use_blob = sec.boolean("use-blob");
  o.ack = ack_value(sec);  // auto: yes until the spawner sets auto_acks
  o.ack_window = sec.size("ack-window");
  if (o.ack_window == 0)
    o.ack_window = uint64_t{16} << 20;
  o.ack_timeout = to_ms(sec.seconds("ack-timeout"), ms{50});
  o.poll_interval = to_ms(sec.seconds("poll-interval"), ms{10});
  o.idle_flush = to_ms(sec.seconds("idle-flush"), ms{0});
  o.verify_period = sec.has("verify-period") && sec.seconds("verify-period") > 0
                      ? to_ms(sec.seconds("verify-period"), ms{100})
                      : ms{0};
  o.hostname = sec.str("hostname");
  o.source_id = sec.has("source-id") ? sec.str("source-id") : std::string{};
  if (o.hostname.empty())
    o.hostname = wire::short_hostname();
  o.save_file = sec.file("save-file");
  if (o.save_file.empty())
    return bad("save-file", "required (or a pidfile to derive it from)");
  o.inotify = sec.boolean("inotify");
  o.job_name = sec.str("job_name");
  if (o.job_name.empty())
    o.job_name = sec.name;
  return o;
}

} // namespace cc
