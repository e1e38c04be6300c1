#!/bin/sh
# run-tests.sh: run every test program and print one total, the last line
# of "make check":  N passed, N failed
# Each doctest program prints "[doctest] test cases: T | P passed | F failed";
# a program that dies before its summary counts as one failure.
set -u
BUILD=${BUILD:-build}
passed=0
failed=0
for prog in unit-tests integration-tests; do
	log="$BUILD/$prog.log"
	echo "== $prog"
	"$BUILD/$prog" "$@" >"$log" 2>&1
	rc=$?
	# Show failures and the summary, not the whole log.
	grep -v '^\[doctest\] \(doctest version\|run with\)' "$log" | tail -n 200
	line=$(grep '^\[doctest\] test cases:' "$log")  # one per run: all add up
	if [ -z "$line" ]; then
		echo "$prog: no summary (exit $rc): counted as 1 failure"
		failed=$((failed + 1))
		continue
	fi
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
