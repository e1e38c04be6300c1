/*
 * notify.h: the daemon's own systemd notifications (pidsitter(8),
 * NOTIFICATIONS).  In relay mode the wrapper owns an AF_UNIX datagram
 * socket and gives the daemon NOTIFY_SOCKET pointing at it; a message
 * counts only from a live generation or one of its descendants (checked
 * through SCM_CREDENTIALS and a pidfd), and is then acted on (READY=1,
 * MAINPID=) or relayed upward (STATUS=, WATCHDOG=1, ...).
 *
 * notifymsg.cc is the pure part (the parser, the address), fuzzed;
 * notify.cc the libuv glue.
 */
#ifndef PIDSITTER_NOTIFY_H
#define PIDSITTER_NOTIFY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include <string>

#include "settings.h"

/* The largest datagram accepted; a longer one is dropped whole. */
#define NOTIFY_MSG_MAX 4096

/* One datagram, parsed.  Keys not listed are ignored, as systemd ignores
 * what it does not know (sd_notify(3)). */
struct notify_msg {
	bool ready;              /* READY=1 */
	bool reloading;          /* RELOADING=1 */
	bool stopping;           /* STOPPING=1 */
	bool watchdog;           /* WATCHDOG=1 */
	bool watchdog_trigger;   /* WATCHDOG=trigger */
	bool barrier;            /* BARRIER=1 (its descriptor is closed) */
	pid_t mainpid;           /* MAINPID=N; 0: none */
	bool have_status;
	std::string status;      /* STATUS=, no control bytes */
	bool have_extend;
	uint64_t extend_usec;    /* EXTEND_TIMEOUT_USEC= */
	bool have_monotonic;
	uint64_t monotonic_usec; /* MONOTONIC_USEC= (with RELOADING=1) */
	int err;                 /* ERRNO=; 0: none */
};

/* Parse one datagram of len bytes (no NUL needed at the end): lines of
 * KEY=VALUE, KEY of A-Z 0-9 _, separated by newlines, a last newline
 * optional.  A known key with a bad value (MAINPID=x) is malformed too.
 * 0, -EMSGSIZE (longer than NOTIFY_MSG_MAX) or -EINVAL with *why set. */
int notify_parse(const char *buf, size_t len, struct notify_msg *m, const char **why);

/* The address the daemon is given: notify_socket when set, else the
 * abstract "@pidsitter/<16 hex digits>", a hash of the pid file's absolute
 * path (cwd: the wrapper's working directory, for a relative one), so a
 * wrapper started again for the same pid file listens where the adopted
 * daemon sends. */
std::string notify_address(const struct settings *s, const char *cwd);

/* The libuv side (notify.cc): handles and descriptors only. */
struct notify_relay {
	int fd = -1;               /* the socket; -1: not relaying */
	std::string address;       /* as the daemon is given it */
	uv_poll_t poll;
	uv_timer_t retry;          /* report_flush while systemd is behind */
	bool retry_init = false;
	uint64_t drop_at = 0;      /* uv_now of the last "refused" line */
	bool drop_logged = false;
	unsigned long long dropped = 0;  /* refused since that line */
	bool daemon_reloading = false;   /* its RELOADING=1 was relayed */
};

struct watch;

/* Bind the socket (relay mode) and start reading it; before anything is
 * adopted or spawned.  0, or -errno with *why set. */
int notify_open(struct watch *w, std::string *why);

/* After each dispatch: retry what systemd could not take at once. */
void notify_sync(struct watch *w);

void notify_close(struct watch *w);

#endif
