/*
 * The integration tests' main.  doctest's signal handlers are compiled out
 * (DOCTEST_CONFIG_NO_POSIX_SIGNALS, Makefile): they would catch the signals
 * some tests send.
 *
 * Two runs, in order.  First every test case but the test suite "final",
 * as the command line selects them; then the suite "final" alone, whatever
 * the command line's filters say: it checks what the first run left behind
 * (leftovers_test.cc), so it must come after every other test, and it
 * checks the test cases that ran, however few.  Each run prints its own
 * "[doctest] test cases:" summary; test/run-tests.sh adds them up.
 */
#define DOCTEST_CONFIG_IMPLEMENT
#include <sys/resource.h>

#include <doctest/doctest.h>

#include "progress.h"

int
main(int argc, char **argv)
{
	/* The wrappers the tests start inherit this limit; the control
	 * socket serves at most a quarter of it in connections (control.h),
	 * and a test opens 140 of them.  A machine's soft limit may be as low
	 * as 1024 or below: raised as far as the hard one lets it. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	doctest::Context scenarios(argc, argv);
	scenarios.addFilter("test-suite-exclude", "final");
	int rc = scenarios.run();
	/* --help, --version, --list-test-cases and the like ran nothing. */
	if (scenarios.shouldExit())
		return rc;

	doctest::Context final_check;
	final_check.addFilter("test-suite", "final");
	final_check.setOption("no-intro", true);
	int final_rc = final_check.run();
	return rc != 0 ? rc : final_rc;
}
