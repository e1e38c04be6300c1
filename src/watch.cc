/*
 * watch.cc: libuv glue around the sitter: the generations' handles,
 * signals and children, and carrying out the sitter's actions.  The pid
 * file side (its directory's watch, reading what the files name, the
 * re-parented children) is pidwatch.cc; the control socket's requests,
 * watch_control.cc.
 *
 * Events come from: uv_signal handles (what to forward), SIGCHLD (reaping
 * subreaped children), a uv_fs_event on the pid file's directory (a new
 * PID), a uv_poll on each generation's pidfd (its death, then its reaping),
 * libuv's exit callback (our own child), and timers (start and upgrade
 * timeouts; re-reading the pid files while a new one is awaited; liveness
 * polling only where no pidfd can be had).
 *
 * Once a daemon runs, nothing here exits or aborts: errors are logged and
 * the watch goes on (catatonit's rule).
 */
#include "watch.h"

#include <errno.h>
#include <stdlib.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"
#include "pidfile.h"
#include "reap.h"
#include "report.h"
#include "signals.h"
#include "spawn.h"

static const char *const source_names[] = {"pid_file", "oldbin", "dot2", "spawned", "child",
    "parent", "forked", "mainpid"};
static const char *const role_names[] = {"current", "draining", "orphan"};
static const char *const status_names[] = {"child", "reap", "pidfd", "none"};

struct gen_watch *
watch_gen(struct watch *w, unsigned number)
{
	for (struct gen_watch *g : w->gens)
		if (g->number == number)
			return g;
	return NULL;
}

static struct gen_watch *
find_gen_pid(struct watch *w, pid_t pid)
{
	const struct generation *gen = sitter_gen_by_pid(&w->st, pid);

	return gen != NULL ? watch_gen(w, gen->number) : NULL;
}

/* What the sitter knows of g (it knows every generation we watch). */
static const struct generation *
gen_of(const struct gen_watch *g)
{
	return sitter_gen(&g->w->st, g->number);
}

struct event
watch_event(enum event_kind kind)
{
	struct event ev = {};

	ev.kind = kind;
	ev.pidfd = -1;
	return ev;
}

/* ---- generations' handles ---- */

static void
gen_close_cb(uv_handle_t *h)
{
	struct gen_watch *g = (struct gen_watch *)h->data;

	if (--g->open_handles == 0) {
		if (g->pidfd >= 0)
			close(g->pidfd);
		delete g;
	}
}

static void
gen_release(struct watch *w, struct gen_watch *g)
{
	for (size_t i = 0; i < w->gens.size(); i++)
		if (w->gens[i] == g)
			w->gens.erase(w->gens.begin() + (long)i);
	if (g->poll_init && !uv_is_closing((uv_handle_t *)&g->poll))
		uv_close((uv_handle_t *)&g->poll, gen_close_cb);
	if (!uv_is_closing((uv_handle_t *)&g->timer))
		uv_close((uv_handle_t *)&g->timer, gen_close_cb);
}

/* The generation is dead and its status known (or known to be unknown):
 * look for a successor first, so the sitter decides with all it knows. */
static void
gen_finish(struct gen_watch *g, int wstatus, enum status_source source)
{
	struct watch *w = g->w;
	struct event ev = watch_event(EV_EXIT);
	struct identity only;

	ev.number = g->number;
	ev.wstatus = wstatus;
	ev.status_source = source;
	pidwatch_recheck(w);
	/* What it left behind, re-parented to us: a forking start's daemon,
	 * a successor, or workers (the sitter tells which). */
	ev.children = pidwatch_orphans(w, &only);
	ev.pid = only.pid;
	ev.start_time = only.start_time;
	ev.pidfd = only.pidfd;
	ev.program = only.program;
	watch_dispatch(w, &ev);
	/* Now the daemon a start process left: the pid file may have named
	 * it before we knew it for ours (and refused it, under another name
	 * than BINARY's).  Read it again. */
	if (!w->done && sitter_forked_unnamed(&w->st))
		pidwatch_refresh(w);
}

/* Its parent has reaped it, or never did: the kernel's record of its
 * status is what there is (PIDFD_INFO_EXIT, proc.h). */
