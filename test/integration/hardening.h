/*
 * hardening.h: what security_test.cc and faults_test.cc share:
 * the wrapper's memory and descriptors, and a pid namespace with a small
 * pid_max for the tests that need a PID recycled.
 *
 * The namespace's pid 1 is test/pidcycle.c, compiled at run time into the
 * test's directory and started under `unshare --pid --fork --mount-proc`;
 * programs run inside it through `nsenter`.  Since Linux 6.14 pid_max is
 * per pid namespace, so a small one there leaves the machine's alone; on
 * an older kernel writing it would change the machine's, so the tests
 * are skipped there (pidns_supported()).
 *
 * PIDs inside are the namespace's: what the pid file, the record files
 * and pidsitter's log say.  Signals from the test go to host PIDs
 * (host_pid()).
 */
#ifndef PIDSITTER_HARDENING_H
#define PIDSITTER_HARDENING_H

#include <sys/types.h>

#include <string>
#include <vector>

#include "harness.h"

/* VmRSS of pid in KiB, or -1. */
long vm_rss_kb(pid_t pid);
/* The number of open descriptors of pid, or -1. */
int fd_count(pid_t pid);
/* How much a wrapper's resident memory may grow, in KiB, over a storm
 * that leaks nothing: 1 MiB; 3 MiB for pid under AddressSanitizer, whose
 * allocator grows by some 1.7 MiB on first use however long the storm
 * (measured with 50 and 150 upgrades), even with no quarantine. */
long rss_allowance_kb(pid_t pid);

/* Can this machine run the namespace tests?  If not, *why says so.
 * small_pid_max: the test recycles PIDs (Linux 6.14 or later). */
bool pidns_supported(std::string *why, bool small_pid_max = true);
/* The same, saying why not (a MESSAGE): true when the test must skip. */
bool pidns_skip(bool small_pid_max = true);

struct pidns {
	child unshare;             /* unshare(1), the test's child */
	pid_t init = -1;          /* pidcycle init: host PID of the namespace's pid 1 */
	std::string cycle;        /* the compiled pidcycle */
	std::string ns_link;      /* readlink /proc/INIT/ns/pid */
	long pid_max;

	/* Compile pidcycle into dir and start the namespace (REQUIREs).
	 * pid_max 0: the machine's (the namespace is then only a prompt
	 * reaper of orphans, as runit or systemd is). */
	pidns(const tmp_dir &dir, long pid_max = 350);
	/* SIGKILL its pid 1: the kernel kills everything inside. */
	~pidns();
	pidns(const pidns &) = delete;
	pidns &operator=(const pidns &) = delete;

	/* argv prefixed to run inside (nsenter: it forks, waits, and exits
	 * with the program's status). */
	std::vector<std::string> run(const std::vector<std::string> &argv) const;
	/* Start argv detached inside (its parent is the namespace's pid 1,
	 * which reaps it), as PID `at` if non-zero (PIDs are cycled through
	 * until it comes round; it must be free), with every signal blocked
	 * across the exec if `block` (they stay pending for the fixture's
	 * signalfd).  Returns its PID in the namespace (REQUIREs). */
	pid_t spawn(const std::vector<std::string> &argv, pid_t at = 0, bool block = false);
	/* Start `pidcycle hunt at`: as soon as the process at PID `at` is
	 * released, argv is started there (blocked signals).  The result is
	 * h's output once it exited: the PID the stranger got. */
	void hunt(child *h, pid_t at, const std::vector<std::string> &argv);
	/* The host PID of PID `n` of the namespace, or 0. */
	pid_t host_pid(pid_t n) const;
};

#endif
