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