static void
gen_finish_pidfd(struct gen_watch *g)
{
	int wstatus;

	if (pidfd_exit_status(g->pidfd, &wstatus) == 0)
		gen_finish(g, wstatus, STATUS_PIDFD);
	else
		gen_finish(g, 0, STATUS_NONE);
}

static void gen_reaped_cb(uv_poll_t *p, int status, int events);

static void
gen_reap_timeout_cb(uv_timer_t *t)
{
	struct gen_watch *g = (struct gen_watch *)t->data;

	if (g->poll_init)
		uv_poll_stop(&g->poll);
	/* Its parent never reaped it: a zombie adopted daemon must not keep
	 * the wrapper waiting for ever (reap_timeout, pidsitter.toml(5)). */
	gen_finish_pidfd(g);
}

/* The process exited: get its status the most exact way there is. */
static void
gen_collect(struct gen_watch *g)
{
	int wstatus, r;

	g->exited = true;
	if (g->poll_init)
		uv_poll_stop(&g->poll);
	/* A re-parented (subreaped) generation is our child: reap it. */
	if (reap_pidfd(g->pidfd, &wstatus) == 0) {
		gen_finish(g, wstatus, STATUS_REAP);
		return;
	}
	r = pidfd_exit_status(g->pidfd, &wstatus);
	if (r == 0) {
		gen_finish(g, wstatus, STATUS_PIDFD);
		return;
	}
	if ((r == -ENODATA || r == -ESRCH) && g->poll_init) {
		/* Its parent has not reaped it yet (or is reaping it right
		 * now), and the kernel records the status only then; the
		 * pidfd reports POLLHUP at that moment.  Wait for it, but not
		 * for ever (gen_finish_pidfd asks once more). */
		uv_poll_start(&g->poll, UV_DISCONNECT, gen_reaped_cb);
		uv_timer_start(&g->timer, gen_reap_timeout_cb, g->w->s->reap_timeout_ms, 0);
		return;
	}
	gen_finish(g, 0, STATUS_NONE);
}

static void
gen_reaped_cb(uv_poll_t *p, int status, int events)
{
	struct gen_watch *g = (struct gen_watch *)p->data;

	(void)status;
	(void)events;
	uv_poll_stop(&g->poll);
	uv_timer_stop(&g->timer);
	gen_finish_pidfd(g);
}

static void
gen_poll_cb(uv_poll_t *p, int status, int events)
{
	struct gen_watch *g = (struct gen_watch *)p->data;

	/* Its death is handled (libuv's exit callback came first): the
	 * pidfd of a reaped process stays readable, and a poll left on it
	 * would wake the loop at every turn while the wrapper still runs
	 * (stopping what the daemon left, descendants.cc). */
	if (g->exited) {
		uv_poll_stop(p);
		return;
	}
	if (gen_of(g)->spawned) {
		/* Our own child exited: libuv reaps it when its SIGCHLD
		 * handler runs, then calls child_exit_cb.  But libuv drops
		 * a signal that finds its signal pipe full (a flood of
		 * signals to forward), SIGCHLD too: the child would stay a
		 * zombie and we would wait for ever.  Raise SIGCHLD again,
		 * but only when the pipe is empty: while it holds messages
		 * (the SIGCHLD's among them, as a rule), libuv reads them
		 * all in this turn of the loop or the next (uv__signal_event,
		 * src/unix/signal.c), and the pidfd, readable until the
		 * child is reaped, brings us back here if that was not
		 * enough.  Raising it every time cost the exit some dozen
		 * system calls. */
		int queued = 0;
		if (ioctl(g->w->loop->signal_pipefd[0], FIONREAD, &queued) < 0 || queued == 0)
			kill(getpid(), SIGCHLD);
		return;
	}
	if (status < 0 || (events & UV_READABLE))
		gen_collect(g);
}

/* No pidfd (Linux before 5.3): the process is alive while /proc says the
 * same start time and it is not a zombie. */
static void
gen_liveness_cb(uv_timer_t *t)
{
	struct gen_watch *g = (struct gen_watch *)t->data;
	const struct generation *gen = gen_of(g);
	struct proc_stat st;

	if (g->exited)
		return;
	if (proc_read_stat(gen->pid, &st) == 0 && st.state != 'Z' && st.state != 'X' &&
	    st.start_time == gen->start_time)
		return;
	g->exited = true;
	uv_timer_stop(&g->timer);
	gen_finish(g, 0, STATUS_NONE);
}

