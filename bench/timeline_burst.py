#!/usr/bin/env python3
"""The local's burst per append on a steady trace of ours (bench/timeline.sh
ours steady ...): each run of the local's `cc-io` thread (switched in ->
switched out) that sent a fragment (sendmsg or sendfile64), split at its
traced system calls. Prints the bursts' most common system-call sequences
and, for the most common one, p50 / p90 of every step (the time before each
call and the call itself, µs), the whole burst, and per line the calls made.

  python3 bench/timeline_burst.py OUT [TID_COMM]

OUT holds script.txt and pids (local=PID); TID_COMM is the thread's name
(cc-io by default).
"""
import collections
import re
import sys

out = sys.argv[1]
comm = sys.argv[2] if len(sys.argv) > 2 else "cc-io"
pids = dict(kv.split("=") for kv in open(out + "/pids").read().split())
local = int(pids["local"])

line_re = re.compile(r"^\s*(\S.*?)\s+(\d+)/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$")
tid = None
events = []  # (time_us, kind, detail)
for ln in open(out + "/script.txt", errors="replace"):
    m = line_re.match(ln)
    if not m:
        continue
    c, pid, t, cpu, ts, ev, rest = m.groups()
    pid, t = int(pid), int(t)
    us = float(ts) * 1e6
    if ev == "sched:sched_switch":
        pm = re.search(r"prev_pid=(\d+)", rest)
        nm = re.search(r"next_comm=(.*?) next_pid=(\d+)", rest)
        if tid is None and nm and nm.group(1) == comm and pid != 0:
            pass
        if pm and nm:
            events.append((us, "switch", (int(pm.group(1)), int(nm.group(2)), nm.group(1), c)))
        continue
    if pid == local and c == comm:
        tid = t if tid is None else tid
        if t == tid and ev.startswith("syscalls:sys_"):
            name = ev.split(":sys_")[1]
            extra = ""
            if name.startswith("exit_"):
                rm = re.search(r"0x([0-9a-f]+)|(-?\d+)$", rest.strip())
                extra = rest.strip()
            events.append((us, name, extra))

if tid is None:
    sys.exit("no %s thread of pid %d in the trace" % (comm, local))

bursts = []
cur = None
for us, kind, d in events:
    if kind == "switch":
        prev, nxt, ncomm, pcomm = d
        if nxt == tid:
            cur = [(us, "in", "")]
        elif prev == tid and cur is not None:
            cur.append((us, "out", ""))
            bursts.append(cur)
            cur = None
        continue
    if cur is not None:
        cur.append((us, kind, d))

def steps(b):
    """[(label, µs)]: the gap before each call and each call's duration."""
    out = []
    t0 = b[0][0]
    last = t0
    enter = None
    seq = []
    for us, kind, d in b[1:]:
        if kind.startswith("enter_"):
            out.append(("before " + kind[6:], us - last))
            enter = (kind[6:], us)
        elif kind.startswith("exit_") and enter:
            ret = ""
            m = re.search(r"0x([0-9a-f]+)$", d)
            if m:
                v = int(m.group(1), 16)
                if v >= 1 << 63:
                    v -= 1 << 64
                ret = "EAGAIN" if v == -11 else ""
            label = enter[0] + ("(EAGAIN)" if ret else "")
            out.append((label, us - enter[1]))
            seq.append(label)
            last = us
            enter = None
        elif kind == "out":
            out.append(("after last call", us - last))
    return out, seq, b[-1][0] - t0

sending = []
for b in bursts:
    names = [k for _, k, _ in b]
    if any(n in ("exit_sendmsg", "exit_sendfile64") for n in names):
        sending.append(steps(b))
print("local cc-io tid %d: %d runs, %d that sent" % (tid, len(bursts), len(sending)))
seqs = collections.Counter(" ".join(s) for _, s, _ in sending)
for s, n in seqs.most_common(6):
    print("%5d  %s" % (n, s))

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] if xs else float("nan")

top = seqs.most_common(1)[0][0] if seqs else ""
chosen = [st for st, s, _ in sending if " ".join(s) == top]
print("\nmost common sequence (%d runs), p50 / p90 us per step:" % len(chosen))
if chosen:
    for i, (label, _) in enumerate(chosen[0]):
        xs = [st[i][1] for st in chosen if i < len(st)]
        print("  %-24s %7.1f %7.1f" % (label, pct(xs, 50), pct(xs, 90)))
tot = [t for _, _, t in sending]
print("\nall sending runs: burst p50 %.1f p90 %.1f us; calls per run p50 %d"
      % (pct(tot, 50), pct(tot, 90), pct([len(s) for _, s, _ in sending], 50)))

# Per fragment sent, over the whole trace: the thread's time on a CPU and
# its system calls (every run, not only those that sent).
on_cpu = sum(b[-1][0] - b[0][0] for b in bursts)
frags = sum(1 for b in bursts for _, k, _ in b if k in ("exit_sendmsg", "exit_sendfile64"))
calls = collections.Counter(k[5:] for b in bursts for _, k, _ in b if k.startswith("exit_"))
if frags:
    print("per fragment sent (%d): on CPU %.1f us; runs %.2f; calls %s" % (
        frags, on_cpu / frags, len(bursts) / frags,
        ", ".join("%s %.2f" % (k, v / frags) for k, v in calls.most_common())))
