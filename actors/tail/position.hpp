// The tailer's persistent position (the .save file) and the identity of a
// source file generation: device, inode, a random generation id and a
// fingerprint of the file's first bytes. Owned by the tailer; pure functions
// and blocking file I/O only. The tailer reads with load_position on its own
// (detached) thread; save_position runs on the position saver's thread
// (actors/tail/position_saver.hpp), not the tailer's.
//
// The .save file is JSON, replaced atomically (temp file, fsync, rename, fsync
// of the directory), so a crash leaves either the old or the new position.
// The original CC's format ("<offset>\t<filename>") is read too, so a host can
// switch from the Python tailer without re-sending or skipping.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "base/hash.hpp"
namespace cc::tail {

/// How many leading bytes of a file identify its content.
constexpr uint64_t fingerprint_max_bytes = 4096;

/// Hash of a file's first `length` bytes (length <= fingerprint_max_bytes).
/// length 0 means "no content seen yet" and matches any file.
struct fingerprint {
  uint64_t hash = 0;
  uint64_t length = 0;

  friend bool operator==(const fingerprint& x, const fingerprint& y) {
    return x.hash == y.hash && x.length == y.length;
  }
};

/// The point up to which a source generation is safely delivered.
struct position {
  std::string filename;  // the source path as sent in `filename`
  uint64_t st_dev = 0;
  uint64_t st_ino = 0;
  std::string gen;       // 16 lowercase hex digits
  fingerprint fp;
  uint64_t offset = 0;   // next byte to deliver
  /// Where delivery of this generation began (0, or the end of the file at a
  /// tail -f start): a copy found empty on the central is sent again from
  /// here. Positions written before it existed read it as `offset`.
  uint64_t base = 0;
  /// False for a position read from the original's format, which names only
  /// the file and the offset: dev, ino, gen and fingerprint are unknown.
  bool has_identity = true;
  /// No file is followed yet: the tailer started with no log file, so every
  /// file that exists when it starts again appeared since, and is read from
  /// its start (not tail -f). `filename` is empty; the rest is unset.
  bool no_file_yet = false;

  /// The marker a tailer saves when it starts with no log file.
  static position before_any_file() {
    position p;
    p.no_file_yet = true;
    return p;
  }

  friend bool operator==(const position& x, const position& y) {
    return x.filename == y.filename && x.st_dev == y.st_dev &&
           x.st_ino == y.st_ino && x.gen == y.gen && x.fp == y.fp &&
           x.offset == y.offset && x.base == y.base &&
           x.has_identity == y.has_identity && x.no_file_yet == y.no_file_yet;
  }
};

/// The fingerprint of the first min(size, fingerprint_max_bytes) bytes of the
/// open file `fd`. errc::io naming `path` and errno on a failed read.
caf::expected<fingerprint> read_fingerprint(int fd, const std::string& path);

/// Whether the file `fd` still starts with the bytes `fp` was taken from.
/// A file shorter than fp.length does not match.
caf::expected<bool> fingerprint_matches(int fd, const std::string& path,
                                        const fingerprint& fp);

/// What the tailer keeps of the bytes a fingerprint was taken from, for the
/// file it follows: their XXH3 (wire/digest.hpp), so that checking the same
/// file again costs one fast hash instead of FNV-1a's byte at a time, and 8
/// bytes instead of a copy of up to 4 KiB per followed file (a server with
/// 1,000 tailers kept 4 MB of them).
struct first_bytes {
  uint64_t xxh3 = 0;   // of the first of.length bytes of the file
  uint64_t length = 0; // how many bytes xxh3 covers (0: nothing kept)
  fingerprint of;
};

/// fingerprint_matches for a file checked again and again (the tailer's, on
/// every change of its size), with one read of at most fingerprint_max_bytes:
/// the first fp.length bytes are compared by their XXH3 with `kept` when it
/// holds those of `fp` (else by the FNV-1a hash of `fp`). When they match
/// and the file has more, `fp` grows to the first min(size,
/// fingerprint_max_bytes) bytes; `kept` then covers them.
caf::expected<bool> check_first_bytes(int fd, const std::string& path, fingerprint& fp,
                                      first_bytes& kept);

/// JSON text of `pos` (one line).
std::string to_json(const position& pos);

/// Parses the JSON written by to_json, or the original CC's
/// "<offset>\t<filename>" line. errc::invalid_body naming `path` otherwise.
caf::expected<position> parse_position(std::string_view text,
                                       const std::string& path);

/// Reads the .save file at `path`; nullopt when it does not exist.
caf::expected<std::optional<position>> load_position(const std::string& path);

/// Atomically replaces the .save file at `path` with `pos` (write
/// "<path>.tmp", fsync, rename, fsync the directory). Creates missing parent
/// directories. errc::io naming the path and errno on failure.
caf::error save_position(const std::string& path, const position& pos);

} // namespace cc::tail
