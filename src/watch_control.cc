/*
 * watch_control.cc: the control socket's requests (control.h) into the
 * sitter.  status is read from the reporter; upgrade and stop enter the
 * sitter as the world's signals would (the upgrade signal, TERM), through
 * watch_dispatch, so nothing here decides what the daemon gets; their
 * verdicts come from run_action (watch.cc) and, for a stop, control_exit.
 */
#include "watch.h"

#include <signal.h>

#include <string>

#include "log.h"

static std::string
gen_text(const struct watch *w, unsigned number)
{
	const struct generation *g = sitter_gen(&w->st, number);

	return "generation " + std::to_string(number) + " (pid " +
	    std::to_string(g != NULL ? g->pid : 0) + ")";
}

/* An upgrade through the recipe, as the upgrade signal would start it;
 * the verdict comes from run_action(). */
static void
control_upgrade(struct watch *w, struct control_conn *conn)
{
	enum sitter_phase ph = sitter_phase(&w->st);
	struct event ev = watch_event(EV_SIGNAL);
	const struct generation *old;

	if (w->st.upgrading != 0) {
		control_info(conn, "joining the upgrade in progress of " +
		    gen_text(w, w->st.upgrading));
		control_wait(conn, CTL_UPGRADE);
		return;
	}
	if (ph == PHASE_STOPPING || ph == PHASE_EXITED) {
		control_done(conn, false, "upgrade not started: the wrapper is stopping");
		return;
	}
	if (w->st.current == 0 || ph == PHASE_STARTING) {
		control_done(conn, false, "upgrade not started: no pid file names the daemon yet");
		return;
	}
	/* Refused before anything is sent: the upgrade signal would go to
	 * the daemon all the same (sitter_step forwards it), and one that
	 * did not refuse would upgrade behind a "not started". */
	if ((old = sitter_draining(&w->st)) != NULL) {
		control_done(conn, false, "upgrade not started: the daemon will refuse it: " +
		    gen_text(w, old->number) + " is still draining");
		return;
	}
	w->upgrade_note = "upgrade not started";
	ev.sig = w->s->upgrade_signal;
	watch_dispatch(w, &ev);
	if (w->st.upgrading == 0) {
		control_done(conn, false, w->upgrade_note);
		return;
	}
	control_info(conn, "upgrade started: " + gen_text(w, w->st.upgrading) +
	    " was asked to upgrade");
	control_wait(conn, CTL_UPGRADE);
}

static void
control_request_cb(struct control_conn *conn, const struct control_request *req, void *data)
{
	struct watch *w = (struct watch *)data;
	enum sitter_phase ph = sitter_phase(&w->st);
	struct event ev = watch_event(EV_SIGNAL);

	/* status is what monitoring polls: not worth a line each time. */
	log_event(req->cmd == CTL_STATUS ? LOG_DEBUG : LOG_INFO, "control request",
	    {{"command", control_cmd_name(req->cmd)}, {"peer", (long)conn->peer_pid}});
	switch (req->cmd) {
	case CTL_STATUS:
		if (req->json) {
			std::string json = report_status(&w->report, &w->st);
			json.pop_back();  /* its newline */
			control_info(conn, json);
		} else {
			for (const std::string &line : report_status_text(&w->report, &w->st))
				control_info(conn, line);
		}
		control_done(conn, true, "");
		break;
	case CTL_UPGRADE:
		control_upgrade(w, conn);
		break;
	case CTL_STOP:
		/* As TERM would: every generation, replayed to later ones;
		 * the reply comes at the exit (control_exit()). */
		control_wait(conn, CTL_STOP);
		if (ph == PHASE_STOPPING) {
			control_info(conn, "joining the stop in progress");
			break;
		}
		control_info(conn, "stopping: TERM to every generation");
		ev.sig = SIGTERM;
		watch_dispatch(w, &ev);
		break;
	}
}

int
watch_control(struct watch *w, std::string *why)
{
	if (w->s->control_socket.empty())
		return 0;
	return control_open(&w->ctl, w->loop, w->s->control_socket.c_str(),
	    w->s->owner_any ? (uid_t)-1 : w->s->owner, control_request_cb, w, why);
}
