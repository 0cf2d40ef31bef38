# The benchmark's report, sourced by bench/run.sh after the measurements:
# prints the tables and writes $report (markdown) and its plots (SVG, gnuplot,
# bench/plot.sh) beside it.
# Reads $results, $lat_results, $scale_results (TSV written by run.sh) and the
# run's settings ($smoke, $command_line, $big_bytes, $load_start, ...).

# Throughput rows: "name MB/s ratio cpu_s_per_GB rss_MiB check note", with
# the ratio to the limit of the same kind measured in this run: gzip rows to
# limit-gzip, zstd rows to limit-zstd, "-durable" rows (until the copy is on
# disk) to limit-durable,
# the rest to limit (until the copy is complete, in the page cache or not).
throughput_rows() {
  awk -F'\t' '
    { name[NR] = $1; bytes[NR] = $2; ns[NR] = $3; cpu[NR] = $4; rss[NR] = $5
      check[NR] = $6; note[NR] = $7
      mbps[$1] = ($3 > 0) ? $2 * 1e3 / $3 : 0 }
    END {
      for (i = 1; i <= NR; i++) {
        ref = (name[i] ~ /gzip$/) ? "limit-gzip" : (name[i] ~ /zstd$/) ? "limit-zstd" : (name[i] ~ /-durable$/ && name[i] != "limit-durable") ? "limit-durable" : "limit"
        r = (mbps[ref] > 0 && mbps[name[i]] > 0) ? sprintf("%.2f", mbps[name[i]] / mbps[ref]) : "n/a"
        cg = (bytes[i] > 0 && ns[i] > 0) ? sprintf("%.2f", cpu[i] / (bytes[i] / 1e9)) : "n/a"
        printf "%s\t%.1f\t%s\t%s\t%.1f\t%s\t%s\n", name[i], mbps[name[i]], r, cg, rss[i] / 1024, check[i], note[i]
      }
    }' "$results"
}

# key=value fields of a cc-latency line
lat_field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

latency_rows() {  # latency_rows main|rounds: "system case p50 p99 max lines lost p99-vs-limit mbps steal"
  local want=$1 sys case line ref p99 ratio shown
  while IFS=$'\t' read -r sys case line; do
    if [ "$want" = rounds ]; then [[ "$case" == *-r[0-9]* ]] || continue
    else [[ "$case" == *-r[0-9]* ]] && continue; fi
    # The reference: the limit's p99 in the same case (the same round).
    ref=$(awk -F'\t' -v c="$case" '$1 == "limit" && $2 == c { print $3 }' "$lat_results")
    ref=$(lat_field p99_ms "$ref")
    p99=$(lat_field p99_ms "$line")
    ratio=$(awk -v a="$p99" -v b="$ref" 'BEGIN { if (a != "" && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }')
    shown=$case
    if [ -n "$(lat_field rounds "$line")" ]; then
      shown="$case, median of $(lat_field rounds "$line" | cut -d/ -f1) rounds (p99 each: $(lat_field p99_rounds "$line" | sed 's/,/, /g'))"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$sys" "$shown" \
      "$(lat_field p50_ms "$line")" "$p99" "$(lat_field max_ms "$line")" \
      "$(lat_field lines "$line")" "$(lat_field lost "$line")" "$ratio" "$(lat_field achieved_mbps "$line")" \
      "$(lat_field steal_pct "$line")"
  done <"$lat_results"
}

scale_value() { awk -F'\t' -v k="$1" '$1 == k { print $2 }' "$scale_results"; }

machine_description() {
  local model mem disk rot
  model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
  mem=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
  disk=$(findmnt -no SOURCE,FSTYPE -T "$out" 2>/dev/null | head -1)
  local dev; dev=$(basename "$(findmnt -no SOURCE -T "$out" 2>/dev/null | head -1)")
  rot=$(cat "/sys/block/$dev/queue/rotational" 2>/dev/null || echo "?")
  echo "- CPU: $(nproc) cores, ${model:-unknown model}"
  echo "- memory: $mem"
  echo "- kernel: $(uname -r), Debian $(cat /etc/debian_version 2>/dev/null)"
  echo "- disk: $disk (rotational flag: $rot), the work directory $out"
  echo "- load average (1, 5, 15 min) at start: $load_start; at end: $load_end (shared machine; the end includes the bench's own scale step)"
  echo "- tools: $(socat -V 2>/dev/null | sed -n 's/^socat version \([^ ]*\).*/socat \1/p'), $(rsyslogd -v 2>/dev/null | head -1 | awk '{ print $1, $2 }'), $(gzip --version 2>/dev/null | head -1), $("$ccserver" --version 2>/dev/null | head -1)"
  echo "- ccserver: $(git -C "$top" rev-parse --short HEAD 2>/dev/null) ($(git -C "$top" log -1 --format=%cd --date=short 2>/dev/null)), release build in $(basename "$build")"
}

