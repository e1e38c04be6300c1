/*
 * fixture-daemon: a small tableflip-style daemon for pidsitter's tests and
 * demo.  On SIGHUP it re-executes itself as its own child; the child writes
 * the pid file (temp file + rename, as tableflip does: pidsitter(8),
 * UPGRADES) and tells the parent, which drains and exits.  Every event is appended to a record file, one write per
 * line, so tests can see what arrived where:
 *
 *   <pid> start <ppid>        <pid> ready            <pid> signal SIGUSR1
 *   <pid> upgraded <newpid>   <pid> upgrade-failed <why>
 *   <pid> reaped <newpid> <code>  (its ready successor died first)
 *   <pid> env NAME=value      <pid> exit <code>
 *
 * Options (the upgraded child gets the same ones):
 *   --pid-file PATH     write PATH when ready (required)
 *   --record PATH       the record file
 *   --exit-code N       exit code after TERM, INT or QUIT (default 0)
 *   --drain MS          the old process lingers this long after an upgrade
 *   --drain-file PATH   instead, it lingers until PATH exists
 *   --ready-delay MS    wait before becoming ready (every generation)
 *   --upgrade-ready-delay MS  the same, for upgraded generations only
 *   --upgrade-wait-file PATH  an upgraded generation becomes ready only
 *                       once PATH exists (a test decides when)
 *   --orphan-on-term    on TERM mid-upgrade, leave the new process be
 *                       (tableflip SIGKILLs it)
 *   --upgrade-timeout MS  SIGKILL a new process not ready by then (5000)
 *   --fail-upgrade-file PATH  a new process exits 3 before it is ready
 *                       while PATH exists; if PATH holds "hang", it never
 *                       becomes ready (its parent kills it after
 *                       --upgrade-timeout); if it holds "after-pid-file",
 *                       it writes the pid file first, then exits 3
 *   --torn              write the pid file in place, a byte at a time
 *   --no-pid-file       never write the pid file
 *   --daemonize         fork at start: the start process exits 0, the
 *                       child is the daemon (a forking daemon)
 *   --exit-after MS     exit by itself with --exit-code after MS
 *   --env NAME          record NAME's value at start
 *   --ignore SIG        ignore this signal number (record nothing)
 *   --zombie            make a zombie child, write ITS pid and never reap
 *   --close-stdout      close standard output and error at start, as a
 *                       daemon that detaches does (fd 1 is then reused)
 *   --ready-file PATH   become ready (write the pid file) only once PATH
 *                       exists; every generation
 *   --stop-file PATH    on TERM, INT or QUIT, record "stopping" and exit
 *                       only once PATH exists (a daemon slow to stop)
 *   --helper            before it is ready, fork a helper child that
 *                       ignores TERM and waits for ever (a worker, a git
 *                       child): it records "<pid> helper"
 *   --detached-helper   the same through setsid() and a double fork (the
 *                       middle process exits at once): "<pid> detached-helper"
 * Helpers are started by the first generation only; they outlive it.
 *
 * Signals are taken through a signalfd, so real-time signals queue and
 * nothing is lost to a handler race.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *pid_file, *record_file, *fail_file, *env_name, *wait_file, *drain_file;
static const char *ready_file, *stop_file;
static int exit_code, drain_ms = 100, ready_delay_ms, upgrade_timeout_ms = 5000;
static int upgrade_ready_delay_ms, orphan_on_term;
static int torn, no_pid_file, daemonize, exit_after_ms = -1, ignore_sig, zombie;
static int close_stdout, helper, detached_helper;
static char **self_argv;

static long long
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
record(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n, fd;

	if (record_file == NULL)
		return;
	n = snprintf(line, sizeof line, "%d ", (int)getpid());
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	line[n++] = '\n';
	fd = open(record_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, line, (size_t)n) < 0) {
		/* nothing to do: the test will see the line missing */
	}
	close(fd);
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void
write_pid_file(pid_t pid)
{
	char buf[32], tmp[4096];
	int n = snprintf(buf, sizeof buf, "%d", (int)pid);
	int fd;

	if (no_pid_file)
		return;
	if (torn) {
		/* In place, a byte at a time: a reader sees every prefix. */
		fd = open(pid_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			return;
		for (int i = 0; i < n; i++) {
			if (write(fd, buf + i, 1) < 0)
				break;
			sleep_ms(20);
		}
		close(fd);
		return;
	}
	/* tableflip: a temp file beside it, digits without newline, rename. */
	snprintf(tmp, sizeof tmp, "%s%ld", pid_file, (long)now_ms() % 100000000);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (write(fd, buf, (size_t)n) < 0) {
		close(fd);
		unlink(tmp);
		return;
	}
	close(fd);
	if (rename(tmp, pid_file) < 0)
		unlink(tmp);
}

static const char *
sig_name(int sig, char *buf, size_t size)
{
	static const char *names[] = {
		[SIGHUP] = "HUP", [SIGINT] = "INT", [SIGQUIT] = "QUIT", [SIGUSR1] = "USR1",
		[SIGUSR2] = "USR2", [SIGPIPE] = "PIPE", [SIGALRM] = "ALRM", [SIGTERM] = "TERM",
		[SIGCHLD] = "CHLD", [SIGCONT] = "CONT", [SIGTSTP] = "TSTP", [SIGTTIN] = "TTIN",
		[SIGTTOU] = "TTOU", [SIGURG] = "URG", [SIGWINCH] = "WINCH", [SIGPWR] = "PWR",
	};
	if (sig < (int)(sizeof names / sizeof names[0]) && names[sig] != NULL)
		snprintf(buf, size, "SIG%s", names[sig]);
	else
		snprintf(buf, size, "SIG%d", sig);
	return buf;
}

static int
parse_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--torn") == 0) torn = 1;
		else if (strcmp(a, "--no-pid-file") == 0) no_pid_file = 1;
		else if (strcmp(a, "--daemonize") == 0) daemonize = 1;
		else if (strcmp(a, "--zombie") == 0) zombie = 1;
		else if (strcmp(a, "--orphan-on-term") == 0) orphan_on_term = 1;
		else if (strcmp(a, "--close-stdout") == 0) close_stdout = 1;
		else if (strcmp(a, "--helper") == 0) helper = 1;
		else if (strcmp(a, "--detached-helper") == 0) detached_helper = 1;
		else if (v == NULL) return -1;
		else if (strcmp(a, "--pid-file") == 0) pid_file = v, i++;
		else if (strcmp(a, "--record") == 0) record_file = v, i++;
		else if (strcmp(a, "--exit-code") == 0) exit_code = atoi(v), i++;
		else if (strcmp(a, "--drain") == 0) drain_ms = atoi(v), i++;
		else if (strcmp(a, "--ready-delay") == 0) ready_delay_ms = atoi(v), i++;
		else if (strcmp(a, "--upgrade-ready-delay") == 0) upgrade_ready_delay_ms = atoi(v), i++;
		else if (strcmp(a, "--upgrade-timeout") == 0) upgrade_timeout_ms = atoi(v), i++;
		else if (strcmp(a, "--fail-upgrade-file") == 0) fail_file = v, i++;
		else if (strcmp(a, "--upgrade-wait-file") == 0) wait_file = v, i++;
		else if (strcmp(a, "--drain-file") == 0) drain_file = v, i++;
		else if (strcmp(a, "--ready-file") == 0) ready_file = v, i++;
		else if (strcmp(a, "--stop-file") == 0) stop_file = v, i++;
		else if (strcmp(a, "--exit-after") == 0) exit_after_ms = atoi(v), i++;
		else if (strcmp(a, "--env") == 0) env_name = v, i++;
		else if (strcmp(a, "--ignore") == 0) ignore_sig = atoi(v), i++;
		else return -1;
	}
	return pid_file != NULL ? 0 : -1;
}

