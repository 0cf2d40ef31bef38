#!/usr/bin/env bash
# Threads per process at defaults (issue 18): a central (one tailwriter) and a
# local (a forwarder, a jobmgr, one tailer) as bench/run.sh starts them, every
# option at its default, shipping a 64 MiB log; the threads of each server are
# counted by name (/proc/PID/task/*/comm) while data flows and again when idle.
# Run it with several builds to compare them on the same machine:
#
#   bash bench/threads.sh [--build DIR]... [--size BYTES] [--out DIR]
#
# Prints one table per build; exit 1 when a copy is not byte-identical.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
size=$((64 * 1024 * 1024)) out="" builds=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build) builds+=("$2"); shift ;;
    --size) size=$2; shift ;;
    --out) out=$2; shift ;;
    *) echo "threads.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ ${#builds[@]} -gt 0 ] || builds=("$top/build")
[ -n "$out" ] || out=$(mktemp -d "${TMPDIR:-/tmp}/ccthreads-XXXXXX")
mkdir -p "$out/logs"
# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"
trap stop_all EXIT

# "name count, name count, ..." of PID's threads, numbers in names folded
# (worker-3 -> worker-N), most frequent first.
thread_names() {
  local t
  for t in /proc/"$1"/task/*/comm; do cat "$t" 2>/dev/null; done |
    sed -E 's/[0-9]+/N/g' | sort | uniq -c | sort -rn |
    awk '{c=$1; $1=""; sub(/^ /,""); printf "%s%s x%d", (NR>1?", ":""), $0, c}'
}
thread_count() { local t=(/proc/"$1"/task/*); echo "${#t[@]}"; }

status=0
for build in "${builds[@]}"; do
  ccserver="$build/ccserver" loggen="$build/cc-loggen"
  [ -x "$ccserver" ] && [ -x "$loggen" ] || { echo "threads.sh: no ccserver/cc-loggen in $build" >&2; exit 2; }
  d="$out/$(echo "$build" | tr '/' '_')"
  start_ours "$d" none || { status=1; continue; }
  idle_c=$(thread_count "$central_pid") idle_l=$(thread_count "$local_pid")
  "$loggen" --dir "$d/gen" --mode single --name pg --total "$size" --seed 7 >"$out/logs/loggen.out" || exit 1
  ln "$d/gen/pg.log" "$d/src/postgresql-0001.log"
  want=$(bytes_of "$d/src/postgresql-0001.log") copy="$copy_dir/postgresql-0001.log"
  busy_c=0 busy_l=0 names_c="" names_l=""
  for _ in $(seq 1200); do
    c=$(thread_count "$central_pid") l=$(thread_count "$local_pid")
    if [ "$c" -gt "$busy_c" ]; then busy_c=$c names_c=$(thread_names "$central_pid"); fi
    if [ "$l" -gt "$busy_l" ]; then busy_l=$l names_l=$(thread_names "$local_pid"); fi
    [ -f "$copy" ] && [ "$(bytes_of "$copy")" -ge "$want" ] && break
    sleep 0.05
  done
  cmp -s "$copy" "$d/src/postgresql-0001.log" && ok=identical || { ok=DIFFERS; status=1; }
  printf '\nthreads at defaults, build %s (%s, copy %s)\n' "$build" "$("$ccserver" --version 2>/dev/null | head -1)" "$ok"
  printf '| server | idle | most while shipping | by name (most while shipping) |\n|---|---:|---:|---|\n'
  printf '| central | %d | %d | %s |\n' "$idle_c" "$busy_c" "$names_c"
  printf '| local | %d | %d | %s |\n' "$idle_l" "$busy_l" "$names_l"
  stop_pid "$local_pid"; stop_pid "$central_pid"
done
exit $status