targets_rows() {  # "target value met"
  local rows ours limit gzip lgzip rs
  rows=$(throughput_rows)
  mb() { awk -F'\t' -v n="$1" '$1 == n { print $2 }' <<<"$rows"; }
  col() { awk -F'\t' -v n="$1" -v c="$2" '$1 == n { print $c }' <<<"$rows"; }
  ours=$(mb ours) limit=$(mb limit) gzip=$(mb ours-gzip) lgzip=$(mb limit-gzip) rs=$(mb rsyslog)
  t() { printf '%s\t%s\t%s\n' "$1" "$2" "$3"; }
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'; }
  verdict() { awk -v v="$1" -v op="$2" -v x="$3" 'BEGIN { if (v == "n/a" || v == "") print "n/a"; else if ((op == ">=" && v + 0 >= x) || (op == "<=" && v + 0 <= x) || (op == "<" && v + 0 < x)) print "met"; else print "NOT met" }'; }
  local r
  r=$(ratio "$(mb ours-durable)" "$(mb limit-durable)")
  t "ours >= 0.60 x limit, loopback + disk (ours-durable / limit-durable: both until the copy is on disk)" "$r" "$(verdict "$r" ">=" 0.60)"
  r=$(ratio "$ours" "$limit")
  t "ours beside the limit in the page cache (ours / limit: no fsync in the limit)" "$r" "(reported)"
  r=$(ratio "$ours" "$rs"); t "ours >= 5 x rsyslog" "$r" "$(verdict "$r" ">=" 5)"
  r=$(ratio "$gzip" "$lgzip"); t "ours gzip >= 0.70 x gzip -1 pipe" "$r" "$(verdict "$r" ">=" 0.70)"
  local p99
  p99=$(awk -F'\t' '$1 == "ours" && $2 == "steady" { print $3 }' "$lat_results")
  p99=$(lat_field p99_ms "$p99")
  t "p99 latency at ${latency_rate} MB/s < 5 ms" "${p99:-n/a} ms" "$(verdict "${p99:-n/a}" "<" 5)"
  r=$(col ours 4); t "CPU <= 2.5 s per GB (uncompressed)" "${r:-n/a} s/GB" "$(verdict "$r" "<=" 2.5)"
  # With gzip on the wire the compression itself costs more than the target
  # (gzip -1 alone: 30-35 s per GB here), so that row compares ours with the
  # gzip -1 pipe's own CPU instead: at most 1.0 x, i.e. no more than the pipe.
  r=$(col ours-gzip 4)
  local pr; pr=$(ratio "$r" "$(col limit-gzip 4)")
  t "CPU with gzip on the wire: ${r:-n/a} s per GB; at most the gzip -1 pipe's own $(col limit-gzip 4) s per GB (ratio)" \
    "$pr" "$(verdict "$pr" "<=" 1.0)"
  local rss_max kib_to_mib='BEGIN { if (k != "") printf "%.1f", k / 1024 }'
  r=$(ratio "$(mb ours-caf)" "$ours"); t "caf:// throughput beside tcp:// (ratio ours-caf / ours)" "$r" "(reported)"
  rss_max=$(printf '%s\n' "$(col ours 5)" "$(col ours-gzip 5)" "$(col ours-caf 5)" \
              "$(awk -v k="$(scale_value central_rss_kb)" "$kib_to_mib")" \
              "$(awk -v k="$(scale_value local_rss_max_kb)" "$kib_to_mib")" |
            awk 'NF && $1 + 0 > 0 { if ($1 + 0 > m) m = $1 + 0; seen = 1 } END { if (seen) printf "%.1f", m; else print "n/a" }')
  t "every server < 64 MiB RSS (largest seen)" "${rss_max} MiB" "$(verdict "$rss_max" "<" 64)"
}

# Every pair of the uncompressed limit and ours (the throughput table's and
# --pairs' more): "round limit_mbps limit_cpu ours_mbps ratio ours_cpu
# central local cpu_ratio", then a line "median" of each column.
pair_rows() {
  cat "$results" "$pair_results" 2>/dev/null | awk -F'\t' '
    function per_gb(c, b) { return b > 0 ? c / (b / 1e9) : 0 }
    # the note says "... CPU s/GB central C, local L; ..."
    function side(note, which,   m) {
      if (!match(note, "CPU s/GB central [0-9.]+, local [0-9.]+")) return -1
      m = substr(note, RSTART + 17, RLENGTH - 17); split(m, p, ", local ")
      return which == "central" ? p[1] + 0 : p[2] + 0
    }
    function median(v, n,   i, j, t) {
      for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
      return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }
    $1 ~ /^limit(-r[0-9]+)?$/ && $3 > 0 { r = ($1 ~ /-r/) ? substr($1, index($1, "-r") + 2) : 1
      lm[r] = $2 * 1e3 / $3; lc[r] = per_gb($4, $2); seen[r] = 1 }
    $1 ~ /^ours(-r[0-9]+)?$/ && $3 > 0 { r = ($1 ~ /-r/) ? substr($1, index($1, "-r") + 2) : 1
      om[r] = $2 * 1e3 / $3; oc[r] = per_gb($4, $2); cc[r] = side($7, "central"); lo[r] = side($7, "local"); seen[r] = 1 }
    END {
      n = 0
      for (r = 1; r <= 99; r++) {
        if (!(r in lm) || !(r in om)) continue
        n++
        a[n] = lm[r]; b[n] = lc[r]; c[n] = om[r]; d[n] = om[r] / lm[r]; e[n] = oc[r]; f[n] = cc[r]; g[n] = lo[r]; h[n] = (lc[r] > 0 ? oc[r] / lc[r] : 0)
        printf "%d\t%.1f\t%.2f\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\n", r, a[n], b[n], c[n], d[n], e[n], f[n], g[n], h[n]
      }
      if (n > 0)
        printf "median of %d\t%.1f\t%.2f\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\n", n, median(a, n), median(b, n), median(c, n),
          median(d, n), median(e, n), median(f, n), median(g, n), median(h, n)
    }'
}

