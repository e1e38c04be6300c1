/*
 * sitter_test.cc: the generations' state machine (sitter.cc), driven event
 * by event.  Each step's actions are written as one line of text, so that
 * every test reads as the story it checks:
 *
 *     FOLLOW g2 pid=200 pidfile current, DRAIN g1, CURRENT g2, READY g2
 *
 * Signals are written "SIGNAL g1 TERM", or "SIGNAL g1 QUIT<TERM" when the
 * signal sent is not the one received.
 */
#include <doctest/doctest.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include <string>

#include "options.h"
#include "settings.h"
#include "signals.h"
#include "sitter.h"
#include "unit/sitter_event.h"

#define EXITED(code) W_EXITCODE(code, 0)

/*
 * Apply one event and describe the actions.  The arguments after kind:
 * EV_SIGNAL: the signal; EV_FOUND: pid, start time, enum found_source;
 * EV_EXIT: generation number, wait status, enum status_source.
 */
static std::string
apply(struct sitter *st, const struct event *ev)
{
	static const char *const names[] = {
		"SIGNAL", "DROP", "FOLLOW", "IGNORE", "CURRENT", "DRAIN", "GONE", "READY",
		"WAIT_PIDFILE", "PIDFILE_CAME", "UPGRADE_BEGIN", "UPGRADE_DONE",
		"UPGRADE_FAILED", "UPGRADE_REFUSED", "SUCCESSOR_DIED", "EXIT", "LEAVE",
		"STOP_BEGIN", "STOP_TIMEOUT",
	};
	static const char *const sources[] = {"pidfile", "oldbin", "dot2", "spawned", "child", "parent",
	    "forked", "mainpid"};
	static const char *const roles[] = {"current", "draining", "orphan"};
	std::vector<struct action> acts;
	std::string out;
	char buf[128], s1[16], s2[16];

	sitter_step(st, ev, &acts);

	for (const struct action &x : acts) {
		signal_name(x.sig, s1, sizeof s1);
		signal_name(x.orig, s2, sizeof s2);
		switch (x.kind) {
		case ACT_SIGNAL:
			snprintf(buf, sizeof buf, "SIGNAL g%u %s%s%s", x.number, s1 + 3,
			    x.sig == x.orig ? "" : "<", x.sig == x.orig ? "" : s2 + 3);
			break;
		case ACT_DROP:
			snprintf(buf, sizeof buf, "DROP %s", s2 + 3);
			break;
		case ACT_FOLLOW:
			snprintf(buf, sizeof buf, "FOLLOW g%u pid=%d %s %s", x.number, (int)x.pid,
			    sources[x.source], roles[x.role]);
			break;
		case ACT_IGNORE:
			snprintf(buf, sizeof buf, "IGNORE pid=%d", (int)x.pid);
			break;
		case ACT_WAIT_PIDFILE:
			snprintf(buf, sizeof buf, "WAIT_PIDFILE");
			break;
		case ACT_EXIT:
			snprintf(buf, sizeof buf, "EXIT %d", x.code);
			break;
		case ACT_LEAVE:
			snprintf(buf, sizeof buf, "LEAVE %d", x.code);
			break;
		default:
			snprintf(buf, sizeof buf, "%s g%u", names[x.kind], x.number);
			break;
		}
		/* What is not done says why, for the log. */
		if (x.kind == ACT_DROP || x.kind == ACT_IGNORE || x.kind == ACT_EXIT ||
		    x.kind == ACT_UPGRADE_FAILED || x.kind == ACT_UPGRADE_REFUSED ||
		    x.kind == ACT_SUCCESSOR_DIED || x.kind == ACT_LEAVE ||
		    x.kind == ACT_STOP_TIMEOUT)
			CHECK(x.why != NULL);
		out += out.empty() ? "" : ", ";
		out += buf;
	}
	return out;
}

static std::string
step(struct sitter *st, int kind, long a = 0, long b = 0, long c = 0)
{
	struct event ev = sitter_event(kind, a, b, c);
	return apply(st, &ev);
}

/* The death of generation number, and what it left (sitter_exit_event). */
static std::string
step_exit(struct sitter *st, unsigned number, int wstatus, int source, int children,
    pid_t pid = 0, unsigned long long start_time = 0)
{
	struct event ev = sitter_exit_event(number, wstatus, source, children, pid, start_time);
	return apply(st, &ev);
}

/* A sitter on the default settings (or s). */
static void
start(struct sitter *st, struct settings *s = NULL)
{
	struct settings def;

	if (s == NULL) {
		settings_defaults(&def);
		s = &def;
	}
	sitter_init(st, s);
}

TEST_CASE("sitter: a spawned generation becomes current")
{
	struct sitter st;

	start(&st);
	CHECK(st.state == SITTER_RUNNING);
	CHECK(st.current == 0);
	CHECK(step(&st, EV_FOUND, 100, 1000, FOUND_SPAWNED) ==
	    "FOLLOW g1 pid=100 spawned current, CURRENT g1");
	CHECK(st.current == 1);
	REQUIRE(sitter_gen(&st, 1) != NULL);
	CHECK(sitter_gen(&st, 1)->pid == 100);
	CHECK(sitter_gen(&st, 1)->spawned);
	CHECK(sitter_gen(&st, 1)->role == ROLE_CURRENT);
	CHECK(sitter_gen(&st, 1)->start_time == 1000);
	CHECK(sitter_gen_by_pid(&st, 100) == sitter_gen(&st, 1));
	CHECK(sitter_gen(&st, 2) == NULL);
	CHECK(sitter_gen_by_pid(&st, 101) == NULL);
	CHECK(!st.pidfile_seen);

	/* A known generation found again: only the pid file naming it says
	 * something, that it is ready. */
	CHECK(step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE) == "READY g1");
	CHECK(st.pidfile_seen);
	CHECK(step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE) == "READY g1");
	CHECK(step(&st, EV_FOUND, 100, 1000, FOUND_OLDBIN) == "");
	CHECK(step(&st, EV_FOUND, 100, 1000, FOUND_DOT2) == "");
	CHECK(st.gens.size() == 1);
}

TEST_CASE("sitter: an adopted generation is current and ready")
{
	struct sitter st;

	start(&st);
	CHECK(step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE) ==
	    "FOLLOW g1 pid=100 pidfile current, CURRENT g1, READY g1");
	CHECK(sitter_gen(&st, 1) != NULL);
	CHECK(!sitter_gen(&st, 1)->spawned);
	CHECK(step(&st, EV_EXIT, 7, EXITED(1), STATUS_PIDFD) == "");  /* no such generation */
	CHECK(step(&st, EV_START_TIMEOUT) == "");
	CHECK(step(&st, EV_UPGRADE_TIMEOUT) == "");
}

TEST_CASE("sitter: where each signal goes")
{
	/* g1 is current (the pid file), g2 an old master draining (.oldbin). */
	static const struct {
		int sig;
		const char *acts;
	} cases[] = {
		/* The daemon refuses an upgrade while an old generation
		 * drains: forwarded, not tracked. */
		{SIGHUP, "SIGNAL g1 HUP, UPGRADE_REFUSED g2"},
		{SIGUSR1, "SIGNAL g1 USR1"},
		{SIGUSR2, "SIGNAL g1 USR2"},
		{SIGALRM, "SIGNAL g1 ALRM"},
		{SIGTSTP, "SIGNAL g1 TSTP"},
		{SIGTTIN, "SIGNAL g1 TTIN"},
		{SIGTTOU, "SIGNAL g1 TTOU"},
		{SIGWINCH, "SIGNAL g1 WINCH"},
		{SIGPWR, "SIGNAL g1 PWR"},
		{SIGRTMIN, "SIGNAL g1 RTMIN"},
		{SIGRTMIN + 3, "SIGNAL g1 RTMIN+3"},
		{SIGRTMAX, "SIGNAL g1 RTMAX"},
		{SIGTERM, "SIGNAL g1 TERM, SIGNAL g2 TERM"},
		{SIGINT, "SIGNAL g1 INT, SIGNAL g2 INT"},
		{SIGQUIT, "SIGNAL g1 QUIT, SIGNAL g2 QUIT"},
		{SIGCONT, "SIGNAL g1 CONT, SIGNAL g2 CONT"},
		/* systemd's watchdog signal (signals.h, SIGNAL_ALWAYS_STOP). */
		{SIGABRT, "SIGNAL g1 ABRT, SIGNAL g2 ABRT"},
	};
	for (const auto &c : cases) {
		struct sitter st;
		char name[16];

		start(&st);
		REQUIRE(step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE) ==
		    "FOLLOW g1 pid=100 pidfile current, CURRENT g1, READY g1");
		REQUIRE(step(&st, EV_FOUND, 50, 500, FOUND_OLDBIN) ==
		    "FOLLOW g2 pid=50 oldbin draining");
		CAPTURE(std::string(signal_name(c.sig, name, sizeof name)));
		CHECK(step(&st, EV_SIGNAL, c.sig) == c.acts);
		CHECK(st.stopping == (c.sig == SIGTERM || c.sig == SIGINT || c.sig == SIGQUIT ||
		    c.sig == SIGABRT));
	}
}

