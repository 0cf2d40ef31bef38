#!/usr/bin/env bash
# What an idle tailer costs: one central and one local with N tailers (a daemon
# section each, one file of 10 lines each, its own copy), on loopback. It waits
# until every tailer follows its file, appends a line to each, waits for every
# copy, waits WAIT seconds more (a statistics round is in them when WAIT exceeds
# the local's stats-period: 30 s by default, or set LOCAL_OPTS='stats-period = 1'),
# then prints the local's RSS. Per tailer: (RSS at N - RSS at 1) / (N - 1).
# With `heaptrack` as 4th argument the local runs under heaptrack (OUT/ht.zst).
# bench/PROFILE.md, "Session 17: what an idle tailer costs".
#   bash bench/idle_tailers.sh BUILD_DIR N OUT_DIR [heaptrack]
#   env: WAIT (seconds, default 5), LOCAL_OPTS (lines for the local's [ccserver])
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
bin=$1 n=$2 out=$3 ht=${4:-}
. "$top/bench/lib.sh"
rm -rf "$out"; mkdir -p "$out/src" "$out/dst" "$out/run"
pc=$(free_port) && pl=$(free_port) || exit 1
write_central "$out" "$pc"
# The daemons list is continued over lines: inih's line limit is 16 KB.
daemons="" d="" i=0 k=0
: >"$out/sections"
for ((i = 1; i <= n; i++)); do
  printf -v d 'd%05d' "$i"; mkdir -p "$out/src/$d"
  for ((k = 0; k < 10; k++)); do echo "line $k of $d"; done >"$out/src/$d/pg-$d-0001.log"
  daemons+="${daemons:+, }d:$d"
  (( i % 500 == 0 )) && daemons+=$'\n  '
  printf '[d:%s]\nmodule = cc.daemon.logtail\nlogdir = %s\nlogmask = pg-*.log\nhostname = h1\n\n' \
    "$d" "$out/src/$d" >>"$out/sections"
done
BENCH_LOCAL_OPTS="${LOCAL_OPTS:-}" write_local "$out/local.ini" "$out/run" "$pl" "$pc" "$daemons" <"$out/sections"
"$bin/ccserver" "$out/central.ini" >"$out/central.err" 2>&1 & cpid=$!
if [ -n "$ht" ]; then
  heaptrack -o "$out/ht" "$bin/ccserver" "$out/local.ini" >"$out/local.err" 2>&1 & lpid=$!
else
  "$bin/ccserver" "$out/local.ini" >"$out/local.err" 2>&1 & lpid=$!
fi
rpid=$lpid   # the ccserver itself (under heaptrack: its child, found below)
trap 'kill $rpid $lpid $cpid 2>/dev/null; wait $lpid $cpid 2>/dev/null' EXIT
ok=1 c=0 t=0
for ((t = 0; t < 1200; t++)); do   # every tailer follows its file: up to 120 s
  c=$(grep -c 'tailing /' "$out/run/local.log" 2>/dev/null)
  [ "${c:-0}" -ge "$n" ] && break
  kill -0 "$lpid" 2>/dev/null || { ok=0; break; }
  sleep 0.1
done
for ((i = 1; i <= n; i++)); do
  printf -v d 'd%05d' "$i"; echo "appended to $d" >>"$out/src/$d/pg-$d-0001.log"
done
for ((t = 0; t < 1200 && ok; t++)); do   # every copy made: up to 120 s
  c=$(find "$out/dst" -name 'pg-d*-0001.log' 2>/dev/null | wc -l)
  [ "$c" -ge "$n" ] && break
  sleep 0.1
done
sleep "${WAIT:-5}"
[ -n "$ht" ] && rpid=$(pgrep -f "ccserver $out/local.ini" | grep -vx "$lpid" | head -1)
if ! kill -0 "$lpid" 2>/dev/null || [ -z "$rpid" ]; then
  echo "the local ended early: see $out/local.err and $out/run/local.log" >&2
  exit 1
fi
rss=$(awk '/VmRSS/{print $2}' "/proc/$rpid/status")
hwm=$(awk '/VmHWM/{print $2}' "/proc/$rpid/status")
crss=$(awk '/VmRSS/{print $2}' "/proc/$cpid/status")
echo "tailers=$n copies=$c local_rss_kib=$rss local_hwm_kib=$hwm central_rss_kib=$crss"
