/*
 * reap.cc: subreaper reaping that never steals libuv's own child.
 */
#include "reap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

#include "proc.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

int
reap_become_subreaper(void)
{
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		return -errno;
	return 0;
}

/* A wait status, as waitpid() would have returned it, from waitid(). */
static int
wstatus_from(const siginfo_t *si)
{
	switch (si->si_code) {
	case CLD_EXITED:
		return (si->si_status & 0xff) << 8;
	case CLD_KILLED:
		return si->si_status & 0x7f;
	case CLD_DUMPED:
		return (si->si_status & 0x7f) | 0x80;
	}
	return 0;
}

int
reap_pidfd(int pidfd, int *wstatus)
{
	siginfo_t si;

	memset(&si, 0, sizeof si);
	if (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED | WNOHANG) < 0)
		return -errno;
	if (si.si_pid == 0)
		return -EAGAIN;
	*wstatus = wstatus_from(&si);
	return 0;
}

static int
reap_pid(pid_t pid, int *wstatus)
{
	siginfo_t si;

	memset(&si, 0, sizeof si);
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG) < 0)
		return -errno;
	if (si.si_pid == 0)
		return -EAGAIN;
	*wstatus = wstatus_from(&si);
	return 0;
}

static void
settle(pid_t pid, int (*decide)(void *, pid_t), void (*orphan)(void *, pid_t, int),
    void *arg)
{
	int wstatus;

	switch (decide(arg, pid)) {
	case REAP_SKIP:
	case REAP_DONE:
		return;
	}
	if (reap_pid(pid, &wstatus) == 0 && orphan != NULL)
		orphan(arg, pid, wstatus);
}

void
reap_children(int (*decide)(void *arg, pid_t pid),
    void (*orphan)(void *arg, pid_t pid, int wstatus), void *arg)
{
	/* Bounded: each round reaps one child; a child that is neither
	 * reaped nor skipped would otherwise spin here. */
	for (int round = 0; round < 4096; round++) {
		siginfo_t si;

		memset(&si, 0, sizeof si);
		/* Peek: WNOWAIT leaves the child waitable for its owner. */
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
			return;
		int d = decide(arg, si.si_pid);
		if (d == REAP_ORPHAN) {
			int wstatus;
			if (reap_pid(si.si_pid, &wstatus) == 0 && orphan != NULL)
				orphan(arg, si.si_pid, wstatus);
			continue;
		}
		if (d == REAP_DONE)
			continue;
		/* The first waitable child is libuv's; the kernel shows us no
		 * further one, so look for the others in /proc. */
		for (pid_t pid : proc_children(getpid(), true))
			if (pid != si.si_pid)
				settle(pid, decide, orphan, arg);
		return;
	}
}

void
reap_leftovers(pid_t skip)
{
	for (pid_t pid : proc_children(getpid(), true)) {
		int wstatus;
		if (pid != skip)
			(void)reap_pid(pid, &wstatus);
	}
}
