/*
 * pidsitter: a stable PID for a daemon whose PID changes.
 *
 * The script: options and settings; log; find the daemon through its pid
 * file and adopt it, or spawn it; watch it (and its successors) until none
 * is left; exit with its status.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "client.h"
#include "log.h"
#include "notify.h"
#include "options.h"
#include "proc.h"
#include "reap.h"
#include "signals.h"
#include "spawn.h"
#include "watch.h"

static const char help_text[] =
    "Adopt or spawn a daemon found through its pid file, forward signals to it\n"
    "and follow it across upgrades; exit with its status.\n"
    "\n"
    "  -c, --config FILE         TOML settings (default: $PIDSITTER_CONFIG)\n"
    "  -h, --help                this text\n"
    "  -i, --poll-interval DUR   liveness poll where no pidfd exists (1s)\n"
    "  -j, --json                JSON log lines (or WRAPPER_JSON_LOGGING=true)\n"
    "  -n, --check-config        validate and print the settings, then exit\n"
    "  -p, --pid-file FILE       the daemon's pid file (or GITALY_PID_FILE)\n"
    "  -V, --version             print the version\n"
    "  -v, --verbose             debug log lines\n"
    "  -S, --control-socket PATH listen for pidsitter -s on this socket\n"
    "      --notify-fd FD        write a newline to FD when the daemon is ready\n"
    "\n"
    "As a client of a running wrapper's control socket (-S, or -c CONFIG):\n"
    "  -s, --send COMMAND        status, upgrade or stop; waits for the verdict\n"
    "      --timeout DUR         give up waiting after DUR (exit 4)\n"
    "  -j, --json                status as one JSON object\n"
    "\n"
    "See pidsitter(8) and pidsitter.toml(5).\n";

static const char *
real_getenv(const char *name)
{
	return getenv(name);
}

/*
 * A signal mask and ignored dispositions survive execve (signal(7)): a
 * parent that blocked SIGTERM and SIGCHLD before exec (Python's
 * pthread_sigmask, a JVM, some process managers) would leave us deaf to
 * the supervisor's stop and to the daemon's exit.  So, before anything
 * else, as tini and dumb-init do: an empty mask, then the default action
 * back for every signal we catch or wait for.  An ignored SIGCHLD would
 * also make the kernel reap our children itself, their status lost
 * (wait(2), NOTES).  The mask goes first: a signal that arrived while
 * blocked and ignored is then discarded, as its sender's target wanted.
 * Other ignored signals are left alone: we rely on none of them, and the
 * daemon gets an empty mask and default dispositions from uv_spawn anyway
 * (libuv's uv__process_child_init resets signals 1 to 31 and the mask;
 * the real-time ones we catch, and execve resets a caught signal).
 */
static void
reset_inherited_signals(void)
{
	int sigs[SIG_LIMIT + 1];
	unsigned long long ignored;
	struct sigaction sa;
	sigset_t none;
	size_t n;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Which are ignored: one read of /proc/self/status rather than a
	 * sigaction() for each of some forty signals (at every start);
	 * without /proc, each is asked. */
	if (proc_ignored_signals(&ignored) < 0)
		ignored = ~0ULL;
	n = signals_forwarded(sigs);
	sigs[n++] = SIGCHLD;
	for (size_t i = 0; i < n; i++) {
		if (sigs[i] >= 1 && sigs[i] <= 64 && !((ignored >> (sigs[i] - 1)) & 1))
			continue;
		if (sigaction(sigs[i], NULL, &sa) == 0 && sa.sa_handler == SIG_IGN) {
			sa.sa_handler = SIG_DFL;
			sigaction(sigs[i], &sa, NULL);
		}
	}
}

/*
 * A parent may start us with standard input, output or error closed.  The
 * next descriptor opened would then take that number: libuv's epoll
 * instance or signal pipe, which the daemon would inherit as its stdin or
 * stdout (uv_spawn passes 0, 1 and 2 on as they are), and which libuv
 * asserts it never closes (uv__close in src/unix/core.c: the wrapper would
 * abort).  So, as daemon(3) does, /dev/null takes each closed one before
 * anything else is opened.
 */
