/*
 * metrics_test.cc: the metrics file (pidsitter.toml(5), metrics_file)
 * through the built wrapper and the fixture daemon.  Every state the
 * service goes through is read from the file, its copy checked with
 * Prometheus's own promtool, and its values with the processes' own facts.
 * (The hostile names beside it are in security_test.cc.)
 */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include <doctest/doctest.h>

#include "harness.h"

namespace {

const int DEADLINE_MS = 20000;

/* What a test's wrapper puts on every sample (metrics_labels below). */
const std::string LABELS = "daemon=\"gitaly\",note=\"say \\\"hi\\\" \\\\ bye\\n\"";
const std::string LABELS_TOML = "metrics_labels = { daemon = \"gitaly\", "
    "note = \"say \\\"hi\\\" \\\\ bye\\n\" }\n";

/* The value of the sample name{LABELS[,extra]}, or "" when there is none. */
std::string
value(const std::string &text, const std::string &name, const std::string &extra = "")
{
	std::string series = "\n" + name + "{" + LABELS + (extra.empty() ? "" : "," + extra) + "} ";
	size_t at = text.find(series);

	if (at == std::string::npos)
		return "";
	at += series.size();
	return text.substr(at, text.find('\n', at) - at);
}

long long
number(const std::string &text, const std::string &name, const std::string &extra = "")
{
	std::string v = value(text, name, extra);
	REQUIRE_MESSAGE(v != "", name << "{" << extra << "} is missing from:\n" << text);
	return atoll(v.c_str());
}

std::string
state_of(const std::string &text)
{
	for (const char *s : {"starting", "running", "upgrading", "stopping", "exited"})
		if (value(text, "pidsitter_state", std::string("state=\"") + s + "\"") == "1")
			return s;
	return "";
}

/* A whole file ends with its last family's sample. */
bool
whole(const std::string &text)
{
	return text.find("\npidsitter_info{" + LABELS + ",version=\"") != std::string::npos &&
	    text.back() == '\n';
}

/* Run promtool check metrics on a copy of text: "" or what it said. */
std::string
promtool(const tmp_dir &dir, const std::string &text, int n)
{
	std::string copy = dir.path + "/copy-" + std::to_string(n) + ".prom";
	child p;

	write_file(copy, text);
	child_start(&p, {"/bin/sh", "-c", "exec /usr/bin/promtool check metrics < \"$1\"", "sh", copy},
	    clean_env);
	REQUIRE(child_wait_exit(&p, DEADLINE_MS));
	if (child_code(&p) == 0 && p.out == "" && p.err == "")
		return "";
	return "exit " + std::to_string(child_code(&p)) + ": " + p.out + p.err;
}

/* Wait until the metrics file at path is whole and cond holds of it,
 * reading w's output meanwhile; check what promtool says of that copy,
 * kept in *copies: that text (a failed REQUIRE at the deadline). */
template <typename F>
std::string
wait_metrics(child *w, const tmp_dir &dir, const std::string &path, const char *what, F cond,
    std::vector<std::string> *copies)
{
	std::string text;
	bool ok = wait_until([&] {
		pump_for(w, 1);
		text = read_file(path);
		return whole(text) && cond(text);
	}, DEADLINE_MS);
	REQUIRE_MESSAGE(ok, "no metrics file " << what << "; the last:\n" << text);
	std::string said = promtool(dir, text, (int)copies->size());
	CAPTURE(text);
	CHECK_MESSAGE(said == "", what << ": promtool says " << said);
	copies->push_back(text);
	return text;
}

/* The start time of pid as unix time, as the file should say it. */
double
start_time_of(pid_t pid)
{
	std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
	size_t at = stat.rfind(')');
	unsigned long long ticks = 0;
	struct timespec real, boot;

	REQUIRE(at != std::string::npos);
	/* starttime is field 22; after ") " comes field 3. */
	const char *p = stat.c_str() + at + 2;
	for (int field = 3; field < 22; field++)
		p = strchr(p, ' ') + 1;
	ticks = strtoull(p, NULL, 10);
	clock_gettime(CLOCK_REALTIME, &real);
	clock_gettime(CLOCK_BOOTTIME, &boot);
	return (double)(real.tv_sec - boot.tv_sec) + (double)(real.tv_nsec - boot.tv_nsec) / 1e9 +
	    (double)ticks / (double)sysconf(_SC_CLK_TCK);
}

/* The counters of text, one "name{labels} value" per line. */
std::vector<std::pair<std::string, long long>>
counters(const std::string &text)
{
	std::vector<std::pair<std::string, long long>> out;
	for (size_t at = 0, nl; (nl = text.find('\n', at)) != std::string::npos; at = nl + 1) {
		std::string line = text.substr(at, nl - at);
		size_t sp = line.rfind(' ');
		if (line[0] != '#' && line.find("_total{") != std::string::npos)
			out.push_back({line.substr(0, sp), atoll(line.c_str() + sp + 1)});
	}
	return out;
}

/* Every copy of the file a reader can catch while the test runs: whole,
 * and no counter of a later one below an earlier one's. */
struct watcher {
	std::string path;
	std::atomic<bool> stop{false};
	std::atomic<int> reads{0};
	std::string bad;              /* the first torn or backward copy */
	std::thread t;

