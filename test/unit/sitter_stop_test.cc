/*
 * sitter_stop_test.cc: the exit status when one stop meets two
 * generations.  Under runit, `sv down` during a drain sends TERM to the
 * draining generation and to the current one; when the current one
 * died first, the draining one was made current and the wrapper exited
 * with ITS status: the same `sv down` gave one status or the other,
 * depending on which process the kernel let die last.  Once a stop went
 * out, the first current generation to die gives the status.
 */
#include <doctest/doctest.h>

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include <string>

#include "options.h"
#include "settings.h"
#include "sitter.h"
#include "unit/sitter_event.h"

namespace {

/* Feed one event; the code of an EXIT action it caused, or -1. */
int
feed(struct sitter *st, int kind, long a, long b = 0, long c = 0)
{
	std::vector<struct action> acts;
	int code = -1;

	struct event ev = sitter_event(kind, a, b, c);
	sitter_step(st, &ev, &acts);
	for (const struct action &x : acts)
		if (x.kind == ACT_EXIT)
			code = x.code;
	return code;
}

/* Generation 1 upgraded to generation 2, which is current; 1 drains.
 * Default settings, or s. */
void
drained(struct sitter *st, const struct settings *s = NULL)
{
	struct settings def;

	settings_defaults(&def);
	sitter_init(st, s != NULL ? s : &def);
	feed(st, EV_FOUND, 100, 1000, FOUND_SPAWNED);
	feed(st, EV_FOUND, 100, 1000, FOUND_PIDFILE);
	feed(st, EV_SIGNAL, SIGHUP);
	feed(st, EV_FOUND, 200, 2000, FOUND_PIDFILE);
	REQUIRE(st->current == 2);
	REQUIRE(st->gens.size() == 2);
}

}  // namespace

TEST_CASE("sitter: a stop during a drain exits with the status of the generation that was current")
{
	struct sitter st;

	SUBCASE("the current one dies first, then the draining one") {
		drained(&st);
		feed(&st, EV_SIGNAL, SIGTERM);
		CHECK(feed(&st, EV_EXIT, 2, W_EXITCODE(7, 0), STATUS_REAP) == -1);
		/* The draining one is never made current again (the stop
		 * reaches it all the same)... */
		CHECK(st.current == 0);
		/* ...and its drain cut short is not the service's status. */
		CHECK(feed(&st, EV_EXIT, 1, SIGKILL, STATUS_CHILD) == 7);
	}
	SUBCASE("the draining one dies first, then the current one") {
		drained(&st);
		feed(&st, EV_SIGNAL, SIGTERM);
		CHECK(feed(&st, EV_EXIT, 1, SIGKILL, STATUS_CHILD) == -1);
		CHECK(feed(&st, EV_EXIT, 2, W_EXITCODE(7, 0), STATUS_REAP) == 7);
	}
	SUBCASE("the current one's status unknown: still not the draining one's") {
		drained(&st);
		feed(&st, EV_SIGNAL, SIGTERM);
		CHECK(feed(&st, EV_EXIT, 2, 0, STATUS_NONE) == -1);
		CHECK(feed(&st, EV_EXIT, 1, W_EXITCODE(3, 0), STATUS_CHILD) == 0);
	}
}

TEST_CASE("sitter: with no stop, the new generation that died gives the status, not the draining one")
{
	struct sitter st;

	/* The old one was told to drain when its successor became ready:
	 * the service is the new one, and its death is the news. */
	SUBCASE("the new one crashes; the old one drains, then exits by itself") {
		drained(&st);
		CHECK(feed(&st, EV_EXIT, 2, W_EXITCODE(1, 0), STATUS_REAP) == -1);
		CHECK(st.current == 0);
		CHECK(feed(&st, EV_EXIT, 1, W_EXITCODE(4, 0), STATUS_CHILD) == 1);
	}
	SUBCASE("the new one crashes; the old one drains, then is stopped") {
		drained(&st);
		CHECK(feed(&st, EV_EXIT, 2, W_EXITCODE(1, 0), STATUS_REAP) == -1);
		feed(&st, EV_SIGNAL, SIGTERM);
		CHECK(feed(&st, EV_EXIT, 1, W_EXITCODE(0, 0), STATUS_CHILD) == 1);
	}
}

/*
 * stop_timeout: the first stop arms the timer (ACT_STOP_BEGIN, once), and
 * when it passes, every live one is killed (ACT_STOP_TIMEOUT, then
 * SIGKILL as the wrapper's own signal, orig 0), and so is whatever is
 * followed afterwards.
 */
namespace {

/* The actions of one event, as "STOP_BEGIN", "KILL g1", "TERM g2",
 * "FOLLOW g3", "EXIT 137" (other kinds by number), comma separated. */
std::string
acts_of(struct sitter *st, const struct event &ev)
{
	std::vector<struct action> acts;
	std::string out;

	sitter_step(st, &ev, &acts);
	for (const struct action &x : acts) {
		std::string one;
		if (x.kind == ACT_STOP_BEGIN)
			one = "STOP_BEGIN";
		else if (x.kind == ACT_STOP_TIMEOUT)
			one = "STOP_TIMEOUT";
		else if (x.kind == ACT_SIGNAL)
			one = std::string(x.sig == SIGKILL ? "KILL" : x.sig == SIGTERM ? "TERM" :
			    x.sig == SIGCONT ? "CONT" : "SIG") + (x.orig == 0 ? "!" : "") + " g" +
			    std::to_string(x.number);
		else if (x.kind == ACT_FOLLOW)
			one = "FOLLOW g" + std::to_string(x.number);
		else if (x.kind == ACT_EXIT)
			one = "EXIT " + std::to_string(x.code);
		else if (x.kind == ACT_LEAVE)
			one = "LEAVE";
		else
			continue;
		out += (out.empty() ? "" : ", ") + one;
	}
	return out;
}

std::string
acts(struct sitter *st, int kind, long a = 0, long b = 0, long c = 0)
{
	return acts_of(st, sitter_event(kind, a, b, c));
}

/* drained() with these stop settings. */
void
two_generations(struct sitter *st, uint64_t stop_timeout_ms, int descendants = DESCENDANTS_LEAVE)
{
	struct settings s;

	settings_defaults(&s);
	s.stop_timeout_ms = stop_timeout_ms;
	s.descendants = descendants;
	drained(st, &s);
}

}  // namespace

