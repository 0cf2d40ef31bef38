#include "actors/core/locallogger.hpp"

#include <cctype>
#include <cmath>
#include <ctime>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/core/spawn_context.hpp"
#include "base/error.hpp"
#include "wire/bodies.hpp"

namespace cc {

std::string format_clock(double epoch) {
  // Nearest millisecond, carried into the seconds (1.9996 -> 00:00:02,000);
  // a value no clock can show (NaN, 1e300 from a broken sender) is epoch 0.
  if (!std::isfinite(epoch) || std::fabs(epoch) > 1e15)
    epoch = 0;
  auto total_ms = std::llround(epoch * 1000);
  auto secs = static_cast<time_t>(total_ms / 1000);
  auto millis = static_cast<int>(total_ms % 1000);
  if (millis < 0) {
    millis += 1000;
    secs -= 1;
  }
  tm parts{};
  localtime_r(&secs, &parts);
  char buf[32];
  snprintf(buf, sizeof(buf), "%02d:%02d:%02d,%03d", parts.tm_hour, parts.tm_min,
           parts.tm_sec, millis);
  return buf;
}

std::string log_level_word(std::string_view type, std::string_view log_level) {
  std::string word;
  if (!log_level.empty()) {
    word = log_level;
  } else if (auto dot = type.find('.'); dot != std::string_view::npos) {
    auto rest = type.substr(dot + 1);
    word = rest.substr(0, rest.find('.'));
  }
  for (auto& c : word)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return word;
}

log::level local_level(std::string_view w) {
  if (w == "WARNING" || w == "WARN")
    return log::level::warning;
  if (w == "ERROR" || w == "CRITICAL" || w == "FATAL")
    return log::level::error;
  return log::level::info;
}

std::string one_line(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      snprintf(buf, sizeof(buf), "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

bool is_log_type(std::string_view type) {
  return type == "log" || type.substr(0, 4) == "log.";
}

caf::expected<log_line> format_log_line(const wire::cc_message& msg) {
  auto body = wire::parse_log(msg.body);
  if (!body)
    return std::move(body.error());
  auto level = log_level_word(msg.type, body->log_level);
  std::string line;
  line += '[';
  line += one_line(body->job_name);
  line += '@';
  line += one_line(body->hdr.hostname);
  line += "] ";
  line += format_clock(body->log_time);
  line += ' ';
  line += one_line(level);
  line += ' ';
  line += one_line(body->log_msg);
  return log_line{local_level(level), std::move(line)};
}

void locallogger_state::handle(const wire::cc_message& msg) {
  ++received;
  if (!is_log_type(msg.type)) {
    ++non_log;
    // The original printed the payload's repr; ours is the type and the
    // JSON, cut short so a large body cannot flood the log.
    constexpr size_t shown = 512;
    auto text = "non-log msg: " + one_line(msg.type.substr(0, 64)) + " " +
                one_line(std::string_view{msg.body}.substr(0, shown));
    if (msg.body.size() > shown)
      text += "...";
    log::info(who, text);
    return;
  }
  auto line = format_log_line(msg);
  if (!line) {
    ++malformed;
    log::warning(who, "malformed " + one_line(msg.type.substr(0, 64)) +
                        " message dropped: " + describe(line.error()));
    return;
  }
  ++logged;
  if (log::enabled(line->level))
    log::write(line->level, who, line->text);
}

counters locallogger_state::stats() const {
  return {{"received", received},
          {"logged", logged},
          {"non_log", non_log},
          {"malformed", malformed}};
}

namespace {

caf::behavior locallogger(caf::stateful_actor<locallogger_state>* self,
                          std::string who) {
  self->state.who = std::move(who);
  return {
    [self](dispatch_atom, const wire::cc_message& msg) {
      self->state.handle(msg);
      return ok_atom::value;
    },
    [self](stats_atom) { return self->state.stats(); },
  };
}

} // namespace

caf::actor spawn_locallogger(spawn_context ctx, const config::section& sec) {
  return ctx.sys.spawn(locallogger, sec.name);
}

} // namespace cc
