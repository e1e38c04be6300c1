/*
 * driver.cc: the parts of `make bench` every figure shares (driver.h):
 * the clock, messages, the random stream, the peers' table, processes,
 * workers and the results they send back, and the runner, which starts
 * a wrapper around the fixture daemon and pumps its output, its exit and
 * the fixture's events.
 *
 * Processes.  The driver and each of its workers is a child subreaper
 * (PR_SET_CHILD_SUBREAPER), so every process a run leaves behind (the
 * detached daemon, a daemon whose wrapper died) becomes our child; each run
 * ends by killing and reaping all of our children.  We are also what reaps
 * a detached daemon, as PID 1 would be: a zombie exists until it is
 * reaped, so kill(pid, 0) still succeeds on it (kill(2)), and a wrapper
 * that polls that way (gwmodel) would never see the death otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>

#include "driver.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

extern char **environ;

volatile sig_atomic_t g_stop;

/*
 * The kill that ends a run comes at a uniformly random moment within
 * `spread` after the wrapper is ready, so that a wrapper that polls is
 * caught at every phase of its poll: 1 s (gitaly-wrapper's period, which
 * also covers any faster timer) for all, 5 s for pidproxy, whose loop is
 * time.sleep(5) then waitpid(WNOHANG).  pidproxy runs therefore last 5 s
 * each; they go six at a time (staggered by 5/6 s, so their start-ups and
 * signals do not overlap) to keep `make bench` within minutes.  Everything
 * else runs one at a time, the wrappers interleaved run by run (bench.cc).
 * pidsitter-base has no default path: only --baseline enables it.
 */
wrapper wrappers[NWRAP] = {
	{ "pidsitter", "pidsitter", "build/pidsitter", true, true, true, SEC, 1, "", false },
	{ "pidsitter-base", "pidsitter (baseline)", "", true, true, true, SEC, 1, "", false },
	{ "gwmodel", "gitaly-wrapper (Go model)", "build/bench/gwmodel", true, true, false, SEC, 1, "", false },
	{ "tini", "tini -s", "/usr/bin/tini", false, false, false, SEC, 1, "", false },
	{ "dumb-init", "dumb-init", "/usr/bin/dumb-init", false, false, false, SEC, 1, "", false },
	{ "pidproxy", "pidproxy", "/usr/bin/pidproxy", true, false, false, 5 * SEC, 6, "", false },
};

const char *mode_name[NMODE] = { "spawned", "adopted", "upgraded" };

const figure figs[NFIG] = {
	{ "signal-spawned", "Signal forwarding, spawned daemon" },
	{ "signal-adopted", "Signal forwarding, adopted daemon" },
	{ "death-spawned", "Death detection, spawned daemon" },
	{ "death-adopted", "Death detection, adopted daemon" },
	{ "follow-probe", "Upgrade follow, probe signal" },
	{ "follow-line", "Upgrade follow, log line" },
	{ "start-monitor-spawned", "Start to \"monitoring process\", spawned" },
	{ "start-monitor-adopted", "Start to \"monitoring process\", adopted" },
	{ "start-daemon", "Start to daemon running (its main())" },
	{ "control-status", "pidsitter -s status, command to exit" },
	{ "control-upgrade", "pidsitter -s upgrade, pid file to exit" },
	{ "notify-ready", "READY=1 relayed, daemon's sendto to supervisor's recv" },
};

options opt = { 30, 10, "build/bench", "build/bench/fixture", "", 0, false };
results g_res[NWRAP];
bool g_broken[NWRAP];
idle_result g_idle[NWRAP];
int g_base = -1;
char g_tmp[512];
int g_worker_seq;

/* ---------------------------------------------------------------- basics */

int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

int64_t
ev_ns(const fx_event &e)
{
	return e.sec * SEC + e.nsec;
}

static void
vnote(const char *what, const char *fmt, va_list ap)
{
	char buf[1024];

	vsnprintf(buf, sizeof buf, fmt, ap);
	fprintf(stderr, "bench: %s%s\n", what, buf);
}

void
note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vnote("", fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vnote("fatal: ", fmt, ap);
	va_end(ap);
	exit(1);
}

int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

void
on_stop(int sig)
{
	(void)sig;
	g_stop = 1;
}

static uint64_t g_rng = 0x9e3779b97f4a7c15ULL;

void
rng_seed(uint64_t seed)
{
	g_rng = seed;
}

void
rng_mix(uint64_t x)
{
	g_rng ^= x;
}

