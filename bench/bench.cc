/*
 * bench.cc: main() of `make bench`, and the schedule of its runs.  It runs
 * pidsitter and its peers (a Go model of gitaly-wrapper's algorithm, tini
 * -s, dumb-init and supervisord's pidproxy) around the same fixture daemon
 * (fixture.c), on the same machine in the same run, and reports what each
 * one costs and how fast it reacts: a Markdown table on stdout and in
 * OUTDIR/results.md, raw samples in OUTDIR/<figure>-<wrapper>.dat for
 * bench/plot.gp (report.cc).
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
 * The shared machinery is in driver.cc, each figure in a file of its own
 * (driver.h lists them).
 *
 * Baseline.  --baseline PATH adds a second pidsitter binary, the
 * "pidsitter-base" wrapper, run with pidsitter's command line in every
 * mode and shuffled with the others run by run, so that an old and a new
 * binary meet the same machine in the same minutes: a difference between
 * them is then a change only when it exceeds the spread between runs
 * (make bench-compare, bench/bench.mk).
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "driver.h"

static const int MAX_CONSECUTIVE_FAILURES = 3;

/* ------------------------------------------------------------------- runs */

static int
run_once(runner *r, const wrapper *w, int mode, run_state *st, results *res, char *err, size_t errlen)
{
	watch wt;
	pid_t adopted = 0;
	int rc = 0;

	watch_init(&wt, w);
	unlink(r->pidfile);
	runner_drain(r);
	if (mode == M_ADOPT && detached_start(r, r->pidfile, &adopted, err, errlen) < 0) {
		kill_children();
		return -1;
	}
	runner_drain(r);
	rc = watch_start(r, &wt, mode, r->pidfile);
	if (rc < 0) {
		fail(err, errlen, "cannot run %s: %s", w->path, strerror(-rc));
		kill_children();
		return -1;
	}
	r->t_notify_ready = 0;
	rc = watch_ready(r, &wt, mode, adopted, err, errlen);
	if (rc == 0)
		rc = start_measure(r, &wt, mode, adopted, res, err, errlen);
	if (rc == 0 && mode == M_UPGRADE) {
		if (w == &wrappers[W_PIDSITTER])
			rc = notify_measure(r, &wt, res, err, errlen);
		if (rc == 0)
			rc = follow_measure(r, &wt, st, res, err, errlen);
		if (rc == 0 && w == &wrappers[W_PIDSITTER] && !st->skip_follow)
			rc = control_measure(r, &wt, res, err, errlen);
	} else if (rc == 0) {
		rc = forward_measure(r, &wt, mode == M_ADOPT ? F_SIG_ADOPT : F_SIG_SPAWN, res,
		    err, errlen);
		if (rc == 0)
			rc = death_measure(r, &wt, mode, st, res, err, errlen);
	}
	watch_finish(r, &wt);
	kill_children();
	return rc;
}

/*
 * One worker's share of a set: nruns rounds, each round one run of every
 * wrapper in `ws`, in a new random order each round, so that whatever else
 * the machine does (a build next door, a frequency change) falls on all
 * columns alike rather than on whichever ran at that minute.
 */
