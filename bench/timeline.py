#!/usr/bin/env python3
# Analysis for bench/timeline.sh: `timeline.py trickle|steady OUT` reads
# OUT/script.txt (perf script) and OUT/pids and prints the per-hop table
# (trickle) or the per-append stages (steady); see timeline.sh.
import sys
from timeline_trace import LINE, pids as pids_of, hx, ret, main_streams
mode = sys.argv[1]
sys.argv = [sys.argv[0], sys.argv[2]]
if mode == 'trickle':
    # cp.py OUT: critical path of each trickle line from the append to the reader's read,
    # walking back over sched_waking from the read that returned the line.
    import sys, re, bisect, statistics
    from collections import defaultdict, Counter
    out = sys.argv[1]
    pids = pids_of(out)
    latpid = pids.pop('lat')
    ourpids = set(pids.values())
    sw_in = defaultdict(list)    # tid -> [(t, cpu, prev_comm, prev_state_of_prev)]
    sw_out = defaultdict(list)   # tid -> [(t, cpu, state)]
    wakes = defaultdict(list)    # tid -> [(t, waker_tid, waker_comm, waker_cpu, target_cpu)]
    comm_of = {}; pid_of = {}
    appends = []; reads = []  # (t, tid)
    lat_writer = None
    for line in open(out + '/script.txt'):
        m = LINE.match(line)
        if not m: continue
        comm, pid, tid, cpu, t, ev, args = m.groups()
        t = float(t); cpu = int(cpu)
        if pid != '0':
            comm_of[tid] = comm; pid_of[tid] = pid
        ev = ev.split(':')[-1]
        if ev == 'sched_switch':
            a = re.search(r'prev_comm=(.*?) prev_pid=(\d+) prev_prio=\d+ prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+)', args)
            pc, pp, ps, nc, np_ = a.groups()
            sw_out[pp].append((t, cpu, ps))
            sw_in[np_].append((t, cpu, pc))
            comm_of.setdefault(np_, nc)
        elif ev == 'sched_waking':
            a = re.search(r'comm=(.*?) pid=(\d+) prio=\d+ target_cpu=(\d+)', args)
            wc, wt, tc = a.groups()
            wakes[wt].append((t, tid, comm, cpu, int(tc)))
        elif pid == latpid and ev == 'sys_enter_write':
            appends.append((t, tid, args))
        elif pid == latpid and ev == 'sys_exit_read':
            r = int(args.split('0x')[-1], 16) if '0x' in args else 0
            if r > 0: reads.append((t, tid, r))
    for d in (sw_in, sw_out, wakes):
        for k in d: d[k].sort()
    # cc-latency's writer: the thread with the most write calls
    wt = Counter(a[1] for a in appends).most_common(1)[0][0]
    fdc = Counter(a[2].split(',')[0] for a in appends if a[1] == wt).most_common(1)[0][0]
    apps = sorted(a[0] for a in appends if a[1] == wt and a[2].split(',')[0] == fdc)
    rt = Counter(r[1] for r in reads).most_common(1)[0][0]
    rds = sorted(r[0] for r in reads if r[1] == rt)
    def name(tid):
        c = comm_of.get(tid, '?'); p = pid_of.get(tid)
        side = next((k for k, v in pids.items() if v == p), 'lat' if p == latpid else 'x')
        return f'{side}:{c}'
    def last_before(lst, t):
        i = bisect.bisect_right(lst, (t, 'zzzz')) - 1
        return lst[i] if i >= 0 else None
    def first_after(lst, t):
        i = bisect.bisect_left(lst, (t,))
        return lst[i] if i < len(lst) else None
    def offcpu(tid, a, b):
        # time tid was switched out (preempted or blocked) between a and b
        tot = 0.0
        outs = sw_out.get(tid, []); ins = sw_in.get(tid, [])
        i = bisect.bisect_left(outs, (a,))
        while i < len(outs) and outs[i][0] < b:
            nxt = first_after(ins, outs[i][0])
            e = min(nxt[0], b) if nxt else b
            tot += e - outs[i][0]; i += 1
        return tot
    chains = []
    for a in apps:
        # the first read of the reader after the append
        j = bisect.bisect_left(rds, a)
        if j >= len(rds) or rds[j] - a > 0.1: continue
        T = rds[j]
        cur, ct = rt, T
        hops = []
        ok = False
        for _ in range(12):
            w = last_before(wakes.get(cur, []), ct)
            if w is None or w[0] < a:
                break
            s = first_after(sw_in.get(cur, []), w[0])
            if s is None or s[0] > ct: s = (w[0], w[4], '?')
            hops.append(dict(tid=cur, name=name(cur), wake=w[0], waker=w[1], wcpu=w[3], tcpu=w[4],
                             run=s[0], rcpu=s[1], idle=s[2].startswith('swapper'), end=ct,
                             off=offcpu(cur, s[0], ct)))
            if w[1] == wt:
                ok = True; break
            cur, ct = w[1], w[0]
        if ok:
            hops.reverse()
            chains.append((a, T, hops))
    print(f'{len(apps)} appends, {len(chains)} chains traced to the writer')
    sig = Counter(' > '.join(h['name'] for h in c[2]) for c in chains)
    for s, n in sig.most_common(5): print(f'  {n:4d}  {s}')
    best = sig.most_common(1)[0][0]
    sel = [c for c in chains if ' > '.join(h['name'] for h in c[2]) == best]
    def q(v, p): v = sorted(v); return v[min(len(v) - 1, int(p * len(v)))] if v else float('nan')
    tot = [(T - a) * 1e6 for a, T, h in sel]
    print(f'chain "{best}": {len(sel)} lines, append->read p50 {q(tot,.5):.1f} p90 {q(tot,.9):.1f} us')
    nh = len(sel[0][2])
    print('| hop | waker work before the wake (us p50/p90) | wake->running p50/p90 | woken on an idle CPU | same CPU as waker | running->next wake p50/p90 | off-CPU in it p50 |')
    print('|---|---|---|---|---|---|---|')
    for k in range(nh):
        pre = []; wl = []; idle = 0; same = 0; run = []; off = []
        for a, T, h in sel:
            x = h[k]
            prev_t = a if k == 0 else h[k-1]['run']
            pre.append((x['wake'] - prev_t) * 1e6)
            wl.append((x['run'] - x['wake']) * 1e6)
            idle += x['idle']; same += (x['rcpu'] == x['wcpu'])
            run.append((x['end'] - x['run']) * 1e6); off.append(x['off'] * 1e6)
        print(f"| {sel[0][2][k]['name']} | {q(pre,.5):.1f} / {q(pre,.9):.1f} | {q(wl,.5):.1f} / {q(wl,.9):.1f} | {idle}/{len(sel)} | {same}/{len(sel)} | {q(run,.5):.1f} / {q(run,.9):.1f} | {q(off,.5):.1f} |")
    # split: lines whose hops all woke busy CPUs vs with k idle wakes
    byidle = defaultdict(list)
    for a, T, h in sel: byidle[sum(x['idle'] for x in h)].append((T - a) * 1e6)
    print('idle wakes per line -> lines, p50 us: ' + ', '.join(f'{k}: {len(v)}, {q(v,.5):.0f}' for k, v in sorted(byidle.items())))
    # wake latency by idle/busy target over all hops
    wi = [(x['run'] - x['wake']) * 1e6 for a, T, h in sel for x in h if x['idle']]
    wb = [(x['run'] - x['wake']) * 1e6 for a, T, h in sel for x in h if not x['idle']]
    print(f'wake->running: on an idle CPU p50 {q(wi,.5):.1f} p90 {q(wi,.9):.1f} (n={len(wi)}); on a busy CPU p50 {q(wb,.5):.1f} p90 {q(wb,.9):.1f} (n={len(wb)})')
