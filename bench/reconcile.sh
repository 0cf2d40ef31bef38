#!/usr/bin/env bash
# What a reconcile costs (docs/wire.md §6.1): a local and a central ccserver
# ship one file of --size bytes; the local is stopped, its .save removed (the
# worst case: the tailer knows nothing and must ask the central about its
# files), one line is appended, and the local is started again. Measured until
# that line is in the copy: the bytes each server read meanwhile
# (/proc/PID/io rchar), the questions the tailer asked, and the time, beside
# the file's size. A reconcile compares a segment's first and last block, so
# it reads about 2 MiB on each side whatever the size.
#
#   bash bench/reconcile.sh [--size BYTES] [--build DIR] [--out DIR]
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
size=$((1024 * 1024 * 1024)) build="$top/build" out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size=$2; shift ;;
    --build) build=$2; shift ;;
    --out) out=$2; shift ;;
    *) echo "reconcile.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
ccserver="$build/ccserver" loggen="$build/cc-loggen" bt="$build/cc-benchtool"
[ -x "$ccserver" ] && [ -x "$loggen" ] || { echo "reconcile.sh: build ccserver and cc-loggen first" >&2; exit 2; }
[ -n "$out" ] || out=$(mktemp -d "${TMPDIR:-/tmp}/ccreconcile-XXXXXX")
mkdir -p "$out/logs"
results="$out/results.tsv"
# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"
trap stop_all EXIT

rchar() { awk '/^rchar:/ {print $2}' "/proc/$1/io" 2>/dev/null || echo 0; }
counter() {  # counter LOG NAME: the last value the stats line printed
  grep -o "$2=[0-9]*" "$1" | tail -1 | cut -d= -f2
}

d="$out/pair"
start_ours "$d" none || exit 1
say "writing $((size / 1048576)) MiB"
"$loggen" --dir "$d/gen" --mode single --name pg --total "$size" --seed 5 >"$out/logs/loggen.out" || exit 1
ln "$d/gen/pg.log" "$d/src/postgresql-0001.log"
size=$(bytes_of "$d/src/postgresql-0001.log") # whole lines: a little over --size
copy="$copy_dir/postgresql-0001.log"
for _ in $(seq 1200); do
  [ -f "$copy" ] && [ "$(bytes_of "$copy")" -ge "$size" ] && break
  sleep 0.5
done
[ "$(bytes_of "$copy")" -eq "$size" ] || { say "the copy did not arrive"; exit 1; }
say "shipped; stopping the local, removing its .save"
stop_pid "$local_pid"
save=$(ls "$d"/run/*.save)
rm -f "$save"
sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
printf 'one more line after the restart\n' >>"$d/src/postgresql-0001.log"
want=$((size + 32))
central_before=$(rchar "$central_pid")
t0=$(now_ns)
start_bg pair-local2 "$ccserver" "$d/local.ini"; local_pid=$last_pid
for _ in $(seq 600); do
  [ "$(bytes_of "$copy")" -ge "$want" ] && break
  sleep 0.05
done
t1=$(now_ns)
local_read=$(rchar "$local_pid")
central_read=$(( $(rchar "$central_pid") - central_before ))
ok=$([ "$(bytes_of "$copy")" -eq "$want" ] && cmp -s "$copy" "$d/src/postgresql-0001.log" && echo identical || echo DIFFERS)
grep -q "tailing .* from $size" "$d/run/local.log" && resumed=yes || resumed=no
printf '\nreconcile of a %d MiB file without a .save (%s)\n' "$((size / 1048576))" "$(date -u +%F)"
printf '| measure | value | ratio to the file |\n|---|---:|---:|\n'
printf '| file size | %d bytes | 1 |\n' "$size"
printf '| local read (rchar, whole process) | %d bytes | %.5f |\n' "$local_read" "$(awk -v a="$local_read" -v b="$size" 'BEGIN{print a/b}')"
printf '| central read (rchar, during it) | %d bytes | %.5f |\n' "$central_read" "$(awk -v a="$central_read" -v b="$size" 'BEGIN{print a/b}')"
printf '| restart to the new line in the copy | %.0f ms | |\n' "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print (b-a)/1e6}')"
printf '| resumed at the copy'"'"'s end | %s | |\n| copy | %s | |\n' "$resumed" "$ok"
[ "$ok" = identical ] && [ "$resumed" = yes ]
