/*
 * bench.cc: the driver of `make bench` (issue 6).  It runs pidsitter and its
 * peers (a Go model of gitaly-wrapper's algorithm, tini -s, dumb-init and
 * supervisord's pidproxy) around the same fixture daemon (fixture.c), on the
 * same machine in the same run, and reports what each one costs and how
 * fast it reacts: a Markdown table on stdout and in OUTDIR/results.md, raw
 * samples in OUTDIR/<figure>-<wrapper>.dat for bench/plot.gp.
 *
 * Every latency is the difference of two CLOCK_MONOTONIC readings: one
 * taken here just before the kill() or posix_spawn() that starts the event,
 * one taken where the event ends: in the fixture's signal handler, or here
 * when poll() returns for the wrapper's pidfd (its exit) or for its stdout
 * (a log line).  Nothing is asserted against a time: numbers are reported.
 *
 * Runs.  A run starts the wrapper (and, for an adopted daemon, first the
 * fixture detached with a pid file), waits until the wrapper is ready,
 * sends it SIGUSR1 a few times, then SIGKILLs the daemon at a random moment
 * and waits for the wrapper to exit.  Upgrade runs make the daemon write a
 * new pid file instead.  Every wait has a deadline: a wrapper that never
 * does what is measured is reported as such, never waited for forever.
 *
 * Processes.  The driver and each of its workers is a child subreaper
 * (PR_SET_CHILD_SUBREAPER), so every process a run leaves behind (the
 * detached daemon, a daemon whose wrapper died) becomes our child; each run
 * ends by killing and reaping all of our children.  We are also what reaps
 * a detached daemon, as PID 1 would be (REFERENCE.md section 1: a zombie
 * counts as alive for kill(pid, 0), so the reaping matters for gwmodel).
 */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "event.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

extern char **environ;

static const int64_t MS = 1000000;
static const int64_t SEC = 1000 * MS;

static const int64_t READY_DEADLINE = 5 * SEC;
static const int64_t SIGNAL_DEADLINE = 2 * SEC;
static const int64_t DEATH_DEADLINE = 10 * SEC;
static const int64_t FOLLOW_DEADLINE = 2 * SEC;
static const int SIGNALS_PER_RUN = 5;
static const int MAX_CONSECUTIVE_FAILURES = 3;

static volatile sig_atomic_t g_stop;

/* ---------------------------------------------------------------- basics */

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

static int64_t
ev_ns(const fx_event &e)
{
	return e.sec * SEC + e.nsec;
}

static void __attribute__((format(printf, 1, 2)))
note(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	fprintf(stderr, "bench: %s\n", buf);
}

static void __attribute__((format(printf, 1, 2), noreturn))
fatal(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	fprintf(stderr, "bench: fatal: %s\n", buf);
	exit(1);
}

static uint64_t g_rng = 0x9e3779b97f4a7c15ULL;

/* splitmix64: plenty for spreading kills over a poll period. */
static uint64_t
rng_next(void)
{
	uint64_t z = (g_rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int64_t
rng_below(int64_t n)
{
	return n > 0 ? (int64_t)(rng_next() % (uint64_t)n) : 0;
}

static int
pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static void
on_stop(int sig)
{
	(void)sig;
	g_stop = 1;
}

static std::string
status_text(int status)
{
	char buf[64];

	if (WIFEXITED(status))
		snprintf(buf, sizeof buf, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, sizeof buf, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, sizeof buf, "status 0x%x", status);
	return buf;
}

/* The number the shell would show: code, or 128+N. */
static int
status_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

/* ------------------------------------------------------ wrappers, figures */

enum { W_PIDSITTER, W_GWMODEL, W_TINI, W_DUMBINIT, W_PIDPROXY, NWRAP };
enum { M_SPAWN, M_ADOPT, M_UPGRADE, NMODE };
static const char *mode_name[NMODE] = { "spawned", "adopted", "upgraded" };

struct wrapper {
	const char *name;	/* option, file stem, plot title */
	const char *title;	/* column title */
	const char *defpath;
	bool adopts;		/* adopted-daemon runs make sense */
	bool logs_monitor;	/* prints gitaly's "monitoring process" line */
	bool upgrades;		/* upgrade runs make sense */
	int64_t spread;		/* the kill is spread over [0, spread) */
	int workers;		/* runs in parallel (see pidproxy below) */
	char path[PATH_MAX];
	bool enabled;
};

/*
 * The kill that ends a run comes at a uniformly random moment within
 * `spread` after the wrapper is ready, so that a wrapper that polls is
 * caught at every phase of its poll: 1 s (gitaly-wrapper's period, which
 * also covers any faster timer) for all, 5 s for pidproxy, whose loop is
 * time.sleep(5) then waitpid(WNOHANG).  pidproxy runs therefore last 5 s
 * each; they go six at a time (staggered by 5/6 s, so their start-ups and
 * signals do not overlap) to keep `make bench` within minutes.  Everything
 * else runs one at a time, the wrappers interleaved run by run (run_worker).
 */
static wrapper wrappers[NWRAP] = {
	{ "pidsitter", "pidsitter", "build/pidsitter", true, true, true, SEC, 1, "", false },
	{ "gwmodel", "gitaly-wrapper (Go model)", "build/bench/gwmodel", true, true, false, SEC, 1, "", false },
	{ "tini", "tini -s", "/usr/bin/tini", false, false, false, SEC, 1, "", false },
	{ "dumb-init", "dumb-init", "/usr/bin/dumb-init", false, false, false, SEC, 1, "", false },
	{ "pidproxy", "pidproxy", "/usr/bin/pidproxy", true, false, false, 5 * SEC, 6, "", false },
};

enum {
	F_SIG_SPAWN, F_SIG_ADOPT, F_DEATH_SPAWN, F_DEATH_ADOPT,
	F_FOLLOW_PROBE, F_FOLLOW_LINE,
	F_START_MON_SPAWN, F_START_MON_ADOPT, F_START_DAEMON, NFIG
};

static const struct {
	const char *stem;
	const char *label;
} figs[NFIG] = {
	{ "signal-spawned", "Signal forwarding, spawned daemon" },
	{ "signal-adopted", "Signal forwarding, adopted daemon" },
	{ "death-spawned", "Death detection, spawned daemon" },
	{ "death-adopted", "Death detection, adopted daemon" },
	{ "follow-probe", "Upgrade follow, probe signal" },
	{ "follow-line", "Upgrade follow, log line" },
	{ "start-monitor-spawned", "Start to \"monitoring process\", spawned" },
	{ "start-monitor-adopted", "Start to \"monitoring process\", adopted" },
	{ "start-daemon", "Start to daemon running (its main())" },
};

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

struct options {
	int runs;
	int idle_seconds;
	const char *outdir;
	char fixture[PATH_MAX];
	const char *versions;
	uint64_t seed;
	bool seeded;
};

static options opt = { 30, 10, "build/bench", "build/bench/fixture", "", 0, false };
static results g_res[NWRAP];
static bool g_broken[NWRAP];	/* no spawned run worked: skip the rest */
static idle_result g_idle[NWRAP];
static char g_tmp[512];	/* the run's temporary directory */
static int g_worker_seq;

/* ------------------------------------------------------------ processes */

/*
 * Kill and reap every child we have.  A process we kill may have children
 * of its own; they are re-parented to us (a subreaper) before it can be
 * reaped, so the next round sees them.  Stops when none is left.
 */
static void
kill_children(void)
{
	char path[64];
	int round;

	snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
	for (round = 0; round < 1000; round++) {
		std::vector<pid_t> kids;
		char buf[8192];
		ssize_t n;
		int fd;

		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return;
		n = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (n <= 0)
			break;
		buf[n] = '\0';
		for (char *p = buf, *end; *p; p = end) {
			long v = strtol(p, &end, 10);
			if (end == p)
				break;
			kids.push_back((pid_t)v);
		}
		if (kids.empty())
			break;
		for (pid_t k : kids)
			kill(k, SIGKILL);
		for (pid_t k : kids)
			while (waitpid(k, NULL, 0) < 0 && errno == EINTR)
				;
	}
	/* Zombies of children that died on their own. */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

/*
 * Is the process waiting for signals in rt_sigtimedwait() (tini, dumb-init)?
 * The kernel unblocks the awaited set for the duration of the call, so
 * SigBlk does not show them then; /proc/PID/syscall does.
 */
static bool
in_sigwait(pid_t pid)
{
	char path[64], buf[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/syscall", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return atol(buf) == SYS_rt_sigtimedwait;
}

/*
 * Will a signal sent now be handled rather than kill the process: caught
 * (SigCgt), blocked (SigBlk, to be fetched with sigwait) or awaited?
 */
static bool
signal_handled(pid_t pid, int sig)
{
	char path[64], line[256];
	unsigned long long blk = 0, cgt = 0;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return false;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "SigBlk:", 7) == 0)
			blk = strtoull(line + 7, NULL, 16);
		else if (strncmp(line, "SigCgt:", 7) == 0)
			cgt = strtoull(line + 7, NULL, 16);
	}
	fclose(f);
	return (((blk | cgt) >> (sig - 1)) & 1) || in_sigwait(pid);
}

static int64_t
status_field(const char *path, const char *key)
{
	char line[256];
	size_t len = strlen(key);
	int64_t v = -1;
	FILE *f = fopen(path, "re");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, key, len) == 0 && line[len] == ':') {
			v = strtoll(line + len + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* Context switches of every thread of pid; *threads gets their number. */
static int64_t
context_switches(pid_t pid, int64_t *threads)
{
	char dirpath[64], path[PATH_MAX];
	struct dirent *de;
	int64_t sum = 0;
	DIR *d;

	*threads = 0;
	snprintf(dirpath, sizeof dirpath, "/proc/%d/task", (int)pid);
	d = opendir(dirpath);
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s/status", dirpath, de->d_name);
		int64_t v = status_field(path, "voluntary_ctxt_switches");
		int64_t nv = status_field(path, "nonvoluntary_ctxt_switches");
		if (v >= 0 && nv >= 0) {
			sum += v + nv;
			(*threads)++;
		}
	}
	closedir(d);
	return sum;
}

static int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	remove(path);
	return 0;
}

