#!/usr/bin/env bash
# Thread wake-ups per trickle line (issue 20's latency target), a figure the
# load of a shared machine does not move the way milliseconds move. For each
# build (and the pipe: tail -f | socat -> TCP loopback -> socat), it starts the
# servers as bench/run.sh does, counts every thread's context switches
# (voluntary + involuntary, /proc/PID/task/*/status) over S idle seconds and
# then over S seconds of cc-latency's trickle (N lines a second), and prints
# per thread name and side the switches per line: (trickle - idle) / lines. A
# thread that sleeps and is woken for a line switches once per wake-up, so the
# sum per side is the number of wake-ups a line costs there. Also each
# thread's CPU time per line (/proc/PID/task/TID/schedstat), the same way.
# The file's first line costs more (a new file: listing, reconcile, a new
# segment's journal), so short runs overstate the per-line figures: 10 s at
# 10 lines a second (the default) spreads it over 100 lines.
#
#   bash bench/wakeups.sh [--build DIR]... [--pipe] [--seconds S] [--lps N] [--out DIR]
#
# Prints one table per build (and one for the pipe with --pipe).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
secs=10 lps=10 out="" builds=() pipe=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build) builds+=("$2"); shift ;;
    --pipe) pipe=1 ;;
    --seconds) secs=$2; shift ;;
    --lps) lps=$2; shift ;;
    --out) out=$2; shift ;;
    *) echo "wakeups.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ ${#builds[@]} -gt 0 ] || [ "$pipe" = 1 ] || builds=("$top/build")
[ -n "$out" ] || out=$(mktemp -d "${TMPDIR:-/tmp}/ccwakeups-XXXXXX")
mkdir -p "$out/logs"
# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"
trap stop_all EXIT

# "SIDE/NAME SWITCHES CPU_NS" per thread of the given "SIDE:PID" pairs
# (numbers in names folded; CPU from /proc/.../schedstat), summed by name.
switches() {
  local sp side pid t
  for sp in "$@"; do
    side=${sp%%:*} pid=${sp#*:}
    for t in /proc/"$pid"/task/*; do
      [ -r "$t/status" ] || continue
      awk -v n="$side/$(sed -E 's/[0-9]+/N/g; s/ /_/g' "$t/comm" 2>/dev/null)" \
        -v ns="$(cut -d' ' -f1 "$t/schedstat" 2>/dev/null)" \
        '/^(non)?voluntary_ctxt_switches/ { s += $2 } END { print n, s, ns + 0 }' "$t/status"
    done
  done | awk '{ s[$1] += $2; c[$1] += $3 } END { for (k in s) print k, s[k], c[k] }' | sort
}
# Per name: (after2 - after1) - (after1 - before), divided by LINES; the
# same for CPU time, in microseconds per line.
per_line() {  # per_line FILE0 FILE1 FILE2 LINES
  awk -v lines="$4" '
    FILENAME == ARGV[1] { a[$1] = $2; ac[$1] = $3; next }
    FILENAME == ARGV[2] { b[$1] = $2; bc[$1] = $3; next }
    { idle = b[$1] - a[$1]; busy = $2 - b[$1]; d = busy - idle
      cpu = (($3 - bc[$1]) - (bc[$1] - ac[$1])) / 1000 / lines
      split($1, p, "/"); side[p[1]] += d; sidecpu[p[1]] += cpu
      printf "| %s | %d | %d | %.2f | %.1f |\n", $1, idle, busy, d / lines, cpu }
    END { for (s in side) printf "| **%s, all threads** | | | **%.2f** | **%.1f** |\n", s, side[s] / lines, sidecpu[s] }
  ' "$1" "$2" "$3"
}
measure() {  # measure LABEL SOURCE COPY SIDE:PID...
  local label=$1 src=$2 copy=$3; shift 3
  local f
  f="$out/$(echo "$label" | tr '/ ()' '____')"
  sleep 1
  switches "$@" >"$f.0"; sleep "$secs"; switches "$@" >"$f.1"
  local line lines
  line=$("$latency" --source "$src" --copy "$copy" --lines-per-second "$lps" --seconds "$secs" \
           --drain 10 --label "$label" 2>>"$out/logs/latency.err")
  switches "$@" >"$f.2"
  lines=$(sed -nE 's/.* seen=([0-9]+).*/\1/p' <<<"$line")
  printf '\n%s: %s\n' "$label" "$line"
  printf '| thread | switches idle %ss | switches trickle %ss | switches per line | CPU us per line |\n|---|---:|---:|---:|---:|\n' "$secs" "$secs"
  [ -n "$lines" ] && [ "$lines" -gt 0 ] && per_line "$f.0" "$f.1" "$f.2" "$lines"
}

status=0 run=0
for build in "${builds[@]}"; do
  run=$((run + 1))
  ccserver="$build/ccserver" latency="$build/cc-latency"
  [ -x "$ccserver" ] && [ -x "$latency" ] || { echo "wakeups.sh: no ccserver/cc-latency in $build" >&2; exit 2; }
  d="$out/$run$(echo "$build" | tr '/' '_')" # a build given twice runs afresh
  start_ours "$d" none || { status=1; continue; }
  measure "ours $build ($run)" "$d/src/postgresql-0001.log" "$copy_dir/postgresql-0001.log" \
    "central:$central_pid" "local:$local_pid"
  stop_pid "$local_pid"; stop_pid "$central_pid"
done
if [ "$pipe" = 1 ]; then
  latency="${builds[0]:-$top/build}/cc-latency"
  command -v socat >/dev/null || { echo "wakeups.sh: no socat" >&2; exit 2; }
  start_pipe "$out/pipe" || exit 1
  measure "pipe" "$pipe_src" "$pipe_copy" "local:$pipe_tail" "local:$pipe_tx" "central:$pipe_rx"
fi
exit $status
