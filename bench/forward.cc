/*
 * forward.cc: signal forwarding.  SIGUSR1 to the wrapper, a few times a
 * run, each a few milliseconds after the last; the figure is the time from
 * just before our kill() to the daemon's handler (its FX event).
 */
#include <signal.h>

#include "driver.h"

static const int64_t SIGNAL_DEADLINE = 2 * SEC;

int
forward_measure(runner *r, watch *wt, int fig, results *res, char *err, size_t errlen)
{
	for (int k = 0; k < SIGNALS_PER_RUN; k++) {
		if (runner_sleep(r, MS + rng_below(9 * MS)) < 0)
			return fail(err, errlen, "interrupted");
		fx_event e;
		int64_t t0 = now_ns();
		kill(wt->pid, SIGUSR1);
		int rc = runner_wait(r, t0 + SIGNAL_DEADLINE, 0, [&] {
			return wt->exited || runner_take(r, &e, [&](const fx_event &x) {
			    return x.pid == wt->daemon && x.kind == SIGUSR1 && ev_ns(x) >= t0; });
		});
		if (rc == -EINTR)
			return fail(err, errlen, "interrupted");
		if (wt->exited)
			return fail(err, errlen, "%s %s after SIGUSR1 (last output: \"%s\")",
			    wt->w->name, status_text(wt->status).c_str(), wt->last_line.c_str());
		if (rc < 0)
			return fail(err, errlen, "SIGUSR1 did not reach the daemon within %d s",
			    (int)(SIGNAL_DEADLINE / SEC));
		res->s[fig].push_back(ev_ns(e) - t0);
	}
	return 0;
}
