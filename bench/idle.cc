/*
 * idle.cc: idle cost.  Every wrapper spawns a fixture, all at once; after
 * a second to settle we read each wrapper's context switches (all
 * threads), wait idle_seconds, and read them and VmRSS again.  Measured
 * concurrently: an idle wrapper does not disturb another one.  It runs in
 * a worker, as every set of runs does (bench.cc).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>

#include "driver.h"

/* The number after "key:" in a /proc status file, or -1. */
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

static void __attribute__((noreturn))
idle_worker(int out)
{
	static watch wts[NWRAP];
	static idle_result ir[NWRAP];
	int64_t c0[NWRAP] = { 0 }, threads;
	char pidfiles[NWRAP][PATH_MAX];
	char err[512];
	runner r;

	int log_fd = open_log("idle");
	if (runner_init(&r, log_fd) < 0)
		_exit(1);
	for (int i = 0; i < NWRAP && !g_stop; i++) {
		if (!wrappers[i].enabled || g_broken[i])
			continue;
		watch_init(&wts[i], &wrappers[i]);
		snprintf(pidfiles[i], sizeof pidfiles[i], "%s/idle-%s.pid", r.dir, wrappers[i].name);
		if (watch_start(&r, &wts[i], M_SPAWN, pidfiles[i]) < 0 ||
		    watch_ready(&r, &wts[i], M_SPAWN, 0, err, sizeof err) < 0) {
			note("%s, idle: %s", wrappers[i].name, err);
			continue;
		}
		ir[i].ok = 1;
	}
	runner_sleep(&r, SEC);
	for (int i = 0; i < NWRAP; i++)
		if (ir[i].ok)
			c0[i] = context_switches(wts[i].pid, &threads);
	runner_sleep(&r, (int64_t)opt.idle_seconds * SEC);
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
			watch_finish(&r, &wts[i]);
	kill_children();
	runner_fini(&r);
	write_all(out, ir, sizeof ir);
	_exit(0);
}

void
idle_measure(idle_result *ir)
{
	int fd, st;

	fprintf(stderr, "bench: idle cost, all wrappers at once, %d s ... ", opt.idle_seconds);
	int64_t t0 = now_ns();
	pid_t pid = worker_fork(&fd);
	if (pid == 0) {
		g_worker_seq += 100000;
		idle_worker(fd);
	}
	std::vector<char> raw = worker_collect(pid, fd, &st);
	if (raw.size() == sizeof(idle_result) * NWRAP)
		memcpy(ir, raw.data(), raw.size());
	kill_children();
	fprintf(stderr, "%.1f s\n", (double)(now_ns() - t0) / SEC);
}
