/*
 * follow.cc: upgrade follow.  HUP to the wrapper reaches the daemon, which
 * forks its successor; the successor writes the pid file (temp + rename)
 * and reports the time just before rename().  Then we probe: SIGUSR1 to
 * the wrapper, wait until the old or the new process records it, again,
 * until the new one does.  pidsitter sends non-stop signals to the current
 * generation only (man/pidsitter.8, SIGNALS), so the first probe that
 * reaches the new process shows it has become current: figure = its
 * handler time - rename time.  We chose the probe as the figure because it
 * measures behaviour, not a message text, and works for any wrapper that
 * routes signals by the pid file; it overstates by at most one probe round
 * trip (one forwarding latency).  The arrival of a log line containing
 * "following" on the wrapper's stdout (pidsitter: msg="following new
 * process") is reported as a second figure: it is the decision itself,
 * timed by its arrival in our pipe (the line's own "time" field has
 * millisecond precision only).  Each probe is work for the wrapper (a
 * signal, a log line), so the probe figure also shows what following
 * costs under signal traffic.
 */
#include <signal.h>

#include "driver.h"

static const int64_t FOLLOW_DEADLINE = 2 * SEC;

int
follow_measure(runner *r, watch *wt, run_state *st, results *res, char *err, size_t errlen)
{
	fx_event ren = {}, e = {};
	int rc;

	if (runner_sleep(r, rng_below(SEC)) < 0)
		return fail(err, errlen, "interrupted");
	wt->follow_armed = true;
	int64_t th = now_ns();
	kill(wt->pid, SIGHUP);
	rc = runner_wait(r, th + FOLLOW_DEADLINE, 0, [&] {
		return wt->exited || runner_take(r, &ren, [&](const fx_event &x) {
		    return x.kind == FX_RENAME && x.pid != wt->daemon; });
	});
	if (rc == -EINTR)
		return fail(err, errlen, "interrupted");
	if (wt->exited)
		return fail(err, errlen, "%s %s after SIGHUP", wt->w->name, status_text(wt->status).c_str());
	if (rc < 0)
		return fail(err, errlen, "SIGHUP did not make the daemon upgrade within %d s",
		    (int)(FOLLOW_DEADLINE / SEC));
	pid_t next = ren.pid;
	int64_t tr = ev_ns(ren);
	int64_t end = tr + FOLLOW_DEADLINE;
	bool followed = false;
	while (!followed && now_ns() < end) {
		int64_t t0 = now_ns();
		kill(wt->pid, SIGUSR1);
		rc = runner_wait(r, end, 0, [&] {
			return wt->exited || runner_take(r, &e, [&](const fx_event &x) {
			    return (x.pid == wt->daemon || x.pid == next) && x.kind == SIGUSR1 &&
			        ev_ns(x) >= t0; });
		});
		if (rc == -EINTR)
			return fail(err, errlen, "interrupted");
		if (wt->exited)
			return fail(err, errlen, "%s %s during the upgrade (last output: \"%s\")",
			    wt->w->name, status_text(wt->status).c_str(), wt->last_line.c_str());
		if (rc < 0)
			break;
		followed = e.pid == next;
	}
	if (!followed) {
		res->follow_timeouts++;
		st->skip_follow = true;
		return 0;
	}
	res->s[F_FOLLOW_PROBE].push_back(ev_ns(e) - tr);
	if (wt->w->logs_monitor) {
		runner_wait(r, now_ns() + SEC, 0, [&] { return wt->t_follow != 0 || wt->exited; });
		if (wt->t_follow != 0)
			res->s[F_FOLLOW_LINE].push_back(wt->t_follow - tr);
	}
	return 0;
}
