// Reading a source generation by offset, wherever it is now: the log file
// itself, a copy a rotation made of it (logrotate's copytruncate leaves
// app.log.1), or that copy compressed (app.log.1.gz, app.log.1.bz2), read as
// its decompressed stream. Also the digests the reconcile protocol compares
// (docs/wire.md §6.1) and the search for a generation a rotation moved away.
// Plain classes and blocking file I/O: used by the detached tailer and by
// `ccserver --verify`.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "actors/tail/log_files.hpp"
#include "actors/tail/position.hpp"

namespace cc::tail {

class source_reader {
public:
  /// Opens `path` read-only; a name ending in .gz or .bz2 is read as its
  /// decompressed stream. errc::io naming the path and errno on failure.
  static caf::expected<std::unique_ptr<source_reader>> open(const std::string& path);

  ~source_reader();
  source_reader(const source_reader&) = delete;
  source_reader& operator=(const source_reader&) = delete;

  /// Up to `n` bytes at source offset `offset`; fewer (0 at the end) where
  /// the file holds no more now. A compressed file is read forward from
  /// where the last read stopped; an earlier offset starts it over.
  /// errc::io on a failed read, errc::decode_failed on corrupt data.
  caf::expected<size_t> read_at(uint64_t offset, char* buf, size_t n);

  const std::string& path() const { return path_; }
  /// The open file's descriptor (owned by the reader).
  int fd() const { return fd_; }
  bool compressed() const;
  /// Compressed: everything read so far ends at a member's end, and the
  /// last read found the end of the file (a file still being written by
  /// gzip is not complete). Plain files: always true.
  bool complete() const;
  /// The open file's identity (dev, ino, size on disk, mtime).
  caf::expected<file_id> stat() const;

private:
  struct unpacking;
  source_reader() = default;

  std::string path_;
  int fd_ = -1;
  std::unique_ptr<unpacking> unpack_;
};

/// XXH3-64 of the source bytes [from, to); nullopt when the source holds
/// fewer than `to` bytes.
caf::expected<std::optional<uint64_t>> digest_range(source_reader& src, uint64_t from,
                                                    uint64_t to);

/// One past the last newline in the source bytes [from, to), found by
/// reading backwards from `to`; nullopt when there is none, or when the
/// source holds fewer than `to` bytes now (shrunk: no cut to make).
caf::expected<std::optional<uint64_t>> last_line_end(source_reader& src, uint64_t from,
                                                     uint64_t to);

/// One XXH3-64 per piece of `block` bytes over [from, to) (the last piece
/// may be shorter); nullopt for a piece the source does not hold whole.
caf::expected<std::vector<std::optional<uint64_t>>>
digest_pieces(source_reader& src, uint64_t from, uint64_t to, uint64_t block);

/// Whether the source starts with the bytes `fp` was taken from.
caf::expected<bool> starts_with(source_reader& src, const fingerprint& fp);

/// The file in `dir` that holds a generation of `name` which a rotation
/// moved (copied or renamed, maybe compressed): named `name` + one of ".-_"
/// + anything, not the file `except`, starting with the bytes of `fp`
/// (length > 0), and holding more than `beyond` bytes. An uncompressed one
/// is preferred; among equals the newest. nullopt when there is none.
caf::expected<std::optional<std::string>>
find_moved_generation(const std::string& dir, const std::string& name,
                      const fingerprint& fp, uint64_t beyond, const file_id& except);

} // namespace cc::tail
