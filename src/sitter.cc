/*
 * sitter.cc: the transition function.  Each case is short on purpose; the
 * man page, UPGRADES, tells the same story in prose.
 */
#include "sitter.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

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
	st->state = SITTER_RUNNING;
	st->next_number = 1;
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
act(int kind, unsigned number)
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

/* The recipe's upgrade is over: the pid file names a new current one. */
static void
upgrade_done(struct sitter *st, unsigned number, std::vector<struct action> *out)
{
	unsigned old = st->upgrading;

	st->upgrading = 0;
	out->push_back(act(ACT_UPGRADE_DONE, number));
	/* nginx and unicorn: the new master is up, the old one stops
	 * gracefully (the operator's QUIT, done for them). */
	if (st->recipe == RECIPE_NGINX && sitter_gen(st, old) != NULL)
		send(out, old, SIGQUIT, SIGQUIT);
}

/* A live generation other than the current one: while one drains, the
 * daemon refuses to upgrade again (tableflip: "parent hasn't exited" in
 * the new process, and the old one has upgraded once already; nginx
 * ignores USR2 while the old master runs; gunicorn while its child or
 * parent does).  Tracking such a request would only report an upgrade in
 * progress, and tell systemd RELOADING=1, until upgrade_timeout. */
static const struct generation *
draining_gen(const struct sitter *st)
{
	for (const struct generation &g : st->gens)
		if (g.number != st->current)
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

	if (st->sig.ignore & SIG_BIT(sig)) {
		drop(out, sig, "ignored by the configuration");
		return;
	}
	if (sig == st->upgrade_signal && st->recipe == RECIPE_NGINX && !st->stopping) {
		if (st->current == 0) {
			drop(out, sig, "no current process to upgrade");
		} else if (st->upgrading != 0) {
			drop(out, sig, "an upgrade is already in progress");
		} else if ((old = draining_gen(st)) != NULL) {
			send(out, st->current, SIGUSR2, sig);
			refused(out, old);
		} else {
			st->upgrading = st->current;
			send(out, st->current, SIGUSR2, sig);
			out->push_back(act(ACT_UPGRADE_BEGIN, st->current));
		}
		return;
	}

	target = st->sig.rewrite[sig] != 0 ? st->sig.rewrite[sig] : sig;
	if (st->sig.every & SIG_BIT(sig)) {
		if (st->sig.stop & SIG_BIT(sig))
			st->stopping = true;
		/* Once stopping, a generation that appears later (an upgrade
		 * that was under way) must get what the others got. */
		if (st->stopping && st->replay.size() < REPLAY_MAX)
			st->replay.push_back(target);
		if (st->gens.empty() && st->stopping)
			return;  /* waiting for a forking daemon: replayed later */
		if (st->gens.empty())
			drop(out, sig, "no process to forward to");
		for (const struct generation &g : st->gens)
			send(out, g.number, target, sig);
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
		if ((old = draining_gen(st)) != NULL) {
			refused(out, old);
			return;
		}
		st->upgrading = st->current;
		out->push_back(act(ACT_UPGRADE_BEGIN, st->current));
	}
}

