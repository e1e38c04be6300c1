#!/bin/sh
# demo.sh: pidsitter's main job in a few seconds, narrated.  "make demo"
# runs it on the bundled tableflip-style demo daemon (test/fixture-daemon.c:
# on SIGHUP it re-executes itself, the new process writes the pid file, the
# old one drains and exits).
set -u
BUILD=${BUILD:-build}
case "$BUILD" in /*) bin=$BUILD ;; *) bin=$(pwd)/$BUILD ;; esac
ps_bin="$bin/pidsitter"
dir=$(mktemp -d /tmp/pidsitter-demo.XXXXXX)
pidfile="$dir/demo.pid"
record="$dir/record"
wlog="$dir/wrapper.log"
ln -s "$bin/fixture-daemon" "$dir/demo-daemon"
wrapper=""

cleanup() {
	[ -n "$wrapper" ] && kill -KILL "$wrapper" 2>/dev/null
	for p in $(cat "$dir"/*.pid 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
	pkill -KILL -f "$dir/demo-daemon" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# Print the wrapper's log lines that have arrived since the last call.
shown=0
show_log() {
	n=$(wc -l <"$wlog")
	if [ "$n" -gt "$shown" ]; then
		sed -n "$((shown + 1)),${n}p" "$wlog" | sed 's/^/   pidsitter | /'
		shown=$n
	fi
}
# Wait (up to 5 s) until a file contains a line matching a pattern.
wait_for() {
	i=0
	while ! grep -q -- "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt 500 ] && { echo "demo: timed out waiting for '$2' in $1" >&2; exit 1; }
		sleep 0.01
	done
}
start_wrapper() {
	"$ps_bin" -p "$pidfile" -- "$dir/demo-daemon" --pid-file "$pidfile" \
	    --record "$record" --drain 300 --exit-code 0 >>"$wlog" 2>&1 &
	wrapper=$!
}

say "1. pidsitter finds no daemon, so it spawns one"
: >"$wlog"
start_wrapper
wait_for "$record" " ready"
wait_for "$wlog" "monitoring process"
show_log
daemon=$(cat "$pidfile")
echo "   the daemon is pid $daemon; the supervisor only ever sees pidsitter, pid $wrapper"

say "2. a signal sent to pidsitter reaches the daemon"
kill -USR1 "$wrapper"
wait_for "$record" "^$daemon signal SIGUSR1"
show_log
grep "^$daemon signal" "$record" | sed 's/^/   daemon    | /'

say "3. two zero-downtime upgrades (HUP): pidsitter follows each new PID"
for n in 2 3; do
	old=$(cat "$pidfile")
	kill -HUP "$wrapper"
	wait_for "$wlog" "generation=$n "
	wait_for "$record" "^$old exit"
	show_log
	echo "   upgrade: pid $old -> pid $(cat "$pidfile"); pidsitter is still pid $wrapper"
done
daemon=$(cat "$pidfile")

say "4. pidsitter is killed (SIGKILL); a new one re-adopts the daemon, no duplicate"
kill -KILL "$wrapper"
wait "$wrapper" 2>/dev/null
echo "   pidsitter $wrapper killed; daemon $daemon still running: $(kill -0 "$daemon" 2>/dev/null && echo yes || echo no)"
shown=0
: >"$wlog"
start_wrapper
wait_for "$wlog" "monitoring process"
show_log
echo "   daemons running: $(pgrep -c -f "^$dir/demo-daemon")"

say "5. stop (TERM, as runit's sv down): the daemon exits, and so does pidsitter"
kill -TERM "$wrapper"
wait "$wrapper"
code=$?
wrapper=""
show_log
echo "   pidsitter exited with $code, the daemon's exit status"
say "done"
