// The calling thread's scheduler slice: see thread_slice.hpp.
#include "base/thread_slice.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

namespace cc {

namespace {

/// linux/sched/types.h's struct sched_attr (not in glibc's headers here).
struct sched_attr_v1 {
  uint32_t size;
  uint32_t sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime;
  uint64_t sched_deadline;
  uint64_t sched_period;
  uint32_t sched_util_min;
  uint32_t sched_util_max;
};

bool get_attr(pid_t tid, sched_attr_v1& a) {
  std::memset(&a, 0, sizeof a);
  a.size = sizeof a;
  return ::syscall(SYS_sched_getattr, tid, &a, sizeof a, 0) == 0;
}

} // namespace

bool set_thread_slice(std::chrono::nanoseconds slice) {
  sched_attr_v1 a;
  if (!get_attr(0, a) || a.sched_policy != 0 /* SCHED_OTHER */)
    return false; // a real-time or batch thread: left as it is
  a.size = sizeof a;
  a.sched_flags = 0;
  a.sched_runtime = static_cast<uint64_t>(slice.count());
  return ::syscall(SYS_sched_setattr, 0, &a, 0) == 0;
}

uint64_t thread_slice_ns(pid_t tid) {
  sched_attr_v1 a;
  return get_attr(tid, a) ? a.sched_runtime : 0;
}

} // namespace cc