static void
rm_tree(const char *path)
{
	nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---------------------------------------------------------------- runner */

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

static void
watch_init(watch *wt, const wrapper *w)
{
	wt->w = w;
	wt->pid = -1;
	wt->pidfd = -1;
	wt->out_fd = -1;
	wt->partial.clear();
	wt->last_line.clear();
	wt->t_start = wt->t_monitor = wt->t_follow = wt->t_exit = 0;
	wt->monitor_pid = 0;
	wt->follow_armed = false;
	wt->exited = false;
	wt->status = 0;
	wt->daemon = 0;
}

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
};

static int
runner_init(runner *r, int log_fd)
{
	int seq = ++g_worker_seq;

	snprintf(r->dir, sizeof r->dir, "%s/w%d.%d", g_tmp, seq, (int)getpid());
	snprintf(r->fifo, sizeof r->fifo, "%s/events", r->dir);
	snprintf(r->pidfile, sizeof r->pidfile, "%s/daemon.pid", r->dir);
	r->log_fd = log_fd;
	r->evlen = 0;
	r->fifo_fd = -1;
	if (mkdir(r->dir, 0700) < 0 || mkfifo(r->fifo, 0600) < 0)
		return -errno;
	/* O_RDWR: we are a writer too, so we never see EOF and a fixture's
	 * O_WRONLY | O_NONBLOCK open never fails with ENXIO. */
	r->fifo_fd = open(r->fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (r->fifo_fd < 0)
		return -errno;
	return 0;
}

static void
runner_fini(runner *r)
{
	if (r->fifo_fd >= 0)
		close(r->fifo_fd);
	r->fifo_fd = -1;
	rm_tree(r->dir);
}

static void
read_events(runner *r)
{
	for (;;) {
		ssize_t n = read(r->fifo_fd, r->evbuf + r->evlen, sizeof r->evbuf - r->evlen);
		if (n <= 0)
			return;
		r->evlen += (size_t)n;
		if (r->evlen == sizeof r->evbuf) {
			fx_event e;
			memcpy(&e, r->evbuf, sizeof e);
			r->evq.push_back(e);
			r->evlen = 0;
		}
	}
}

static void
on_line(runner *r, watch *wt, const std::string &line, int64_t t)
{
	std::string out = "[" + std::to_string(wt->pid) + "] " + line + "\n";

	if (r->log_fd >= 0)
		(void)!write(r->log_fd, out.data(), out.size());
	wt->last_line = line;
	if (wt->t_monitor == 0 && line.find("monitoring process") != std::string::npos) {
		size_t at = line.find("process=");
		wt->t_monitor = t;
		/* "process=" also ends "msg=\"monitoring process\"": take the
		 * field, the one followed by a digit. */
		while (at != std::string::npos) {
			const char *p = line.c_str() + at + 8;
			if (*p == '"')
				p++;
			if (*p >= '0' && *p <= '9') {
				wt->monitor_pid = (pid_t)atol(p);
				break;
			}
			at = line.find("process=", at + 1);
		}
	}
	if (wt->follow_armed && wt->t_follow == 0 && line.find("following") != std::string::npos)
		wt->t_follow = t;
}

static void
read_output(runner *r, watch *wt, int64_t t)
{
	char buf[16384];

	for (;;) {
		ssize_t n = read(wt->out_fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return;
		if (n == 0) {
			close(wt->out_fd);
			wt->out_fd = -1;
			return;
		}
		wt->partial.append(buf, (size_t)n);
		size_t nl;
		while ((nl = wt->partial.find('\n')) != std::string::npos) {
			on_line(r, wt, wt->partial.substr(0, nl), t);
			wt->partial.erase(0, nl + 1);
		}
	}
}

static void
reap(watch *wt, int64_t t)
{
	int st;
	pid_t p;

	do
		p = waitpid(wt->pid, &st, 0);
	while (p < 0 && errno == EINTR);
	wt->exited = true;
	wt->t_exit = t;
	wt->status = p == wt->pid ? st : 0;
	if (wt->pidfd >= 0)
		close(wt->pidfd);
	wt->pidfd = -1;
}

/*
 * One round of poll() over the FIFO and every active wrapper's output and
 * pidfd.  The time is read once, right after poll() returns: that is when
 * each ready event is deemed to have happened.  Returns -1 once a stop was
 * requested (SIGINT, SIGTERM).
 */
static int
pump(runner *r, int timeout_ms)
{
	struct pollfd pfd[1 + 2 * NWRAP];
	watch *owner[1 + 2 * NWRAP];
	bool is_exit[1 + 2 * NWRAP];
	int n = 0, rc;

	pfd[n].fd = r->fifo_fd;
	pfd[n].events = POLLIN;
	owner[n] = NULL;
	is_exit[n++] = false;
	for (watch *wt : r->active) {
		if (wt->out_fd >= 0) {
			pfd[n].fd = wt->out_fd;
			pfd[n].events = POLLIN;
			owner[n] = wt;
			is_exit[n++] = false;
		}
		if (!wt->exited && wt->pidfd >= 0) {
			pfd[n].fd = wt->pidfd;
			pfd[n].events = POLLIN;
			owner[n] = wt;
			is_exit[n++] = true;
		}
	}
	rc = poll(pfd, (nfds_t)n, timeout_ms);
	int64_t t = now_ns();
	if (rc < 0 && errno != EINTR)
		fatal("poll: %s", strerror(errno));
	for (int i = 0; rc > 0 && i < n; i++) {
		if (pfd[i].revents == 0)
			continue;
		if (owner[i] == NULL)
			read_events(r);
		else if (!is_exit[i])
			read_output(r, owner[i], t);
	}
	/* Exits last, so that the output a wrapper wrote before exiting is
	 * read in this round too. */
	for (int i = 0; rc > 0 && i < n; i++)
		if (pfd[i].revents != 0 && is_exit[i])
			reap(owner[i], t);
	return g_stop ? -1 : 0;
}

/* Pump until done() or the deadline; 0, -ETIMEDOUT or -EINTR. */
template <class F>
static int
wait_until(runner *r, int64_t deadline, int max_ms, F done)
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
		if (pump(r, ms) < 0)
			return -EINTR;
	}
}

static int
sleep_pump(runner *r, int64_t ns)
{
	int rc = wait_until(r, now_ns() + ns, 0, [] { return false; });
	return rc == -EINTR ? rc : 0;
}

/* Find (and consume) the first queued event that matches. */
template <class F>
static bool
take_event(runner *r, fx_event *out, F match)
{
	for (size_t i = 0; i < r->evq.size(); i++)
		if (match(r->evq[i])) {
			*out = r->evq[i];
			r->evq.erase(r->evq.begin() + (long)i);
			return true;
		}
	return false;
}

static void
drain_events(runner *r)
{
	pump(r, 0);
	r->evq.clear();
}

/* --------------------------------------------------------- starting things */

static std::vector<char *>
cstrings(std::vector<std::string> &v)
{
	std::vector<char *> p;

	for (std::string &s : v)
		p.push_back(&s[0]);
	p.push_back(NULL);
	return p;
}

/*
 * The command line of each wrapper around the fixture.  For pidproxy with
 * an adopted daemon the program it starts is a placeholder: pidproxy always
 * starts a program of its own and only ever notices that program's exit;
 * the daemon it signals is whatever the pid file names (the mysqld_safe /
 * mysqld arrangement it was written for).
 */
