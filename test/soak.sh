#!/bin/sh
# soak.sh [--hog] N: is the suite trustworthy?  Clone this checkout's HEAD
# afresh into a temporary directory and run the README's `make check` there
# N times in a row; print each run's result and, last, the total over runs:
#   N passed, N failed
# --hog runs every one of them beside `stress-ng --cpu 2` (third_party/deps.sh
# soak installs it), as on a loaded CI machine.  Each run's whole output is
# kept in the directory named at the start ($SOAK_DIR, or a new one under
# /tmp); the clone itself is removed at the end.  Not part of make check:
# it takes minutes per run.
set -u
usage() {
	echo "usage: test/soak.sh [--hog] N" >&2
	exit 2
}
hog=0
[ "${1:-}" = "--hog" ] && { hog=1; shift; }
[ $# -eq 1 ] || usage
n=$1
case "$n" in ''|*[!0-9]*) usage ;; esac
[ "$n" -ge 1 ] || usage

top=$(git rev-parse --show-toplevel) || exit 2
head=$(git -C "$top" rev-parse HEAD) || exit 2
if [ -n "$(git -C "$top" status --porcelain --untracked-files=no)" ]; then
	echo "soak.sh: note: uncommitted changes are not tested, only HEAD ($head)" >&2
fi
if [ "$hog" = 1 ]; then
	sh "$top/third_party/deps.sh" soak || exit 1
fi

dir=${SOAK_DIR:-$(mktemp -d /tmp/pidsitter-soak.XXXXXX)}
mkdir -p "$dir" || exit 2
# mktemp makes it 0700: the tests that run the build as nobody need to
# reach it, as in any checkout.
chmod 755 "$dir" || exit 2
src="$dir/src"
hog_pid=
cleanup() {
	if [ -n "$hog_pid" ]; then
		kill "$hog_pid" 2>/dev/null
		wait "$hog_pid" 2>/dev/null
	fi
	rm -rf "$src"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "soak: $n run(s) of make check on $head$( [ "$hog" = 1 ] && echo ' beside stress-ng --cpu 2'); logs in $dir"
rm -rf "$src"
git clone --quiet --no-hardlinks "$top" "$src" || exit 2
git -C "$src" checkout --quiet --detach "$head" || exit 2

if [ "$hog" = 1 ]; then
	stress-ng --cpu 2 --quiet &
	hog_pid=$!
fi

runs_passed=0
runs_failed=0
i=1
while [ "$i" -le "$n" ]; do
	log="$dir/run-$i.log"
	(cd "$src" && make check) >"$log" 2>&1
	rc=$?
	last=$(tail -n 1 "$log")
	if [ "$rc" -eq 0 ]; then
		runs_passed=$((runs_passed + 1))
		echo "run $i: passed ($last)"
	else
		runs_failed=$((runs_failed + 1))
		echo "run $i: FAILED, exit $rc ($last); see $log"
		# The failed tests' names, from run-tests.sh's report, and
		# the one a program was killed in at its limit.
		{ grep -A 1 '^TEST CASE:' "$log" | grep -v '^--$'
		  grep ': still running after .*(LIMIT)' "$log"; } | sed 's/^/    /'
	fi
	i=$((i + 1))
done
echo "$runs_passed passed, $runs_failed failed"
[ "$runs_failed" -eq 0 ]
