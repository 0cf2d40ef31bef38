#!/usr/bin/env bash
# Fault-injection harness: proves that the chain tailer -> forwarder -> central
# router -> tailwriter loses nothing and writes nothing twice while its parts are
# killed. It starts a real central and a real local ccserver on 127.0.0.1, runs
# cc-loggen appending several MB/s to name-rotated (classic) or renamed-and-
# recreated (rotated) files, and meanwhile, at moments drawn from --seed, SIGKILLs
# and restarts the local server, SIGKILLs and restarts the central server, and
# takes the central server down for a longer outage. At the end it waits for the
# copies to catch up and compares every source file with its copy byte for byte.
# With --state-faults it also damages state (docs/guarantees.md): the local's
# .save emptied, garbled, cut in half, replaced by a stale one or deleted; the
# copy being written truncated or extended with junk while the central is
# down; the file being tailed moved away across a local restart and back.
#
#   tests/faults/harness.sh [--seed N] [--seconds S] [--rate MBps] [--mode classic|rotated]
#        [--write-compressed no|keep|yes] [--wire gzip|bzip2|none] [--outage S]
#        [--events N] [--rotate BYTES] [--transport tcp|caf] [--memcheck GB]
#        [--state-faults] [--keep] [--build DIR]
# Environment: HARNESS_PROXY_OPTS, HARNESS_TAILER_OPTS: extra "key = value" lines
# for the local server's proxy and tailer sections (experiments).
#
# Exit status 0 when every copy is byte-identical, 1 otherwise, 2 on usage.
# Short form (the test suite): --seconds 20 --outage 4. Long form: --seconds 600;
# with state faults, at least 100 of them: --seconds 900 --events 120 --state-faults.
set -uo pipefail

seed=1 seconds=20 rate=4 mode=classic wc=no wire=none outage=4 events=0
rotate=4M transport=tcp memcheck=0 keep=0 state_faults=0
top=$(cd "$(dirname "$0")/../.." && pwd)
build="$top/build"
while [ $# -gt 0 ]; do
  case "$1" in
    --seed) seed=$2; shift ;;
    --seconds) seconds=$2; shift ;;
    --rate) rate=$2; shift ;;
    --mode) mode=$2; shift ;;
    --write-compressed) wc=$2; shift ;;
    --wire) wire=$2; shift ;;
    --outage) outage=$2; shift ;;
    --events) events=$2; shift ;;
    --rotate) rotate=$2; shift ;;
    --transport) transport=$2; shift ;;
    --link) transport=$2; shift ;;  # the name issue 9 uses: --link tcp|caf
    --memcheck) memcheck=$2; shift ;;
    --keep) keep=1 ;;
    --state-faults) state_faults=1 ;;
    --build) build=$2; shift ;;
    *) echo "harness: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
case "$mode" in classic|rotated) ;; *) echo "harness: --mode classic|rotated" >&2; exit 2 ;; esac
ccserver="$build/ccserver"
loggen="$build/cc-loggen"
[ -x "$ccserver" ] && [ -x "$loggen" ] || { echo "harness: build $ccserver and $loggen first" >&2; exit 2; }

RANDOM=$seed
# Default event count: one fault every ~6 s of writing, at least 3.
[ "$events" -gt 0 ] || events=$(( seconds / 6 > 3 ? seconds / 6 : 3 ))

work=$(mktemp -d "${TMPDIR:-/tmp}/ccfaults-XXXXXX")
src="$work/src" dst="$work/dst" run="$work/run"
mkdir -p "$src" "$dst" "$run"

say() { printf '[%6.1fs] %s\n' "$(awk -v s="$start_ns" -v n="$(date +%s%N)" 'BEGIN{print (n-s)/1e9}')" "$*"; }
start_ns=$(date +%s%N)

# Ports: drawn from the seed and the pid, in a range unlikely to be in use.
# Below the kernel's ephemeral range (a port the kernel hands to some
# connection's local end, or to a central's kernel-picked data port, would
# make a restarted central fail to bind), and not one a server listens on.
eph_low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
for _ in 1 2 3 4 5 6 7 8 9 10; do
  port_c=$(( 10000 + (RANDOM * 7 + $$) % (eph_low - 10010) ))
  ss -ltnH 2>/dev/null | awk '{ print $4 }' | grep -Eq ":($port_c|$((port_c + 1))|$((port_c + 2)))\$" || break
done
port_l=$(( port_c + 1 ))
port_caf=$(( port_c + 2 ))

remote="tcp://127.0.0.1:$port_c"
caf_listen=""
if [ "$transport" = caf ]; then
  remote="caf://127.0.0.1:$port_caf"
  caf_listen="caf-listen = 127.0.0.1:$port_caf"
fi

