// Which rotated copies hold a source file (docs/wire.md §6.1): a question
// names a source key, but a rotated copy is one per source generation, so a
// worker cannot name its copy from the question alone.
//
// Owns: a map from source key to the rotated copies (identity, path) that
// hold it. A rotated copy's identity names its source key and generation,
// so the map is built from the journals' headers alone: once per worker, at
// its first question, and kept current as the worker opens copies. No actor
// and no messages: worker_core asks it.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "actors/write/copy_writer.hpp"

namespace cc::tw {

/// The identity of a classic copy: one per destination.
std::string classic_identity(std::string_view mode, std::string_view dest_base);

/// The identity of a rotated copy: one per source generation.
std::string rotated_identity(std::string_view mode, std::string_view dest_base,
                             const source_key& key, std::string_view gen);

/// The parts of a rotated identity; nullopt for any other identity.
struct rotated_parts {
  std::string mode;
  std::string dest_base;
  source_key key;
  std::string gen;
};
std::optional<rotated_parts> parse_rotated_identity(std::string_view identity);
/// The destination base of a classic or rotated identity ("" when it is
/// neither): what the tailwriter's door picks a copy's worker by.
std::string identity_dest_base(std::string_view identity);

class rotated_index {
public:
  struct entry {
    std::string identity;
    std::string path; // relative to dstdir; its suffix is when it was first opened
    std::string gen;
  };

  /// From the header of every journal (journal_headers() of the worker's
  /// journal log).
  void build(const std::vector<journal_header>& headers);
  bool built() const {
    return built_;
  }
  /// A rotated copy was opened or created (other identities are ignored,
  /// and so is everything before build()).
  void add(const std::string& identity, const std::string& path);
  /// The rotated copies of `key` written with `mode` under `dest_base`,
  /// oldest first (by name: the suffix is the moment it was first opened).
  std::vector<entry> find(const source_key& key, std::string_view mode,
                          std::string_view dest_base) const;

private:
  struct copy_ref {
    std::string mode;
    std::string dest_base;
    entry e;
  };
  std::map<source_key, std::vector<copy_ref>> by_key_;
  bool built_ = false;
};

} // namespace cc::tw