/* A helper: deaf to TERM (and, its mask inherited, to everything but
 * KILL), it says it runs and waits for ever.  Named after what it is, as a
 * worker or a git child is, so that the wrapper does not take it for the
 * daemon (an orphan, pidsitter(8)); its command line is the daemon's. */
static void
become_helper(int sfd, const int p[2], const char *what)
{
	close(sfd);
	close(p[0]);
	prctl(PR_SET_NAME, what, 0, 0, 0);
	signal(SIGTERM, SIG_IGN);
	record("%s", what);
	close(p[1]);
	for (;;)
		pause();
}

/* Start the helpers asked for; return once each has recorded itself (the
 * pipe's write end, which each holds, is closed by then). */
static void
start_helpers(int sfd)
{
	int p[2];
	char c;

	if ((!helper && !detached_helper) || pipe2(p, O_CLOEXEC) < 0)
		return;
	if (helper && fork() == 0)
		become_helper(sfd, p, "helper");
	if (detached_helper) {
		pid_t mid = fork();
		if (mid == 0) {
			setsid();
			if (fork() == 0)
				become_helper(sfd, p, "detached-helper");
			_exit(0);
		}
		if (mid > 0)
			waitpid(mid, NULL, 0);
	}
	close(p[1]);
	while (read(p[0], &c, 1) > 0)
		;
	close(p[0]);
}