# The bare transfers' CPU per GB (run.sh throughput_bare), median over the
# rounds: "splice durable rounds sender transfers" (s/GB; the sender's is
# the median over both kinds' transfers), empty when they did not run.
bare_medians() {
  cat "$results" "$pair_results" 2>/dev/null | awk -F'\t' '
    function median(v, n,   i, j, t) {
      for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
      return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }
    $3 > 0 && $2 > 0 && $1 ~ /^sendfile-splice(-r[0-9]+)?$/ { s[++ns] = $4 / ($2 / 1e9) }
    $3 > 0 && $2 > 0 && $1 ~ /^sendfile-durable(-r[0-9]+)?$/ { d[++nd] = $4 / ($2 / 1e9) }
    # the note says "... CPU s/GB receiver R, sender S"
    $3 > 0 && $1 ~ /^sendfile-(splice|durable)(-r[0-9]+)?$/ && match($7, "sender [0-9.]+") { t[++nt] = substr($7, RSTART + 7, RLENGTH - 7) + 0 }
    END { if (ns > 0 && nd > 0) printf "%.2f %.2f %d %s %d\n", median(s, ns), median(d, nd), ns, (nt > 0 ? sprintf("%.2f", median(t, nt)) : "n/a"), nt }'
}

# Issue 20's targets, each "target value verdict" (judged on the medians of
# the pairs and of the latency rounds where the issue asks for medians).
targets20_rows() {
  local med rows t r p99s worst
  med=$(pair_rows | awk -F'\t' '$1 ~ /^median/')
  rows=$(throughput_rows)
  t() { printf '%s\t%s\t%s\n' "$1" "$2" "$3"; }
  v() { awk -v v="$1" -v op="$2" -v x="$3" 'BEGIN { if (v == "n/a" || v == "") print "n/a"; else if ((op == ">=" && v + 0 >= x) || (op == "<=" && v + 0 <= x)) print "met"; else print "NOT met" }'; }
  f() { awk -F'\t' -v c="$1" '{ print $c }' <<<"$med"; }
  t "CPU per GB, ours (local + central) / the pipe's, median of $(f 1 | sed 's/median of //') pairs (<= 0.5)" "$(f 9) ($(f 6) against $(f 3) s/GB)" "$(v "$(f 9)" "<=" 0.5)"
  # The bare transfers' medians (s/GB), read once: empty when they did not run.
  local splice durable bare_rounds sender senders
  read -r splice durable bare_rounds sender senders <<<"$(bare_medians)"
  if [ -n "$splice" ]; then
    t "the floors of that ratio on this host, median of $bare_rounds rounds: sendfile -> splice (no byte in user space); sendfile -> recv, XXH3, pwrite, fdatasync per 32 MiB (ours' duties alone)" \
      "$(ratio_of "$splice" "$(f 3)") ($splice s/GB); $(ratio_of "$durable" "$(f 3)") ($durable s/GB); ours / the second $(ratio_of "$(f 6)" "$durable")" "(reported)"
  fi
  t "CPU per GB, the local alone, median (<= 0.3 s/GB)" "$(f 8) s/GB (central $(f 7))" "$(v "$(f 8)" "<=" 0.3)"
  if [ -n "$splice" ]; then
    t "the local's floor on this host: the bare sender (sendfile into loopback TCP, cc-benchtool bare-send), CPU per GB, median of $senders transfers" "$sender s/GB" "(reported)"
  fi
  t "throughput until the copy is complete, ours / the 1 MiB pipe, median (>= 1.2)" "$(f 5) ($(f 4) against $(f 2) MB/s)" "$(v "$(f 5)" ">=" 1.2)"
  # Throughput is at most CPUs / CPU per GB: the CPU per GB at which 1.2 x
  # the pipe would keep every CPU of this host busy is the most a shipper
  # may spend to reach that target at all.
  local cpus; cpus=$(nproc 2>/dev/null || echo 0)
  r=$(awk -v n="$cpus" -v m="$(f 2)" 'BEGIN { if (n > 0 && m + 0 > 0) printf "%.2f", n / (1.2 * m / 1e3); else print "n/a" }')
  local floors="" floors_named=""
  [ -n "$splice" ] && floors="; $splice; $durable" floors_named="; the floors' medians (no byte in user space; ours' duties alone)"
  t "the most CPU per GB a shipper may spend to reach 1.2 x the pipe's median here, with all $cpus CPUs busy ($cpus / (1.2 x its GB/s)); ours' median$floors_named" \
    "$r s/GB; ours $(f 6)$floors" "(reported)"
  r=$(awk -F'\t' '$1 == "ours-durable" { print $3 }' <<<"$rows")
  t "the durable row: ours-durable / limit-durable (at least as good as before; 1.03 on 2026-11-27)" "${r:-n/a}" "(reported)"
  r=$(latency_rows main | awk -F'\t' '$1 == "ours" && $2 ~ /^steady/ { print $8 }')
  t "p99 at ${latency_rate} MB/s / the pipe's, median of the rounds (<= 1.0)" "${r:-n/a}" "$(v "${r:-n/a}" "<=" 1.0)"
  p99s=$(latency_rows rounds | awk -F'\t' '$1 == "ours" && $2 ~ /^steady/ { printf "%s%s", sep, $8; sep = ", " }')
  worst=$(latency_rows rounds | awk -F'\t' '$1 == "ours" && $2 ~ /^steady/ && $8 != "n/a" { if ($8 + 0 > m) m = $8 + 0; seen = 1 } END { if (seen) printf "%.2f", m; else print "n/a" }')
  t "p99 at ${latency_rate} MB/s / the pipe's, every round (<= 1.2)" "${p99s:-n/a}" "$(v "$worst" "<=" 1.2)"
  r=$(latency_trickle_p50_ratio)
  t "trickle (${trickle_rate} lines/s) p50 / the pipe's, medians of the rounds (<= 1.0)" "$r$(latency_trickle_rounds)" "$(v "$r" "<=" 1.0)"
  r=$(latency_trickle_p50_ratio duties)
  if [ "$r" != n/a ]; then
    t "the floor of that ratio on this host: ours' per-line system calls alone (duties) / the pipe's, medians of the rounds; ours / duties" \
      "$r$(latency_trickle_rounds duties); ours $(latency_trickle_p50_ratio ours duties)" "(reported)"
  fi
  if [ -s "$scale_results" ]; then
    r=$(scale_value check)
    t "scale: every copy byte-identical ($(scale_value files) files, $(scale_value hosts) hosts)" "$r" "$(case $r in *identical*) [[ $r == *DIFF* ]] && echo "NOT met" || echo met ;; *) echo "NOT met" ;; esac)"
    r=$(awk -v c="$(scale_value central_cpu_s)" -v b="$(scale_value bytes)" -v s="$(scale_value single_central_cpu_s_per_gb)" 'BEGIN { if (b > 0 && s + 0 > 0) printf "%.2f", c / (b / 1e9) / s; else print "n/a" }')
    t "scale: central CPU per GB / its single-file figure (<= 3)" "$r" "$(v "$r" "<=" 3)"
    t "scale floor: a bare receiver of the same files, CPU per GB / its own single-file figure" "$(bare_many_over "$(scale_value floor_single_s_per_gb)")" "(reported)"
    t "scale floor in the target's own terms: that bare receiver's CPU per GB / ours' single-file figure (a receiver that does only ours' per-file duties, measured with the target's ratio)" \
      "$(bare_many_over "$(scale_value single_central_cpu_s_per_gb)")" "(reported)"
    r=$(awk -v c="$(scale_value central_cpu_s)" -v b="$(scale_value bytes)" -v e="$(scale_value floor_each_s_per_gb)" -v f="$(scale_value floor_fs_s_per_gb)" \
      'BEGIN { if (b > 0 && e + 0 > 0 && f + 0 > 0) printf "%.2f x the one with an fdatasync per file; %.2f x the one with one syncfs", c / (b / 1e9) / e, c / (b / 1e9) / f; else print "n/a" }')
    t "scale: central CPU per GB / the bare receiver's of the same files in the same run (steadier than the ratio to the single file: both move with the host's file-system state)" "$r" "(reported)"
    r=$(awk -v k="$(scale_value central_rss_kb)" 'BEGIN { if (k + 0 > 0) printf "%.1f", k / 1024; else print "n/a" }')
    t "scale: central peak RSS (<= 64 MiB)" "$r MiB" "$(v "$r" "<=" 64)"
    r=$(scale_value central_fds_max)
    t "scale: central descriptors bounded by max-open-files ($(scale_value max_open_files); met at most that plus $scale_fd_slack for sockets, logs and state)" \
      "${r:-n/a} max" "$(v "$(awk -v f="$r" -v m="$(scale_value max_open_files | awk '{ print $1 }')" -v s="$scale_fd_slack" 'BEGIN { if (f == "" || m + 0 <= 0) print "n/a"; else print f - m - s }')" "<=" 0)"
  fi
  if [ -s "${backlog_results:-}" ] && [ -n "$(backlog_value catchup_ns)" ]; then
    r=$(backlog_catchup_ratio)
    t "backlog of $(awk -v b="$(backlog_value bytes)" 'BEGIN { printf "%.1f GB", b / 1e9 }'): catch-up / steady (>= 0.8); the pipe's own over the same file / its steady row" "$r; the pipe $(backlog_limit_own_ratio)" "$(v "$r" ">=" 0.8)"
    t "backlog floor in the target's own terms: the pipe over the same backlog file / ours' steady figure" "$(ratio_of "$(backlog_limit_mbps)" "$(throughput_rows | awk -F'\t' '$1 == "ours" { print $2 }')")" "(reported)"
    t "backlog: catch-up / the pipe over the same backlog file (both paced by the disk at this size): until complete; until on disk" "$(backlog_limit_ratio) ($(backlog_mbps) against $(backlog_limit_mbps) MB/s); $(backlog_limit_ratio durable) ($(backlog_durable_mbps) against $(backlog_limit_mbps limit_durable_ns))" "(reported)"
    r="central $(backlog_flat central), local $(backlog_flat local)"
    t "backlog: RSS flat on both sides" "$r" "$([[ $r == *GROWS* || $r == *n/a* ]] && echo "NOT met" || echo met)"
  fi
  r=$(ratio_of "$(awk -F'\t' '$1 == "ours-gzip" { print $2 }' <<<"$rows")" "$(awk -F'\t' '$1 == "limit-gzip" { print $2 }' <<<"$rows")")
  t "gzip on the wire: ours-gzip / the gzip -1 pipe (>= 1.15)" "$r" "$(v "$r" ">=" 1.15)"
  r=$(awk -F'\t' '$1 == "ours-zstd" { printf "%s MB/s, %s x the zstd -1 pipe, %s CPU s/GB", $2, $3, $4 }' <<<"$rows")
  t "zstd on the wire, beside gzip" "${r:-not run}" "(reported)"
}
scale_fd_slack=64
ratio_of() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'; }
# The scale step's bare receiver of the many files (an fdatasync per file;
# one syncfs), its CPU per GB over a single-file figure (s/GB).
bare_many_over() {  # SINGLE_S_PER_GB
  awk -v e="$(scale_value floor_each_s_per_gb)" -v f="$(scale_value floor_fs_s_per_gb)" -v s="$1" \
    'BEGIN { if (s + 0 > 0 && e + 0 > 0 && f + 0 > 0) printf "%.2f with an fdatasync per file; %.2f with one syncfs", e / s, f / s; else print "n/a" }'
}
# Each round's trickle p50 ratio (SYSTEM, default ours, / the pipe's in the
# same round), as " (each round: a, b, c)" after the verdict's figure; empty
# without rounds.
latency_trickle_rounds() {  # [SYSTEM]
  local list
  list=$(awk -F'\t' -v s="${1:-ours}" '
    function field(line, k) { return match(line, " " k "=[^ ]*") ? substr(line, RSTART + length(k) + 2, RLENGTH - length(k) - 2) : "" }
    $2 ~ /^trickle-r[0-9]+$/ && ($1 == s || $1 == "limit") { p[$1, $2] = field($3, "p50_ms"); if (!($2 in seen)) { seen[$2] = 1; order[++n] = $2 } }
    END { for (i = 1; i <= n; i++) { o = p[s, order[i]]; l = p["limit", order[i]]
            printf "%s%s", (i > 1 ? ", " : ""), (o + 0 > 0 && l + 0 > 0) ? sprintf("%.2f", o / l) : "n/a" } }' "$lat_results")
  [ -n "$list" ] && printf ' (each round: %s)' "$list"
}
# The median trickle p50 of SYSTEM (default ours) / REFERENCE's (default the
# pipe's).
latency_trickle_p50_ratio() {  # [SYSTEM [REFERENCE]]
  local o l
  o=$(awk -F'\t' -v s="${1:-ours}" '$1 == s && $2 == "trickle" { print $3 }' "$lat_results")
  l=$(awk -F'\t' -v s="${2:-limit}" '$1 == s && $2 == "trickle" { print $3 }' "$lat_results")
  ratio_of "$(lat_field p50_ms "$o")" "$(lat_field p50_ms "$l")"
}

render_pairs() {
  [ -n "$(pair_rows)" ] || return 0
  echo "### Pairs: the uncompressed limit and ours, back to back (--pairs)"
  echo
  echo "| round | limit MB/s | limit CPU s/GB | ours MB/s | ours / limit | ours CPU s/GB | central | local | ours CPU / limit's |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  pair_rows | awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9 }'
  echo
}

render_tables() {  # markdown tables on stdout
  echo "### Throughput ($(awk -v b="$big_bytes" 'BEGIN { printf "%.0f MiB", b / 1048576 }') file)"
  echo
  echo "| system | MB/s | ratio to limit | CPU s per GB | peak RSS MiB | output | notes |"
  echo "|---|---:|---:|---:|---:|---|---|"
  throughput_rows | awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7 }'
  echo
  echo "Ratios compare like with like: gzip rows to limit-gzip, \`-durable\` rows (time until the copy is on disk) to limit-durable, the others (time until the copy is complete) to limit."
  echo
  if [ -s "$lat_results" ]; then
    echo "### Append-to-visible latency (${latency_seconds} s per case; steady ${latency_rate} MB/s, trickle ${trickle_rate} lines/s)"
    echo
    echo "| system | case | p50 ms | p99 ms | max ms | lines | unseen after 20 s | p99 ratio to limit | writer MB/s | host steal % |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    latency_rows main | awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 }'
    echo
    if [ -n "$(latency_rows rounds)" ]; then
      echo "Both cases ran in rounds, each round every system once in turn; the rows above are each system's medians (p50, p99, steal and writer MB/s; max is the largest, lines are summed): the p99 target is judged on ours' median steady p99, the trickle target on ours' median trickle p50 against the pipe's. Every round:"
      echo
      echo "| system | round | p50 ms | p99 ms | max ms | lines | unseen after 20 s | p99 ratio to limit (same round) | writer MB/s | host steal % |"
      echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
      latency_rows rounds | awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 }'
      echo
    fi
    echo "Host steal: time a vCPU of this virtual machine was ready to run and the hypervisor ran something else (\`/proc/stat\`), as a share of all CPUs' time. Stretches of it stall whatever runs on that vCPU (the 5-30 ms spikes). Ours, with more hand-offs between threads on the path of a line than the limit's three processes, is hit more often, and its own wake-ups add to it: every wake of an idle vCPU waits for the host, so steal during ours runs above the limit's in the same round. It does not come from ours' fdatasync calls: with them made no-ops (LD_PRELOAD) ours' p99 and steal were the same (bench/PROFILE.md, session 5)."
    echo
  fi
  if [ -s "$scale_results" ]; then
    local ns bytes mbps lim
    ns=$(scale_value ns) bytes=$(scale_value bytes)
    mbps=$(awk -v b="$bytes" -v n="$ns" 'BEGIN { printf "%.1f", (n > 0 ? b * 1e3 / n : 0) }')
    lim=$(throughput_rows | awk -F'\t' '$1 == "limit" { print $2 }')
    echo "### Scale ($(scale_value files) files across $(scale_value hosts) simulated hosts in $(scale_value locals) local ccservers (each runs several hosts' tailers, each tailer with its host's \`hostname\`), one central)"
    echo
    echo "| figure | value |"
    echo "|---|---:|"
    echo "| bytes shipped | $bytes |"
    echo "| total throughput, MB/s | $mbps |"
    echo "| ratio to the single-file limit | $(awk -v a="$mbps" -v b="$lim" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else print "n/a" }') |"
    echo "| CPU s per GB (all $(( $(scale_value hosts) + 1 )) servers) | $(awk -v c="$(scale_value cpu_s)" -v b="$bytes" 'BEGIN { if (b > 0) printf "%.2f", c / (b / 1e9); else print "n/a" }') |"
    echo "| writer: seconds to append everything (cc-benchtool fanout) | $(awk -v n="$(scale_value writer_ns)" 'BEGIN { printf "%.1f", n / 1e9 }') |"
    echo "| CPU s per GB, central alone | $(awk -v c="$(scale_value central_cpu_s)" -v b="$bytes" 'BEGIN { if (b > 0) printf "%.2f", c / (b / 1e9); else print "n/a" }') |"
    echo "| CPU s per GB, central alone, as a ratio to its single-file figure ($(scale_value single_central_cpu_s_per_gb), \`ours\` above; target <= 3) | $(awk -v c="$(scale_value central_cpu_s)" -v b="$bytes" -v s="$(scale_value single_central_cpu_s_per_gb)" 'BEGIN { if (b > 0 && s + 0 > 0) printf "%.2f", c / (b / 1e9) / s; else print "n/a" }') |"
    echo "| floor: a bare receiver of the same files over one connection (create, receive, XXH3, pwrite, close; cc-benchtool bare-recv --mode many), CPU s per GB with an fdatasync per file; with one syncfs at the end; the bare durable receiver of the single file | $(scale_value floor_each_s_per_gb); $(scale_value floor_fs_s_per_gb); $(scale_value floor_single_s_per_gb) |"
    echo "| tailer resends (\"no ack ... resending\" log lines, all locals) | $(scale_value resends) |"
    echo "| tailers that fell back to polling (no inotify) | $(scale_value polling_tailers) |"
    echo "| central: open descriptors (max sampled; at end; bound: max-open-files $(scale_value max_open_files) descriptors) | $(scale_value central_fds_max); $(scale_value central_fds_end) |"
    echo "| local: open descriptors (max sampled over all) | $(scale_value local_fds_max) |"
    echo "| central: peak RSS MiB | $(awk -v k="$(scale_value central_rss_kb)" 'BEGIN { printf "%.1f", k / 1024 }') |"
    echo "| local: peak RSS MiB (largest; median) | $(awk -v a="$(scale_value local_rss_max_kb)" -v b="$(scale_value local_rss_median_kb)" 'BEGIN { printf "%.1f; %.1f", a / 1024, b / 1024 }') |"
    echo "| output | $(scale_value check) |"
    echo
  fi
  render_backlog
  render_pairs
  echo "### Targets of issue 20 (this run)"
  echo
  echo "| target | this run | |"
  echo "|---|---|---|"
  targets20_rows | awk -F'\t' '{ printf "| %s | %s | %s |\n", $1, $2, $3 }'
  echo
  echo "### Targets of issue 8 (ratios from this run)"
  echo
  echo "| target | this run | |"
  echo "|---|---:|---|"
  targets_rows | awk -F'\t' '{ printf "| %s | %s | %s |\n", $1, $2, $3 }'
  echo
}

