/*
 * driver.h: what every part of `make bench` shares (driver.cc): the clock,
 * messages, the random stream, the peers' table and the figures, the
 * results a worker collects, and the runner that starts a wrapper around
 * the fixture daemon, reads its output and the fixture's events, and waits
 * on them with deadlines.
 *
 * Each figure is measured by its own file, on a wrapper the runner has
 * made ready: forward.cc (signal forwarding), death.cc (death detection),
 * follow.cc (upgrade follow), start.cc (start-up), idle.cc (idle cost),
 * control.cc (the control socket), notify.cc (the notification relay);
 * report.cc writes the table, the raw samples and the plot's input;
 * bench.cc is main() and the schedule of runs.
 *
 * Errors of a run are written into a caller's buffer (err, errlen) and
 * the function returns -1; only the set-up of the benchmark itself is
 * fatal.
 */
#ifndef BENCH_DRIVER_H
#define BENCH_DRIVER_H

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <string>
#include <vector>

#include "event.h"

/* ------------------------------------------------------------ the clock */

static const int64_t MS = 1000000;
static const int64_t SEC = 1000 * MS;

static const int64_t READY_DEADLINE = 5 * SEC;
static const int SIGNALS_PER_RUN = 5;

/* CLOCK_MONOTONIC in ns, and the time of a fixture's event on it. */
int64_t now_ns(void);
int64_t ev_ns(const fx_event &e);

/* ------------------------------------------------------------- messages */

/* "bench: ..." on stderr; fatal() then exits 1. */
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* A run's error into err; returns -1. */
int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Set by SIGINT, SIGTERM, SIGHUP: every wait returns, nothing is written. */
extern volatile sig_atomic_t g_stop;
void on_stop(int sig);

/* -------------------------------------------------------- random stream */

void rng_seed(uint64_t seed);
/* Mix x into the state: a worker's own stream, an unseeded run's. */
void rng_mix(uint64_t x);
/* Uniform in [0, n); 0 if n <= 0. */
int64_t rng_below(int64_t n);

/* ------------------------------------------------------------ processes */

std::string status_text(int status);
/* The number the shell would show: code, or 128+N. */
int status_code(int status);
/* pidfd_open(2), without glibc's wrapper (2.36+). */
int pidfd_open(pid_t pid);
/* waitpid(pid, status, 0), again after EINTR. */
pid_t wait_child(pid_t pid, int *status);
/* Kill and reap every child we have, and theirs (we are a subreaper). */
void kill_children(void);
void rm_tree(const char *path);
int write_all(int fd, const void *p, size_t n);

/* ----------------------------------------------------- wrappers, figures */

/*
 * W_BASE is a second pidsitter binary (--baseline), run exactly as
 * W_PIDSITTER and interleaved with it run by run, so that a change can be
 * compared with the binary before it in the same run (make bench-compare).
 * It comes right after pidsitter: the columns sit side by side, and the
 * ratios stay relative to pidsitter, the first wrapper measured.
 */
enum { W_PIDSITTER, W_BASE, W_GWMODEL, W_TINI, W_DUMBINIT, W_PIDPROXY, NWRAP };
enum { M_SPAWN, M_ADOPT, M_UPGRADE, NMODE };
extern const char *mode_name[NMODE];

struct wrapper {
	const char *name;	/* option, file stem, plot title */
	const char *title;	/* column title */
	const char *defpath;
	bool adopts;		/* adopted-daemon runs make sense */
	bool logs_monitor;	/* prints gitaly's "monitoring process" line */
	bool upgrades;		/* upgrade runs make sense */
	int64_t spread;		/* the kill is spread over [0, spread) */
	int workers;		/* runs in parallel (see driver.cc) */
	char path[PATH_MAX];
	bool enabled;
};

extern wrapper wrappers[NWRAP];

enum {
	F_SIG_SPAWN, F_SIG_ADOPT, F_DEATH_SPAWN, F_DEATH_ADOPT,
	F_FOLLOW_PROBE, F_FOLLOW_LINE,
	F_START_MON_SPAWN, F_START_MON_ADOPT, F_START_DAEMON,
	F_CTL_STATUS, F_CTL_UPGRADE, F_NOTIFY_READY, NFIG
};

struct figure {
	const char *stem;	/* of its .dat files */
	const char *label;	/* in the table */
};

extern const figure figs[NFIG];

/* What a set of runs found; merged per wrapper over its modes. */
struct results {
	std::vector<int64_t> s[NFIG];
	std::vector<int64_t> exits[2];	/* status_code() after the daemon's SIGKILL */
	int64_t runs[NMODE];
	int64_t failures;
	int64_t death_timeouts[2];
	int64_t follow_timeouts;
	char err[512];
};

struct idle_result {
	int64_t ok;
	int64_t rss_kb;
	int64_t wakeups;
	int64_t threads;
};

/* What one wrapper has shown across the runs of a worker. */
struct run_state {
	bool skip_death;	/* a death wait timed out: the wrapper does not detect it */
	bool skip_follow;
};

struct options {
	int runs;
	int idle_seconds;
	const char *outdir;
	char fixture[PATH_MAX];
	const char *versions;
	uint64_t seed;
	bool seeded;
};

extern options opt;
extern results g_res[NWRAP];
extern bool g_broken[NWRAP];	/* no spawned run worked: skip the rest */
extern idle_result g_idle[NWRAP];
extern int g_base;		/* the wrapper ratios refer to, or -1 */
extern char g_tmp[512];		/* the run's temporary directory */
extern int g_worker_seq;

/* -------------------------------------------------------------- workers */

/*
 * fork() a worker with a pipe back to us.  In the worker (0 is returned)
 * *fd is the pipe's write end and the worker is a subreaper with its own
 * random stream; here (its pid is returned) *fd is the read end.
 */
