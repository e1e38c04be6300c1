/*
 * sitter.cc: the transition function.  Each case is short on purpose; the
 * man page, UPGRADES, tells the same story in prose.
 */
#include "sitter.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "signals.h"

/* At most this many signals are replayed to a generation that appears
 * after the stop began (TERM then CONT is the usual pair). */
#define REPLAY_MAX 8

void
sitter_init(struct sitter *st, const struct settings *s)
{
	*st = sitter();
	st->sig = s->sig;
	st->recipe = s->recipe;
	st->upgrade_signal = s->upgrade_signal;
	st->ready_notify = s->ready == READY_NOTIFY;
	st->state = SITTER_RUNNING;
	st->next_number = 1;
	st->stop_notice = s->stop_timeout_ms != 0 || s->descendants == DESCENDANTS_STOP;
}

const struct generation *
sitter_gen(const struct sitter *st, unsigned number)
{
	for (const struct generation &g : st->gens)
		if (g.number == number)
			return &g;
	return NULL;
}

const struct generation *
sitter_gen_by_pid(const struct sitter *st, pid_t pid)
{
	for (const struct generation &g : st->gens)
		if (g.pid == pid)
			return &g;
	return NULL;
}

static struct generation *
gen_mut(struct sitter *st, unsigned number)
{
	return const_cast<struct generation *>(sitter_gen(st, number));
}

/* Is a generation of the daemon left, current or draining?  Orphans are
 * not the daemon until evidence says so. */
static bool
daemon_left(const struct sitter *st)
{
	for (const struct generation &g : st->gens)
		if (g.role != ROLE_ORPHAN)
			return true;
	return false;
}

enum sitter_phase
sitter_phase(const struct sitter *st)
{
	if (st->state == SITTER_DONE)
		return PHASE_EXITED;
	if (st->stopping)
		return PHASE_STOPPING;
	if (st->upgrading != 0)
		return PHASE_UPGRADING;
	if (st->state == SITTER_WAIT_PIDFILE ||
	    !(st->ready_notify ? st->ready_seen : st->pidfile_seen))
		return PHASE_STARTING;
	return PHASE_RUNNING;
}

bool
sitter_awaits_pidfile(const struct sitter *st)
{
	return st->state != SITTER_DONE &&
	    (st->upgrading != 0 || st->state == SITTER_WAIT_PIDFILE);
}

bool
sitter_forked_unnamed(const struct sitter *st)
{
	const struct generation *cur = sitter_gen(st, st->current);

	return st->state != SITTER_DONE && cur != NULL && cur->start && !cur->spawned &&
	    !st->pidfile_seen;
}

bool
sitter_ready(const struct sitter *st)
{
	const struct generation *cur = sitter_gen(st, st->current);

	if (cur == NULL)
		return false;
	return st->ready_notify ? cur->ready : cur->named;
}

int
sitter_exit_code(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return 0;
}

static struct action
act(enum action_kind kind, unsigned number)
{
	struct action a;

	memset(&a, 0, sizeof a);
	a.kind = kind;
	a.number = number;
	return a;
}

static void
send(std::vector<struct action> *out, unsigned number, int sig, int orig)
{
	struct action a = act(ACT_SIGNAL, number);
	a.sig = sig;
	a.orig = orig;
	out->push_back(a);
}

static void
drop(std::vector<struct action> *out, int sig, const char *why)
{
	struct action a = act(ACT_DROP, 0);
	a.orig = sig;
	a.why = why;
	out->push_back(a);
}

/* A stop goes out.  The first one says so, once: the glue arms
 * stop_timeout from here, whatever started the stop (a signal received,
 * the orphans left), and a later stop does not arm it again. */
static void
begin_stop(struct sitter *st, std::vector<struct action> *out)
{
	st->stopping = true;
	if (st->stop_notice && !st->stop_begun) {
		st->stop_begun = true;
		out->push_back(act(ACT_STOP_BEGIN, 0));
	}
}

/* What a generation found during a stop gets: what the others got, and
 * SIGKILL once stop_timeout has passed. */
static void
replay_to(const struct sitter *st, unsigned number, std::vector<struct action> *out)
{
	for (int sig : st->replay)
		send(out, number, sig, sig);
	if (st->stop_expired)
		send(out, number, SIGKILL, 0);
}

/* stop_timeout passed: every live one, generation or orphan, is killed.
 * The exit status stays the current generation's (137 when it is the one
 * killed here, section "Exit status rules" of doc/DESIGN.md). */