TEST_CASE("sitter: signals with nobody to receive them")
{
	struct sitter st;

	start(&st);
	CHECK(step(&st, EV_SIGNAL, SIGUSR1) == "DROP USR1");
	CHECK(step(&st, EV_SIGNAL, SIGHUP) == "DROP HUP");
	CHECK(step(&st, EV_SIGNAL, SIGCONT) == "DROP CONT");
	CHECK(!st.stopping);
	/* A stop before the daemon runs is kept for it. */
	CHECK(step(&st, EV_SIGNAL, SIGTERM) == "");
	CHECK(st.stopping);
	CHECK(step(&st, EV_FOUND, 100, 1000, FOUND_SPAWNED) ==
	    "FOLLOW g1 pid=100 spawned current, SIGNAL g1 TERM, CURRENT g1");
}

TEST_CASE("sitter: a tableflip upgrade, twice, then a stop")
{
	struct sitter st;

	start(&st);
	CHECK(step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE) ==
	    "FOLLOW g1 pid=100 pidfile current, CURRENT g1, READY g1");
	CHECK(step(&st, EV_SIGNAL, SIGHUP) == "SIGNAL g1 HUP, UPGRADE_BEGIN g1");
	CHECK(st.upgrading == 1);
	/* A second HUP reaches the daemon (tableflip refuses it itself). */
	CHECK(step(&st, EV_SIGNAL, SIGHUP) == "SIGNAL g1 HUP");
	/* The new process writes the pid file before the old one exits. */
	CHECK(step(&st, EV_FOUND, 200, 2000, FOUND_PIDFILE) ==
	    "FOLLOW g2 pid=200 pidfile current, DRAIN g1, CURRENT g2, READY g2, UPGRADE_DONE g2");
	CHECK(st.upgrading == 0);
	CHECK(st.current == 2);
	CHECK(sitter_gen(&st, 1)->role == ROLE_DRAINING);
	CHECK(step(&st, EV_SIGNAL, SIGUSR1) == "SIGNAL g2 USR1");
	CHECK(step(&st, EV_EXIT, 1, EXITED(0), STATUS_PIDFD) == "GONE g1");
	CHECK(sitter_gen(&st, 1) == NULL);

	/* The same tick: a successor may share its predecessor's start time. */
	CHECK(step(&st, EV_SIGNAL, SIGHUP) == "SIGNAL g2 HUP, UPGRADE_BEGIN g2");
	CHECK(step(&st, EV_FOUND, 300, 2000, FOUND_PIDFILE) ==
	    "FOLLOW g3 pid=300 pidfile current, DRAIN g2, CURRENT g3, READY g3, UPGRADE_DONE g3");
	CHECK(step(&st, EV_EXIT, 2, EXITED(0), STATUS_REAP) == "GONE g2");

	CHECK(step(&st, EV_SIGNAL, SIGTERM) == "SIGNAL g3 TERM");
	CHECK(step(&st, EV_EXIT, 3, SIGTERM, STATUS_REAP) == "GONE g3, EXIT 143");
	CHECK(st.state == SITTER_DONE);
	CHECK(st.gens.empty());

	/* Done is done. */
	CHECK(step(&st, EV_SIGNAL, SIGTERM) == "");
	CHECK(step(&st, EV_FOUND, 400, 4000, FOUND_PIDFILE) == "");
	CHECK(step(&st, EV_EXIT, 3, SIGTERM, STATUS_REAP) == "");
	CHECK(step(&st, EV_START_TIMEOUT) == "");
	CHECK(step(&st, EV_UPGRADE_TIMEOUT) == "");
}

TEST_CASE("sitter: what the pid file names must be younger than the current process")
{
	struct sitter st;

	start(&st);
	CHECK(step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE) ==
	    "FOLLOW g1 pid=100 pidfile current, CURRENT g1, READY g1");
	/* A stale or torn pid file, not an upgrade. */
	CHECK(step(&st, EV_FOUND, 50, 999, FOUND_PIDFILE) == "IGNORE pid=50");
	CHECK(st.gens.size() == 1);
	CHECK(st.current == 1);
	CHECK(st.next_number == 2);
	/* An old master in .oldbin is a generation all the same. */
	CHECK(step(&st, EV_FOUND, 50, 999, FOUND_OLDBIN) == "FOLLOW g2 pid=50 oldbin draining");
	CHECK(st.current == 1);
}

TEST_CASE("sitter: in the same clock tick, the pidfds' order says which came first")
{
	struct sitter st;
	struct event ev;

	start(&st);
	CHECK(step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE) ==
	    "FOLLOW g1 pid=100 pidfile current, CURRENT g1, READY g1");
	ev = sitter_event(EV_FOUND, 50, 1000, FOUND_PIDFILE);
	ev.born_before_current = true;
	CHECK(apply(&st, &ev) == "IGNORE pid=50");
	ev = sitter_event(EV_FOUND, 200, 1000, FOUND_PIDFILE);
	CHECK(apply(&st, &ev) == "FOLLOW g2 pid=200 pidfile current, DRAIN g1, CURRENT g2, READY g2");
}

TEST_CASE("sitter: a forking start's start process, still on its way out, is no generation that drains")
{
	struct sitter st;
	struct settings s;

	settings_defaults(&s);
	SUBCASE("tableflip") {}
	SUBCASE("nginx") { s.recipe = RECIPE_NGINX; }
	sitter_init(&st, &s);
	step(&st, EV_FOUND, 100, 1000, FOUND_SPAWNED);
	/* nginx with "daemon on": the master writes the pid file before its
	 * start process has exited. */
	CHECK(step(&st, EV_FOUND, 101, 1001, FOUND_PIDFILE) ==
	    "FOLLOW g2 pid=101 pidfile current, DRAIN g1, CURRENT g2, READY g2");
	CHECK(step(&st, EV_SIGNAL, SIGHUP) == (s.recipe == RECIPE_NGINX ?
	    "SIGNAL g2 USR2<HUP, UPGRADE_BEGIN g2" : "SIGNAL g2 HUP, UPGRADE_BEGIN g2"));
	CHECK(st.upgrading == 2);
}

TEST_CASE("sitter: what the status file and the re-read timer are told (sitter_phase, sitter_awaits_pidfile)")
{
	struct sitter st;

	start(&st);
	CHECK(sitter_phase(&st) == PHASE_STARTING);
	step(&st, EV_FOUND, 100, 1000, FOUND_SPAWNED);
	CHECK(sitter_phase(&st) == PHASE_STARTING);  /* no pid file yet */
	CHECK(!sitter_awaits_pidfile(&st));
	step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE);
	CHECK(sitter_phase(&st) == PHASE_RUNNING);
	step(&st, EV_SIGNAL, SIGHUP);
	CHECK(sitter_phase(&st) == PHASE_UPGRADING);
	CHECK(sitter_awaits_pidfile(&st));
	step(&st, EV_FOUND, 200, 2000, FOUND_PIDFILE);
	CHECK(sitter_phase(&st) == PHASE_RUNNING);
	CHECK(!sitter_awaits_pidfile(&st));
	step(&st, EV_SIGNAL, SIGTERM);
	CHECK(sitter_phase(&st) == PHASE_STOPPING);
	step(&st, EV_EXIT, 2, EXITED(0), STATUS_CHILD);
	CHECK(sitter_phase(&st) == PHASE_STOPPING);  /* g1 still drains */
	step(&st, EV_EXIT, 1, EXITED(0), STATUS_PIDFD);
	CHECK(sitter_phase(&st) == PHASE_EXITED);
	CHECK(!sitter_awaits_pidfile(&st));
}

TEST_CASE("sitter: a forking start's process is read again until a pid file names it (sitter_forked_unnamed)")
{
	struct sitter st;

	start(&st);
	step(&st, EV_FOUND, 100, 1000, FOUND_SPAWNED);
	CHECK(!sitter_forked_unnamed(&st));  /* spawned: not what it left */
	CHECK(step_exit(&st, 1, EXITED(0), STATUS_CHILD, 1, 101, 1001) ==
	    "GONE g1, FOLLOW g2 pid=101 forked current, CURRENT g2");
	CHECK(sitter_forked_unnamed(&st));
	step(&st, EV_FOUND, 101, 1001, FOUND_PIDFILE);
	CHECK(!sitter_forked_unnamed(&st));
}

TEST_CASE("sitter: when the current one dies, the youngest successor not yet current carries on")
{
	struct sitter st;

	start(&st);
	CHECK(step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE) ==
	    "FOLLOW g1 pid=100 pidfile current, CURRENT g1, READY g1");
	CHECK(step(&st, EV_FOUND, 50, 500, FOUND_OLDBIN) == "FOLLOW g2 pid=50 oldbin draining");
	CHECK(step(&st, EV_FOUND, 60, 600, FOUND_DOT2) == "FOLLOW g3 pid=60 dot2 draining");
	CHECK(step(&st, EV_EXIT, 1, EXITED(3), STATUS_PIDFD) == "GONE g1, CURRENT g3");
	CHECK(st.current == 3);
	CHECK(step(&st, EV_SIGNAL, SIGUSR1) == "SIGNAL g3 USR1");
	/* gunicorn renames .2 to the pid file once the old master is gone. */
	CHECK(step(&st, EV_FOUND, 60, 600, FOUND_PIDFILE) == "READY g3");
	CHECK(step(&st, EV_EXIT, 2, SIGKILL, STATUS_PIDFD) == "GONE g2");
	CHECK(step(&st, EV_EXIT, 3, EXITED(4), STATUS_REAP) == "GONE g3, EXIT 4");
}

