// The locallogger handler (handler kind `locallogger`, cc.handler.locallogger):
// writes every log.* message it is handed into this server's own log (cc::log)
// as
//   [job_name@hostname] HH:MM:SS,mmm LEVEL message
// (SPEC §5; the clock is the sender's log_time in local time), and any other
// message as a `non-log msg` line. A malformed log body is logged and counted,
// never a crash. Lines are always one line: control characters in remote text
// are escaped.
//
// Takes:  (dispatch_atom, cc_message)  -> ok_atom (always: a message that
//                                          cannot be logged is not retried)
//         (stats_atom)                 -> counters: received, logged, non_log,
//                                          malformed
// Sends:  nothing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

#include "actors/core/atoms.hpp"
#include "base/logger.hpp"
#include "wire/message.hpp"

namespace cc {

/// `epoch` seconds as local "HH:MM:SS,mmm" (milliseconds truncated).
std::string format_clock(double epoch);

/// The level word of a log message: its body's log_level when set, else the
/// second word of its type ("log.warning" -> "WARNING"), upper-cased.
std::string log_level_word(std::string_view type, std::string_view log_level);

/// Which of our levels a remote level word is written at: WARNING/WARN at
/// warning, ERROR/CRITICAL/FATAL at error, everything else (DEBUG included:
/// it was forwarded on purpose) at info, as the original wrote them all.
log::level local_level(std::string_view level_word);

/// `text` with control characters escaped (\n, \r, \t, \xNN), so a remote
/// message stays one line in our log.
std::string one_line(std::string_view text);

/// What a log.* message becomes in our log.
struct log_line {
  log::level level;  // local_level() of its level word
  std::string text;  // "[job@host] HH:MM:SS,mmm LEVEL message"
};

/// The line for a log.* message. errc::invalid_body when the body does not
/// parse as a log message.
caf::expected<log_line> format_log_line(const wire::cc_message& msg);

/// Whether `type` is a log message type: "log" or "log.<anything>".
bool is_log_type(std::string_view type);

struct locallogger_state {
  std::string who;  // the handler's section name, the `who` of our lines

  int64_t received = 0;
  int64_t logged = 0;     // log.* messages written
  int64_t non_log = 0;    // other types, written as non-log msg
  int64_t malformed = 0;  // log.* whose body did not parse

  /// Writes the line(s) for `msg` into cc::log and counts it.
  void handle(const wire::cc_message& msg);

  counters stats() const;
};

} // namespace cc