/* splitmix64: plenty for spreading kills over a poll period. */
static uint64_t
rng_next(void)
{
	uint64_t z = (g_rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

int64_t
rng_below(int64_t n)
{
	return n > 0 ? (int64_t)(rng_next() % (uint64_t)n) : 0;
}

int
pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

std::string
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

int
status_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

pid_t
wait_child(pid_t pid, int *status)
{
	pid_t p;

	do
		p = waitpid(pid, status, 0);
	while (p < 0 && errno == EINTR);
	return p;
}

/* ------------------------------------------------------------ processes */

/*
 * Kill and reap every child we have.  A process we kill may have children
 * of its own; they are re-parented to us (a subreaper) before it can be
 * reaped, so the next round sees them.  Stops when none is left.
 */
void
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
			wait_child(k, NULL);
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

static int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	remove(path);
	return 0;
}

void
rm_tree(const char *path)
{
	nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

int
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

/* -------------------------------------------------------------- workers */

pid_t
worker_fork(int *fd)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		fatal("pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		fatal("fork: %s", strerror(errno));
	if (pid == 0) {
		close(p[0]);
		*fd = p[1];
		prctl(PR_SET_CHILD_SUBREAPER, 1);
		/* Each worker its own random stream. */
		rng_mix((uint64_t)getpid() * 0x2545f4914f6cdd1dULL);
		return 0;
	}
	close(p[1]);
	*fd = p[0];
	return pid;
}

std::vector<char>
worker_collect(pid_t pid, int fd, int *status)
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
	close(fd);
	wait_child(pid, status);
	return v;
}

static void
put(std::vector<int64_t> *buf, const std::vector<int64_t> &v)
{
	buf->push_back((int64_t)v.size());
	buf->insert(buf->end(), v.begin(), v.end());
}

void
results_send(int fd, const results *res)
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

bool
results_merge(const std::vector<char> &raw, size_t *at, results *res)
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
	auto add = [&](int64_t *sum) {
		int64_t x;
		if (!get(&x))
			return false;
		*sum += x;
		return true;
	};

	for (int f = 0; f < NFIG; f++)
		if (!get_vec(&res->s[f]))
			return false;
	if (!get_vec(&res->exits[0]) || !get_vec(&res->exits[1]))
		return false;
	for (int m = 0; m < NMODE; m++)
		if (!add(&res->runs[m]))
			return false;
	if (!add(&res->failures) || !add(&res->death_timeouts[0]) ||
	    !add(&res->death_timeouts[1]) || !add(&res->follow_timeouts))
		return false;
	if (pos + sizeof res->err > raw.size())
		return false;
	if (res->err[0] == '\0')
		memcpy(res->err, raw.data() + pos, sizeof res->err);
	res->err[sizeof res->err - 1] = '\0';
	pos += sizeof res->err;
	return true;
}

int
open_log(const char *stem)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/logs/%s.log", opt.outdir, stem);
	return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
}

/* ---------------------------------------------------------------- runner */

void
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