else:
    # st.py OUT: steady-stream stages per append, by byte offsets.
    import sys, re, bisect
    from collections import defaultdict, Counter
    out = sys.argv[1]
    pids = pids_of(out)
    latpid = pids['lat']
    ours = 'local' in pids
    pend = {}  # tid -> (t, event, args) of the last sys_enter
    apps = []; vis = []; srcr = []; cpw = []; sends = []; crd = []
    sched = []  # (t, cpu, prev, next)
    lat_w = Counter(); lat_r = Counter()
    for line in open(out + '/script.txt'):
        m = LINE.match(line)
        if not m: continue
        comm, pid, tid, cpu, t, ev, args = m.groups(); t = float(t); ev = ev.split(':')[-1]
        if ev == 'sched_switch':
            a = re.search(r'prev_comm=(.*?) prev_pid=(\d+) .*prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+)', args)
            sched.append((t, int(cpu), a.group(1), a.group(3), a.group(4), a.group(5))); continue
        if ev.startswith('sys_enter_'):
            pend[tid] = (t, ev[10:], args); continue
        if not ev.startswith('sys_exit_'): continue
        call = ev[9:]; r = ret(args)
        e = pend.pop(tid, None)
        if not e or e[1] != call or r <= 0: continue
        t0, _, a = e
        fd = hx(a, 'fd')
        if pid == latpid and call == 'write': apps.append((t0, tid, fd, r))
        elif pid == latpid and call == 'read': vis.append((t, tid, fd, r))
        elif ours and pid == pids['local'] and call == 'pread64':
            srcr.append((t0, hx(a, 'pos'), r, comm, tid))
        elif ours and pid == pids['local'] and call == 'sendmsg': sends.append((t0, r, comm))
        elif ours and pid == pids['central'] and call == 'pwrite64':
            cpw.append((t0, t, hx(a, 'pos'), r, comm, tid))
        elif ours and pid == pids['central'] and call == 'read': crd.append((t, r, comm))
        elif not ours and pid == pids['tail'] and call == 'read': srcr.append((t0, None, r, comm, tid, fd))
        elif not ours and pid == pids['recv'] and call == 'write': cpw.append((t0, t, None, r, comm, tid, fd))
        elif not ours and pid == pids['send'] and call == 'write': sends.append((t0, r, comm))
    # appends: the writer thread's main fd; visible: reader thread's main fd
    apps, vis = main_streams(apps, vis)
    def cum(lst, tcol, ncol):
        o = 0; res = []
        for x in sorted(lst, key=lambda x: x[tcol]):
            res.append((x[tcol], o, o + x[ncol], x)); o += x[ncol]
        return res
    A = cum(apps, 0, 3)
    V = cum(vis, 0, 3)
    if ours:
        # the source's pread of file data: the ones whose pos is not 0 with count 4096 (first-bytes check)
        S = sorted([(x[0], x[1], x[1] + x[2], x) for x in srcr if not (x[1] == 0 and x[2] <= 4096 and len(srcr) > 10 and x[1] == 0)])
        W = sorted([(x[0], x[2], x[2] + x[3], x) for x in cpw])
    else:
        fdm = Counter(x[5] for x in srcr).most_common(1)[0][0]
        S = cum([x for x in srcr if x[5] == fdm], 0, 2)
        fdw = Counter(x[6] for x in cpw).most_common(1)[0][0]
        W = cum([x for x in cpw if x[6] == fdw], 0, 3)
    def cover(lst, off, t):
        # the first event at or after t whose [start,end) covers byte off
        i = bisect.bisect_left(lst, (t,))
        for k in range(i, min(i + 400, len(lst))):
            if lst[k][1] <= off < lst[k][2]: return lst[k]
        return None
    rows = []
    for (t, s, e, x) in A:
        b = e - 1
        sr = cover(S, b, t - 0.0005)  # a read may start just before the write returns
        cw = cover(W, b, t)
        vv = cover(V, b, t)
        if not (sr and cw and vv): continue
        rows.append(dict(t=t, src=sr[0] - t, wr=cw[0] - t, wrx=cw[3][1] - t, vis=vv[0] - t, n=e - s,
                         wr_len=cw[2] - cw[1], sr_len=sr[2]-sr[1]))
    def q(v, p): v = sorted(v); return v[min(len(v) - 1, int(p * len(v)))] if v else float('nan')
    print(f'{len(A)} appends, {len(rows)} traced; {len(S)} source reads, {len(W)} copy writes, {len(V)} visible reads')
    keys = [('src', 'append -> source read'), ('wr', 'append -> copy write enter'), ('wrx', 'append -> copy write exit'), ('vis', 'append -> visible')]
    for k, lab in keys:
        v = [r[k] * 1e3 for r in rows]
        print(f'{lab:28s} p50 {q(v,.5):.3f} p90 {q(v,.9):.3f} p99 {q(v,.99):.3f} max {max(v):.3f} ms')
    # the slowest 2 % by visible: what part grew
    rows.sort(key=lambda r: r['vis'])
    n = len(rows); slow = rows[int(n * .98):]; mid = rows[int(n*.4):int(n*.6)]
    def seg(rs):
        return dict(src=q([r['src'] for r in rs], .5) * 1e3, net=q([r['wr'] - r['src'] for r in rs], .5) * 1e3,
                    pw=q([r['wrx'] - r['wr'] for r in rs], .5) * 1e3, rd=q([r['vis'] - r['wrx'] for r in rs], .5) * 1e3,
                    wl=q([r['wr_len'] for r in rs], .5), sl=q([r['sr_len'] for r in rs], .5))
    for lab, rs in (('median 20 %', mid), ('slowest 2 %', slow)):
        s = seg(rs)
        print(f"{lab:12s}: append->src read {s['src']:.3f}, src read->copy write {s['net']:.3f}, pwrite {s['pw']:.3f}, write->visible {s['rd']:.3f} ms; copy write len {s['wl']:.0f}, src read len {s['sl']:.0f}")
    import json
    json.dump(rows, open(out + '/rows.json', 'w'))