cat >"$work/central.ini" <<INI
[ccserver]
cc-socket = tcp://127.0.0.1:$port_c
$caf_listen
cc-role = remote
pidfile = $run/%(job_name)s.pid
logfile = $run/%(job_name)s.log
stats-period = 5
metrics-file = $run/%(job_name)s.prom

[routes]
pub.logtail = h:tailwriter

[h:tailwriter]
handler = cc.handler.tailwriter
dstdir = $dst
host-subdirs = yes
write-compressed = $wc
INI

if [ "$mode" = classic ]; then
  files_keys="logmask = postgresql-*.log"
else
  files_keys="operation-mode = rotated
logname = postgresql.log"
fi
comp_keys=""
[ "$wire" != none ] && comp_keys="compression = $wire
compression-level = 1"

cat >"$work/local.ini" <<INI
[ccserver]
cc-socket = tcp://127.0.0.1:$port_l
cc-role = local
pidfile = $run/%(job_name)s.pid
logfile = $run/%(job_name)s.log
stats-period = 5
metrics-file = $run/%(job_name)s.prom

[routes]
pub = h:forward
job = h:jobmgr

[h:forward]
handler = cc.handler.proxy
remote-cc = $remote
${HARNESS_PROXY_OPTS:-}

[h:jobmgr]
handler = cc.handler.jobmgr
daemons = d:logtail

[d:logtail]
module = cc.daemon.logtail
logdir = $src
$files_keys
$comp_keys
ack-timeout = 3
${HARNESS_TAILER_OPTS:-}
INI

central_pid=0 local_pid=0 gen_pid=0
kills_local=0 kills_central=0 outages=0 outage_total=0 state_damage=0
save_file="$run/local.d:logtail.save"

start_central() {
  "$ccserver" "$work/central.ini" >>"$run/central.out" 2>&1 &
  central_pid=$!
}
start_local() {
  "$ccserver" "$work/local.ini" >>"$run/local.out" 2>&1 &
  local_pid=$!
}
kill9() { kill -KILL "$1" 2>/dev/null; wait "$1" 2>/dev/null; }
finish() {
  for p in $gen_pid $local_pid $central_pid; do
    [ "$p" -gt 0 ] && kill -TERM "$p" 2>/dev/null
  done
  for p in $gen_pid $local_pid $central_pid; do
    [ "$p" -gt 0 ] || continue
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null
  done
}
trap finish EXIT

"$ccserver" --check "$work/central.ini" >"$run/check.out" 2>&1 || { cat "$run/check.out"; exit 1; }
"$ccserver" --check "$work/local.ini" >"$run/check.out" 2>&1 || { cat "$run/check.out"; exit 1; }

