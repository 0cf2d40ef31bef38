// The pidfile: who is running for a config. One live holder at a time; a
// stale file (its pid is not running, or is not a ccserver) is taken over.
#pragma once

#include <optional>
#include <string>

#include <sys/types.h>

#include <caf/error.hpp>

namespace cc::cli {

/// The pid written in `path`, or nullopt when the file is absent or does not
/// hold a positive decimal pid.
std::optional<pid_t> read_pid(const std::string& path);

/// Whether `pid` is a live process (not a zombie) running the same program
/// as this one (by /proc/PID/comm; any live process when /proc is missing).
bool is_running_server(pid_t pid);

/// Refuses (errc::io naming the pid and the file) when `path` names a live
/// server other than this process; otherwise writes this process's pid to it
/// atomically (a temporary file in the same directory, then rename).
caf::error take_pidfile(const std::string& path);

/// Only checks what take_pidfile would refuse (before daemonizing, so the
/// refusal reaches the terminal).
caf::error check_pidfile(const std::string& path);

/// Removes `path` if it still names this process.
void release_pidfile(const std::string& path);

} // namespace cc::cli
