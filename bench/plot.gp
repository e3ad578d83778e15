# SPDX-License-Identifier: MIT
# bench/plot.gp — latency distribution per mechanism, one panel per pinning.
# Usage: gnuplot -e "dir='bench/results/DATE'" bench/plot.gp   (writes DIR/latency.png)
# Box: p25–p75 with the median as a bar (its value in µs printed under the whisker); whiskers:
# p1–p99.9; dot: p99.99; cross: max.
if (!exists("dir")) dir = "."
files = system("for p in 1cpu 2cpu nopin; do f='".dir."'/latency_$p.dat; test -s $f && printf '%s ' $f; done")
n = words(files)
if (n == 0) { print "plot.gp: no latency_*.dat in ".dir; exit }

set terminal pngcairo size 1500, 560*n font "DejaVu Sans,10"
set output dir."/latency.png"
set multiplot layout n, 1
set logscale y
set autoscale yfix
set offsets 0, 0, graph 0.08, graph 0.02
set grid ytics mytics lc rgb "#dddddd"
set ylabel "round trip (µs, log scale)"
set xtics rotate by -30 nomirror
set boxwidth 0.5
set style fill solid 0.35 border -1
set key top left opaque box
set datafile commentschars "#"
floorc = "#777777"; peerc = "#1f77b4"; src = "#d62728"
do for [i=1:n] {
  f = word(files, i)
  t = system("head -1 '".f."' | sed 's/^# //'")
  set title "Signal ping-pong round trip — ".t
  N = system("grep -vc '^#' '".f."'") + 0
  set xrange [-0.7:N-0.3]
  plot f using 1:($3==0?$5:NaN):4:9:7:xtic(2) with candlesticks whiskerbars lc rgb floorc title "floors", \
       f using 1:($3==1?$5:NaN):4:9:7:xtic(2) with candlesticks whiskerbars lc rgb peerc title "peers", \
       f using 1:($3==2?$5:NaN):4:9:7:xtic(2) with candlesticks whiskerbars lc rgb src title "sigrelay", \
       f using 1:6:6:6:6 with candlesticks lc rgb "black" lw 2 notitle, \
       f using 1:10 with points pt 7 ps 0.6 lc rgb "black" title "p99.99", \
       f using 1:11 with points pt 2 ps 0.8 lc rgb "black" title "max", \
       f using 1:($4*0.8):(sprintf("%.1f", $6)) with labels font ",9" tc rgb "#333333" notitle
}
unset multiplot