static void __attribute__((noreturn))
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

	rc = runner_init(&r, -1);
	if (rc < 0) {
		for (int wi : ws) {
			snprintf(res[wi].err, sizeof res[wi].err,
			    "cannot set up a worker directory: %s", strerror(-rc));
			res[wi].failures++;
			results_send(out, &res[wi]);
		}
		_exit(1);
	}
	for (int wi : ws)
		st[wi] = { false, false };
	if (stagger > 0)
		runner_sleep(&r, stagger);
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
		results_send(out, &res[wi]);
	_exit(0);
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
		int n = opt.runs / nworkers + (i < opt.runs % nworkers);
		int fd;
		pid_t pid = worker_fork(&fd);
		if (pid == 0) {
			g_worker_seq += i * 1000;
			run_worker(fd, ws, mode, n, i * spread / nworkers, log_fds);
		}
		pids.push_back(pid);
		fds.push_back(fd);
	}
	g_worker_seq += nworkers * 1000;
	for (int i = 0; i < nworkers; i++) {
		int st;
		std::vector<char> raw = worker_collect(pids[i], fds[i], &st);
		size_t pos = 0;
		for (int wi : ws) {
			results *res = &g_res[wi];
			if (!results_merge(raw, &pos, res)) {
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

/* Is wrapper wi measured with a daemon of this mode? */
static bool
measured(int wi, int mode)
{
	const wrapper *w = &wrappers[wi];

	return w->enabled && !g_broken[wi] && (mode != M_ADOPT || w->adopts) &&
	    (mode != M_UPGRADE || w->upgrades);
}

/*
 * Every mode in turn.  Wrappers that run one at a time are interleaved run
 * by run; one that needs several at a time (pidproxy) gets its own set.
 */
static void
run_all(void)
{
	for (int mode = 0; mode < NMODE && !g_stop; mode++) {
		std::vector<int> together;
		for (int i = 0; i < NWRAP; i++)
			if (measured(i, mode) && (wrappers[i].workers == 1 || mode == M_UPGRADE))
				together.push_back(i);
		run_set(together, mode, 1, 0);
		for (int i = 0; i < NWRAP && !g_stop; i++) {
			const wrapper *w = &wrappers[i];
			if (!measured(i, mode) || mode == M_UPGRADE || w->workers == 1)
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
usage(FILE *f, int status)
{
	fprintf(f,
	    "usage: bench [-h] [-n runs] [-i idle_seconds] [-o outdir] [-w wrapper,...] [-f fixture]\n"
	    "             [--pidsitter path] [--baseline path] [--gwmodel path] [--tini path]\n"
	    "             [--dumb-init path] [--pidproxy path] [--versions text] [--seed n]\n"
	    "  -n runs          runs per wrapper and daemon mode (default 30)\n"
	    "  -i idle_seconds  length of the idle figure (default 10)\n"
	    "  -o outdir        results.md, *.dat, series.gp, logs/ (default build/bench)\n"
	    "  -w wrapper,...   measure only these: pidsitter gwmodel tini dumb-init pidproxy\n"
	    "                   (default: all of these)\n"
	    "  -f fixture       the fixture daemon (default OUTDIR/fixture)\n"
	    "  --pidsitter path (--gwmodel, --tini, --dumb-init, --pidproxy alike) a wrapper's\n"
	    "                   binary: build/pidsitter, build/bench/gwmodel, /usr/bin/NAME\n"
	    "  --baseline path  also measure this second pidsitter binary as pidsitter-base,\n"
	    "                   whatever -w says: same command line, same figures, interleaved\n"
	    "                   with pidsitter run by run; ratios stay relative to pidsitter.\n"
	    "                   make bench-compare BASE=rev builds rev's binary and uses this.\n"
	    "  --versions text  appended to the table's machine line\n"
	    "  --seed n         the random stream (kill moments, run order) for a repeat\n");
	exit(status);
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
		{ "baseline", required_argument, NULL, 1000 + W_BASE },
		{ "gwmodel", required_argument, NULL, 1000 + W_GWMODEL },
		{ "tini", required_argument, NULL, 1000 + W_TINI },
		{ "dumb-init", required_argument, NULL, 1000 + W_DUMBINIT },
		{ "pidproxy", required_argument, NULL, 1000 + W_PIDPROXY },
		{ "versions", required_argument, NULL, 'V' },
		{ "seed", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *paths[NWRAP] = { NULL };
	const char *fixture = NULL;
	int c;

	for (int i = 0; i < NWRAP; i++)
		wrappers[i].enabled = i != W_BASE;
	while ((c = getopt_long(argc, argv, "hn:i:o:w:f:", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': usage(stdout, 0); break;
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
				usage(stderr, 2);
		}
	}
	if (optind != argc || opt.runs < 1 || opt.idle_seconds < 1)
		usage(stderr, 2);
	/* The baseline has no default binary: naming it in -w is not enough,
	 * and --baseline alone adds it to any selection (make bench-compare
	 * passes -w, and BENCH_ARGS may pass another). */
	if (wrappers[W_BASE].enabled && paths[W_BASE] == NULL)
		fatal("pidsitter-base needs --baseline PATH");
	if (paths[W_BASE] != NULL)
		wrappers[W_BASE].enabled = true;

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
			    i == W_PIDSITTER ? " (build it: make)" : i == W_BASE ? "" : i == W_GWMODEL ?
			    " (build it: make bench)" : " (install it: apt-get install tini dumb-init supervisor)");
			bad++;
		}
		if (g_base < 0)
			g_base = i;
	}
	if (bad)
		fatal("%d wrapper%s missing; choose others with -w", bad, bad > 1 ? "s are" : " is");

	if (opt.seeded)
		rng_seed(opt.seed);
	else
		rng_mix((uint64_t)now_ns() ^ ((uint64_t)getpid() << 32));

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
	run_all();
	if (!g_stop)
		idle_measure(g_idle);
	kill_children();
	rm_tree(g_tmp);
	if (g_stop) {
		note("interrupted; nothing written");
		return 130;
	}

	report_write();
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
