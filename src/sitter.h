/*
 * sitter.h: the generations of the daemon and how they change, as a pure
 * state machine: an event in, a list of actions out.  No I/O, no libuv, no
 * clock: watch.cc turns the world into events and carries the actions out,
 * and the tests drive this directly.
 *
 * A generation is one process of the daemon that we follow: the current
 * one (named by the pid file) and any older ones still draining after an
 * upgrade.  Stop signals reach every generation; the others only the
 * current one.  A generation a newer one replaced drains: the newer one's
 * death does not make it current again.  The wrapper exits when the last
 * generation is gone and no successor is known, with the status of the
 * last current generation.
 *
 * A process re-parented to us (we are a child subreaper) that looks like
 * the daemon is followed as an orphan: a candidate, not the daemon.  It
 * becomes a generation only on evidence: a pid file names it, or it is the
 * one process a start process left when it exited 0 (a forking start).
 * Until then it receives nothing but a stop, and its exit status never
 * counts: a crashed nginx master's workers are never taken for the master.
 */
#ifndef PIDSITTER_SITTER_H
#define PIDSITTER_SITTER_H

#include <sys/types.h>

#include <vector>

#include "proc.h"
#include "settings.h"

enum gen_role {
	ROLE_CURRENT,
	ROLE_DRAINING,
	ROLE_ORPHAN,     /* re-parented to us, no evidence that it is the daemon */
};

/* Where a found process was named. */
enum found_source {
	FOUND_PIDFILE,   /* the pid file itself */
	FOUND_OLDBIN,    /* <pidfile>.oldbin: nginx and unicorn's old master */
	FOUND_DOT2,      /* <pidfile>.2: gunicorn's new master, before the rename */
	FOUND_SPAWNED,   /* the process we spawned */
	FOUND_CHILD,     /* re-parented to us (we are a subreaper) and named
	                  * like the daemon: followed as an orphan (an
	                  * upgrade's new process whose parent died first,
	                  * or a crashed master's worker) */
	FOUND_PARENT,    /* the adopted daemon's parent, the same daemon: an
	                  * old generation still draining when we started */
	FOUND_FORKED,    /* the one process a start process left (EV_EXIT) */
	FOUND_MAINPID,   /* MAINPID= from a generation or its descendant
	                  * (notify.cc): named, as by the pid file */
};

/* Where an exit status came from (the log says which). */
enum status_source {
	STATUS_CHILD,    /* libuv's exit callback: our own child */
	STATUS_REAP,     /* we reaped it: a re-parented (subreaped) process */
	STATUS_PIDFD,    /* PIDFD_INFO_EXIT: a process we never parented */
	STATUS_NONE,     /* unknown: reported as 0, as gitaly-wrapper does */
};

/* What a generation is.  The glue (watch.cc) keeps only its handles and
 * its pidfd, under the same number. */
struct generation {
	unsigned number;
	pid_t pid;
	unsigned long long start_time;
	enum gen_role role;
	bool spawned;
	bool named;       /* a pid file has named it: the daemon, whatever
	                   * ran first under its pid (a script that exec'd it) */
	struct proc_program program;  /* what it runs, once known: a successor
	                   * running the same is the daemon too (proc.h) */
	bool superseded;  /* a newer one took its place (or it is an old
	                   * master by its file): it drains, and only the pid
	                   * file naming it makes it current again */
	bool start;      /* a start process: spawned, or the one a start
	                  * process left; until a pid file names the daemon,
	                  * its exit 0 means it forked the daemon */
	bool oldbin;     /* asked to upgrade, it moved its pid file to
	                  * <pidfile>.oldbin (nginx, unicorn): the pid file
	                  * naming it again means the new master failed */
	bool ready;      /* it (or a descendant) sent READY=1 (notify.h) */
};

enum sitter_state {
	SITTER_RUNNING,
	SITTER_WAIT_PIDFILE,  /* a forking daemon's start process exited 0 */
	SITTER_DONE,
	SITTER_LEAVING,       /* the daemon is gone: the orphans left were
	                       * told to stop; exit once they are gone */
};

struct sitter {
	struct sigpolicy sig;
	int recipe;                /* enum upgrade_recipe */
	int upgrade_signal;
	bool ready_notify;         /* ready = "notify": READY=1 makes ready */

	enum sitter_state state;
	std::vector<struct generation> gens;  /* the live ones */
	unsigned next_number;
	unsigned current;          /* its number; 0: none */
	bool pidfile_seen;         /* the pid file has named a live daemon */
	bool ready_seen;           /* ready_notify: a current one was ready */
	bool stopping;             /* a stop signal has been forwarded */
	std::vector<int> replay;   /* what every later generation receives */
	unsigned upgrading;        /* the generation asked to upgrade; 0: none */
	bool have_status;
	int last_status;           /* wait status of the last current to die */
	bool status_final;         /* stopping: last_status is the one to exit with */
	int leave_code;            /* SITTER_LEAVING: the exit code, and why */
	const char *leave_why;
	bool stop_notice;          /* say when a stop begins (ACT_STOP_BEGIN): a
	                            * stop_timeout to arm, or descendants to pin */
	bool stop_begun;           /* ACT_STOP_BEGIN went out: never again */
	bool stop_expired;         /* stop_timeout passed: whatever is followed
	                            * now or later gets SIGKILL */
};