/* The handles of a generation the sitter now follows; it takes pidfd. */
static struct gen_watch *
gen_new(struct watch *w, unsigned number, int pidfd, bool spawned)
{
	struct gen_watch *g = new gen_watch();

	g->w = w;
	g->number = number;
	g->pidfd = pidfd;
	uv_timer_init(w->loop, &g->timer);
	g->timer.data = g;
	g->open_handles = 1;
	/* Our own child too: libuv's exit callback tells us, but see
	 * gen_poll_cb. */
	if (pidfd >= 0 && uv_poll_init(w->loop, &g->poll, pidfd) == 0) {
		g->poll.data = g;
		g->poll_init = true;
		g->open_handles++;
		uv_poll_start(&g->poll, UV_READABLE, gen_poll_cb);
	} else if (!spawned) {
		uv_timer_start(&g->timer, gen_liveness_cb, w->s->poll_interval_ms,
		    w->s->poll_interval_ms);
	}
	w->gens.push_back(g);
	return g;
}

/* ---- actions ---- */

static void
signal_gen(struct watch *w, const struct action *a)
{
	struct gen_watch *g = watch_gen(w, a->number);
	const struct generation *gen;
	char name[16], orig[16];
	long pid;
	int r;

	if (g == NULL || g->exited)
		return;
	gen = gen_of(g);
	pid = (long)gen->pid;
	if (g->pidfd >= 0) {
		r = pidfd_signal(g->pidfd, a->sig);
	} else {
		struct proc_stat st;
		/* Best effort without a pidfd: the start time still matches. */
		if (proc_read_stat(gen->pid, &st) == 0 && st.start_time == gen->start_time)
			r = kill(gen->pid, a->sig) < 0 ? -errno : 0;
		else
			r = -ESRCH;
	}
	if (r == 0)
		report_signal(&w->report, a->sig);
	signal_name(a->sig, name, sizeof name);
	signal_name(a->orig, orig, sizeof orig);
	if (r == 0 && a->orig == 0)
		/* The wrapper's own (stop_timeout): ACT_STOP_TIMEOUT said it. */
		log_event(LOG_DEBUG | LOG_VOLATILE, "signal sent", {{"signal", name},
		    {"process", pid}, {"generation", g->number}});
	else if (r == 0 && a->sig == a->orig)
		log_event(LOG_WARN | LOG_VOLATILE, "forwarding signal", {{"signal", name},
		    {"process", pid}, {"generation", g->number}});
	else if (r == 0)
		log_event(LOG_WARN | LOG_VOLATILE, "forwarding signal", {{"signal", name},
		    {"received", orig}, {"process", pid}, {"generation", g->number}});
	else if (r == -ESRCH)
		log_event(LOG_INFO | LOG_VOLATILE, "signal not delivered: the process has exited",
		    {{"signal", name}, {"process", pid}, {"generation", g->number}});
	else
		log_event(LOG_ERROR | LOG_VOLATILE, "can't forward the signal", {{"signal", name},
		    {"process", pid}, {"generation", g->number},
		    {"error", strerror(-r)}});
}

static void
start_timeout_cb(uv_timer_t *t)
{
	struct event ev = watch_event(EV_START_TIMEOUT);
	watch_dispatch((struct watch *)t->data, &ev);
}

static void
stop_timeout_cb(uv_timer_t *t)
{
	struct event ev = watch_event(EV_STOP_TIMEOUT);
	watch_dispatch((struct watch *)t->data, &ev);
}

static void
upgrade_timeout_cb(uv_timer_t *t)
{
	struct event ev = watch_event(EV_UPGRADE_TIMEOUT);
	watch_dispatch((struct watch *)t->data, &ev);
}

/* A generation's death: msg, with its status as far as it is known, and
 * (draining >= 0) how many generations still drain. */