pid_t worker_fork(int *fd);
/* Everything the worker wrote, once it has exited; *status: its status. */
std::vector<char> worker_collect(pid_t pid, int fd, int *status);
void results_send(int fd, const results *res);
/* Merge what a worker sent into *res; false if it is truncated. */
bool results_merge(const std::vector<char> &raw, size_t *at, results *res);
/* OUTDIR/logs/STEM.log, for the wrappers' output; -1 if it cannot. */
int open_log(const char *stem);

/* --------------------------------------------------------------- runner */

/* One wrapper process under test. */
struct watch {
	const wrapper *w;
	pid_t pid;
	int pidfd;
	int out_fd;		/* its stdout and stderr */
	std::string partial;	/* an incomplete output line */
	std::string last_line;
	int64_t t_start;	/* just before posix_spawn */
	int64_t t_monitor;	/* arrival of "monitoring process" */
	pid_t monitor_pid;	/* its process= field */
	bool follow_armed;
	int64_t t_follow;	/* arrival of a "following" line once armed */
	bool exited;
	int64_t t_exit;		/* poll() returned for its pidfd */
	int status;
	pid_t daemon;
};

/* The context of one worker: its FIFO, its pid files, its wrappers. */
struct runner {
	char dir[600];
	char fifo[640];
	char pidfile[640];
	int fifo_fd;
	int log_fd;
	std::vector<fx_event> evq;
	unsigned char evbuf[sizeof(fx_event)];
	size_t evlen;
	std::vector<watch *> active;
	/* notify.cc: the datagram socket that stands for systemd's
	 * NOTIFY_SOCKET in pidsitter's spawned runs, and the time the last
	 * recv() of a READY=1 returned (0: none yet). */
	char notify_path[640];
	char notify_conf[640];
	int notify_fd;
	int64_t t_notify_ready;
};

int runner_init(runner *r, int log_fd);
void runner_fini(runner *r);
/* One poll() round; -1 once a stop was requested. */
int runner_pump(runner *r, int timeout_ms);
/* Pump for ns; -EINTR if a stop was requested, else 0. */
int runner_sleep(runner *r, int64_t ns);
/* Pump once, then forget every queued event. */
void runner_drain(runner *r);

/* Pump until done() or the deadline; 0, -ETIMEDOUT or -EINTR.  max_ms > 0
 * caps each poll(), for conditions that no descriptor signals. */
template <class F>
int
runner_wait(runner *r, int64_t deadline, int max_ms, F done)
{
	for (;;) {
		if (done())
			return 0;
		int64_t left = deadline - now_ns();
		if (left <= 0)
			return -ETIMEDOUT;
		int ms = (int)((left + MS - 1) / MS);
		if (max_ms > 0 && ms > max_ms)
			ms = max_ms;
		if (runner_pump(r, ms) < 0)
			return -EINTR;
	}
}

/* Find (and consume) the first queued event that matches. */
template <class F>
bool
runner_take(runner *r, fx_event *out, F match)
{
	for (size_t i = 0; i < r->evq.size(); i++)
		if (match(r->evq[i])) {
			*out = r->evq[i];
			r->evq.erase(r->evq.begin() + (long)i);
			return true;
		}
	return false;
}

/* The daemon for a wrapper to adopt, detached; *daemon: its pid. */
int detached_start(runner *r, const char *pidfile, pid_t *daemon, char *err, size_t errlen);

void watch_init(watch *wt, const wrapper *w);
/* Start the wrapper around the fixture; it joins r->active. */
int watch_start(runner *r, watch *wt, int mode, const char *pidfile);
/* Wait until the wrapper is ready for the signals of a run. */
int watch_ready(runner *r, watch *wt, int mode, pid_t adopted, char *err, size_t errlen);
/* Stop the wrapper (TERM, then KILL); it leaves r->active. */
void watch_finish(runner *r, watch *wt);

/* ---------------------------------------------------------- the figures */

/* start.cc: start-up times of a ready wrapper; checks it adopted. */
int start_measure(runner *r, watch *wt, int mode, pid_t adopted, results *res,
    char *err, size_t errlen);
/* forward.cc: SIGNALS_PER_RUN signals through the wrapper into figure fig. */
int forward_measure(runner *r, watch *wt, int fig, results *res, char *err, size_t errlen);
/* death.cc: SIGKILL the daemon, time the wrapper's exit. */
int death_measure(runner *r, watch *wt, int mode, run_state *st, results *res,
    char *err, size_t errlen);
/* follow.cc: make the daemon upgrade, time the wrapper's following. */
int follow_measure(runner *r, watch *wt, run_state *st, results *res, char *err, size_t errlen);
/* control.cc: after follow_measure, pidsitter only (it listens on
 * control_socket_path() in upgrade runs). */
int control_measure(runner *r, watch *wt, results *res, char *err, size_t errlen);
std::string control_socket_path(const runner *r);
/* notify.cc: pidsitter's spawned runs (NOTIFY_SOCKET and ready = "notify"
 * from notify_setup()): the relay of the fixture's READY=1. */
int notify_setup(runner *r);
void notify_read(runner *r);
int notify_measure(runner *r, watch *wt, results *res, char *err, size_t errlen);
/* posix_spawn argv (stdout and stderr to out, -1: /dev/null); *t_start:
 * the time just before. */
int spawn(const std::vector<std::string> &argv, const std::vector<std::string> &env, int out,
    pid_t *pid, int64_t *t_start);
/* idle.cc: every wrapper's idle cost, all at once, into ir[NWRAP]. */
void idle_measure(idle_result *ir);
/* report.cc: the table on stdout and in OUTDIR/results.md, the raw
 * samples and series.gp. */
void report_write(void);

#endif
