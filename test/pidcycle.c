/*
 * pidcycle: PID recycling on demand, for pidsitter's security and fault
 * tests.  The tests compile it at run time (cc, into their temporary
 * directory) and run it inside `unshare --pid --fork --mount-proc`, where
 * pid_max is set small (per pid namespace since Linux 6.14), so that a
 * chosen PID comes round again within a hundred forks.
 *
 *   pidcycle init PID_MAX
 *       Be the namespace's pid 1: set pid_max, and ns_last_pid so that
 *       allocation wraps at the next fork (from then on every new PID is
 *       in 300..PID_MAX-1, RESERVED_PIDS being 300), print "ready", then
 *       reap every orphan at once.  PID_MAX 0: leave pid_max alone (a
 *       prompt reaper is all that is wanted).  SIGKILL it (from outside)
 *       to kill the namespace.
 *
 *   pidcycle spawn [--at PID] [--block] -- PROGRAM [ARG...]
 *       Start PROGRAM detached (its parent exits: it is re-parented to the
 *       namespace's pid 1), as PID if --at is given (fork until the kernel
 *       hands out that PID; it must be free), with every signal blocked if
 *       --block (so that a signal sent to it early stays pending for the
 *       fixture's signalfd instead of killing it).  Prints the new PID.
 *
 *   pidcycle hunt PID [--block] -- PROGRAM [ARG...]
 *       PID is in use now.  Wait until it is released (reaped), then
 *       set ns_last_pid to PID-1 and fork at once, so that the child gets
 *       PID, and run PROGRAM there as with spawn.  (spawn --at cycles
 *       through the PIDs by forking; hunt must be quick.)  Prints the
 *       PID the child got, or "timeout".
 *
 * A started PROGRAM's standard input, output and error are /dev/null.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int block_all;
static char **prog;

static long long
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
pid_used(pid_t pid)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof path, "/proc/%d", (int)pid);
	return stat(path, &st) == 0;
}

/* The PID the kernel handed out last: the next fork gets the first free
 * one after it. */
static int
set_last_pid(pid_t pid)
{
	char buf[32];
	int n = snprintf(buf, sizeof buf, "%d", (int)pid);
	int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (write(fd, buf, (size_t)n) != n) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* With --block, block every signal before forking: the child is born
 * with them blocked, so that none sent to its PID the moment it has it
 * can kill it before it runs PROGRAM. */
static void
block(void)
{
	sigset_t all;

	if (!block_all)
		return;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
}

/* In the child: become PROGRAM. */
static void
become(void)
{
	int null = open("/dev/null", O_RDWR);

	setsid();
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
	}
	execv(prog[0], prog);
	_exit(127);
}

/* Fork until a child gets pid `at` (0: the first child); that child
 * becomes PROGRAM, the others exit at once.  Returns its pid, or -1. */
static pid_t
fork_at(pid_t at, int max_forks)
{
	for (int i = 0; i < max_forks; i++) {
		pid_t c = fork();
		if (c < 0) {
			if (errno == EAGAIN)
				continue;
			return -1;
		}
		if (c == 0) {
			if (at == 0 || getpid() == at)
				become();
			_exit(0);
		}
		if (at == 0 || c == at)
			return c;
		waitpid(c, NULL, 0);
	}
	return -1;
}

static int
parse(int argc, char **argv, int i)
{
	for (; i < argc; i++) {
		if (strcmp(argv[i], "--block") == 0)
			block_all = 1;
		else if (strcmp(argv[i], "--at") == 0 && i + 1 < argc)
			i++;  /* read by the caller */
		else if (strcmp(argv[i], "--") == 0 && i + 1 < argc) {
			prog = argv + i + 1;
			return 0;
		} else
			return -1;
	}
	return -1;
}

static int
init(long pid_max)
{
	char buf[32];
	sigset_t mask;
	int fd, sfd, n;

	if (pid_max > 0) {
		fd = open("/proc/sys/kernel/pid_max", O_WRONLY);
		n = snprintf(buf, sizeof buf, "%ld", pid_max);
		if (fd < 0 || write(fd, buf, (size_t)n) != n) {
			fprintf(stderr, "pidcycle: cannot set pid_max: %s\n", strerror(errno));
			return 1;
		}
		close(fd);
		/* Put the allocation cursor at the end of the range: from the
		 * next fork on, PIDs come from RESERVED_PIDS..pid_max-1, a
		 * short cycle. */
		if (set_last_pid((pid_t)pid_max - 1) < 0) {
			fprintf(stderr, "pidcycle: cannot set ns_last_pid: %s\n", strerror(errno));
			return 1;
		}
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		struct signalfd_siginfo si;

		if (read(sfd, &si, sizeof si) < 0 && errno != EINTR)
			return 1;
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
	}
}

int
main(int argc, char **argv)
{
	pid_t at = 0, got;

	if (argc >= 3 && strcmp(argv[1], "init") == 0)
		return init(atol(argv[2]));
	if (argc >= 4 && strcmp(argv[1], "spawn") == 0) {
		for (int i = 2; i + 1 < argc; i++)
			if (strcmp(argv[i], "--at") == 0)
				at = (pid_t)atoi(argv[i + 1]);
		if (parse(argc, argv, 2) < 0)
			goto usage;
		if (at != 0 && pid_used(at)) {
			printf("busy\n");
			return 1;
		}
		block();
		got = fork_at(at, 100000);
		if (got < 0) {
			printf("failed\n");
			return 1;
		}
		printf("%d\n", (int)got);
		return 0;
	}
	if (argc >= 5 && strcmp(argv[1], "hunt") == 0) {
		long long end = now_ms() + 10000;

		at = (pid_t)atoi(argv[2]);
		if (parse(argc, argv, 3) < 0)
			goto usage;
		/* kill(pid, 0) succeeds on a zombie: the PID is released only
		 * once its parent has reaped it. */
		while (kill(at, 0) == 0 || errno != ESRCH) {
			sched_yield();
			if (now_ms() > end) {
				printf("timeout\n");
				return 1;
			}
		}
		/* Released is not yet free: the kernel frees the number just
		 * after it unhashes the process.  Try again until it is ours. */
		block();
		got = -1;
		for (int i = 0; i < 10000 && got != at; i++) {
			if (set_last_pid(at - 1) < 0)
				return 1;
			got = fork_at(at, 1);
		}
		printf("%d\n", (int)got);
		return got == at ? 0 : 1;
	}
usage:
	fprintf(stderr, "usage: pidcycle init PID_MAX | spawn [--at PID] [--block] -- "
	    "PROGRAM [ARG...] | hunt PID [--block] -- PROGRAM [ARG...]\n");
	return 2;
}
