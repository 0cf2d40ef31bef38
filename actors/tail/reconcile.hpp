// The sender's half of the reconcile protocol (docs/wire.md §6.1): deciding,
// from the writer's answers, where a source file resumes, and finding where
// a copy differs from its source. Plain classes driven by answers: the
// tailer feeds them logtail.state replies, `ccserver --verify` does the same
// over its own connection; neither sends anything itself. Source bytes are
// read through a source_reader (blocking reads: callers run detached).
//
// Each search asks one question at a time: next() says what to ask, feed()
// takes the answer. A question is a digest of a source range in pieces; the
// answer's pieces are compared with the same pieces of the source.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <caf/expected.hpp>

#include "actors/tail/log_files.hpp"
#include "actors/tail/source_reader.hpp"
#include "wire/bodies.hpp"

namespace cc::tail {

/// One question for the writer about a source file.
struct question {
  std::string query;  // wire::query_kind::state or ::digest
  bool digests = false;
  /// The segment asked about (digest) or the source (state).
  uint64_t st_dev = 0;
  uint64_t st_ino = 0;
  std::string gen;
  uint64_t from = 0;  // digest: the source range [from, to) in pieces of block
  uint64_t to = 0;
  uint64_t block = 0;
};

/// Who asks: what every question's body carries besides the question, as
/// the sender's fragments carry it, so it takes their route and names their
/// copy.
struct asker_identity {
  std::string msg_type;   // pub.logtail[.suffix]
  std::string hostname;
  std::string label;      // `filename`
  std::string op_mode;
  std::string source;     // the server's source-id ("": none)
};

/// The pub.logtail body of question `q` (docs/wire.md §6.1).
wire::logtail_body question_body(const question& q, const asker_identity& who);

/// Whether `answer` answers `q` (stale answers to an earlier question are
/// dropped by the caller).
bool answers(const wire::logtail_state_body& answer, const question& q);

/// A half-open range of source offsets.
using byte_range = std::pair<uint64_t, uint64_t>;

/// The first source offset in [from, to) where a copy's segment differs from
/// the source, on the assumption the differences are a suffix (bytes
/// appended to the copy, a tail cut short, the tail of another file): a
/// binary search over whole blocks (wire::digest_block), then 64 pieces per
/// question down to the byte. A piece the source does not hold whole
/// differs, so a source shorter than the copy ends the search at its size.
/// About log2(blocks) + 4 questions, each reading one block on both sides.
class difference_search {
public:
  /// `gen`, `st_dev`, `st_ino` name the segment; [from, to) is known to
  /// differ somewhere (its last block, say).
  difference_search(question segment, uint64_t from, uint64_t to);

  /// The next question, or nullopt when done.
  std::optional<question> next() const;
  /// The writer's pieces for next(); local pieces are read from `src`.
  caf::error feed(const std::vector<std::string>& pieces, source_reader& src);
  bool done() const { return done_; }
  /// The first differing offset (`to` if none differed after all).
  uint64_t result() const { return result_; }

private:
  void narrow(uint64_t from, uint64_t to);

  question segment_;
  // Block phase: blocks [lo, hi] where block lo starts at from_ and is known
  // to match... (see .cpp); piece phase: one range in 64 pieces.
  uint64_t from_;
  uint64_t to_;
  bool blocks_ = true;
  uint64_t lo_ = 0;     // first block index not yet known to match
  uint64_t hi_ = 0;     // a block index known to differ
  uint64_t probe_ = 0;  // the block being asked
  uint64_t piece_from_ = 0;
  uint64_t piece_to_ = 0;
  uint64_t piece_ = 0;
  bool done_ = false;
  uint64_t result_ = 0;
};

/// Every differing range of [from, to) between a copy's segment and the
/// source (for --verify and the background verify): all blocks are asked
/// (at most `page` bytes per question), then each differing block is
/// narrowed to exact byte ranges, within a budget of questions; ranges left
/// when the budget runs out are reported at the size reached.
class range_verify {
public:
  range_verify(question segment, uint64_t from, uint64_t to, size_t budget = 512,
               uint64_t page = 64ull << 20);

  std::optional<question> next() const;
  caf::error feed(const std::vector<std::string>& pieces, source_reader& src);
  bool done() const { return !next(); }
  /// Differing ranges found so far, merged, in order.
  std::vector<byte_range> differences() const;
  /// Blocks compared, equal and differing (the progress of a long run).
  uint64_t blocks_equal() const { return blocks_equal_; }
  uint64_t blocks_differing() const { return blocks_differing_; }
  uint64_t bytes_compared() const { return compared_; }

private:
  question segment_;
  uint64_t from_;
  uint64_t to_;
  uint64_t paged_;           // blocks asked up to here
  uint64_t page_;
  size_t budget_;
  std::vector<byte_range> pending_; // differing ranges to narrow
  std::vector<byte_range> found_;   // exact (or budget-limited) ranges
  uint64_t blocks_equal_ = 0;
  uint64_t blocks_differing_ = 0;
  uint64_t compared_ = 0;
};

/// The tailer's own idea of where a source resumes, before it asks.
struct own_position {
  std::string gen;
  uint64_t offset = 0;
  uint64_t base = 0;
  /// The position came from a .save naming this generation (not a fresh
  /// start): a copy found without it is filled again from `base`.
  bool saved = false;
};

/// Where a source goes on, as decided with the writer.
struct resume_plan {
  std::string gen;
  uint64_t offset = 0;   // the next byte to send
  uint64_t base = 0;
  /// The writer holds this generation (its first fragment needs no wait).
  bool writer_has_gen = false;
  /// The copy holds bytes past `offset` that the source does not have
  /// there: the first fragment is a repair that truncates the copy at its end.
  bool truncate = false;
  /// Something of this source's content was found in the copy.
  bool found = false;
  std::string why;       // for the log line
};

/// Reconcile of one source file: a state question with digests, then, if
/// the copy's last segment holds the start of this source but not all of
/// its tail, a difference_search. Candidates, in order: the copy's last
/// segment if it is this source; this source's segment of the generation
/// the tailer was on; the copy's last segment of another source (the same
/// content under another inode: a file moved back, restored, re-created).
class reconciler {
public:
  /// `id` is the source's (dev, ino); `size` its size now.
  reconciler(file_id id, uint64_t size, own_position own);

  question first() const;
  /// The answer to the last question: the next question, or the plan.
  caf::expected<std::variant<question, resume_plan>>
  feed(const wire::logtail_state_body& answer, source_reader& src);

private:
  enum class verdict { full, prefix, none, unknown };
  caf::expected<verdict> check(const wire::segment_state& seg, source_reader& src);
  resume_plan adopt(const wire::segment_state& seg, uint64_t end, bool truncate,
                    const std::string& why) const;
  resume_plan own_plan(const wire::logtail_state_body& answer) const;

  file_id id_;
  uint64_t size_;
  own_position own_;
  std::optional<wire::segment_state> searching_; // the segment being narrowed
  std::optional<difference_search> search_;
};

} // namespace cc::tail
