#!/usr/bin/env python3
# timeline_wakes.py OUT [--rows HOP]: the wake-ups of a `WAKES=1 bash bench/timeline.sh ours|pipe
# steady|trickle` trace (OUT/wakes.txt), per hop (waker -> wakee, both named by process and
# thread: local/cc-io, central/cc-tw-worker, lat/reader, pipe's tail, send, recv, ...):
#   - the wake's kind, from the kernel stack of its sched_waking (inotify, socket, pipe,
#     futex, eventfd, timer...) and whether it was a sync wake (__wake_up_sync_key: the waker
#     says it is about to sleep, so the scheduler may put the wakee on the waker's CPU);
#   - where the wakee went: the waker's CPU, or another CPU busy or idle, and for an idle
#     target how long it had been idle (since its switch to the idle task);
#   - how it was told: an IPI (ipi_send_cpu from the waker's CPU: ttwu_queue_wakelist is
#     the wake list's call_function_single, wakeup_preempt/resched_curr a reschedule), none
#     needed (the waker's CPU), or none because the target was polling
#     (sched_wake_idle_without_ipi);
#   - the IPI's delivery (send -> the target leaving idle, power:cpu_idle exit) and the
#     wake -> running delay (sched_waking -> the wakee's sched_switch in).
# On this KVM guest (cpuidle driver none: plain HLT) an IPI to a halted vCPU goes through the
# hypervisor and sometimes takes 170-210 us (bench/PROFILE.md, "Session 20: latency").
import sys, re
from collections import defaultdict, Counter
from timeline_trace import LINE, pids as pids_of

out = sys.argv[1]
pids = pids_of(out)
label_of_pid = {v: k for k, v in pids.items()}

# First pass: which thread of cc-latency writes (the appends) and which reads.
ltid_w = Counter(); ltid_r = Counter()
for line in open(out + '/script.txt'):
    m = LINE.match(line)
    if not m or m.group(2) != pids.get('lat'): continue
    ev = m.group(6)
    if ev.endswith('sys_enter_write'): ltid_w[m.group(3)] += 1
    elif ev.endswith('sys_enter_read'): ltid_r[m.group(3)] += 1
writer = ltid_w.most_common(1)[0][0] if ltid_w else None
reader = next((t for t, _ in ltid_r.most_common() if t != writer), None)

tcomm = {}   # tid -> comm
tpid = {}    # tid -> pid


def name(tid):
    if tid == '0': return 'idle/irq'
    p = tpid.get(tid)
    lab = label_of_pid.get(p)
    if lab == 'lat':
        return 'lat/' + ('writer' if tid == writer else 'reader' if tid == reader else 'other')
    if lab is None:
        return 'other'
    return lab + '/' + tcomm.get(tid, '?')


KINDS = [('inotify_handle_inode_event', 'inotify'), ('fsnotify', 'inotify'),
         ('sock_def_readable', 'socket'), ('tcp_', 'socket'), ('sk_', 'socket'),
         ('anon_pipe_write', 'pipe'), ('fifo_pipe_write', 'pipe'), ('pipe_write', 'pipe'), ('pipe_read', 'pipe'), ('eventfd', 'eventfd'),
         ('futex', 'futex'), ('hrtimer_wakeup', 'timer'), ('process_timeout', 'timer'),
         ('signalfd', 'signal'), ('ep_poll_callback', 'epoll')]


def kind_of(stack):
    k = next((lab for fn, lab in KINDS for s in stack if s.startswith(fn)), 'other')
    sync = any(s.startswith('__wake_up_sync') for s in stack)
    return k, sync


wakes = []          # dicts
pending = {}        # wakee tid -> index in wakes (waiting for its switch in)
idle_since = {}     # cpu -> t of its switch to idle (None: busy)
hlt_since = {}      # cpu -> t of cpu_idle enter
ipis = defaultdict(list)   # (from cpu) -> [(t, to cpu, callsite)]
noipi = defaultdict(list)  # to cpu -> [t]
idle_exit = defaultdict(list)  # cpu -> [(t exit, t entered)]
cur = None          # the sched_waking whose stack lines follow
for line in open(out + '/wakes.txt'):
    if line.startswith('\t') or (line.startswith(' ') and not LINE.match(line)):
        if cur is not None:
            f = line.split()
            if len(f) >= 2: cur['stack'].append(f[1])
        continue
    m = LINE.match(line)
    if not m:
        cur = None; continue
    c, pid, tid, cpu, t, ev, args = m.groups(); t = float(t); cpu = int(cpu); ev = ev.split(':')[-1]
    tcomm.setdefault(tid, c); tpid.setdefault(tid, pid)
    cur = None
    if ev == 'sched_waking':
        a = re.search(r'comm=(.*?) pid=(\d+) prio=\d+ target_cpu=(\d+)', args)
        wt = a.group(2); tc = int(a.group(3))
        tcomm.setdefault(wt, a.group(1))
        s = idle_since.get(tc)
        w = dict(t=t, waker=tid, wcpu=cpu, wakee=wt, tc=tc, idle=(t - s) if s is not None else None,
                 hlt=(t - hlt_since[tc]) if hlt_since.get(tc) is not None else None,
                 stack=[], run=None, ipi=None, noipi=False, exit=None)
        wakes.append(w); pending[wt] = len(wakes) - 1; cur = w
    elif ev == 'sched_switch':
        a = re.search(r'prev_comm=(.*?) prev_pid=(\d+) .*prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+)', args)
        tcomm.setdefault(a.group(2), a.group(1)); tcomm.setdefault(a.group(5), a.group(4))
        if a.group(5) == '0':
            idle_since[cpu] = t
        else:
            idle_since[cpu] = None
            i = pending.pop(a.group(5), None)
            if i is not None and wakes[i]['run'] is None:
                wakes[i]['run'] = t; wakes[i]['rcpu'] = cpu
    elif ev == 'ipi_send_cpu':
        a = re.search(r'cpu=(\d+) callsite=(\S+)', args)
        ipis[cpu].append((t, int(a.group(1)), a.group(2).split('+')[0]))
    elif ev == 'sched_wake_idle_without_ipi':
        a = re.search(r'cpu=(\d+)', args)
        noipi[int(a.group(1))].append(t)
    elif ev == 'cpu_idle':
        a = re.search(r'state=(\d+)', args)
        if a.group(1) == '4294967295':
            idle_exit[cpu].append((t, hlt_since.get(cpu)))
            hlt_since[cpu] = None
        else:
            hlt_since[cpu] = t

