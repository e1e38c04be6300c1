/*
 * reap.h: reaping the children that libuv does not know about.
 *
 * pidsitter is a child subreaper, so an upgraded daemon whose parent
 * exited becomes our child, and so does a forking daemon's master.  libuv
 * reaps only the process it spawned, with waitpid(pid); we must reap the
 * others, and never with waitpid(-1), which would steal the status of
 * libuv's child and its exit callback would never run (uv__chld in libuv's
 * src/unix/process.c; doc/DESIGN.md, "Why it is built this way").
 */
#ifndef PIDSITTER_REAP_H
#define PIDSITTER_REAP_H

#include <sys/types.h>

/* PR_SET_CHILD_SUBREAPER; 0 or -errno. */
int reap_become_subreaper(void);

/* Reap the process behind pidfd if it is our child and has exited:
 * 0 (*wstatus set), -EAGAIN (still running) or -ECHILD (not our child,
 * or reaped already). */
int reap_pidfd(int pidfd, int *wstatus);

enum reap_decision {
	REAP_SKIP,     /* libuv's child: leave it alone */
	REAP_DONE,     /* the callback reaped it itself */
	REAP_ORPHAN,   /* reap it here */
};

/*
 * Reap every exited child but the ones decide() skips.  decide() is
 * called for each exited child before it is reaped; orphan() after an
 * orphan was reaped.  Peeks with WNOWAIT, so nothing is reaped that
 * decide() did not give us.
 */
void reap_children(int (*decide)(void *arg, pid_t pid),
    void (*orphan)(void *arg, pid_t pid, int wstatus), void *arg);

/* Reap whatever exited children are left (the loop has stopped: libuv
 * will not reap its own child any more either). */
void reap_leftovers(void);

#endif
