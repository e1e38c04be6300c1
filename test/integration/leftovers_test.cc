/*
 * leftovers_test.cc: the end-of-suite check, in the test suite "final",
 * which main.cc runs after every other test case: no process started from
 * a test directory is alive and the test process has no zombie child.
 */
#include <unistd.h>

#include <doctest/doctest.h>

#include "harness.h"

TEST_SUITE("final")
{
	TEST_CASE("no process or zombie is left behind by the suite")
	{
		std::string root = test_root();
		/* Allow a draining process a moment to finish its exit. */
		bool clean = wait_until([&] { return live_mentioning(root).empty(); }, 5000);
		for (pid_t pid : live_mentioning(root)) {
			CAPTURE(pid);
			CAPTURE(read_file("/proc/" + std::to_string(pid) + "/cmdline"));
			CHECK(false);
		}
		CHECK(clean);
		CHECK(wait_until([] { return zombies_of(getpid()).empty(); }, 5000));
		CHECK(rmdir(root.c_str()) == 0);
	}
}
