#!/usr/bin/env python3
# timeline_chain.py OUT [--rows]: per append of a `bench/timeline.sh ours steady` trace, the path
# append -> local source read -> local send -> central loop woken -> loop running ->
# loop's socket read -> [inline: the loop's copy write] or [the loop wakes the worker ->
# worker running -> (worker asleep again on a futex?) -> worker's copy write] -> visible.
# Classes: who wrote the copy, a central fdatasync in flight at the write, a sync job
# submitted (cc-sync woken) inside the line's path.
import sys, re, bisect, json
from timeline_trace import LINE, pids as pids_of, hx, ret, main_streams
from collections import defaultdict, Counter
out = sys.argv[1]
pids = pids_of(out)
latpid, lpid, cpid = pids['lat'], pids['local'], pids['central']
pend = {}
apps = []; vis = []; srcr = []; cpw = []; syncs = []; lsend = []; crd = []
wakes = defaultdict(list)  # woken tid -> [(t, waker tid, waker comm)]
sins = defaultdict(list)   # tid -> [t switched in]
souts = defaultdict(list)  # tid -> [(t, state)]
comm = {}
for line in open(out + '/script.txt'):
    m = LINE.match(line)
    if not m: continue
    c, pid, tid, cpu, t, ev, args = m.groups(); t = float(t); ev = ev.split(':')[-1]
    if ev == 'sched_switch':
        a = re.search(r'prev_comm=(.*?) prev_pid=(\d+) .*prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+)', args)
        souts[a.group(2)].append((t, a.group(3))); sins[a.group(5)].append(t)
        continue
    if ev == 'sched_waking':
        a = re.search(r'comm=(.*?) pid=(\d+) prio=\d+ target_cpu=(\d+)', args)
        wakes[a.group(2)].append((t, tid, c)); continue
    if pid in (cpid, lpid): comm[tid] = (pid, c)
    if ev.startswith('sys_enter_'):
        pend[tid] = (t, ev[10:], args); continue
    if not ev.startswith('sys_exit_'): continue
    call = ev[9:]; r = ret(args)
    e = pend.pop(tid, None)
    if not e or e[1] != call: continue
    t0, _, a = e
    if pid == cpid and call == 'fdatasync': syncs.append((t0, t)); continue
    if r <= 0: continue
    fd = hx(a, 'fd')
    if pid == latpid and call == 'write': apps.append((t0, tid, fd, r))
    elif pid == latpid and call == 'read': vis.append((t, tid, fd, r))
    elif pid == lpid and call == 'pread64': srcr.append((t0, hx(a, 'pos'), r, tid, t))
    elif pid == lpid and call in ('sendmsg', 'sendfile64'): lsend.append((t0, tid))
    elif pid == cpid and call == 'pwrite64': cpw.append((t0, t, hx(a, 'pos'), r, c, tid, fd))
    elif pid == cpid and call == 'read' and c == 'cc-io': crd.append((t0, t, tid, r))
for d in (wakes,): 
    for k in d: d[k].sort()
for k in sins: sins[k].sort()
for k in souts: souts[k].sort()
lsend.sort(); crd.sort(); syncs.sort()
apps, vis = main_streams(apps, vis)
def cum(lst):
    o = 0; res = []
    for x in sorted(lst):
        res.append((x[0], o, o + x[3], x)); o += x[3]
    return res
A = cum(apps); V = cum(vis)
S = sorted([(x[0], x[1], x[1] + x[2], x) for x in srcr if not (x[1] == 0 and x[2] <= 4096)])
fdb = Counter()
for x in cpw: fdb[x[6]] += x[3]
cfd = fdb.most_common(1)[0][0]
W = sorted([(x[0], x[2], x[2] + x[3], x) for x in cpw if x[6] == cfd])
cloop = [t for t, (p, c) in comm.items() if p == cpid and c == 'cc-io']
cloop = Counter(r[2] for r in crd).most_common(1)[0][0]
csync = set(t for t, (p, c) in comm.items() if p == cpid and c.startswith('cc-sync'))
# sync submissions: cc-sync woken by a central thread (not by a helper of its own)
subs = sorted(w[0] for tid in csync for w in wakes.get(tid, []) if comm.get(w[1], ('', ''))[1] in ('cc-io', 'cc-tw-worker'))
sstarts = [s[0] for s in syncs]
def cover(lst, off, t):
    i = bisect.bisect_left(lst, (t,))
    for k in range(i, min(i + 400, len(lst))):
        if lst[k][1] <= off < lst[k][2]: return lst[k]
    return None