enum event_kind {
	EV_SIGNAL,          /* sig: the wrapper received it */
	EV_FOUND,           /* a live process that passed the identity checks */
	EV_EXIT,            /* number died: wstatus, status_source */
	EV_START_TIMEOUT,   /* no pid file in start_timeout */
	EV_UPGRADE_TIMEOUT, /* no new generation in upgrade_timeout */
	EV_STOP_TIMEOUT,    /* stop_timeout passed since ACT_STOP_BEGIN */
	EV_READY,           /* number (or a descendant) sent READY=1 */
};

struct event {
	enum event_kind kind;
	int sig;
	/* EV_FOUND */
	pid_t pid;
	unsigned long long start_time;
	enum found_source source;
	bool born_before_current;  /* started in the same clock tick as the
	                   * current generation, and its pidfd says before it */
	int pidfd;         /* the glue's descriptor of pid, -1: none; handed
	                    * back in ACT_FOLLOW, never used here */
	struct proc_program program;  /* what it runs, where known */
	/* EV_EXIT, EV_READY */
	unsigned number;
	int wstatus;
	enum status_source status_source;
	/* EV_EXIT: the live children of the wrapper that are no current or
	 * draining generation (orphans included), counted after its death;
	 * when there is exactly one, pid and start_time are that one's (pid
	 * 0: it could not be checked), and so are pidfd and program. */
	int children;
};

enum action_kind {
	ACT_SIGNAL,         /* send sig to generation number (orig: as received) */
	ACT_DROP,           /* orig was not forwarded: why */
	ACT_FOLLOW,         /* a new generation number (pid, role, source) */
	ACT_IGNORE,         /* the found pid is not followed: why */
	ACT_CURRENT,        /* generation number is now the current one */
	ACT_DRAIN,          /* generation number is now draining */
	ACT_GONE,           /* generation number died (wstatus, status_source) */
	ACT_READY,          /* the pid file names the current generation
	                     * (first: for the first time), or (ready_notify)
	                     * the current one sent READY=1: sitter_ready()
	                     * says whether the service is ready now */
	ACT_WAIT_PIDFILE,   /* arm the start timer */
	ACT_PIDFILE_CAME,   /* disarm it */
	ACT_UPGRADE_BEGIN,  /* arm the upgrade timer (number: the old one) */
	ACT_UPGRADE_DONE,   /* disarm it: number is the new current */
	ACT_UPGRADE_FAILED, /* timer expired, or the old master took its pid
	                     * file back: number (0: none) stays current;
	                     * maybe_reload: the upgrade signal may have been a
	                     * mere reload (tableflip's HUP), no failure */
	ACT_UPGRADE_REFUSED,/* upgrade signal forwarded, not tracked: number
	                     * is still draining and the daemon refuses it */
	ACT_SUCCESSOR_DIED, /* number, the newest current one, died while
	                     * older ones drain (wstatus, status_source, why):
	                     * the upgrade failed; none is current now */
	ACT_EXIT,           /* exit the wrapper with code (why) */
	ACT_LEAVE,          /* the daemon is gone: stopping the orphans, then
	                     * exit with code (why) */
	ACT_STOP_BEGIN,     /* the first stop went out: arm the stop timer,
	                     * pin the generations' descendants (once only) */
	ACT_STOP_TIMEOUT,   /* stop_timeout passed (why): an ACT_SIGNAL of
	                     * SIGKILL (orig 0) to each live one follows */
};

struct action {
	enum action_kind kind;
	unsigned number;
	pid_t pid;
	int pidfd;         /* ACT_FOLLOW: the event's pidfd, now the glue's */
	int sig;
	int orig;          /* as received; 0: the wrapper's own (SIGKILL) */
	enum gen_role role;
	enum found_source source;
	int wstatus;
	enum status_source status_source;
	int code;
	bool first;        /* ACT_READY: the pid file names it for the first time */
	bool maybe_reload; /* ACT_UPGRADE_FAILED (see above) */
	const char *why;
};

void sitter_init(struct sitter *st, const struct settings *s);

/* Apply one event; append what must be done to *out. */
void sitter_step(struct sitter *st, const struct event *ev, std::vector<struct action> *out);

/* The generation with this number, or NULL. */
const struct generation *sitter_gen(const struct sitter *st, unsigned number);
/* The live generation with this pid, or NULL. */
const struct generation *sitter_gen_by_pid(const struct sitter *st, pid_t pid);
/* A generation still draining (the daemon refuses another upgrade
 * meanwhile: sitter.cc has whose rule), or NULL. */
const struct generation *sitter_draining(const struct sitter *st);

/* What the service is doing, as the status file says it. */
enum sitter_phase {
	PHASE_STARTING,   /* no pid file has named the daemon yet */
	PHASE_RUNNING,
	PHASE_UPGRADING,  /* an upgrade was asked for; no successor yet */
	PHASE_STOPPING,   /* a stop signal went out */
	PHASE_EXITED,
};
enum sitter_phase sitter_phase(const struct sitter *st);

/* Is a new pid file awaited (an upgrade, a forking start)?  Then the glue
 * also reads the pid files on a timer: inotify may have lost a change. */
bool sitter_awaits_pidfile(const struct sitter *st);

/* Is the current generation what a start process left (a forking start),
 * and has no pid file named the daemon yet?  The pid file may have named
 * it before it was known for the daemon, and refused then: worth a read. */
bool sitter_forked_unnamed(const struct sitter *st);

/* Is the current generation ready: named by a pid file, or with ready =
 * "notify", it sent READY=1?  What waits for readiness asks this. */
bool sitter_ready(const struct sitter *st);

/* Exit code for a wait status: the code, or 128+N for signal N. */
int sitter_exit_code(int wstatus);

#endif