TEST_CASE("sitter: the exit status is the last current generation's")
{
	struct sitter st;

	SUBCASE("a draining one dies first: no exit, and not its status") {
		start(&st);
		step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE);
		step(&st, EV_FOUND, 50, 500, FOUND_OLDBIN);
		CHECK(step(&st, EV_EXIT, 2, SIGKILL, STATUS_PIDFD) == "GONE g2");
		CHECK(st.state == SITTER_RUNNING);
		CHECK(step(&st, EV_EXIT, 1, EXITED(0), STATUS_PIDFD) == "GONE g1, EXIT 0");
	}
	SUBCASE("after an upgrade, the new one's") {
		start(&st);
		step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE);
		step(&st, EV_SIGNAL, SIGHUP);
		step(&st, EV_FOUND, 200, 2000, FOUND_PIDFILE);
		CHECK(step(&st, EV_SIGNAL, SIGTERM) == "SIGNAL g1 TERM, SIGNAL g2 TERM");
		CHECK(step(&st, EV_EXIT, 1, SIGKILL, STATUS_REAP) == "GONE g1");
		CHECK(step(&st, EV_EXIT, 2, EXITED(0), STATUS_REAP) == "GONE g2, EXIT 0");
	}
}

TEST_CASE("sitter: exit codes, one line per fate of the last generation")
{
	static const struct {
		int wstatus;
		int source;
		const char *acts;
	} cases[] = {
		{EXITED(0), STATUS_PIDFD, "GONE g1, EXIT 0"},
		{EXITED(3), STATUS_PIDFD, "GONE g1, EXIT 3"},
		{EXITED(255), STATUS_REAP, "GONE g1, EXIT 255"},
		{EXITED(42), STATUS_CHILD, "GONE g1, EXIT 42"},
		{SIGTERM, STATUS_REAP, "GONE g1, EXIT 143"},
		{SIGKILL, STATUS_PIDFD, "GONE g1, EXIT 137"},
		{SIGHUP, STATUS_PIDFD, "GONE g1, EXIT 129"},
		{SIGSEGV | WCOREFLAG, STATUS_PIDFD, "GONE g1, EXIT 139"},
		{64, STATUS_PIDFD, "GONE g1, EXIT 192"},
		/* Unknown: 0, as gitaly-wrapper always says. */
		{EXITED(42), STATUS_NONE, "GONE g1, EXIT 0"},
		{SIGKILL, STATUS_NONE, "GONE g1, EXIT 0"},
	};
	for (const auto &c : cases) {
		struct sitter st;
		start(&st);
		step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE);
		CAPTURE(c.wstatus);
		CHECK(step(&st, EV_EXIT, 1, c.wstatus, c.source) == c.acts);
		CHECK(st.state == SITTER_DONE);
	}

	static const struct {
		int wstatus, code;
	} codes[] = {
		{EXITED(0), 0}, {EXITED(1), 1}, {EXITED(126), 126}, {EXITED(127), 127},
		{EXITED(255), 255}, {SIGINT, 130}, {SIGTERM, 143}, {SIGKILL, 137},
		{SIGABRT | WCOREFLAG, 134}, {SIGRTMAX, 128 + SIGRTMAX},
	};
	for (const auto &c : codes) {
		CAPTURE(c.wstatus);
		CHECK(sitter_exit_code(c.wstatus) == c.code);
	}
}

TEST_CASE("sitter: a stop reaches the generations that appear after it")
{
	struct sitter st;

	SUBCASE("runit's down: TERM then CONT, replayed in order") {
		start(&st);
		step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE);
		CHECK(step(&st, EV_SIGNAL, SIGHUP) == "SIGNAL g1 HUP, UPGRADE_BEGIN g1");
		CHECK(step(&st, EV_SIGNAL, SIGTERM) == "SIGNAL g1 TERM");
		CHECK(step(&st, EV_SIGNAL, SIGCONT) == "SIGNAL g1 CONT");
		CHECK(step(&st, EV_FOUND, 200, 2000, FOUND_PIDFILE) ==
		    "FOLLOW g2 pid=200 pidfile current, SIGNAL g2 TERM, SIGNAL g2 CONT, "
		    "DRAIN g1, CURRENT g2, READY g2, UPGRADE_DONE g2");
		/* Stopping: no new upgrade begins. */
		CHECK(step(&st, EV_SIGNAL, SIGHUP) == "SIGNAL g2 HUP");
		CHECK(step(&st, EV_FOUND, 50, 500, FOUND_OLDBIN) ==
		    "FOLLOW g3 pid=50 oldbin draining, SIGNAL g3 TERM, SIGNAL g3 CONT");
		CHECK(step(&st, EV_EXIT, 1, SIGTERM, STATUS_REAP) == "GONE g1");
		CHECK(step(&st, EV_EXIT, 3, SIGTERM, STATUS_PIDFD) == "GONE g3");
		CHECK(step(&st, EV_EXIT, 2, SIGTERM, STATUS_REAP) == "GONE g2, EXIT 143");
	}
	SUBCASE("a CONT alone is not a stop") {
		start(&st);
		step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE);
		CHECK(step(&st, EV_SIGNAL, SIGCONT) == "SIGNAL g1 CONT");
		CHECK(step(&st, EV_FOUND, 200, 2000, FOUND_PIDFILE) ==
		    "FOLLOW g2 pid=200 pidfile current, DRAIN g1, CURRENT g2, READY g2");
	}
	SUBCASE("what is replayed is what was sent") {
		struct settings s;
		settings_defaults(&s);
		s.sig.rewrite[SIGTERM] = SIGQUIT;
		start(&st, &s);
		step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE);
		CHECK(step(&st, EV_SIGNAL, SIGTERM) == "SIGNAL g1 QUIT<TERM");
		CHECK(step(&st, EV_FOUND, 200, 2000, FOUND_PIDFILE) ==
		    "FOLLOW g2 pid=200 pidfile current, SIGNAL g2 QUIT, DRAIN g1, CURRENT g2, READY g2");
	}
	SUBCASE("at most a few signals are kept") {
		start(&st);
		step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE);
		for (int i = 0; i < 20; i++)
			step(&st, EV_SIGNAL, i % 2 ? SIGCONT : SIGTERM);
		CHECK(st.replay.size() <= 8);
		CHECK(st.replay[0] == SIGTERM);
		CHECK(st.replay[1] == SIGCONT);
	}
}