def first_after(lst, t):
    i = bisect.bisect_left(lst, t); return lst[i] if i < len(lst) else None
def last_wake(tid, a, b, by=None):
    ws = wakes.get(tid, []); i = bisect.bisect_left(ws, (b,)) - 1
    while i >= 0 and ws[i][0] >= a:
        if by is None or ws[i][1] == by: return ws[i]
        i -= 1
    return None
def nwakes(tid, a, b):
    ws = wakes.get(tid, []); return bisect.bisect_left(ws, (b,)) - bisect.bisect_left(ws, (a,))
def in_flight(t):
    i = bisect.bisect_right(sstarts, t) - 1
    for k in range(i, max(-1, i - 4), -1):
        if syncs[k][0] <= t < syncs[k][1]: return True
    return False
def cnt(lst, a, b): return bisect.bisect_left(lst, b) - bisect.bisect_left(lst, a)
rows = []
for (t, s, e, x) in A:
    b = e - 1
    sr = cover(S, b, t - 0.0005); cw = cover(W, b, t); vv = cover(V, b, t)
    if not (sr and cw and vv): continue
    wtid = cw[3][5]; inline = wtid == cloop; tw = cw[0]
    snd = first_after(lsend, (sr[3][4],))
    tsend = snd[0] if snd and snd[0] < tw else sr[3][4]
    # the moment the loop handed the fragment on: the write (inline) or its wake of the worker
    if inline:
        hand = tw; hw = None
    else:
        hw = last_wake(wtid, tsend, tw, by=cloop)
        hand = hw[0] if hw else None
    # the loop's last socket read before the hand-off
    lim = hand if hand is not None else tw
    i = bisect.bisect_left(crd, (lim,)) - 1
    lr = crd[i] if i >= 0 and crd[i][0] >= tsend else None
    # the loop's wake before that read (by anyone) after the send
    lwk = last_wake(cloop, tsend, lr[0]) if lr else None
    lrun = first_after(sins.get(cloop, []), lwk[0]) if lwk else None
    r = dict(t=t, n=e - s, vis=vv[0] - t, src=sr[0] - t, send=tsend - sr[0],
             inline=inline, sif=in_flight(tw), sub=cnt(subs, t, vv[0]) > 0,
             sub_before=cnt(subs, t, tw) > 0,
             pw=cw[3][1] - tw, rd=vv[0] - cw[3][1])
    # send -> loop read (wake wait + run); loop read -> hand-off; hand-off -> write
    if lr:
        r['to_loop'] = lr[1] - tsend
        r['loop_wait'] = (lrun - lwk[0]) if (lwk and lrun and lrun <= lr[0]) else 0.0
        r['loop_work'] = (lim - lr[1])
    else:
        r['to_loop'] = float('nan'); r['loop_wait'] = float('nan'); r['loop_work'] = float('nan')
    if not inline:
        if hw:
            run = first_after(sins.get(wtid, []), hw[0])
            r['wk_wait'] = (run - hw[0]) if run and run <= tw else 0.0
            r['wk_rest'] = tw - (run if run and run <= tw else hw[0])
            r['wk_wakes'] = nwakes(wtid, hw[0], tw)  # 2: woken again (it slept on the mutex)
            r['wk_busy'] = False
        else:
            r['wk_wait'] = 0.0; r['wk_rest'] = float('nan'); r['wk_wakes'] = 0; r['wk_busy'] = True
    rows.append(r)
def q(v, p): v = sorted(v); return v[min(len(v) - 1, int(p * len(v)))] if v else float('nan')
def mean(v):
    v = [x for x in v if x == x]; return sum(v) / len(v) if v else float('nan')