static void
wrapper_command(const wrapper *w, int mode, const runner *r, const char *pidfile,
    std::vector<std::string> *argv, std::vector<std::string> *env)
{
	std::vector<std::string> fx = { opt.fixture, "-p", pidfile, "-e", r->fifo };

	argv->clear();
	argv->push_back(w->path);
	switch (w - wrappers) {
	case W_PIDSITTER:
		argv->insert(argv->end(), { "-p", pidfile, "--" });
		break;
	case W_GWMODEL:
		break;
	case W_TINI:
		argv->insert(argv->end(), { "-s", "--" });
		break;
	case W_DUMBINIT:
		break;
	case W_PIDPROXY:
		argv->push_back(pidfile);
		if (mode == M_ADOPT)
			fx = { opt.fixture, "-e", r->fifo };
		break;
	}
	argv->insert(argv->end(), fx.begin(), fx.end());

	env->clear();
	for (char **e = environ; *e != NULL; e++)
		if (strncmp(*e, "GITALY_", 7) != 0 && strncmp(*e, "WRAPPER_JSON_LOGGING=", 21) != 0)
			env->push_back(*e);
	if (w - wrappers == W_GWMODEL)
		env->push_back(std::string("GITALY_PID_FILE=") + pidfile);
}

static std::string
join(const std::vector<std::string> &v)
{
	std::string s;

	for (const std::string &a : v)
		s += (s.empty() ? "" : " ") + a;
	return s;
}

/*
 * posix_spawn with default signal dispositions, an empty mask and a process
 * group of its own (a ^C at the terminal reaches only us; we clean up).
 * out: the fd for stdout and stderr, or -1 for /dev/null.
 */
static int
spawn(const std::vector<std::string> &argv_in, const std::vector<std::string> &env_in,
    int out, pid_t *pid, int64_t *t_start)
{
	std::vector<std::string> argv = argv_in, env = env_in;
	std::vector<char *> av = cstrings(argv), ev = cstrings(env);
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	int rc;

	sigemptyset(&none);
	sigfillset(&all);
	sigdelset(&all, SIGKILL);
	sigdelset(&all, SIGSTOP);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (out >= 0) {
		posix_spawn_file_actions_adddup2(&fa, out, 1);
		posix_spawn_file_actions_adddup2(&fa, out, 2);
	} else {
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	}
	posix_spawnattr_init(&at);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	*t_start = now_ns();
	rc = posix_spawn(pid, av[0], &fa, &at, av.data(), ev.data());
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	return -rc;
}

static int
start_wrapper(runner *r, watch *wt, int mode, const char *pidfile)
{
	std::vector<std::string> argv, env;
	int p[2], rc;

	wrapper_command(wt->w, mode, r, pidfile, &argv, &env);
	if (r->log_fd >= 0) {
		std::string h = "==== " + join(argv) + "\n";
		(void)!write(r->log_fd, h.data(), h.size());
	}
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	/* Only our end is non-blocking; the wrapper's writes must block. */
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	rc = spawn(argv, env, p[1], &wt->pid, &wt->t_start);
	close(p[1]);
	if (rc < 0) {
		close(p[0]);
		wt->pid = -1;
		return rc;
	}
	wt->out_fd = p[0];
	wt->pidfd = pidfd_open(wt->pid);
	if (wt->pidfd < 0)
		fatal("pidfd_open: %s (Linux 5.3 or later is needed)", strerror(errno));
	r->active.push_back(wt);
	return 0;
}

/*
 * The daemon for a wrapper to adopt: `fixture -d`, whose launcher exits 0
 * once the daemon (re-parented to us) has written the pid file.
 */
static int
start_detached(runner *r, const char *pidfile, pid_t *daemon, char *err, size_t errlen)
{
	std::vector<std::string> argv = { opt.fixture, "-d", "-p", pidfile, "-e", r->fifo };
	std::vector<std::string> env;
	int64_t t;
	pid_t pid;
	int st, rc, fd;

	for (char **e = environ; *e != NULL; e++)
		env.push_back(*e);
	rc = spawn(argv, env, -1, &pid, &t);
	if (rc < 0) {
		snprintf(err, errlen, "cannot run %s: %s", opt.fixture, strerror(-rc));
		return -1;
	}
	fd = pidfd_open(pid);
	struct pollfd pfd = { fd, POLLIN, 0 };
	rc = poll(&pfd, 1, (int)(READY_DEADLINE / MS));
	if (rc <= 0)
		kill(pid, SIGKILL);
	close(fd);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (rc <= 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		snprintf(err, errlen, "detached fixture did not start (%s)",
		    rc <= 0 ? "timeout" : status_text(st).c_str());
		return -1;
	}
	fx_event e;
	rc = wait_until(r, now_ns() + SEC, 0, [&] {
		return take_event(r, &e, [](const fx_event &x) { return x.kind == FX_READY; });
	});
	if (rc < 0) {
		snprintf(err, errlen, "detached fixture sent no ready event");
		return -1;
	}
	*daemon = e.pid;
	return 0;
}

/*
 * Ready: the daemon runs (its FX_READY event; for an adopted daemon we know
 * it already), the wrapper logged "monitoring process" if it is one that
 * does, and the wrapper catches or blocks the signals we are about to send
 * (a signal sent earlier would kill it: SIGUSR1's default action).
 *
 * pidproxy with an adopted daemon: also wait until the placeholder it
 * starts runs.  pidproxy installs its handlers before it forks, but a
 * signal that arrives while Python 3.11 is inside that fork runs the C
 * handler and then no Python handler until the next signal comes (seen with
 * strace: the signal is delivered during clone(), then clock_nanosleep()
 * for 5 s, nothing forwarded).  A run must not measure that start-up race.
 */
static int
wait_ready(runner *r, watch *wt, int mode, pid_t adopted, char *err, size_t errlen)
{
	bool placeholder = mode == M_ADOPT && wt->w - wrappers == W_PIDPROXY;
	const char *missing = "";
	int rc;

	rc = wait_until(r, wt->t_start + READY_DEADLINE, 1, [&] {
		if (wt->exited)
			return true;
		if (placeholder) {
			fx_event e;
			if (!take_event(r, &e, [&](const fx_event &x) {
			    return x.kind == FX_READY && x.pid != adopted && ev_ns(x) >= wt->t_start; })) {
				missing = "its own program never ran";
				return false;
			}
			placeholder = false;
		}
		if (wt->daemon == 0) {
			fx_event e;
			if (mode == M_ADOPT)
				wt->daemon = adopted;
			else if (take_event(r, &e, [&](const fx_event &x) {
			    return x.kind == FX_READY && ev_ns(x) >= wt->t_start; }))
				wt->daemon = e.pid;
		}
		if (wt->daemon == 0) {
			missing = "the daemon never became ready";
			return false;
		}
		if (wt->w->logs_monitor && wt->t_monitor == 0) {
			missing = "no \"monitoring process\" line";
			return false;
		}
		missing = "SIGUSR1/SIGHUP neither caught nor blocked";
		return signal_handled(wt->pid, SIGUSR1) && signal_handled(wt->pid, SIGHUP);
	});
	if (rc == -EINTR) {
		snprintf(err, errlen, "interrupted");
		return -1;
	}
	if (wt->exited) {
		snprintf(err, errlen, "%s %s before it was ready (last output: \"%s\")",
		    wt->w->name, status_text(wt->status).c_str(), wt->last_line.c_str());
		return -1;
	}
	if (rc < 0) {
		snprintf(err, errlen, "%s not ready within %d s: %s (last output: \"%s\")",
		    wt->w->name, (int)(READY_DEADLINE / SEC), missing, wt->last_line.c_str());
		return -1;
	}
	return 0;
}

/* Stop the wrapper (TERM, then KILL), then every process left over. */
static void
finish(runner *r, watch *wt)
{
	if (wt->pid > 0 && !wt->exited) {
		kill(wt->pid, SIGTERM);
		wait_until(r, now_ns() + 2 * SEC, 0, [&] { return wt->exited; });
		if (!wt->exited) {
			kill(wt->pid, SIGKILL);
			reap(wt, now_ns());
		}
	}
	/* Whatever it wrote last goes to the log. */
	if (wt->out_fd >= 0) {
		read_output(r, wt, now_ns());
		if (wt->out_fd >= 0)
			close(wt->out_fd);
	}
	wt->out_fd = -1;
	if (wt->pidfd >= 0)
		close(wt->pidfd);
	wt->pidfd = -1;
	r->active.erase(std::remove(r->active.begin(), r->active.end(), wt), r->active.end());
}

/* ------------------------------------------------------------------- runs */

struct run_state {
	bool skip_death;	/* a death wait timed out: the wrapper does not detect it */
	bool skip_follow;
};

static int
fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int
signal_probes(runner *r, watch *wt, int fig, results *res, char *err, size_t errlen)
{
	for (int k = 0; k < SIGNALS_PER_RUN; k++) {
		if (sleep_pump(r, MS + rng_below(9 * MS)) < 0)
			return fail(err, errlen, "interrupted");
		fx_event e;
		int64_t t0 = now_ns();
		kill(wt->pid, SIGUSR1);
		int rc = wait_until(r, t0 + SIGNAL_DEADLINE, 0, [&] {
			return wt->exited || take_event(r, &e, [&](const fx_event &x) {
			    return x.pid == wt->daemon && x.kind == SIGUSR1 && ev_ns(x) >= t0; });
		});
		if (rc == -EINTR)
			return fail(err, errlen, "interrupted");
		if (wt->exited)
			return fail(err, errlen, "%s %s after SIGUSR1 (last output: \"%s\")",
			    wt->w->name, status_text(wt->status).c_str(), wt->last_line.c_str());
		if (rc < 0)
			return fail(err, errlen, "SIGUSR1 did not reach the daemon within %d s",
			    (int)(SIGNAL_DEADLINE / SEC));
		res->s[fig].push_back(ev_ns(e) - t0);
	}
	return 0;
}

