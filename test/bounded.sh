#!/bin/sh
# bounded.sh SECONDS NOW COMMAND [ARG...]: run a test program (each of
# make check's, test/run-tests.sh; make valgrind's), killed if it is still
# running after SECONDS.  Its exit status is COMMAND's; 124 if it was
# killed at the limit, with a line on stderr that names the test case it
# was in (test/progress.h writes each one's name to the file NOW, given it
# as PIDSITTER_TEST_NOW); 130 if this shell was interrupted.
#
# timeout(1) runs COMMAND in a process group of its own, so that its end
# takes every process of the group with it (a wrapper a test started, its
# daemon).  That group is not the terminal's foreground one: ^C reaches
# make and this shell, not COMMAND, and both wait for it (a shell runs a
# trap, or dies of the signal, only once its foreground command has
# ended): an interrupted make check would run on to its end.  So COMMAND
# runs in the background here, its standard input /dev/null (no terminal
# to read: it is not in the foreground), and an INT, TERM or HUP this
# shell gets goes on to timeout as a TERM, which timeout sends the whole
# group (and a KILL 30 s later).
set -u
limit=$1
now=$2
shift 2
rm -f "$now"
got=
interrupted=
sent=
trap 'got=1 interrupted=1' INT TERM HUP
start=$(date +%s)
PIDSITTER_TEST_NOW=$now timeout -k 30 "$limit" "$@" </dev/null &
pid=$!
rc=
while [ -z "$rc" ]; do
	# A signal came (maybe before the first wait): passed on once, then
	# wait on for timeout's end (its group's, then).
	if [ -n "$got" ] && [ -z "$sent" ]; then
		kill -TERM "$pid" 2>/dev/null
		sent=1
	fi
	got=
	wait "$pid"
	r=$?
	# wait returns early, above 128, when a trapped signal comes.
	[ -n "$got" ] && kill -0 "$pid" 2>/dev/null && continue
	rc=$r
done
if [ -n "$interrupted" ]; then
	echo "$1: interrupted" >&2
	exit 130
fi
# 124: timeout sent TERM at the limit; 128+9: the KILL it sent 30 s later
# (then it is killed too, being in the group).  A KILL from anyone else
# (the kernel's OOM killer) comes before the limit.
if [ "$rc" -eq 124 ] || { [ "$rc" -eq 137 ] && [ $(($(date +%s) - start)) -ge "$limit" ]; }; then
	echo "$1: still running after $limit s, killed in the test case: $(cat "$now" 2>/dev/null || echo '?')" >&2
	exit 124
fi
exit "$rc"
