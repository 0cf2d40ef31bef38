#!/usr/bin/env bash
# Where ours (a central and a local ccserver shipping one file, as in
# bench/run.sh) spends its time: three runs of the same transfer, each on
# fresh servers:
#   perf    -- `perf stat` (task-clock, context switches, page faults) and
#              `perf record --call-graph dwarf` of each server; top symbols,
#              libraries and threads;
#   strace  -- `strace -c -f` of each server: system calls per MB shipped;
#   callgrind -- a small file under valgrind --tool=callgrind; top functions
#              by self cost and the callers of memcpy/memmove (payload copies).
# It profiles the binary the benchmark measures (build-release/, symbols from
# its symbol table; call graphs from .eh_frame), or --build DIR (built as
# RelWithDebInfo with frame pointers if DIR has no ccserver yet). The strace
# and callgrind runs are slowed by the tools; only their counts and shares
# mean something. Nothing here is asserted.
#
#   bash bench/profile.sh [--size BYTES] [--callgrind-size BYTES]
#                         [--comp none|gzip] [--build DIR]
#                         [--only perf,strace,callgrind] [--out DIR]
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
size=256M cg_size=16M comp=none build="$top/build-release"
only="perf,strace,callgrind"
out="$top/bench/out/profile-$(date +%Y%m%d-%H%M%S)"
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size=$2; shift ;;
    --callgrind-size) cg_size=$2; shift ;;
    --comp) comp=$2; shift ;;
    --build) build=$2; shift ;;
    --only) only=$2; shift ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "profile: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