static int
death(runner *r, watch *wt, int mode, run_state *st, results *res, char *err, size_t errlen)
{
	int m = mode == M_ADOPT;

	if (st->skip_death) {
		kill(wt->daemon, SIGKILL);
		return 0;
	}
	if (sleep_pump(r, rng_below(wt->w->spread)) < 0)
		return fail(err, errlen, "interrupted");
	int64_t t0 = now_ns();
	kill(wt->daemon, SIGKILL);
	/* We are the detached daemon's parent (a subreaper): reap it at
	 * once, as a healthy PID 1 would. */
	if (mode == M_ADOPT)
		while (waitpid(wt->daemon, NULL, 0) < 0 && errno == EINTR)
			;
	int rc = wait_until(r, t0 + DEATH_DEADLINE, 0, [&] { return wt->exited; });
	if (rc == -EINTR)
		return fail(err, errlen, "interrupted");
	if (rc < 0) {
		res->death_timeouts[m]++;
		st->skip_death = true;
		return 0;
	}
	res->s[mode == M_ADOPT ? F_DEATH_ADOPT : F_DEATH_SPAWN].push_back(wt->t_exit - t0);
	res->exits[m].push_back(status_code(wt->status));
	return 0;
}

/*
 * Upgrade follow.  HUP to the wrapper reaches the daemon, which forks its
 * successor; the successor writes the pid file (temp + rename) and reports
 * the time just before rename().  Then we probe: SIGUSR1 to the wrapper,
 * wait until the old or the new process records it, again, until the new
 * one does.  pidsitter sends non-stop signals to the current generation
 * only (issue 3), so the first probe that reaches the new process shows it
 * has become current: figure = its handler time - rename time.  We chose
 * the probe as the figure because it measures behaviour, not a message
 * text, and works for any wrapper that routes signals by the pid file; it
 * overstates by at most one probe round trip (one forwarding latency).
 * The arrival of a log line containing "following" on the wrapper's
 * stdout (pidsitter: msg="following new process") is reported as a second
 * figure: it is the decision itself, timed by its arrival in our pipe
 * (the line's own "time" field has millisecond precision only).  Each
 * probe is work for the wrapper (a signal, a log line), so the probe
 * figure also shows what following costs under signal traffic.
 */
static int
upgrade(runner *r, watch *wt, run_state *st, results *res, char *err, size_t errlen)
{
	fx_event ren = {}, e = {};
	int rc;

	if (sleep_pump(r, rng_below(SEC)) < 0)
		return fail(err, errlen, "interrupted");
	wt->follow_armed = true;
	int64_t th = now_ns();
	kill(wt->pid, SIGHUP);
	rc = wait_until(r, th + FOLLOW_DEADLINE, 0, [&] {
		return wt->exited || take_event(r, &ren, [&](const fx_event &x) {
		    return x.kind == FX_RENAME && x.pid != wt->daemon; });
	});
	if (rc == -EINTR)
		return fail(err, errlen, "interrupted");
	if (wt->exited)
		return fail(err, errlen, "%s %s after SIGHUP", wt->w->name, status_text(wt->status).c_str());
	if (rc < 0)
		return fail(err, errlen, "SIGHUP did not make the daemon upgrade within %d s",
		    (int)(FOLLOW_DEADLINE / SEC));
	pid_t next = ren.pid;
	int64_t tr = ev_ns(ren);
	int64_t end = tr + FOLLOW_DEADLINE;
	bool followed = false;
	while (!followed && now_ns() < end) {
		int64_t t0 = now_ns();
		kill(wt->pid, SIGUSR1);
		rc = wait_until(r, end, 0, [&] {
			return wt->exited || take_event(r, &e, [&](const fx_event &x) {
			    return (x.pid == wt->daemon || x.pid == next) && x.kind == SIGUSR1 &&
			        ev_ns(x) >= t0; });
		});
		if (rc == -EINTR)
			return fail(err, errlen, "interrupted");
		if (wt->exited)
			return fail(err, errlen, "%s %s during the upgrade (last output: \"%s\")",
			    wt->w->name, status_text(wt->status).c_str(), wt->last_line.c_str());
		if (rc < 0)
			break;
		followed = e.pid == next;
	}
	if (!followed) {
		res->follow_timeouts++;
		st->skip_follow = true;
		return 0;
	}
	res->s[F_FOLLOW_PROBE].push_back(ev_ns(e) - tr);
	if (wt->w->logs_monitor) {
		wait_until(r, now_ns() + SEC, 0, [&] { return wt->t_follow != 0 || wt->exited; });
		if (wt->t_follow != 0)
			res->s[F_FOLLOW_LINE].push_back(wt->t_follow - tr);
	}
	return 0;
}

static int
run_once(runner *r, const wrapper *w, int mode, run_state *st, results *res, char *err, size_t errlen)
{
	watch wt;
	pid_t adopted = 0;
	int rc = 0;

	watch_init(&wt, w);
	unlink(r->pidfile);
	drain_events(r);
	if (mode == M_ADOPT && start_detached(r, r->pidfile, &adopted, err, errlen) < 0) {
		kill_children();
		return -1;
	}
	drain_events(r);
	rc = start_wrapper(r, &wt, mode, r->pidfile);
	if (rc < 0) {
		fail(err, errlen, "cannot run %s: %s", w->path, strerror(-rc));
		kill_children();
		return -1;
	}
	rc = wait_ready(r, &wt, mode, adopted, err, errlen);
	if (rc < 0)
		goto out;

	if (mode == M_SPAWN) {
		fx_event e;
		if (take_event(r, &e, [&](const fx_event &x) {
		    return x.kind == FX_START && x.pid == wt.daemon; }))
			res->s[F_START_DAEMON].push_back(ev_ns(e) - wt.t_start);
	}
	if (w->logs_monitor && mode != M_UPGRADE)
		res->s[mode == M_ADOPT ? F_START_MON_ADOPT : F_START_MON_SPAWN]
		    .push_back(wt.t_monitor - wt.t_start);
	if (mode == M_ADOPT && w->logs_monitor) {
		fx_event e;
		if (take_event(r, &e, [](const fx_event &x) { return x.kind == FX_START; })) {
			rc = fail(err, errlen, "%s started a second daemon (pid %d) instead of adopting %d",
			    w->name, (int)e.pid, (int)adopted);
			goto out;
		}
		if (wt.monitor_pid != 0 && wt.monitor_pid != adopted) {
			rc = fail(err, errlen, "%s monitors pid %d, not the daemon %d",
			    w->name, (int)wt.monitor_pid, (int)adopted);
			goto out;
		}
	}

	if (mode == M_UPGRADE) {
		rc = upgrade(r, &wt, st, res, err, errlen);
	} else {
		rc = signal_probes(r, &wt, mode == M_ADOPT ? F_SIG_ADOPT : F_SIG_SPAWN, res, err, errlen);
		if (rc == 0)
			rc = death(r, &wt, mode, st, res, err, errlen);
	}
out:
	finish(r, &wt);
	kill_children();
	return rc;
}

/* ---------------------------------------------------- results over a pipe */

static void
put(std::vector<int64_t> *buf, const std::vector<int64_t> &v)
{
	buf->push_back((int64_t)v.size());
	buf->insert(buf->end(), v.begin(), v.end());
}

static int
write_all(int fd, const void *p, size_t n)
{
	const char *c = (const char *)p;

	while (n > 0) {
		ssize_t k = write(fd, c, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		c += k;
		n -= (size_t)k;
	}
	return 0;
}

static void
send_results(int fd, const results *res)
{
	std::vector<int64_t> b;

	for (int f = 0; f < NFIG; f++)
		put(&b, res->s[f]);
	put(&b, res->exits[0]);
	put(&b, res->exits[1]);
	b.insert(b.end(), res->runs, res->runs + NMODE);
	b.push_back(res->failures);
	b.push_back(res->death_timeouts[0]);
	b.push_back(res->death_timeouts[1]);
	b.push_back(res->follow_timeouts);
	write_all(fd, b.data(), b.size() * sizeof b[0]);
	write_all(fd, res->err, sizeof res->err);
}

static std::vector<char>
read_all(int fd)
{
	std::vector<char> v;
	char buf[65536];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		v.insert(v.end(), buf, buf + n);
	}
	return v;
}