static void
stop_timeout(struct sitter *st, std::vector<struct action> *out)
{
	struct action a;

	if (!st->stopping || st->stop_expired)
		return;
	st->stop_expired = true;
	if (st->gens.empty())
		return;
	a = act(ACT_STOP_TIMEOUT, 0);
	a.why = "stop_timeout passed";
	out->push_back(a);
	for (const struct generation &g : st->gens)
		send(out, g.number, SIGKILL, 0);
}

/* Make number the current generation; the old current one drains. */
static void
make_current(struct sitter *st, unsigned number, std::vector<struct action> *out)
{
	struct generation *g;

	if (st->current == number)
		return;
	if (st->current != 0 && (g = gen_mut(st, st->current)) != NULL) {
		g->role = ROLE_DRAINING;
		g->superseded = true;
		out->push_back(act(ACT_DRAIN, g->number));
	}
	g = gen_mut(st, number);
	g->role = ROLE_CURRENT;
	g->superseded = false;
	st->current = number;
	out->push_back(act(ACT_CURRENT, number));
}

/* The recipes that upgrade a master with USR2 (pidsitter.toml(5)). */
static bool
usr2_recipe(const struct sitter *st)
{
	return st->recipe == RECIPE_NGINX || st->recipe == RECIPE_GUNICORN;
}

/* The recipe's upgrade is over: a new master is current.  The old one is
 * told to stop gracefully (the operator's step, done for them): QUIT for
 * nginx and unicorn, TERM for gunicorn, to which QUIT is the fast stop
 * that cuts the requests in flight. */
static void
upgrade_done(struct sitter *st, unsigned number, std::vector<struct action> *out)
{
	unsigned old = st->upgrading;
	int retire = st->recipe == RECIPE_GUNICORN ? SIGTERM : SIGQUIT;

	st->upgrading = 0;
	out->push_back(act(ACT_UPGRADE_DONE, number));
	if (usr2_recipe(st) && sitter_gen(st, old) != NULL)
		send(out, old, retire, retire);
}

/* gunicorn's new master writes <pidfile>.2, and the pid file itself only
 * once the old master is gone (it renames its file when its parent, the
 * old master, has died).  With the gunicorn recipe, a process that .2
 * names while an upgrade is under way, and that started after the
 * process asked to upgrade, is the new master: current from then on. */
static bool
gunicorn_successor(const struct sitter *st, const struct event *ev)
{
	const struct generation *up = sitter_gen(st, st->upgrading);

	return st->recipe == RECIPE_GUNICORN && ev->source == FOUND_DOT2 && up != NULL &&
	    (ev->start_time > up->start_time ||
	    (ev->start_time == up->start_time && !ev->born_before_current));
}

/* A generation of the daemon other than the current one: while one
 * drains, the daemon refuses to upgrade again (tableflip: "parent hasn't
 * exited" in the new process, and the old one has upgraded once already;
 * nginx ignores USR2 while the old master runs; gunicorn while its child
 * or parent does).  Tracking such a request would only report an upgrade
 * in progress, and tell systemd RELOADING=1, until upgrade_timeout.  Not
 * a daemon: an orphan, and a forking start's start process that no pid
 * file named (nginx's, still on its way out after forking the master). */
const struct generation *
sitter_draining(const struct sitter *st)
{
	for (const struct generation &g : st->gens)
		if (g.number != st->current && g.role != ROLE_ORPHAN && !(g.start && !g.named))
			return &g;
	return NULL;
}

static void
refused(std::vector<struct action> *out, const struct generation *g)
{
	struct action a = act(ACT_UPGRADE_REFUSED, g->number);
	a.pid = g->pid;
	a.why = "the daemon will refuse it";
	out->push_back(a);
}