TEST_CASE("sitter: a forking daemon (the spawned process exits 0 before any pid file)")
{
	struct sitter st;

	start(&st);
	CHECK(step(&st, EV_FOUND, 100, 1000, FOUND_SPAWNED) ==
	    "FOLLOW g1 pid=100 spawned current, CURRENT g1");

	SUBCASE("it left nothing behind (/bin/true): that is the end, at once") {
		CHECK(step_exit(&st, 1, EXITED(0), STATUS_CHILD, 0) == "GONE g1, EXIT 0");
		CHECK(st.state == SITTER_DONE);
	}
	SUBCASE("it left one process: that is the daemon, whatever its name") {
		CHECK(step_exit(&st, 1, EXITED(0), STATUS_CHILD, 1, 300, 3000) ==
		    "GONE g1, FOLLOW g2 pid=300 forked current, CURRENT g2");
		CHECK(st.state == SITTER_RUNNING);
		CHECK(step(&st, EV_SIGNAL, SIGUSR1) == "SIGNAL g2 USR1");
		CHECK(step(&st, EV_FOUND, 300, 3000, FOUND_PIDFILE) == "READY g2");
		CHECK(step(&st, EV_START_TIMEOUT) == "");
		CHECK(step_exit(&st, 2, EXITED(6), STATUS_REAP, 0) == "GONE g2, EXIT 6");
	}
	SUBCASE("the one it left looked like the daemon: followed as an orphan first") {
		CHECK(step(&st, EV_FOUND, 300, 3000, FOUND_CHILD) == "FOLLOW g2 pid=300 child orphan");
		CHECK(step_exit(&st, 1, EXITED(0), STATUS_CHILD, 1, 300, 3000) ==
		    "GONE g1, CURRENT g2");
		CHECK(sitter_gen(&st, 2)->role == ROLE_CURRENT);
		CHECK(step(&st, EV_SIGNAL, SIGHUP) == "SIGNAL g2 HUP, UPGRADE_BEGIN g2");
	}
	SUBCASE("a double fork: the one it left exits 0 too, leaving the daemon") {
		CHECK(step_exit(&st, 1, EXITED(0), STATUS_CHILD, 1, 200, 2000) ==
		    "GONE g1, FOLLOW g2 pid=200 forked current, CURRENT g2");
		CHECK(step(&st, EV_FOUND, 300, 3000, FOUND_CHILD) == "FOLLOW g3 pid=300 child orphan");
		CHECK(step_exit(&st, 2, EXITED(0), STATUS_REAP, 1, 300, 3000) ==
		    "GONE g2, CURRENT g3");
		CHECK(step(&st, EV_FOUND, 300, 3000, FOUND_PIDFILE) == "READY g3");
		/* Named by the pid file: its exit 0 is the end. */
		CHECK(step_exit(&st, 3, EXITED(0), STATUS_REAP, 1, 400, 4000) == "GONE g3, EXIT 0");
	}
	SUBCASE("one it left that cannot be checked: the pid file must name the daemon") {
		CHECK(step_exit(&st, 1, EXITED(0), STATUS_CHILD, 1, 0, 0) == "GONE g1, WAIT_PIDFILE");
		CHECK(step(&st, EV_START_TIMEOUT) == "EXIT 1");
	}
	SUBCASE("several left: the pid file comes") {
		CHECK(step_exit(&st, 1, EXITED(0), STATUS_CHILD, 2) == "GONE g1, WAIT_PIDFILE");
		CHECK(st.state == SITTER_WAIT_PIDFILE);
		CHECK(step(&st, EV_SIGNAL, SIGUSR1) == "DROP USR1");
		CHECK(step(&st, EV_FOUND, 300, 3000, FOUND_PIDFILE) ==
		    "FOLLOW g2 pid=300 pidfile current, PIDFILE_CAME g2, CURRENT g2, READY g2");
		CHECK(st.state == SITTER_RUNNING);
		CHECK(step(&st, EV_START_TIMEOUT) == "");
		CHECK(step(&st, EV_EXIT, 2, EXITED(0), STATUS_PIDFD) == "GONE g2, EXIT 0");
	}
	SUBCASE("several left, two of them orphans: the pid file names one, the other is stopped with the daemon") {
		CHECK(step(&st, EV_FOUND, 300, 3000, FOUND_CHILD) == "FOLLOW g2 pid=300 child orphan");
		CHECK(step(&st, EV_FOUND, 301, 3001, FOUND_CHILD) == "FOLLOW g3 pid=301 child orphan");
		CHECK(step_exit(&st, 1, EXITED(0), STATUS_CHILD, 2) == "GONE g1, WAIT_PIDFILE");
		CHECK(step(&st, EV_FOUND, 301, 3001, FOUND_PIDFILE) ==
		    "PIDFILE_CAME g3, CURRENT g3, READY g3");
		CHECK(step_exit(&st, 3, SIGKILL, STATUS_REAP, 1, 300, 3000) ==
		    "GONE g3, LEAVE 137, SIGNAL g2 TERM, SIGNAL g2 CONT");
		CHECK(step_exit(&st, 2, EXITED(0), STATUS_REAP, 0) == "GONE g2, EXIT 137");
	}
	SUBCASE("a stop while waiting is kept for the daemon") {
		CHECK(step_exit(&st, 1, EXITED(0), STATUS_CHILD, 2) == "GONE g1, WAIT_PIDFILE");
		CHECK(step(&st, EV_SIGNAL, SIGTERM) == "");
		CHECK(step(&st, EV_FOUND, 300, 3000, FOUND_PIDFILE) ==
		    "FOLLOW g2 pid=300 pidfile current, SIGNAL g2 TERM, PIDFILE_CAME g2, "
		    "CURRENT g2, READY g2");
	}
	SUBCASE("no pid file in time") {
		CHECK(step_exit(&st, 1, EXITED(0), STATUS_CHILD, 2) == "GONE g1, WAIT_PIDFILE");
		CHECK(step(&st, EV_START_TIMEOUT) == "EXIT 1");
		CHECK(st.state == SITTER_DONE);
		CHECK(step(&st, EV_FOUND, 300, 3000, FOUND_PIDFILE) == "");
	}
	SUBCASE("no pid file in time, orphans left: they are stopped, then exit 1") {
		CHECK(step(&st, EV_FOUND, 300, 3000, FOUND_CHILD) == "FOLLOW g2 pid=300 child orphan");
		CHECK(step_exit(&st, 1, EXITED(0), STATUS_CHILD, 2) == "GONE g1, WAIT_PIDFILE");
		CHECK(step(&st, EV_START_TIMEOUT) == "LEAVE 1, SIGNAL g2 TERM, SIGNAL g2 CONT");
		CHECK(st.state == SITTER_LEAVING);
		CHECK(step_exit(&st, 2, SIGTERM, STATUS_REAP, 0) == "GONE g2, EXIT 1");
	}
	SUBCASE("nginx with daemon on: the master's pid file before the start process exits") {
		CHECK(step(&st, EV_FOUND, 101, 1001, FOUND_PIDFILE) ==
		    "FOLLOW g2 pid=101 pidfile current, DRAIN g1, CURRENT g2, READY g2");
		CHECK(step_exit(&st, 1, EXITED(0), STATUS_CHILD, 0) == "GONE g1");
		CHECK(st.state == SITTER_RUNNING);
	}
	SUBCASE("it exits 0 after the pid file named it: that is the end") {
		CHECK(step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE) == "READY g1");
		CHECK(step_exit(&st, 1, EXITED(0), STATUS_CHILD, 1, 300, 3000) == "GONE g1, EXIT 0");
	}
	SUBCASE("it exits non-zero: that is the end") {
		CHECK(step_exit(&st, 1, EXITED(3), STATUS_CHILD, 1, 300, 3000) == "GONE g1, EXIT 3");
	}
	SUBCASE("it is killed: that is the end") {
		CHECK(step_exit(&st, 1, SIGKILL, STATUS_CHILD, 1, 300, 3000) == "GONE g1, EXIT 137");
	}
	SUBCASE("it exits 0 after a stop, leaving nothing: that is the end") {
		CHECK(step(&st, EV_SIGNAL, SIGTERM) == "SIGNAL g1 TERM");
		CHECK(step_exit(&st, 1, EXITED(0), STATUS_CHILD, 0) == "GONE g1, EXIT 0");
	}
	SUBCASE("it exits 0 after a stop, leaving the daemon: the stop reaches it") {
		CHECK(step(&st, EV_SIGNAL, SIGTERM) == "SIGNAL g1 TERM");
		CHECK(step_exit(&st, 1, EXITED(0), STATUS_CHILD, 1, 300, 3000) ==
		    "GONE g1, FOLLOW g2 pid=300 forked current, SIGNAL g2 TERM, CURRENT g2");
		CHECK(step_exit(&st, 2, SIGTERM, STATUS_REAP, 0) == "GONE g2, EXIT 0");
	}
}

TEST_CASE("sitter: failed upgrades leave the old process current")
{
	struct sitter st;

	start(&st);
	step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE);

	SUBCASE("no new process in upgrade_timeout") {
		CHECK(step(&st, EV_SIGNAL, SIGHUP) == "SIGNAL g1 HUP, UPGRADE_BEGIN g1");
		CHECK(step(&st, EV_UPGRADE_TIMEOUT) == "UPGRADE_FAILED g1");
		CHECK(st.current == 1);
		CHECK(step(&st, EV_UPGRADE_TIMEOUT) == "");
		/* And the next HUP tries again. */
		CHECK(step(&st, EV_SIGNAL, SIGHUP) == "SIGNAL g1 HUP, UPGRADE_BEGIN g1");
		CHECK(step(&st, EV_FOUND, 200, 2000, FOUND_PIDFILE) ==
		    "FOLLOW g2 pid=200 pidfile current, DRAIN g1, CURRENT g2, READY g2, "
		    "UPGRADE_DONE g2");
	}
	SUBCASE("the old process dies first, with no successor: the wrapper exits") {
		CHECK(step(&st, EV_SIGNAL, SIGHUP) == "SIGNAL g1 HUP, UPGRADE_BEGIN g1");
		CHECK(step(&st, EV_EXIT, 1, EXITED(1), STATUS_PIDFD) == "GONE g1, EXIT 1");
	}
	SUBCASE("the old process dies first, its orphaned successor carries on once it writes the pid file") {
		CHECK(step(&st, EV_SIGNAL, SIGHUP) == "SIGNAL g1 HUP, UPGRADE_BEGIN g1");
		CHECK(step(&st, EV_FOUND, 200, 2000, FOUND_CHILD) ==
		    "FOLLOW g2 pid=200 child orphan");
		/* Not yet the daemon: the wrapper waits for its pid file. */
		CHECK(step_exit(&st, 1, SIGKILL, STATUS_REAP, 1, 200, 2000) == "GONE g1");
		CHECK(st.state == SITTER_RUNNING);
		CHECK(st.current == 0);
		CHECK(step(&st, EV_SIGNAL, SIGUSR1) == "DROP USR1");
		CHECK(step(&st, EV_FOUND, 200, 2000, FOUND_PIDFILE) ==
		    "CURRENT g2, READY g2, UPGRADE_DONE g2");
		CHECK(step(&st, EV_SIGNAL, SIGUSR1) == "SIGNAL g2 USR1");
		CHECK(step_exit(&st, 2, EXITED(4), STATUS_REAP, 0) == "GONE g2, EXIT 4");
	}
	SUBCASE("the old process dies first, its orphan never writes the pid file: stopped at upgrade_timeout") {
		CHECK(step(&st, EV_SIGNAL, SIGHUP) == "SIGNAL g1 HUP, UPGRADE_BEGIN g1");
		CHECK(step(&st, EV_FOUND, 200, 2000, FOUND_CHILD) ==
		    "FOLLOW g2 pid=200 child orphan");
		CHECK(step_exit(&st, 1, SIGKILL, STATUS_REAP, 1, 200, 2000) == "GONE g1");
		CHECK(step(&st, EV_UPGRADE_TIMEOUT) ==
		    "UPGRADE_FAILED g1, LEAVE 137, SIGNAL g2 TERM, SIGNAL g2 CONT");
		CHECK(step(&st, EV_FOUND, 200, 2000, FOUND_PIDFILE) == "");
		CHECK(step_exit(&st, 2, SIGTERM, STATUS_REAP, 0) == "GONE g2, EXIT 137");
	}
	SUBCASE("the old process dies first, its orphan dies too: the old one's status") {
		CHECK(step(&st, EV_SIGNAL, SIGHUP) == "SIGNAL g1 HUP, UPGRADE_BEGIN g1");
		CHECK(step(&st, EV_FOUND, 200, 2000, FOUND_CHILD) ==
		    "FOLLOW g2 pid=200 child orphan");
		CHECK(step_exit(&st, 1, SIGKILL, STATUS_REAP, 1, 200, 2000) == "GONE g1");
		CHECK(step_exit(&st, 2, EXITED(1), STATUS_REAP, 0) == "GONE g2, EXIT 137");
	}
}

