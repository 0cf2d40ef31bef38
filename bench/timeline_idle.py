#!/usr/bin/env python3
# timeline_idle.py OUT: from a bench/timeline.sh trace (OUT/script.txt), every wake-up by
# (waker's comm -> wakee's comm): how long the wakee took to run (sched_waking -> its
# sched_switch in) when its CPU was busy, and when its CPU was idle, split by how long that
# CPU had been idle (under and over 400 us): on this VM a wake onto a vCPU idle for a while
# often takes 100-300 us (bench/PROFILE.md, "Session 20: latency").
import sys, re
from timeline_trace import LINE
from collections import defaultdict
out = sys.argv[1]
idle_since = {}; busy_since = {}; pending = {}; res = defaultdict(list)
for line in open(out + '/script.txt'):
    m = LINE.match(line)
    if not m: continue
    c, pid, tid, cpu, t, ev, args = m.groups(); t = float(t); cpu = int(cpu); ev = ev.split(':')[-1]
    if ev == 'sched_waking':
        a = re.search(r'comm=(.*?) pid=(\d+) prio=\d+ target_cpu=(\d+)', args)
        tc = int(a.group(3)); s = idle_since.get(tc)
        pending[a.group(2)] = (t, tc, (t - s) if s is not None else None, a.group(1), c, cpu)
    elif ev == 'sched_switch':
        a = re.search(r'prev_comm=(.*?) prev_pid=(\d+) .*prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+)', args)
        if a.group(5) == '0': idle_since[cpu] = t
        else:
            idle_since[cpu] = None
            p = pending.pop(a.group(5), None)
            if p:
                res[(p[4], p[3])].append((p[2], t - p[0], p[1] == p[5]))
def q(v, p): v = sorted(v); return v[min(len(v)-1, int(p*len(v)))] if v else float('nan')
for k, v in sorted(res.items(), key=lambda kv: -len(kv[1]))[:8]:
    idle = [x for x in v if x[0] is not None]; busy = [x for x in v if x[0] is None]
    s = f'{k[0]:>12s} -> {k[1]:<12s} n={len(v):5d} busy-target n={len(busy)} p50 {q([x[1] for x in busy],.5)*1e6:.0f} p99 {q([x[1] for x in busy],.99)*1e6:.0f} |'
    for lo, hi in [(0, 400e-6), (400e-6, 1)]:
        b = [x[1] for x in idle if lo <= x[0] < hi]
        s += f' idle {lo*1e6:.0f}-{hi*1e6:.0f}: n={len(b)} p50 {q(b,.5)*1e6:.0f} p90 {q(b,.9)*1e6:.0f} p99 {q(b,.99)*1e6:.0f} >100us {sum(x>100e-6 for x in b)} |'
    print(s)
