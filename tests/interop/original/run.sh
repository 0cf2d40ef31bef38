#!/usr/bin/env bash
# The original Python CC's own code against ccserver, both ways (see
# harness.py for how its code is driven):
#
#   1. our local ccserver with the DEFAULT config (ack = auto) -> the
#      original's central code (echo, infowriter, tailwriter): log files and
#      info files arrive byte-identical, no duplicates, info.* --prev kept;
#      our local logs once that the central is an original CC.
#   2. the original's infosender -> our local ccserver -> our central
#      (infowriter, bakext): copies identical to the sources, mtimes set.
#
# Needs Python 2.7 (PYTHON2, default: python2 on PATH or pyenv's 2.7.18) and
# the original's git repository (CC_ORIGINAL_GIT: a bare or normal repo of
# markokr/cc or gamato/cc at 0.8.8). Its cc/ package is extracted to a
# temporary directory; nothing of it is kept. Exit 0: every check passed.
#
#   bash tests/interop/original/run.sh [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
build=${1:-$top/build}
ccserver=$build/ccserver
git_dir=${CC_ORIGINAL_GIT:-/work/.mirror/gamato+cc/repo/.git}
py2=${PYTHON2:-}
if [ -z "$py2" ]; then
  for c in python2 python2.7 /root/.pyenv/versions/2.7.18/bin/python; do
    if "$c" -c 'import sys; sys.exit(sys.version_info[0] != 2)' >/dev/null 2>&1; then
      py2=$(command -v "$c"); break
    fi
  done
