// Typed views of the JSON bodies this project reads and writes (SPEC §7, §9).
// parse_* accept what the original Python CC sends (arbitrary key order, extra
// keys, integers as JSON numbers) and return errc::invalid_body naming the
// missing or mistyped field. make_* always write every field the original
// receiver checks (req, time, hostname, blob_hash, and per type).
#pragma once

#include <cstdint>
#include <string>

#include <caf/expected.hpp>

namespace cc::wire {

/// Common header of every body.
struct header {
  std::string req;        // repeats the type frame
  double time = 0;        // epoch seconds
  std::string hostname;   // the sender's short host name
  std::string blob_hash;  // empty when unused
};

/// pub.logtail: one fragment of a source file.
struct logtail_body {
  header hdr;
  std::string filename;   // source path
  std::string comp;       // "", "none", "gzip", "bzip2"
  std::string mode = "b";
  std::string op_mode;    // "", "classic", "rotated"
  uint64_t fpos = 0;      // source offset of the fragment's first byte
  uint64_t st_dev = 0;
  uint64_t st_ino = 0;
  std::string data;       // base64 payload when there is no blob, else ""
  // Extensions (absent in the original; the original ignores them):
  bool ack = false;       // sender wants logtail.ack
  std::string gen;        // generation id of the source (changes on truncation
                          // or inode reuse); "" when unknown
  uint64_t raw_size = 0;  // uncompressed payload size (0: unknown)
};

/// logtail.ack (extension): the writer's acknowledgement, sent along the route.
struct logtail_ack_body {
  header hdr;
  std::string filename;
  uint64_t st_dev = 0;
  uint64_t st_ino = 0;
  std::string gen;
  /// Source offset up to which every byte of this generation is durable in the
  /// copy (an end offset: the next byte the writer wants).
  uint64_t fpos = 0;
  /// "ok", or "refused" (the writer will never take this file, e.g. its path
  /// escapes dstdir; the sender should stop resending it).
  std::string status = "ok";
};

/// log.<level>
struct log_body {
  header hdr;
  std::string log_level;
  std::string service_type;
  std::string job_name;
  std::string log_msg;
  double log_time = 0;
  int64_t log_pid = 0;
  int64_t log_line = 0;
  std::string log_function;
};

/// echo.request / echo.response
struct echo_body {
  header hdr;
  std::string target;
  std::string orig_hostname;
  std::string orig_target;
  double orig_time = 0;
};

caf::expected<header> parse_header(const std::string& json);
caf::expected<logtail_body> parse_logtail(const std::string& json);
caf::expected<logtail_ack_body> parse_logtail_ack(const std::string& json);
caf::expected<log_body> parse_log(const std::string& json);
caf::expected<echo_body> parse_echo(const std::string& json);

std::string make_body(const logtail_body& x);
std::string make_body(const logtail_ack_body& x);
std::string make_body(const log_body& x);
std::string make_body(const echo_body& x);

/// The current time as epoch seconds with sub-second precision.
double now_seconds();
/// gethostname(), the short name (as Python's socket.gethostname()).
std::string short_hostname();

} // namespace cc::wire