static void
log_exit(int level, const char *msg, const struct action *a, long draining)
{
	const char *src = status_names[a->status_source];
	char name[16];
	log_field how = WIFSIGNALED(a->wstatus) ?
	    log_field("signal", signal_name(WTERMSIG(a->wstatus), name, sizeof name)) :
	    log_field("exit_code", WEXITSTATUS(a->wstatus));
	log_field proc("process", (long)a->pid), gen("generation", a->number);

	if (a->status_source == STATUS_NONE && draining < 0)
		log_event(level, msg, {proc, gen, {"status_source", src}});
	else if (a->status_source == STATUS_NONE)
		log_event(level, msg, {proc, gen, {"draining", draining}, {"status_source", src}});
	else if (draining < 0)
		log_event(level, msg, {proc, gen, how, {"status_source", src}});
	else
		log_event(level, msg, {proc, gen, how, {"draining", draining},
		    {"status_source", src}});
}

/* A dead generation's status, for a person (a control reply). */
static std::string
status_text(const struct action *a)
{
	char name[16];

	if (a->status_source == STATUS_NONE)
		return "exit status unknown";
	if (WIFSIGNALED(a->wstatus))
		return std::string("killed by ") +
		    signal_name(WTERMSIG(a->wstatus), name, sizeof name);
	return "exit code " + std::to_string(WEXITSTATUS(a->wstatus));
}

/* A pid file named generation number for the first time: it is the
 * daemon, and (current) its program is the one a successor may run
 * (match_rules).  If the names do not match it, say so once, with the
 * fix: its successors are still followed as the same program, but a
 * wrapper started while it runs (the next `sv restart` of a killed
 * wrapper) adopts only what names match, and would start a second daemon. */
static void
daemon_named(struct watch *w, unsigned number)
{
	const struct generation *gen = sitter_gen(&w->st, number);
	struct match_rules names = w->rules;
	struct identity id;
	std::string why;
	int r;

	if (gen == NULL)
		return;
	if (gen->program.known && number == w->st.current)
		w->rules.program = gen->program;
	if (w->names_warned)
		return;
	names.program = proc_program();
	names.any_program = false;
	r = proc_identify(gen->pid, &names, &id, &why);
	if (r == ID_OK)
		close(id.pidfd);
	if (r != ID_MISMATCH)
		return;
	w->names_warned = true;
	/* comm is what names match first, unless the kernel cut it. */
	std::string name = id.comm;
	if ((id.comm.size() >= 15 || !(w->rules.facts & MATCH_COMM)) &&
	    (w->rules.facts & MATCH_EXE) && !id.exe.empty())
		name = id.exe;
	log_event(LOG_WARN, "the names do not match the daemon",
	    {{"process", (long)gen->pid}, {"generation", number}, {"reason", why},
	    {"fix", "add it to names in the configuration file, names = [\"" + name +
	    "\"] (pidsitter.toml(5)): a wrapper started while it runs adopts only what "
	    "names match, and would start a second daemon"}});
}

/* The current generation's pid, for a log line (0: none). */
static long
current_pid(const struct watch *w)
{
	const struct generation *cur = sitter_gen(&w->st, w->st.current);

	return cur != NULL ? (long)cur->pid : 0;
}

/* The one way out of the wrapper, its exit status decided at ACT_EXIT
 * (w->exit_code) and what the daemon left dealt with. */
static void
finish(struct watch *w)
{
	uv_timer_stop(&w->stop_timer);
	log_event(LOG_ERROR, "wrapper for process shutting down",
	    {{"exit_code", w->exit_code}, {"reason", w->exit_why}});
	report_exit(&w->report, &w->st, w->exit_code);
	/* Not watch_close(): closing some forty signal handles costs more
	 * than all the rest of the exit, and death-to-exit is what a
	 * supervisor waits for.  main() exits at once and the kernel frees
	 * the rest. */
	uv_stop(w->loop);
}

static void
finish_cb(void *arg)
{
	finish((struct watch *)arg);
}

static int reap_decide(void *arg, pid_t pid);
static void reap_orphan(void *arg, pid_t pid, int wstatus);

static void
reap_cb(void *arg)
{
	reap_children(reap_decide, reap_orphan, arg);
}

/* The last generation is gone: what it left behind, re-parented to us,
 * is stopped (descendants = "stop") or named and left, then finish().
 * Stopped within the stop's time when one runs (the supervisor counts
 * its own timeout from the stop too); at once once it passed. */
