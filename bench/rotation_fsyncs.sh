#!/usr/bin/env bash
# fsyncs per thread of the local ccserver during N rotations (copytruncate,
# then a new file) of a settled tailer with ack = no (bench/PROFILE.md,
# "Session 15: no disk waits on the I/O loop"):
#   bash bench/rotation_fsyncs.sh BUILD_DIR OUT_DIR [N]
# Prints per thread name the fsync/fdatasync calls (strace -f -T), their total
# and longest time; needs strace and permission to attach.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$1 out=$2 n=${3:-10}
mkdir -p "$out/logs"
. "$top/bench/lib.sh"
trap stop_all EXIT
ccserver=$build/ccserver
export BENCH_TAILER_OPTS="ack = no"
d=$out/pair; mkdir -p "$d"
start_ours "$d" none || exit 1
echo "first line" > "$d/src/postgresql-0000.log"
sleep 1
strace -f -T -e trace=fsync,fdatasync -o "$out/strace.txt" -p "$local_pid" 2>/dev/null &
spid=$!
sleep 1
for i in $(seq 1 "$n"); do
  f="$d/src/postgresql-0000.log"
  : > "$f"; printf "gen %d %s\n" "$i" "$(printf "%*s" "$i" "" | tr " " x)" >> "$f"  # copytruncate: a new generation, its length new
  sleep 0.4
done
g="$d/src/postgresql-0001.log"
echo "new file line" > "$g.part"; mv "$g.part" "$g"   # a new file (classic: next)
sleep 1
kill "$spid"; wait "$spid" 2>/dev/null
for t in /proc/"$local_pid"/task/*; do echo "$(basename "$t") $(cat "$t/comm")"; done > "$out/tids.txt"
awk 'NR==FNR { name[$1] = $2; next }
     /fsync|fdatasync/ { tid = $1; dur = $NF; gsub(/[<>]/, "", dur);
       n[name[tid]]++; s[name[tid]] += dur; if (dur > m[name[tid]]) m[name[tid]] = dur }
     END { for (k in n) printf "%s fsyncs=%d total_ms=%.2f max_ms=%.2f\n", k, n[k], s[k]*1000, m[k]*1000 }' \
  "$out/tids.txt" "$out/strace.txt" | sort
echo "copies:"; find "$d/dst" -type f -name 'postgresql*' | head; 
