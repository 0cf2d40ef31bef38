#!/usr/bin/env bash
# Append-to-visible p50 of ours and of the pipe at several line rates, alternated
# (bench/PROFILE.md, "Session 28"): the trickle target compares the two at 10
# lines a second, where each line meets a cold path; this shows the same pair
# where the path stays warm. Each run starts its system as bench/run.sh does
# (ours: bench/lib.sh start_ours; the pipe: tail -f | socat -> TCP loopback ->
# socat > file), runs cc-latency --lines-per-second R for SECONDS, ends what it
# started, and prints one line; then the medians per rate and system.
#
#   bash bench/rates.sh BUILD OUT [--rates "1000 100 10"] [--runs N] [--seconds S]
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 2 ] || { echo "usage: bash bench/rates.sh BUILD OUT [--rates LIST] [--runs N] [--seconds S]" >&2; exit 2; }
build=$1 out=$2; shift 2
rates="1000 100 10" runs=2 secs=10
while [ $# -gt 0 ]; do
  case $1 in
    --rates) rates=$2; shift ;;
    --runs) runs=$2; shift ;;
    --seconds) secs=$2; shift ;;
    *) echo "rates.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$out/logs"
. "$top/bench/lib.sh"
trap stop_all EXIT
ccserver="$build/ccserver"; latency="$build/cc-latency"
for f in "$ccserver" "$latency"; do
  [ -x "$f" ] || { echo "rates.sh: $f is missing (build it first)" >&2; exit 1; }
done

run_ours() {  # DIR RATE
  start_ours "$1/d" none || return 1
  sleep 1
  timeout $(( secs + 60 )) "$latency" --source "$1/d/src/postgresql-0001.log" --copy "$copy_dir/postgresql-0001.log" \
    --lines-per-second "$2" --seconds "$secs" --drain 2 --label "ours/$2" 2>>"$out/logs/latency.err"
  stop_pid "$local_pid"; stop_pid "$central_pid"
  rm -rf "$1/d/src" "$1/d/dst"
}

run_pipe() {  # DIR RATE
  start_pipe "$1/pipe" || return 1
  sleep 1
  timeout $(( secs + 60 )) "$latency" --source "$pipe_src" --copy "$pipe_copy" \
    --lines-per-second "$2" --seconds "$secs" --drain 2 --label "pipe/$2" 2>>"$out/logs/latency.err"
  stop_pid "$pipe_tail"; stop_pid "$pipe_tx"; stop_pid "$pipe_rx"
  rm -f "$pipe_src" "$pipe_copy"
}

results="$out/rates.txt"; : >"$results"
for rate in $rates; do
  for i in $(seq 1 "$runs"); do
    # Alternated, the first system swapped every run.
    if [ $((i % 2)) -eq 1 ]; then order="pipe ours"; else order="ours pipe"; fi
    for sys in $order; do
      line=$("run_$sys" "$out/$sys-$rate-$i" "$rate" | grep '^latency:' | tail -1)
      p50=$(grep -o 'p50_ms=[0-9.]*' <<<"$line" | cut -d= -f2)
      lost=$(grep -o 'lost=[0-9]*' <<<"$line" | cut -d= -f2)
      printf '%s\t%s\t%s\t%s\t%s\n' "$rate" "$sys" "$i" "${p50:-none}" "${lost:-?}" | tee -a "$results"
    done
  done
done
echo "lines/s  pipe p50 ms (runs)  ours p50 ms (runs)  ours / pipe (medians)"
python3 - "$results" <<'PY'
import sys, statistics as st
rows = [l.split('\t') for l in open(sys.argv[1]).read().splitlines()]
for rate in dict.fromkeys(r[0] for r in rows):
    v = {s: [float(r[3]) for r in rows if r[0] == rate and r[1] == s and r[3] != 'none'] for s in ('pipe', 'ours')}
    if v['pipe'] and v['ours']:
        print('%7s  %-19s %-19s %.2f' % (rate, ', '.join('%.3f' % x for x in v['pipe']),
              ', '.join('%.3f' % x for x in v['ours']), st.median(v['ours']) / st.median(v['pipe'])))
PY