static void
on_signal(struct sitter *st, int sig, std::vector<struct action> *out)
{
	const struct generation *old;
	int target;

	bool every = (st->sig.every | SIGNAL_ALWAYS_STOP) & SIG_BIT(sig);
	bool stop = (st->sig.stop | SIGNAL_ALWAYS_STOP) & SIG_BIT(sig);

	if (st->sig.ignore & SIG_BIT(sig)) {
		drop(out, sig, "ignored by the configuration");
		return;
	}
	if (sig == st->upgrade_signal && usr2_recipe(st) && !st->stopping) {
		if (st->current == 0) {
			drop(out, sig, "no current process to upgrade");
		} else if (st->upgrading != 0) {
			drop(out, sig, "an upgrade is already in progress");
		} else if ((old = sitter_draining(st)) != NULL) {
			send(out, st->current, SIGUSR2, sig);
			refused(out, old);
		} else {
			/* What .oldbin said of an earlier try is no news. */
			st->upgrading = st->current;
			gen_mut(st, st->current)->oldbin = false;
			send(out, st->current, SIGUSR2, sig);
			out->push_back(act(ACT_UPGRADE_BEGIN, st->current));
		}
		return;
	}

	target = st->sig.rewrite[sig] != 0 ? st->sig.rewrite[sig] : sig;
	if (every) {
		if (stop)
			begin_stop(st, out);
		/* Once stopping, a generation that appears later (an upgrade
		 * that was under way) must get what the others got. */
		if (st->stopping && st->replay.size() < REPLAY_MAX)
			st->replay.push_back(target);
		bool sent = false;
		for (const struct generation &g : st->gens) {
			/* An orphan is not the daemon, but a stop reaches it:
			 * nothing of the service is left unsupervised. */
			if (g.role == ROLE_ORPHAN && !st->stopping)
				continue;
			send(out, g.number, target, sig);
			sent = true;
		}
		/* Nobody to forward to: dropped, unless it is a stop, which
		 * a daemon not yet known (a forking start) gets replayed. */
		if (!sent && !st->stopping)
			drop(out, sig, "no process to forward to");
		return;
	}
	if (st->current == 0) {
		drop(out, sig, "no current process to forward to");
		return;
	}
	send(out, st->current, target, sig);
	if (sig == st->upgrade_signal && st->upgrading == 0 && !st->stopping) {
		/* tableflip: the daemon upgrades itself; watch for the new one
		 * so that a failed upgrade is noticed and logged. */
		if ((old = sitter_draining(st)) != NULL) {
			refused(out, old);
			return;
		}
		st->upgrading = st->current;
		out->push_back(act(ACT_UPGRADE_BEGIN, st->current));
	}
}

/* A pid file names generation number: it is the daemon.  The first time,
 * what it runs now is its program (a script that exec'd the daemon is the
 * daemon by now). */
static void
pidfile_names(struct sitter *st, unsigned number, const struct event *ev,
    std::vector<struct action> *out)
{
	struct generation *g = gen_mut(st, number);
	struct action a = act(ACT_READY, number);

	st->pidfile_seen = true;
	if (st->ready_notify && g->ready && number == st->current)
		st->ready_seen = true;
	if (!g->named) {
		g->named = true;
		a.first = true;
		if (ev->program.known)
			g->program = ev->program;
	}
	out->push_back(a);
	/* With ready = "notify" the upgrade is done when the new one says
	 * READY=1 (on_ready), which may come first. */
	if (st->upgrading != 0 && st->upgrading != number &&
	    (!st->ready_notify || g->ready))
		upgrade_done(st, number, out);
}

/* READY=1 from generation number or a descendant (notify.cc found which).
 * With ready = "notify", the current one's makes the service ready and
 * ends an upgrade; a draining one's is only noted.  With "pidfile" it is
 * only noted: the pid file says when. */
static void
on_ready(struct sitter *st, unsigned number, std::vector<struct action> *out)
{
	struct generation *g = gen_mut(st, number);

	if (g == NULL || g->role == ROLE_ORPHAN || g->ready)
		return;
	g->ready = true;
	if (!st->ready_notify || number != st->current)
		return;
	st->ready_seen = true;
	out->push_back(act(ACT_READY, number));
	if (st->upgrading != 0 && st->upgrading != number)
		upgrade_done(st, number, out);
}