has() { case ",$only," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
mkdir -p "$out/logs"
bash "$top/.ci/setup" linux-perf strace valgrind iproute2 >"$out/logs/setup.out" 2>&1 ||
  { cat "$out/logs/setup.out"; exit 1; }
if [ ! -x "$build/ccserver" ]; then
  cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCC_BUILD_TESTS=OFF \
    -DCMAKE_CXX_FLAGS="-fno-omit-frame-pointer" >"$out/logs/cmake.out" 2>&1 || { tail "$out/logs/cmake.out"; exit 1; }
  cmake --build "$build" -j2 --target ccserver cc-loggen cc-benchtool >"$out/logs/build.out" 2>&1 \
    || { tail -30 "$out/logs/build.out"; exit 1; }
fi
ccserver="$build/ccserver" bt="$build/cc-benchtool" loggen="$build/cc-loggen"
. "$top/bench/lib.sh"
trap stop_all EXIT
trap 'exit 130' INT TERM

data_file() {  # data_file SIZE: a kept PostgreSQL-style log of that size
  local f="$top/bench/data/pg-$1.log"
  if [ ! -s "$f" ]; then
    mkdir -p "$top/bench/data/gen-$1"
    "$loggen" --dir "$top/bench/data/gen-$1" --mode single --name pg \
      --total "$(numfmt --from=iec "$1")" --seed 8 >/dev/null || return 1
    mv "$top/bench/data/gen-$1/pg.log" "$f" && rmdir "$top/bench/data/gen-$1"
  fi
  echo "$f"
}

# ship FILE DIR: one transfer on fresh servers, with the profiler attached by
# the function named in $attach. Sets ship_ok, ship_secs.
ship() {
  local file=$1 d=$2 bytes t0 done_ns
  bytes=$(stat -c %s "$file")
  start_ours "$d" "$comp" || { say "servers did not start (see $d/run)"; return 1; }
  "${attach[@]:-true}"
  t0=$(now_ns)
  ln "$file" "$d/src/postgresql-0001.log"
  if "$bt" wait-size --timeout 1800 --stall 120 "$copy_dir/postgresql-0001.log" "$bytes" >"$d/wait.out"; then
    done_ns=$(sed -n 's/.*done_ns=\([0-9]*\).*/\1/p' "$d/wait.out")
    ship_secs=$(awk -v a="$t0" -v b="$done_ns" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
  else
    ship_secs="incomplete"; cat "$d/wait.out"
  fi
  cmp -s "$file" "$copy_dir/postgresql-0001.log" && ship_ok=identical || ship_ok=DIFFERENT
  rm -f "$copy_dir/postgresql-0001.log" "$d/src/postgresql-0001.log"
}

# perf and strace write their summaries on SIGINT: give them 10 s for it
# before stop_pid's TERM/KILL.
interrupt() {
  local p i
  for p in "$@"; do kill -INT "$p" 2>/dev/null; done
  for p in "$@"; do
    for ((i = 0; i < 100; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    stop_pid "$p"
  done
}

big=$(data_file "$size") || { echo "profile: cannot generate data" >&2; exit 1; }
mb=$(awk -v b="$(stat -c %s "$big")" 'BEGIN { printf "%.1f", b / 1e6 }')
say "profiling ours ($comp on the wire) on $big ($mb MB); outputs in $out"

if has perf; then
  d="$out/perf"
  attach=(attach_perf)
  attach_perf() {
    start_bg perf-stat perf stat -e task-clock,context-switches,cpu-migrations,page-faults \
      -o "$d/perf-stat.txt" -p "$central_pid,$local_pid"
    perf_pids=("$last_pid")
    start_bg perf-central perf record -F 299 --call-graph dwarf,16384 -o "$d/central.data" -p "$central_pid"
    perf_pids+=("$last_pid")
    start_bg perf-local perf record -F 299 --call-graph dwarf,16384 -o "$d/local.data" -p "$local_pid"
    perf_pids+=("$last_pid")
    sleep 1
  }
  ship "$big" "$d"
  interrupt "${perf_pids[@]}"
  say "perf: $mb MB in $ship_secs s, copy $ship_ok"
  stop_all
  for w in central local; do
    perf report -i "$d/$w.data" --stdio --no-children -g none --sort dso,symbol --percent-limit 0.7 \
      2>/dev/null | grep -v '^$' | grep -E '^ +[0-9]' | head -40 >"$d/$w-symbols.txt"
    perf report -i "$d/$w.data" --stdio --no-children -g none --sort dso 2>/dev/null |
      grep -E '^ +[0-9]' | head -12 >"$d/$w-dso.txt"
    perf report -i "$d/$w.data" --stdio --no-children -g none --sort comm 2>/dev/null |
      grep -E '^ +[0-9]' | head -12 >"$d/$w-threads.txt"
    echo "== $w: CPU by library"; cat "$d/$w-dso.txt"
    echo "== $w: CPU by thread"; cat "$d/$w-threads.txt"
    echo "== $w: top symbols (self)"; head -25 "$d/$w-symbols.txt"
  done
  echo "== perf stat (both servers, during the transfer)"; grep -vE '^#|^$' "$d/perf-stat.txt"
fi

if has strace; then
  d="$out/strace"
  attach=(attach_strace)
  attach_strace() {
    start_bg strace-central strace -c -f -o "$d/central.strace" -p "$central_pid"
    strace_pids=("$last_pid")
    start_bg strace-local strace -c -f -o "$d/local.strace" -p "$local_pid"
    strace_pids+=("$last_pid")
    sleep 1
  }
  ship "$big" "$d"
  interrupt "${strace_pids[@]}"
  say "strace: $mb MB in $ship_secs s (slowed by strace), copy $ship_ok"
  stop_all
  for w in central local; do
    echo "== $w: system calls per MB shipped (strace -c -f)"
    awk -v mb="$mb" '$1 ~ /^[0-9.]+$/ && NF >= 5 {
        calls = $4; name = $NF; if (NF == 6) { name = $6 }
        printf "%10.1f /MB  %10d  %s\n", calls / mb, calls, name }' "$d/$w.strace" | sort -rn | head -15
  done
fi

if has callgrind; then
  d="$out/callgrind"
  small=$(data_file "$cg_size") || exit 1
  attach=(true)
  real_ccserver=$ccserver
  # start_ours runs $ccserver: point it at a wrapper that runs it under callgrind.
  mkdir -p "$d"
  cat >"$d/ccserver-callgrind" <<SH
#!/bin/sh
exec valgrind --tool=callgrind --callgrind-out-file="$d/callgrind.\$(basename "\$1" .ini).%p" "$real_ccserver" "\$@"
SH
  chmod +x "$d/ccserver-callgrind"
  ccserver="$d/ccserver-callgrind"
  check_config() { "$real_ccserver" --check "$1" >/dev/null 2>&1; }
  ready_timeout=300  # valgrind starts slowly
  ship "$small" "$d"
  say "callgrind: $(awk -v b="$(stat -c %s "$small")" 'BEGIN { printf "%.1f", b / 1e6 }') MB in $ship_secs s (under valgrind), copy $ship_ok"
  stop_all
  ccserver=$real_ccserver
  for f in "$d"/callgrind.*; do
    w=$(basename "$f" | cut -d. -f2)
    callgrind_annotate "$f" 2>/dev/null >"$d/$w-annotate.txt"
    echo "== $w: top functions by instructions (self), callgrind"
    grep -E '^ *[0-9,]+ \(' "$d/$w-annotate.txt" | head -25
    callgrind_annotate --inclusive=yes "$f" 2>/dev/null >"$d/$w-inclusive.txt"
    echo "== $w: payload copies: memcpy/memmove callers (inclusive tree)"
    callgrind_annotate --tree=caller "$f" 2>/dev/null | grep -B6 -E '\* .*(memcpy|memmove)' | grep -E '^ *[0-9,]+ .*<' | head -15
  done
fi
say "profile outputs under $out"
