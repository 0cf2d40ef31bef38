// Running in the background (-d): fork, setsid, chdir /, standard descriptors
// to /dev/null. The parent waits on a pipe until the child reports that it is
// up (or why it is not) and exits with that status, so `ccserver -d` fails
// visibly when the server cannot start.
#pragma once

namespace cc::cli {

/// Forks. In the parent: waits for the child's report and exits the process
/// with it (1 if the child ended without one); never returns. In the child:
/// returns the write end of the report pipe. Returns -1 without forking when
/// the pipe or the fork failed.
int daemonize();

/// The child reports `status` (0: up) to the waiting parent; idempotent,
/// -1 is ignored.
void report_to_parent(int& fd, int status);

} // namespace cc::cli
