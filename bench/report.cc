/*
 * report.cc: what `make bench` writes once every run is done: the Markdown
 * table (stdout and OUTDIR/results.md), the raw samples in ms, one a line
 * (OUTDIR/<figure>-<wrapper>.dat), and OUTDIR/series.gp, which tells
 * bench/plot.gp which of them exist.  Medians, p90 and maxima of each
 * figure, with ratios to the first wrapper measured (g_base).
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>

#include "driver.h"

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

/* ----------------------------------------------------------------- table */

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
	if ((f == F_CTL_STATUS || f == F_CTL_UPGRADE) && wi != W_PIDSITTER)
		return "n/a (no control socket)";
	if (f == F_NOTIFY_READY && wi != W_PIDSITTER)
		return wi == W_BASE ? "n/a (not measured)" : "n/a (no notification relay)";
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

/* The whole table and its notes, into g_md. */
static void
table(void)
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
	    F_FOLLOW_PROBE, F_FOLLOW_LINE, F_START_MON_SPAWN, F_START_MON_ADOPT, F_START_DAEMON,
	    F_CTL_STATUS, F_CTL_UPGRADE, F_NOTIFY_READY };
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
	if (wrappers[W_BASE].enabled)
		md("- Baseline: pidsitter (baseline) is `%s`, run with pidsitter's command line in"
		    " every mode, its runs shuffled with pidsitter's, so both meet the same load. A"
		    " difference between the two columns that is smaller than the baseline's own"
		    " spread (its median to its p90) is within run-to-run noise.\n", wrappers[W_BASE].path);
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
	md("- Upgrade follow (pidsitter and its baseline only; the others keep watching the old process): SIGHUP"
	    " to the wrapper makes the daemon fork its successor, which writes PIDFILE (temp file"
	    " and rename, as tableflip does). From just before its `rename()` to (probe) the first"
	    " SIGUSR1, sent to the wrapper again and again, that reaches the successor rather than"
	    " the old process, and to (log line) the arrival of the wrapper's line containing"
	    " \"following\". The probe overstates by up to one forwarding round trip and adds"
	    " work for the wrapper while it follows; the log line is the decision itself.\n");
	md("- Control socket (pidsitter only, on its upgrade runs, started with `-S SOCKET`):"
	    " `pidsitter -S SOCKET -s status` from `posix_spawn()` to its exit, a whole client"
	    " process included; and what `pidsitter -s upgrade` adds to the daemon's own"
	    " upgrade: from the successor's `rename()` of PIDFILE to the client's exit"
	    " (the generation left draining by the follow figure is stopped first).\n");
	md("- Notification relay (pidsitter only, on its upgrade runs, started with `-c CONF`"
	    " holding `ready = \"notify\"` and `NOTIFY_SOCKET` naming the benchmark's own"
	    " datagram socket, which stands for systemd's): the fixture, given pidsitter's relay"
	    " socket as `NOTIFY_SOCKET`, sends READY=1 once it has written PIDFILE; from just"
	    " before its `sendto()` to the return of the benchmark's `recv()` of the wrapper's"
	    " READY=1. It includes the wrapper's check of the sender (SCM_CREDENTIALS, a pidfd,"
	    " its /proc parent chain) and its own message upward. The upgrade runs give no start"
	    " figure, so those read no configuration file.\n");
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

/* ----------------------------------------------------------------- files */

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
	 * panel: probe and log line).  Colours are plot.gp's linetypes: a
	 * wrapper's index plus one, plus NWRAP for the second figure. */
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
	/* bench/bench.cc: the program, named by its main file. */
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
				colors += (colors.empty() ? "" : " ") + std::to_string(i + 1 + NWRAP * k);
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

void
report_write(void)
{
	table();
	write_samples();
	write_file("results.md", g_md);
	fwrite(g_md.data(), 1, g_md.size(), stdout);
	fflush(stdout);
}