echo "harness: seed=$seed mode=$mode seconds=$seconds rate=${rate}MB/s wire=$wire write-compressed=$wc transport=$transport events=$events outage=${outage}s work=$work"
start_central
start_local
sleep 1

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# -- state faults --------------------------------------------------------------
# The copy being written: the one changed last (the tailer cannot leave its
# file while the central is down: it waits for the acks of its end).
newest_copy() {
  find "$dst" -type f ! -path '*/.*' -printf '%T@ %p\n' | sort -n | tail -1 | cut -d' ' -f2-
}
stale_save=""
damage_save() {
  kill9 "$local_pid"; state_damage=$((state_damage + 1)); kills_local=$((kills_local + 1))
  local how=$(( RANDOM % 5 ))
  case "$how" in
    0) : >"$save_file"; say "SIGKILL local; .save emptied" ;;
    1) head -c 64 /dev/urandom >"$save_file"; say "SIGKILL local; .save garbled" ;;
    2) local t; t=$(cat "$save_file" 2>/dev/null); printf '%s' "${t:0:$(( ${#t} / 2 ))}" >"$save_file"
       say "SIGKILL local; .save cut in half" ;;
    3) if [ -n "$stale_save" ]; then printf '%s' "$stale_save" >"$save_file"; say "SIGKILL local; a stale .save put back"
       else rm -f "$save_file"; say "SIGKILL local; .save deleted"; fi ;;
    4) rm -f "$save_file"; say "SIGKILL local; .save deleted" ;;
  esac
  sleep 0.2; start_local
}
damage_copy() {
  kill9 "$central_pid"; state_damage=$((state_damage + 1)); kills_central=$((kills_central + 1))
  local f; f=$(newest_copy)
  if [ -z "$f" ]; then say "SIGKILL central; no copy to damage yet"
  elif [ "$1" -eq 4 ]; then
    local size cut; size=$(stat -c %s "$f"); cut=$(( RANDOM % 4096 + 1 ))
    [ "$cut" -gt "$size" ] && cut=$size
    truncate -s "-$cut" "$f"; say "SIGKILL central; copy ${f#"$dst"/} truncated by $cut bytes"
  else
    printf 'JUNK%04d\n' "$RANDOM" >>"$f"; say "SIGKILL central; 9 junk bytes appended to ${f#"$dst"/}"
  fi
  sleep 0.5; start_central
}
move_away() {
  # Rotated mode renames the file itself: moving it too would race cc-loggen.
  if [ "$mode" != classic ]; then damage_save; return; fi
  kill9 "$local_pid"; state_damage=$((state_damage + 1)); kills_local=$((kills_local + 1))
  # The file the tailer is on (its .save names it): the issue's fault. A file
  # it has not reached yet that vanishes for a moment is passed by, as any
  # file that is gone when the tailer gets there.
  local f
  f=$(sed -n 's/.*"filename":"\([^"]*\)".*/\1/p' "$save_file" 2>/dev/null)
  f=${f##*/}
  if [ -z "$f" ] || [ ! -f "$src/$f" ]; then
    say "SIGKILL local; no saved file to move away"
    start_local; return
  fi
  mv "$src/$f" "$work/moved-away"
  say "SIGKILL local; $f moved away across its restart"
  start_local; sleep 1
  mv "$work/moved-away" "$src/$f"
}
# A .save taken now and then: put back later as a stale one.
remember_save() { [ -f "$save_file" ] && stale_save=$(cat "$save_file"); }

if [ "$memcheck" != 0 ]; then
  # Memory check: the central is down while the backlog grows past $memcheck GB.
  kill9 "$central_pid"; central_pid=0
  say "central down; writing ${memcheck} GB as fast as possible"
  "$loggen" --dir "$src" --mode "$( [ "$mode" = classic ] && echo classic || echo rotated )" \
    --total "${memcheck}G" --rotate 256M --seed "$seed" >"$run/loggen.out" &
  gen_pid=$!
  peak=0 samples=0 first=0
  while kill -0 "$gen_pid" 2>/dev/null; do
    r=$(rss_kb "$local_pid"); [ "$first" -eq 0 ] && first=$r
    [ "$r" -gt "$peak" ] && peak=$r
    samples=$((samples + 1)); sleep 0.5
  done
  wait "$gen_pid"; gen_pid=0
  backlog=$(find "$src" -type f -printf '%s\n' | awk '{s+=$1} END {printf "%.0f\n", s}')
  say "backlog $((backlog / 1048576)) MiB; local RSS first ${first} KiB, peak ${peak} KiB over $samples samples"
  t0=$(date +%s%N)
  start_central
  say "central restarted; catching up"
else
  "$loggen" --dir "$src" --mode "$mode" --rate "$rate" --seconds "$seconds" \
    --rotate "$rotate" --seed "$seed" >"$run/loggen.out" &
  gen_pid=$!
  # The fault schedule: $events events at moments drawn from the seed.
  declare -a at kind
  for ((i = 0; i < events; i++)); do
    at[i]=$(( RANDOM % (seconds * 10) ))   # tenths of a second
    kind[i]=$(( RANDOM % 5 / 2 ))           # 0 local kill, 1 central kill (2 in 5 each), 2 outage (1 in 5)
    # State faults: 3 .save damaged, 4 copy truncated, 5 junk in a copy,
    # 6 the tailed file moved away across a restart (half the events).
    [ "$state_faults" -eq 1 ] && [ $(( RANDOM % 2 )) -eq 0 ] && kind[i]=$(( 3 + RANDOM % 4 ))
  done
  # Always at least one of each kind when there are enough events.
  if [ "$events" -ge 3 ]; then kind[0]=0; kind[1]=1; kind[2]=2; fi
  if [ "$state_faults" -eq 1 ] && [ "$events" -ge 7 ]; then
    kind[3]=3; kind[4]=4; kind[5]=5; kind[6]=6
  fi
  sorted=$(for ((i = 0; i < events; i++)); do echo "${at[i]} ${kind[i]}"; done | sort -n)
  sched_ns=$(date +%s%N)
  elapsed10() { echo $(( ($(date +%s%N) - sched_ns) / 100000000 )); }
  while read -r when what; do
    # Real time, not counted sleeps: an event due during an outage fires
    # right after it.
    while [ "$(elapsed10)" -lt "$when" ]; do sleep 0.1; done
    [ $(( RANDOM % 3 )) -eq 0 ] && remember_save
    case "$what" in
      0) kill9 "$local_pid"; kills_local=$((kills_local + 1))
         pause=$(( RANDOM % 20 ))
         say "SIGKILL local (pid $local_pid), restart after 0.$(printf %02d $((pause * 5)))s"
         sleep "0.$(printf %02d $((pause * 5)))"; start_local ;;
      1) kill9 "$central_pid"; kills_central=$((kills_central + 1))
         say "SIGKILL central (pid $central_pid), restart at once"
         start_central ;;
      2) kill9 "$central_pid"; outages=$((outages + 1)); outage_total=$((outage_total + outage))
         say "central outage of ${outage}s (SIGKILL pid $central_pid)"
         sleep "$outage"; start_central
         say "central back (pid $central_pid)" ;;
      3) damage_save ;;
      4|5) damage_copy "$what" ;;
      6) move_away ;;
    esac
  done <<<"$sorted"
  wait "$gen_pid"; gen_pid=0
  t0=$(date +%s%N)
