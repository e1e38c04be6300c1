/*
 * report.h: telling the world about the daemon: a status file (JSON,
 * written atomically, for runit check scripts and monitoring agents) and
 * systemd's notification socket (READY=1, RELOADING=1, STATUS=...).
 */
#ifndef PIDSITTER_REPORT_H
#define PIDSITTER_REPORT_H

#include <sys/types.h>
#include <time.h>

#include <string>
#include <vector>

struct report_gen {
	unsigned number;
	pid_t pid;
	bool current;
};

struct report_state {
	const char *state;              /* starting running upgrading stopping exited */
	std::vector<struct report_gen> gens;
	const char *last_upgrade;       /* "none", "complete", "failed" */
	struct timespec last_upgrade_at;/* CLOCK_REALTIME; 0 when none */
	int exit_code;                  /* once exited; -1 before */
};

/* The status file's JSON, one line (a pure function for the tests). */
std::string report_status_json(const struct report_state *st, long wrapper_pid);

/* Write text to path through a new temporary file beside it
 * (".<name>.<random>", created with O_EXCL: nothing already there is
 * opened) and rename(), so a reader sees the old file or the new one,
 * never a part.  Never blocks on what another user put there.  On failure
 * the temporary is removed.  0 or -errno. */
int report_write_atomic(const char *path, const std::string &text);

/* Send one datagram to systemd's NOTIFY_SOCKET (a path, or "@name" for
 * the abstract namespace).  0 or -errno. */
int report_notify(const char *socket_path, const std::string &msg);

#endif
