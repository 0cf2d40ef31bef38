# The backlog step of bench/run.sh (issue 20), sourced by it: a central that
# was down while the source log grew catches up. The pair of ours starts
# linked on an empty directory, the central is stopped, cc-loggen writes
# $backlog_bytes into the watched directory at full speed (the local tails it
# but nothing is acknowledged), then the central starts again and the copy
# catches up. Every 0.5 s a sampler records the source and copy sizes, both
# servers' RSS and CPU time ($out/backlog-samples.tsv); the step's figures go
# to $out/backlog.tsv (key<TAB>value) and its table to the report
# (render_backlog, called by bench/report.sh).
# Expects what bench/run.sh defines: $out, $data, $ccserver, $loggen, $bt,
# $step_timeout, $keep, $failures, and bench/lib.sh.

backlog_results="$out/backlog.tsv" backlog_samples="$out/backlog-samples.tsv"
: >"$backlog_results"

# One row every 0.5 s, at most MAX rows; ended by PID. No fork but stat(1)
# per row: /proc is read by the shell itself.
backlog_sampler() {  # PHASE T0_US SOURCE COPY CENTRAL_PID|0 LOCAL_PID MAX
  local phase=$1 t0=$2 src=$3 copy=$4 cpid=$5 lpid=$6 max=$7 i us c_rss c_cpu
  for ((i = 0; i < max; i++)); do
    us=${EPOCHREALTIME/./}
    c_rss=0 c_cpu=0
    if [ "$cpid" -gt 0 ]; then c_rss=$(status_kb "$cpid" VmRSS) c_cpu=$(cpu_ticks "$cpid"); fi
    printf '%d.%03d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' $(( (us - t0) / 1000000 )) $(( (us - t0) / 1000 % 1000 )) \
      "$phase" "$(size_or_0 "$src")" "$(size_or_0 "$copy")" "$c_rss" "$(status_kb "$lpid" VmRSS)" \
      "$(ticks_s "$c_cpu")" "$(ticks_s "$(cpu_ticks "$lpid")")"
    sleep 0.5
  done
}
size_or_0() { stat -c %s "$1" 2>/dev/null || echo 0; }
ticks_s() { printf '%d.%02d' $(( $1 / clk_tck )) $(( $1 % clk_tck * 100 / clk_tck )); }

# RSS over the catch-up, from the samples, for one side (COLUMN 5 central, 6
# local), as result rows in KiB: start is the first sample with the copy
# under way; half1/half2 the largest before/after half the backlog is copied:
# RSS that grows with the backlog shows as half2 above half1.
backlog_rss() {  # SIDE COLUMN BYTES
  awk -F'\t' -v s="$1" -v c="$2" -v b="$3" '
    $2 == "catchup" && $4 > 0 && $c > 0 {
      if (start == "") start = $c
      if ($c > max) max = $c
      if ($4 < b / 2) { if ($c > h1) h1 = $c } else if ($c > h2) h2 = $c
    }
    END { printf "%s_rss_start_kb\t%d\n%s_rss_max_kb\t%d\n%s_rss_half1_kb\t%d\n%s_rss_half2_kb\t%d\n",
            s, start, s, max, s, h1, s, h2 }' "$backlog_samples"
}