# The plots are bench/plot.sh's (SVG, in $out); the report's copies go beside
# it as FILE-NAME.svg.
render_plot() {
  [ "$have_gnuplot" -eq 1 ] || { echo "(gnuplot not installed: no plots; Debian: gnuplot-nox)"; return; }
  bash "$top/bench/plot.sh" "$out" >"$out/logs/plot.out" 2>&1 || echo "(bench/plot.sh failed: see $out/logs/plot.out)"
  local f
  for f in "$out"/plot-*.svg; do [ -s "$f" ] && cp "$f" "${report%.md}-${f##*/plot-}"; done
}

write_report() {
  local tables
  tables=$(render_tables)
  printf '\n%s\n' "$tables"
  render_plot
  {
    echo "# Benchmarks"
    echo
    if [ "$smoke" -eq 1 ]; then
      echo "**Smoke form (\`--smoke\`): a tiny file, correctness only. The figures below"
      echo "are not measurements and must not be quoted.**"
      echo
    fi
    cat <<'MD'
How fast and how lean `ccserver` ships a growing log file, measured side by side
in one run against the limit of the machine and against rsyslog, all on
127.0.0.1. Produced by `bash bench/run.sh` (see "Method" below); every figure
comes from the run recorded here, and every ratio compares figures of that same
run, because the machine is shared and noisy.

MD
    echo "## Command"
    echo
    echo '```sh'
    echo "$command_line"
    echo '```'
    echo
    echo "Run on $(date -u '+%Y-%m-%d %H:%M UTC'); outputs kept under \`$out\`."
    echo
    echo "## Machine"
    echo
    machine_description
    echo
    echo "## Results"
    echo
    echo "$tables"
    echo
    local name alt
    for name in throughput latency-cdf backlog scale-cpu; do
      [ -s "${report%.md}-$name.svg" ] || continue
      case $name in
        throughput) alt="throughput per system" ;; latency-cdf) alt="latency CDF per system" ;;
        backlog) alt="backlog catch-up over time" ;; *) alt="CPU per GB, one file and many" ;;
      esac
      echo "![$alt]($(basename "${report%.md}")-$name.svg)"
      echo
    done
    # The history of measured changes, kept or not (bench/PROFILE.md, the
    # only place for it: this report replaces docs/benchmarks.md whole), and
    # the profile and its suggestions (written from
    # bench/profile.sh runs) follow the tables they explain.
    if [ "$smoke" -eq 0 ] && [ -s "$top/bench/PROFILE.md" ]; then
      cat "$top/bench/PROFILE.md"
      echo
    fi
    cat <<'MD'
