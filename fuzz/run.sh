#!/bin/sh
# run.sh DIR SECONDS NAME...: run each libFuzzer harness DIR/NAME_fuzz for
# SECONDS on its working corpus DIR/corpus/NAME (seeded from
# fuzz/corpus/NAME), one after the other, and print one line each.  Fails
# if any of them found something: a crash, a leak, a sanitizer report, a
# timeout (10 s for one input) or a broken property (abort()).
set -u
dir=$1
secs=$2
shift 2
failed=""
for name in "$@"; do
	prog="$dir/${name}_fuzz"
	corpus="$dir/corpus/$name"
	log="$dir/$name.log"
	mkdir -p "$corpus"
	cp fuzz/corpus/"$name"/* "$corpus"/
	dict=""
	[ -f "fuzz/$name.dict" ] && dict="-dict=fuzz/$name.dict"
	# shellcheck disable=SC2086
	"$prog" -max_total_time="$secs" -timeout=10 -artifact_prefix="$dir/$name-" \
	    -print_final_stats=1 $dict "$corpus" >"$log" 2>&1
	rc=$?
	# -print_final_stats: "stat::number_of_executed_units: N" and
	# "stat::average_exec_per_sec: E"; coverage from the last status line,
	# "#N NEW cov: C ft: F corp: K/Sb ...".
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	last=$(grep '^#[0-9].* cov: ' "$log" | tail -n 1)
	cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p')
	if [ "$rc" -eq 0 ]; then
		echo "fuzz $name: ok, ${runs:-?} runs in ${secs}s (${eps:-?} exec/s), cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}"
		continue
	fi
	failed="$failed $name"
	echo "fuzz $name: FAILED (exit $rc); the end of $log:"
	tail -n 60 "$log"
	sed -n 's/.*Test unit written to \(.*\)/\1/p' "$log" | while read -r a; do
		echo "fuzz $name: replay with: $prog $a"
	done
done
[ -z "$failed" ] || { echo "fuzz: failed:$failed"; exit 1; }
