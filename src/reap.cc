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

/* Reap the child that type and id name, if it has exited: 0, -EAGAIN
 * (still running) or -errno (not our child, or reaped already). */
static int
reap_one(idtype_t type, id_t id, int *wstatus)
{
	siginfo_t si;

	memset(&si, 0, sizeof si);
	if (waitid(type, id, &si, WEXITED | WNOHANG) < 0)
		return -errno;
	if (si.si_pid == 0)
		return -EAGAIN;
	*wstatus = wstatus_from(&si);
	return 0;
}

int
reap_pidfd(int pidfd, int *wstatus)
{
	return reap_one((idtype_t)P_PIDFD, (id_t)pidfd, wstatus);
}

/* Let decide() have pid; reap it here when it is an orphan.  Returns
 * decide()'s answer. */
static int
settle(pid_t pid, int (*decide)(void *, pid_t), void (*orphan)(void *, pid_t, int),
    void *arg)
{
	int wstatus;
	int d = decide(arg, pid);

	if (d == REAP_ORPHAN && reap_one(P_PID, (id_t)pid, &wstatus) == 0 && orphan != NULL)
		orphan(arg, pid, wstatus);
	return d;
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
		if (settle(si.si_pid, decide, orphan, arg) != REAP_SKIP)
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
reap_leftovers(void)
{
	int wstatus;

	for (pid_t pid : proc_children(getpid(), true))
		(void)reap_one(P_PID, (id_t)pid, &wstatus);
}