static void
open_closed_stdio(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		/* open() returns the lowest free descriptor: fd itself. */
		int r = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
		if (r >= 0 && r != fd)
			close(r);
	}
}

/* Exit codes of pidsitter's own (see EXIT STATUS in pidsitter(8)). */
enum { EXIT_FAILURE_OWN = 1, EXIT_USAGE = 2 };

/* Adopt what the pid file names, if it is our daemon.  Returns 1 when
 * adopted, 0 when a daemon is to be spawned, or -1 on a fatal error. */
static int
find_daemon(struct watch *w, const struct settings *s)
{
	struct identity id;
	std::string why;
	pid_t pid, last = 0;
	int r;

	log_event(LOG_INFO, "finding process", {{"pid_file", s->pid_file}});
	/* Read again while the file names another pid each time: started in
	 * the middle of an upgrade, we may read the old pid just before it
	 * exits; its successor has written its own by then (tableflip writes
	 * the pid file before the old process may go).  Spawning on the
	 * first read would start a duplicate beside the successor. */
	for (int round = 0; round < 8; round++) {
		r = watch_lookup(w, s->pid_file, &pid, &id, &why);
		if (r == -ENOENT || r == -EINVAL) {
			/* gitaly-wrapper's message for a missing or
			 * unparsable file. */
			log_event(LOG_ERROR, "find process", {{"pid_file", s->pid_file},
			    {"error", r == -ENOENT ? std::string("no such file") : why}});
			return 0;
		}
		if (r < 0) {
			/* Spawning now could start a second daemon beside one
			 * we cannot see: refuse, say why. */
			log_event(LOG_FATAL, "cannot use pid file",
			    {{"pid_file", s->pid_file}, {"error", why}});
			return -1;
		}
		if (r == ID_OK && pid == last)
			close(id.pidfd);
		if (pid == last)
			break;  /* the same dead pid twice: nothing newer */
		last = pid;
		if (r == ID_ERROR) {
			/* A daemon may be alive there: spawning could
			 * duplicate it. */
			log_event(LOG_FATAL, "cannot check the process the pid file names",
			    {{"pid_file", s->pid_file}, {"process", (long)pid}, {"error", why}});
			return -1;
		}
		if (r == ID_OWNER) {
			/* The daemon, by its name, run by a user the owner
			 * rule refuses: spawning would start a second daemon
			 * beside it (pidsitter(8), SECURITY CONSIDERATIONS). */
			log_event(LOG_FATAL, "the pid file names the daemon run by another user",
			    {{"pid_file", s->pid_file}, {"process", (long)pid}, {"error", why}});
			return -1;
		}
		if (r == ID_OK) {
			log_event(LOG_INFO, "adopting a process", {{"process", (long)pid},
			    {"matched", id.matched}});
			watch_adopt(w, &id);
			return 1;
		}
		if (r != ID_DEAD)
			break;
	}
	log_event(LOG_INFO, "not adopting the process the pid file names",
	    {{"pid_file", s->pid_file}, {"process", (long)pid}, {"reason", why}});
	return 0;
}

static int
workdir_failed(const struct settings *s, int err)
{
	log_event(LOG_FATAL, "cannot change to workdir", {{"binary", s->argv[0]},
	    {"workdir", s->workdir}, {"error", strerror(-err)}});
	return EXIT_FAILURE_OWN;
}

static int
start_daemon(struct watch *w, const struct settings *s)
{
	bool wd = !s->workdir.empty();
	int r;

	/* uv_spawn reports a failed chdir with the same errno as a failed
	 * exec (ENOENT for both): checked first, a missing workdir is said
	 * as what it is, not as a missing binary (spawn.h). */
	if (wd && (r = spawn_workdir_check(s->workdir.c_str())) < 0)
		return workdir_failed(s, r);
	log_event(LOG_INFO, "spawning a process", {{"binary", s->argv[0]}});
	r = watch_spawn(w);
	if (r == 0)
		return 0;
	/* Removed in between?  Then that was the failure. */
	int wr;
	if (wd && (wr = spawn_workdir_check(s->workdir.c_str())) < 0)
		return workdir_failed(s, wr);
	log_event(LOG_FATAL, "spawn failed", {{"binary", s->argv[0]},
	    {"error", uv_strerror(r)}});
	return spawn_exit_code(r);
}