	explicit watcher(const std::string &p) : path(p)
	{
		t = std::thread([this] {
			std::vector<std::pair<std::string, long long>> last;
			while (!stop.load()) {
				std::string text = read_file(path);
				if (text.empty())
					continue;
				reads++;
				if (!whole(text) && bad.empty())
					bad = "torn: " + text;
				for (const auto &c : counters(text))
					for (const auto &l : last)
						if (c.first == l.first && c.second < l.second && bad.empty())
							bad = "went back: " + c.first;
				last = counters(text);
			}
		});
	}
	void end()
	{
		stop = true;
		if (t.joinable())
			t.join();
	}
	~watcher() { end(); }
};

}  // namespace

TEST_CASE("metrics file: promtool-clean and true in every state: starting, running, upgrading, draining, stopping, exited")
{
	scene sc;
	std::string metrics = sc.dir / "gitaly.prom";
	std::string ready = sc.dir / "ready", upgrade = sc.dir / "upgrade-ready";
	std::string drained = sc.dir / "drained", stop = sc.dir / "stop";
	std::string bin = sc.dir / "bin";

	/* A forking start (the start_timeout case): the start process leaves
	 * the daemon, which writes its pid file only once the test creates
	 * "ready", and a helper of the same name that never writes one; it
	 * exits 0 once both run.  Two processes left: only the pid file can
	 * say which is the daemon. */
	REQUIRE(mkdir(bin.c_str(), 0755) == 0);
	std::string daemon = sc.gitaly + " --pid-file " + sc.pidfile + " --record " + sc.record +
	    " --ready-file " + ready + " --upgrade-wait-file " + upgrade + " --drain-file " +
	    drained + " --stop-file " + stop + " --exit-code 6";
	std::string helper = sc.gitaly + " --pid-file " + (sc.dir / "helper.pid") +
	    " --no-pid-file --record " + (sc.dir / "helper.record");
	write_file(bin + "/start-gitaly", "#!/bin/sh\n" + daemon + " </dev/null >/dev/null 2>&1 &\n" +
	    helper + " </dev/null >/dev/null 2>&1 &\n"
	    "until [ \"$(grep -c ' start ' " + sc.record + " " + (sc.dir / "helper.record") +
	    " 2>/dev/null | grep -c ':1$')\" = 2 ]; do sleep 0.01; done\nexit 0\n", 0755);
	sc.config("metrics_file = \"" + metrics + "\"\n" + LABELS_TOML +
	    "names = [\"gitaly\"]\nstart_timeout = \"5m\"\nupgrade_timeout = \"5m\"\n" SLOW_REAP_OK);

	struct timespec t0, t1;
	clock_gettime(CLOCK_REALTIME, &t0);
	watcher reader(metrics);
	child w;
	child_start(&w, {build_path("pidsitter"), "-c", sc.conf, "--", bin + "/start-gitaly"},
	    clean_env);
	INFO(child_dump(&w));
	std::vector<std::string> copies;
	auto wait_for = [&](const char *what, auto cond) {
		return wait_metrics(&w, sc.dir, metrics, what, cond, &copies);
	};

	/* Starting: the start process has exited, the two it left are
	 * followed as orphans, and none is current: down. */
	std::string m = wait_for("starting, with two orphans", [](const std::string &t) {
		return state_of(t) == "starting" && value(t, "pidsitter_generations",
		    "role=\"orphan\"") == "2" && value(t, "pidsitter_generations",
		    "role=\"current\"") == "0";
	});
	clock_gettime(CLOCK_REALTIME, &t1);
	CHECK(number(m, "pidsitter_up") == 0);
	CHECK(value(m, "pidsitter_generation") == "");
	CHECK(value(m, "pidsitter_daemon_pid") == "");
	CHECK(number(m, "pidsitter_generations", "role=\"current\"") == 0);
	CHECK(number(m, "pidsitter_generations", "role=\"draining\"") == 0);
	double started = atof(value(m, "pidsitter_start_time_seconds").c_str());
	CHECK(started >= (double)t0.tv_sec);
	CHECK(started <= (double)t1.tv_sec + 1);
	CHECK(value(m, "pidsitter_exit_code") == "");

	/* Running: the daemon wrote its pid file. */
	write_file(ready, "");
	m = wait_for("running", [](const std::string &t) { return state_of(t) == "running"; });
	pid_t d1 = read_pid(sc.pidfile);
	REQUIRE(d1 > 0);
	long long g1 = number(m, "pidsitter_generation");
	CHECK(g1 >= 2);  /* the start process was the first */
	CHECK(number(m, "pidsitter_up") == 1);
	CHECK(number(m, "pidsitter_daemon_pid") == d1);
	CHECK(fabs(atof(value(m, "pidsitter_daemon_start_time_seconds").c_str()) -
	    start_time_of(d1)) < 0.05);
	CHECK(number(m, "pidsitter_generations", "role=\"current\"") == 1);
	CHECK(number(m, "pidsitter_generations", "role=\"orphan\"") == 1);
	CHECK(number(m, "pidsitter_upgrades_total", "result=\"succeeded\"") == 0);
	CHECK(number(m, "pidsitter_log_lines_dropped_total") == 0);
	CHECK(value(m, "pidsitter_signals_forwarded_total", "signal=\"HUP\"") == "");

	/* Upgrading: asked for, no successor yet. */
	send_signal(w.pid, SIGHUP);
	m = wait_for("upgrading", [](const std::string &t) { return state_of(t) == "upgrading"; });
	CHECK(number(m, "pidsitter_up") == 1);
	CHECK(number(m, "pidsitter_generation") == g1);
	CHECK(number(m, "pidsitter_daemon_pid") == d1);
	CHECK(number(m, "pidsitter_signals_forwarded_total", "signal=\"HUP\"") == 1);
	CHECK(number(m, "pidsitter_upgrades_total", "result=\"succeeded\"") == 0);
	CHECK(value(m, "pidsitter_last_upgrade_time_seconds") == "");

	/* Draining: the successor is current, the old one finishes. */
	write_file(upgrade, "");
	m = wait_for("draining", [&](const std::string &t) {
		return state_of(t) == "running" && value(t, "pidsitter_generations",
		    "role=\"draining\"") == "1";
	});
	pid_t d2 = read_pid(sc.pidfile);
	CHECK(d2 != d1);
	CHECK(number(m, "pidsitter_generation") > g1);
	CHECK(number(m, "pidsitter_daemon_pid") == d2);
	CHECK(fabs(atof(value(m, "pidsitter_daemon_start_time_seconds").c_str()) -
	    start_time_of(d2)) < 0.05);
	CHECK(number(m, "pidsitter_generations", "role=\"current\"") == 1);
	CHECK(number(m, "pidsitter_upgrades_total", "result=\"succeeded\"") == 1);
	CHECK(number(m, "pidsitter_upgrades_total", "result=\"failed\"") == 0);
	double upgraded = atof(value(m, "pidsitter_last_upgrade_time_seconds").c_str());
	CHECK(upgraded >= started);
	CHECK(upgraded <= (double)time(NULL) + 1);

	/* Stopping: TERM reached both generations, which take their time. */
	send_signal(w.pid, SIGTERM);
	REQUIRE(record_wait(sc.record, d1, "stopping", DEADLINE_MS));
	REQUIRE(record_wait(sc.record, d2, "stopping", DEADLINE_MS));
	m = wait_for("stopping", [](const std::string &t) { return state_of(t) == "stopping"; });
	CHECK(number(m, "pidsitter_up") == 1);
	CHECK(number(m, "pidsitter_daemon_pid") == d2);
	CHECK(number(m, "pidsitter_generations", "role=\"current\"") == 1);
	CHECK(number(m, "pidsitter_generations", "role=\"draining\"") == 1);
	CHECK(number(m, "pidsitter_signals_forwarded_total", "signal=\"TERM\"") >= 2);
	CHECK(number(m, "pidsitter_signals_forwarded_total", "signal=\"HUP\"") == 1);
	CHECK(value(m, "pidsitter_exit_code") == "");

	/* Exited: down, with the code the wrapper exits with. */
	write_file(stop, "");
	REQUIRE(child_wait_exit(&w, DEADLINE_MS));
	CHECK(child_code(&w) == 6);
	m = read_file(metrics);
	REQUIRE(whole(m));
	CHECK(promtool(sc.dir, m, (int)copies.size()) == "");
	copies.push_back(m);
	CHECK(state_of(m) == "exited");
	CHECK(number(m, "pidsitter_up") == 0);
	CHECK(number(m, "pidsitter_exit_code") == 6);
	CHECK(number(m, "pidsitter_daemon_last_exit_code") == 6);
	CHECK(value(m, "pidsitter_generation") == "");
	CHECK(number(m, "pidsitter_generations", "role=\"current\"") == 0);
	CHECK(number(m, "pidsitter_generations", "role=\"draining\"") == 0);
	CHECK(number(m, "pidsitter_generations", "role=\"orphan\"") == 0);
	CHECK(number(m, "pidsitter_upgrades_total", "result=\"succeeded\"") == 1);
	CHECK(atof(value(m, "pidsitter_start_time_seconds").c_str()) == started);

	/* Counters never went back, in the states' copies nor in any other
	 * the reader caught; and no copy was torn. */
	for (size_t i = 1; i < copies.size(); i++)
		for (const auto &c : counters(copies[i]))
			for (const auto &p : counters(copies[i - 1]))
				if (c.first == p.first)
					CHECK_MESSAGE(c.second >= p.second, c.first);
	reader.end();
	CHECK(reader.bad == "");
	CHECK(reader.reads.load() > 5);
}

