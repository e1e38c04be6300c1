/*
 * sitter_event.h: one event for the state machine's unit tests
 * (sitter_test.cc, sitter_stop_test.cc).  The numbers after kind:
 * EV_SIGNAL: the signal; EV_FOUND: pid, start time, enum found_source;
 * any other kind (EV_EXIT): generation number, wait status, enum
 * status_source (0 for the kinds that carry nothing).
 */
#ifndef PIDSITTER_TEST_SITTER_EVENT_H
#define PIDSITTER_TEST_SITTER_EVENT_H

#include <string.h>

#include "sitter.h"

static inline struct event
sitter_event(int kind, long a, long b, long c)
{
	struct event ev = {};

	ev.kind = (enum event_kind)kind;
	ev.pidfd = -1;
	if (kind == EV_SIGNAL) {
		ev.sig = (int)a;
	} else if (kind == EV_FOUND) {
		ev.pid = (pid_t)a;
		ev.start_time = (unsigned long long)b;
		ev.source = (enum found_source)c;
	} else {
		ev.number = (unsigned)a;
		ev.wstatus = (int)b;
		ev.status_source = (enum status_source)c;
	}
	return ev;
}

/* EV_EXIT of generation number, and what it left: children live children
 * of the wrapper that are no current or draining generation; when there
 * is one, its pid and start time. */
static inline struct event
sitter_exit_event(unsigned number, int wstatus, int status_source, int children,
    pid_t pid = 0, unsigned long long start_time = 0)
{
	struct event ev = sitter_event(EV_EXIT, (long)number, wstatus, status_source);

	ev.children = children;
	ev.pid = pid;
	ev.start_time = start_time;
	return ev;
}

#endif
