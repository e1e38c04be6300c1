/*
 * signals.cc: the signal name table and the forwarding policy.
 */
#include "signals.h"

#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
	int sig;
	const char *name;
} sigtab[] = {
	{SIGHUP, "HUP"}, {SIGINT, "INT"}, {SIGQUIT, "QUIT"}, {SIGILL, "ILL"},
	{SIGTRAP, "TRAP"}, {SIGABRT, "ABRT"}, {SIGBUS, "BUS"}, {SIGFPE, "FPE"},
	{SIGKILL, "KILL"}, {SIGUSR1, "USR1"}, {SIGSEGV, "SEGV"}, {SIGUSR2, "USR2"},
	{SIGPIPE, "PIPE"}, {SIGALRM, "ALRM"}, {SIGTERM, "TERM"}, {SIGSTKFLT, "STKFLT"},
	{SIGCHLD, "CHLD"}, {SIGCONT, "CONT"}, {SIGSTOP, "STOP"}, {SIGTSTP, "TSTP"},
	{SIGTTIN, "TTIN"}, {SIGTTOU, "TTOU"}, {SIGURG, "URG"}, {SIGXCPU, "XCPU"},
	{SIGXFSZ, "XFSZ"}, {SIGVTALRM, "VTALRM"}, {SIGPROF, "PROF"},
	{SIGWINCH, "WINCH"}, {SIGIO, "IO"}, {SIGPWR, "PWR"}, {SIGSYS, "SYS"},
};

/* The standard signals we forward; real-time ones are added in order. */
static const int forwarded_std[] = {
	SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGTERM, SIGALRM, SIGCONT,
	SIGTSTP, SIGTTIN, SIGTTOU, SIGWINCH, SIGPWR, SIGABRT,
};

const char *
signal_name(int sig, char *buf, size_t size)
{
	for (const auto &e : sigtab) {
		if (e.sig == sig) {
			snprintf(buf, size, "SIG%s", e.name);
			return buf;
		}
	}
	if (sig >= SIGRTMIN && sig <= SIGRTMAX) {
		if (sig == SIGRTMIN)
			snprintf(buf, size, "SIGRTMIN");
		else if (sig == SIGRTMAX)
			snprintf(buf, size, "SIGRTMAX");
		else if (sig - SIGRTMIN <= SIGRTMAX - sig)
			snprintf(buf, size, "SIGRTMIN+%d", sig - SIGRTMIN);
		else
			snprintf(buf, size, "SIGRTMAX-%d", SIGRTMAX - sig);
		return buf;
	}
	snprintf(buf, size, "SIG%d", sig);
	return buf;
}

const char *
signal_short_name(int sig, char *buf, size_t size)
{
	return signal_name(sig, buf, size) + 3;
}

/* A small non-negative decimal, whole string; -1 otherwise. */
static int
small_number(const char *s)
{
	int v = 0;

	if (*s == '\0')
		return -1;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s) || v > 1000)
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v;
}

int
signal_parse(const char *name)
{
	int n;

	n = small_number(name);
	if (n >= 0)
		return n >= 1 && n < SIG_LIMIT && n <= SIGRTMAX ? n : -1;
	if (strncasecmp(name, "SIG", 3) == 0) {
		name += 3;
		/* "SIG32": what signal_name() writes for an unnamed signal. */
		n = small_number(name);
		if (n >= 0)
			return n >= 1 && n < SIG_LIMIT && n <= SIGRTMAX ? n : -1;
	}
	for (const auto &e : sigtab)
		if (strcasecmp(name, e.name) == 0)
			return e.sig;
	if (strncasecmp(name, "RTMIN", 5) == 0) {
		if (name[5] == '\0')
			return SIGRTMIN;
		n = name[5] == '+' ? small_number(name + 6) : -1;
		return n >= 0 && SIGRTMIN + n <= SIGRTMAX ? SIGRTMIN + n : -1;
	}
	if (strncasecmp(name, "RTMAX", 5) == 0) {
		if (name[5] == '\0')
			return SIGRTMAX;
		n = name[5] == '-' ? small_number(name + 6) : -1;
		return n >= 0 && SIGRTMAX - n >= SIGRTMIN ? SIGRTMAX - n : -1;
	}
	return -1;
}

size_t
signals_forwarded(int *sigs)
{
	size_t n = 0;

	for (int sig : forwarded_std)
		sigs[n++] = sig;
	for (int sig = SIGRTMIN; sig <= SIGRTMAX && sig < SIG_LIMIT; sig++)
		sigs[n++] = sig;
	return n;
}

bool
signal_is_forwardable(int sig)
{
	for (int s : forwarded_std)
		if (s == sig)
			return true;
	return sig >= SIGRTMIN && sig <= SIGRTMAX && sig < SIG_LIMIT;
}

void
sigpolicy_default(struct sigpolicy *p)
{
	memset(p, 0, sizeof *p);
	p->every = SIG_BIT(SIGTERM) | SIG_BIT(SIGINT) | SIG_BIT(SIGQUIT) | SIG_BIT(SIGCONT);
	p->stop = SIG_BIT(SIGTERM) | SIG_BIT(SIGINT) | SIG_BIT(SIGQUIT);
}
