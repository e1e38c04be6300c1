/*
 * watch.h: the libuv side of the sitter (watch.cc, pidwatch.cc,
 * watch_control.cc).  It owns the handles (signals, SIGCHLD, the pid
 * file's directory, pidfd polls, timers, the spawned child), turns what
 * happens into sitter events and carries out the actions the sitter
 * returns.
 */
#ifndef PIDSITTER_WATCH_H
#define PIDSITTER_WATCH_H

#include <sys/stat.h>
#include <uv.h>

#include <string>
#include <vector>

#include "control.h"
#include "descendants.h"
#include "notify.h"
#include "proc.h"
#include "report.h"
#include "settings.h"
#include "sitter.h"

struct watch;

/* A process the pid file named and that is not the daemon. */
struct refusal {
	pid_t pid;
	unsigned long long start_time;
};

/* One followed generation's handles.  What the generation is (pid, start
 * time, program) the sitter owns: sitter_gen(&w->st, number). */
struct gen_watch {
	struct watch *w;
	unsigned number;
	int pidfd;                 /* -1: no pidfd, liveness by timer */
	bool exited;               /* its death is being or was handled */
	uv_poll_t poll;            /* pidfd: readable at exit, HUP when reaped */
	uv_timer_t timer;          /* no pidfd: liveness poll; else reap wait */
	bool poll_init;
	int open_handles;
};

/* What the last read of the pid file found (pidwatch_recheck()). */
enum pidfile_seen { SEEN_NOTHING, SEEN_READ, SEEN_ABSENT };

struct watch {
	uv_loop_t *loop;
	const struct settings *s;
	struct sitter st;
	struct reporter report;
	struct control ctl;        /* the control socket, if configured */
	struct notify_relay notify;/* the daemon's notification socket */
	std::string upgrade_note;  /* why the last upgrade signal started none */
	struct match_rules rules;  /* the names, and the current daemon's program */
	long pid_max;

	std::string dir;           /* the pid file's directory */
	std::string base;          /* and its name, .oldbin and .2 beside it */

	uv_signal_t signals[SIG_LIMIT];  /* what we forward */
	size_t nsignals;
	uv_signal_t sigchld;
	uv_fs_event_t dir_event;
	bool dir_watching;
	uv_timer_t dir_retry;      /* the directory is gone: look again */
	uv_timer_t start_timer;
	uv_timer_t upgrade_timer;
	uv_timer_t reread_timer;   /* reads the pid files while one is awaited */
	uv_timer_t stop_timer;     /* stop_timeout, from the first stop */
	struct descendants desc;   /* what the daemon leaves behind */
	bool rereading;            /* in its callback: a repeated warning is debug */
	/* What the last read of the pid file found, for pidwatch_recheck(). */
	enum pidfile_seen pidfile_seen;
	struct stat pidfile_stat;  /* SEEN_READ: the file that was read */
	pid_t pidfile_pid;         /* SEEN_READ: the number it held */
	std::string last_warning;  /* the last warning about a pid file */
	uv_process_t child;
	bool child_running;
	pid_t child_pid;

	std::vector<struct gen_watch *> gens;
	/* Processes already refused, so a pid file that keeps naming a
	 * stranger is logged once and not on every change. */
	std::vector<struct refusal> refused;

	unsigned last_followed;    /* the newest generation, while dispatching */
	bool names_warned;         /* names do not match the daemon: said once */
	bool done;
	int exit_code;             /* decided at ACT_EXIT */
	const char *exit_why;
};

/* Install the signal handlers and SIGCHLD reaping (before anything is
 * spawned, so no signal is lost or kills us in between).  0 or -errno. */
int watch_init(struct watch *w, uv_loop_t *loop, const struct settings *s);

/* Read the pid file at path and check the process it names against the
 * names and the daemon's program.  Returns what pidfile_read() returned
 * when it failed (-errno, *why set), else what proc_identify() returned
 * (enum identify_result; ID_OK: *id filled, id->pidfd the caller's). */
int watch_lookup(struct watch *w, const std::string &path, pid_t *pid,
    struct identity *id, std::string *why);

/* Follow an adopted process (id->pidfd is taken over). */
void watch_adopt(struct watch *w, struct identity *id);

/* Spawn the daemon and follow it.  0, or the libuv error. */
int watch_spawn(struct watch *w);

/* Watch the pid file's directory for upgrades. */
void watch_pidfile(struct watch *w);

/* Listen on the control socket, if one is configured (before anything is
 * adopted or spawned: a second wrapper for the same daemon is refused
 * there).  0, or -errno with *why (control_open()). */
int watch_control(struct watch *w, std::string *why);

/* Right before exit: have the kernel free the pid file directory's
 * inotify instance after our exit rather than during it (pidwatch.cc). */
void pidwatch_leave(struct watch *w);

/* Close every handle (the loop then runs out).  Used on exit and when
 * starting failed. */
void watch_close(struct watch *w);

/*
 * Shared by the glue's parts (watch.cc, pidwatch.cc, watch_control.cc);
 * not for main.
 */

/* The handles of generation number, or NULL. */
struct gen_watch *watch_gen(struct watch *w, unsigned number);
/* An event of this kind, nothing else set (no pidfd). */
struct event watch_event(enum event_kind kind);
/* The one way into the sitter: step, carry out each action, report.  It
 * consumes ev->pidfd: ACT_FOLLOW hands it to the new generation,
 * otherwise it is closed. */
void watch_dispatch(struct watch *w, struct event *ev);
/* EV_FOUND for a process whose identity was checked, found at source;
 * id->pidfd goes with it. */
void watch_dispatch_identity(struct watch *w, struct identity *id, enum found_source source);

/* pidwatch.cc: read the pid file and its upgrade siblings and tell the
 * sitter what they name. */
void pidwatch_refresh(struct watch *w);
/* The same, unless nothing can have changed since the last read (at a
 * generation's death: the exit waits for it). */
void pidwatch_recheck(struct watch *w);
/* The rules a new process is checked against (the current program as it
 * runs now). */
struct match_rules pidwatch_rules(struct watch *w);
/* Start or stop the timed re-reading, as the sitter awaits a pid file. */
void pidwatch_sync(struct watch *w);
/* Follow the re-parented children that look like the daemon as orphans;
 * how many children there are, and (exactly one) *only (sitter.h,
 * EV_EXIT). */
int pidwatch_orphans(struct watch *w, struct identity *only);

#endif
