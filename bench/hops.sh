#!/usr/bin/env bash
# Where a trickle line's time goes, per side: starts ours as bench/run.sh does
# (BUILD's ccserver and cc-latency), records the write, sendmsg and pwrite64
# syscall tracepoints of the whole machine (`perf record -a`, root) during a
# 10 s trickle at 10 lines a second, and pairs, per line, cc-latency's append
# (its write) with the local's next sendmsg (the line into the data
# connection) and that with the central's next pwrite64 (the copy written).
# Prints the medians and p90s of both shares. Other processes' syscalls do not
# count (pids), but the pairing is "the next one", so a busy server (another
# file, a backlog) confuses it: run it on an otherwise idle pair.
#
#   bash bench/hops.sh BUILD OUT
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
[ $# -eq 2 ] || { echo "usage: bash bench/hops.sh BUILD OUT" >&2; exit 2; }
build=$1; out=$2
mkdir -p "$out/logs"
. "$top/bench/lib.sh"
trap stop_all EXIT
ccserver="$build/ccserver"; latency="$build/cc-latency"
start_ours "$out/d" none || exit 1
sleep 1
perf record -q -a -o "$out/perf.data" -e syscalls:sys_enter_write --exclude-perf -e syscalls:sys_enter_sendmsg -e syscalls:sys_enter_pwrite64 -- sleep 13 &
pp=$!
sleep 1
"$latency" --source "$out/d/src/postgresql-0001.log" --copy "$copy_dir/postgresql-0001.log" --lines-per-second 10 --seconds 10 --drain 2 --label hops &
lat_pid=$!
wait $lat_pid
wait $pp
perf script -i "$out/perf.data" -F comm,pid,tid,time,event,trace > "$out/script.txt" 2>/dev/null
echo "local $local_pid central $central_pid" > "$out/pids"
stop_pid "$local_pid"; stop_pid "$central_pid"; rm -f "$out/perf.data"
python3 - "$out/script.txt" "$local_pid" "$central_pid" "$lat_pid" <<'PY'
import sys, re, statistics
path, lp, cp, xp = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
ev=[]
for line in open(path):
    m = re.match(r'\s*(\S.*?)\s+(\d+)/(\d+)\s+\[?\d*\]?\s*([\d.]+):\s+syscalls:sys_enter_(\w+):\s*(.*)', line)
    if not m:
        continue
    comm, pid, tid, t, call, args = m.groups()
    ev.append((float(t), comm, pid, call, args.strip()))
# The appends: cc-latency's writes to the source, its most used descriptor
# (which number it gets depends on what it opened first).
from collections import Counter
writes=[e for e in ev if e[2]==xp and e[3]=='write']
fds=Counter(e[4].split(',')[0] for e in writes)
appends=[e for e in writes if fds and e[4].split(',')[0]==fds.most_common(1)[0][0]]
loc=[e for e in ev if e[2]==lp and e[3]=='sendmsg']
cen=[e for e in ev if e[2]==cp and e[3]=='pwrite64']
import bisect
# perf script's order across CPUs is not strictly by time: sort for bisect.
lt=sorted(e[0] for e in loc); ct=sorted(e[0] for e in cen)
L=[];C=[]
for a in appends:
    i=bisect.bisect_left(lt,a[0])
    if i>=len(lt) or lt[i]-a[0]>0.05: continue
    j=bisect.bisect_left(ct,lt[i])
    if j>=len(ct) or ct[j]-lt[i]>0.05: continue
    L.append((lt[i]-a[0])*1e6); C.append((ct[j]-lt[i])*1e6)
def q(v,p): v=sorted(v); return v[min(len(v)-1,int(p*len(v)))]
if not L:
    sys.exit(f"hops: no line paired ({len(appends)} appends, {len(loc)} local sendmsg, {len(cen)} central pwrite64)")
print(f"lines {len(L)} of {len(appends)} appends: append->local sendmsg p50 {q(L,.5):.0f} us p90 {q(L,.9):.0f}; local sendmsg->central write p50 {q(C,.5):.0f} us p90 {q(C,.9):.0f}")
PY