static void
leave_descendants(struct watch *w)
{
	uint64_t kill_ms;

	if (uv_is_active((uv_handle_t *)&w->stop_timer))
		kill_ms = uv_timer_get_due_in(&w->stop_timer);
	else if (w->st.stop_expired)
		kill_ms = 0;
	else
		kill_ms = w->s->stop_timeout_ms != 0 ? w->s->stop_timeout_ms : 10000;
	uv_timer_stop(&w->stop_timer);
	descendants_end(&w->desc, w->s->descendants == DESCENDANTS_STOP, kill_ms, reap_cb,
	    finish_cb, w);
}

static void
run_action(struct watch *w, const struct action *a)
{
	const struct generation *gen;
	struct gen_watch *g;
	char name[16];

	switch (a->kind) {
	case ACT_SIGNAL:
		signal_gen(w, a);
		break;
	case ACT_DROP:
		if (a->orig == w->s->upgrade_signal)
			w->upgrade_note = std::string("upgrade not started: ") + a->why;
		log_event(LOG_INFO | LOG_VOLATILE, "signal not forwarded",
		    {{"signal", signal_name(a->orig, name, sizeof name)}, {"reason", a->why}});
		break;
	case ACT_FOLLOW:
		gen_new(w, a->number, a->pidfd, a->source == FOUND_SPAWNED);
		w->last_followed = a->number;
		if (a->number == 1)
			log_event(LOG_INFO, "monitoring process",
			    {{"process", (long)a->pid}, {"generation", a->number}});
		else
			log_event(LOG_INFO, "following new process",
			    {{"process", (long)a->pid}, {"generation", a->number},
			    {"source", source_names[a->source]}, {"role", role_names[a->role]}});
		if (a->role == ROLE_CURRENT)
			report_current(&w->report, &w->st);
		break;
	case ACT_IGNORE:
		log_event(LOG_WARN, "not following process",
		    {{"process", (long)a->pid}, {"reason", a->why}});
		break;
	case ACT_CURRENT:
		gen = sitter_gen(&w->st, a->number);
		/* A new generation's FOLLOW line already said it is current. */
		if (gen != NULL && a->number != w->last_followed)
			log_event(LOG_INFO, "process is current",
			    {{"process", (long)gen->pid}, {"generation", a->number}});
		if (gen != NULL && gen->program.known)
			w->rules.program = gen->program;
		break;
	case ACT_DRAIN:
		gen = sitter_gen(&w->st, a->number);
		if (gen != NULL)
			log_event(LOG_INFO, "process draining",
			    {{"process", (long)gen->pid}, {"generation", a->number}});
		break;
	case ACT_GONE:
		g = watch_gen(w, a->number);
		if (g == NULL)
			break;
		log_exit(a->role == ROLE_CURRENT ? LOG_WARN : LOG_INFO, "process exited", a, -1);
		/* The last one: ACT_EXIT follows, and the kernel closes its
		 * handles' descriptors with the rest (see ACT_EXIT). */
		if (sitter_phase(&w->st) != PHASE_EXITED)
			gen_release(w, g);
		break;
	case ACT_READY:
		if (a->first)
			daemon_named(w, a->number);
		if (sitter_ready(&w->st))
			report_ready(&w->report, &w->st);
		break;
	case ACT_WAIT_PIDFILE:
		log_event(LOG_INFO, "start process exited; waiting for the daemon's pid file",
		    {{"pid_file", w->s->pid_file},
		    {"timeout_ms", (unsigned long long)w->s->start_timeout_ms}});
		uv_timer_start(&w->start_timer, start_timeout_cb, w->s->start_timeout_ms, 0);
		break;
	case ACT_PIDFILE_CAME:
		uv_timer_stop(&w->start_timer);
		break;
	case ACT_UPGRADE_BEGIN:
		gen = sitter_gen(&w->st, a->number);
		log_event(LOG_INFO, "upgrade started",
		    {{"process", (long)(gen ? gen->pid : 0)}, {"generation", a->number}});
		uv_timer_start(&w->upgrade_timer, upgrade_timeout_cb, w->s->upgrade_timeout_ms, 0);
		report_upgrade_begin(&w->report);
		break;
	case ACT_UPGRADE_DONE:
		uv_timer_stop(&w->upgrade_timer);
		gen = sitter_gen(&w->st, a->number);
		log_event(LOG_INFO, "upgrade complete",
		    {{"process", (long)(gen ? gen->pid : 0)}, {"generation", a->number}});
		report_upgrade_end(&w->report, &w->st, "complete");
		control_verdict(&w->ctl, CTL_UPGRADE, true, "upgrade complete: generation " +
		    std::to_string(a->number) + " (pid " + std::to_string(gen ? gen->pid : 0) +
		    ") is current");
		break;
	case ACT_UPGRADE_REFUSED:
		report_upgrade_refused(&w->report);
		w->upgrade_note = std::string(a->why) + ": generation " +
		    std::to_string(a->number) + " (pid " + std::to_string(a->pid) +
		    ") is still draining";
		log_event(LOG_WARN, "upgrade not started", {{"reason", std::string(a->why) +
		    ": generation " + std::to_string(a->number) + " is still draining"},
		    {"draining_process", (long)a->pid}, {"generation", w->st.current}});
		w->upgrade_note = "upgrade not started: " + w->upgrade_note;
		break;
	case ACT_SUCCESSOR_DIED:
		uv_timer_stop(&w->upgrade_timer);
		log_exit(LOG_ERROR, (std::string("upgrade failed: ") + a->why).c_str(), a,
		    (long)w->st.gens.size());
		report_upgrade_end(&w->report, &w->st, "failed");
		control_verdict(&w->ctl, CTL_UPGRADE, false, std::string("upgrade failed: ") +
		    a->why + " (pid " + std::to_string(a->pid) + ", " + status_text(a) + ")");
		break;
	case ACT_UPGRADE_FAILED:
		uv_timer_stop(&w->upgrade_timer);
		if (a->maybe_reload)
			log_event(LOG_INFO, "no new process after the upgrade signal; the current process stays",
			    {{"reason", a->why}, {"process", current_pid(w)},
			    {"generation", w->st.current}});
		else
			log_event(LOG_WARN, "upgrade failed; the current process stays",
			    {{"reason", a->why}, {"process", current_pid(w)},
			    {"generation", w->st.current}});
		report_upgrade_end(&w->report, &w->st, "failed");
		control_verdict(&w->ctl, CTL_UPGRADE, false, std::string("upgrade failed: ") +
		    a->why + "; generation " + std::to_string(w->st.current) + " (pid " +
		    std::to_string(current_pid(w)) + ") stays current");
		break;
	case ACT_LEAVE:
		log_event(LOG_WARN, "the daemon is gone; stopping the processes it left",
		    {{"reason", a->why}, {"processes", (unsigned long long)w->gens.size()},
		    {"exit_code", a->code}});
		break;
	case ACT_STOP_BEGIN:
		if (w->s->stop_timeout_ms != 0)
			uv_timer_start(&w->stop_timer, stop_timeout_cb, w->s->stop_timeout_ms, 0);
		/* An adopted daemon's children are not ours: they go to init
		 * when it dies.  Pinned now, they can be stopped at the end
		 * (descendants_pin skips the generations that are ours). */
		if (w->s->descendants == DESCENDANTS_STOP)
			for (const struct generation &o : w->st.gens)
				descendants_pin(&w->desc, o.pid);
		break;
	case ACT_STOP_TIMEOUT: {
		std::vector<pid_t> pids;
		for (const struct generation &o : w->st.gens)
			pids.push_back(o.pid);
		log_event(LOG_WARN, "stop timeout: killing the processes left",
		    {{"reason", a->why}, {"timeout_ms", (unsigned long long)w->s->stop_timeout_ms},
		    {"processes", pid_list(pids, pids.size())}});
		break;
	}
	case ACT_EXIT:
		w->done = true;
		w->exit_code = a->code;
		w->exit_why = a->why;
		leave_descendants(w);
		break;
	}
}

