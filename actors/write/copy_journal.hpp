// The copy journal's text (internal to copy_file; copy_writer.hpp has the
// contract): one sealed line per event, `body #checksum`, with the header H
// (version, mode, compression, path, identity), O (the copy is this
// journal's), S (a segment starts), M (a member ends), D and P (a block's or
// the partial last block's digest), C (closed clean) and A (written again).
// A torn or damaged line ends what is read. Also the listing of a state
// directory's names.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "actors/write/copy_writer.hpp"

namespace cc::tw {

/// A whole decimal number (the journal's and the index's fields): false for
/// an empty text, a sign, anything after the digits, or an overflow.
bool parse_u64(std::string_view text, uint64_t& out);

/// The parsed journal of one copy.
struct journal_text {
  struct header_t {
    std::string mode;
    std::string out;
    std::string path;
    std::string identity;
  };
  struct record {
    /// 'S' segment start, 'M' member end, 'D' block digest, 'P' partial
    /// last-block digest, 'C' clean close, 'A' written again.
    char kind = 'S';
    copy_file::segment seg;  // S
    uint64_t src_end = 0;    // M; D and P: the block's end
    uint64_t copy_size = 0;  // M, C; D and P: the segment's copy_base
    uint64_t digest = 0;     // D, P
  };
  std::optional<header_t> header;
  /// An 'O' line follows the header once the copy named there was created by
  /// this journal's generation (or proven its own after a crash). Until then the
  /// name is only a candidate: another generation may hold it.
  bool claimed = false;
  std::vector<record> records;
  size_t good_bytes = 0; // prefix of whole, valid lines
};

namespace journal {

constexpr int version = 1;

/// `value` as `digits` lowercase hex digits.
std::string hex(uint64_t value, int digits);

/// A journal line: `body #checksum\n`.
std::string seal(const std::string& body);
/// The same, sealed in `body`'s own string (no copy of the body).
std::string seal(std::string&& body);
/// Seals text[from..] where it is: appends its ` #checksum\n`.
void append_seal(std::string& text, size_t from);

/// A journal line's body in one string, sized once: its kind, then each
/// field after a space (text escaped as journal_escape does, numbers in
/// decimal). `take()` gives the body, `sealed()` the whole line.
class line {
public:
  explicit line(std::string_view kind, size_t size_hint = 96) {
    s_.reserve(size_hint);
    s_ += kind;
  }
  line& text(std::string_view v);
  line& num(uint64_t v);
  /// As it is (a hex digest: nothing to escape).
  line& word(std::string_view v) {
    s_ += ' ';
    s_ += v;
    return *this;
  }
  std::string take() { return std::move(s_); }
  std::string sealed() { return seal(std::move(s_)); }

private:
  std::string s_;
};

/// Tokens of a sealed line (without the newline), or nullopt when the
/// checksum does not match.
std::optional<std::vector<std::string_view>> unseal(std::string_view line);

/// Every whole, valid line from the start; good_bytes says how far.
journal_text parse(const std::string& text);

std::string segment_line(const copy_file::segment& s);
std::string member_line(uint64_t src_end, uint64_t copy_size);
/// D (a complete block, ending at a block boundary) or P (the segment's
/// partial last block).
std::string digest_line(uint64_t copy_base, uint64_t to, uint64_t digest);

/// Whether a block digest ending at `to` still describes segment `s`: a
/// complete block inside it, or its partial last block.
bool digest_holds(const copy_file::segment& s, uint64_t to);

/// The names in the state directory that `keep` keeps; nullopt when it
/// cannot be read.
std::optional<std::vector<std::string>>
names(int state_fd, const std::function<bool(const std::string&)>& keep);

} // namespace journal

} // namespace cc::tw