## Method

- **Data.** `cc-loggen` writes a PostgreSQL-style log of 100-400 byte lines
  (deterministic seed), kept under `bench/data/` between runs, and a many-files
  set for the scale step. Each system ships the same file; it is read into the
  page cache (`cat` to /dev/null) before each throughput step, so it sits there
  for all of them.
- **Time.** From the moment the source file is handed to the shipper (linked
  into the watched directory, or socat started) until the copy has reached the
  source's size, polled every 2 ms with `stat`. The copy is checked afterwards
  (`cmp` for byte-identical; for rsyslog an order-free multiset hash of the
  lines, `cc-benchtool linesum`); the check is not part of the time. MB/s
  means 10^6 bytes per second.
- **The limit.** `socat -b1048576` reads the file into TCP on 127.0.0.1, a
  `socat -b1048576` listener writes it to a file; the gzip variant puts
  `gzip -1` and `gunzip` in the pipe. No fsync anywhere in the limit; ours
  fdatasyncs the copy (grouped, every `sync-interval`) before acknowledging.
  With this much RAM the limit's 1 GiB copy stays in the page cache, so the
  limit measures memory copies and moves with what else the host does
  (300-2100 MB/s across runs on one day). `limit-durable` is the same run
  plus one fsync of its copy at the end: the time until that copy is on
  disk. `ours-durable` is the same run as `ours`, timed until the local's
  position file (written only from acknowledgements, which the central sends
  after fdatasync) says every byte is acknowledged. The issue defines the
  limit as "loopback + disk"; the pair of durable rows is that comparison on
  a machine whose page cache holds the whole file, and the speed target is
  judged on it. The plain `ours / limit` ratio is reported beside it.