/* Merge what a worker sent into *res; false if it is truncated. */
static bool
merge_results(const std::vector<char> &raw, size_t *at, results *res)
{
	size_t &pos = *at;
	auto get = [&](int64_t *v) {
		if (pos + sizeof *v > raw.size())
			return false;
		memcpy(v, raw.data() + pos, sizeof *v);
		pos += sizeof *v;
		return true;
	};
	auto get_vec = [&](std::vector<int64_t> *out) {
		int64_t n, v;
		if (!get(&n))
			return false;
		for (int64_t i = 0; i < n; i++) {
			if (!get(&v))
				return false;
			out->push_back(v);
		}
		return true;
	};
	int64_t x;

	for (int f = 0; f < NFIG; f++)
		if (!get_vec(&res->s[f]))
			return false;
	if (!get_vec(&res->exits[0]) || !get_vec(&res->exits[1]))
		return false;
	for (int m = 0; m < NMODE; m++) {
		if (!get(&x))
			return false;
		res->runs[m] += x;
	}
	if (!get(&x)) return false;
	res->failures += x;
	if (!get(&x)) return false;
	res->death_timeouts[0] += x;
	if (!get(&x)) return false;
	res->death_timeouts[1] += x;
	if (!get(&x)) return false;
	res->follow_timeouts += x;
	if (pos + sizeof res->err > raw.size())
		return false;
	if (res->err[0] == '\0')
		memcpy(res->err, raw.data() + pos, sizeof res->err);
	res->err[sizeof res->err - 1] = '\0';
	pos += sizeof res->err;
	return true;
}

/* ---------------------------------------------------------------- workers */

static void
worker_setup(void)
{
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	/* Each worker its own random stream. */
	g_rng ^= (uint64_t)getpid() * 0x2545f4914f6cdd1dULL;
}

/*
 * One worker's share of a set: nruns rounds, each round one run of every
 * wrapper in `ws`, in a new random order each round, so that whatever else
 * the machine does (a build next door, a frequency change) falls on all
 * columns alike rather than on whichever ran at that minute.
 */
static void
run_worker(int out, const std::vector<int> &ws, int mode, int nruns, int64_t stagger,
    const int *log_fds)
{
	static results res[NWRAP];
	run_state st[NWRAP];
	int consecutive[NWRAP] = { 0 };
	bool done[NWRAP] = { false };
	std::vector<int> order = ws;
	runner r;
	int rc;

	worker_setup();
	rc = runner_init(&r, -1);
	if (rc < 0) {
		for (int wi : ws) {
			snprintf(res[wi].err, sizeof res[wi].err,
			    "cannot set up a worker directory: %s", strerror(-rc));
			res[wi].failures++;
			send_results(out, &res[wi]);
		}
		_exit(1);
	}
	for (int wi : ws)
		st[wi] = { false, false };
	if (stagger > 0)
		sleep_pump(&r, stagger);
	for (int i = 0; i < nruns && !g_stop; i++) {
		for (size_t k = order.size(); k > 1; k--)
			std::swap(order[k - 1], order[(size_t)rng_below((int64_t)k)]);
		for (int wi : order) {
			const wrapper *w = &wrappers[wi];
			char err[sizeof res[wi].err] = "";
			if (done[wi] || g_stop)
				continue;
			r.log_fd = log_fds[wi];
			res[wi].runs[mode]++;
			if (run_once(&r, w, mode, &st[wi], &res[wi], err, sizeof err) < 0) {
				res[wi].failures++;
				if (res[wi].err[0] == '\0')
					snprintf(res[wi].err, sizeof res[wi].err, "%s", err);
				note("%s, %s daemon, run %d: %s", w->name, mode_name[mode], i + 1, err);
				if (++consecutive[wi] >= MAX_CONSECUTIVE_FAILURES) {
					note("%s, %s daemon: giving up after %d failed runs in a row",
					    w->name, mode_name[mode], consecutive[wi]);
					done[wi] = true;
				}
			} else {
				consecutive[wi] = 0;
			}
			/* A wrapper that does not follow at all: nothing more to learn. */
			if (mode == M_UPGRADE && st[wi].skip_follow)
				done[wi] = true;
		}
	}
	kill_children();
	runner_fini(&r);
	for (int wi : ws)
		send_results(out, &res[wi]);
	_exit(0);
}

static int
open_log(const char *stem)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/logs/%s.log", opt.outdir, stem);
	return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
}

/* Run opt.runs runs of each wrapper in `ws` in one mode, over nworkers. */
static void
run_set(const std::vector<int> &ws, int mode, int nworkers, int64_t spread)
{
	std::vector<pid_t> pids;
	std::vector<int> fds;
	int log_fds[NWRAP];
	std::string names;
	char stem[128];
	int64_t t0 = now_ns();

	if (ws.empty())
		return;
	for (int i = 0; i < NWRAP; i++)
		log_fds[i] = -1;
	for (int wi : ws) {
		snprintf(stem, sizeof stem, "%s-%s", wrappers[wi].name, mode_name[mode]);
		log_fds[wi] = open_log(stem);
		names += (names.empty() ? "" : ", ") + std::string(wrappers[wi].name);
	}
	fprintf(stderr, "bench: %s daemon: %s: %d runs each%s ... ", mode_name[mode], names.c_str(),
	    opt.runs, nworkers > 1 ? ", several at a time" : "");
	for (int i = 0; i < nworkers; i++) {
		int p[2];
		int n = opt.runs / nworkers + (i < opt.runs % nworkers);
		if (pipe2(p, O_CLOEXEC) < 0)
			fatal("pipe: %s", strerror(errno));
		pid_t pid = fork();
		if (pid < 0)
			fatal("fork: %s", strerror(errno));
		if (pid == 0) {
			close(p[0]);
			g_worker_seq += i * 1000;
			run_worker(p[1], ws, mode, n, i * spread / nworkers, log_fds);
		}
		close(p[1]);
		pids.push_back(pid);
		fds.push_back(p[0]);
	}
	g_worker_seq += nworkers * 1000;
	for (int i = 0; i < nworkers; i++) {
		std::vector<char> raw = read_all(fds[i]);
		size_t pos = 0;
		int st;
		close(fds[i]);
		while (waitpid(pids[i], &st, 0) < 0 && errno == EINTR)
			;
		for (int wi : ws) {
			results *res = &g_res[wi];
			if (!merge_results(raw, &pos, res)) {
				res->failures++;
				if (res->err[0] == '\0')
					snprintf(res->err, sizeof res->err, "worker %s",
					    status_text(st).c_str());
			}
		}
	}
	kill_children();
	for (int wi : ws)
		if (log_fds[wi] >= 0)
			close(log_fds[wi]);
	fprintf(stderr, "%.0f s\n", (double)(now_ns() - t0) / SEC);
}

/*
 * Idle cost: every wrapper spawns a fixture, all at once; after a second to
 * settle we read each wrapper's context switches (all threads), wait
 * idle_seconds, and read them and VmRSS again.  Measured concurrently: an
 * idle wrapper does not disturb another one.
 */
static void
run_idle_worker(int out)
{
	static watch wts[NWRAP];
	static idle_result ir[NWRAP];
	int64_t c0[NWRAP] = { 0 }, threads;
	char pidfiles[NWRAP][PATH_MAX];
	char err[512];
	runner r;

	worker_setup();
	int log_fd = open_log("idle");
	if (runner_init(&r, log_fd) < 0)
		_exit(1);
	for (int i = 0; i < NWRAP && !g_stop; i++) {
		if (!wrappers[i].enabled || g_broken[i])
			continue;
		watch_init(&wts[i], &wrappers[i]);
		snprintf(pidfiles[i], sizeof pidfiles[i], "%s/idle-%s.pid", r.dir, wrappers[i].name);
		if (start_wrapper(&r, &wts[i], M_SPAWN, pidfiles[i]) < 0 ||
		    wait_ready(&r, &wts[i], M_SPAWN, 0, err, sizeof err) < 0) {
			note("%s, idle: %s", wrappers[i].name, err);
			continue;
		}
		ir[i].ok = 1;
	}
	sleep_pump(&r, SEC);
	for (int i = 0; i < NWRAP; i++)
		if (ir[i].ok)
			c0[i] = context_switches(wts[i].pid, &threads);
	sleep_pump(&r, (int64_t)opt.idle_seconds * SEC);
	for (int i = 0; i < NWRAP; i++) {
		if (!ir[i].ok)
			continue;
		if (wts[i].exited) {
			note("%s, idle: %s while idle", wrappers[i].name, status_text(wts[i].status).c_str());
			ir[i].ok = 0;
			continue;
		}
		char path[64];
		snprintf(path, sizeof path, "/proc/%d/status", (int)wts[i].pid);
		ir[i].wakeups = std::max<int64_t>(0, context_switches(wts[i].pid, &threads) - c0[i]);
		ir[i].threads = threads;
		ir[i].rss_kb = status_field(path, "VmRSS");
	}
	for (int i = 0; i < NWRAP; i++)
		if (wts[i].w != NULL)
			finish(&r, &wts[i]);
	kill_children();
	runner_fini(&r);
	write_all(out, ir, sizeof ir);
	_exit(0);
}

