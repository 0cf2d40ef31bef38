#!/usr/bin/env bash
# A real run seen through the Grafana dashboard's own queries
# (conf/grafana/ccserver-dashboard.json), evaluated by a real Prometheus:
#
#   - a central and a local ccserver on 127.0.0.1 (this build's binary), the
#     local tailing two PostgreSQL-style logs sent as hosts db1 and db2;
#   - Prometheus (Debian's `prometheus`) scraping both /metrics every second;
#   - cc-loggen writing both logs at RATE MB/s each for SECONDS;
#   - faults on a schedule: the central stopped (SIGTERM) from 30 s to 45 s,
#     then its copies unwritable (RLIMIT_FSIZE, EFBIG) from 60 s to 70 s;
#   - at the end, once the lag is 0, the panels' queries over the whole run
#     (rate windows of 5 s instead of the dashboard's 1 m: the run is short;
#     the lag's per-file series summed per tailer, since each tailer moves
#     from file to file as they rotate every 64 MiB)
#     go through Prometheus's query_range API, and gnuplot draws them into
#     docs/operations-dashboard.png.
#
#   bash bench/dashboard.sh [--build DIR] [--rate MBps] [--seconds S] [--out PNG]
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)

build=build
rate=5
seconds=90
out=docs/operations-dashboard.png
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: bash bench/dashboard.sh [--build DIR] [--rate MBps] [--seconds S] [--out PNG]" >&2; exit 2 ;;
  esac
done
bash .ci/setup gnuplot-nox >/dev/null
bin=$src/$build/ccserver
loggen=$src/$build/cc-loggen
[ -x "$bin" ] && [ -x "$loggen" ] || { echo "dashboard: build $build first" >&2; exit 1; }

run=$(mktemp -d /tmp/ccdash-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  "$bin" -s "$run/local.ini" >/dev/null 2>&1 || true
  "$bin" -s "$run/central.ini" >/dev/null 2>&1 || true
  wait 2>/dev/null || true
  [ -n "${KEEP:-}" ] || rm -rf "$run"
}
trap cleanup EXIT

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
cc_central=$(free_port); cc_local=$(free_port)
http_central=$(free_port); http_local=$(free_port); prom=$(free_port)
mkdir -p "$run/db1" "$run/db2" "$run/copies" "$run/prom"

cat >"$run/central.ini" <<EOF
[ccserver]
cc-socket = tcp://127.0.0.1:$cc_central
cc-role = remote
pidfile = $run/central.pid
logfile = $run/central.log
http-listen = 127.0.0.1:$http_central
[routes]
pub.logtail = h:tailwriter
[h:tailwriter]
handler = tailwriter
dstdir = $run/copies
host-subdirs = yes
EOF
cat >"$run/local.ini" <<EOF
[ccserver]
cc-socket = tcp://127.0.0.1:$cc_local
cc-role = local
pidfile = $run/%(job_name)s.pid
logfile = $run/local.log
http-listen = 127.0.0.1:$http_local
health-link-timeout = 5
[routes]
pub = h:forward
[h:forward]
handler = proxy
remote-cc = tcp://127.0.0.1:$cc_central
ping = 1
[h:jobmgr]
handler = jobmgr
daemons = d:db1, d:db2
[d:db1]
module = logtail
logdir = $run/db1
logmask = postgresql-*.log
hostname = db1
ack-timeout = 2
[d:db2]
module = logtail
logdir = $run/db2
logmask = postgresql-*.log
hostname = db2
ack-timeout = 2
EOF
cat >"$run/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: ccserver
    static_configs:
      - targets: ['127.0.0.1:$http_central', '127.0.0.1:$http_local']
EOF

prometheus --config.file="$run/prometheus.yml" --storage.tsdb.path="$run/prom" \
  --web.listen-address="127.0.0.1:$prom" >"$run/prometheus.log" 2>&1 &
pids+=($!)
"$bin" -d "$run/central.ini"
"$bin" -d "$run/local.ini"
start=$(date +%s)
echo "dashboard: servers up; Prometheus on 127.0.0.1:$prom; writing ${rate} MB/s x 2 for ${seconds} s"

"$loggen" --dir "$run/db1" --mode classic --rate "$rate" --seconds "$seconds" \
  --rotate 64M --seed 1 >"$run/loggen1.log" &
pids+=($!)
"$loggen" --dir "$run/db2" --mode classic --rate "$rate" --seconds "$seconds" \
  --rotate 64M --seed 2 >"$run/loggen2.log" &
pids+=($!)

