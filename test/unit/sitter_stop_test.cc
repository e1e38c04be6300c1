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

/* Generation 1 upgraded to generation 2, which is current; 1 drains. */
void
drained(struct sitter *st)
{
	struct settings s;

	settings_defaults(&s);
	sitter_init(st, &s);
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