TEST_CASE("sitter: a crashed master's workers are orphans, never the daemon")
{
	struct settings s;
	struct sitter st;

	/* examples/nginx.toml: the nginx recipe, TERM rewritten to QUIT. */
	settings_defaults(&s);
	s.recipe = RECIPE_NGINX;
	s.sig.rewrite[SIGTERM] = SIGQUIT;
	start(&st, &s);
	CHECK(step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE) ==
	    "FOLLOW g1 pid=100 pidfile current, CURRENT g1, READY g1");

	SUBCASE("the master SIGKILLed: its re-parented workers are stopped, the exit status is its 137") {
		CHECK(step(&st, EV_FOUND, 101, 1001, FOUND_CHILD) == "FOLLOW g2 pid=101 child orphan");
		CHECK(step(&st, EV_FOUND, 102, 1001, FOUND_CHILD) == "FOLLOW g3 pid=102 child orphan");
		CHECK(step(&st, EV_FOUND, 101, 1001, FOUND_CHILD) == "");
		CHECK(step_exit(&st, 1, SIGKILL, STATUS_REAP, 2) ==
		    "GONE g1, LEAVE 137, SIGNAL g2 QUIT, SIGNAL g3 QUIT, SIGNAL g2 CONT, SIGNAL g3 CONT");
		CHECK(st.current == 0);
		CHECK(st.state == SITTER_LEAVING);
		/* sv hup: no worker is upgraded, nor made current. */
		CHECK(step(&st, EV_SIGNAL, SIGHUP) == "DROP HUP");
		CHECK(step(&st, EV_SIGNAL, SIGUSR2) == "DROP USR2");
		/* Whatever appears now is told to stop too, and is no daemon. */
		CHECK(step(&st, EV_FOUND, 103, 1001, FOUND_PIDFILE) ==
		    "FOLLOW g4 pid=103 pidfile orphan, SIGNAL g4 QUIT, SIGNAL g4 CONT");
		CHECK(step(&st, EV_FOUND, 102, 1001, FOUND_PIDFILE) == "");
		CHECK(step_exit(&st, 2, EXITED(0), STATUS_REAP, 1) == "GONE g2");
		CHECK(step_exit(&st, 4, EXITED(0), STATUS_REAP, 1) == "GONE g4");
		CHECK(step_exit(&st, 3, EXITED(0), STATUS_REAP, 0) == "GONE g3, EXIT 137");
		CHECK(st.state == SITTER_DONE);
	}
	SUBCASE("orphans while the master lives get nothing but a stop") {
		CHECK(step(&st, EV_FOUND, 101, 1001, FOUND_CHILD) == "FOLLOW g2 pid=101 child orphan");
		CHECK(step(&st, EV_SIGNAL, SIGUSR1) == "SIGNAL g1 USR1");
		CHECK(step(&st, EV_SIGNAL, SIGCONT) == "SIGNAL g1 CONT");
		/* Named by the pid file but older than the master: a stale
		 * pid file, not a successor. */
		CHECK(step(&st, EV_FOUND, 101, 999, FOUND_PIDFILE) == "IGNORE pid=101");
		CHECK(step_exit(&st, 2, EXITED(0), STATUS_REAP, 0) == "GONE g2");
		CHECK(step(&st, EV_FOUND, 102, 1001, FOUND_CHILD) == "FOLLOW g3 pid=102 child orphan");
		CHECK(step(&st, EV_SIGNAL, SIGTERM) == "SIGNAL g1 QUIT<TERM, SIGNAL g3 QUIT<TERM");
		CHECK(step_exit(&st, 1, EXITED(0), STATUS_REAP, 1) == "GONE g1");
		CHECK(step_exit(&st, 3, EXITED(0), STATUS_REAP, 0) == "GONE g3, EXIT 0");
	}
	SUBCASE("the new master, orphaned mid-upgrade, is the daemon once it writes the pid file") {
		CHECK(step(&st, EV_SIGNAL, SIGHUP) == "SIGNAL g1 USR2<HUP, UPGRADE_BEGIN g1");
		CHECK(step(&st, EV_FOUND, 100, 1000, FOUND_OLDBIN) == "");
		CHECK(step(&st, EV_FOUND, 200, 2000, FOUND_CHILD) == "FOLLOW g2 pid=200 child orphan");
		CHECK(step(&st, EV_FOUND, 101, 1001, FOUND_CHILD) == "FOLLOW g3 pid=101 child orphan");
		CHECK(step_exit(&st, 1, SIGKILL, STATUS_REAP, 2) == "GONE g1");
		CHECK(step(&st, EV_FOUND, 200, 2000, FOUND_PIDFILE) ==
		    "CURRENT g2, READY g2, UPGRADE_DONE g2");
		/* The old master's worker stays an orphan. */
		CHECK(step(&st, EV_SIGNAL, SIGUSR1) == "SIGNAL g2 USR1");
		CHECK(step_exit(&st, 3, EXITED(0), STATUS_REAP, 0) == "GONE g3");
		CHECK(step_exit(&st, 2, EXITED(0), STATUS_REAP, 0) == "GONE g2, EXIT 0");
	}
	SUBCASE("an orphan named by .oldbin drains") {
		CHECK(step(&st, EV_FOUND, 200, 2000, FOUND_CHILD) == "FOLLOW g2 pid=200 child orphan");
		CHECK(step(&st, EV_FOUND, 200, 2000, FOUND_OLDBIN) == "DRAIN g2");
		CHECK(step(&st, EV_SIGNAL, SIGTERM) == "SIGNAL g1 QUIT<TERM, SIGNAL g2 QUIT<TERM");
	}
}

TEST_CASE("sitter: a stop in the middle of an upgrade reaches the orphaned successor, and waits for it")
{
	struct sitter st;

	start(&st);
	step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE);
	CHECK(step(&st, EV_SIGNAL, SIGHUP) == "SIGNAL g1 HUP, UPGRADE_BEGIN g1");
	CHECK(step(&st, EV_SIGNAL, SIGTERM) == "SIGNAL g1 TERM");
	CHECK(step(&st, EV_FOUND, 200, 2000, FOUND_CHILD) ==
	    "FOLLOW g2 pid=200 child orphan, SIGNAL g2 TERM");
	CHECK(step(&st, EV_SIGNAL, SIGCONT) == "SIGNAL g1 CONT, SIGNAL g2 CONT");
	CHECK(step_exit(&st, 1, EXITED(0), STATUS_CHILD, 1, 200, 2000) == "GONE g1");
	CHECK(st.state == SITTER_RUNNING);
	/* Its SIGKILL (tableflip kills a successor not ready at a stop) is
	 * not the service's status. */
	CHECK(step_exit(&st, 2, SIGKILL, STATUS_REAP, 0) == "GONE g2, EXIT 0");
}

TEST_CASE("sitter: the new generation dies while the old one drains: the upgrade failed, the old one is never current again")
{
	struct sitter st;

	start(&st);
	CHECK(step(&st, EV_FOUND, 100, 1000, FOUND_SPAWNED) ==
	    "FOLLOW g1 pid=100 spawned current, CURRENT g1");
	CHECK(step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE) == "READY g1");
	CHECK(step(&st, EV_SIGNAL, SIGHUP) == "SIGNAL g1 HUP, UPGRADE_BEGIN g1");
	CHECK(step(&st, EV_FOUND, 200, 2000, FOUND_PIDFILE) ==
	    "FOLLOW g2 pid=200 pidfile current, DRAIN g1, CURRENT g2, READY g2, UPGRADE_DONE g2");

	/* SIGKILLed during g1's drain.  g1 was told to go (tableflip's
	 * parent drains once its successor is ready): it is not the
	 * service any more, whatever it does until it exits. */
	CHECK(step(&st, EV_EXIT, 2, SIGKILL, STATUS_PIDFD) == "GONE g2, SUCCESSOR_DIED g2");
	CHECK(st.current == 0);
	CHECK(st.upgrading == 0);
	REQUIRE(sitter_gen(&st, 1) != NULL);
	CHECK(sitter_gen(&st, 1)->role == ROLE_DRAINING);

	SUBCASE("the old one drains and exits: the status is the new one's") {
		/* No current one: what goes to the current one has no target. */
		CHECK(step(&st, EV_SIGNAL, SIGUSR1) == "DROP USR1");
		CHECK(step(&st, EV_SIGNAL, SIGHUP) == "DROP HUP");
		CHECK(st.upgrading == 0);
		/* Found again (an orphan scan, .oldbin): still draining. */
		CHECK(step(&st, EV_FOUND, 100, 1000, FOUND_OLDBIN) == "");
		CHECK(st.current == 0);
		CHECK(step(&st, EV_EXIT, 1, EXITED(0), STATUS_CHILD) == "GONE g1, EXIT 137");
	}
	SUBCASE("a stop still reaches the old one; the status is still the new one's") {
		CHECK(step(&st, EV_SIGNAL, SIGTERM) == "SIGNAL g1 TERM");
		CHECK(step(&st, EV_SIGNAL, SIGCONT) == "SIGNAL g1 CONT");
		CHECK(step(&st, EV_EXIT, 1, EXITED(4), STATUS_CHILD) == "GONE g1, EXIT 137");
	}
	SUBCASE("the pid file names the old one again (nginx's rollback): evidence, it is current") {
		CHECK(step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE) == "CURRENT g1, READY g1");
		CHECK(step(&st, EV_SIGNAL, SIGUSR1) == "SIGNAL g1 USR1");
		CHECK(step(&st, EV_SIGNAL, SIGHUP) == "SIGNAL g1 HUP, UPGRADE_BEGIN g1");
		CHECK(step(&st, EV_EXIT, 1, EXITED(5), STATUS_CHILD) == "GONE g1, EXIT 5");
	}
	SUBCASE("its status unknown: still not the old one's") {
		struct sitter t;
		start(&t);
		step(&t, EV_FOUND, 100, 1000, FOUND_PIDFILE);
		step(&t, EV_FOUND, 200, 2000, FOUND_PIDFILE);
		CHECK(step(&t, EV_EXIT, 2, 0, STATUS_NONE) == "GONE g2, SUCCESSOR_DIED g2");
		CHECK(step(&t, EV_EXIT, 1, EXITED(3), STATUS_PIDFD) == "GONE g1, EXIT 0");
	}
}

