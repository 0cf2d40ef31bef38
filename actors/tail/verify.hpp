// Verify and repair (`ccserver --verify CONFIG [--repair]`, the tailer's
// background verify-period): the central's copy of every file a tailer knows
// compared with the source block by block over the link fragments take,
// differing blocks narrowed to exact byte ranges, and with repair those
// ranges sent again as repair fragments (docs/wire.md §6.1). Plain functions
// over a writer_link that carries one question or repair at a time; blocking
// reads of the source files.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "actors/tail/reconcile.hpp"
#include "actors/tail/tailer.hpp"
#include "wire/bodies.hpp"

namespace cc::tail {

/// A file to verify, as its tailer names it.
struct verify_target {
  std::string path;   // where its bytes are
  std::string label;  // `filename` in its fragments
  /// Bytes the tailer had confirmed delivered (its .save for the file it is
  /// on, the whole file for one it finished): the copy must hold these.
  std::optional<uint64_t> delivered;
  std::string delivered_gen; // the .save's generation, when it names this file
};

/// The files the tailer of `opts` knows, in its order (classic: every
/// logdir/logmask file; rotated: logname and its uncompressed rotated
/// generations), with what its .save says of them.
std::vector<verify_target> verify_targets(const tailer_options& opts);

/// The verdict on one file.
struct verify_result {
  verify_target target;
  uint64_t source_bytes = 0;
  std::optional<wire::segment_state> segment; // the copy's segment compared
  uint64_t blocks_equal = 0;
  uint64_t blocks_differing = 0;
  uint64_t lag = 0;      // source bytes past the copy's end (not yet sent)
  uint64_t missing = 0;  // delivered bytes the copy does not hold
  uint64_t extra = 0;    // copy bytes past the source's end
  std::vector<byte_range> differences;
  std::string status;    // equal, differs, missing, not shipped, ...
  bool ok = true;        // equal up to what was delivered
};

/// The link to the writer: one exchange at a time.
class writer_link {
public:
  virtual ~writer_link() = default;
  /// Sends a question; its logtail.state answer.
  virtual caf::expected<wire::logtail_state_body> ask(const wire::logtail_body& question) = 0;
  /// Sends a repair fragment with `payload` (uncompressed); its logtail.ack.
  virtual caf::expected<wire::logtail_ack_body> send(const wire::logtail_body& fragment,
                                                     std::string payload) = 0;
};

/// Called with (bytes compared, bytes to compare) as a long compare goes on.
using verify_progress = std::function<void(uint64_t, uint64_t)>;

/// Compares one file with its copy.
verify_result verify_file(const verify_target& target, const tailer_options& opts,
                          writer_link& link, const verify_progress& progress = {});

/// Sends what differs, what is missing, and cuts back what the copy holds
/// past the source's end (the copy's last segment only); pieces of at most
/// 1 MiB, each acknowledged before the next. Returns the bytes sent.
caf::expected<uint64_t> repair_file(const verify_result& result,
                                    const tailer_options& opts, writer_link& link);

} // namespace cc::tail
