# What the bench/timeline*.py tools share: reading a bench/timeline.sh trace
# (OUT/script.txt, `perf script` text; OUT/pids, name=pid pairs).
import re

# comm, pid, tid, cpu, time, event, arguments of one `perf script` line.
LINE = re.compile(r'\s*(.*?)\s+(\d+)/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)')


def pids(out):
    """The processes of the trace by name (lat, local, central, ...)."""
    return dict(kv.split('=') for kv in open(out + '/pids').read().split())


def hx(args, key):
    """A syscall argument printed as `key: 0x...`, or None."""
    m = re.search(key + r': (0x[0-9a-f]+)', args)
    return int(m.group(1), 16) if m else None


def ret(s):
    """A sys_exit return value, signed (-1 when unreadable)."""
    try:
        v = int(s.strip(), 16) if s.strip().startswith('0x') else int(s)
    except ValueError:
        return -1
    return v - (1 << 64) if v >= (1 << 63) else v


def main_streams(apps, vis):
    """The appends of the writer and the reads of the reader on their main
    descriptors only: apps and vis are tuples (t, tid, fd, bytes, ...)."""
    from collections import Counter
    wt, wfd = Counter((a[1], a[2]) for a in apps).most_common(1)[0][0]
    apps = [a for a in apps if a[1] == wt and a[2] == wfd]
    rc = Counter()
    for v in vis:
        if v[1] != wt:
            rc[(v[1], v[2])] += v[3]
    rt, rfd = rc.most_common(1)[0][0]
    return apps, [v for v in vis if v[1] == rt and v[2] == rfd]