backlog_run() {
  local d="$out/backlog" src copy t0 gen_ns tc first_ns=0 done_ns=0 durable_ns=0 sampler bytes
  local c0_c c0_l c1_c c1_l l_down0 l_down1 need avail check
  quiesce
  rm -rf "$d"; mkdir -p "$d"
  need=$(( 2 * backlog_size + (1 << 30) ))
  avail=$(( $(df -Pk "$d" | awk 'NR == 2 { print $4 }') * 1024 ))
  if [ "$avail" -lt "$need" ]; then
    say "backlog: not run ($avail bytes free in $d, $need needed)"
    printf 'check\tnot run (disk: %s bytes free, %s needed)\n' "$avail" "$need" >"$backlog_results"
    return
  fi
  if ! start_ours "$d" none; then
    failures=$((failures + 1)); printf 'check\tFAILED to start\n' >"$backlog_results"; stop_all; return
  fi
  src="$d/src/postgresql-0001.log" copy="$copy_dir/postgresql-0001.log"
  stop_pid "$central_pid"
  mv "$d/run/central.log" "$d/run/central-before.log"
  printf '# t_s\tphase\tsource_bytes\tcopy_bytes\tcentral_rss_kb\tlocal_rss_kb\tcentral_cpu_s\tlocal_cpu_s\n' >"$backlog_samples"
  t0=${EPOCHREALTIME/./}
  local max_rows=$(( step_timeout * 2 + 20 ))
  backlog_sampler backlog "$t0" "$src" "$copy" 0 "$local_pid" "$max_rows" >>"$backlog_samples" 2>/dev/null &
  sampler=$!; pids+=("$sampler")
  l_down0=$(cpu_ticks "$local_pid")
  timeout "$step_timeout" "$loggen" --dir "$d/src" --mode single --name postgresql-0001 \
    --total "$backlog_size" --seed 20 >"$out/logs/loggen-backlog.out" ||
    { say "backlog: cc-loggen failed"; failures=$((failures + 1)); }
  gen_ns=$(( ${EPOCHREALTIME/./} * 1000 - t0 * 1000 ))
  bytes=$(bytes_of "$src")
  quiesce  # the backlog's writeback is not the catch-up's to pay
  l_down1=$(cpu_ticks "$local_pid")
  stop_pid "$sampler"
  # The pipe first, on pages this VM's host may not back yet: ours then
  # writes into pages the pipe warmed, as the pipe after ours does.
  backlog_limit "$d" "$src" "$bytes" | sed 's/^limit_/cold_limit_/' >"$d/cold.tsv"
  say "backlog: $bytes bytes written in $(awk -v n="$gen_ns" 'BEGIN { printf "%.1f", n / 1e9 }') s with the central down; starting it"
  start_bg backlog-central "$ccserver" "$d/central.ini"; central_pid=$last_pid
  tc=$(now_ns)
  c0_c=$(cpu_ticks "$central_pid") c0_l=$(cpu_ticks "$local_pid")
  backlog_sampler catchup "$t0" "$src" "$copy" "$central_pid" "$local_pid" "$max_rows" >>"$backlog_samples" 2>/dev/null &
  sampler=$!; pids+=("$sampler")
  # The first byte marks the link back up (ZeroMQ's reconnect backs off to
  # 0.5 s while the central is down): the rate from there is the copying alone.
  "$bt" wait-size --timeout 60 "$copy" 1 >"$d/first.out" &&
    first_ns=$(sed -n 's/.*done_ns=\([0-9]*\).*/\1/p' "$d/first.out")
  if "$bt" wait-size --timeout "$step_timeout" --stall 60 "$copy" "$bytes" >"$d/wait.out"; then
    done_ns=$(sed -n 's/.*done_ns=\([0-9]*\).*/\1/p' "$d/wait.out")
    "$bt" wait-saved --timeout 60 "$d/run/local.d:logtail.save" "$bytes" >"$d/saved.out" &&
      durable_ns=$(sed -n 's/.*done_ns=\([0-9]*\).*/\1/p' "$d/saved.out")
  else
    sed 's/^/    /' "$d/wait.out"
  fi
  c1_c=$(cpu_ticks "$central_pid") c1_l=$(cpu_ticks "$local_pid")
  sleep 0.6  # one more sample with the copy complete
  stop_pid "$sampler"
  stop_pid "$local_pid"; stop_pid "$central_pid"
  if [ "$done_ns" -gt 0 ] && cmp -s "$src" "$copy"; then
    check="byte-identical"
  else
    check="DIFFERENT ($(stat -c %s "$copy" 2>/dev/null || echo 0) of $bytes bytes)"
    failures=$((failures + 1))
  fi
  [ "$done_ns" -gt 0 ] && [ "$durable_ns" -eq 0 ] && { check="$check; last ack NOT saved"; failures=$((failures + 1)); }
  { printf '%s\t%s\n' bytes "$bytes" generate_ns "$gen_ns" restart_s "$(awk -v a="$tc" -v t="$t0" 'BEGIN { printf "%.3f", (a / 1000 - t) / 1e6 }')" \
    first_byte_ns $(( first_ns > 0 ? first_ns - tc : 0 )) \
    catchup_ns $(( done_ns > 0 ? done_ns - tc : 0 )) durable_ns $(( durable_ns > 0 ? durable_ns - tc : 0 )) \
    central_cpu_s "$(ticks_s $((c1_c - c0_c)))" local_cpu_s "$(ticks_s $((c1_l - c0_l)))" \
    local_cpu_down_s "$(ticks_s $((l_down1 - l_down0)))" \
    local_rss_down_max_kb "$(awk -F'\t' '$2 == "backlog" && $6 > m { m = $6 } END { print m + 0 }' "$backlog_samples")" \
    samples "$(grep -vc '^#' "$backlog_samples")" check "$check"
    backlog_rss central 5 "$bytes"; backlog_rss local 6 "$bytes"; cat "$d/cold.tsv"; } >"$backlog_results"
  rm -f "$copy"
  backlog_limit "$d" "$src" "$bytes" >>"$backlog_results"
  say "backlog: $(tr '\t\n' '= ' <"$backlog_results")"
  [ "$keep" -eq 1 ] || rm -rf "$d/src" "$d/dst" "$d/limit"
}

