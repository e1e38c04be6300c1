#!/bin/sh
# run-tests.sh: run every test program and print one total, the last line
# of "make check":  N passed, N failed
# Each doctest program prints "[doctest] test cases: T | P passed | F failed";
# a program that dies before its summary counts as one failure.
#
# A program's whole output goes to $BUILD/<program>.log.  Shown here: every
# failed test's report (file:line, the expression, its values, what the test
# logged), whole but for the output of the processes it captured: a run of
# more than HEAD+TAIL such lines keeps its first HEAD and last TAIL, and a
# line is cut after WIDE characters.  Of the tests that passed, only the
# messages that say a test was skipped.  A program without a summary (it
# crashed) has the end of its log shown, cut the same way.  A program still
# running after LIMIT seconds is killed and counted as a failure, with the
# test case it was in.
set -u
BUILD=${BUILD:-build}
HEAD=${HEAD:-20}
TAIL=${TAIL:-40}
WIDE=${WIDE:-2000}
LIMIT=${LIMIT:-1500}
passed=0
failed=0

# The log on stdin, as described above.  Structural lines of doctest's
# console reporter are always shown and end a run of captured lines.
show_failures() {
	awk -v head="$HEAD" -v tail="$TAIL" -v wide="$WIDE" -v all="${1:-0}" '
	function structural(l) {
		return l ~ /^===+$/ || l ~ /^[^ ].*:[0-9]+:( [A-Z][A-Z ]*:|$)/ ||
		    l ~ /^TEST CASE:/ || l ~ /^  (values|logged):/ ||
		    l ~ /^DEEPEST SUBCASE/ || l ~ /^\[doctest\]/
	}
	function clip(l) {
		if (length(l) > wide)
			return substr(l, 1, wide) " ... (" length(l) - wide " characters cut)"
		return l
	}
	# Print the run of captured lines held in run[1..nrun], bounded.
	function flush_run(   i) {
		if (nrun <= head + tail) {
			for (i = 1; i <= nrun; i++)
				print clip(run[i])
		} else {
			for (i = 1; i <= head; i++)
				print clip(run[i])
			print "... " nrun - head - tail " lines cut (the whole output is in the log) ..."
			for (i = nrun - tail + 1; i <= nrun; i++)
				print clip(run[i])
		}
		nrun = 0
	}
	function print_block(   i) {
		nrun = 0
		for (i = 1; i <= nblock; i++) {
			if (structural(block[i])) {
				flush_run()
				print clip(block[i])
			} else
				run[++nrun] = block[i]
		}
		flush_run()
	}
	# A block ends: shown whole if a test failed in it, else only the
	# lines that say a test was skipped.
	function end_block(   i) {
		if (all || failing)
			print_block()
		else
			for (i = 1; i <= nblock; i++)
				if (block[i] ~ /: MESSAGE: .*skipped/)
					print clip(block[i])
		nblock = 0
		failing = 0
	}
	/^\[doctest\] (doctest version|run with)/ { next }
	/^===+$/ { end_block() }
	/^\[doctest\] / { end_block(); print; next }
	{
		block[++nblock] = $0
		if ($0 ~ /^[^ ].*:[0-9]+: (ERROR|FATAL ERROR):/ || $0 ~ /TEST CASE FAILED/)
			failing = 1
	}
	END { end_block() }
	'
}

for prog in unit-tests integration-tests; do
	log="$BUILD/$prog.log"
	now="$BUILD/$prog.now"
	echo "== $prog (whole output: $log)"
	start=$(date +%s)
	# Bounded: a program still running after LIMIT seconds (they take a
	# few minutes, also under ASan) is killed, with every process of its
	# group, and counted as a failure that names the test case it was in
	# (test/bounded.sh, test/progress.h).
	sh "$(dirname "$0")/bounded.sh" "$LIMIT" "$now" "$BUILD/$prog" "$@" >"$log" 2>&1
	rc=$?
	# ^C: no more programs, and no total.
	[ "$rc" -ne 130 ] || { echo "$prog: interrupted"; exit 130; }
	echo "   $prog: $(($(date +%s) - start)) s"
	# One summary per doctest run (integration-tests runs twice: the
	# suite, then the final leftovers check): all of them add up.
	line=$(grep '^\[doctest\] test cases:' "$log")
	if [ "$rc" -eq 124 ]; then
		tail -n $((HEAD + TAIL + 200)) "$log" | show_failures 1
		echo "$prog: still running after $LIMIT s (LIMIT), killed in the test case: $(cat "$now" 2>/dev/null || echo '?'): counted as 1 failure"
		failed=$((failed + 1))
		continue
	fi
	if [ -z "$line" ]; then
		# It died before its summary: show how it ended.
		tail -n $((HEAD + TAIL + 200)) "$log" | show_failures 1
		echo "$prog: no summary (exit $rc): counted as 1 failure"
		failed=$((failed + 1))
		continue
	fi
	show_failures 0 <"$log"
	p=$(echo "$line" | sed -n 's/.*| *\([0-9]*\) passed.*/\1/p' | awk '{ n += $1 } END { print n + 0 }')
	f=$(echo "$line" | sed -n 's/.*| *\([0-9]*\) failed.*/\1/p' | awk '{ n += $1 } END { print n + 0 }')
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	if [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then
		echo "$prog: exit $rc with no failed test: counted as 1 failure"
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