at() { while [ $(( $(date +%s) - start )) -lt "$1" ]; do sleep 0.2; done; }
at 30
echo "dashboard: 30 s: stopping the central"
"$bin" -s "$run/central.ini" >/dev/null
at 45
echo "dashboard: 45 s: starting it again"
"$bin" -d "$run/central.ini"
at 60
central_pid=$(cat "$run/central.pid")
echo "dashboard: 60 s: the central's copies stop at 1 MiB (RLIMIT_FSIZE)"
prlimit --pid "$central_pid" --fsize=1048576:unlimited
at 70
echo "dashboard: 70 s: limit lifted"
prlimit --pid "$central_pid" --fsize=unlimited:unlimited
wait "${pids[1]}" "${pids[2]}"

# Until both files are acknowledged to their end (bounded).
lag() {
  curl -s "http://127.0.0.1:$http_local/metrics" |
    awk '/^ccserver_tail_lag_bytes/ {s += $2} END {print s + 0}'
}
for _ in $(seq 1 600); do
  [ "$(lag)" = 0 ] && break
  sleep 0.5
done
echo "dashboard: lag $(lag) bytes at $(( $(date +%s) - start )) s"
sleep 5
end=$(date +%s)
"$bin" --status "$run/local.ini" || true
"$bin" --status "$run/central.ini" || true

# The panels' queries over the run, one TSV per series: time - start, value.
query() {  # name promql
  curl -s -G "http://127.0.0.1:$prom/api/v1/query_range" \
    --data-urlencode "query=$2" --data-urlencode "start=$start" \
    --data-urlencode "end=$end" --data-urlencode "step=1" >"$run/$1.json"
  /usr/bin/python3 - "$run/$1.json" "$run/$1" "$start" \
    "127.0.0.1:$http_central=central" "127.0.0.1:$http_local=local" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
start = float(sys.argv[3])
names = dict(a.split("=") for a in sys.argv[4:])
with open(sys.argv[2] + ".tsv", "w") as out:
    for i, series in enumerate(doc["data"]["result"]):
        m = series["metric"]
        if "instance" in m:
            m["instance"] = names.get(m["instance"], m["instance"])
        title = " ".join(m[k] for k in ("host", "instance", "section") if m.get(k))
        if i:
            out.write("\n\n")
        out.write("# %s\n" % title)
        last = None
        for t, v in series["values"]:
            t = float(t) - start
            if last is not None and t - last > 2.5:
                out.write("\n")  # no samples (not scraped): a gap, not a line
            out.write("%g\t%s\n" % (t, v))
            last = t
PY
}
query lag 'sum by (instance, section) (ccserver_tail_lag_bytes) / 1048576'
query throughput 'sum by (host) (rate(ccserver_tailwriter_copy_written_bytes_total[5s])) / 1048576'
query connected 'ccserver_forward_connected'
query healthy 'ccserver_healthy'
query errors 'sum by (instance, section) (increase(ccserver_tailwriter_write_errors_total[5s]))'
query failing 'sum by (instance, section) (ccserver_tailwriter_failing_copies)'

series_count() { grep -c '^#' "$1" || true; }
plot_all() {  # file, columns label
  local file=$1 n i cmd=""
  n=$(series_count "$file")
  for i in $(seq 0 $(( n - 1 ))); do
    title=$(grep '^#' "$file" | sed -n "$((i + 1))p" | sed 's/^# //')
    cmd+="${cmd:+, }'$file' index $i using 1:2 with lines lw 2 title '$2$title'"
  done
  echo "$cmd"
}
cat >"$run/plot.gp" <<EOF
set terminal pngcairo size 1400,900 font ",10"
set output '$src/$out'
set multiplot layout 2,2 title "ccserver: a real run through the dashboard's queries (Prometheus 1 s scrapes; central stopped 30-45 s, copies unwritable 60-70 s)"
set grid
set xlabel 'seconds'
set key top left
set title 'Lag (MiB), the per-file series summed per tailer: sum by (instance, section) (ccserver\_tail\_lag\_bytes)'
plot $(plot_all "$run/lag.tsv" "tailer ")
set title 'Throughput per host (MiB/s): sum by (host) (rate(ccserver\_tailwriter\_copy\_written\_bytes\_total[5s]))'
plot $(plot_all "$run/throughput.tsv" "host ")
set title 'Link state and health: ccserver\_forward\_connected, ccserver\_healthy'
set yrange [-0.1:1.3]
plot $(plot_all "$run/connected.tsv" "connected "), $(plot_all "$run/healthy.tsv" "healthy ")
set title 'Write errors (central): increase(ccserver\_tailwriter\_write\_errors\_total[5s]), failing copies'
set autoscale y
plot $(plot_all "$run/errors.tsv" "errors/5s "), $(plot_all "$run/failing.tsv" "failing copies ")
unset multiplot
EOF
gnuplot "$run/plot.gp"
for h in db1 db2; do
  for f in "$run/$h"/*.log; do
    cmp -s "$f" "$run/copies/$h/$(basename "$f")" || { echo "dashboard: $f differs from its copy" >&2; exit 1; }
  done
done
echo "dashboard: every copy equals its source; wrote $out"
