/*
 * inherit_test.cc: what pidsitter inherits from the program that execs it.
 *
 * A signal mask and ignored dispositions survive execve(2) (signal(7)):
 * a parent that blocked SIGCHLD and SIGTERM before exec (Python's
 * signal.pthread_sigmask, a JVM, some process managers) hands them to
 * pidsitter.  Blocked, TERM never arrives and the daemon's exit is never
 * noticed.  pidsitter clears them first, as tini and dumb-init do, and the
 * daemon it spawns starts with an empty mask and default dispositions.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include "harness.h"

namespace {

const int DEADLINE_MS = 15000;

/* A parent that blocked SIGCHLD and SIGTERM. */
int
block_chld_term(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	return sigprocmask(SIG_BLOCK, &set, NULL) < 0 ? 125 : 0;
}

/* The same, and SIGCHLD ignored: the kernel then reaps children itself
 * and wait(2) never reports their status. */
int
block_and_ignore_chld(void)
{
	if (block_chld_term() != 0 || signal(SIGCHLD, SIG_IGN) == SIG_ERR)
		return 125;
	return 0;
}

/* Every signal blocked, and some of those pidsitter forwards ignored. */
int
block_all_ignore_some(void)
{
	static const int ignored[] = {SIGCHLD, SIGTERM, SIGHUP, SIGUSR1, SIGINT};
	sigset_t set;

	sigfillset(&set);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return 125;
	for (int sig : ignored)
		if (signal(sig, SIG_IGN) == SIG_ERR)
			return 125;
	if (signal(SIGRTMIN + 1, SIG_IGN) == SIG_ERR)
		return 125;
	return 0;
}

/* The hex mask of a /proc/PID/status line ("SigBlk"), or ~0 if none,
 * without the signals the C library reserves for itself (32 and 33 under
 * glibc, below SIGRTMIN): sigaction(2) refuses them, glibc installs its
 * handlers when it needs them, and programs hand them on as they got them
 * (GNU make, for one, runs its commands with both ignored). */
unsigned long long
status_mask(pid_t pid, const char *key)
{
	std::string text = read_file("/proc/" + std::to_string(pid) + "/status");
	std::string k = std::string("\n") + key + ":";
	size_t at = text.find(k);
	unsigned long long mask;

	if (at == std::string::npos)
		return ~0ULL;
	mask = strtoull(text.c_str() + at + k.size(), NULL, 16);
	for (int sig = 32; sig < SIGRTMIN; sig++)
		mask &= ~(1ULL << (sig - 1));
	return mask;
}

/* Start the wrapper with hook run before its exec; check the daemon's and
 * the wrapper's masks; then stop it with TERM (by_wrapper) or let the
 * daemon die of USR1, and check that the wrapper exits with its status. */
void
check_inherited(int (*hook)(void), bool by_wrapper)
{
	CAPTURE(by_wrapper);
	scene sc;
	/* sleep(1) leaves its signals alone: what it has is what it got.  A
	 * link in the scene's directory, so that a leftover is found. */
	std::string sleepd = sc.dir / "sleepd";
	REQUIRE(symlink("/bin/sleep", sleepd.c_str()) == 0);
	child w;
	child_start_hooked(&w, sc.wrapper({sleepd, "1000"}), clean_env, hook);
	INFO(child_dump(&w));
	REQUIRE(child_wait_line(&w, "msg=\"monitoring process\"", DEADLINE_MS));
	pid_t d = child_of(w.pid, DEADLINE_MS);
	REQUIRE(d > 0);
	pinned daemon = pin(d);
	REQUIRE(wait_until([&] { return cmdline_of(d).find(sleepd) != std::string::npos; },
	    DEADLINE_MS));

	/* The daemon: nothing blocked, nothing ignored. */
	CHECK(status_mask(d, "SigBlk") == 0);
	CHECK(status_mask(d, "SigIgn") == 0);
	/* The wrapper: nothing blocked; only PIPE ignored (a closed log
	 * pipe must not kill it). */
	CHECK(status_mask(w.pid, "SigBlk") == 0);
	CHECK(status_mask(w.pid, "SigIgn") == 1ULL << (SIGPIPE - 1));

	if (by_wrapper) {
		send_signal(w.pid, SIGTERM);
		REQUIRE(child_wait_exit(&w, DEADLINE_MS));
		CHECK(child_code(&w) == 128 + SIGTERM);
	} else {
		send_signal(d, SIGUSR1);
		REQUIRE(child_wait_exit(&w, DEADLINE_MS));
		CHECK(child_code(&w) == 128 + SIGUSR1);
	}
	CHECK(w.out.find("msg=\"process exited\"") != std::string::npos);
	CHECK(!pinned_alive(daemon));
}

}  // namespace

TEST_CASE("started with signals blocked or ignored: TERM stops it, the daemon's exit is noticed, the daemon starts clean")
{
	int (*hook)(void) = NULL;
	SUBCASE("SIGCHLD and SIGTERM blocked") { hook = block_chld_term; }
	SUBCASE("SIGCHLD and SIGTERM blocked, SIGCHLD ignored") { hook = block_and_ignore_chld; }
	SUBCASE("every signal blocked, CHLD TERM HUP USR1 INT RTMIN+1 ignored") {
		hook = block_all_ignore_some;
	}
	REQUIRE(hook != NULL);
	check_inherited(hook, true);
	check_inherited(hook, false);
}