TEST_CASE("metrics file: upgrades counted by result: succeeded, refused while one drains, failed")
{
	scene sc;
	std::string metrics = sc.dir / "gitaly.prom";
	std::string drained = sc.dir / "drained", fail = sc.dir / "fail";

	sc.config("metrics_file = \"" + metrics + "\"\n" + LABELS_TOML +
	    "upgrade_timeout = \"500ms\"\n");
	child w;
	child_start(&w, sc.configured({"--drain-file", drained, "--fail-upgrade-file", fail}),
	    clean_env);
	INFO(child_dump(&w));
	pid_t d1 = sc.ready(DEADLINE_MS);
	REQUIRE(d1 > 0);
	std::vector<std::string> copies;
	auto wait_for = [&](const char *what, auto cond) {
		return wait_metrics(&w, sc.dir, metrics, what, cond, &copies);
	};

	/* One that succeeds; the old process drains until "drained". */
	pid_t d2 = hup_successor(sc, &w, d1, DEADLINE_MS);
	std::string m = wait_for("succeeded", [](const std::string &t) {
		return value(t, "pidsitter_upgrades_total", "result=\"succeeded\"") == "1";
	});
	CHECK(number(m, "pidsitter_daemon_pid") == d2);

	/* Asked again while it drains: forwarded, refused. */
	write_file(fail, "");
	send_signal(w.pid, SIGHUP);
	m = wait_for("refused", [](const std::string &t) {
		return value(t, "pidsitter_upgrades_total", "result=\"refused\"") == "1";
	});
	CHECK(number(m, "pidsitter_upgrades_total", "result=\"failed\"") == 0);
	REQUIRE(record_wait(sc.record, d2, "upgrade-failed child exited 3", DEADLINE_MS));

	/* The old one gone, asked once more: the new process fails, and
	 * none comes within upgrade_timeout. */
	write_file(drained, "");
	REQUIRE(record_wait(sc.record, d1, "exit 0", DEADLINE_MS));
	REQUIRE(wait_until([&] {
		pump_for(&w, 1);
		return value(read_file(metrics), "pidsitter_generations", "role=\"draining\"") == "0";
	}, DEADLINE_MS));
	send_signal(w.pid, SIGHUP);
	m = wait_for("failed", [](const std::string &t) {
		return value(t, "pidsitter_upgrades_total", "result=\"failed\"") == "1";
	});
	CHECK(state_of(m) == "running");
	CHECK(number(m, "pidsitter_upgrades_total", "result=\"succeeded\"") == 1);
	CHECK(number(m, "pidsitter_upgrades_total", "result=\"refused\"") == 1);
	CHECK(number(m, "pidsitter_signals_forwarded_total", "signal=\"HUP\"") == 3);
	CHECK(number(m, "pidsitter_daemon_pid") == d2);

	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, DEADLINE_MS));
	m = read_file(metrics);
	CHECK(number(m, "pidsitter_up") == 0);
	CHECK(number(m, "pidsitter_upgrades_total", "result=\"failed\"") == 1);
}

