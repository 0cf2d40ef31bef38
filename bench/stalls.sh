#!/usr/bin/env bash
# Where a steady stream stalls: N rounds of 10 s at 50 MB/s (cc-latency --rate, a fresh
# pair each, as bench/lib.sh start_ours starts it) while a sampler reads every 5 ms the
# state, wchan and kernel stack (/proc/TID/stack: root) of every thread of both servers
# that is not asleep in a futex or a poll, and of every task of the host in D state.
# Prints each round's latency line; then per round the 100 ms buckets whose worst line
# took over 50 ms (the timeline) and the most frequent samples. Extra config lines go
# through bench/lib.sh's BENCH_*_OPTS (e.g. BENCH_WRITER_OPTS=$'sync-interval = 60').
# bench/PROFILE.md, "Session 16: latency".
#   bash bench/stalls.sh OUT_DIR BUILD_DIR [ROUNDS]
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$1 build=$2 rounds=${3:-3}
mkdir -p "$out/logs"
. "$top/bench/lib.sh"
trap stop_all EXIT
ccserver=$build/ccserver latency=$build/cc-latency
cat >"$out/sampler.py" <<'PY'
import os, sys, time
out = open(sys.argv[1], 'w', buffering=1 << 16)
end = time.time() + float(sys.argv[2]); ours = set(sys.argv[3:])
asleep = ('futex_do_wait', 'do_epoll_wait', 'poll_schedule_timeout.constprop.0', 'do_sys_poll')
def stack(p, t):
    try:
        return '<'.join(l.split()[1].split('+')[0] for l in open(f'/proc/{p}/task/{t}/stack').read().splitlines()[:10])
    except Exception:
        return '-'
while time.time() < end:
    now = time.time()
    out.write(f'{now:.4f} tick\n')
    for p in os.listdir('/proc'):
        if not p.isdigit():
            continue
        try:
            tids = os.listdir(f'/proc/{p}/task')
        except Exception:
            continue
        for t in tids:
            try:
                st = open(f'/proc/{p}/task/{t}/stat').read()
                comm = st[st.index('(') + 1:st.rindex(')')].replace(' ', '_')
                state = st[st.rindex(')') + 2]
                if p not in ours and state != 'D':
                    continue
                wchan = open(f'/proc/{p}/task/{t}/wchan').read() or '-'
                if state == 'S' and wchan in asleep:
                    continue
                who = ('central' if p == sys.argv[3] else 'local') if p in ours else 'host'
                out.write(f'{now:.4f} {who} {comm} {state} {stack(p, t) if wchan not in ("-", "0") else "-"}\n')
            except Exception:
                pass
    time.sleep(0.005)
PY
for ((r = 1; r <= rounds; r++)); do
  d="$out/r$r"
  start_ours "$d" none || continue
  sleep 1
  python3 "$out/sampler.py" "$d/samples" 14 "$central_pid" "$local_pid" & sp=$!
  "$latency" --source "$d/src/postgresql-0001.log" --copy "$copy_dir/postgresql-0001.log" --rate 50 \
    --seconds 10 --drain 10 --label "r$r" --timeline "$d/timeline" 2>>"$out/logs/latency.err"
  wait "$sp"
  stop_pid "$local_pid"; stop_pid "$central_pid"
  rm -rf "$d/src" "$d/dst"
done
for ((r = 1; r <= rounds; r++)); do
  d="$out/r$r"; [ -f "$d/samples" ] || continue
  printf '\nround %d, 100 ms buckets over 50 ms (t_ms:max/mean):' "$r"
  awk 'NR > 1 && $3 > 50 { printf " %s:%s/%s", $1, $3, $4 }' "$d/timeline"; echo
  awk '$2 != "tick" { print $2, $3, $4, $5 }' "$d/samples" | sort | uniq -c | sort -rn | head -12 | cut -c1-300
done
