/*
 * signals_test.cc: signal names, the forwarded set and the default policy
 * (signals.cc).
 */
#include <doctest/doctest.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <string>

#include "settings.h"
#include "signals.h"

TEST_CASE("signals: names")
{
	static const struct {
		int sig;
		const char *name;
	} cases[] = {
		{SIGHUP, "SIGHUP"}, {SIGINT, "SIGINT"}, {SIGQUIT, "SIGQUIT"},
		{SIGKILL, "SIGKILL"}, {SIGUSR1, "SIGUSR1"}, {SIGUSR2, "SIGUSR2"},
		{SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"},
		{SIGSTKFLT, "SIGSTKFLT"}, {SIGCHLD, "SIGCHLD"}, {SIGCONT, "SIGCONT"},
		{SIGSTOP, "SIGSTOP"}, {SIGTSTP, "SIGTSTP"}, {SIGTTIN, "SIGTTIN"},
		{SIGTTOU, "SIGTTOU"}, {SIGURG, "SIGURG"}, {SIGVTALRM, "SIGVTALRM"},
		{SIGWINCH, "SIGWINCH"}, {SIGIO, "SIGIO"}, {SIGPWR, "SIGPWR"}, {SIGSYS, "SIGSYS"},
	};
	char buf[16];

	for (const auto &c : cases) {
		CAPTURE(c.sig);
		CHECK(std::string(signal_name(c.sig, buf, sizeof buf)) == c.name);
	}
	/* Real-time signals by their distance from the nearer end, as
	 * bash's kill -l names them. */
	CHECK(std::string(signal_name(SIGRTMIN, buf, sizeof buf)) == "SIGRTMIN");
	CHECK(std::string(signal_name(SIGRTMIN + 1, buf, sizeof buf)) == "SIGRTMIN+1");
	CHECK(std::string(signal_name(SIGRTMIN + 3, buf, sizeof buf)) == "SIGRTMIN+3");
	CHECK(std::string(signal_name(SIGRTMAX - 1, buf, sizeof buf)) == "SIGRTMAX-1");
	CHECK(std::string(signal_name(SIGRTMAX, buf, sizeof buf)) == "SIGRTMAX");
	REQUIRE(SIGRTMAX - SIGRTMIN == 30);
	CHECK(std::string(signal_name(SIGRTMIN + 15, buf, sizeof buf)) == "SIGRTMIN+15");
	CHECK(std::string(signal_name(SIGRTMIN + 16, buf, sizeof buf)) == "SIGRTMAX-14");
	/* glibc keeps 32 and 33 for itself; no name, a number. */
	CHECK(std::string(signal_name(32, buf, sizeof buf)) == "SIG32");
	CHECK(std::string(signal_name(0, buf, sizeof buf)) == "SIG0");
	CHECK(std::string(signal_name(99, buf, sizeof buf)) == "SIG99");
	/* The name is in buf, and fits 16 bytes whatever the number. */
	CHECK(signal_name(SIGRTMIN + 3, buf, sizeof buf) == buf);
	CHECK(std::string(signal_name(-2147483647 - 1, buf, sizeof buf)).size() < 16);
}

TEST_CASE("signals: every name parses back to its signal")
{
	char buf[16], lower[16];

	for (int sig = 1; sig < SIG_LIMIT; sig++) {
		const char *name = signal_name(sig, buf, sizeof buf);
		CAPTURE(sig);
		CAPTURE(std::string(name));
		CHECK(signal_parse(name) == sig);
		CHECK(signal_parse(name + 3) == sig);  /* "SIG" is optional */
		for (size_t i = 0; i <= strlen(name); i++)
			lower[i] = (char)tolower((unsigned char)name[i]);
		CHECK(signal_parse(lower) == sig);
		CHECK(signal_parse(lower + 3) == sig);
		snprintf(buf, sizeof buf, "%d", sig);
		CHECK(signal_parse(buf) == sig);
	}
}

TEST_CASE("signals: parse, one line per input")
{
	static const struct {
		const char *in;
		int sig;
	} cases[] = {
		{"HUP", SIGHUP}, {"SIGHUP", SIGHUP}, {"hup", SIGHUP}, {"SigHup", SIGHUP},
		{"sighup", SIGHUP}, {"TERM", SIGTERM}, {"Term", SIGTERM}, {"1", 1}, {"15", 15},
		{"64", 64}, {"00015", 15}, {"CHLD", SIGCHLD}, {"KILL", SIGKILL},
		{"RTMIN", SIGRTMIN}, {"SIGRTMIN", SIGRTMIN}, {"rtmin", SIGRTMIN},
		{"RTMIN+0", SIGRTMIN}, {"RTMIN+3", SIGRTMIN + 3}, {"sigrtmin+3", SIGRTMIN + 3},
		{"RTMIN+30", SIGRTMAX}, {"RTMAX", SIGRTMAX}, {"RTMAX-1", SIGRTMAX - 1},
		{"SIGRTMAX-30", SIGRTMIN}, {"rtmax-0", SIGRTMAX},

		{"", -1}, {"FOO", -1}, {"SIG", -1}, {"SIGSIGHUP", -1}, {"HUPX", -1},
		{" HUP", -1}, {"HUP ", -1}, {"HUP\n", -1}, {"RTMIN+99", -1}, {"RTMAX-99", -1},
		{"RTMIN+31", -1}, {"RTMAX-31", -1}, {"RTMIN-1", -1}, {"RTMAX+1", -1},
		{"RTMIN+", -1}, {"RTMAX-", -1}, {"RTMIN+x", -1}, {"RTMIN+-1", -1},
		{"RTMIN3", -1}, {"RTMINIMUM", -1}, {"65", -1}, {"0", -1}, {"-1", -1},
		{"+1", -1}, {"1x", -1}, {"0x1", -1}, {"99999999999", -1}, {"4294967311", -1},
		{"SIG15", 15},
	};
	for (const auto &c : cases) {
		std::string in = c.in;
		CAPTURE(in);
		CHECK(signal_parse(c.in) == c.sig);
	}
}

TEST_CASE("signals: the forwarded set")
{
	int sigs[SIG_LIMIT];
	size_t n = signals_forwarded(sigs);
	uint64_t set = 0;
	static const int want_std[] = {
		SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGTERM, SIGALRM, SIGCONT,
		SIGTSTP, SIGTTIN, SIGTTOU, SIGWINCH, SIGPWR, SIGABRT,
	};
	uint64_t want = 0;

	for (int s : want_std)
		want |= SIG_BIT(s);
	for (int s = SIGRTMIN; s <= SIGRTMAX; s++)
		want |= SIG_BIT(s);

	REQUIRE(n <= (size_t)SIG_LIMIT);
	for (size_t i = 0; i < n; i++) {
		CAPTURE(sigs[i]);
		REQUIRE(sigs[i] >= 1);
		REQUIRE(sigs[i] < SIG_LIMIT);
		CHECK((set & SIG_BIT(sigs[i])) == 0);  /* no duplicate */
		set |= SIG_BIT(sigs[i]);
	}
	CHECK(set == want);
	CHECK(n == 14 + (size_t)(SIGRTMAX - SIGRTMIN + 1));
	for (int s : {SIGCHLD, SIGURG, SIGPIPE, SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGFPE,
	    SIGILL, SIGTRAP, SIGSYS})
		CHECK((set & SIG_BIT(s)) == 0);
	for (int s = 1; s < SIG_LIMIT; s++) {
		CAPTURE(s);
		CHECK(signal_is_forwardable(s) == ((want & SIG_BIT(s)) != 0));
	}
	CHECK(!signal_is_forwardable(0));
	CHECK(!signal_is_forwardable(65));
	CHECK(!signal_is_forwardable(-1));
}

TEST_CASE("signals: the default policy")
{
	struct sigpolicy p;

	memset(&p, 0xab, sizeof p);
	sigpolicy_default(&p);
	CHECK(p.every == (SIG_BIT(SIGTERM) | SIG_BIT(SIGINT) | SIG_BIT(SIGQUIT) | SIG_BIT(SIGCONT)));
	CHECK(p.stop == (SIG_BIT(SIGTERM) | SIG_BIT(SIGINT) | SIG_BIT(SIGQUIT)));
	CHECK(p.ignore == 0);
	for (int s = 0; s < SIG_LIMIT; s++)
		CHECK(p.rewrite[s] == 0);
	CHECK(SIG_BIT(64) == UINT64_C(0x8000000000000000));
	CHECK(SIG_BIT(1) == 1);
}
