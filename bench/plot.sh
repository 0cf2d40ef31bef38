#!/usr/bin/env bash
# The benchmark's plots (issue 20), drawn with gnuplot from the TSV files one
# run of bench/run.sh leaves in its output directory; run.sh calls it at the
# end, and it can be run again on a kept directory:
#
#   bash bench/plot.sh [--png] OUTDIR
#
# Writes, each only when its data is there (SVG, or PNG with --png):
#   OUTDIR/plot-throughput.svg  MB/s per system (results.tsv; scale.tsv adds
#                               the many-files row)
#   OUTDIR/plot-latency-cdf.svg append-to-visible latency CDF per system, steady
#                               and trickle side by side, every round drawn
#                               (lat-SYSTEM-CASE.cdf, from cc-latency --cdf)
#   OUTDIR/plot-backlog.svg     backlog catch-up over time: source and copy
#                               size, both servers' RSS (backlog-samples.tsv)
#   OUTDIR/plot-scale-cpu.svg   CPU s per GB, one file against many files,
#                               central and locals (results.tsv, scale.tsv)
# Their data files (plot-*.dat) stay beside them. Exit status 0 when every
# plot with data was drawn, 1 when gnuplot failed, 2 on usage or no gnuplot.
set -uo pipefail

format=svg
[ "${1:-}" = --png ] && { format=png; shift; }
dir=${1:-}
[ -n "$dir" ] && [ -d "$dir" ] || { echo "usage: bash bench/plot.sh [--png] OUTDIR" >&2; exit 2; }
command -v gnuplot >/dev/null || { echo "plot.sh: gnuplot is not installed (Debian: gnuplot-nox)" >&2; exit 2; }

# Small files for docs/: SVG with a generic font; PNG through cairo when the
# build has it.
if [ "$format" = svg ]; then
  term="svg size 760,420 font 'sans,12' background '#ffffff'"
else
  term="pngcairo size 760,420 font 'DejaVu Sans,10'"
  gnuplot -e "set terminal $term" -e exit >/dev/null 2>&1 || term="png size 760,420"
fi
status=0
draw() {  # draw NAME: the script on stdin, after the terminal and output lines
  { echo "set terminal $term"; echo "set output '$dir/plot-$1.$format'"; cat; } |
    gnuplot 2>"$dir/plot-$1.err" || { echo "plot.sh: $1 failed: $(head -3 "$dir/plot-$1.err")" >&2; status=1; return; }
  [ -s "$dir/plot-$1.err" ] || rm -f "$dir/plot-$1.err"
  echo "plot.sh: $dir/plot-$1.$format"
}
tsv_value() { awk -F'\t' -v k="$2" '$1 == k { print $2 }' "$1" 2>/dev/null; }

# A bar per row of a "label value" file, each bar labelled with its value.
bars() {  # bars NAME DAT TITLE YLABEL FORMAT
  draw "$1" <<GP
set title "$3"
set ylabel "$4"
set style fill solid 0.8 border -1
set boxwidth 0.6
set yrange [0:*]
set grid ytics
set xtics rotate by -25 nomirror
unset key
plot "$2" using 0:2:xtic(1) with boxes lc rgb "#4477aa", \
     "" using 0:2:(sprintf("$5", \$2)) with labels offset 0,0.7
GP
}

throughput_plot() {
  local res="$dir/results.tsv" dat="$dir/plot-throughput.dat"
  [ -s "$res" ] || return 0
  awk -F'\t' '$3 > 0 { printf "\"%s\" %.1f\n", $1, $2 * 1e3 / $3 }' "$res" >"$dat"
  local b n f
  b=$(tsv_value "$dir/scale.tsv" bytes) n=$(tsv_value "$dir/scale.tsv" ns) f=$(tsv_value "$dir/scale.tsv" files)
  awk -v b="${b:-0}" -v n="${n:-0}" -v f="$f" 'BEGIN { if (n > 0) printf "\"ours, %d files\" %.1f\n", f, b * 1e3 / n }' >>"$dat"
  local title
  title="Throughput on 127.0.0.1, $(awk -F'\t' 'NR == 1 { printf "%.0f MiB", $2 / 1048576 }' "$res") file ($(date -r "$res" +%Y-%m-%d), one run)"
  [ -s "$dat" ] && bars throughput "$dat" "$title" "MB/s (10^6 bytes per second)" "%.0f"
}