- **CPU with gzip on the wire.** `gzip -1` alone costs 30-35 core-seconds
  per GB on this CPU, more than ten times the 2.5 s per GB target, so no
  shipper that compresses can meet that figure here. The target is judged on
  the uncompressed run; the gzip row is judged against the `gzip -1` pipe's
  own CPU in the same run (ours at most 1.0 x it).
- **Pairs.** The uncompressed limit and ours run `--pairs` times back to
  back (3 by default); the throughput table shows the first pair, the Pairs
  table each one, and issue 20's CPU and throughput targets are judged on
  the pairs' medians (the noise of a shared host is large).
- **Floors in the targets' own terms.** Beside each target that a floor
  measured in the same run bounds, the issue 20 table gives that floor with
  the target's own ratio: the bare transfers' CPU against the pipe's (no
  shipper over loopback TCP spends less than sendfile into splice); the bare
  sender's CPU for the local alone; the most CPU per GB a shipper may spend
  for 1.2 x the pipe at all (throughput is at most the host's CPUs over the
  CPU per GB); a bare receiver of the scale step's files against ours'
  single-file figure; the pipe over the backlog file against ours' steady
  row. Where the floor is past the target, no design meets it on this host.
- **Quiet start.** Each measured step (throughput, every latency case, scale)
  starts with `sync`, so no system pays for the writeback of the step
  before it.