# The pipe over the same backlog file, once ours' copy is gone: socat from
# the source into a fresh file, timed until that file has every byte. At
# this size the copy outgrows what the page cache holds back, so both are
# paced by the disk's writeback; this is the reference for the catch-up
# that the steady row (a 1 GiB file, all in memory) cannot be.
# Also the time until that file is on disk (one fsync at the end), as ours'
# catch-up is: its acks come after fdatasync.
backlog_limit() {  # DIR SOURCE BYTES: prints limit_ns, limit_durable_ns (0: not run)
  local d=$1/limit src=$2 bytes=$3 t0 ns=0 durable=0 p s0
  if [ "${have_socat:-0}" -eq 1 ]; then
    quiesce
    if start_limit_listener "$d" 0; then
      t0=$(now_ns)
      start_limit_sender "$d" 0 "$src"
      if "$bt" wait-size --timeout "$step_timeout" --stall 60 "$lim_copy" "$bytes" >"$d/wait.out"; then
        ns=$(( $(sed -n 's/.*done_ns=\([0-9]*\).*/\1/p' "$d/wait.out") - t0 ))
        s0=$(now_ns); sync "$lim_copy"; durable=$(( ns + $(now_ns) - s0 ))
      fi
      for p in "${lim_pids[@]}"; do stop_pid "$p"; done
      rm -f "$lim_copy"
    fi
  fi
  printf 'limit_ns\t%s\nlimit_durable_ns\t%s\n' "$ns" "$durable"
}

# --- report -----------------------------------------------------------------------
backlog_value() { awk -F'\t' -v k="$1" '$1 == k { print $2 }' "$backlog_results"; }

# "flat" when the RSS of the second half of the catch-up stays within 4 MiB of
# the first half's: memory that grows with the backlog would not.
backlog_flat() {  # SIDE (central|local)
  awk -v a="$(backlog_value "$1_rss_half1_kb")" -v b="$(backlog_value "$1_rss_half2_kb")" \
    'BEGIN { if (a + 0 <= 0 || b + 0 <= 0) print "n/a"; else if (b <= a + 4096) print "flat"; else print "GROWS" }'
}

