/*
 * signals.h: signal names, the set we forward, and where each one goes.
 */
#ifndef PIDSITTER_SIGNALS_H
#define PIDSITTER_SIGNALS_H

#include <stddef.h>

#include "settings.h"

/* "SIGHUP", "SIGRTMIN+3"; buf must hold 16 bytes. */
const char *signal_name(int sig, char *buf, size_t size);
/* The same without "SIG": "HUP", "RTMIN+3", as the configuration file
 * and the log spell them; a pointer into buf. */
const char *signal_short_name(int sig, char *buf, size_t size);

/* "HUP", "SIGHUP", "hup", "RTMIN+3", "SIGRTMAX-1" or a number: the signal,
 * or -1. */
int signal_parse(const char *name);

/* The signals the wrapper catches and forwards (pidsitter(8), SIGNALS):
 * HUP INT QUIT USR1 USR2 TERM ALRM CONT TSTP TTIN TTOU WINCH PWR, ABRT
 * (SIGNAL_ALWAYS_STOP) and every real-time signal.  Never CHLD (ours), URG
 * (Go runtimes use it for preemption), PIPE (we ignore it), nor the
 * synchronous fault signals.  Fills sigs (room for SIG_LIMIT) and returns
 * how many. */
size_t signals_forwarded(int *sigs);
bool signal_is_forwardable(int sig);

/* Signals that reach every generation and start the stop whatever the
 * configuration says, and that it may not name: ABRT, what systemd sends
 * the main process when WatchdogSec= passes without a ping (its
 * WatchdogSignal= default; src/core/service.c, service_enter_signal with
 * SERVICE_STOP_WATCHDOG).  Under KillMode=process it reaches the wrapper
 * alone; uncaught, it would kill the wrapper and leave the hung daemon to
 * be adopted again by the restarted one.  The wrapper's own abort() still
 * ends it: the handler returns, and abort(3) raises it again with the
 * default action. */
#define SIGNAL_ALWAYS_STOP SIG_BIT(SIGABRT)

/* Defaults: TERM INT QUIT and CONT reach every generation (runit's "down"
 * is TERM then CONT); TERM INT QUIT start the stop; nothing is ignored or
 * rewritten. */
void sigpolicy_default(struct sigpolicy *p);

#endif
