#!/usr/bin/env bash
# Per-line timeline of append-to-visible, for ours or the pipe (issue 20's
# latency; bench/PROFILE.md "Session 18"): starts the system as bench/run.sh
# does (ours: bench/lib.sh start_ours; pipe: tail -f | socat -> TCP loopback ->
# socat > file), records `perf record -a` of sched_waking/sched_switch and the
# path's system calls (write, read, pread64, pwrite64, sendmsg, sendfile64,
# fdatasync, poll, ppoll, futex; perf's own excluded) during one cc-latency run, and
# analyses it with bench/timeline.py:
#   trickle (10 lines/s): each line's critical path, walked back from the
#     reader's read over sched_waking to cc-latency's append: per hop the
#     waker's work before the wake, wake -> running, whether the woken thread
#     ran on an idle CPU or on its waker's;
#   steady (50 MB/s): per append, by byte offsets, the time to the source
#     read, the copy's write and the reader's read; the slowest 2 % against
#     the median 20 %.
# More on a steady trace of ours: bench/timeline_chain.py OUT (per append, each hop of
# the path, who wrote the copy, syncs in flight), bench/timeline_syncs.py OUT (per
# central fdatasync), bench/timeline_idle.py OUT (wake-ups onto idle CPUs),
# bench/timeline_burst.py OUT (the local cc-io's burst per fragment by system call); of any
# trace made with WAKES=1 (ours or the pipe): bench/timeline_wakes.py OUT (per hop).
# WAKES=1: also the wake-up events of bench/timeline_wakes.py (per hop: waker and
# target CPU, the IPI sent or not, how long the target had been idle, the wake's
# kind from the kernel stack of each sched_waking, written to OUT/wakes.txt).
# Root (perf). The tracepoints add ~1 us per event; steady records the first
# PSECS (default 5) seconds only.
#
#   bash bench/timeline.sh ours|pipe trickle|steady BUILD OUT [SECONDS]
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
sys=$1 mode=$2 build=$3 out=$4 secs=${5:-10}
mkdir -p "$out/logs"
. "$top/bench/lib.sh"
trap stop_all EXIT
ccserver="$build/ccserver"; latency="$build/cc-latency"
if [ "$sys" = ours ]; then
  start_ours "$out/d" none || exit 1
  src="$out/d/src/postgresql-0001.log" copy="$copy_dir/postgresql-0001.log"
  pids="local=$local_pid central=$central_pid"
else
  start_pipe "$out/pipe" || exit 1
  rx=$pipe_rx tl=$pipe_tail tx=$pipe_tx src=$pipe_src copy=$pipe_copy
  pids="tail=$tl send=$tx recv=$rx"
fi
if [ "$mode" = steady ]; then largs=(--rate 50); else largs=(--lines-per-second 10); fi
sleep 1
evs=(syscalls:sys_enter_write syscalls:sys_exit_write syscalls:sys_exit_read syscalls:sys_enter_read
  syscalls:sys_enter_pread64 syscalls:sys_exit_pread64 syscalls:sys_enter_pwrite64 syscalls:sys_exit_pwrite64
  syscalls:sys_enter_sendmsg syscalls:sys_exit_sendmsg syscalls:sys_enter_sendfile64 syscalls:sys_exit_sendfile64
  syscalls:sys_enter_fdatasync syscalls:sys_exit_fdatasync syscalls:sys_enter_poll syscalls:sys_exit_poll
  syscalls:sys_enter_ppoll syscalls:sys_exit_ppoll
  syscalls:sys_enter_futex ${EXTRA_EVS:-})
waking=sched:sched_waking
if [ "${WAKES:-0}" = 1 ]; then
  waking='sched:sched_waking/call-graph=fp,max-stack=24/'
  evs+=(sched:sched_wakeup ipi:ipi_send_cpu sched:sched_wake_idle_without_ipi power:cpu_idle
    irq_vectors:call_function_single_entry irq_vectors:reschedule_entry)
fi
psecs=$((secs+3)); [ "$mode" = steady ] && psecs=${PSECS:-5}
OUT=$out PSECS=$psecs WAKING=$waking bash -c 'args=(); for e in "$@"; do args+=(-e "$e" --filter "common_pid != $$"); done
  exec perf record -q -a -m 1024 -o "$OUT/perf.data" -e "$WAKING" -e sched:sched_switch "${args[@]}" -- sleep "$PSECS"' \
  bash "${evs[@]}" 2>"$out/perf.err" &
pp=$!
sleep 1
"$latency" --source "$src" --copy "$copy" "${largs[@]}" --seconds $secs --drain 2 --label "$sys/$mode" --cdf "$out/lat.cdf" --timeline "$out/lat.tl" > "$out/lat.txt" &
lat_pid=$!
wait $lat_pid
wait $pp
echo "$pids lat=$lat_pid" > "$out/pids"
if [ "$sys" = ours ]; then stop_pid "$local_pid"; stop_pid "$central_pid"; else stop_pid $tl; stop_pid $tx; stop_pid $rx; fi
perf script -i "$out/perf.data" -F comm,pid,tid,cpu,time,event,trace > "$out/script.txt" 2>/dev/null
[ "${WAKES:-0}" = 1 ] && perf script -i "$out/perf.data" -F comm,pid,tid,cpu,time,event,trace,ip,sym > "$out/wakes.txt" 2>/dev/null
rm -rf "$out/perf.data" "$out/d/dst" "$out/d/src" "$out/pipe/copy.log" "$out/pipe/src.log"
cat "$out/lat.txt"
python3 "$top/bench/timeline.py" "$mode" "$out"