# MB/s from the central's start until the copy was complete, and its ratio
# to ours' steady throughput (the throughput table's row) of this run.
backlog_mbps() {
  awk -v b="$(backlog_value bytes)" -v n="$(backlog_value catchup_ns)" 'BEGIN { printf "%.1f", (n > 0 ? b * 1e3 / n : 0) }'
}
# MB/s of the pipe over the backlog file: KEY limit_ns (until the copy is
# complete) or limit_durable_ns (then on disk); ours' rate as a ratio to it,
# until complete or until the last ack is saved.
backlog_limit_mbps() {  # [KEY]
  awk -v b="$(backlog_value bytes)" -v n="$(backlog_value "${1:-limit_ns}")" 'BEGIN { if (n + 0 > 0) printf "%.1f", b * 1e3 / n; else print "n/a" }'
}
backlog_durable_mbps() {
  awk -v b="$(backlog_value bytes)" -v n="$(backlog_value durable_ns)" 'BEGIN { if (n + 0 > 0) printf "%.1f", b * 1e3 / n; else print "n/a" }'
}
backlog_limit_ratio() {  # [durable]
  local a b
  if [ "${1:-}" = durable ]; then a=$(backlog_durable_mbps) b=$(backlog_limit_mbps limit_durable_ns)
  else a=$(backlog_mbps) b=$(backlog_limit_mbps); fi
  awk -v a="$a" -v b="$b" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'
}
backlog_catchup_ratio() {
  awk -v a="$(backlog_mbps)" -v b="$(throughput_rows | awk -F'\t' '$1 == "ours" { print $2 }')" \
    'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'
}

# The same ratio for the pipe: its rate over the backlog file against its
# own steady row (limit): how much of the drop the disk alone accounts for.
backlog_limit_own_ratio() {
  awk -v a="$(backlog_limit_mbps)" -v b="$(throughput_rows | awk -F'\t' '$1 == "limit" { print $2 }')" \
    'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'
}

render_backlog() {  # markdown on stdout; the steady figure is ours' row of this run
  [ -s "$backlog_results" ] || return 0
  local bytes ns mbps steady ratio verdict mib='BEGIN { printf "%.1f", k / 1024 }'
  bytes=$(backlog_value bytes) ns=$(backlog_value catchup_ns)
  if [ -z "$bytes" ]; then
    echo "### Backlog catch-up"; echo; echo "$(backlog_value check)"; echo; return 0
  fi
  mbps=$(backlog_mbps)
  steady=$(throughput_rows | awk -F'\t' '$1 == "ours" { print $2 }')
  ratio=$(backlog_catchup_ratio)
  verdict=$(awk -v r="$ratio" 'BEGIN { if (r == "n/a") print "n/a"; else if (r + 0 >= 0.8) print "met"; else print "NOT met" }')
  local per_gb='BEGIN { if (b > 0) printf "%.2f", c / (b / 1e9); else print "n/a" }'
  echo "### Backlog catch-up ($(awk -v b="$bytes" 'BEGIN { printf "%.2f GB", b / 1e9 }') written with the central down, then the central started)"
  echo
  echo "| figure | value |"
  echo "|---|---:|"
  echo "| written while the central was down, s | $(awk -v n="$(backlog_value generate_ns)" 'BEGIN { printf "%.1f", n / 1e9 }') |"
  echo "| catch-up throughput, MB/s (central start to copy complete) | $mbps |"
  echo "| first byte copied, s after the central start (link back up) | $(awk -v n="$(backlog_value first_byte_ns)" 'BEGIN { printf "%.2f", n / 1e9 }') |"
  echo "| catch-up throughput from the first byte, MB/s | $(awk -v b="$bytes" -v n="$ns" -v f="$(backlog_value first_byte_ns)" 'BEGIN { printf "%.1f", (n > f && f > 0 ? b * 1e3 / (n - f) : 0) }') |"
  echo "| ratio to ours' steady throughput of this run (${steady:-not run} MB/s; target >= 0.8) | $ratio ($verdict) |"
  echo "| the pipe (socat) over the same backlog file, MB/s; ours' catch-up as a ratio to it | $(backlog_limit_mbps); $(backlog_limit_ratio) |"
  echo "| the same until on disk (the pipe: its copy fsynced at the end; ours: the last ack saved), MB/s: pipe; ours; ratio | $(backlog_limit_mbps limit_durable_ns); $(backlog_durable_mbps); $(backlog_limit_ratio durable) |"
  echo "| the pipe over the same file before ours' catch-up (fresh pages: see below), MB/s: until complete; until on disk | $(backlog_limit_mbps cold_limit_ns); $(backlog_limit_mbps cold_limit_durable_ns) |"
  echo "| until the last ack is saved, s after the central start | $(awk -v n="$(backlog_value durable_ns)" 'BEGIN { printf "%.1f", n / 1e9 }') |"
  echo "| CPU s per GB during the catch-up: central; local | $(awk -v c="$(backlog_value central_cpu_s)" -v b="$bytes" "$per_gb"); $(awk -v c="$(backlog_value local_cpu_s)" -v b="$bytes" "$per_gb") |"
  echo "| local CPU s while the central was down | $(backlog_value local_cpu_down_s) |"
  local side
  for side in central local; do
    echo "| $side RSS MiB over the catch-up: at its start; max; max of 1st / 2nd half | $(awk -v k="$(backlog_value "${side}_rss_start_kb")" "$mib"); $(awk -v k="$(backlog_value "${side}_rss_max_kb")" "$mib"); $(awk -v k="$(backlog_value "${side}_rss_half1_kb")" "$mib") / $(awk -v k="$(backlog_value "${side}_rss_half2_kb")" "$mib") ($(backlog_flat "$side")) |"
  done
  echo "| local RSS MiB, max while the central was down | $(awk -v k="$(backlog_value local_rss_down_max_kb)" "$mib") |"
  echo "| samples (every 0.5 s) | $(backlog_value samples) |"
  echo "| output | $(backlog_value check) |"
  echo
  echo "RSS is flat when the largest sample of the second half of the catch-up (by bytes copied) is within 4 MiB of the first half's; the curve is in the backlog plot. The pipe runs twice: before ours' catch-up and after it. On this virtual machine writing 10 GB into page-cache pages the host has not backed yet (or took back) is several times slower than into pages just used, so the first of the three pays for the others (bench/PROFILE.md, "Session 9: the backlog and fresh pages"); ours is compared with the pipe after it."
  echo
}