static void
on_found(struct sitter *st, const struct event *ev, std::vector<struct action> *out)
{
	const struct generation *known = sitter_gen_by_pid(st, ev->pid);
	bool named = ev->source == FOUND_PIDFILE || ev->source == FOUND_MAINPID;
	bool orphan = ev->source == FOUND_CHILD;
	unsigned number;
	enum gen_role role;
	struct action a;

	if (st->state == SITTER_LEAVING) {
		/* Too late for evidence: the orphans were told to stop, and
		 * whatever appears now is one more, told the same. */
		if (known != NULL)
			return;
		named = false;
		orphan = true;
	}
	if (known != NULL && known->role != ROLE_ORPHAN) {
		struct generation *g = gen_mut(st, known->number);
		if (ev->source == FOUND_OLDBIN && known->number == st->upgrading && usr2_recipe(st))
			g->oldbin = true;
		/* gunicorn's pid file names the old master until it exits:
		 * no news once the recipe made the new master current. */
		if (named && st->recipe == RECIPE_GUNICORN && known->superseded)
			return;
		if (named && known->number == st->upgrading && known->oldbin) {
			/* nginx and unicorn give the pid file back to the old
			 * master when the new one exits before it serves. */
			g->oldbin = false;
			st->upgrading = 0;
			a = act(ACT_UPGRADE_FAILED, known->number);
			a.why = "the new master exited; the old one took its pid file back";
			out->push_back(a);
		}
		if (named) {
			/* A draining one named now: gunicorn's <pidfile>.2
			 * renamed, or nginx's rollback. */
			make_current(st, known->number, out);
			pidfile_names(st, known->number, ev, out);
		}
		return;
	}
	/* An orphan found again as one is no news; named by a pid file, it
	 * is the daemon (below). */
	if (known != NULL && (orphan || ev->source == FOUND_SPAWNED ||
	    ev->source == FOUND_FORKED))
		return;
	if (named && st->current != 0 && ev->source != FOUND_SPAWNED) {
		const struct generation *cur = sitter_gen(st, st->current);
		/* A successor starts after its predecessor.  An older process
		 * is what a torn or stale pid file names, not an upgrade.
		 * Start times are in clock ticks: in the same tick, the
		 * pidfds' order tells (pidfd_born_before in proc.h). */
		if (ev->start_time < cur->start_time ||
		    (ev->start_time == cur->start_time && ev->born_before_current)) {
			a = act(ACT_IGNORE, 0);
			a.pid = ev->pid;
			a.why = "it started before the current process";
			out->push_back(a);
			return;
		}
	}

	bool successor = known == NULL && gunicorn_successor(st, ev);
	role = named || successor || ev->source == FOUND_SPAWNED || st->current == 0 ?
	    ROLE_CURRENT : ROLE_DRAINING;
	if (known != NULL) {
		/* The evidence came for an orphan: it is the daemon. */
		number = known->number;
		if (role == ROLE_DRAINING) {
			gen_mut(st, number)->role = ROLE_DRAINING;
			out->push_back(act(ACT_DRAIN, number));
		}
	} else {
		struct generation g = {};

		g.number = st->next_number++;
		g.pid = ev->pid;
		g.start_time = ev->start_time;
		g.role = orphan ? ROLE_ORPHAN : ROLE_DRAINING;
		g.spawned = ev->source == FOUND_SPAWNED;
		g.start = g.spawned;
		/* An old master (.oldbin) and the adopted daemon's parent were
		 * replaced before we saw them. */
		g.superseded = ev->source == FOUND_OLDBIN || ev->source == FOUND_PARENT;
		/* What it runs, checked against the names or the daemon's
		 * program.  Not for what was spawned or re-parented: that may
		 * still be a script that has yet to exec the daemon (the
		 * program is taken when a pid file names it). */
		if (!g.spawned && !orphan)
			g.program = ev->program;
		st->gens.push_back(g);
		number = g.number;

		a = act(ACT_FOLLOW, g.number);
		a.pid = g.pid;
		a.pidfd = ev->pidfd;
		a.source = ev->source;
		a.role = orphan ? ROLE_ORPHAN : role;
		out->push_back(a);
		replay_to(st, g.number, out);
		if (orphan)
			return;
	}

	if (st->state == SITTER_WAIT_PIDFILE) {
		st->state = SITTER_RUNNING;
		out->push_back(act(ACT_PIDFILE_CAME, number));
	}
	if (role == ROLE_CURRENT)
		make_current(st, number, out);
	if (named)
		pidfile_names(st, number, ev, out);
	else if (successor)
		upgrade_done(st, number, out);
}

/* The daemon is gone and nothing names a successor.  What is left are
 * orphans: a crashed master's workers, a successor that never said it was
 * ready.  None may run on unsupervised (the next start would meet them):
 * they are stopped as `sv down` stops a service, TERM (as rewritten) then
 * CONT, and the wrapper exits with code once they are gone. */
