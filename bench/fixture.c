/*
 * fixture.c: the daemon that every wrapper in the benchmark drives.
 *
 *	fixture [-d] [-p pidfile] [-e events]
 *
 * It does nothing but report what happens to it.  Each event is one
 * struct fx_event (event.h) written to the events FIFO with a
 * CLOCK_MONOTONIC timestamp taken where it happens:
 *
 *	FX_START	first thing in main(), the daemon is running
 *	FX_READY	handlers installed and the pid file written
 *	signal N	inside the handler of signal N
 *	FX_RENAME	just before rename() puts a new pid file in place
 *	FX_NOTIFY	just before sendto() of READY=1 to $NOTIFY_SOCKET,
 *			once ready (only when NOTIFY_SOCKET is set: the
 *			driver gives it to pidsitter, which relays)
 *
 * The driver takes its own CLOCK_MONOTONIC time just before kill(), so
 * "handler time - kill time" is the forwarding latency on one clock.
 *
 * Signals: every catchable signal is recorded.  TERM, INT and QUIT then
 * exit 0.  HUP starts an upgrade in the style of tableflip (pidsitter(8),
 * UPGRADES): the process forks a child of the same binary, the child
 * writes the pid file naming itself (temp file + rename) and carries on as
 * the new daemon while the old one keeps running ("draining") until it is
 * told to stop.  The child is not re-executed: its comm and exe are the
 * same as its parent's, which is all a wrapper can check.
 *
 * -d detaches: double fork and setsid, so the daemon is nobody's child but
 * the nearest subreaper's (the driver makes itself one).  The process that
 * was started exits 0 only once the daemon has written its pid file, so
 * "launcher exited 0" means "daemon ready".  This is how the driver makes a
 * daemon for a wrapper to adopt.
 *
 * The daemon's death is not its own business: the driver SIGKILLs it and
 * takes the time just before kill().
 *
 * Without -p and -e it just waits for TERM (pidproxy needs a foreground
 * child of its own; see driver.cc).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "event.h"

static int events_fd = -1;
static const char *pid_path;
static volatile sig_atomic_t upgrade_requested;

/* Async-signal-safe: clock_gettime, getpid and write only. */
static void
record_at(int kind, const struct timespec *ts)
{
	struct fx_event ev;
	ssize_t n;

	if (events_fd < 0)
		return;
	memset(&ev, 0, sizeof ev);
	ev.pid = (int32_t)getpid();
	ev.kind = kind;
	ev.sec = ts->tv_sec;
	ev.nsec = ts->tv_nsec;
	do
		n = write(events_fd, &ev, sizeof ev);
	while (n < 0 && errno == EINTR);
	/* EAGAIN (reader gone slow) or EPIPE (reader gone): the record is
	 * lost; the driver's deadline reports it.  Nothing else to do. */
}

static void
record(int kind)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	record_at(kind, &ts);
}

static void
on_signal(int sig)
{
	int saved = errno;
	struct timespec ts;

	/* The timestamp first: it is the figure. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	record_at(sig, &ts);
	if (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT)
		_exit(0);
	if (sig == SIGHUP)
		upgrade_requested = 1;
	errno = saved;
}

static void
catch_everything(void)
{
	struct sigaction sa;
	int sig;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigfillset(&sa.sa_mask);
	/* Every signal, so that none stops or kills us by its default action
	 * (TSTP, TTIN, USR2, ALRM...) and every forwarded one is seen.
	 * glibc reserves 32 and 33: sigaction refuses them, which is fine. */
	for (sig = 1; sig <= SIGRTMAX; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		sigaction(sig, &sa, NULL);
	}
}

/*
 * Write our pid the way tableflip does (writePIDFile in its upgrader.go):
 * a temp file beside the pid file named <pidfile><digits>, digits without
 * a newline, mode 0600, then rename() over the path.  *before_rename gets
 * the time just before rename(), the start of the upgrade-follow figure.
 */
static int
write_pidfile(const char *path, struct timespec *before_rename)
{
	char tmp[PATH_MAX], text[32];
	int fd, len;
	ssize_t n;

	if (snprintf(tmp, sizeof tmp, "%s%ld", path, (long)getpid()) >= (int)sizeof tmp)
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	len = snprintf(text, sizeof text, "%ld", (long)getpid());
	n = write(fd, text, (size_t)len);
	if (n != len) {
		int err = n < 0 ? -errno : -EIO;
		close(fd);
		unlink(tmp);
		return err;
	}
	close(fd);
	clock_gettime(CLOCK_MONOTONIC, before_rename);
	if (rename(tmp, path) < 0) {
		int err = -errno;
		unlink(tmp);
		return err;
	}
	return 0;
}

