#!/usr/bin/env bash
# The I/O loops' system calls and every thread's switches and CPU over one 10 s steady
# stream (cc-latency --rate, 50 MB/s by default), the pair as bench/lib.sh start_ours
# starts it; `perf stat -e raw_syscalls:sys_enter -t TID` on each side's `cc-io` (lighter
# than strace at this rate). Several builds run one after another, in the order given:
# alternate them (A B A B) on a shared host. bench/PROFILE.md, "Session 16: latency".
#   bash bench/steady_loop.sh [--rate MBPS] OUT_DIR BUILD_DIR...
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rate=50
[ "${1:-}" = --rate ] && { rate=$2; shift 2; }
out=$1; shift
mkdir -p "$out/logs"
. "$top/bench/lib.sh"
trap stop_all EXIT
snap() {  # "SIDE/NAME SWITCHES CPU_NS" per thread of the given SIDE:PID pairs
  local sp side pid t
  for sp in "$@"; do
    side=${sp%%:*} pid=${sp#*:}
    for t in /proc/"$pid"/task/*; do
      printf '%s/%s %s %s\n' "$side" "$(sed -E 's/[0-9]+/N/g; s/ /_/g' "$t/comm")" \
        "$(awk '/^(non)?voluntary_ctxt_switches/ { s += $2 } END { print s }' "$t/status")" \
        "$(cut -d' ' -f1 "$t/schedstat")"
    done
  done
}
tid_of() { for t in /proc/"$1"/task/*; do [ "$(cat "$t/comm")" = "$2" ] && basename "$t"; done | head -1; }
run=0
for build in "$@"; do
  run=$((run + 1)) ccserver=$build/ccserver latency=$build/cc-latency
  d="$out/$run"
  start_ours "$d" none || continue
  sleep 1
  lio=$(tid_of "$local_pid" cc-io) cio=$(tid_of "$central_pid" cc-io)
  perf stat -e raw_syscalls:sys_enter -t "$lio" -o "$d/perf-local.txt" & p1=$!
  perf stat -e raw_syscalls:sys_enter -t "$cio" -o "$d/perf-central.txt" & p2=$!
  snap "central:$central_pid" "local:$local_pid" >"$d/s0"
  line=$("$latency" --source "$d/src/postgresql-0001.log" --copy "$copy_dir/postgresql-0001.log" \
           --rate "$rate" --seconds 10 --drain 10 --label "$build" --timeline "$d/timeline" \
           2>>"$out/logs/latency.err")
  snap "central:$central_pid" "local:$local_pid" >"$d/s1"
  kill -INT "$p1" "$p2"; wait "$p1" "$p2" 2>/dev/null
  printf '\n== %s %s\n%s\n' "$run" "$build" "$line"
  awk 'NR == FNR { a[$1] += $2; c[$1] += $3; next } { b[$1] += $2; e[$1] += $3 }
       END { for (k in b) if (b[k] - a[k] > 0) printf "  %-26s switches %7d  CPU ms %8.1f\n", k, b[k] - a[k], (e[k] - c[k]) / 1e6 }' \
    "$d/s0" "$d/s1" | sort
  echo "  cc-io system calls: local $(awk '/raw_syscalls/ { print $1 }' "$d/perf-local.txt"), central $(awk '/raw_syscalls/ { print $1 }' "$d/perf-central.txt")"
  stop_pid "$local_pid"; stop_pid "$central_pid"
  rm -rf "$d/src" "$d/dst"
done