/* Is WRAPPER_JSON_LOGGING one of Go's true words? */
static bool
env_says_json(void)
{
	const char *v = getenv("WRAPPER_JSON_LOGGING");
	bool json;

	return v != NULL && parse_go_bool(v, &json) && json;
}

/*
 * A usage or configuration error, before the log is set up, on stderr:
 * "pidsitter: ERROR" (then the usage line, for a usage error), or with
 * JSON logging a line as the log writes them (level fatal, msg, error),
 * so that a JSON log stays JSON when stderr goes there too (runit's
 * "exec 2>&1").
 */
static void
say_error(bool json, const char *msg, const std::string &err, bool usage)
{
	if (json) {
		struct timespec now;
		std::string line;

		clock_gettime(CLOCK_REALTIME, &now);
		if (usage)
			line = log_format_line(LOG_FORMAT_JSON, &now, LOG_FATAL, msg,
			    (long)getpid(), {{"error", err}, {"usage", options_usage()}});
		else
			line = log_format_line(LOG_FORMAT_JSON, &now, LOG_FATAL, msg,
			    (long)getpid(), {{"error", err}});
		line.push_back('\n');
		fputs(line.c_str(), stderr);
		return;
	}
	fprintf(stderr, "pidsitter: %s\n", err.c_str());
	if (usage)
		fprintf(stderr, "%s\n", options_usage());
}

