// Typed views of the JSON bodies this project reads and writes (SPEC §7, §9;
// docs/wire.md is the field reference).
// parse_* accept what the original Python CC sends (arbitrary key order, extra
// keys, integers as JSON numbers; for integer fields also integral floats and
// decimal strings) and return errc::invalid_body naming the missing or
// mistyped field. They parse in one pass (a SAX reader straight into the
// struct), moving large strings such as `data` instead of copying them.
// make_* always write every field the original receiver checks (req, time,
// hostname, blob_hash, and per type), as compact JSON built in one string.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
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
  // Reconcile, verify and repair (docs/wire.md §6.1; written only when set):
  /// "": a fragment. "state" or "digest": a question to the writer about
  /// this source (no payload); the answer is a logtail.state reply.
  std::string query;
  /// query "state": include digests of the first and last block of each
  /// segment (computed from the copy's bytes).
  bool digests = false;
  /// query "digest": the source range [range_from, range_to) of segment
  /// (st_dev, st_ino, gen), digested in pieces of `block` bytes.
  uint64_t range_from = 0;
  uint64_t range_to = 0;
  uint64_t block = 0;
  /// A fragment that overwrites the source range [fpos, fpos + raw_size) of
  /// segment (st_dev, st_ino, gen) where the copy holds it, instead of
  /// appending; with `truncate` the segment (the copy's last) ends after it.
  bool repair = false;
  bool truncate = false;
  /// The sending server's identity as a source of copies (16 hex digits,
  /// `[ccserver] source-id`): a copy is written by one source only (docs/
  /// wire.md §6.5). "" from the original and from servers without one.
  std::string source;
};

/// Values of logtail_body::query.
namespace query_kind {
constexpr std::string_view state = "state";
constexpr std::string_view digest = "digest";
} // namespace query_kind

/// Values of logtail_ack_body::status.
namespace ack_status {
constexpr std::string_view ok = "ok";
constexpr std::string_view gap = "gap";
constexpr std::string_view refused = "refused";
/// Not now, and not for good: the bytes stay with the sender, which holds
/// and asks again later. `detail` says why: another source owns the copy,
/// or this link may not write this host.
constexpr std::string_view denied = "denied";
/// The writer cannot write (no space, an I/O error, a read-only file
/// system): `detail` names the cause; the sender holds until invited again
/// (an "ok" ack) or its ack timeout.
constexpr std::string_view error = "error";
} // namespace ack_status

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
  /// "ok"; "gap" (the fragment started past the writer's end: resend from
  /// `fpos`); "refused" (the writer will never take this file, e.g. its
  /// path escapes dstdir or it is a decompression bomb; the sender should
  /// treat the bytes as acknowledged and stop resending them); "denied" or
  /// "error" (not now: see ack_status; nothing is acknowledged).
  std::string status = "ok";
  /// Extension: the writer's instance id (16 hex digits, new at each start
  /// of its tailwriter); "" from writers that do not say. A change tells the
  /// sender the writer restarted and its copies may have changed meanwhile.
  std::string writer;
  /// Extension: why, for "denied", "error" and "refused"; "" otherwise.
  std::string detail;
};

/// XXH3-64 of a source byte range, as 16 lowercase hex digits.
struct range_digest {
  uint64_t from = 0;
  uint64_t to = 0;
  std::string xxh3;
};

/// One segment of a copy as the writer holds it: source bytes
/// [src_base, src_end) of generation `gen` of source file (st_dev, st_ino).
struct segment_state {
  uint64_t st_dev = 0;
  uint64_t st_ino = 0;
  std::string gen;
  uint64_t src_base = 0;
  uint64_t src_end = 0;
  /// The copy's last segment: appends continue it.
  bool last = false;
  /// query "state" with digests: the segment's first and last block
  /// (aligned to digest_block of source offsets; one entry when both are the
  /// same block). Empty when not asked or not available.
  std::vector<range_digest> digests;
};