static void
run_idle(idle_result *ir)
{
	int p[2], st;

	fprintf(stderr, "bench: idle cost, all wrappers at once, %d s ... ", opt.idle_seconds);
	int64_t t0 = now_ns();
	if (pipe2(p, O_CLOEXEC) < 0)
		fatal("pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		fatal("fork: %s", strerror(errno));
	if (pid == 0) {
		close(p[0]);
		g_worker_seq += 100000;
		run_idle_worker(p[1]);
	}
	close(p[1]);
	std::vector<char> raw = read_all(p[0]);
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (raw.size() == sizeof(idle_result) * NWRAP)
		memcpy(ir, raw.data(), raw.size());
	kill_children();
	fprintf(stderr, "%.1f s\n", (double)(now_ns() - t0) / SEC);
}

/* ---------------------------------------------------------------- report */

struct stats {
	bool ok;
	int64_t n, median, p90, max;
};

static stats
stats_of(std::vector<int64_t> v)
{
	stats s = { false, 0, 0, 0, 0 };

	if (v.empty())
		return s;
	std::sort(v.begin(), v.end());
	size_t n = v.size();
	s.ok = true;
	s.n = (int64_t)n;
	s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	s.p90 = v[(n * 9 + 9) / 10 - 1];	/* nearest rank */
	s.max = v[n - 1];
	return s;
}

static std::string
fmt_ns(int64_t ns)
{
	double ms = (double)ns / MS;
	char buf[64];

	if (ms < 1)
		snprintf(buf, sizeof buf, "%.3f ms", ms);
	else if (ms < 10)
		snprintf(buf, sizeof buf, "%.2f ms", ms);
	else if (ms < 100)
		snprintf(buf, sizeof buf, "%.1f ms", ms);
	else if (ms < 1000)
		snprintf(buf, sizeof buf, "%.0f ms", ms);
	else
		snprintf(buf, sizeof buf, "%.2f s", ms / 1000);
	return buf;
}

static std::string
fmt_ratio(double v, double base)
{
	char buf[32];

	if (base <= 0)
		return "";
	double x = v / base;
	if (x >= 100)
		snprintf(buf, sizeof buf, " (%.0fx)", x);
	else if (x >= 10)
		snprintf(buf, sizeof buf, " (%.1fx)", x);
	else
		snprintf(buf, sizeof buf, " (%.2fx)", x);
	return buf;
}

static std::string
fmt_size(int64_t bytes)
{
	char buf[32];

	if (bytes < 10000)
		snprintf(buf, sizeof buf, "%.1f kB", bytes / 1000.0);
	else if (bytes < 1000000)
		snprintf(buf, sizeof buf, "%.0f kB", bytes / 1000.0);
	else
		snprintf(buf, sizeof buf, "%.2f MB", bytes / 1e6);
	return buf;
}

/*
 * "static", "dynamic" or "script", from the ELF program headers; *loadable
 * gets the bytes of the file that PT_LOAD segments map, which is about what
 * a stripped binary weighs (peers from Debian are stripped, a fresh build
 * may carry debug information).
 */
static const char *
linkage(const char *path, int64_t *loadable)
{
	Elf64_Ehdr eh;
	const char *kind = "?";
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*loadable = 0;
	if (fd < 0)
		return kind;
	if (pread(fd, &eh, sizeof eh, 0) == (ssize_t)sizeof eh &&
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 && eh.e_ident[EI_CLASS] == ELFCLASS64) {
		kind = "static";
		for (int i = 0; i < eh.e_phnum; i++) {
			Elf64_Phdr ph;
			if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (uint64_t)i * eh.e_phentsize)) !=
			    (ssize_t)sizeof ph)
				break;
			if (ph.p_type == PT_INTERP)
				kind = "dynamic";
			if (ph.p_type == PT_LOAD)
				*loadable += (int64_t)ph.p_filesz;
		}
	} else if (memcmp(eh.e_ident, "#!", 2) == 0) {
		kind = "script";
	}
	close(fd);
	return kind;
}

static int64_t
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

static std::string
machine_line(void)
{
	struct utsname u;
	char cpu[256] = "unknown CPU", line[512], date[64], debian[64] = "";
	time_t t = time(NULL);
	struct tm tm;
	FILE *f;

	uname(&u);
	f = fopen("/proc/cpuinfo", "re");
	if (f != NULL) {
		while (fgets(line, sizeof line, f) != NULL)
			if (strncmp(line, "model name", 10) == 0) {
				char *v = strchr(line, ':');
				if (v != NULL) {
					v += 1 + strspn(v + 1, " \t");
					v[strcspn(v, "\n")] = '\0';
					snprintf(cpu, sizeof cpu, "%s", v);
				}
				break;
			}
		fclose(f);
	}
	f = fopen("/etc/debian_version", "re");
	if (f != NULL) {
		if (fgets(debian, sizeof debian, f) != NULL)
			debian[strcspn(debian, "\n")] = '\0';
		fclose(f);
	}
	gmtime_r(&t, &tm);
	strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", &tm);
	std::string s = std::string("Measured ") + date + " on Linux " + u.release + " " + u.machine +
	    ", " + cpu + " (" + std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) + " cores)";
	if (debian[0])
		s += std::string(", Debian ") + debian;
	if (opt.versions[0])
		s += std::string("; ") + opt.versions;
	return s + ".";
}

static std::string g_md;

