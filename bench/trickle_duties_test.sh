#!/usr/bin/env bash
# Test of cc-benchtool trickle-send / trickle-recv (bench/rates.sh's `duties`,
# the trickle's floor): lines appended to a source in small batches reach the
# copy byte for byte, both processes are ended by PID, and a usage error exits
# 2. Bounded: 40 batches, then at most 10 s for the copy to catch up.
#
#   bash bench/trickle_duties_test.sh BUILD
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: bash bench/trickle_duties_test.sh BUILD}
bt="$build/cc-benchtool"
out=$(mktemp -d /tmp/cc-trickle-duties.XXXXXX)
mkdir -p "$out/logs"
. "$top/bench/lib.sh"
finish() { stop_all; rm -rf "$out"; }
trap finish EXIT
fail() { echo "FAIL: $*" >&2; for f in "$out"/logs/*.out; do [ -s "$f" ] && sed "s|^|$(basename "$f"): |" "$f" >&2; done; exit 1; }

"$bt" trickle-send --port 1 >/dev/null 2>&1; rc=$?
[ "$rc" -eq 2 ] || fail "trickle-send without its file exited $rc, not 2"
"$bt" trickle-recv --port 1 >/dev/null 2>&1; rc=$?
[ "$rc" -eq 2 ] || fail "trickle-recv without --out exited $rc, not 2"

port=$(free_port) || fail "no free port"
start_bg recv "$bt" trickle-recv --port "$port" --out "$out/copy.log"; rx=$last_pid
wait_listening "$port" || fail "trickle-recv does not listen on 127.0.0.1:$port"
: >"$out/src.log"
start_bg send "$bt" trickle-send --port "$port" "$out/src.log"; tx=$last_pid
for i in $(seq 1 40); do
  printf 'line %04d of batch %d: %s\n' "$i" "$i" "$(head -c $((i * 7)) /dev/zero | tr '\0' x)" >>"$out/src.log"
  [ $((i % 8)) -eq 0 ] && head -c 70000 /dev/urandom | base64 >>"$out/src.log" # > one read's worth
  sleep 0.02
done
for _ in $(seq 200); do
  cmp -s "$out/src.log" "$out/copy.log" && break
  kill -0 "$tx" 2>/dev/null && kill -0 "$rx" 2>/dev/null || fail "a duties process ended early"
  sleep 0.05
done
cmp -s "$out/src.log" "$out/copy.log" ||
  fail "the copy ($(stat -c %s "$out/copy.log") bytes) differs from its source ($(stat -c %s "$out/src.log") bytes)"
stop_pid "$tx"; stop_pid "$rx"
! kill -0 "$tx" 2>/dev/null && ! kill -0 "$rx" 2>/dev/null || fail "a duties process outlived its stop"
echo "ok: $(stat -c %s "$out/copy.log") bytes byte-identical"
