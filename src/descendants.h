/*
 * descendants.h: the processes the daemon leaves behind once its last
 * generation is gone (pidsitter.toml(5), descendants).
 *
 * pidsitter is a child subreaper (reap.h), so what the daemon's
 * generations leave (a worker, a git child, a helper that called setsid()
 * and forked again) is re-parented to the wrapper: they are its
 * descendants, found through /proc (proc_descendants).  With descendants
 * = "stop" they are stopped as `sv down` stops a service, TERM then CONT,
 * and killed when they outlast the stop's time; the wrapper reaps its
 * children among them before it exits.  Every signal goes through a pidfd
 * opened and checked first (proc.h): a PID reused meanwhile is never hit.
 *
 * An adopted daemon is not our descendant: its children go to init, not
 * to us.  descendants_pin takes a generation's descendants when a stop
 * begins, so that those still alive at the end are stopped too (they are
 * not ours to reap: their new parent does that).
 */
#ifndef PIDSITTER_DESCENDANTS_H
#define PIDSITTER_DESCENDANTS_H

#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include <string>
#include <vector>

/* One process, pinned by its pidfd. */
struct leftover {
	pid_t pid;
	unsigned long long start_time;
	int pidfd;
};

struct descendants {
	uv_loop_t *loop;
	std::vector<struct leftover> procs;
	uv_timer_t rescan;         /* while stopping: new children, deaths */
	uv_timer_t deadline;       /* KILL, then give up */
	bool stopping;
	bool killing;
	uint64_t kill_ms;
	void (*reap)(void *arg);   /* reap our exited children, never libuv's */
	void (*done)(void *arg);   /* none is left (or they would not die) */
	void *arg;
};

/* Set up the timers (none runs until descendants_end). */
void descendants_init(struct descendants *d, uv_loop_t *loop);

/* Pin root's descendants as they are now (a stop begins), unless root is
 * the wrapper's own descendant (then they are too); nothing is sent. */
void descendants_pin(struct descendants *d, pid_t root);

/* The daemon is gone: done(arg) at once when nothing is left; without
 * stop, after naming the live ones in the log (the first ten).  With stop,
 * they (and those pinned) get TERM and CONT now, KILL after kill_ms (0: at
 * once), and as long again, 5 s at least, to die before the wrapper gives
 * up on them (a process in uninterruptible sleep must not hold it for
 * ever); done(arg) once none is left.  Processes that appear meanwhile are
 * found by looking again on every SIGCHLD (descendants_rescan) and on a
 * short timer, which runs only then; reap(arg) first each time. */
void descendants_end(struct descendants *d, bool stop, uint64_t kill_ms,
    void (*reap)(void *), void (*done)(void *), void *arg);

/* Look again (SIGCHLD while stopping). */
void descendants_rescan(struct descendants *d);

/* "12,34,56": the first max pids, for a log line. */
std::string pid_list(const std::vector<pid_t> &pids, size_t max);

#endif