static void __attribute__((format(printf, 1, 2)))
md(const char *fmt, ...)
{
	char buf[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	g_md += buf;
}


/* Why a cell is empty, when it is. */
static const char *
missing_reason(int wi, int f)
{
	const wrapper *w = &wrappers[wi];
	const results *res = &g_res[wi];

	switch (f) {
	case F_SIG_ADOPT:
	case F_DEATH_ADOPT:
	case F_START_MON_ADOPT:
		if (!w->adopts)
			return "n/a (spawn only)";
		break;
	case F_FOLLOW_PROBE:
	case F_FOLLOW_LINE:
		if (wi == W_PIDPROXY)
			return "n/a (signals go to the pid file's pid)";
		if (!w->upgrades)
			return "n/a (does not follow)";
		if (res->follow_timeouts > 0)
			return "not followed in 2 s";
		break;
	}
	if ((f == F_START_MON_SPAWN || f == F_START_MON_ADOPT || f == F_FOLLOW_LINE) && !w->logs_monitor)
		return "n/a (no such log)";
	if (f == F_DEATH_SPAWN && res->death_timeouts[0] > 0)
		return "not detected in 10 s";
	if (f == F_DEATH_ADOPT && res->death_timeouts[1] > 0)
		return "not detected in 10 s";
	if (f == F_FOLLOW_LINE)
		return "no \"following\" line";
	return res->failures > 0 ? "error (see below)" : "no data";
}

static int g_base = -1;	/* the wrapper ratios refer to */

static void
table_row(const char *label, const char *stat, int f, int which)
{
	stats base = { false, 0, 0, 0, 0 };

	if (g_base >= 0)
		base = stats_of(g_res[g_base].s[f]);
	md("| %s | %s |", label, stat);
	for (int i = 0; i < NWRAP; i++) {
		if (!wrappers[i].enabled)
			continue;
		stats s = stats_of(g_res[i].s[f]);
		if (!s.ok) {
			md(" %s |", which == 0 ? missing_reason(i, f) : "");
			continue;
		}
		int64_t v = which == 0 ? s.median : which == 1 ? s.p90 : s.max;
		int64_t b = which == 0 ? base.median : which == 1 ? base.p90 : base.max;
		std::string cell = fmt_ns(v) + (base.ok ? fmt_ratio((double)v, (double)b) : "");
		md(" %s", cell.c_str());
		if (which == 0 && f == F_DEATH_ADOPT && g_res[i].death_timeouts[1] > 0)
			md(", %lld not detected in 10 s", (long long)g_res[i].death_timeouts[1]);
		md(" |");
	}
	md("\n");
}

static const char *
runs_label(int f)
{
	static char buf[64];

	switch (f) {
	case F_SIG_SPAWN:
	case F_SIG_ADOPT:
		snprintf(buf, sizeof buf, "%d runs x %d signals", opt.runs, SIGNALS_PER_RUN);
		break;
	default:
		snprintf(buf, sizeof buf, "%d runs", opt.runs);
	}
	return buf;
}

static std::string
exits_cell(int wi, int m)
{
	const std::vector<int64_t> &v = g_res[wi].exits[m];
	std::vector<int64_t> u = v;
	std::string s;

	if (m == 1 && !wrappers[wi].adopts)
		return "n/a";
	if (v.empty() && g_res[wi].death_timeouts[m] > 0)
		return "none (did not exit)";
	std::sort(u.begin(), u.end());
	u.erase(std::unique(u.begin(), u.end()), u.end());
	for (int64_t c : u) {
		if (!s.empty())
			s += ", ";
		s += std::to_string(c);
		if (u.size() > 1)
			s += " (" + std::to_string(std::count(v.begin(), v.end(), c)) + "x)";
	}
	return s.empty() ? "-" : s;
}

static void
report(void)
{
	char title[PATH_MAX];

	md("%s\n\n", machine_line().c_str());
	md("| figure | | ");
	for (int i = 0; i < NWRAP; i++)
		if (wrappers[i].enabled)
			md("%s | ", wrappers[i].title);
	md("\n|---|---|");
	for (int i = 0; i < NWRAP; i++)
		if (wrappers[i].enabled)
			md("---:|");
	md("\n");

	static const int order[] = { F_SIG_SPAWN, F_SIG_ADOPT, F_DEATH_SPAWN, F_DEATH_ADOPT,
	    F_FOLLOW_PROBE, F_FOLLOW_LINE, F_START_MON_SPAWN, F_START_MON_ADOPT, F_START_DAEMON };
	for (int f : order) {
		snprintf(title, sizeof title, "%s (%s)", figs[f].label, runs_label(f));
		table_row(title, "median", f, 0);
		table_row("", "p90", f, 1);
		table_row("", "max", f, 2);
	}

	md("| Exit status when the daemon is SIGKILLed | spawned |");
	for (int i = 0; i < NWRAP; i++)
		if (wrappers[i].enabled)
			md(" %s |", exits_cell(i, 0).c_str());
	md("\n|  | adopted |");
	for (int i = 0; i < NWRAP; i++)
		if (wrappers[i].enabled)
			md(" %s |", exits_cell(i, 1).c_str());
	md("\n");

	const idle_result *bi = g_base >= 0 && g_idle[g_base].ok ? &g_idle[g_base] : NULL;
	snprintf(title, sizeof title, "Idle, %d s, spawned daemon", opt.idle_seconds);
	md("| %s | VmRSS |", title);
	for (int i = 0; i < NWRAP; i++) {
		if (!wrappers[i].enabled)
			continue;
		if (!g_idle[i].ok) {
			md(" error |");
			continue;
		}
		md(" %lld kB%s%s |", (long long)g_idle[i].rss_kb,
		    bi ? fmt_ratio((double)g_idle[i].rss_kb, (double)bi->rss_kb).c_str() : "",
		    i == W_PIDPROXY ? " (python3)" : "");
	}
	md("\n|  | wakeups (context switches) |");
	for (int i = 0; i < NWRAP; i++) {
		if (!wrappers[i].enabled)
			continue;
		if (!g_idle[i].ok) {
			md(" error |");
			continue;
		}
		md(" %lld%s |", (long long)g_idle[i].wakeups,
		    bi ? fmt_ratio((double)g_idle[i].wakeups, (double)bi->wakeups).c_str() : "");
	}
	md("\n|  | threads |");
	for (int i = 0; i < NWRAP; i++)
		if (wrappers[i].enabled)
			md(" %lld |", (long long)g_idle[i].threads);
	md("\n| Binary size | file |");
	int64_t bsize = g_base >= 0 ? file_size(wrappers[g_base].path) : -1;
	for (int i = 0; i < NWRAP; i++) {
		if (!wrappers[i].enabled)
			continue;
		int64_t sz = file_size(wrappers[i].path), loadable;
		const char *kind = linkage(wrappers[i].path, &loadable);
		if (strcmp(kind, "script") == 0) {
			char py[PATH_MAX];
			if (realpath("/usr/bin/python3", py) == NULL)
				snprintf(py, sizeof py, "/usr/bin/python3");
			md(" %s Python script + %s interpreter |", fmt_size(sz).c_str(),
			    fmt_size(file_size(py)).c_str());
		} else {
			md(" %s%s, %s, %s loadable |", fmt_size(sz).c_str(),
			    bsize > 0 ? fmt_ratio((double)sz, (double)bsize).c_str() : "", kind,
			    fmt_size(loadable).c_str());
		}
	}
	md("\n\n");

	md("Ratios are to %s's value in the same row. Each run starts the wrapper around a fresh\n"
	    "fixture daemon (`bench/fixture.c`). Times are CLOCK_MONOTONIC differences: from just\n"
	    "before the benchmark's `kill()` or `posix_spawn()` to the fixture's signal handler, or\n"
	    "to `poll()` returning for the wrapper's pidfd (its exit) or stdout (a log line).\n\n",
	    g_base >= 0 ? wrappers[g_base].name : "nobody");
	md("- Commands: `pidsitter -p PIDFILE -- fixture ...`; `GITALY_PID_FILE=PIDFILE gwmodel"
	    " fixture ...`, where gwmodel is a model of gitaly-wrapper's algorithm written in Go"
	    " for this benchmark (`bench/gwmodel`), not GitLab's binary; `tini -s -- fixture ...`;"
	    " `dumb-init fixture ...`; `pidproxy PIDFILE fixture ...` (supervisor's).\n");
	md("- Adopted daemon: the fixture is started detached (double fork) and has written"
	    " PIDFILE before the wrapper starts; its parent is then the benchmark (a subreaper),"
	    " which reaps it as soon as it dies, as a healthy PID 1 would. tini and dumb-init can"
	    " only run a child. pidproxy cannot adopt: it always starts a program of its own (here"
	    " a placeholder), signals whatever PIDFILE names (re-read at each signal, only HUP INT"
	    " QUIT TERM USR1 USR2), exits 0 when a TERM, INT or QUIT has been passed on, and"
	    " otherwise only when its own program exits.\n");
	md("- Death detection: the daemon is SIGKILLed at a random moment, uniform over 1 s"
	    " after the wrapper is ready (over 5 s for pidproxy, whose loop is sleep(5) then"
	    " waitpid), so a polling wrapper is caught at every phase of its poll. pidproxy runs"
	    " go six at a time, staggered, to keep the benchmark short. A wrapper that has not"
	    " exited 10 s after the kill is reported as not detecting it and is not tried again.\n");
	md("- Upgrade follow (pidsitter only; the others keep watching the old process): SIGHUP"
	    " to the wrapper makes the daemon fork its successor, which writes PIDFILE (temp file"
	    " and rename, as tableflip does). From just before its `rename()` to (probe) the first"
	    " SIGUSR1, sent to the wrapper again and again, that reaches the successor rather than"
	    " the old process, and to (log line) the arrival of the wrapper's line containing"
	    " \"following\". The probe overstates by up to one forwarding round trip and adds"
	    " work for the wrapper while it follows; the log line is the decision itself.\n");
	md("- Start: from `posix_spawn()` of the wrapper to its \"monitoring process\" line,"
	    " and to the fixture's `main()` (the fixture is static; this includes its exec).\n");
	md("- Idle: all wrappers at once, each with its own spawned daemon; context switches of"
	    " all the wrapper's threads (not the daemon's) over %d s, after 1 s to settle. For"
	    " pidproxy the resident memory is the Python interpreter's.\n", opt.idle_seconds);
	md("- Binary size: the file; \"loadable\" counts the bytes its PT_LOAD segments map,"
	    " about what a stripped build weighs (Debian's tini and dumb-init are stripped).\n");

	bool any = false;
	for (int i = 0; i < NWRAP; i++) {
		if (!wrappers[i].enabled || g_res[i].failures == 0)
			continue;
		if (!any)
			md("\nErrors:\n\n");
		any = true;
		md("- %s: %lld failed runs; first: %s\n", wrappers[i].name,
		    (long long)g_res[i].failures, g_res[i].err);
	}
}

static void
write_file(const char *name, const std::string &text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", opt.outdir, name);
	f = fopen(path, "we");
	if (f == NULL)
		fatal("unable to write %s: %s", path, strerror(errno));
	fwrite(text.data(), 1, text.size(), f);
	if (fclose(f) != 0)
		fatal("unable to write %s: %s", path, strerror(errno));
}

/* Raw samples in ms, one a line, and series.gp telling plot.gp which exist. */
static void
write_samples(void)
{
	/* A panel plots one figure for every wrapper, or two (the follow
	 * panel: probe and log line, the latter in colours 6 and up). */
	static const struct {
		const char *var;
		int fig[2];
		const char *suffix[2];
	} panels[] = {
		{ "sig", { F_SIG_SPAWN, -1 }, { "", "" } },
		{ "sigadopt", { F_SIG_ADOPT, -1 }, { "", "" } },
		{ "death", { F_DEATH_SPAWN, -1 }, { "", "" } },
		{ "deathadopt", { F_DEATH_ADOPT, -1 }, { "", "" } },
		{ "start", { F_START_DAEMON, -1 }, { "", "" } },
		{ "follow", { F_FOLLOW_PROBE, F_FOLLOW_LINE }, { "-probe", "-log-line" } },
	};
	std::string gp = "# written by bench/bench.cc for bench/plot.gp\n";
	char name[256];

	for (int f = 0; f < NFIG; f++)
		for (int i = 0; i < NWRAP; i++) {
			snprintf(name, sizeof name, "%s-%s.dat", figs[f].stem, wrappers[i].name);
			char path[PATH_MAX];
			snprintf(path, sizeof path, "%s/%s", opt.outdir, name);
			unlink(path);
			if (!wrappers[i].enabled || g_res[i].s[f].empty())
				continue;
			std::string text = "# " + std::string(figs[f].label) + ", " + wrappers[i].name + ", ms\n";
			for (int64_t v : g_res[i].s[f]) {
				char line[32];
				snprintf(line, sizeof line, "%.6f\n", (double)v / MS);
				text += line;
			}
			write_file(name, text);
		}
	for (const auto &p : panels) {
		std::string files, titles, colors;
		for (int k = 0; k < 2 && p.fig[k] >= 0; k++)
			for (int i = 0; i < NWRAP; i++) {
				int f = p.fig[k];
				if (!wrappers[i].enabled || g_res[i].s[f].empty())
					continue;
				snprintf(name, sizeof name, "%s/%s-%s.dat", opt.outdir, figs[f].stem,
				    wrappers[i].name);
				files += (files.empty() ? "" : " ") + std::string(name);
				titles += (titles.empty() ? "" : " ") + std::string(wrappers[i].name) +
				    p.suffix[k];
				colors += (colors.empty() ? "" : " ") + std::to_string(i + 1 + 5 * k);
			}
		gp += std::string(p.var) + "_files = \"" + files + "\"\n";
		gp += std::string(p.var) + "_titles = \"" + titles + "\"\n";
		gp += std::string(p.var) + "_colors = \"" + colors + "\"\n";
	}
	std::string m = machine_line();
	std::replace(m.begin(), m.end(), '"', '\'');
	gp += "machine = \"" + m + "\"\n";
	write_file("series.gp", gp);
}

/* Processes of our fixture still alive anywhere (there should be none). */
static int
leftovers(void)
{
	char self[PATH_MAX], exe[PATH_MAX], link[300];
	struct dirent *de;
	int n = 0;
	DIR *d;

	if (realpath(opt.fixture, self) == NULL)
		return 0;
	d = opendir("/proc");
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(link, sizeof link, "/proc/%s/exe", de->d_name);
		ssize_t k = readlink(link, exe, sizeof exe - 1);
		if (k <= 0)
			continue;
		exe[k] = '\0';
		if (strcmp(exe, self) == 0) {
			note("leftover fixture process %s", de->d_name);
			n++;
		}
	}
	closedir(d);
	return n;
}

