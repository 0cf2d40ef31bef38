// The copies of info files (SPEC §8 rules, docs/wire.md §3.6): one whole
// file per pub.infofile, replaced atomically. No actor, no messages: the
// infowriter's workers call it, tests call it directly.
//
// A write, in order: skip when the copy's mtime is the same or newer (the
// original's rule); decompress, keep or recompress (write-compressed), never
// past max_bytes; write `<copy>.new` (created afresh: no planted file or link
// is followed), give it the source's mtime, fsync it; hard-link the current
// copy to `<copy><bakext>` when bakext is set; rename `.new` over the copy;
// fsync the directory. A reader of the copy sees the old or the new content,
// never a mix, and once write() returned the new copy survives a crash.
// Every path is resolved beneath dstdir by tw::open_parent_beneath (openat2,
// no symlinks).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "actors/write/copy_writer.hpp"
#include "config/reader.hpp"
#include "wire/codec.hpp"

namespace cc::info {

struct store_options {
  /// The infowriter schema's defaults (the writer fills the rest from its
  /// section: actors/write/infowriter.cpp).
  store_options();

  tw::write_mode mode{};
  wire::compression compression{}; // mode recompress
  int level{};
  std::string bakext;            // "" : no backup
  uint64_t max_bytes{};
};

/// write-compressed, compression, compression-level, bakext and
/// max-file-bytes of an infowriter section.
void read_store_options(store_options& o, const config::reader& r);

/// What became of one file; `status` is one of wire::info_status.
struct outcome {
  std::string status;
  std::string reason;      // refused, error: why; skipped: same or newer
  uint64_t bytes = 0;      // written (ok)
  bool backup = false;     // a previous copy was kept as <copy><bakext>
};

/// The destination of `filename` (as sent) before dstmask: the original
/// adds the compression's extension for keep (when compressed) and yes.
std::string name_for_mode(const std::string& filename, const store_options& o,
                          wire::compression received);

class store {
public:
  /// Writes copies beneath the directory `dstdir_fd` (borrowed).
  store(int dstdir_fd, store_options opts);

  /// Writes `payload` (as received, compressed with `comp`) as the copy
  /// `rel` (normalised, relative to dstdir) with modification time
  /// `mtime_ns`. Never throws; every failure is an outcome.
  outcome write(const std::string& rel, int64_t mtime_ns,
                std::string_view payload, wire::compression comp) const;

  const store_options& options() const { return opts_; }

private:
  /// The bytes to write for `payload`, or the refusal.
  caf::expected<std::string> content(std::string_view payload,
                                     wire::compression comp) const;

  int dstdir_fd_;
  store_options opts_;
};

} // namespace cc::info
