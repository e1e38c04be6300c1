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
	struct event ev;

	memset(&ev, 0, sizeof ev);
	ev.kind = kind;
	if (kind == EV_SIGNAL) {
		ev.sig = (int)a;
	} else if (kind == EV_FOUND) {
		ev.pid = (pid_t)a;
		ev.start_time = (unsigned long long)b;
		ev.source = (int)c;
	} else {
		ev.number = (unsigned)a;
		ev.wstatus = (int)b;
		ev.status_source = (int)c;
	}
	return ev;
}

#endif