/// Values of logtail_state_body::status.
namespace state_status {
constexpr std::string_view ok = "ok";             // the answer holds the facts
constexpr std::string_view none = "none";         // no copy holds this source
constexpr std::string_view refused = "refused";   // the writer never takes it
constexpr std::string_view unavailable = "unavailable"; // cannot digest now
constexpr std::string_view denied = "denied";     // another source owns the copy
} // namespace state_status

/// logtail.state (extension): the writer's answer to a query, along the
/// query's route.
struct logtail_state_body {
  header hdr;
  // Echo of the query:
  std::string filename;
  uint64_t st_dev = 0;
  uint64_t st_ino = 0;
  std::string gen;
  std::string query;
  std::string writer;     // the writer's instance id
  std::string status = "ok";
  std::string detail;     // why, for refused and unavailable
  std::string copy;       // the copy's path relative to dstdir
  bool compressed = false; // the copy is gzip/bzip2: digests from the journal
  /// query "state": the segments of this source (every generation the
  /// writer remembers) and, if another source wrote last, the copy's last.
  /// Every src_end is durable (the writer syncs before it answers).
  std::vector<segment_state> segments;
  /// query "digest": the range actually digested (clipped to the segment),
  /// the piece size and one XXH3-64 per piece (the last may be shorter).
  uint64_t range_from = 0;
  uint64_t range_to = 0;
  uint64_t block = 0;
  std::vector<std::string> pieces;
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
  /// Extension, in responses from our servers only: whether a message sent
  /// here with `ack: true` is acknowledged (by a writer here, or by one
  /// behind this server's forwarder). Absent in the original's responses:
  /// a remote that never says so never acknowledges (actors/core/ack_caps.hpp).
  std::optional<bool> acks;
  /// Extension, in responses from our servers only: whether every writer a
  /// fragment sent here reaches takes comp "zstd" (docs/wire.md §6.6).
  /// Absent in the original's responses and in older ccservers': no zstd.
  std::optional<bool> zstd;
  /// Extension, in responses from our servers only: the TCP port of this
  /// server's data connection for pub.logtail (docs/wire.md §6.8), offered
  /// only where its cc-socket has no CURVE. Absent: none.
  std::optional<int64_t> data_port;
};

/// pub.infofile (and pub.infofile.<suffix>): one whole info file.
struct infofile_body {
  header hdr;
  std::string filename;   // source path, '\' written as '/'
  double mtime = 0;       // modification time, epoch seconds (a float)
  std::string comp;       // "", "none", "gzip", "bzip2"
  std::string mode = "b";
  std::string data;       // base64 payload when there is no blob, else ""
  // Extensions (absent in the original; the original ignores them):
  bool ack = false;       // sender wants infofile.ack
  /// The exact modification time, nanoseconds since the epoch (`mtime`
  /// is a double: about 0.2 us apart at today's dates).
  std::optional<int64_t> mtime_ns;
};

/// Values of infofile_ack_body::status.
namespace info_status {
constexpr std::string_view ok = "ok";           // the copy holds this version now
constexpr std::string_view skipped = "skipped"; // its mtime was the same or newer
constexpr std::string_view refused = "refused"; // never (path, size): stop sending
constexpr std::string_view error = "error";     // not now (I/O): send again later
constexpr std::string_view denied = "denied";   // not from this sender (its key
                                                // may not write the host): send
                                                // again later
} // namespace info_status

/// infofile.ack (extension): the info writer's answer, sent along the route
/// once the copy (or its refusal) is durable.
struct infofile_ack_body {
  header hdr;
  std::string filename;   // as in the pub.infofile
  int64_t mtime_ns = 0;   // the version this answers (infofile_mtime_ns)
  std::string status = "ok";
  std::string reason;     // for refused, error and denied: why, one line
};

