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
#include <unistd.h>

#include <uv.h>

#include "log.h"
#include "options.h"
#include "pidfile.h"
#include "proc.h"
#include "reap.h"
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
    "      --notify-fd FD        write a newline to FD when the daemon is ready\n"
    "\n"
    "See pidsitter(8) and pidsitter.toml(5).\n";

static const char *
real_getenv(const char *name)
{
	return getenv(name);
}

/* Exit codes of pidsitter's own (see EXIT STATUS in pidsitter(8)). */
enum { EXIT_FAILURE_OWN = 1, EXIT_USAGE = 2 };

/* Adopt what the pid file names, if it is our daemon.  Returns 1 when
 * adopted, 0 when a daemon is to be spawned, or -1 on a fatal error. */
static int
find_daemon(struct watch *w, const struct settings *s)
{
	struct match_rules rules;
	struct identity id;
	std::string why;
	pid_t pid, last = 0;
	int r;

	rules.names = s->names;
	rules.facts = s->match_facts;
	rules.owner_any = s->owner_any;
	rules.owner = s->owner;
	log_event(LOG_INFO, "finding process", {{"pid_file", s->pid_file}});
	/* Read again while the file names another pid each time: started in
	 * the middle of an upgrade, we may read the old pid just before it
	 * exits; its successor has written its own by then (tableflip writes
	 * the pid file before the old process may go).  Spawning on the
	 * first read would start a duplicate beside the successor. */
	for (int round = 0; round < 8; round++) {
		r = pidfile_read(s->pid_file.c_str(), pidfile_pid_max(),
		    s->owner_any ? (uid_t)-1 : s->owner, &pid, &why);
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
		if (pid == last)
			break;  /* the same dead pid twice: nothing newer */
		last = pid;
		r = proc_identify(pid, &rules, &id, &why);
		if (r == ID_ERROR) {
			/* A daemon may be alive there: spawning could
			 * duplicate it. */
			log_event(LOG_FATAL, "cannot check the process the pid file names",
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
start_daemon(struct watch *w, const struct settings *s)
{
	int r;

	log_event(LOG_INFO, "spawning a process", {{"binary", s->argv[0]}});
	r = watch_spawn(w);
	if (r == 0)
		return 0;
	log_event(LOG_FATAL, "spawn failed", {{"binary", s->argv[0]},
	    {"error", uv_strerror(r)}});
	return spawn_exit_code(r);
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

	r = options_parse(argc, argv, &o, &err);
	if (r != 0) {
		fprintf(stderr, "pidsitter: %s\n%s\n", err.c_str(), options_usage());
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

	/* A closed log pipe must not kill the wrapper: the daemon would be
	 * left unsupervised.  (libuv resets it to default in the child.) */
	signal(SIGPIPE, SIG_IGN);

	r = settings_resolve(&o, real_getenv, &s, &err);
	if (r != 0) {
		fprintf(stderr, "pidsitter: %s\n", err.c_str());
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

	uv_loop_init(&loop);
	log_attach_loop(&loop);
	watch_init(&w, &loop, &s);

	r = find_daemon(&w, &s);
	if (r == 0)
		code = start_daemon(&w, &s);
	else
		code = r < 0 ? EXIT_FAILURE_OWN : 0;
	if (code != 0) {
		/* Nothing runs: no daemon was adopted or spawned. */
		log_flush(LOG_EXIT_WAIT_MS);
		watch_close(&w);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
		return code;
	}

	watch_pidfile(&w);
	uv_run(&loop, UV_RUN_DEFAULT);
	/* The last generation is gone (the loop only stops then).  Reap any
	 * orphan that exited meanwhile, so none is left a zombie, and leave:
	 * the handles die with the process (see ACT_EXIT in watch.cc). */
	reap_leftovers(0);
	/* The log's last lines (the daemon's fate among them), if its
	 * reader was behind: waited for a little, never for long. */
	log_flush(LOG_EXIT_WAIT_MS);
	/* exit(), not return: the loop and the watch stay on this frame,
	 * which LeakSanitizer scans at exit (make check SAN=1).  A return
	 * would free the watch's vectors first and leave what they and the
	 * loop point to unreachable: reported as leaks, exit status 1. */
	exit(w.exit_code);
}