# The report's words on this step and on bench/plot.sh (after its Method).
backlog_method() {
  cat <<'MD'

### Backlog catch-up and the plots

`bash bench/run.sh --only ours,backlog --backlog-bytes 10G` (10G is the
default of a full run; `--smoke` uses 8M). The backlog step
(`bench/backlog.sh`) starts ours' pair on an empty directory, linked, then
stops the central; `cc-loggen` writes the backlog into the watched directory
as fast as it can (the local waits: it asks the central what the copy holds
before it reads), then `sync`, then the central starts again and the copy
catches up. It needs twice the backlog free on disk (it skips itself
otherwise) and deletes source and copy afterwards unless `--keep`. Every
0.5 s (at most `2 x step time limit + 20` rows) it records the source and
copy sizes, both servers' RSS and CPU seconds (`backlog-samples.tsv` in the
run's directory). The table gives the catch-up rate from the central's start
to the complete copy (it includes ZeroMQ's reconnect back-off, up to 0.5 s, so
the rate from the first byte copied is beside it) and its ratio to ours'
steady row of the same run (target at least 0.8), then the same backlog file
sent by the pipe (socat) before ours' catch-up and again after it (once ours'
copy is deleted), and ours' ratio to the second,
also until each copy is on disk (the pipe's fsynced at the end, ours' last
ack saved):
at 10 GB source and copy outgrow what the page cache holds back, so both are
paced by the disk's writeback, unlike the 1 GiB steady row; each side's CPU s per GB
during the catch-up, each side's RSS at the start of the catch-up, its
largest, and the largest of the first and the second half of the bytes
("flat" when the second half is within 4 MiB of the first: memory that grew
with the backlog would not be), and `cmp` of source and copy.

`bench/plot.sh OUTDIR` (gnuplot; Debian's `gnuplot-nox`) draws from a run's
TSV files, as SVG (`--png` for PNG): throughput per system, the latency CDF
per system (steady and trickle side by side, every steady round one line,
from `cc-latency --cdf`: 280 quantiles per case), the backlog catch-up over
time (sizes and both RSS curves, the central's start marked), and CPU s per
GB of one file against the scale step's many files, for the central and the
locals. `bench/run.sh` calls it at the end and puts the SVGs beside the
report (`benchmarks-NAME.svg`); without gnuplot it says so and draws none.
MD
}