/// Any body: `req` required; time, hostname, blob_hash default when absent.
caf::expected<header> parse_header(const std::string& json);
/// Requires mode, comp, hostname, filename, fpos (comp and op_mode may be
/// null, read as ""); st_dev, st_ino, data and the extensions default.
caf::expected<logtail_body> parse_logtail(const std::string& json);
/// Requires filename, st_dev, st_ino, gen, fpos and a known status; writer
/// and detail default to "".
caf::expected<logtail_ack_body> parse_logtail_ack(const std::string& json);
/// Requires filename, st_dev, st_ino, query, writer and a known status.
caf::expected<logtail_state_body> parse_logtail_state(const std::string& json);
/// Requires log_level and log_msg; the other fields default.
caf::expected<log_body> parse_log(const std::string& json);
/// echo.request requires target; echo.response requires orig_hostname,
/// orig_target and orig_time.
caf::expected<echo_body> parse_echo(const std::string& json);
/// Requires hostname, filename, mtime, comp (null reads as "") and mode;
/// data and the extensions default.
caf::expected<infofile_body> parse_infofile(const std::string& json);
/// Requires filename, mtime_ns and a known status.
caf::expected<infofile_ack_body> parse_infofile_ack(const std::string& json);

std::string make_body(const logtail_body& x);
std::string make_body(const logtail_ack_body& x);
/// The body make_body(logtail_ack_body) writes, from its parts (req is
/// "logtail.ack", blob_hash empty): a writer's ack without the struct's
/// copies of every string (one or more per new source file at scale).
std::string make_ack_body(double time, std::string_view hostname, std::string_view filename,
                          uint64_t st_dev, uint64_t st_ino, std::string_view gen,
                          uint64_t fpos, std::string_view status, std::string_view writer,
                          std::string_view detail);
std::string make_body(const logtail_state_body& x);
std::string make_body(const log_body& x);
/// Writes target and the orig_* fields whatever the req (extra keys are
/// harmless to the original).
std::string make_body(const echo_body& x);
std::string make_body(const infofile_body& x);
std::string make_body(const infofile_ack_body& x);

/// An info file's version as nanoseconds: `mtime_ns` when the sender gave it,
/// else `mtime` rounded to the nearest nanosecond (what a float allows).
int64_t infofile_mtime_ns(const infofile_body& x);
/// Epoch seconds as Python's os.stat() gives st_mtime: sec + nsec * 1e-9.
double seconds_of_ns(int64_t ns);

/// errc::invalid_body unless the body's `req` equals the message's type
/// frame: the original receiver drops such a message as hijacked.
caf::error check_req(const header& hdr, std::string_view type);

/// "SHA-1:" and the 40 lowercase hex digits of SHA-1(blob): what the
/// original puts in `blob_hash` when it signs a message with a blob. Its
/// unsigned senders leave `blob_hash` "" even with a blob, and its receivers
/// verify the hash only on signed messages.
std::string blob_hash_of(std::string_view blob);

/// Checks a received `blob_hash` against its blob: "" passes (unsigned
/// senders); "SHA-1:<hex>" must match (errc::decode_failed otherwise); any
/// other hash type is errc::invalid_body.
caf::error verify_blob_hash(std::string_view blob_hash, std::string_view blob);

/// The fragment's payload as the original tailwriter takes it: the blob when
/// the message has a non-empty one (`blob`: its bytes, empty when there is
/// none), else the base64 `data` decoded into `storage`. The view points into
/// the blob or `storage`.
caf::expected<std::string_view>
fragment_bytes(const logtail_body& body, std::string_view blob,
               std::string& storage);

/// A header for a message this process sends: `req`, time = now_seconds(),
/// hostname = short_hostname() read once per process (the original also
/// reads it once, at import), blob_hash "".
header make_header(std::string req);

/// The current time as epoch seconds with sub-second precision.
double now_seconds();
/// gethostname() as it is, which is what Python's socket.gethostname()
/// returns (usually the short name; the original never asks for the FQDN).
std::string short_hostname();

} // namespace cc::wire