/* ------------------------------------------------------------------- main */

static void
usage(void)
{
	fprintf(stderr,
	    "usage: bench [-n runs] [-i idle_seconds] [-o outdir] [-w wrapper,...] [-f fixture]\n"
	    "             [--pidsitter path] [--gwmodel path] [--tini path] [--dumb-init path]\n"
	    "             [--pidproxy path] [--versions text] [--seed n]\n"
	    "wrappers: pidsitter gwmodel tini dumb-init pidproxy (default: all)\n");
	exit(2);
}

static void
select_wrappers(const char *list)
{
	std::string s = list;
	size_t at = 0;

	for (int i = 0; i < NWRAP; i++)
		wrappers[i].enabled = false;
	while (at <= s.size()) {
		size_t comma = s.find(',', at);
		std::string name = s.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
		bool found = false;
		for (int i = 0; i < NWRAP; i++)
			if (name == wrappers[i].name)
				wrappers[i].enabled = found = true;
		if (!found)
			fatal("unknown wrapper \"%s\"", name.c_str());
		if (comma == std::string::npos)
			break;
		at = comma + 1;
	}
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "runs", required_argument, NULL, 'n' },
		{ "idle", required_argument, NULL, 'i' },
		{ "outdir", required_argument, NULL, 'o' },
		{ "wrappers", required_argument, NULL, 'w' },
		{ "fixture", required_argument, NULL, 'f' },
		{ "pidsitter", required_argument, NULL, 1000 + W_PIDSITTER },
		{ "gwmodel", required_argument, NULL, 1000 + W_GWMODEL },
		{ "tini", required_argument, NULL, 1000 + W_TINI },
		{ "dumb-init", required_argument, NULL, 1000 + W_DUMBINIT },
		{ "pidproxy", required_argument, NULL, 1000 + W_PIDPROXY },
		{ "versions", required_argument, NULL, 'V' },
		{ "seed", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	const char *paths[NWRAP] = { NULL };
	const char *fixture = NULL;
	int c;

	for (int i = 0; i < NWRAP; i++)
		wrappers[i].enabled = true;
	while ((c = getopt_long(argc, argv, "n:i:o:w:f:", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': opt.runs = atoi(optarg); break;
		case 'i': opt.idle_seconds = atoi(optarg); break;
		case 'o': opt.outdir = optarg; break;
		case 'w': select_wrappers(optarg); break;
		case 'f': fixture = optarg; break;
		case 'V': opt.versions = optarg; break;
		case 'S': opt.seed = strtoull(optarg, NULL, 0); opt.seeded = true; break;
		default:
			if (c >= 1000 && c < 1000 + NWRAP)
				paths[c - 1000] = optarg;
			else
				usage();
		}
	}
	if (optind != argc || opt.runs < 1 || opt.idle_seconds < 1)
		usage();

	/* Every program must exist before anything starts: a missing wrapper
	 * is an error to fix, not a column of timeouts. */
	if (fixture == NULL) {
		snprintf(opt.fixture, sizeof opt.fixture, "%s/fixture", opt.outdir);
		fixture = opt.fixture;
	}
	char given[PATH_MAX];
	snprintf(given, sizeof given, "%s", fixture);
	if (realpath(given, opt.fixture) == NULL || access(opt.fixture, X_OK) < 0)
		fatal("fixture %s: %s (build it: make bench)", given, strerror(errno));
	int bad = 0;
	for (int i = 0; i < NWRAP; i++) {
		wrapper *w = &wrappers[i];
		const char *p = paths[i] != NULL ? paths[i] : w->defpath;
		if (!w->enabled)
			continue;
		if (realpath(p, w->path) == NULL || access(w->path, X_OK) < 0) {
			note("%s: cannot run %s: %s%s", w->name, p, strerror(errno),
			    i == W_PIDSITTER ? " (build it: make)" : i == W_GWMODEL ?
			    " (build it: make bench)" : " (install it: apt-get install tini dumb-init supervisor)");
			bad++;
		}
		if (g_base < 0)
			g_base = i;
	}
	if (bad)
		fatal("%d wrapper%s missing; choose others with -w", bad, bad > 1 ? "s are" : " is");

	if (opt.seeded)
		g_rng = opt.seed;
	else
		g_rng ^= (uint64_t)now_ns() ^ ((uint64_t)getpid() << 32);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;	/* no SA_RESTART: waits return EINTR */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		fatal("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));

	char logs[PATH_MAX];
	snprintf(logs, sizeof logs, "%s/logs", opt.outdir);
	mkdir(opt.outdir, 0755);
	mkdir(logs, 0755);
	const char *tmpdir = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
	if (strlen(tmpdir) > 400)
		fatal("TMPDIR is too long");
	snprintf(g_tmp, sizeof g_tmp, "%s/pidsitter-bench.XXXXXX", tmpdir);
	if (mkdtemp(g_tmp) == NULL)
		fatal("mkdtemp %s: %s", g_tmp, strerror(errno));

	int64_t t0 = now_ns();
	/* Wrappers that run one at a time are interleaved run by run; one
	 * that needs several at a time (pidproxy) gets its own set. */
	for (int mode = 0; mode < NMODE && !g_stop; mode++) {
		std::vector<int> together;
		for (int i = 0; i < NWRAP; i++) {
			const wrapper *w = &wrappers[i];
			if (!w->enabled || g_broken[i] || (mode == M_ADOPT && !w->adopts) ||
			    (mode == M_UPGRADE && !w->upgrades))
				continue;
			if (w->workers == 1 || mode == M_UPGRADE)
				together.push_back(i);
		}
		run_set(together, mode, 1, 0);
		for (int i = 0; i < NWRAP && !g_stop; i++) {
			const wrapper *w = &wrappers[i];
			if (!w->enabled || g_broken[i] || (mode == M_ADOPT && !w->adopts) ||
			    mode == M_UPGRADE || w->workers == 1)
				continue;
			run_set(std::vector<int>{ i }, mode, w->workers, w->spread);
		}
		/* A wrapper none of whose spawned runs worked is broken or
		 * missing something: say so once, do not wait on it again. */
		for (int i = 0; mode == M_SPAWN && i < NWRAP; i++)
			if (wrappers[i].enabled && g_res[i].failures > 0 &&
			    g_res[i].s[F_SIG_SPAWN].empty()) {
				g_broken[i] = true;
				note("%s: every spawned run failed; skipping its other figures", wrappers[i].name);
			}
	}
	if (!g_stop)
		run_idle(g_idle);
	kill_children();
	rm_tree(g_tmp);
	if (g_stop) {
		note("interrupted; nothing written");
		return 130;
	}

	report();
	write_samples();
	write_file("results.md", g_md);
	fwrite(g_md.data(), 1, g_md.size(), stdout);
	fflush(stdout);
	note("%.0f s; results in %s/results.md, samples in %s/*.dat, wrapper logs in %s",
	    (double)(now_ns() - t0) / SEC, opt.outdir, opt.outdir, logs);

	int left = leftovers();
	int failed = 0;
	for (int i = 0; i < NWRAP; i++)
		if (wrappers[i].enabled && (g_res[i].failures > 0 || !g_idle[i].ok))
			failed++;
	if (left > 0)
		note("%d fixture process%s left running", left, left > 1 ? "es" : "");
	return failed > 0 || left > 0 ? 1 : 0;
}