int
main(int argc, char **argv)
{
	struct options o;
	struct settings s;
	struct watch w;
	uv_loop_t loop;
	std::string err;
	int r, code;

	reset_inherited_signals();
	open_closed_stdio();
	r = options_parse(argc, argv, &o, &err);
	if (r != 0) {
		/* JSON as far as it is known: the environment, or a -j read
		 * before the error. */
		say_error(o.json || env_says_json(), "invalid command line", err, true);
		return EXIT_USAGE;
	}
	if (o.action == OPT_HELP) {
		printf("%s\n\n%s", options_usage(), help_text);
		return 0;
	}
	if (o.action == OPT_VERSION) {
		printf("pidsitter %s\n", PIDSITTER_VERSION);
		return 0;
	}

	if (o.action == OPT_CONTROL) {
		struct control_request req;
		std::string path;

		if (settings_control_socket(&o, real_getenv, &path, &err) != 0) {
			say_error(false, "invalid command line", err, false);
			return EXIT_USAGE;
		}
		req.cmd = o.command == "upgrade" ? CTL_UPGRADE : o.command == "stop" ?
		    CTL_STOP : CTL_STATUS;
		req.json = o.json;
		return client_run(path.c_str(), &req, o.timeout_ms);
	}

	/* A closed log pipe must not kill the wrapper: the daemon would be
	 * left unsupervised.  (libuv resets it to default in the child.) */
	signal(SIGPIPE, SIG_IGN);

	r = settings_resolve(&o, real_getenv, &s, &err);
	if (r == 0 && s.check_only)
		r = spawn_settings_check(&s, &err);
	if (r != 0) {
		/* The file's log_format counts when the file was read. */
		say_error(s.log_format == LOG_FORMAT_JSON || o.json || env_says_json(),
		    "invalid configuration", err, false);
		return EXIT_USAGE;
	}
	if (s.check_only) {
		fputs(settings_describe(&s).c_str(), stdout);
		return 0;
	}
	log_init(s.log_format, s.verbose, (long)getpid(), 1);
	log_event(LOG_INFO, "Wrapper started", {{"version", PIDSITTER_VERSION}});
	if (s.notify_fd >= 0 && fcntl(s.notify_fd, F_SETFD, FD_CLOEXEC) < 0) {
		log_event(LOG_FATAL, "notification fd is not open",
		    {{"fd", s.notify_fd}, {"error", strerror(errno)}});
		log_flush(LOG_EXIT_WAIT_MS);
		return EXIT_USAGE;
	}

	/* Orphans of our descendants (an upgraded daemon whose parent exited,
	 * a forking daemon's master) become our children. */
	if ((r = reap_become_subreaper()) < 0)
		log_event(LOG_WARN, "cannot become a child subreaper",
		    {{"error", strerror(-r)}});

	if ((r = uv_loop_init(&loop)) == 0) {
		log_attach_loop(&loop);
		r = watch_init(&w, &loop, &s);
	}
	if (r != 0) {
		/* Nothing runs yet: better no wrapper than one deaf to the
		 * daemon's death. */
		log_event(LOG_FATAL, "cannot set up the event loop", {{"error", uv_strerror(r)}});
		log_flush(LOG_EXIT_WAIT_MS);
		return EXIT_FAILURE_OWN;
	}

	/* Before anything is adopted or spawned: a second wrapper for the
	 * same daemon stops here. */
	if ((r = watch_control(&w, &err)) < 0) {
		log_event(LOG_FATAL, "cannot listen on the control socket",
		    {{"control_socket", s.control_socket}, {"error", err}});
		code = EXIT_FAILURE_OWN;
		goto failed;
	}
	if (!s.control_socket.empty())
		log_event(LOG_INFO, "control socket ready", {{"control_socket", s.control_socket}});

	/* Before anything is adopted or spawned too: the daemon's address
	 * is in its environment from the start (pidsitter(8),
	 * NOTIFICATIONS).  Without it readiness by READY=1 could never come;
	 * otherwise the daemon runs without a socket, as with notify = "off". */
	if ((r = notify_open(&w, &err)) < 0) {
		if (s.ready == READY_NOTIFY) {
			log_event(LOG_FATAL, "cannot open the notification socket",
			    {{"error", err}});
			code = EXIT_FAILURE_OWN;
			goto failed;
		}
		log_event(LOG_WARN, "cannot open the notification socket; the daemon gets none",
		    {{"error", err}});
	}

	r = find_daemon(&w, &s);
	if (r == 0)
		code = start_daemon(&w, &s);
	else
		code = r < 0 ? EXIT_FAILURE_OWN : 0;
	if (code != 0) {
failed:
		/* Nothing runs: no daemon was adopted or spawned. */
		log_flush(LOG_EXIT_WAIT_MS);
		watch_close(&w);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
		return code;
	}

	watch_pidfile(&w);
	uv_run(&loop, UV_RUN_DEFAULT);
	pidwatch_leave(&w);
	/* The last generation is gone (the loop only stops then).  Reap any
	 * orphan that exited meanwhile, so none is left a zombie, and leave:
	 * the handles die with the process (see finish() in watch.cc). */
	reap_leftovers();
	/* Whoever asked for the stop learns how it ended; the socket goes.
	 * The notification socket's name goes first: a client that starts
	 * a new wrapper as soon as its stop returns must find it free (the
	 * exit would free it a moment later, after the reply). */
	if (control_waiting(&w.ctl, CTL_STOP))
		notify_close(&w);
	control_exit(&w.ctl, w.exit_code);
	/* The log's last lines (the daemon's fate among them), if its
	 * reader was behind: waited for a little, never for long. */
	log_flush(LOG_EXIT_WAIT_MS);
	/* Not a return: the loop and the watch stay on this frame, which
	 * LeakSanitizer scans at exit (make check SAN=1).  A return would
	 * free the watch's vectors first and leave what they and the loop
	 * point to unreachable: reported as leaks, exit status 1.  Nor,
	 * outside the sanitized build, exit(): its handlers (libuv's
	 * destructor closing its lock pipe, the C++ destructors) free what
	 * the kernel frees anyway and have nothing to flush (the log writes
	 * with write(2), done above), and running them from cold pages cost
	 * the supervisor some 20 µs more wait for the daemon's fate
	 * (doc/DESIGN.md, "Latency"). */
#if defined(__SANITIZE_ADDRESS__)
	exit(w.exit_code);
#else
	_exit(w.exit_code);
#endif
}