- **Link up.** Ours' local server is started once the central is up, and the
  step waits until the local logged its link (`connected to`): the
  measurement starts with the servers linked, as the peers' are.
- **Ours.** A central `ccserver` (tailwriter, `host-subdirs = yes`) and a
  local one (jobmgr + tailer, proxy to the central), release build, default
  settings except the tailer's `hostname` and, for the gzip row,
  `compression = gzip`, `compression-level = 1`. The servers start on an empty
  directory; the prepared file is then hard-linked in, so the tailer sees a new
  file and ships it from offset 0 with acknowledged delivery on.
- **rsyslog.** Debian's rsyslogd, two instances started by hand, each with its
  own config, pid file and work directory, `-n`, no system config: `imfile`
  (inotify mode) -> `omfwd` TCP (RFC 5424 template, octet-counted framing) ->
  `imtcp` -> `omfile` with the template `%msg%\n`; control characters are not
  escaped on receipt. Throughput settings: batches of 2048 on the main queues
  and on omfwd's own LinkedList queue, a 1 MiB omfile buffer (flushed at the
  end of each batch); these took about half the time of the defaults here.
  Every run first ships a probe file (leading spaces, tabs, a `<13>` prefix,
  trailing spaces, UTF-8) through a fresh pair and compares it byte for byte:
  with the traditional RFC 3164 forwarding format `%msg%` would gain a leading
  space. rsyslog drops empty lines (seen by hand; the generated log has none).
