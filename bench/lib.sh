# Shared by bench/run.sh and bench/profile.sh (sourced): processes recorded
# and ended by PID, /proc readings, free ports, and the ccserver pair ("ours"):
# a central (tailwriter) and a local (jobmgr + tailer -> proxy).
# Expects $out (work directory, with logs/), $ccserver and $bt (cc-benchtool).
# Experiment hooks (the recorded runs leave them unset, i.e. defaults):
# BENCH_CENTRAL_OPTS / BENCH_LOCAL_OPTS (the central's / the local's [ccserver]) / BENCH_TAILER_OPTS / BENCH_WRITER_OPTS are extra "key = value" lines (newline
# separated) for every [d:...] tailer / the [h:tailwriter] section.

say() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
now_ns() { date +%s%N; }

# --- processes: every one recorded by PID, ended by PID ----------------------
pids=()
start_bg() {  # start_bg NAME CMD... ; the PID is in $last_pid
  local name=$1; shift
  "$@" >>"$out/logs/$name.out" 2>&1 &
  last_pid=$!
  pids+=("$last_pid")
}
stop_pid() {  # TERM, up to 10 s, then KILL; reaps it
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}
stop_all() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do stop_pid "$pid"; done
  pids=()
}

# --- /proc readings (no forks per sample: the machine is what we measure) -----
clk_tck=$(getconf CLK_TCK)
cpu_ticks() {  # cpu_ticks PID [user]: utime+stime (user: utime alone) of one live process, all its threads
  local stat rest only=${2:-}
  { read -r stat <"/proc/$1/stat"; } 2>/dev/null || { echo 0; return; }
  rest=${stat##*) }
  set -- $rest
  if [ "$only" = user ]; then echo "${12}"; else echo $(( ${12} + ${13} )); fi
}
cpu_ticks_sum() { local n=0 p; for p in "$@"; do n=$(( n + $(cpu_ticks "$p") )); done; echo "$n"; }
status_kb() {  # status_kb PID FIELD (VmHWM, VmRSS)
  local key val rest
  while read -r key val rest; do
    [ "$key" = "$2:" ] && { echo "$val"; return; }
  done <"/proc/$1/status" 2>/dev/null
  echo 0
}
fd_count() { local f=(/proc/"$1"/fd/*); [ -e "${f[0]}" ] && echo "${#f[@]}" || echo 0; }
max_of() { local m=0 v; for v in "$@"; do [ "$v" -gt "$m" ] && m=$v; done; echo "$m"; }

# A port nobody listens on or connects from, below the kernel's ephemeral
# range: ports are picked when the configs are written, and 50 servers
# connecting meanwhile take ephemeral ports that a later bind would collide
# with ("Address already in use").
free_port() {
  local p lo=32768 span
  read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=32768
  [ "$lo" -gt 12000 ] || lo=32768
  span=$(( lo - 10000 ))
  for _ in $(seq 200); do
    p=$(( 10000 + RANDOM % span ))
    # Not one handed out before in this run either (not bound yet, maybe).
    grep -qx "$p" "$out/ports" 2>/dev/null && continue
    ss -Htan "sport = :$p" 2>/dev/null | grep -q . && continue
    echo "$p" >>"$out/ports"
    echo "$p"
    return 0
  done
  return 1
}
wait_listening() {  # wait_listening PORT: up to 10 s
  for _ in $(seq 200); do
    ss -Htln "sport = :$1" 2>/dev/null | grep -q . && return 0
    sleep 0.05
  done
  return 1
}
sum_rus() {  # sum_rus FILE...: "cpu_seconds max_rss_kb" of measured processes
  awk '{ cpu += $1 + $2; if ($3 > rss) rss = $3 } END { printf "%.3f %d\n", cpu, rss }' "$@" 2>/dev/null
}
record() {  # record NAME BYTES NS CPU_S RSS_KB CHECK NOTE
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$results"
  say "$(printf '%-14s %8.1f MB/s  cpu %7.2f s  peak rss %6d KiB  %s' "$1" \
        "$(awk -v b="$2" -v n="$3" 'BEGIN{ print (n > 0 ? b * 1e3 / n : 0) }')" "$4" "$5" "$6")"
}
bytes_of() { stat -c %s "$1"; }

# --- ours ---------------------------------------------------------------------
# ours: a central (tailwriter) and a local (jobmgr + tailer -> proxy) ccserver.
write_central() {  # write_central DIR PORT
  cat >"$1/central.ini" <<INI
[ccserver]
cc-socket = tcp://127.0.0.1:$2
${caf_listen_line:-}
cc-role = remote
pidfile = $1/run/%(job_name)s.pid
logfile = $1/run/%(job_name)s.log
${BENCH_CENTRAL_OPTS:-}

[routes]
pub.logtail = h:tailwriter

[h:tailwriter]
handler = cc.handler.tailwriter
dstdir = $1/dst
host-subdirs = yes
${BENCH_WRITER_OPTS:-}
INI
}
tailer_section() {  # tailer_section NAME LOGDIR LOGMASK HOSTNAME COMP
  printf '[%s]\nmodule = cc.daemon.logtail\nlogdir = %s\nlogmask = %s\nhostname = %s\n' "$1" "$2" "$3" "$4"
  [ "$5" != none ] && printf 'compression = %s\ncompression-level = 1\n' "$5"
  [ -n "${BENCH_TAILER_OPTS:-}" ] && printf '%s\n' "$BENCH_TAILER_OPTS"
  printf '\n'
}
write_local() {  # write_local FILE RUNDIR PORT CENTRAL_PORT DAEMONS ; then sections on stdin
  { cat <<INI
[ccserver]
cc-socket = tcp://127.0.0.1:$3
cc-role = local
pidfile = $2/%(job_name)s.pid
logfile = $2/%(job_name)s.log
${BENCH_LOCAL_OPTS:-}

[routes]
pub = h:forward
job = h:jobmgr

[h:forward]
handler = cc.handler.proxy
remote-cc = ${caf_remote:-tcp://127.0.0.1:$4}

[h:jobmgr]
handler = cc.handler.jobmgr
daemons = $5

INI
    cat; } >"$1"
}
check_config() {
  if ! "$ccserver" --check "$1" >"$out/logs/check.out" 2>&1; then
    say "ccserver rejects $1:"; sed 's/^/    /' "$out/logs/check.out" | head -10
    return 1
  fi
}
# A server is ready when its log says so: "main: up:", and for a local one
# one "no log file yet" line per tailer (it watches its empty directory, so a
# file linked in afterwards is new to it and read from offset 0; SPEC 6: only
# files present at the first start are tailed from their end). Waits at most
# $ready_timeout seconds; a server that dies meanwhile fails the wait.
ready_timeout=${ready_timeout:-60}
wait_ready() {  # wait_ready LOGFILE TAILERS PID
  local log=$1 tailers=$2 pid=$3 i
  for ((i = 0; i < ready_timeout * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || return 1
    if grep -q 'main: up:' "$log" 2>/dev/null &&
       [ "$(grep -c 'no log file yet' "$log" 2>/dev/null)" -ge "$tailers" ]; then
      return 0
    fi
    sleep 0.1
  done
  say "not ready after ${ready_timeout}s: $log"
  return 1
}
wait_logged() {  # wait_logged LOGFILE REGEX PID: up to $ready_timeout s
  local i
  for ((i = 0; i < ready_timeout * 100; i++)); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.01
  done
  say "no '$2' in $1 after ${ready_timeout}s"
  return 1
}
wait_alive() {  # wait_alive SECONDS PID...
  local secs=$1; shift
  sleep "$secs"
  local p
  for p in "$@"; do
    kill -0 "$p" 2>/dev/null || return 1
  done
}
start_pipe() {  # start_pipe DIR: sets pipe_src pipe_copy pipe_rx pipe_tail pipe_tx
  # The pipe a line follows in the per-line tools (timeline.sh, wakeups.sh,
  # rates.sh): tail -f (inotify) from the file's first byte into a fifo, socat
  # from it over TCP loopback, socat into the copy; as run.sh's latency limit.
  local d=$1 port
  mkdir -p "$d"; : >"$d/src.log"
  port=$(free_port) || return 1
  start_bg pipe-listen socat -u -b1048576 "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr" \
    "OPEN:$d/copy.log,creat,trunc"; pipe_rx=$last_pid
  wait_listening "$port" || return 1
  rm -f "$d/tail.fifo" && mkfifo "$d/tail.fifo" || return 1
  start_bg pipe-tail sh -c 'exec tail -c +1 -f "$1" >"$2"' sh "$d/src.log" "$d/tail.fifo"; pipe_tail=$last_pid
  start_bg pipe-send socat -u -b1048576 "OPEN:$d/tail.fifo" "TCP:127.0.0.1:$port"; pipe_tx=$last_pid
  pipe_src="$d/src.log" pipe_copy="$d/copy.log"
}
start_duties() {  # start_duties DIR: sets duties_src duties_copy duties_rx duties_tx
  # Ours' per-line system calls and nothing else (cc-benchtool trickle-send
  # into trickle-recv over TCP loopback): the floor of the trickle target,
  # in run.sh's latency step and in rates.sh.
  local d=$1 port
  mkdir -p "$d"; rm -f "$d/src.log" "$d/copy.log"
  port=$(free_port) || return 1
  start_bg duties-recv "$bt" trickle-recv --port "$port" --out "$d/copy.log"; duties_rx=$last_pid
  wait_listening "$port" || return 1
  : >"$d/src.log"
  start_bg duties-send "$bt" trickle-send --port "$port" "$d/src.log"; duties_tx=$last_pid
  duties_src="$d/src.log" duties_copy="$d/copy.log"
  # The receiver makes the copy when the sender has connected: up then.
  local i
  for i in $(seq 1 100); do [ -e "$duties_copy" ] && return 0; sleep 0.1; done
  echo "start_duties: no copy at $duties_copy after 10 s" >&2; return 1
}
start_ours() {  # start_ours DIR COMP [LOGDIR]: sets central_pid local_pid copy_dir
  local d=$1 comp=$2 pc pl
  # Afresh: the logs of an earlier run into the same --out would satisfy
  # the waits below at once (its "main: up:" and "connected to"), and the
  # log would start growing before this local is linked.
  rm -rf "$d/src" "$d/dst" "$d/run"
  mkdir -p "$d/src" "$d/dst" "$d/run"
  pc=$(free_port) && pl=$(free_port) || return 1
  # bench_link=caf: the local's proxy reaches the central over a CAF middleman
  # link (caf-listen) instead of ZeroMQ.
  caf_listen_line="" caf_remote=""
  if [ "${bench_link:-tcp}" = caf ]; then
    local pcaf; pcaf=$(free_port) || return 1
    caf_listen_line="caf-listen = 127.0.0.1:$pcaf" caf_remote="caf://127.0.0.1:$pcaf"
  fi
  write_central "$d" "$pc"
  tailer_section d:logtail "$d/src" 'postgresql-*.log' benchhost "$comp" |
    write_local "$d/local.ini" "$d/run" "$pl" "$pc" d:logtail
  check_config "$d/central.ini" && check_config "$d/local.ini" || return 1
  # As deployed: the central is up and the local linked to it before the
  # log grows (else the local's first connect may find no listener and
  # ZeroMQ retries 100 ms later, which the measurement would count).
  start_bg "$(basename "$d")-central" "$ccserver" "$d/central.ini"; central_pid=$last_pid
  copy_dir="$d/dst/benchhost"
  wait_ready "$d/run/central.log" 0 "$central_pid" ||
    { say "the central ccserver did not come up: see $d/run"; return 1; }
  start_bg "$(basename "$d")-local" "$ccserver" "$d/local.ini"; local_pid=$last_pid
  wait_ready "$d/run/local.log" 1 "$local_pid" && wait_logged "$d/run/local.log" 'forward\]: connected to' "$local_pid" ||
    { say "the local ccserver did not come up or link: see $d/run"; return 1; }
}

