/*
 * death.cc: death detection.  The daemon is SIGKILLed at a random moment
 * within the wrapper's spread (driver.cc: a polling wrapper is caught at
 * every phase of its poll); the figure is the time from just before that
 * kill() to poll() returning for the wrapper's pidfd, and its exit status
 * is kept for the table.  A wrapper that has not exited by the deadline
 * does not detect the death: it is counted, and not timed again.
 */
#include <signal.h>

#include "driver.h"

static const int64_t DEATH_DEADLINE = 10 * SEC;

int
death_measure(runner *r, watch *wt, int mode, run_state *st, results *res,
    char *err, size_t errlen)
{
	int m = mode == M_ADOPT;

	if (st->skip_death) {
		kill(wt->daemon, SIGKILL);
		return 0;
	}
	if (runner_sleep(r, rng_below(wt->w->spread)) < 0)
		return fail(err, errlen, "interrupted");
	int64_t t0 = now_ns();
	kill(wt->daemon, SIGKILL);
	/* We are the detached daemon's parent (a subreaper): reap it at
	 * once, as a healthy PID 1 would. */
	if (mode == M_ADOPT)
		wait_child(wt->daemon, NULL);
	int rc = runner_wait(r, t0 + DEATH_DEADLINE, 0, [&] { return wt->exited; });
	if (rc == -EINTR)
		return fail(err, errlen, "interrupted");
	if (rc < 0) {
		res->death_timeouts[m]++;
		st->skip_death = true;
		return 0;
	}
	res->s[mode == M_ADOPT ? F_DEATH_ADOPT : F_DEATH_SPAWN].push_back(wt->t_exit - t0);
	res->exits[m].push_back(status_code(wt->status));
	return 0;
}
