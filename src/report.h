/*
 * report.h: telling the world about the daemon: a status file (JSON,
 * written atomically, for runit check scripts and monitoring agents), a
 * metrics file (Prometheus's text format, metrics.h; written the same
 * way) and systemd's notification socket (READY=1, RELOADING=1,
 * STATUS=...).
 */
#ifndef PIDSITTER_REPORT_H
#define PIDSITTER_REPORT_H

#include <sys/types.h>
#include <time.h>

#include <uv.h>

#include <deque>
#include <string>
#include <vector>

#include "metrics.h"
#include "settings.h"
#include "sitter.h"

struct report_gen {
	unsigned number;
	pid_t pid;
	bool current;
};

struct report_state {
	const char *state;              /* starting running upgrading stopping exited */
	std::vector<struct report_gen> gens;
	struct timespec current_since;  /* CLOCK_REALTIME; 0: not known */
	const char *last_upgrade;       /* "none", "complete", "failed" */
	struct timespec last_upgrade_at;/* CLOCK_REALTIME; 0 when none */
	int exit_code;                  /* once exited; -1 before */
	std::string daemon_status;      /* the daemon's last STATUS=; "": none */
};

/* The status file's JSON, one line (a pure function for the tests). */
std::string report_status_json(const struct report_state *st, long wrapper_pid);

/* Write text to path (the status file, the metrics file) through a new
 * temporary file beside it
 * (".<name>.<random>", created with O_EXCL: nothing already there is
 * opened) and rename(), so a reader sees the old file or the new one,
 * never a part.  Never blocks on what another user put there.  On failure
 * the temporary is removed.  0 or -errno. */
int report_write_atomic(const char *path, const std::string &text);

/* Send one datagram to systemd's NOTIFY_SOCKET (a path, or "@name" for
 * the abstract namespace), without waiting: -EAGAIN when its queue is
 * full.  0 or -errno. */
int report_notify(const char *socket_path, const std::string &msg);

/*
 * The reporter: what the supervisor and monitoring are told, from the
 * sitter's state (read only) and the actions the glue carries out.  Each
 * function does its own I/O and logs its own failure; none is fatal.
 */
struct reporter {
	std::string status_file;     /* empty: none */
	std::string notify_socket;   /* $NOTIFY_SOCKET; empty: none */
	int notify_fd;               /* s6's notification fd; -1: none or used */
	std::string last_json;       /* what the status file holds now */
	enum sitter_phase told;      /* the phase the world was last told */
	const char *upgrade_result;  /* "none", "complete", "failed" */
	struct timespec upgrade_at;
	bool ready_sent;             /* READY=1 (and the notification fd) */
	bool reloading;              /* RELOADING=1 sent, READY=1 not yet */
	int exit_code;               /* once the sitter is done */
	unsigned since_number;       /* the current generation when */
	struct timespec since;       /* it became current (CLOCK_REALTIME) */

	std::string metrics_file;    /* empty: none */
	metrics_labels labels;       /* on every sample */
	std::string last_metrics;    /* what the metrics file holds now */
	unsigned long long upgrades[UPGRADE_RESULTS];  /* counters: they */
	unsigned long long signals[SIG_LIMIT];         /* only grow */
	double started;              /* the wrapper's start, unix time */
	uv_idle_t metrics_idle;      /* writes it before the loop next waits */
	bool metrics_deferred;       /* metrics_idle is set up */
	const struct sitter *metrics_st;  /* what it writes then */
	std::string daemon_status;   /* the daemon's last STATUS= (notify.cc) */
	/* Messages systemd could not take at once, oldest first, retried
	 * from the loop (report_flush): a stuck service manager never
	 * stalls the wrapper.  At most REPORT_QUEUE_MAX; then the oldest
	 * goes, counted. */
	std::deque<std::string> queue;
	unsigned long long queue_dropped;
};

#define REPORT_QUEUE_MAX 16

void report_init(struct reporter *r, const struct settings *s, const char *notify_socket);

/* From now on write the metrics file once per turn of loop, before it
 * next waits for events (a uv_idle_t, started only while a write is due),
 * rather than after each event: a flood of signals to forward costs one
 * write (a file created and renamed, which on a loaded disk takes
 * milliseconds) per turn, not one per signal.  Without it, or once its
 * handle is closed, the file is written at once. */
void report_attach_loop(struct reporter *r, uv_loop_t *loop);

/* After every event: rewrite the status and metrics files when what they
 * say changed (never on a timer: an idle wrapper makes no wakeups),
 * and tell systemd STOPPING=1 when the stop has begun. */
void report_sync(struct reporter *r, const struct sitter *st);

/* The pid file named the daemon: READY=1 and the notification fd, once. */
void report_ready(struct reporter *r, const struct sitter *st);

/* The current generation changed (STATUS=, once ready). */
void report_current(struct reporter *r, const struct sitter *st);

/* An upgrade began (RELOADING=1), or ended: result "complete" or "failed"
 * (READY=1 again where RELOADING=1 was said). */
void report_upgrade_begin(struct reporter *r);
void report_upgrade_end(struct reporter *r, const struct sitter *st, const char *result);

/* What the status file says now: the JSON line (a newline ends it). */
std::string report_status(struct reporter *r, const struct sitter *st);
/* The same for a person: lines of "what: value" (pidsitter -s status). */
std::vector<std::string> report_status_text(struct reporter *r, const struct sitter *st);

/* The upgrade signal was forwarded while an older generation drains: the
 * daemon refuses it (ACT_UPGRADE_REFUSED).  Counted. */
void report_upgrade_refused(struct reporter *r);

/* Signal sig reached a process of the daemon.  Counted. */
void report_signal(struct reporter *r, int sig);

/* A message of the daemon's, relayed to systemd as it is (notify.cc has
 * checked it). */
void report_relay(struct reporter *r, const std::string &msg);

/* The daemon's STATUS=: in the status file, and to systemd with the
 * generation. */
void report_daemon_status(struct reporter *r, const struct sitter *st, unsigned number,
    const std::string &text);

/* Send what is queued; true while something is left. */
bool report_flush(struct reporter *r);

/* The wrapper exits with code: the status and metrics files say so at
 * once (pidsitter_up 0). */
void report_exit(struct reporter *r, const struct sitter *st, int code);

#endif