int
runner_init(runner *r, int log_fd)
{
	int seq = ++g_worker_seq;

	snprintf(r->dir, sizeof r->dir, "%s/w%d.%d", g_tmp, seq, (int)getpid());
	snprintf(r->fifo, sizeof r->fifo, "%s/events", r->dir);
	snprintf(r->pidfile, sizeof r->pidfile, "%s/daemon.pid", r->dir);
	r->log_fd = log_fd;
	r->evlen = 0;
	r->fifo_fd = -1;
	r->notify_fd = -1;
	r->t_notify_ready = 0;
	if (mkdir(r->dir, 0700) < 0 || mkfifo(r->fifo, 0600) < 0)
		return -errno;
	if (notify_setup(r) < 0)
		return -errno;
	/* O_RDWR: we are a writer too, so we never see EOF and a fixture's
	 * O_WRONLY | O_NONBLOCK open never fails with ENXIO. */
	r->fifo_fd = open(r->fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (r->fifo_fd < 0)
		return -errno;
	return 0;
}

void
runner_fini(runner *r)
{
	if (r->fifo_fd >= 0)
		close(r->fifo_fd);
	r->fifo_fd = -1;
	if (r->notify_fd >= 0)
		close(r->notify_fd);
	r->notify_fd = -1;
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
	pid_t p = wait_child(wt->pid, &st);

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
int
runner_pump(runner *r, int timeout_ms)
{
	struct pollfd pfd[2 + 2 * NWRAP];
	watch *owner[2 + 2 * NWRAP];
	bool is_exit[2 + 2 * NWRAP];
	int n = 0, rc;

	pfd[n].fd = r->fifo_fd;
	pfd[n].events = POLLIN;
	owner[n] = NULL;
	is_exit[n++] = false;
	/* Its recv() takes its own time (notify_read). */
	pfd[n].fd = r->notify_fd;
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
		if (owner[i] == NULL && pfd[i].fd == r->notify_fd)
			notify_read(r);
		else if (owner[i] == NULL)
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

int
runner_sleep(runner *r, int64_t ns)
{
	int rc = runner_wait(r, now_ns() + ns, 0, [] { return false; });
	return rc == -EINTR ? rc : 0;
}

void
runner_drain(runner *r)
{
	runner_pump(r, 0);
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
	case W_BASE:
		/* The control figures (control.cc): upgrade runs of pidsitter
		 * only, so that the baseline, maybe older than the socket,
		 * runs as ever and start-up is measured without it. */
		if (w - wrappers == W_PIDSITTER && mode == M_UPGRADE)
			argv->insert(argv->end(), { "-S", control_socket_path(r) });
		/* The notification figure (notify.cc): upgrade runs of
		 * pidsitter only, with ready = "notify", so that the start
		 * figures (spawned runs) read no configuration file. */
		if (w - wrappers == W_PIDSITTER && mode == M_UPGRADE && r->notify_fd >= 0)
			argv->insert(argv->end(), { "-c", r->notify_conf });
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
		if (strncmp(*e, "GITALY_", 7) != 0 && strncmp(*e, "WRAPPER_JSON_LOGGING=", 21) != 0 &&
		    strncmp(*e, "NOTIFY_SOCKET=", 14) != 0)
			env->push_back(*e);
	if (w - wrappers == W_GWMODEL)
		env->push_back(std::string("GITALY_PID_FILE=") + pidfile);
	if (w - wrappers == W_PIDSITTER && mode == M_UPGRADE && r->notify_fd >= 0)
		env->push_back(std::string("NOTIFY_SOCKET=") + r->notify_path);
}

static std::string
join(const std::vector<std::string> &v)
{
	std::string s;

	for (const std::string &a : v)
		s += (s.empty() ? "" : " ") + a;
	return s;
}

std::string
control_socket_path(const runner *r)
{
	return std::string(r->dir) + "/ctl.sock";
}

/*
 * posix_spawn with default signal dispositions, an empty mask and a process
 * group of its own (a ^C at the terminal reaches only us; we clean up).
 * out: the fd for stdout and stderr, or -1 for /dev/null.
 */
int
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

int
watch_start(runner *r, watch *wt, int mode, const char *pidfile)
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
int
detached_start(runner *r, const char *pidfile, pid_t *daemon, char *err, size_t errlen)
{
	std::vector<std::string> argv = { opt.fixture, "-d", "-p", pidfile, "-e", r->fifo };
	std::vector<std::string> env;
	int64_t t;
	pid_t pid;
	int st, rc, fd;

	for (char **e = environ; *e != NULL; e++)
		if (strncmp(*e, "NOTIFY_SOCKET=", 14) != 0)
			env.push_back(*e);
	rc = spawn(argv, env, -1, &pid, &t);
	if (rc < 0)
		return fail(err, errlen, "cannot run %s: %s", opt.fixture, strerror(-rc));
	fd = pidfd_open(pid);
	struct pollfd pfd = { fd, POLLIN, 0 };
	rc = poll(&pfd, 1, (int)(READY_DEADLINE / MS));
	if (rc <= 0)
		kill(pid, SIGKILL);
	close(fd);
	wait_child(pid, &st);
	if (rc <= 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return fail(err, errlen, "detached fixture did not start (%s)",
		    rc <= 0 ? "timeout" : status_text(st).c_str());
	fx_event e;
	rc = runner_wait(r, now_ns() + SEC, 0, [&] {
		return runner_take(r, &e, [](const fx_event &x) { return x.kind == FX_READY; });
	});
	if (rc < 0)
		return fail(err, errlen, "detached fixture sent no ready event");
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
int
watch_ready(runner *r, watch *wt, int mode, pid_t adopted, char *err, size_t errlen)
{
	bool placeholder = mode == M_ADOPT && wt->w - wrappers == W_PIDPROXY;
	const char *missing = "";
	int rc;

	rc = runner_wait(r, wt->t_start + READY_DEADLINE, 1, [&] {
		if (wt->exited)
			return true;
		if (placeholder) {
			fx_event e;
			if (!runner_take(r, &e, [&](const fx_event &x) {
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
			else if (runner_take(r, &e, [&](const fx_event &x) {
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
	if (rc == -EINTR)
		return fail(err, errlen, "interrupted");
	if (wt->exited)
		return fail(err, errlen, "%s %s before it was ready (last output: \"%s\")",
		    wt->w->name, status_text(wt->status).c_str(), wt->last_line.c_str());
	if (rc < 0)
		return fail(err, errlen, "%s not ready within %d s: %s (last output: \"%s\")",
		    wt->w->name, (int)(READY_DEADLINE / SEC), missing, wt->last_line.c_str());
	return 0;
}

void
watch_finish(runner *r, watch *wt)
{
	if (wt->pid > 0 && !wt->exited) {
		kill(wt->pid, SIGTERM);
		runner_wait(r, now_ns() + 2 * SEC, 0, [&] { return wt->exited; });
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