static void
leave(struct sitter *st, int code, const char *why, std::vector<struct action> *out)
{
	static const int stop[] = {SIGTERM, SIGCONT};
	struct action a;

	st->state = SITTER_LEAVING;
	st->leave_code = code;
	st->leave_why = why;
	st->status_final = true;
	a = act(ACT_LEAVE, 0);
	a.code = code;
	a.why = why;
	out->push_back(a);
	begin_stop(st, out);
	for (int sig : stop) {
		int target = st->sig.rewrite[sig] != 0 ? st->sig.rewrite[sig] : sig;
		if (st->replay.size() < REPLAY_MAX)
			st->replay.push_back(target);
		for (const struct generation &g : st->gens)
			send(out, g.number, target, target);
	}
}

/* Exit when nothing is left to follow; leave when only orphans are, and
 * no stop nor upgrade is under way (a stop reached them already; an
 * upgrade's successor may yet name itself in the pid file). */
static void
check_end(struct sitter *st, std::vector<struct action> *out)
{
	struct action a;

	if (st->state == SITTER_LEAVING && st->gens.empty()) {
		st->state = SITTER_DONE;
		a = act(ACT_EXIT, 0);
		a.code = st->leave_code;
		a.why = st->leave_why;
		out->push_back(a);
		return;
	}
	if (st->state != SITTER_RUNNING || daemon_left(st))
		return;
	int code = st->have_status ? sitter_exit_code(st->last_status) : 0;
	if (st->gens.empty()) {
		st->state = SITTER_DONE;
		a = act(ACT_EXIT, 0);
		a.code = code;
		a.why = "no process left";
		out->push_back(a);
	} else if (!st->stopping && st->upgrading == 0) {
		leave(st, code, "the daemon exited and no pid file names a successor", out);
	}
}

/* A start process exited 0 and left exactly one live process, re-parented
 * to us: that is the daemon it forked (nginx with "daemon on", systemd's
 * Type=forking, a script that backgrounds the daemon), whatever its name. */
static void
take_forked(struct sitter *st, const struct event *ev, std::vector<struct action> *out)
{
	const struct generation *known = sitter_gen_by_pid(st, ev->pid);
	unsigned number;

	if (known != NULL) {
		number = known->number;
	} else {
		struct generation g = {};
		struct action a;

		g.number = st->next_number++;
		g.pid = ev->pid;
		g.start_time = ev->start_time;
		g.role = ROLE_DRAINING;
		g.spawned = false;
		g.start = false;
		st->gens.push_back(g);
		number = g.number;
		a = act(ACT_FOLLOW, number);
		a.pid = g.pid;
		a.pidfd = ev->pidfd;
		a.source = FOUND_FORKED;
		a.role = ROLE_CURRENT;
		out->push_back(a);
		replay_to(st, number, out);
	}
	/* It may fork again (a double fork): until a pid file names the
	 * daemon, its own exit 0 is read the same way. */
	gen_mut(st, number)->start = true;
	make_current(st, number, out);
}