- **CPU s per GB.** utime + stime of every process involved (both servers;
  both rsyslogd; every socat/gzip/gunzip), from `/proc/PID/stat` before and
  after, or from `wait4` rusage for the short-lived limit processes, divided
  by the gigabytes shipped (10^9 bytes).
- **Peak RSS.** VmHWM of each long-running process at the end of its step
  (ru_maxrss for the limit's processes); the table shows the largest process,
  the notes each one.
- **Latency.** `cc-latency` appends lines carrying their sequence number and
  CLOCK_MONOTONIC write time, every millisecond at a steady rate or one line at
  a time at a trickle, and follows the copy (inotify + read) in the same
  process; per line it records append -> readable in the copy. Its buffers
  are touched and the copy opened (or its directory watched) before the first
  line, so its own start-up is not in the figures (until session 26 its page
  faults put a 4-14 ms mean on every system's first 100 ms, about 1 % of a
  steady run's lines). `floor` is the
  tool following its own source file (the resolution of the measurement);
  `limit` is `tail -F` (inotify) piped into the socat pair. In the trickle
  case `duties` is the floor ours' own system calls set: `cc-benchtool
  trickle-send` into `trickle-recv` make per line exactly the local's inotify
  `read`, `fstat`, 4 KiB head `pread` with its XXH3, data `pread` and
  `sendmsg`, and the central's `read`, `fstat` of the copy and `pwrite`, and
  nothing else (no acknowledgement, journal or message format). Both cases
  run in rounds (`--latency-rounds`, 3 by default), each round floor, limit, ours,
  rsyslog and (trickle) duties once in turn, and the verdicts take ours' median steady p99 and the
  ratio of the median trickle p50s (ours / the pipe's): the host's steal and
  its slow wake-ups of halted vCPUs come in phases of minutes, and one round
  in such a phase would otherwise decide the figure alone (every round is in
  the second table).
- **Scale.** 100 simulated hosts x 100 files (10,000) in 10 local ccserver
  processes (`--scale-locals`; 100 processes do not fit a 2-core machine):
  each local runs the tailers of 10 hosts, every tailer section with its
  host's `hostname`, so the central sees 100 hosts; one tailer per database
  directory; all into one central. Each local has one inotify instance for its
  1,000 tailers. One `cc-benchtool fanout` per local grows its files at once,
  round-robin in 16 KiB steps of whole lines, as fast as it can; the time runs
  from the first write until every copy is complete. Descriptors
  (`/proc/PID/fd`) and RSS are sampled once a second.
- **Bounds.** Every step has a time limit; every process is started and ended
  by PID (TERM, then KILL), also on failure. No figure is asserted: the test
  suite runs `bench/run.sh --smoke` for correctness only.
MD
    backlog_method
  } >"$report"
}