TEST_CASE("metrics file: by default the daemon label is the binary's name")
{
	scene sc;
	std::string metrics = sc.dir / "gitaly.prom";

	sc.config("metrics_file = \"" + metrics + "\"\n");
	child w;
	pid_t d = start_monitored(sc, &w, sc.configured(), DEADLINE_MS, clean_env);
	INFO(child_dump(&w));
	std::string want = "\npidsitter_daemon_pid{daemon=\"gitaly\"} " + std::to_string(d) + "\n";
	REQUIRE(wait_until([&] { return read_file(metrics).find(want) != std::string::npos; },
	    DEADLINE_MS));
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, DEADLINE_MS));
	CHECK(read_file(metrics).find("\npidsitter_up{daemon=\"gitaly\"} 0\n") != std::string::npos);
}

TEST_CASE("metrics file: the log lines dropped while the log's reader is stuck are counted, as the log's note says")
{
	scene sc;
	std::string metrics = sc.dir / "gitaly.prom";
	std::vector<std::string> copies;

	sc.config("metrics_file = \"" + metrics + "\"\n" + LABELS_TOML);
	child w;
	child_start(&w, sc.configured({"--exit-code", "9"}), clean_env);
	pid_t d1 = sc.ready(DEADLINE_MS);
	REQUIRE(d1 > 0);
	wait_metrics(&w, sc.dir, metrics, "running",
	    [](const std::string &t) { return state_of(t) == "running"; }, &copies);

	/* From here nothing reads the log until the end: real-time signals
	 * queue, each is forwarded and logged, and 1500 lines of some 130
	 * bytes are far more than a pipe holds. */
	send_rt_flood(sc, &w, d1, SIGRTMIN + 5, 1500, DEADLINE_MS);
	REQUIRE(wait_until([&] {
		std::string t = read_file(metrics);
		return whole(t) && value(t, "pidsitter_signals_forwarded_total",
		    "signal=\"RTMIN+5\"") == "1500";
	}, DEADLINE_MS));
	std::string m = read_file(metrics);
	CHECK(promtool(sc.dir, m, 1) == "");
	long long stuck = number(m, "pidsitter_log_lines_dropped_total");
	CHECK(stuck > 500);

	/* The reader comes back and empties the pipe; the next line says
	 * how many it missed, and the file, rewritten for that signal, says
	 * the same in all. */
	char buf[65536];
	ssize_t n;
	while ((n = read(w.out_fd, buf, sizeof buf)) > 0)
		w.out.append(buf, (size_t)n);
	send_signal(w.pid, SIGUSR2);
	REQUIRE(wait_log(&w, {"signal=SIGUSR2"}, DEADLINE_MS));
	m = wait_metrics(&w, sc.dir, metrics, "after the log drained", [](const std::string &t) {
		return value(t, "pidsitter_signals_forwarded_total", "signal=\"USR2\"") == "1";
	}, &copies);
	long long noted = 0;
	for (const std::string &line : lines_with(w.out, {"msg=\"log lines dropped: the log pipe was full\""}))
		noted += line_field(line, "dropped");
	CHECK(noted >= stuck);
	CHECK(number(m, "pidsitter_log_lines_dropped_total") == noted);

	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, DEADLINE_MS));
	CHECK(child_code(&w) == 9);
	CHECK(number(read_file(metrics), "pidsitter_log_lines_dropped_total") == noted);
}