fi
[ -n "$py2" ] || { echo "run.sh: no Python 2.7 (set PYTHON2)"; exit 2; }
[ -x "$ccserver" ] || { echo "run.sh: no $ccserver"; exit 2; }
git --git-dir="$git_dir" rev-parse HEAD >/dev/null 2>&1 ||
  { echo "run.sh: no original repository at $git_dir (set CC_ORIGINAL_GIT)"; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/cc-original.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  [ -n "${CC_KEEP_TEST_DIRS:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/orig"
git --git-dir="$git_dir" archive HEAD cc | tar -x -C "$work/orig"
echo "original: $(git --git-dir="$git_dir" log -1 --format='%h %s' HEAD) from $git_dir"
export PYTHONPATH="$here/shims:$work/orig"
harness=("$py2" "$here/harness.py")

port() { "$py2" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
fail=0
check() { if "$@"; then echo "   ok    $*"; else echo "   FAIL  $*"; fail=1; fi; }
same() { cmp -s "$1" "$2"; }
mtime_ns() { stat -c '%.9Y' "$1" | tr -d .; }
# Whether two mtimes are within $3 ns (default 1000). The original's infowriter sets a copy's mtime
# with os.utime(path, (float, float)): Python 2.7 goes through utimes(), whole
# microseconds cut from a double (about 0.24 us apart at today's epoch), so its
# copies may be up to about 1.3 us off; ours keep the nanoseconds.
near_mtime() {
  local a b tol=${3:-1000}
  a=$(mtime_ns "$1"); b=$(mtime_ns "$2")
  [ $(( a > b ? a - b : b - a )) -le "$tol" ]
}
no_line() { ! grep -q "$1" "$2"; }
has_line() { grep -q "$1" "$2"; }

echo "== 1. our local (default config) -> the original's central code"
d=$work/one
mkdir -p "$d/info" "$d/pg"
cport=$(port); lport=$(port)
cat >"$d/central.ini" <<EOF
[ccserver]
cc-socket = tcp://127.0.0.1:$cport
cc-role = remote
[routes]
echo = h:echo
pub.infofile = h:infowriter
pub.logtail = h:tailwriter
[h:echo]
handler = cc.handler.echo
[h:infowriter]
handler = cc.handler.infowriter
dstdir = $d/copies/info
host-subdirs = yes
bakext = --prev
[h:tailwriter]
handler = cc.handler.tailwriter
dstdir = $d/copies/logs
host-subdirs = yes
EOF
cat >"$d/local.ini" <<EOF
[ccserver]
cc-socket = tcp://127.0.0.1:$lport
cc-role = local
pidfile = $d/%(job_name)s.pid
logfile = $d/local.log
[routes]
pub = h:forward
job = h:jobmgr
[h:forward]
handler = cc.handler.proxy
remote-cc = tcp://127.0.0.1:$cport
[h:jobmgr]
handler = cc.handler.jobmgr
daemons = d:info, d:pg, d:pgz
[d:info]
module = cc.daemon.infosender
infodir = $d/info
infomask = info.*
compression = gzip
[d:pg]
module = cc.daemon.logtail
logdir = $d/pg
logmask = pg-*.log
ack-timeout = 1
# zstd toward a central that does not announce it: gzip instead, one WARN.
[d:pgz]
module = cc.daemon.logtail
logdir = $d/pg
logmask = pgz-*.log
ack-timeout = 1
compression = zstd
EOF
echo "status v1" >"$d/info/info.status"
head -c 3000 /dev/urandom | base64 >"$d/info/info.report"
: >"$d/pg/pg-1.log"
: >"$d/pg/pgz-1.log"
"${harness[@]}" central "$d/central.ini" 40 2>"$d/central.err" &
pids+=($!)
sleep 1
"$ccserver" "$d/local.ini" 2>"$d/local.stderr" &
lpid=$!
pids+=($lpid)
# The tailer starts at the end of the file (tail -f): write once it is up.
for _ in $(seq 100); do has_line "main: up:" "$d/local.log" 2>/dev/null && break; sleep 0.1; done
for i in $(seq 1 200); do echo "2026-01-01 00:00:00 UTC LOG:  line $i $(head -c 40 /dev/urandom | base64 -w0)" >>"$d/pg/pg-1.log"; [ $((i % 20)) -eq 0 ] && sleep 0.1; done
cp "$d/pg/pg-1.log" "$d/pg/pgz-1.log"
sleep 2.5
echo "status v2" >"$d/info/info.status"
echo "status v3, written twice within a second" >"$d/info/info.status"
for i in $(seq 201 300); do echo "line $i" >>"$d/pg/pg-1.log"; done
# Several ack-timeouts pass: nothing may be sent twice.
for _ in $(seq 60); do
  sleep 0.2
  same "$d/pg/pg-1.log" "$d/copies/logs/$(hostname)/pg-1.log" 2>/dev/null &&
    same "$d/pg/pgz-1.log" "$d/copies/logs/$(hostname)/pgz-1.log" 2>/dev/null &&
    same "$d/info/info.status" "$d/copies/info/$(hostname)/info.status" 2>/dev/null && break
done
sleep 3
kill -TERM "$lpid"; wait "$lpid" || true
h=$(hostname)
check same "$d/pg/pg-1.log" "$d/copies/logs/$h/pg-1.log"
check same "$d/pg/pgz-1.log" "$d/copies/logs/$h/pgz-1.log"
check has_line "compression = zstd: pub.logtail goes to a peer that does not announce zstd" "$d/local.log"
check same "$d/info/info.status" "$d/copies/info/$h/info.status"
check same "$d/info/info.report" "$d/copies/info/$h/info.report"
check near_mtime "$d/info/info.status" "$d/copies/info/$h/info.status" 2000
check has_line "is an original CC" "$d/local.log"
check no_line "resending\|sending it again" "$d/local.log"
check no_line "sync lost" "$d/central.err"
check test -s "$d/copies/info/$h/info.status--prev"

echo "== 2. the original's infosender -> our local -> our central (infowriter)"
d=$work/two
mkdir -p "$d/info"
cport=$(port); lport=$(port)
cat >"$d/central.ini" <<EOF
[ccserver]
cc-socket = tcp://127.0.0.1:$cport
cc-role = remote
pidfile = $d/%(job_name)s.pid
logfile = $d/central.log
[routes]
pub.infofile = h:infowriter
[h:infowriter]
handler = cc.handler.infowriter
dstdir = $d/copies
host-subdirs = yes
bakext = --prev
EOF
cat >"$d/local.ini" <<EOF
[ccserver]
cc-socket = tcp://127.0.0.1:$lport
cc-role = local
pidfile = $d/%(job_name)s.pid
logfile = $d/local.log
[routes]
pub = h:forward
[h:forward]
handler = cc.handler.proxy
remote-cc = tcp://127.0.0.1:$cport
[d:blob]
module = cc.daemon.infosender
infodir = $d/info
infomask = info.*
compression = gzip
[d:data]
module = cc.daemon.infosender
infodir = $d/info
infomask = data.*
compression = bzip2
use-blob = no
EOF
echo "alpha" >"$d/info/info.a"
head -c 70000 /dev/urandom >"$d/info/info.bin"
printf 'beta\n' >"$d/info/data.b"
"$ccserver" "$d/central.ini" 2>"$d/central.stderr" &
pids+=($!)
"$ccserver" "$d/local.ini" 2>"$d/local.stderr" &
pids+=($!)
sleep 1
"${harness[@]}" infosender "$d/local.ini" d:blob 8 2>"$d/blob.err" &
s1=$!
"${harness[@]}" infosender "$d/local.ini" d:data 8 2>"$d/data.err" &
s2=$!
sleep 3.5
echo "alpha, changed" >"$d/info/info.a"
wait "$s1" "$s2"
h=$(hostname)
check same "$d/info/info.a" "$d/copies/$h/info.a"
check same "$d/info/info.bin" "$d/copies/$h/info.bin"
check same "$d/info/data.b" "$d/copies/$h/data.b"
check has_line "alpha$" "$d/copies/$h/info.a--prev"
check near_mtime "$d/info/info.a" "$d/copies/$h/info.a"
check near_mtime "$d/info/data.b" "$d/copies/$h/data.b"

if [ "$fail" -ne 0 ]; then
  echo "run.sh: FAILED (logs in $work; CC_KEEP_TEST_DIRS=1 keeps them)"
  exit 1
fi
echo "run.sh: the original's code and ccserver agree both ways"
