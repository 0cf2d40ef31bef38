#!/usr/bin/env python3
# timeline_syncs.py OUT: for a bench/timeline.sh ours steady trace, per central fdatasync: submit (cc-sync woken) -> fdatasync enter -> exit -> the
# worker's wake by cc-sync -> the first inline (cc-io) copy write after it; worker writes in
# the window after the exit.
import sys, re, bisect
from timeline_trace import LINE, pids as pids_of
from collections import Counter
out = sys.argv[1]
pids = pids_of(out)
cpid = pids['central']
pend = {}; syncs = []; pw = []; wk = []; comm = {}
for line in open(out + '/script.txt'):
    m = LINE.match(line)
    if not m: continue
    c, pid, tid, cpu, t, ev, args = m.groups(); t = float(t); ev = ev.split(':')[-1]
    if ev == 'sched_waking':
        a = re.search(r'comm=(.*?) pid=(\d+) prio', args)
        if pid == cpid: wk.append((t, c, a.group(1), a.group(2)))
        continue
    if pid != cpid: continue
    if ev == 'sys_enter_fdatasync': pend[tid] = t
    elif ev == 'sys_exit_fdatasync' and tid in pend: syncs.append((pend.pop(tid), t))
    elif ev == 'sys_enter_pwrite64':
        n = int(re.search(r'count: (0x[0-9a-f]+)', args).group(1), 16)
        if n > 1000: pw.append((t, c))
syncs.sort(); pw.sort()
def q(v, p): v = sorted(v); return v[min(len(v)-1, int(p*len(v)))] if v else float('nan')
subs = sorted(w[0] for w in wk if w[2] == 'cc-sync' and w[1] in ('cc-io', 'cc-tw-worker'))
backs = sorted(w[0] for w in wk if w[1] == 'cc-sync' and w[2] == 'cc-tw-worker')
d_start = []; d_back = []; d_inline = []; nwork = []; d_sync = []
for s, e in syncs:
    i = bisect.bisect_right(subs, s) - 1
    if i >= 0 and s - subs[i] < 0.05: d_start.append(s - subs[i])
    j = bisect.bisect_left(backs, e)
    if j < len(backs): d_back.append(backs[j] - e)
    k = bisect.bisect_left(pw, (e,))
    n = 0
    while k < len(pw) and pw[k][1] != 'cc-io': n += 1; k += 1
    if k < len(pw): d_inline.append(pw[k][0] - e); nwork.append(n)
    d_sync.append(e - s)
print(f'{len(syncs)} syncs: submit->fdatasync enter p50 {q(d_start,.5)*1e3:.3f} p90 {q(d_start,.9)*1e3:.3f} ms; fdatasync p50 {q(d_sync,.5)*1e3:.2f} p90 {q(d_sync,.9)*1e3:.2f}; exit->worker woken p50 {q(d_back,.5)*1e3:.3f} p90 {q(d_back,.9)*1e3:.3f}; exit->first inline write p50 {q(d_inline,.5)*1e3:.3f} p90 {q(d_inline,.9)*1e3:.3f}; worker writes after the exit before it: p50 {q(nwork,.5)} p90 {q(nwork,.9)} mean {sum(nwork)/max(1,len(nwork)):.2f}')
tot = len(pw); wkr = sum(1 for p in pw if p[1] != 'cc-io')
print(f'copy writes > 1000 B: {tot}, by the worker {wkr} ({100*wkr/tot:.0f} %), of which after an fdatasync returned: {sum(nwork)} ({100*sum(nwork)/max(1,tot):.1f} % of all)')