/* The one way into the sitter: step, carry out each action, report.  It
 * consumes ev->pidfd: an ACT_FOLLOW hands it to the new generation,
 * otherwise it is closed here. */
void
watch_dispatch(struct watch *w, struct event *ev)
{
	std::vector<struct action> acts;
	bool taken = false;

	sitter_step(&w->st, ev, &acts);
	for (const struct action &a : acts) {
		run_action(w, &a);
		taken |= a.kind == ACT_FOLLOW && a.pidfd >= 0 && a.pidfd == ev->pidfd;
	}
	if (!taken && ev->pidfd >= 0)
		close(ev->pidfd);
	ev->pidfd = -1;
	w->last_followed = 0;
	if (!acts.empty())
		report_sync(&w->report, &w->st);
	/* An upgrade can also end without a verdict of its own: the old
	 * process died and nothing is left to upgrade. */
	if (w->st.upgrading == 0 && control_waiting(&w->ctl, CTL_UPGRADE))
		control_verdict(&w->ctl, CTL_UPGRADE, false,
		    "upgrade failed: it ended with no new current process");
	pidwatch_sync(w);
	notify_sync(w);
}

/* Tell the sitter of a process whose identity was checked, found at
 * source; id->pidfd goes with it (watch_dispatch). */
void
watch_dispatch_identity(struct watch *w, struct identity *id, enum found_source source)
{
	struct event ev = watch_event(EV_FOUND);

	ev.pid = id->pid;
	ev.start_time = id->start_time;
	ev.source = source;
	ev.pidfd = id->pidfd;
	ev.program = id->program;
	id->pidfd = -1;
	watch_dispatch(w, &ev);
}