TEST_CASE("sitter: stop_timeout is armed by the first stop only, and kills every live generation; the status is the current one's")
{
	struct sitter st;

	two_generations(&st, 1000);
	CHECK(acts(&st, EV_SIGNAL, SIGTERM) == "STOP_BEGIN, TERM g1, TERM g2");
	/* sv down: CONT, then another TERM; neither arms it again. */
	CHECK(acts(&st, EV_SIGNAL, SIGCONT) == "CONT g1, CONT g2");
	CHECK(acts(&st, EV_SIGNAL, SIGTERM) == "TERM g1, TERM g2");
	CHECK(acts(&st, EV_SIGNAL, SIGINT).find("STOP_BEGIN") == std::string::npos);

	CHECK(acts(&st, EV_STOP_TIMEOUT) == "STOP_TIMEOUT, KILL! g1, KILL! g2");
	CHECK(st.stop_expired);
	/* Said once: the timer fires once, and a late one changes nothing. */
	CHECK(acts(&st, EV_STOP_TIMEOUT) == "");
	CHECK(feed(&st, EV_EXIT, 1, SIGKILL, STATUS_CHILD) == -1);
	CHECK(feed(&st, EV_EXIT, 2, SIGKILL, STATUS_REAP) == 137);
}

TEST_CASE("sitter: the watchdog's ABRT arms stop_timeout too: a daemon that survives it is killed")
{
	struct sitter st;

	two_generations(&st, 1000);
	CHECK(acts(&st, EV_SIGNAL, SIGABRT) == "STOP_BEGIN, SIG g1, SIG g2");
	CHECK(acts(&st, EV_STOP_TIMEOUT) == "STOP_TIMEOUT, KILL! g1, KILL! g2");
}

TEST_CASE("sitter: after stop_timeout, a generation found later is killed at once, after what the others got")
{
	struct sitter st;

	two_generations(&st, 1000);
	acts(&st, EV_SIGNAL, SIGTERM);
	acts(&st, EV_STOP_TIMEOUT);
	/* A successor the pid file names during the stop (generation 2 was
	 * upgrading again, say): TERM replayed, then KILL. */
	CHECK(acts(&st, EV_FOUND, 300, 3000, FOUND_PIDFILE) == "FOLLOW g3, TERM g3, KILL! g3");
	/* One found before the timer fires is in the list when it does. */
	struct sitter st2;
	two_generations(&st2, 1000);
	acts(&st2, EV_SIGNAL, SIGTERM);
	CHECK(acts(&st2, EV_FOUND, 300, 3000, FOUND_CHILD) == "FOLLOW g3, TERM g3");
	CHECK(acts(&st2, EV_STOP_TIMEOUT) == "STOP_TIMEOUT, KILL! g1, KILL! g2, KILL! g3");
}

TEST_CASE("sitter: no stop_timeout without a stop, nor once done; none asked for, none armed")
{
	struct sitter st;

	two_generations(&st, 1000);
	CHECK(acts(&st, EV_STOP_TIMEOUT) == "");
	CHECK(!st.stop_expired);
	CHECK(acts(&st, EV_SIGNAL, SIGUSR1) == "SIG g2");

	SUBCASE("the defaults: no timer, no descendants to pin: nothing said") {
		two_generations(&st, 0);
		CHECK(acts(&st, EV_SIGNAL, SIGTERM) == "TERM g1, TERM g2");
	}
	SUBCASE("descendants = stop alone: the stop is said (to pin them), no timer") {
		two_generations(&st, 0, DESCENDANTS_STOP);
		CHECK(acts(&st, EV_SIGNAL, SIGTERM) == "STOP_BEGIN, TERM g1, TERM g2");
	}
	SUBCASE("all gone: the exit, then a late timer changes nothing") {
		two_generations(&st, 1000);
		acts(&st, EV_SIGNAL, SIGTERM);
		feed(&st, EV_EXIT, 2, W_EXITCODE(0, 0), STATUS_REAP);
		CHECK(acts(&st, EV_EXIT, 1, W_EXITCODE(0, 0), STATUS_CHILD) == "EXIT 0");
		CHECK(acts(&st, EV_STOP_TIMEOUT) == "");
	}
}

TEST_CASE("sitter: orphans left when the daemon died are a stop too: stop_timeout kills them")
{
	struct settings s;
	struct sitter st;

	settings_defaults(&s);
	s.stop_timeout_ms = 500;
	sitter_init(&st, &s);
	acts(&st, EV_FOUND, 100, 1000, FOUND_SPAWNED);
	acts(&st, EV_FOUND, 100, 1000, FOUND_PIDFILE);
	acts(&st, EV_FOUND, 150, 1500, FOUND_CHILD);
	CHECK(acts(&st, EV_EXIT, 1, SIGSEGV, STATUS_CHILD) == "LEAVE, STOP_BEGIN, TERM g2, CONT g2");
	CHECK(acts(&st, EV_STOP_TIMEOUT) == "STOP_TIMEOUT, KILL! g2");
	CHECK(acts(&st, EV_EXIT, 2, SIGKILL, STATUS_REAP) == "EXIT 139");
}
