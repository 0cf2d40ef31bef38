#!/usr/bin/env bash
# The README's first command: install what is missing, build, and show log
# transport on loopback. A generator writes PostgreSQL-style logs into
# /tmp/ccdemo/pg_log; a "local" ccserver (conf/local-classic.ini) tails them and
# forwards every fragment to a "central" ccserver (conf/central.ini), which writes
# the copies under /tmp/ccdemo/central/logfiles/<host>/. At the end every copy is
# compared with its source byte for byte. Meanwhile an info file,
# /tmp/ccdemo/info/info.status, is rewritten a few times; the local's
# infosender ships each settled version and the central's infowriter replaces
# /tmp/ccdemo/central/infofiles/<host>/info.status (previous one: --prev).
# Both servers are stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

seconds=${DEMO_SECONDS:-15}
rate=${DEMO_RATE_MBPS:-4}

bash .ci/setup
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 --target ccserver cc-loggen

demo=/tmp/ccdemo
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT

rm -rf "$demo"
mkdir -p "$demo/run" "$demo/pg_log" "$demo/central/logfiles" "$demo/info"
status_version=1
write_status() {
  printf 'demo status version %d\nwritten %s\nload %s\n' "$status_version" \
    "$(date '+%F %T.%N')" "$(cut -d' ' -f1-3 /proc/loadavg)" >"$demo/info/info.status"
  status_version=$((status_version + 1))
}
write_status

echo "== checking the configurations"
build/ccserver --check conf/central.ini >/dev/null
build/ccserver --check conf/local-classic.ini >/dev/null
echo "   conf/central.ini and conf/local-classic.ini are valid"

echo "== starting the central server (conf/central.ini) and the local server (conf/local-classic.ini)"
build/ccserver conf/central.ini 2>>"$demo/run/central.stderr" &
pids+=($!)
build/ccserver conf/local-classic.ini 2>>"$demo/run/local.stderr" &
pids+=($!)
sleep 1
for pid in "${pids[@]}"; do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "a server failed to start; its log:"; tail -20 "$demo"/run/*.log "$demo"/run/*.stderr 2>/dev/null
    exit 1
  fi
done

echo "== writing ${rate} MB/s of PostgreSQL-style log for ${seconds} s into $demo/pg_log"
build/cc-loggen --dir "$demo/pg_log" --name postgresql --rate "$rate" \
  --seconds "$seconds" --rotate 16M >"$demo/run/loggen.out" &
gen=$!

total() { find "$1" -type f ! -path '*/.ccstate/*' -printf '%s\n' 2>/dev/null | awk '{s+=$1} END {print s+0}'; }
printf '   %6s  %14s  %14s\n' "second" "source bytes" "copy bytes"
for ((i = 1; ; i++)); do
  sleep 1
  src=$(total "$demo/pg_log"); dst=$(total "$demo/central/logfiles")
  printf '   %6d  %14d  %14d\n' "$i" "$src" "$dst"
  if [ $((i % 5)) -eq 0 ]; then
    write_status
    echo "          (rewrote $demo/info/info.status: version $((status_version - 1)))"
  fi
  kill -0 "$gen" 2>/dev/null || break
done
wait "$gen" || true
cat "$demo/run/loggen.out"

echo "== waiting for the copies to catch up"
src=$(total "$demo/pg_log")
for _ in $(seq 100); do
  dst=$(total "$demo/central/logfiles")
  [ "$dst" -ge "$src" ] && break
  sleep 0.1
done

copies=$(find "$demo/central/logfiles" -type f ! -path '*/.ccstate/*' | wc -l)
if [ "$copies" -eq 0 ]; then
  echo "not yet shipping logs: no copy appeared under $demo/central/logfiles"
  echo "(server logs: $demo/run/*.log)"
  exit 1
fi

echo "== what the servers say about themselves (ccserver --status; /metrics, /health"
echo "   and /status are on http://127.0.0.1:9632 and :9633 meanwhile)"
build/ccserver --status conf/local-classic.ini | sed 's/^/   /' || true
build/ccserver --status conf/central.ini | head -8 | sed 's/^/   /' || true

echo "== comparing every source file with its copy"
fail=0
for f in "$demo"/pg_log/*.log; do
  name=$(basename "$f")
  copy=$(find "$demo/central/logfiles" -type f -name "$name" ! -path '*/.ccstate/*' | head -1)
  if [ -z "$copy" ]; then
    echo "   MISSING  $name"; fail=1; continue
  fi
  if cmp -s "$f" "$copy"; then
    printf '   identical  %-24s %10d bytes  %s\n' "$name" "$(stat -c %s "$f")" "$(sha256sum "$f" | cut -c1-16)"
  else
    echo "   DIFFERENT  $name ($(stat -c %s "$f") vs $(stat -c %s "$copy") bytes)"; fail=1
  fi
done
echo "   copies are under $demo/central/logfiles; server logs under $demo/run"

echo "== the info file"
info_copy="$demo/central/infofiles/$(hostname)/info.status"
mtime() { stat -c '%.9Y' "$1" 2>/dev/null; }
for _ in $(seq 100); do
  cmp -s "$demo/info/info.status" "$info_copy" 2>/dev/null &&
    [ "$(mtime "$demo/info/info.status")" = "$(mtime "$info_copy")" ] && break
  sleep 0.1
done
if cmp -s "$demo/info/info.status" "$info_copy" 2>/dev/null &&
   [ "$(mtime "$demo/info/info.status")" = "$(mtime "$info_copy")" ]; then
  printf '   identical  %-24s mtime %s (same as the source)\n' "info.status" "$(mtime "$info_copy")"
  sed 's/^/              | /' "$info_copy"
  if [ -f "$info_copy--prev" ]; then
    echo "   the previous version is kept as $info_copy--prev: $(head -1 "$info_copy--prev")"
  fi
else
  echo "   DIFFERENT  info.status: the copy $info_copy does not match its source"; fail=1
fi
if [ "$fail" -ne 0 ]; then
  echo "demo: copies differ from their sources"
  exit 1
fi
echo "demo: every log file and the info file arrived byte-identical"
