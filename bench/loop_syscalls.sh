#!/usr/bin/env bash
# System calls of the local's and the central's I/O loop (`cc-io`) over a 10 s trickle
# of 10 lines a second (cc-latency), the pair as bench/lib.sh start_ours starts it; strace -c
# of each side's cc-io thread (bench/PROFILE.md, "Session 15"). Divide by the 100 lines.
#   bash bench/loop_syscalls.sh BUILD_DIR OUT_DIR
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$1 out=$2
mkdir -p "$out/logs"
. "$top/bench/lib.sh"
trap stop_all EXIT
ccserver=$build/ccserver latency=$build/cc-latency
d=$out/pair; mkdir -p "$d"
start_ours "$d" none || exit 1
tid_of() { for t in /proc/"$1"/task/*; do [ "$(cat "$t/comm")" = "$2" ] && basename "$t"; done | head -1; }
lio=$(tid_of "$local_pid" cc-io) cio=$(tid_of "$central_pid" cc-io)
sleep 1
strace -c -o "$out/local-io.txt" -p "$lio" 2>/dev/null & s1=$!
strace -c -o "$out/central-io.txt" -p "$cio" 2>/dev/null & s2=$!
sleep 0.5
"$latency" --source "$d/src/postgresql-0001.log" --copy "$copy_dir/postgresql-0001.log" --lines-per-second 10 --seconds 10 --drain 10 --label x 2>>"$out/logs/latency.err"
kill -INT "$s1" "$s2"; wait "$s1" "$s2" 2>/dev/null
echo "local cc-io:"; cat "$out/local-io.txt"; echo "central cc-io:"; cat "$out/central-io.txt"
