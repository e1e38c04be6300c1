# plot.gp: latency distributions of `make bench`, one CDF per wrapper.
#
#	gnuplot -e "dir='build/bench'" bench/plot.gp
#
# Reads dir/series.gp (which .dat files exist, their titles and colours;
# written by bench/report.cc with the raw samples, one value in ms a line)
# and writes dir/latency.png.  Log scale on every time axis: the wrappers
# differ by orders of magnitude (a pidfd against a 1 s or 5 s poll).

if (!exists("dir")) dir = "build/bench"
load dir."/series.gp"

if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
	set terminal pngcairo size 1600,1100 font "sans,11" noenhanced
} else {
	set terminal png size 1600,1100 noenhanced
}
set output dir."/latency.png"

# One linetype per wrapper, in bench/driver.h's order (pidsitter,
# pidsitter-base, gwmodel, tini, dumb-init, pidproxy); the follow panel's
# log-line series add 6 (the number of wrappers) and are dashed.
set linetype 1 lc rgb "#d62728" lw 2.5
set linetype 2 lc rgb "#8c564b" lw 2.5
set linetype 3 lc rgb "#1f77b4" lw 2
set linetype 4 lc rgb "#2ca02c" lw 2
set linetype 5 lc rgb "#9467bd" lw 2
set linetype 6 lc rgb "#ff7f0e" lw 2
set linetype 7 lc rgb "#d62728" lw 2 dt 2
set linetype 8 lc rgb "#8c564b" lw 2 dt 2

set logscale x 10
set format x "%g"
set yrange [0:1.02]
set ytics 0.25
set grid xtics ytics mxtics
set key bottom right box opaque
set xlabel "milliseconds (log scale)"
set ylabel "fraction of samples"

# Each panel: the CDF (smooth cnormal) of every file in its list; an
# empty list (no wrapper measured it) leaves the panel blank.
set multiplot layout 2,3 title machine

set title "Signal forwarding, spawned daemon\n(kill(wrapper) -> daemon's handler)"
if (words(sig_files) > 0) {
	plot for [i=1:words(sig_files)] word(sig_files, i) using 1:(1) smooth cnormal \
	    with steps lt word(sig_colors, i)+0 title word(sig_titles, i)
} else { set key off; set label 1 "not measured" at graph 0.5, 0.5 center; plot NaN notitle; unset label 1; set key on }

set title "Signal forwarding, adopted daemon"
if (words(sigadopt_files) > 0) {
	plot for [i=1:words(sigadopt_files)] word(sigadopt_files, i) using 1:(1) smooth cnormal \
	    with steps lt word(sigadopt_colors, i)+0 title word(sigadopt_titles, i)
} else { set key off; set label 1 "not measured" at graph 0.5, 0.5 center; plot NaN notitle; unset label 1; set key on }

set title "Start: exec of the wrapper -> daemon's main()"
if (words(start_files) > 0) {
	plot for [i=1:words(start_files)] word(start_files, i) using 1:(1) smooth cnormal \
	    with steps lt word(start_colors, i)+0 title word(start_titles, i)
} else { set key off; set label 1 "not measured" at graph 0.5, 0.5 center; plot NaN notitle; unset label 1; set key on }

set title "Death detection, spawned daemon\n(SIGKILL of the daemon -> wrapper exits)"
if (words(death_files) > 0) {
	plot for [i=1:words(death_files)] word(death_files, i) using 1:(1) smooth cnormal \
	    with steps lt word(death_colors, i)+0 title word(death_titles, i)
} else { set key off; set label 1 "not measured" at graph 0.5, 0.5 center; plot NaN notitle; unset label 1; set key on }

set title "Death detection, adopted daemon"
if (words(deathadopt_files) > 0) {
	plot for [i=1:words(deathadopt_files)] word(deathadopt_files, i) using 1:(1) smooth cnormal \
	    with steps lt word(deathadopt_colors, i)+0 title word(deathadopt_titles, i)
} else { set key off; set label 1 "not measured" at graph 0.5, 0.5 center; plot NaN notitle; unset label 1; set key on }

set title "Upgrade follow\n(rename() of the pid file -> new process current)"
if (words(follow_files) > 0) {
	plot for [i=1:words(follow_files)] word(follow_files, i) using 1:(1) smooth cnormal \
	    with steps lt word(follow_colors, i)+0 title word(follow_titles, i)
} else { set key off; set label 1 "not measured" at graph 0.5, 0.5 center; plot NaN notitle; unset label 1; set key on }

unset multiplot
set output