static void
on_found(struct sitter *st, const struct event *ev, std::vector<struct action> *out)
{
	const struct generation *known = sitter_gen_by_pid(st, ev->pid);
	bool named = ev->source == FOUND_PIDFILE;
	struct generation g;
	struct action a;

	if (known != NULL) {
		if (named) {
			unsigned number = known->number;
			st->pidfile_seen = true;
			/* A draining one named now: gunicorn's <pidfile>.2
			 * renamed, or nginx's rollback. */
			make_current(st, number, out);
			out->push_back(act(ACT_READY, number));
			if (st->upgrading != 0 && st->upgrading != number)
				upgrade_done(st, number, out);
		}
		return;
	}
	if (named && st->current != 0 && ev->source != FOUND_SPAWNED) {
		const struct generation *cur = sitter_gen(st, st->current);
		/* A successor starts after its predecessor.  An older process
		 * is what a torn or stale pid file names, not an upgrade. */
		if (ev->start_time < cur->start_time) {
			a = act(ACT_IGNORE, 0);
			a.pid = ev->pid;
			a.why = "it started before the current process";
			out->push_back(a);
			return;
		}
	}

	g.number = st->next_number++;
	g.pid = ev->pid;
	g.start_time = ev->start_time;
	g.role = ROLE_DRAINING;
	g.spawned = ev->source == FOUND_SPAWNED;
	/* An old master (.oldbin) and the adopted daemon's parent were
	 * replaced before we saw them. */
	g.superseded = ev->source == FOUND_OLDBIN || ev->source == FOUND_PARENT;
	st->gens.push_back(g);

	a = act(ACT_FOLLOW, g.number);
	a.pid = g.pid;
	a.source = ev->source;
	a.role = named || g.spawned || st->current == 0 ? ROLE_CURRENT : ROLE_DRAINING;
	out->push_back(a);
	for (int sig : st->replay)
		send(out, g.number, sig, sig);

	if (st->state == SITTER_WAIT_PIDFILE) {
		st->state = SITTER_RUNNING;
		out->push_back(act(ACT_PIDFILE_CAME, g.number));
	}
	if (a.role == ROLE_CURRENT)
		make_current(st, g.number, out);
	if (named) {
		st->pidfile_seen = true;
		out->push_back(act(ACT_READY, g.number));
		if (st->upgrading != 0 && st->upgrading != g.number)
			upgrade_done(st, g.number, out);
	}
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
		 * live daemon is a forking daemon (nginx with "daemon on",
		 * systemd's Type=forking): wait for its pid file. */
		if (g.spawned && st->gens.empty() && !st->pidfile_seen && !st->stopping &&
		    WIFEXITED(ev->wstatus) && WEXITSTATUS(ev->wstatus) == 0 &&
		    ev->status_source == STATUS_CHILD) {
			st->state = SITTER_WAIT_PIDFILE;
			out->push_back(act(ACT_WAIT_PIDFILE, 0));
			return;
		}
		/* Otherwise the youngest successor that was never current
		 * carries on (gunicorn's .2, an upgrade's orphan).  One that
		 * a newer generation superseded does not: it was told to go
		 * (tableflip's parent drains once its successor is ready, an
		 * nginx old master waits for QUIT), and the service is the
		 * one that died.  It drains and exits, and the wrapper then
		 * exits with the dead one's status, so the supervisor
		 * restarts the service; the pid file naming it again (an
		 * nginx rollback) makes it current, in on_found. */
		const struct generation *young = NULL;
		for (const struct generation &o : st->gens)
			if (!o.superseded && (young == NULL || o.start_time > young->start_time))
				young = &o;
		if (young != NULL) {
			make_current(st, young->number, out);
		} else if (!st->gens.empty() && !st->stopping) {
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
		 * one runs (an orphan we adopted, or one the pid file names
		 * later), carries on; with none left the wrapper exits. */
		st->upgrading = 0;
		if (st->current != 0)
			out->push_back(act(ACT_UPGRADE_DONE, st->current));
	}
	if (st->gens.empty() && st->state == SITTER_RUNNING) {
		st->state = SITTER_DONE;
		a = act(ACT_EXIT, 0);
		a.code = st->have_status ? sitter_exit_code(st->last_status) : 0;
		a.why = "no process left";
		out->push_back(a);
	}
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
	case EV_START_TIMEOUT:
		if (st->state != SITTER_WAIT_PIDFILE)
			break;
		st->state = SITTER_DONE;
		a = act(ACT_EXIT, 0);
		a.code = 1;
		a.why = "the start process exited and no pid file named a live daemon "
		    "within start_timeout";
		out->push_back(a);
		break;
	case EV_UPGRADE_TIMEOUT:
		if (st->upgrading == 0)
			break;
		a = act(ACT_UPGRADE_FAILED, st->upgrading);
		a.why = "no new process wrote the pid file within upgrade_timeout";
		st->upgrading = 0;
		out->push_back(a);
		break;
	}
}