/* ---- signals and children ---- */

static void
signal_cb(uv_signal_t *h, int signum)
{
	struct watch *w = (struct watch *)h->data;
	struct event ev = watch_event(EV_SIGNAL);

	ev.sig = signum;
	watch_dispatch(w, &ev);
}

static int
reap_decide(void *arg, pid_t pid)
{
	struct watch *w = (struct watch *)arg;
	struct gen_watch *g;
	int wstatus;

	if (w->child_running && pid == w->child_pid)
		return REAP_SKIP;
	g = find_gen_pid(w, pid);
	if (g != NULL && !g->exited && !gen_of(g)->spawned && g->pidfd >= 0 &&
	    reap_pidfd(g->pidfd, &wstatus) == 0) {
		g->exited = true;
		if (g->poll_init)
			uv_poll_stop(&g->poll);
		gen_finish(g, wstatus, STATUS_REAP);
		return REAP_DONE;
	}
	return REAP_ORPHAN;
}

static void
reap_orphan(void *arg, pid_t pid, int wstatus)
{
	(void)arg;
	log_event(LOG_DEBUG, "reaped orphan", {{"process", (long)pid},
	    {"status", wstatus}});
}

static void
sigchld_cb(uv_signal_t *h, int signum)
{
	struct watch *w = (struct watch *)h->data;

	(void)signum;
	/* Stopping what the daemon left: reap, and look for new ones. */
	if (w->desc.stopping) {
		descendants_rescan(&w->desc);
		return;
	}
	/* Once the exit is decided, main's reap_leftovers() does it. */
	if (w->done)
		return;
	reap_children(reap_decide, reap_orphan, w);
}

static void
child_exit_cb(uv_process_t *p, int64_t exit_status, int term_signal)
{
	struct watch *w = (struct watch *)p->data;
	struct gen_watch *g = find_gen_pid(w, w->child_pid);
	int wstatus = term_signal != 0 ? term_signal : (int)((exit_status & 0xff) << 8);

	w->child_running = false;
	if (g != NULL && gen_of(g)->spawned && !g->exited) {
		g->exited = true;
		gen_finish(g, wstatus, STATUS_CHILD);
	}
	/* Closing the last process handle stops libuv's own SIGCHLD
	 * handle (uv__process_close, src/unix/process.c): four system
	 * calls that an exit decided just now has no use for. */
	if (!w->done)
		uv_close((uv_handle_t *)p, NULL);
}