# Each system one colour; every round of each case is drawn, so the spread
# between rounds shows.
latency_plot() {
  local f sys case panel steady="" trickle="" color titled=" "
  for f in "$dir"/lat-*.cdf; do
    [ -s "$f" ] || continue
    sys=${f##*/lat-}; case=${sys#*-}; sys=${sys%%-*}; case=${case%.cdf}
    case $sys in floor) color="#999999" ;; limit) color="#4477aa" ;; ours) color="#ee6677" ;; duties) color="#aa7733" ;; *) color="#228833" ;; esac
    local title="notitle"
    # The key names each system once per panel.
    if [[ "$titled" != *" ${case%%-*}:$sys "* ]]; then title="title '$sys'"; titled+="${case%%-*}:$sys "; fi
    local item="'$f' using 2:1 with lines lw 1.5 lc rgb '$color' $title"
    if [ "${case%%-*}" = steady ]; then steady+="${steady:+, }$item"; else trickle+="${trickle:+, }$item"; fi
  done
  [ -n "$steady$trickle" ] || return 0
  {
    echo "set multiplot layout 1,2 title 'Append-to-visible latency, CDF (each round one line)'"
    echo "set logscale x; set xlabel 'ms'; set ylabel 'fraction of lines'; set yrange [0:1]"
    echo "set grid; set key bottom right"
    for panel in steady trickle; do
      echo "set title '$panel'"
      if [ "$panel" = steady ]; then [ -n "$steady" ] && echo "plot $steady"; else [ -n "$trickle" ] && echo "plot $trickle"; fi
    done
    echo "unset multiplot"
  } | draw latency-cdf
}

backlog_plot() {
  local s="$dir/backlog-samples.tsv" restart mark=""
  [ "$(grep -vc '^#' "$s" 2>/dev/null)" -gt 1 ] || return 0
  restart=$(tsv_value "$dir/backlog.tsv" restart_s)
  [ -n "$restart" ] && mark="set arrow from $restart, graph 0 to $restart, graph 1 nohead dt 2 lc rgb '#444444'
set label 'central started' at $restart, graph 0.5 offset 0.5,0"
  draw backlog <<GP
set title "Backlog catch-up: the central down while the log grows, then started"
set xlabel "seconds since the log began to grow"
set ylabel "GB (10^9 bytes)"
set y2label "RSS MiB"
set ytics nomirror; set y2tics
set yrange [0:*]; set y2range [0:*]
set grid
set key top left
$mark
plot "$s" using 1:(\$3 / 1e9) with lines lw 2 lc rgb "#999999" title "source", \
     "" using 1:(\$4 / 1e9) with lines lw 2 lc rgb "#4477aa" title "copy", \
     "" using 1:(\$5 > 0 ? \$5 / 1024 : 1/0) axes x1y2 with lines lc rgb "#ee6677" title "central RSS", \
     "" using 1:(\$6 / 1024) axes x1y2 with lines lc rgb "#228833" title "local RSS"
GP
}

# Ours' single-file row carries each side's CPU s per GB in its note.
scale_cpu_plot() {
  local sc="$dir/scale.tsv" dat="$dir/plot-scale-cpu.dat" note bytes cpu central files
  [ -s "$sc" ] || return 0
  note=$(awk -F'\t' '$1 == "ours" { print $7 }' "$dir/results.tsv" 2>/dev/null)
  bytes=$(tsv_value "$sc" bytes) cpu=$(tsv_value "$sc" cpu_s) central=$(tsv_value "$sc" central_cpu_s)
  files=$(tsv_value "$sc" files)
  {
    sed -n 's/.*CPU s\/GB central \([0-9.]*\), local \([0-9.]*\).*/"central, 1 file" \1\n"local, 1 file" \2/p' <<<"$note"
    awk -v b="${bytes:-0}" -v c="${cpu:-0}" -v k="${central:-0}" -v f="$files" 'BEGIN {
      if (b > 0) printf "\"central, %d files\" %.2f\n\"all locals, %d files\" %.2f\n", f, k / (b / 1e9), f, (c - k) / (b / 1e9) }'
  } >"$dat"
  [ -s "$dat" ] && bars scale-cpu "$dat" "CPU seconds per GB shipped: one file and many" "CPU s per GB" "%.2f"
}

throughput_plot
latency_plot
backlog_plot
scale_cpu_plot
exit "$status"