import bisect
for k in ipis: ipis[k].sort()
for k in noipi: noipi[k].sort()
for k in idle_exit: idle_exit[k].sort()
ex_t = {k: [x[0] for x in v] for k, v in idle_exit.items()}
for w in wakes:
    w['kind'], w['sync'] = kind_of(w['stack'])
    w['same'] = w['tc'] == w['wcpu']
    end = w['run'] if w['run'] is not None else w['t'] + 0.005
    # the IPI the wake sent: from the waker's CPU to the target, before the wakee ran
    for (ti, to, site) in ipis.get(w['wcpu'], [])[bisect.bisect_left(ipis.get(w['wcpu'], []), (w['t'],)):]:
        if ti > min(end, w['t'] + 0.0002): break
        if to == w['tc']:
            w['ipi'] = (ti, site); break
    nl = noipi.get(w['tc'], [])
    i = bisect.bisect_left(nl, w['t'])
    w['noipi'] = i < len(nl) and nl[i] <= min(end, w['t'] + 0.0002)
    # the target leaving HLT after the wake (when it was halted at the wake)
    if w['hlt'] is not None:
        el = ex_t.get(w['tc'], [])
        j = bisect.bisect_left(el, w['t'])
        if j < len(el) and el[j] <= end + 1e-6:
            w['exit'] = el[j]


def q(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))] if v else float('nan')


def us(x): return f'{x * 1e6:.0f}' if x == x else '-'


path = set(k for k in pids if k not in ('lat',))
rows = defaultdict(list)
for w in wakes:
    if w['run'] is None: continue
    a, b = name(w['waker']), name(w['wakee'])
    if b.startswith('other') or b == 'lat/other' or b == 'idle/irq': continue
    rows[(a, b)].append(w)
print(f'{out}: {len(wakes)} wakes; writer tid {writer}, reader tid {reader}')
print('| waker -> wakee | n | kind (sync %) | on the waker\'s CPU % | to an idle CPU %: idle <20 / 20-100 / 100-400 / >400 us | IPI % (callsites) | idle target: IPI -> out of HLT p50 / p90 / p99 us | wake -> running p50 / p90 / p99 us | > 100 us % |')
print('|---|---|---|---|---|---|---|---|---|')
for (a, b), ws in sorted(rows.items(), key=lambda kv: -len(kv[1])):
    if len(ws) < 20: continue
    n = len(ws)
    kinds = Counter(w['kind'] for w in ws).most_common(2)
    ks = ', '.join(f'{k} {100 * c / n:.0f}' for k, c in kinds)
    sync = 100 * sum(w['sync'] for w in ws) / n
    same = 100 * sum(w['same'] for w in ws) / n
    idl = [w for w in ws if not w['same'] and w['idle'] is not None]
    bk = [sum(lo <= w['idle'] < hi for w in idl) for lo, hi in [(0, 20e-6), (20e-6, 100e-6), (100e-6, 400e-6), (400e-6, 1e9)]]
    ip = [w for w in ws if w['ipi']]
    sites = Counter(w['ipi'][1] for w in ip).most_common(2)
    dl = [w['exit'] - w['ipi'][0] for w in ip if w['exit'] is not None]
    wr = [w['run'] - w['t'] for w in ws]
    print(f"| {a} -> {b} | {n} | {ks} ({sync:.0f}) | {same:.0f} | {100 * len(idl) / n:.0f}: {' / '.join(str(x) for x in bk)} | "
          f"{100 * len(ip) / n:.0f} ({', '.join(f'{s} {c}' for s, c in sites)}) | {us(q(dl, .5))} / {us(q(dl, .9))} / {us(q(dl, .99))} | "
          f"{us(q(wr, .5))} / {us(q(wr, .9))} / {us(q(wr, .99))} | {100 * sum(x > 100e-6 for x in wr) / n:.1f} |")
