#!/usr/bin/env bash
# Append-to-visible p50 of ours, of the pipe and of ours' duties alone at
# several line rates, alternated (bench/PROFILE.md, "Session 28"): the trickle
# target compares ours and the pipe at 10 lines a second, where each line meets
# a cold path; this shows the same where the path stays warm, and the floor
# ours' own system calls set (`duties`: cc-benchtool trickle-send/recv, the
# local's inotify read, fstat, head pread, data pread and sendmsg, the central's
# read, fstat and pwrite, and nothing else). Each run starts its system as
# bench/run.sh does (ours: bench/lib.sh start_ours; the pipe: start_pipe), runs
# cc-latency --lines-per-second R for SECONDS, ends what it started, and prints
# one line; then the medians per rate and system.
#
#   bash bench/rates.sh BUILD OUT [--rates "1000 100 10"] [--runs N] [--seconds S]
#                      [--systems "pipe ours duties"]
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 2 ] || { echo "usage: bash bench/rates.sh BUILD OUT [--rates LIST] [--runs N] [--seconds S]" >&2; exit 2; }
build=$1 out=$2; shift 2
rates="1000 100 10" runs=2 secs=10 systems="pipe ours duties"
while [ $# -gt 0 ]; do
  case $1 in
    --rates) rates=$2; shift ;;
    --runs) runs=$2; shift ;;
    --seconds) secs=$2; shift ;;
    --systems) systems=$2; shift ;;
    *) echo "rates.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$out/logs"
. "$top/bench/lib.sh"
trap stop_all EXIT
ccserver="$build/ccserver"; latency="$build/cc-latency"; bt="$build/cc-benchtool"
for f in "$ccserver" "$latency" "$bt"; do
  [ -x "$f" ] || { echo "rates.sh: $f is missing (build it first)" >&2; exit 1; }
done

# Follows SOURCE into COPY at RATE lines a second for SECONDS (cc-latency),
# a second after the system started.
follow() {  # SOURCE COPY SYSTEM RATE
  sleep 1
  timeout $(( secs + 60 )) "$latency" --source "$1" --copy "$2" \
    --lines-per-second "$4" --seconds "$secs" --drain 2 --label "$3/$4" 2>>"$out/logs/latency.err"
}

run_ours() {  # DIR RATE
  start_ours "$1/d" none || return 1
  follow "$1/d/src/postgresql-0001.log" "$copy_dir/postgresql-0001.log" ours "$2"
  stop_pid "$local_pid"; stop_pid "$central_pid"
  rm -rf "$1/d/src" "$1/d/dst"
}

run_pipe() {  # DIR RATE
  start_pipe "$1/pipe" || return 1
  follow "$pipe_src" "$pipe_copy" pipe "$2"
  stop_pid "$pipe_tail"; stop_pid "$pipe_tx"; stop_pid "$pipe_rx"
  rm -f "$pipe_src" "$pipe_copy"
}

run_duties() {  # DIR RATE
  start_duties "$1/duties" || return 1
  follow "$duties_src" "$duties_copy" duties "$2"
  stop_pid "$duties_tx"; stop_pid "$duties_rx"
  cmp -s "$duties_src" "$duties_copy" || echo "rates.sh: duties/$2: the copy differs from its source" >&2
  rm -f "$duties_src" "$duties_copy"
}

results="$out/rates.txt"; : >"$results"
for rate in $rates; do
  for i in $(seq 1 "$runs"); do
    # Alternated, the order reversed every run.
    order=$systems
    [ $((i % 2)) -eq 0 ] && order=$(tr ' ' '\n' <<<"$systems" | tac | tr '\n' ' ')
    for sys in $order; do
      # In this shell, not a command substitution's: what a run starts is
      # recorded here, and stop_all ends whatever a failed start left running.
      "run_$sys" "$out/$sys-$rate-$i" "$rate" >"$out/$sys-$rate-$i.txt"
      stop_all
      line=$(grep '^latency:' "$out/$sys-$rate-$i.txt" | tail -1)
      p50=$(grep -o 'p50_ms=[0-9.]*' <<<"$line" | cut -d= -f2)
      lost=$(grep -o 'lost=[0-9]*' <<<"$line" | cut -d= -f2)
      printf '%s\t%s\t%s\t%s\t%s\n' "$rate" "$sys" "$i" "${p50:-none}" "${lost:-?}" | tee -a "$results"
    done
  done
done
python3 - "$results" <<'PY'
import sys, statistics as st
rows = [l.split('\t') for l in open(sys.argv[1]).read().splitlines()]
systems = list(dict.fromkeys(r[1] for r in rows))
print('lines/s  ' + '  '.join('%s p50 ms (runs)' % s for s in systems) + '  medians / the pipe\'s')
for rate in dict.fromkeys(r[0] for r in rows):
    v = {s: [float(r[3]) for r in rows if r[0] == rate and r[1] == s and r[3] != 'none'] for s in systems}
    cells = ['%-24s' % ', '.join('%.3f' % x for x in v[s]) for s in systems]
    ratios = ['%s %.2f' % (s, st.median(v[s]) / st.median(v['pipe']))
              for s in systems if s != 'pipe' and v[s] and v.get('pipe')]
    print('%7s  %s  %s' % (rate, '  '.join(cells), ', '.join(ratios)))
PY