static void
finish(int code)
{
	record("exit %d", code);
	exit(code);
}

int
main(int argc, char **argv)
{
	sigset_t mask;
	int sfd, parent_fd = -1, child_fd = -1;
	pid_t child = 0;
	long long child_deadline = 0, drain_deadline = 0, exit_deadline = 0, stop_deadline = 0;
	const char *pfd;

	self_argv = argv;
	if (parse_args(argc, argv) < 0) {
		fprintf(stderr, "usage: fixture-daemon --pid-file PATH [options]\n");
		return 2;
	}
	if (ignore_sig > 0)
		signal(ignore_sig, SIG_IGN);
	if (close_stdout) {
		close(1);
		close(2);
	}

	if (daemonize && getenv("FIXTURE_PARENT_FD") == NULL) {
		pid_t p = fork();
		if (p < 0)
			return 1;
		if (p > 0) {
			record("start-process exit 0");
			_exit(0);
		}
		setsid();
	}

	sigfillset(&mask);
	sigdelset(&mask, SIGKILL);
	sigdelset(&mask, SIGSTOP);
	sigdelset(&mask, SIGSEGV);
	sigdelset(&mask, SIGBUS);
	sigdelset(&mask, SIGFPE);
	sigdelset(&mask, SIGILL);
	sigdelset(&mask, SIGABRT);
	if (ignore_sig > 0)
		sigdelset(&mask, ignore_sig);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0)
		return 1;

	record("start %d", (int)getppid());
	if (env_name != NULL) {
		const char *v = getenv(env_name);
		record("env %s=%s", env_name, v ? v : "(unset)");
	}

	if (zombie) {
		pid_t z = fork();
		if (z == 0)
			_exit(0);
		/* Never reaped: SIGCHLD is blocked and we never wait. */
		write_pid_file(z);
		record("zombie %d", (int)z);
		for (;;)
			pause();
	}

	pfd = getenv("FIXTURE_PARENT_FD");
	if (pfd != NULL) {
		parent_fd = atoi(pfd);
		unsetenv("FIXTURE_PARENT_FD");
		if (fail_file != NULL && access(fail_file, F_OK) == 0) {
			char how[32] = "";
			int fd = open(fail_file, O_RDONLY | O_CLOEXEC);
			ssize_t n = fd >= 0 ? read(fd, how, sizeof how - 1) : -1;

			if (fd >= 0)
				close(fd);
			how[n > 0 ? n : 0] = '\0';
			if (strncmp(how, "hang", 4) == 0) {
				record("hanging upgrade");
				for (;;)
					pause();  /* signals are blocked: only KILL ends it */
			}
			if (strncmp(how, "after-pid-file", 14) == 0) {
				write_pid_file(getpid());
				record("failing upgrade after the pid file");
				finish(3);
			}
			record("failing upgrade");
			finish(3);
		}
		if (wait_file != NULL)
			while (access(wait_file, F_OK) != 0)
				sleep_ms(5);
		if (upgrade_ready_delay_ms > 0)
			sleep_ms(upgrade_ready_delay_ms);
	}
	if (ready_delay_ms > 0)
		sleep_ms(ready_delay_ms);
	if (ready_file != NULL)
		while (access(ready_file, F_OK) != 0)
			sleep_ms(5);
	if (parent_fd < 0)
		start_helpers(sfd);
	write_pid_file(getpid());
	record("ready");
	if (parent_fd >= 0) {
		/* The parent died first (tableflip's child then exits 1; we
		 * carry on, so a test can see which signals reach us). */
		if (write(parent_fd, "R", 1) < 0)
			record("ready-failed %s", strerror(errno));
		close(parent_fd);
	}
	if (exit_after_ms >= 0)
		exit_deadline = now_ms() + exit_after_ms;

	for (;;) {
		struct pollfd fds[2] = {{sfd, POLLIN, 0}, {child_fd, POLLIN, 0}};
		long long deadline = 0, now = now_ms();
		int timeout = -1;

		if (child_deadline) deadline = child_deadline;
		if (drain_deadline && (!deadline || drain_deadline < deadline)) deadline = drain_deadline;
		if (exit_deadline && (!deadline || exit_deadline < deadline)) deadline = exit_deadline;
		if (stop_deadline && (!deadline || stop_deadline < deadline)) deadline = stop_deadline;
		if (deadline)
			timeout = deadline > now ? (int)(deadline - now) : 0;
		if (poll(fds, child_fd >= 0 ? 2 : 1, timeout) < 0 && errno != EINTR)
			finish(1);
		now = now_ms();

		if (drain_deadline && now >= drain_deadline) {
			if (drain_file == NULL || access(drain_file, F_OK) == 0)
				finish(0);
			drain_deadline = now + 10;
		}
		if (exit_deadline && now >= exit_deadline)
			finish(exit_code);
		if (stop_deadline && now >= stop_deadline) {
			if (access(stop_file, F_OK) == 0)
				finish(exit_code);
			stop_deadline = now + 10;
		}
		if (child_deadline && now >= child_deadline) {
			/* tableflip's rule: not ready in time, killed. */
			kill(child, SIGKILL);
			waitpid(child, NULL, 0);
			record("upgrade-failed timeout");
			close(child_fd);
			child_fd = -1;
			child = 0;
			child_deadline = 0;
		}
		if (child_fd >= 0 && (fds[1].revents & (POLLIN | POLLHUP))) {
			char c;
			ssize_t n = read(child_fd, &c, 1);
			close(child_fd);
			child_fd = -1;
			child_deadline = 0;
			if (n == 1) {
				record("upgraded %d", (int)child);
				drain_deadline = now + (drain_file != NULL ? 10 : drain_ms);
			} else {
				int st = 0;
				waitpid(child, &st, 0);
				record("upgrade-failed child exited %d", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
				child = 0;
			}
		}
		if (fds[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			char name[16];

			if (read(sfd, &si, sizeof si) != (ssize_t)sizeof si)
				continue;
			int sig = (int)si.ssi_signo;
			if (sig == SIGCHLD) {
				/* A failed child is reaped above.  A ready one
				 * lives on after we exit; if it dies while we
				 * drain, we reap it, as tableflip's parent waits
				 * for its child. */
				int st = 0;
				if (child > 0 && child_fd < 0 && drain_deadline != 0 &&
				    waitpid(child, &st, WNOHANG) == child) {
					record("reaped %d %d", (int)child,
					    WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
					child = 0;
				}
				continue;
			}
			record("signal %s", sig_name(sig, name, sizeof name));
			if (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT) {
				if (child > 0 && child_fd >= 0 && !orphan_on_term)
					kill(child, SIGKILL);  /* mid-upgrade, as tableflip */
				if (stop_file == NULL)
					finish(exit_code);
				if (stop_deadline == 0)
					record("stopping");
				stop_deadline = now;
				continue;
			}
			if (sig == SIGHUP && child == 0 && drain_deadline == 0) {
				int p[2];
				if (pipe2(p, 0) < 0)
					continue;
				child = fork();
				if (child == 0) {
					char buf[16];
					close(p[0]);
					snprintf(buf, sizeof buf, "%d", p[1]);
					setenv("FIXTURE_PARENT_FD", buf, 1);
					/* The mask stays blocked across exec: a
					 * signal that comes early waits for the
					 * new image's signalfd. */
					execvp(self_argv[0], self_argv);
					_exit(127);
				}
				close(p[1]);
				fcntl(p[0], F_SETFD, FD_CLOEXEC);
				child_fd = p[0];
				child_deadline = now + upgrade_timeout_ms;
				record("upgrading %d", (int)child);
			} else if (sig == SIGHUP) {
				record("upgrade-refused");
			}
		}
	}
}