int
watch_init(struct watch *w, uv_loop_t *loop, const struct settings *s)
{
	int sigs[SIG_LIMIT];
	char name[16];
	size_t n;
	int r;

	w->loop = loop;
	w->s = s;
	sitter_init(&w->st, s);
	report_init(&w->report, s, getenv("NOTIFY_SOCKET"));
	report_attach_loop(&w->report, loop);
	w->rules.names = s->names;
	w->rules.facts = s->match_facts;
	w->rules.owner_any = s->owner_any;
	w->rules.owner = s->owner;
	w->pid_max = pidfile_pid_max();
	w->dir_watching = false;
	w->rereading = false;
	w->pidfile_seen = SEEN_NOTHING;
	w->pidfile_pid = 0;
	w->child_running = false;
	w->child_pid = 0;
	w->last_followed = 0;
	w->names_warned = false;
	w->done = false;
	w->exit_code = 0;
	w->exit_why = "";
	w->ctl.listening = false;
	w->ctl.dirfd = -1;

	size_t slash = s->pid_file.find_last_of('/');
	if (slash == std::string::npos) {
		w->dir = ".";
		w->base = s->pid_file;
	} else {
		w->dir = slash == 0 ? "/" : s->pid_file.substr(0, slash);
		w->base = s->pid_file.substr(slash + 1);
	}

	/* SIGCHLD first: without it a re-parented generation would stay a
	 * zombie, and the wrapper would never see it die. */
	uv_signal_init(loop, &w->sigchld);
	w->sigchld.data = w;
	if ((r = uv_signal_start(&w->sigchld, sigchld_cb, SIGCHLD)) != 0)
		return r;
	n = signals_forwarded(sigs);
	w->nsignals = 0;
	for (size_t i = 0; i < n; i++) {
		uv_signal_t *h = &w->signals[w->nsignals++];
		uv_signal_init(loop, h);
		h->data = w;
		/* One signal we cannot catch is not worth failing for: it
		 * is logged, and the rest are forwarded. */
		if ((r = uv_signal_start(h, signal_cb, sigs[i])) != 0)
			log_event(LOG_WARN, "cannot catch signal",
			    {{"signal", signal_name(sigs[i], name, sizeof name)},
			    {"error", uv_strerror(r)}});
	}
	uv_fs_event_init(loop, &w->dir_event);
	w->dir_event.data = w;
	uv_timer_init(loop, &w->dir_retry);
	w->dir_retry.data = w;
	uv_timer_init(loop, &w->start_timer);
	w->start_timer.data = w;
	uv_timer_init(loop, &w->upgrade_timer);
	w->upgrade_timer.data = w;
	uv_timer_init(loop, &w->reread_timer);
	w->reread_timer.data = w;
	uv_timer_init(loop, &w->stop_timer);
	w->stop_timer.data = w;
	descendants_init(&w->desc, loop);
	return 0;
}

void
watch_adopt(struct watch *w, struct identity *id)
{
	struct identity parent;
	std::string why;
	pid_t ppid = id->ppid;

	watch_dispatch_identity(w, id, FOUND_PIDFILE);

	/* A wrapper started during a drain (the previous one was killed):
	 * the daemon's successor is the child of the old process until that
	 * exits (tableflip; nginx's new master too).  When the parent is the
	 * same daemon, it is that old generation: follow it, so that a stop
	 * reaches it as well. */
	if (ppid <= 1 || proc_identify(ppid, &w->rules, &parent, &why) != ID_OK)
		return;
	watch_dispatch_identity(w, &parent, FOUND_PARENT);
}

int
watch_spawn(struct watch *w)
{
	struct identity id;
	struct proc_stat st;
	int r;

	w->child.data = w;
	r = spawn_daemon(w->loop, &w->child, w->s, child_exit_cb,
	    w->notify.fd >= 0 ? w->notify.address.c_str() : NULL);
	if (r != 0)
		return r;
	w->child_running = true;
	w->child_pid = w->child.pid;
	/* libuv reaps only from the loop, which is not running: the pid is
	 * still our child's, so the pidfd cannot name anyone else. */
	id.pid = w->child_pid;
	id.pidfd = pidfd_open_pid(w->child_pid);
	id.start_time = proc_read_stat(w->child_pid, &st) == 0 ? st.start_time : 0;
	watch_dispatch_identity(w, &id, FOUND_SPAWNED);
	return 0;
}

static void
close_walk_cb(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

void
watch_close(struct watch *w)
{
	std::vector<struct gen_watch *> gens = w->gens;

	w->done = true;
	control_close(&w->ctl);
	notify_close(w);
	for (struct gen_watch *g : gens)
		gen_release(w, g);
	/* What is left is embedded in struct watch. */
	uv_walk(w->loop, close_walk_cb, NULL);
}
