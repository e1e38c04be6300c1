/*
 * start.cc: start-up, read off a wrapper the runner has just made ready.
 * From just before posix_spawn() of the wrapper to its "monitoring
 * process" line (the wrappers that log one, spawned or adopted daemon),
 * and to the fixture's main() (spawned daemon; the fixture is static, so
 * this includes its exec).  An adopted daemon must be adopted: a wrapper
 * that started a daemon of its own, or monitors another process, fails
 * the run.
 */
#include "driver.h"

int
start_measure(runner *r, watch *wt, int mode, pid_t adopted, results *res,
    char *err, size_t errlen)
{
	const wrapper *w = wt->w;

	if (mode == M_SPAWN) {
		fx_event e;
		if (runner_take(r, &e, [&](const fx_event &x) {
		    return x.kind == FX_START && x.pid == wt->daemon; }))
			res->s[F_START_DAEMON].push_back(ev_ns(e) - wt->t_start);
	}
	if (w->logs_monitor && mode != M_UPGRADE)
		res->s[mode == M_ADOPT ? F_START_MON_ADOPT : F_START_MON_SPAWN]
		    .push_back(wt->t_monitor - wt->t_start);
	if (mode == M_ADOPT && w->logs_monitor) {
		fx_event e;
		if (runner_take(r, &e, [](const fx_event &x) { return x.kind == FX_START; }))
			return fail(err, errlen, "%s started a second daemon (pid %d) instead of adopting %d",
			    w->name, (int)e.pid, (int)adopted);
		if (wt->monitor_pid != 0 && wt->monitor_pid != adopted)
			return fail(err, errlen, "%s monitors pid %d, not the daemon %d",
			    w->name, (int)wt->monitor_pid, (int)adopted);
	}
	return 0;
}