span = max(r['t'] for r in rows) - min(r['t'] for r in rows)
sd = [s[1] - s[0] for s in syncs]
print(f'{len(A)} appends, {len(rows)} traced over {span:.1f} s; {len(syncs)} central fdatasyncs p50 {q(sd,.5)*1e3:.2f} p90 {q(sd,.9)*1e3:.2f} ms, in flight {sum(sd)/span*100:.0f} % of the time; {len(subs)} sync jobs submitted')
v = [r['vis'] * 1e3 for r in rows]
print(f'append->visible p50 {q(v,.5):.3f} p90 {q(v,.9):.3f} p99 {q(v,.99):.3f} max {max(v):.3f} ms')
rows.sort(key=lambda r: r['vis']); n = len(rows)
groups = [('all', rows), ('middle 20 %', rows[int(n*.4):int(n*.6)]), ('slowest 5 %', rows[int(n*.95):]),
          ('slowest 2 %', rows[int(n*.98):]), ('slowest 1 %', rows[int(n*.99):])]
print('| lines | n | vis | append->src read | ->send | send->loop read (of it: loop woken->running) | loop read->hand-off | hand-off->write (worker: woken->running; woke twice %; busy %) | pwrite | write->vis | worker % | sync in flight % | sync job submitted in path % |')
print('|---|---|---|---|---|---|---|---|---|---|---|---|---|')
for lab, rs in groups:
    f = lambda k, sel=rs: mean([r.get(k, float('nan')) for r in sel]) * 1e3
    wk = [r for r in rs if not r['inline']]
    ho = mean([(r['wk_wait'] + (r['wk_rest'] if r['wk_rest'] == r['wk_rest'] else 0)) for r in wk]) * 1e3 if wk else float('nan')
    print(f"| {lab} | {len(rs)} | {f('vis'):.3f} | {f('src'):.3f} | {f('send'):.3f} | {f('to_loop'):.3f} ({f('loop_wait'):.3f}) | {f('loop_work'):.3f} | "
          f"{ho:.3f} ({f('wk_wait', wk):.3f}; {100*mean([r['wk_wakes']>1 for r in wk]):.0f}; {100*mean([r['wk_busy'] for r in wk]):.0f}) | {f('pw'):.3f} | {f('rd'):.3f} | "
          f"{100*len(wk)/len(rs):.0f} | {100*mean([r['sif'] for r in rs]):.0f} | {100*mean([r['sub'] for r in rs]):.0f} |")
def cls(r):
    return ('worker' if not r['inline'] else 'loop') + (', sync in flight' if r['sif'] else '') + (', sync submitted in path' if r['sub'] else '')
byc = defaultdict(list)
for r in rows: byc[cls(r)].append(r)
s1 = set(id(r) for r in rows[int(n*.99):]); s2 = set(id(r) for r in rows[int(n*.98):])
print('| class | lines % | p50 ms | p90 | p99 | share of slowest 2 % | of slowest 1 % |')
print('|---|---|---|---|---|---|---|')
for c, rs in sorted(byc.items(), key=lambda kv: -len(kv[1])):
    v = [r['vis'] * 1e3 for r in rs]
    print(f"| {c} | {100*len(rs)/n:.1f} | {q(v,.5):.3f} | {q(v,.9):.3f} | {q(v,.99):.3f} | {100*sum(id(r) in s2 for r in rs)/max(1,len(s2)):.0f} | {100*sum(id(r) in s1 for r in rs)/max(1,len(s1)):.0f} |")
# where the slowest 2 % lost their time: the largest stage per line
big = Counter()
for r in rows[int(n*.98):]:
    st = dict(src=r['src'], send=r['send'], loop_wait=r['loop_wait'], loop_rest=r['to_loop'] - r['loop_wait'],
              loop_work=r['loop_work'], worker_wait=r.get('wk_wait', 0.0), worker_rest=r.get('wk_rest', 0.0),
              pwrite=r['pw'], read=r['rd'])
    st = {k: v for k, v in st.items() if v == v}
    big[max(st, key=st.get)] += 1
print('slowest 2 %: largest stage per line:', dict(big.most_common()))
if '--rows' in sys.argv:
    for r in rows[int(n*.98):]:
        print(' '.join(f"{k}={v*1e3:.3f}" if isinstance(v, float) and k != 't' else f"{k}={v}" for k, v in r.items()))
json.dump(rows, open(out + '/chain.json', 'w'))