fi
cat "$run/loggen.out"

# Expected copies: one per source file (classic) or generation (rotated).
# Their content hashes must match the set of source hashes exactly.
copy_cat() {
  case "$1" in
    *.gz) gzip -dc "$1" ;;
    *.bz2) bzip2 -dc "$1" ;;
    *) cat "$1" ;;
  esac
}
src_bytes=$(find "$src" -type f -printf '%s\n' | awk '{s+=$1} END {printf "%.0f\n", s}')
host_dirs() { find "$dst" -mindepth 1 -maxdepth 1 -type d ! -name '.*'; }
copy_bytes() {
  local n=0
  while IFS= read -r f; do
    n=$(( n + $(copy_cat "$f" | wc -c) ))
  done < <(find "$dst" -type f ! -path '*/.*' )
  echo "$n"
}
say "writer done: $((src_bytes / 1048576)) MiB in $(find "$src" -type f | wc -l) files; waiting for the copies"
deadline=$(( $(date +%s) + 120 + memcheck * 60 ))
while :; do
  cb=$(copy_bytes)
  [ "$cb" -ge "$src_bytes" ] && break
  if [ "$(date +%s)" -ge "$deadline" ]; then
    say "timed out waiting: copies hold $cb of $src_bytes bytes"
    break
  fi
  sleep 0.5
done
t1=$(date +%s%N)
if [ "$memcheck" != 0 ]; then
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", (b-a)/1e9}')
  say "caught up ${src_bytes} bytes in ${secs}s ($(awk -v b="$src_bytes" -v s="$secs" 'BEGIN{printf "%.0f", b/1048576/(s>0?s:1)}') MiB/s)"
fi

# Compare: every source's hash must be among the copies' hashes, once.
fail=0
# An empty source file (a generation rotated away before its first line) has no
# copy: no shipper creates one without a fragment.
src_list=$(for f in "$src"/*; do [ -s "$f" ] || continue; printf '%s %s\n' "$(sha256sum <"$f" | cut -c1-64)" "$(basename "$f")"; done | sort)
copy_list=$(find "$dst" -type f ! -path '*/.*' | while IFS= read -r f; do
  printf '%s %s\n' "$(copy_cat "$f" | sha256sum | cut -c1-64)" "${f#"$dst"/}"; done | sort)
nsrc=$(printf '%s\n' "$src_list" | grep -c . || true)
ncopy=$(printf '%s\n' "$copy_list" | grep -c . || true)
missing=$(comm -23 <(printf '%s\n' "$src_list" | cut -d' ' -f1 | sort) <(printf '%s\n' "$copy_list" | cut -d' ' -f1 | sort))
extra=$(comm -13 <(printf '%s\n' "$src_list" | cut -d' ' -f1 | sort) <(printf '%s\n' "$copy_list" | cut -d' ' -f1 | sort))
if [ -n "$missing" ] || [ -n "$extra" ] || [ "$nsrc" -ne "$ncopy" ]; then
  fail=1
  echo "MISMATCH: $nsrc source files, $ncopy copies"
  for h in $missing; do
    name=$(printf '%s\n' "$src_list" | grep "^$h" | head -1 | cut -d' ' -f2)
    echo "  source without identical copy: $name ($(stat -c %s "$src/$name") bytes)"
  done
  for h in $extra; do
    name=$(printf '%s\n' "$copy_list" | grep "^$h" | head -1 | cut -d' ' -f2)
    echo "  copy without identical source: $name ($(copy_cat "$dst/$name" | wc -c) bytes)"
  done
fi
for w in central local; do
  grep -hE ' ERROR ' "$run"/*.log 2>/dev/null | grep -v 'SIGKILL' | head -5 | sed 's/^/  log: /'
  break
done

echo "harness: seed=$seed kills: local $kills_local, central $kills_central; outages $outages (${outage_total}s); state faults $state_damage; $((src_bytes / 1048576)) MiB in $nsrc files"
if [ "$fail" -eq 0 ]; then
  echo "harness: PASS: all $nsrc files byte-identical, nothing lost, nothing twice"
  [ "$keep" -eq 1 ] || rm -rf "$work"
  exit 0
fi
echo "harness: FAIL (work dir kept: $work)"
exit 1
