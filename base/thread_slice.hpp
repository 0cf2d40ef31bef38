// The calling thread's scheduler slice: how long it may run before another
// task of its CPU gets a turn, and with it how soon it runs when woken.
//
// Linux's EEVDF scheduler (6.6+; a custom slice per task since 6.12) gives a
// task with a shorter slice an earlier deadline: woken, it preempts a task
// with a longer one instead of waiting behind it (PREEMPT_SHORT), and a
// task with a longer slice that it wakes, whose deadline is later, seldom
// preempts it. Its share of the
// CPU is unchanged (that is its weight, i.e. its nice value). The process's
// I/O loop works in bursts of tens of microseconds per fragment and then
// sleeps: with the default slice (0.7 ms x (1 + log2 of the CPUs), 1.4 ms
// on 2), on a busy host it waited behind other work when woken, and a
// thread it woke while holding a lock (CAF 0.17 notifies a detached actor's
// thread with its mutex held) took its CPU and then waited for that lock
// (bench/PROFILE.md, "Session 19: latency"). An unprivileged call; kernels
// without custom slices refuse it (or keep their default), and nothing else
// depends on it. A short slice also means being preempted sooner when
// running long: fine for a loop whose work per wake is short.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>

namespace cc {

/// Asks for `slice` for the calling thread (SCHED_OTHER, its nice value
/// kept); 0: the kernel's default. False when the kernel refused.
bool set_thread_slice(std::chrono::nanoseconds slice);

/// The slice thread `tid` has (sched_getattr's sched_runtime, in ns); 0 when
/// it cannot be read.
uint64_t thread_slice_ns(pid_t tid);

} // namespace cc