TEST_CASE("sitter: old generations found beside the current one never carry on after it")
{
	struct sitter st;

	SUBCASE("an old master in .oldbin") {
		start(&st);
		step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE);
		CHECK(step(&st, EV_FOUND, 50, 500, FOUND_OLDBIN) == "FOLLOW g2 pid=50 oldbin draining");
		CHECK(step(&st, EV_EXIT, 1, SIGSEGV, STATUS_PIDFD) == "GONE g1, SUCCESSOR_DIED g1");
		CHECK(step(&st, EV_SIGNAL, SIGUSR1) == "DROP USR1");
		CHECK(step(&st, EV_EXIT, 2, EXITED(0), STATUS_PIDFD) == "GONE g2, EXIT 139");
	}
	SUBCASE("the adopted daemon's parent, an old generation still draining") {
		start(&st);
		step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE);
		CHECK(step(&st, EV_FOUND, 50, 500, FOUND_PARENT) == "FOLLOW g2 pid=50 parent draining");
		CHECK(step(&st, EV_EXIT, 1, EXITED(2), STATUS_PIDFD) == "GONE g1, SUCCESSOR_DIED g1");
		CHECK(step(&st, EV_EXIT, 2, EXITED(0), STATUS_REAP) == "GONE g2, EXIT 2");
	}
	SUBCASE("the process asked to upgrade dies with only an older one left") {
		start(&st);
		step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE);
		step(&st, EV_FOUND, 50, 500, FOUND_OLDBIN);
		step(&st, EV_EXIT, 2, EXITED(0), STATUS_PIDFD);
		CHECK(step(&st, EV_SIGNAL, SIGHUP) == "SIGNAL g1 HUP, UPGRADE_BEGIN g1");
		CHECK(step(&st, EV_FOUND, 60, 600, FOUND_OLDBIN) == "FOLLOW g3 pid=60 oldbin draining");
		CHECK(step(&st, EV_EXIT, 1, EXITED(1), STATUS_PIDFD) == "GONE g1, SUCCESSOR_DIED g1");
		CHECK(st.upgrading == 0);
		CHECK(step(&st, EV_UPGRADE_TIMEOUT) == "");
	}
}

TEST_CASE("sitter: an upgrade signal while a generation drains is forwarded, not tracked")
{
	struct sitter st;

	start(&st);
	step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE);
	CHECK(step(&st, EV_SIGNAL, SIGHUP) == "SIGNAL g1 HUP, UPGRADE_BEGIN g1");
	CHECK(step(&st, EV_FOUND, 200, 2000, FOUND_PIDFILE) ==
	    "FOLLOW g2 pid=200 pidfile current, DRAIN g1, CURRENT g2, READY g2, UPGRADE_DONE g2");
	/* tableflip refuses it ("parent hasn't exited"): no upgrade state,
	 * no timer, nothing to wait for. */
	CHECK(step(&st, EV_SIGNAL, SIGHUP) == "SIGNAL g2 HUP, UPGRADE_REFUSED g1");
	CHECK(st.upgrading == 0);
	CHECK(step(&st, EV_SIGNAL, SIGHUP) == "SIGNAL g2 HUP, UPGRADE_REFUSED g1");
	CHECK(step(&st, EV_UPGRADE_TIMEOUT) == "");
	/* Drained: the next one is an upgrade again. */
	CHECK(step(&st, EV_EXIT, 1, EXITED(0), STATUS_CHILD) == "GONE g1");
	CHECK(step(&st, EV_SIGNAL, SIGHUP) == "SIGNAL g2 HUP, UPGRADE_BEGIN g2");
	CHECK(st.upgrading == 2);

	SUBCASE("a gunicorn successor in .2 counts as well") {
		struct sitter t;
		start(&t);
		step(&t, EV_FOUND, 100, 1000, FOUND_PIDFILE);
		CHECK(step(&t, EV_FOUND, 200, 2000, FOUND_DOT2) == "FOLLOW g2 pid=200 dot2 draining");
		CHECK(step(&t, EV_SIGNAL, SIGHUP) == "SIGNAL g1 HUP, UPGRADE_REFUSED g2");
	}
	SUBCASE("the nginx recipe: USR2 while the old master is still there") {
		struct settings s;
		struct sitter t;
		settings_defaults(&s);
		s.recipe = RECIPE_NGINX;
		start(&t, &s);
		step(&t, EV_FOUND, 100, 1000, FOUND_PIDFILE);
		CHECK(step(&t, EV_SIGNAL, SIGHUP) == "SIGNAL g1 USR2<HUP, UPGRADE_BEGIN g1");
		CHECK(step(&t, EV_FOUND, 200, 2000, FOUND_PIDFILE) ==
		    "FOLLOW g2 pid=200 pidfile current, DRAIN g1, CURRENT g2, READY g2, "
		    "UPGRADE_DONE g2, SIGNAL g1 QUIT");
		CHECK(step(&t, EV_SIGNAL, SIGHUP) == "SIGNAL g2 USR2<HUP, UPGRADE_REFUSED g1");
		CHECK(t.upgrading == 0);
		CHECK(step(&t, EV_EXIT, 1, EXITED(0), STATUS_REAP) == "GONE g1");
		CHECK(step(&t, EV_SIGNAL, SIGHUP) == "SIGNAL g2 USR2<HUP, UPGRADE_BEGIN g2");
	}
	SUBCASE("an old master adopted in .oldbin") {
		struct sitter t;
		start(&t);
		step(&t, EV_FOUND, 100, 1000, FOUND_PIDFILE);
		step(&t, EV_FOUND, 50, 500, FOUND_OLDBIN);
		CHECK(step(&t, EV_SIGNAL, SIGHUP) == "SIGNAL g1 HUP, UPGRADE_REFUSED g2");
	}
}

TEST_CASE("sitter: the nginx recipe")
{
	struct settings s;
	struct sitter st;

	settings_defaults(&s);
	s.recipe = RECIPE_NGINX;
	start(&st, &s);
	CHECK(step(&st, EV_SIGNAL, SIGHUP) == "DROP HUP");
	CHECK(step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE) ==
	    "FOLLOW g1 pid=100 pidfile current, CURRENT g1, READY g1");
	CHECK(step(&st, EV_SIGNAL, SIGHUP) == "SIGNAL g1 USR2<HUP, UPGRADE_BEGIN g1");
	CHECK(step(&st, EV_SIGNAL, SIGHUP) == "DROP HUP");
	CHECK(step(&st, EV_SIGNAL, SIGUSR2) == "SIGNAL g1 USR2");
	/* nginx renames the pid file to .oldbin, then the new master writes
	 * the pid file: it becomes current, the old master is told to quit. */
	CHECK(step(&st, EV_FOUND, 100, 1000, FOUND_OLDBIN) == "");
	CHECK(step(&st, EV_FOUND, 200, 2000, FOUND_PIDFILE) ==
	    "FOLLOW g2 pid=200 pidfile current, DRAIN g1, CURRENT g2, READY g2, "
	    "UPGRADE_DONE g2, SIGNAL g1 QUIT");
	CHECK(step(&st, EV_SIGNAL, SIGQUIT) == "SIGNAL g1 QUIT, SIGNAL g2 QUIT");
	CHECK(step(&st, EV_EXIT, 1, EXITED(0), STATUS_REAP) == "GONE g1");
	CHECK(step(&st, EV_EXIT, 2, EXITED(0), STATUS_REAP) == "GONE g2, EXIT 0");

	SUBCASE("a timeout, then another try") {
		struct sitter t;
		start(&t, &s);
		step(&t, EV_FOUND, 100, 1000, FOUND_PIDFILE);
		CHECK(step(&t, EV_SIGNAL, SIGHUP) == "SIGNAL g1 USR2<HUP, UPGRADE_BEGIN g1");
		CHECK(step(&t, EV_UPGRADE_TIMEOUT) == "UPGRADE_FAILED g1");
		CHECK(step(&t, EV_SIGNAL, SIGHUP) == "SIGNAL g1 USR2<HUP, UPGRADE_BEGIN g1");
	}
	SUBCASE("while stopping, HUP is only forwarded") {
		struct sitter t;
		start(&t, &s);
		step(&t, EV_FOUND, 100, 1000, FOUND_PIDFILE);
		CHECK(step(&t, EV_SIGNAL, SIGTERM) == "SIGNAL g1 TERM");
		CHECK(step(&t, EV_SIGNAL, SIGHUP) == "SIGNAL g1 HUP");
	}
	SUBCASE("another upgrade signal") {
		struct sitter t;
		s.upgrade_signal = SIGUSR2;
		start(&t, &s);
		step(&t, EV_FOUND, 100, 1000, FOUND_PIDFILE);
		CHECK(step(&t, EV_SIGNAL, SIGHUP) == "SIGNAL g1 HUP");
		CHECK(step(&t, EV_SIGNAL, SIGUSR2) == "SIGNAL g1 USR2, UPGRADE_BEGIN g1");
	}
}