static void
publish(int upgrade)
{
	struct timespec ts;
	int err;

	if (pid_path == NULL)
		return;
	err = write_pidfile(pid_path, &ts);
	if (err < 0) {
		fprintf(stderr, "fixture: fatal: unable to write %s: %s\n",
		    pid_path, strerror(-err));
		_exit(1);
	}
	if (upgrade)
		record_at(FX_RENAME, &ts);
}

static void notify_ready(void);

/* The old process keeps running; the child becomes the new daemon. */
static void
upgrade(void)
{
	pid_t pid = fork();

	if (pid < 0) {
		fprintf(stderr, "fixture: warning: fork: %s\n", strerror(errno));
		return;
	}
	if (pid > 0)
		return;
	publish(1);
	record(FX_READY);
	/* A successor says it too (ready = "notify" waits for it). */
	notify_ready();
}

/*
 * Double fork.  Returns in the daemon with *ready_fd set to the pipe the
 * launcher waits on; the launcher and the middle process never return.
 */
static void
detach(int *ready_fd)
{
	int p[2], fd, status;
	ssize_t n;
	pid_t mid;
	char b = 0;

	if (pipe2(p, O_CLOEXEC) < 0) {
		fprintf(stderr, "fixture: fatal: pipe: %s\n", strerror(errno));
		exit(1);
	}
	mid = fork();
	if (mid < 0) {
		fprintf(stderr, "fixture: fatal: fork: %s\n", strerror(errno));
		exit(1);
	}
	if (mid > 0) {
		/* The launcher: exit 0 once the daemon says it is ready. */
		close(p[1]);
		while (waitpid(mid, &status, 0) < 0 && errno == EINTR)
			;
		do
			n = read(p[0], &b, 1);
		while (n < 0 && errno == EINTR);
		exit(n == 1 && b == 'r' ? 0 : 1);
	}
	close(p[0]);
	setsid();
	if (fork() != 0)
		_exit(0);	/* the middle process; the daemon is orphaned */
	/* The daemon must not hold the driver's pipes or terminal open. */
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	*ready_fd = p[1];
}

/* READY=1 to $NOTIFY_SOCKET (sd_notify(3)), a path or "@" for the
 * abstract namespace, as a daemon linked against libsystemd sends it. */
static void
notify_ready(void)
{
	const char *addr = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	size_t len;
	int fd;

	if (addr == NULL || (addr[0] != '/' && addr[0] != '@') ||
	    (len = strlen(addr)) >= sizeof sa.sun_path)
		return;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, addr, len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	record(FX_NOTIFY);
	if (sendto(fd, "READY=1", 7, MSG_NOSIGNAL,
	    (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
		fprintf(stderr, "fixture: warning: READY=1 to %s: %s\n", addr, strerror(errno));
	close(fd);
}

static void
usage(void)
{
	fprintf(stderr, "usage: fixture [-d] [-p pidfile] [-e events]\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	struct timespec started;
	const char *events_path = NULL;
	sigset_t all, none;
	int c, detached = 0, ready_fd = -1;

	clock_gettime(CLOCK_MONOTONIC, &started);
	while ((c = getopt(argc, argv, "+de:p:")) != -1) {
		switch (c) {
		case 'd': detached = 1; break;
		case 'e': events_path = optarg; break;
		case 'p': pid_path = optarg; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();

	if (events_path != NULL) {
		/* O_NONBLOCK: the driver holds the FIFO open for reading, so
		 * this never fails with ENXIO, and a full FIFO loses a record
		 * rather than blocking a signal handler. */
		events_fd = open(events_path,
		    O_WRONLY | O_APPEND | O_NONBLOCK | O_CLOEXEC | O_CREAT, 0600);
		if (events_fd < 0) {
			fprintf(stderr, "fixture: fatal: unable to open %s: %s\n",
			    events_path, strerror(errno));
			return 1;
		}
	}

	/* Block everything until the loop below waits in sigsuspend(), so
	 * that an early signal is recorded rather than lost or fatal.  A
	 * wrapper may also have left signals blocked across exec. */
	sigfillset(&all);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &all, NULL);
	catch_everything();

	if (detached)
		detach(&ready_fd);
	else
		record_at(FX_START, &started);
	publish(0);
	record(FX_READY);
	if (ready_fd >= 0) {
		(void)!write(ready_fd, "r", 1);
		close(ready_fd);
	}
	notify_ready();

	for (;;) {
		sigsuspend(&none);
		if (upgrade_requested) {
			upgrade_requested = 0;
			upgrade();
		}
		/* Reap an upgraded child that died, as a real daemon would. */
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
	}
}