static void
on_exit(struct sitter *st, const struct event *ev, std::vector<struct action> *out)
{
	const struct generation *gp = sitter_gen(st, ev->number);
	struct generation g;
	struct action a;
	int status = ev->status_source == STATUS_NONE ? 0 : ev->wstatus;

	if (gp == NULL)
		return;
	g = *gp;
	for (size_t i = 0; i < st->gens.size(); i++)
		if (st->gens[i].number == g.number)
			st->gens.erase(st->gens.begin() + (long)i);

	a = act(ACT_GONE, g.number);
	a.pid = g.pid;
	a.role = g.role;
	a.wstatus = ev->wstatus;
	a.status_source = ev->status_source;
	out->push_back(a);

	if (st->current == g.number) {
		st->current = 0;
		/* Once a stop went out, the first current generation to die
		 * gives the exit status.  A draining one made current below
		 * dies of the same stop; which of them the kernel lets die
		 * last is a race, and the old one's drain cut short is no
		 * news about the service. */
		if (!st->status_final) {
			st->have_status = true;
			st->last_status = status;
			st->status_final = st->stopping;
		}
		/* A start process that exits 0 before any pid file named a
		 * live daemon: a forking daemon (nginx with "daemon on",
		 * systemd's Type=forking) when it left a live process behind,
		 * re-parented to us.  One is the daemon; with several, the pid
		 * file must say which; with none, it was all there was to run
		 * (/bin/true): the wrapper is done. */
		if (g.start && !daemon_left(st) && !st->pidfile_seen &&
		    WIFEXITED(ev->wstatus) && WEXITSTATUS(ev->wstatus) == 0 &&
		    (ev->status_source == STATUS_CHILD || ev->status_source == STATUS_REAP)) {
			if (ev->children == 1 && ev->pid != 0) {
				take_forked(st, ev, out);
				return;
			}
			if (ev->children > 0 && !st->stopping) {
				st->state = SITTER_WAIT_PIDFILE;
				out->push_back(act(ACT_WAIT_PIDFILE, 0));
				return;
			}
		}
		/* Otherwise the youngest successor that was never current
		 * carries on (gunicorn's .2, an upgrade's new process).  One that
		 * a newer generation superseded does not: it was told to go
		 * (tableflip's parent drains once its successor is ready, an
		 * nginx old master waits for QUIT), and the service is the
		 * one that died.  It drains and exits, and the wrapper then
		 * exits with the dead one's status, so the supervisor
		 * restarts the service; the pid file naming it again (an
		 * nginx rollback) makes it current, in on_found.  An orphan
		 * never carries on: it has no evidence. */
		const struct generation *young = NULL;
		for (const struct generation &o : st->gens)
			if (o.role != ROLE_ORPHAN && !o.superseded &&
			    (young == NULL || o.start_time > young->start_time))
				young = &o;
		if (young != NULL) {
			make_current(st, young->number, out);
		} else if (daemon_left(st) && !st->stopping) {
			a = act(ACT_SUCCESSOR_DIED, g.number);
			a.pid = g.pid;
			a.wstatus = ev->wstatus;
			a.status_source = ev->status_source;
			a.why = st->upgrading == g.number ? "the process asked to upgrade died" :
			    "the new process died";
			out->push_back(a);
		}
	}
	if (st->upgrading == g.number) {
		/* The process asked to upgrade died first.  Its successor, if
		 * one runs, carries on: a draining one made current above, or
		 * an orphan (its parent died before it was ready), which is
		 * the daemon only once it writes the pid file: that is waited
		 * for until upgrade_timeout.  With ready = "notify" the
		 * upgrade is done at the successor's READY=1 (on_ready), which
		 * tableflip's drain may well outlast: until then, or
		 * upgrade_timeout, it stays under way. */
		const struct generation *cur = sitter_gen(st, st->current);
		if (cur != NULL && (!st->ready_notify || cur->ready)) {
			st->upgrading = 0;
			out->push_back(act(ACT_UPGRADE_DONE, st->current));
		} else if (cur != NULL) {
			/* on_ready ends it. */
		} else if (st->stopping || daemon_left(st) || st->gens.empty()) {
			st->upgrading = 0;
		}
	}
	check_end(st, out);
}

void
sitter_step(struct sitter *st, const struct event *ev, std::vector<struct action> *out)
{
	struct action a;

	if (st->state == SITTER_DONE)
		return;
	switch (ev->kind) {
	case EV_SIGNAL:
		on_signal(st, ev->sig, out);
		break;
	case EV_FOUND:
		on_found(st, ev, out);
		break;
	case EV_EXIT:
		on_exit(st, ev, out);
		break;
	case EV_READY:
		on_ready(st, ev->number, out);
		break;
	case EV_START_TIMEOUT:
		if (st->state != SITTER_WAIT_PIDFILE)
			break;
		a = act(ACT_EXIT, 0);
		a.code = 1;
		a.why = "the start process exited and no pid file named a live daemon "
		    "within start_timeout";
		if (!st->gens.empty()) {
			leave(st, a.code, a.why, out);  /* orphans */
			break;
		}
		st->state = SITTER_DONE;
		out->push_back(a);
		break;
	case EV_UPGRADE_TIMEOUT:
		if (st->upgrading == 0)
			break;
		a = act(ACT_UPGRADE_FAILED, st->upgrading);
		a.why = st->ready_notify && st->current != st->upgrading ?
		    "the new process did not say READY=1 within upgrade_timeout" :
		    "no new process wrote the pid file within upgrade_timeout";
		/* tableflip's upgrade signal (HUP) may well be a mere reload:
		 * no new process is then no failure. */
		a.maybe_reload = st->recipe == RECIPE_TABLEFLIP;
		st->upgrading = 0;
		out->push_back(a);
		check_end(st, out);  /* the old one died meanwhile */
		break;
	case EV_STOP_TIMEOUT:
		stop_timeout(st, out);
		break;
	}
}
