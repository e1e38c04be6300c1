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
#include <doctest/doctest.h>

int
main(int argc, char **argv)
{
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