TEST_CASE("sitter: the nginx recipe: the old master taking its pid file back is a failed upgrade")
{
	struct settings s;
	struct sitter st;

	/* unicorn's new master that cannot load its config.ru exits before
	 * it writes the pid file; the old master renames .oldbin back. */
	settings_defaults(&s);
	s.recipe = RECIPE_NGINX;
	start(&st, &s);
	step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE);
	CHECK(step(&st, EV_SIGNAL, SIGHUP) == "SIGNAL g1 USR2<HUP, UPGRADE_BEGIN g1");
	/* Read before the rename: no news. */
	CHECK(step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE) == "READY g1");
	CHECK(step(&st, EV_FOUND, 100, 1000, FOUND_OLDBIN) == "");
	CHECK(step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE) == "UPGRADE_FAILED g1, READY g1");
	CHECK(st.upgrading == 0);
	CHECK(st.current == 1);
	CHECK(sitter_phase(&st) == PHASE_RUNNING);
	/* The timer, if it still fires, finds nothing to fail. */
	CHECK(step(&st, EV_UPGRADE_TIMEOUT) == "");
	/* The next try starts afresh: .oldbin, then the new master. */
	CHECK(step(&st, EV_SIGNAL, SIGHUP) == "SIGNAL g1 USR2<HUP, UPGRADE_BEGIN g1");
	CHECK(step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE) == "READY g1");
	CHECK(step(&st, EV_FOUND, 100, 1000, FOUND_OLDBIN) == "");
	CHECK(step(&st, EV_FOUND, 200, 2000, FOUND_PIDFILE) ==
	    "FOLLOW g2 pid=200 pidfile current, DRAIN g1, CURRENT g2, READY g2, "
	    "UPGRADE_DONE g2, SIGNAL g1 QUIT");
	CHECK(step(&st, EV_FOUND, 100, 1000, FOUND_OLDBIN) == "");

	SUBCASE("what .oldbin said before a timeout is no news to the next try") {
		struct sitter t;
		start(&t, &s);
		step(&t, EV_FOUND, 100, 1000, FOUND_PIDFILE);
		step(&t, EV_SIGNAL, SIGHUP);
		CHECK(step(&t, EV_FOUND, 100, 1000, FOUND_OLDBIN) == "");
		CHECK(step(&t, EV_UPGRADE_TIMEOUT) == "UPGRADE_FAILED g1");
		CHECK(step(&t, EV_SIGNAL, SIGHUP) == "SIGNAL g1 USR2<HUP, UPGRADE_BEGIN g1");
		CHECK(step(&t, EV_FOUND, 100, 1000, FOUND_PIDFILE) == "READY g1");
		CHECK(t.upgrading == 1);
	}
	SUBCASE("the tableflip recipe never reads .oldbin that way") {
		struct sitter t;
		start(&t);
		step(&t, EV_FOUND, 100, 1000, FOUND_PIDFILE);
		CHECK(step(&t, EV_SIGNAL, SIGHUP) == "SIGNAL g1 HUP, UPGRADE_BEGIN g1");
		CHECK(step(&t, EV_FOUND, 100, 1000, FOUND_OLDBIN) == "");
		CHECK(step(&t, EV_FOUND, 100, 1000, FOUND_PIDFILE) == "READY g1");
		CHECK(t.upgrading == 1);
	}
}

TEST_CASE("sitter: the gunicorn recipe")
{
	struct settings s;
	struct sitter st;

	settings_defaults(&s);
	s.recipe = RECIPE_GUNICORN;
	start(&st, &s);
	CHECK(step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE) ==
	    "FOLLOW g1 pid=100 pidfile current, CURRENT g1, READY g1");
	CHECK(step(&st, EV_SIGNAL, SIGHUP) == "SIGNAL g1 USR2<HUP, UPGRADE_BEGIN g1");
	CHECK(step(&st, EV_SIGNAL, SIGHUP) == "DROP HUP");

	SUBCASE("the new master in .2 is current; the old one gets TERM, its graceful stop") {
		CHECK(step(&st, EV_FOUND, 200, 2000, FOUND_DOT2) ==
		    "FOLLOW g2 pid=200 dot2 current, DRAIN g1, CURRENT g2, UPGRADE_DONE g2, "
		    "SIGNAL g1 TERM");
		CHECK(st.upgrading == 0);
		/* The pid file names the old master until it exits: no news. */
		CHECK(step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE) == "");
		CHECK(step(&st, EV_FOUND, 200, 2000, FOUND_DOT2) == "");
		CHECK(step(&st, EV_SIGNAL, SIGUSR1) == "SIGNAL g2 USR1");
		CHECK(step(&st, EV_SIGNAL, SIGHUP) == "SIGNAL g2 USR2<HUP, UPGRADE_REFUSED g1");
		CHECK(step(&st, EV_EXIT, 1, EXITED(0), STATUS_REAP) == "GONE g1");
		/* Promoted, the new master renames .2 to the pid file. */
		CHECK(step(&st, EV_FOUND, 200, 2000, FOUND_PIDFILE) == "READY g2");
		CHECK(step(&st, EV_SIGNAL, SIGHUP) == "SIGNAL g2 USR2<HUP, UPGRADE_BEGIN g2");
	}
	SUBCASE("a stop during the drain reaches both masters") {
		step(&st, EV_FOUND, 200, 2000, FOUND_DOT2);
		CHECK(step(&st, EV_SIGNAL, SIGTERM) == "SIGNAL g1 TERM, SIGNAL g2 TERM");
		CHECK(step(&st, EV_EXIT, 2, EXITED(0), STATUS_REAP) == "GONE g2");
		CHECK(step(&st, EV_EXIT, 1, EXITED(0), STATUS_REAP) == "GONE g1, EXIT 0");
	}
	SUBCASE("the new master dies while the old one drains: a failed upgrade") {
		step(&st, EV_FOUND, 200, 2000, FOUND_DOT2);
		CHECK(step(&st, EV_EXIT, 2, EXITED(4), STATUS_REAP) == "GONE g2, SUCCESSOR_DIED g2");
		CHECK(step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE) == "");
		CHECK(step(&st, EV_EXIT, 1, EXITED(0), STATUS_REAP) == "GONE g1, EXIT 4");
	}
	SUBCASE("no .2 within upgrade_timeout (the new master failed to load the app)") {
		CHECK(step(&st, EV_UPGRADE_TIMEOUT) == "UPGRADE_FAILED g1");
		CHECK(st.current == 1);
		CHECK(step(&st, EV_SIGNAL, SIGHUP) == "SIGNAL g1 USR2<HUP, UPGRADE_BEGIN g1");
	}
	SUBCASE("a stale .2 naming an older process completes nothing") {
		CHECK(step(&st, EV_FOUND, 50, 500, FOUND_DOT2) == "FOLLOW g2 pid=50 dot2 draining");
		CHECK(st.upgrading == 1);
	}
}

TEST_CASE("sitter: .2 without the gunicorn recipe is only followed")
{
	struct sitter st;
	struct settings s;

	settings_defaults(&s);
	SUBCASE("tableflip") {}
	SUBCASE("nginx") { s.recipe = RECIPE_NGINX; }
	start(&st, &s);
	step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE);
	step(&st, EV_SIGNAL, SIGHUP);
	CHECK(step(&st, EV_FOUND, 200, 2000, FOUND_DOT2) == "FOLLOW g2 pid=200 dot2 draining");
	CHECK(st.upgrading == 1);
	/* The old master gone: the new one carries on, and is done. */
	CHECK(step(&st, EV_EXIT, 1, EXITED(0), STATUS_REAP) ==
	    "GONE g1, CURRENT g2, UPGRADE_DONE g2");
}