# The hypervisor's side, from every IPI of the trace sent to a halted vCPU: send -> the
# target out of HLT, by how long the target had been halted when the IPI was sent.
hl = []
allipi = sorted((t, frm, to) for frm, v in ipis.items() for (t, to, site) in v)
enter = defaultdict(list)
for cpu, v in idle_exit.items():
    for (tx, te) in v:
        if te is not None: enter[cpu].append((te, tx))
for k in enter: enter[k].sort()
for (t, frm, to) in allipi:
    v = enter.get(to, [])
    i = bisect.bisect_right(v, (t, float('inf'))) - 1
    if i >= 0 and v[i][0] <= t < v[i][1]:
        hl.append((t - v[i][0], v[i][1] - t))
print(f'\nIPIs to a halted vCPU: {len(hl)}; send -> out of HLT by how long it had been halted:')
for lo, hi in [(0, 10e-6), (10e-6, 20e-6), (20e-6, 50e-6), (50e-6, 100e-6), (100e-6, 200e-6), (200e-6, 400e-6), (400e-6, 1e9)]:
    d = [x[1] for x in hl if lo <= x[0] < hi]
    if d:
        print(f'  halted {lo*1e6:.0f}-{hi*1e6 if hi < 1 else float("inf"):.0f} us: n={len(d)} p50 {us(q(d,.5))} p90 {us(q(d,.9))} p99 {us(q(d,.99))} us, over 100 us {100*sum(x > 100e-6 for x in d)/len(d):.1f} %')
# The slow wakes (> 100 us to run) of the path, by what their target was doing.
print('\nwakes over 100 us to run, by hop: target (same CPU / busy other / idle other: idle for p50 us), IPI, stack kinds')
for (a, b), ws in sorted(rows.items(), key=lambda kv: -len(kv[1])):
    slow = [w for w in ws if w['run'] - w['t'] > 100e-6]
    if len(ws) < 20 or not slow: continue
    sm = sum(w['same'] for w in slow); bo = sum((not w['same']) and w['idle'] is None for w in slow)
    io = [w for w in slow if not w['same'] and w['idle'] is not None]
    print(f'  {a} -> {b}: {len(slow)} of {len(ws)}: same {sm}, busy other {bo}, idle other {len(io)} '
          f'(idle p50 {us(q([w["idle"] for w in io], .5))} us), with IPI {sum(bool(w["ipi"]) for w in slow)}, '
          f'HLT exit after IPI p50 {us(q([w["exit"] - w["ipi"][0] for w in slow if w["ipi"] and w["exit"]], .5))} us')
if '--rows' in sys.argv:
    h = sys.argv[sys.argv.index('--rows') + 1]
    for (a, b), ws in rows.items():
        if h not in f'{a}->{b}': continue
        for w in ws:
            print(f"{w['t']:.6f} {a}->{b} wcpu={w['wcpu']} tc={w['tc']} idle={us(w['idle']) if w['idle'] is not None else 'busy'} "
                  f"ipi={w['ipi'][1] if w['ipi'] else '-'} exit={us(w['exit'] - w['t']) if w['exit'] else '-'} run={us(w['run'] - w['t'])} "
                  f"kind={w['kind']}{'/sync' if w['sync'] else ''} stack={'<'.join(w['stack'][1:6])}")
# Per line of a steady trace (OUT/rows.json from bench/timeline.py): a line's first hop slow
# (append -> the source read over 150 us: its reader woken late) and its last hop slow (copy
# written -> visible over 100 us), and which of them the lines over the p99 had. A p99 made
# of lines with both slow is a p99 of two slow wakes in a row (bench/PROFILE.md, "Session 21").
import os, json
if os.path.exists(out + '/rows.json'):
    rs = json.load(open(out + '/rows.json'))
    if rs:
        vis = [r['vis'] for r in rs]
        p99 = q(vis, .99)
        first = lambda r: r['src'] > 150e-6
        last = lambda r: r['vis'] - r['wrx'] > 100e-6
        top = [r for r in rs if r['vis'] >= p99]
        n = len(rs)
        both = sum(first(r) and last(r) for r in rs)
        f1 = sum(map(first, rs)) / n; f3 = sum(map(last, rs)) / n
        print(f'\nper line ({n}): p50 {q(vis, .5) * 1e3:.3f} p99 {p99 * 1e3:.3f} ms; first hop slow {100 * f1:.1f} %, '
              f'last hop slow {100 * f3:.1f} %, both {100 * both / n:.2f} % (if independent {100 * f1 * f3:.2f} %); '
              f'the {len(top)} lines over the p99: both {sum(first(r) and last(r) for r in top)}, first only '
              f'{sum(first(r) and not last(r) for r in top)}, last only {sum(last(r) and not first(r) for r in top)}, '
              f'neither {sum(not first(r) and not last(r) for r in top)}')