TEST_CASE("sitter: the configured policy: rewrite, ignore, every, stop")
{
	struct settings s;
	struct sitter st;

	settings_defaults(&s);
	s.sig.rewrite[SIGTERM] = SIGQUIT;
	s.sig.rewrite[SIGUSR1] = SIGUSR2;
	s.sig.ignore = SIG_BIT(SIGWINCH) | SIG_BIT(SIGINT);
	start(&st, &s);
	step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE);
	step(&st, EV_FOUND, 50, 500, FOUND_OLDBIN);

	CHECK(step(&st, EV_SIGNAL, SIGUSR1) == "SIGNAL g1 USR2<USR1");
	CHECK(step(&st, EV_SIGNAL, SIGWINCH) == "DROP WINCH");
	CHECK(step(&st, EV_SIGNAL, SIGINT) == "DROP INT");
	CHECK(!st.stopping);  /* an ignored stop signal stops nothing */
	CHECK(step(&st, EV_SIGNAL, SIGTERM) == "SIGNAL g1 QUIT<TERM, SIGNAL g2 QUIT<TERM");
	CHECK(st.stopping);

	/* USR2 to every generation; HUP a stop signal too. */
	settings_defaults(&s);
	s.sig.every |= SIG_BIT(SIGUSR2);
	s.sig.stop |= SIG_BIT(SIGHUP);
	s.sig.every |= SIG_BIT(SIGHUP);
	start(&st, &s);
	step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE);
	step(&st, EV_FOUND, 50, 500, FOUND_OLDBIN);
	CHECK(step(&st, EV_SIGNAL, SIGUSR2) == "SIGNAL g1 USR2, SIGNAL g2 USR2");
	CHECK(!st.stopping);
	CHECK(step(&st, EV_SIGNAL, SIGHUP) == "SIGNAL g1 HUP, SIGNAL g2 HUP");
	CHECK(st.stopping);
	CHECK(step(&st, EV_FOUND, 200, 2000, FOUND_PIDFILE) ==
	    "FOLLOW g3 pid=200 pidfile current, SIGNAL g3 HUP, DRAIN g1, CURRENT g3, READY g3");

	/* No configuration keeps ABRT from every generation nor from
	 * stopping: sets without it (config.cc refuses to name it). */
	settings_defaults(&s);
	s.sig.every = SIG_BIT(SIGTERM);
	s.sig.stop = SIG_BIT(SIGTERM);
	start(&st, &s);
	step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE);
	step(&st, EV_FOUND, 50, 500, FOUND_OLDBIN);
	CHECK(step(&st, EV_SIGNAL, SIGABRT) == "SIGNAL g1 ABRT, SIGNAL g2 ABRT");
	CHECK(st.stopping);
	CHECK(step(&st, EV_FOUND, 200, 2000, FOUND_PIDFILE) ==
	    "FOLLOW g3 pid=200 pidfile current, SIGNAL g3 ABRT, DRAIN g1, CURRENT g3, READY g3");
}

/* ---- readiness: ready = "pidfile" (the default) or "notify" ---- */

TEST_CASE("sitter: ready = pidfile: READY=1 is noted, the pid file makes ready")
{
	struct sitter st;

	start(&st);
	CHECK(step(&st, EV_FOUND, 100, 1000, FOUND_SPAWNED) ==
	    "FOLLOW g1 pid=100 spawned current, CURRENT g1");
	CHECK(step(&st, EV_READY, 1) == "");
	CHECK(sitter_gen(&st, 1)->ready);
	CHECK(!sitter_ready(&st));
	CHECK(sitter_phase(&st) == PHASE_STARTING);
	CHECK(step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE) == "READY g1");
	CHECK(sitter_ready(&st));
	CHECK(sitter_phase(&st) == PHASE_RUNNING);
}

TEST_CASE("sitter: ready = notify: the pid file alone is not ready, READY=1 is")
{
	struct settings s;
	struct sitter st;

	settings_defaults(&s);
	s.ready = READY_NOTIFY;
	start(&st, &s);
	CHECK(step(&st, EV_FOUND, 100, 1000, FOUND_SPAWNED) ==
	    "FOLLOW g1 pid=100 spawned current, CURRENT g1");
	/* ACT_READY for the naming (the glue's daemon_named), not ready. */
	CHECK(step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE) == "READY g1");
	CHECK(!sitter_ready(&st));
	CHECK(sitter_phase(&st) == PHASE_STARTING);
	CHECK(step(&st, EV_READY, 1) == "READY g1");
	CHECK(sitter_ready(&st));
	CHECK(sitter_phase(&st) == PHASE_RUNNING);
	/* Again: nothing new. */
	CHECK(step(&st, EV_READY, 1) == "");
	/* An unknown generation's: nothing. */
	CHECK(step(&st, EV_READY, 7) == "");
}

TEST_CASE("sitter: ready = notify: READY=1 before any pid file makes the spawned daemon ready")
{
	struct settings s;
	struct sitter st;

	settings_defaults(&s);
	s.ready = READY_NOTIFY;
	start(&st, &s);
	step(&st, EV_FOUND, 100, 1000, FOUND_SPAWNED);
	CHECK(step(&st, EV_READY, 1) == "READY g1");
	CHECK(sitter_phase(&st) == PHASE_RUNNING);
	CHECK(!st.pidfile_seen);
}

TEST_CASE("sitter: ready = notify: an upgrade is done at the successor's READY=1, not its pid file")
{
	struct settings s;
	struct sitter st;

	settings_defaults(&s);
	s.ready = READY_NOTIFY;
	start(&st, &s);
	step(&st, EV_FOUND, 100, 1000, FOUND_SPAWNED);
	step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE);
	CHECK(step(&st, EV_READY, 1) == "READY g1");
	CHECK(step(&st, EV_SIGNAL, SIGHUP) == "SIGNAL g1 HUP, UPGRADE_BEGIN g1");
	CHECK(step(&st, EV_FOUND, 200, 2000, FOUND_PIDFILE) ==
	    "FOLLOW g2 pid=200 pidfile current, DRAIN g1, CURRENT g2, READY g2");
	CHECK(sitter_phase(&st) == PHASE_UPGRADING);
	CHECK(!sitter_ready(&st));
	/* The old one's READY=1 again (a late one): no news. */
	CHECK(step(&st, EV_READY, 1) == "");
	CHECK(step(&st, EV_READY, 2) == "READY g2, UPGRADE_DONE g2");
	CHECK(sitter_phase(&st) == PHASE_RUNNING);
	CHECK(st.upgrading == 0);
}

/* ready = notify: g1 spawned, ready by its READY=1, asked to upgrade. */
static void
notify_upgrading(struct sitter *st)
{
	struct settings s;

	settings_defaults(&s);
	s.ready = READY_NOTIFY;
	start(st, &s);
	step(st, EV_FOUND, 100, 1000, FOUND_SPAWNED);
	step(st, EV_READY, 1);
	step(st, EV_SIGNAL, SIGHUP);
}

TEST_CASE("sitter: ready = notify: the old one's exit does not end the upgrade before the successor's READY=1")
{
	struct sitter st;

	notify_upgrading(&st);
	step(&st, EV_FOUND, 200, 2000, FOUND_PIDFILE);
	/* tableflip's drain is over before the successor speaks. */
	CHECK(step(&st, EV_EXIT, 1, EXITED(0), STATUS_REAP) == "GONE g1");
	SUBCASE("READY=1 after the drain ends it")
	{
		CHECK(sitter_phase(&st) == PHASE_UPGRADING);
		CHECK(!sitter_ready(&st));
		CHECK(step(&st, EV_READY, 2) == "READY g2, UPGRADE_DONE g2");
		CHECK(sitter_phase(&st) == PHASE_RUNNING);
	}
	SUBCASE("no READY=1: upgrade_timeout fails it, and says why")
	{
		struct event ev = {};
		std::vector<struct action> out;
		ev.kind = EV_UPGRADE_TIMEOUT;
		sitter_step(&st, &ev, &out);
		REQUIRE(out.size() == 1);
		CHECK(out[0].kind == ACT_UPGRADE_FAILED);
		CHECK(std::string(out[0].why) ==
		    "the new process did not say READY=1 within upgrade_timeout");
		CHECK(st.upgrading == 0);
		/* g2 stays current; its READY=1 makes the service ready. */
		CHECK(step(&st, EV_READY, 2) == "READY g2");
	}
}

TEST_CASE("sitter: ready = notify: a successor ready before its pid file completes the upgrade when named")
{
	struct sitter st;

	notify_upgrading(&st);
	/* gunicorn's .2: draining until named; its READY=1 only noted. */
	CHECK(step(&st, EV_FOUND, 200, 2000, FOUND_DOT2) == "FOLLOW g2 pid=200 dot2 draining");
	CHECK(step(&st, EV_READY, 2) == "");
	CHECK(step(&st, EV_FOUND, 200, 2000, FOUND_PIDFILE) ==
	    "DRAIN g1, CURRENT g2, READY g2, UPGRADE_DONE g2");
	CHECK(sitter_ready(&st));
}

TEST_CASE("sitter: MAINPID= names a generation as the pid file does")
{
	struct sitter st;

	start(&st);
	step(&st, EV_FOUND, 100, 1000, FOUND_SPAWNED);
	step(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE);
	CHECK(step(&st, EV_SIGNAL, SIGHUP) == "SIGNAL g1 HUP, UPGRADE_BEGIN g1");
	CHECK(step(&st, EV_FOUND, 200, 2000, FOUND_MAINPID) ==
	    "FOLLOW g2 pid=200 mainpid current, DRAIN g1, CURRENT g2, READY g2, UPGRADE_DONE g2");
	/* An older process named so is refused as from the pid file. */
	CHECK(step(&st, EV_FOUND, 50, 500, FOUND_MAINPID) == "IGNORE pid=50");
	/* An orphan's READY=1 counts for nothing. */
	CHECK(step(&st, EV_FOUND, 300, 3000, FOUND_CHILD) == "FOLLOW g3 pid=300 child orphan");
	CHECK(step(&st, EV_READY, 3) == "");
	CHECK(!sitter_gen(&st, 3)->ready);
}
