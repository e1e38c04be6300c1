/*
 * metrics_test.cc: the metrics file's text (metrics.cc), its label rules,
 * and the reporter's counters written through a real file (report.cc).
 */
#include <doctest/doctest.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <string>

#include <uv.h>

#include "metrics.h"
#include "report.h"
#include "sitter.h"
#include "sitter_event.h"

namespace {

struct metrics_state
some_state(void)
{
	struct metrics_state m;

	memset(&m, 0, sizeof m);
	m.up = true;
	m.phase = "running";
	m.generation = 2;
	m.pid = 4242;
	m.daemon_start_time = 1796221770.29;
	m.current = 1;
	m.draining = 1;
	m.upgrades[UPGRADE_SUCCEEDED] = 1;
	m.upgrades[UPGRADE_REFUSED] = 3;
	m.signals[SIGHUP] = 1;
	m.signals[SIGRTMIN + 1] = 7;
	m.log_lines_dropped = 12;
	m.last_upgrade_time = 1796221771.5;
	m.daemon_exit_code = -1;
	m.exit_code = -1;
	m.start_time = 1796221760.125;
	return m;
}

/* The lines of text that start with prefix, each with its newline. */
std::string
lines_starting(const std::string &text, const std::string &prefix)
{
	std::string out;
	for (size_t at = 0, nl; (nl = text.find('\n', at)) != std::string::npos; at = nl + 1)
		if (text.compare(at, prefix.size(), prefix) == 0)
			out += text.substr(at, nl + 1 - at);
	return out;
}

/* The format's grammar as far as these files use it: every family has a
 * HELP line, then a TYPE line, then only its own samples; no family twice;
 * every line ends in a newline.  Returns "" or what is wrong. */
std::string
well_formed(const std::string &text)
{
	std::set<std::string> seen;
	std::string family, helped;

	if (text.empty() || text.back() != '\n')
		return "does not end in a newline";
	for (size_t at = 0, nl; (nl = text.find('\n', at)) != std::string::npos; at = nl + 1) {
		std::string line = text.substr(at, nl - at);
		if (line.compare(0, 7, "# HELP ") == 0) {
			helped = line.substr(7, line.find(' ', 7) - 7);
			if (!seen.insert(helped).second)
				return "family twice: " + line;
			continue;
		}
		if (line.compare(0, 7, "# TYPE ") == 0) {
			family = line.substr(7, line.find(' ', 7) - 7);
			if (family != helped)
				return "TYPE without its HELP: " + line;
			std::string type = line.substr(8 + family.size());
			if (type != "gauge" && type != "counter")
				return "unexpected type: " + line;
			if (type == "counter" && family.size() < 6)
				return "short counter: " + line;
			if (type == "counter" && family.compare(family.size() - 6, 6, "_total") != 0)
				return "a counter without _total: " + line;
			continue;
		}
		std::string name = line.substr(0, line.find_first_of("{ "));
		if (name != family)
			return "sample outside its family: " + line;
	}
	return "";
}

std::string
slurp(const std::string &path)
{
	std::string out;
	char buf[4096];
	FILE *f = fopen(path.c_str(), "r");
	size_t n;

	if (f == NULL)
		return "";
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		out.append(buf, n);
	fclose(f);
	return out;
}

/* A reporter with a metrics file in a temporary directory, labelled
 * daemon="gitaly", and the sitter it reads. */
struct reporting {
	char tmpl[32] = "/tmp/pidsitter-metrics-XXXXXX";
	std::string dir, path;
	struct settings s;
	struct reporter r;
	struct sitter st;
	std::vector<struct action> acts;

	reporting()
	{
		REQUIRE(mkdtemp(tmpl) != NULL);
		dir = tmpl;
		path = dir + "/pidsitter.prom";
		settings_defaults(&s);
		s.pid_file = "/x.pid";
		s.metrics_file = path;
		s.metrics_labels = {{"daemon", "gitaly"}};
		sitter_init(&st, &s);
		report_init(&r, &s, NULL);
	}
	~reporting()
	{
		unlink(path.c_str());
		rmdir(dir.c_str());
	}
	/* Apply ev to the sitter, then report_sync. */
	void step(struct event ev)
	{
		acts.clear();
		sitter_step(&st, &ev, &acts);
		report_sync(&r, &st);
	}
	/* Does the file hold this line? */
	bool has(const std::string &line) const
	{
		return slurp(path).find("\n" + line + "\n") != std::string::npos;
	}
};

}  // namespace

TEST_CASE("metrics: label values are quoted as the text format wants: backslash, quote, newline")
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"gitaly", "\"gitaly\""},
		{"a\\b", "\"a\\\\b\""},
		{"say \"hi\"", "\"say \\\"hi\\\"\""},
		{"two\nlines", "\"two\\nlines\""},
		{"\\\"\n", "\"\\\\\\\"\\n\""},
		{"tab\tand caf\xc3\xa9", "\"tab\tand caf\xc3\xa9\""},
		{"", "\"\""},
	};
	for (const auto &c : cases) {
		std::string out;
		CAPTURE(c.in);
		metrics_quote(&out, c.in);
		CHECK(out == c.out);
	}
}

TEST_CASE("metrics: every sample carries the daemon's labels, first, escaped")
{
	struct metrics_state m = some_state();
	std::string text = metrics_format(&m, {{"daemon", "git\\aly"}, {"env", "a \"b\"\nc"}});
	const std::string labels = "daemon=\"git\\\\aly\",env=\"a \\\"b\\\"\\nc\"";

	CAPTURE(text);
	CHECK(well_formed(text) == "");
	CHECK(lines_starting(text, "pidsitter_up{") == "pidsitter_up{" + labels + "} 1\n");
	CHECK(lines_starting(text, "pidsitter_generations{") ==
	    "pidsitter_generations{" + labels + ",role=\"current\"} 1\n"
	    "pidsitter_generations{" + labels + ",role=\"draining\"} 1\n"
	    "pidsitter_generations{" + labels + ",role=\"orphan\"} 0\n");
	/* Each sample line has the labels, whatever its metric. */
	for (size_t at = 0, nl; (nl = text.find('\n', at)) != std::string::npos; at = nl + 1) {
		std::string line = text.substr(at, nl - at);
		if (line[0] == '#')
			continue;
		CAPTURE(line);
		CHECK(line.find("{" + labels) != std::string::npos);
	}

	/* No labels at all: no braces where none are left. */
	text = metrics_format(&m, {});
	CHECK(well_formed(text) == "");
	CHECK(lines_starting(text, "pidsitter_up ") == "pidsitter_up 1\n");
	CHECK(lines_starting(text, "pidsitter_info") == "pidsitter_info{version=\"" PIDSITTER_VERSION
	    "\"} 1\n");
}

TEST_CASE("metrics: the values, in a running state and once exited")
{
	struct metrics_state m = some_state();
	std::string text = metrics_format(&m, {{"daemon", "gitaly"}});

	CAPTURE(text);
	CHECK(well_formed(text) == "");
	CHECK(lines_starting(text, "pidsitter_state{") ==
	    "pidsitter_state{daemon=\"gitaly\",state=\"starting\"} 0\n"
	    "pidsitter_state{daemon=\"gitaly\",state=\"running\"} 1\n"
	    "pidsitter_state{daemon=\"gitaly\",state=\"upgrading\"} 0\n"
	    "pidsitter_state{daemon=\"gitaly\",state=\"stopping\"} 0\n"
	    "pidsitter_state{daemon=\"gitaly\",state=\"exited\"} 0\n");
	CHECK(lines_starting(text, "pidsitter_generation{") ==
	    "pidsitter_generation{daemon=\"gitaly\"} 2\n");
	CHECK(lines_starting(text, "pidsitter_daemon_pid{") ==
	    "pidsitter_daemon_pid{daemon=\"gitaly\"} 4242\n");
	CHECK(lines_starting(text, "pidsitter_daemon_start_time_seconds{") ==
	    "pidsitter_daemon_start_time_seconds{daemon=\"gitaly\"} 1796221770.290\n");
	CHECK(lines_starting(text, "pidsitter_upgrades_total{") ==
	    "pidsitter_upgrades_total{daemon=\"gitaly\",result=\"succeeded\"} 1\n"
	    "pidsitter_upgrades_total{daemon=\"gitaly\",result=\"failed\"} 0\n"
	    "pidsitter_upgrades_total{daemon=\"gitaly\",result=\"refused\"} 3\n");
	CHECK(lines_starting(text, "pidsitter_last_upgrade_time_seconds{") ==
	    "pidsitter_last_upgrade_time_seconds{daemon=\"gitaly\"} 1796221771.500\n");
	/* Only the signals forwarded, in signal order, named as the
	 * configuration names them. */
	CHECK(lines_starting(text, "pidsitter_signals_forwarded_total{") ==
	    "pidsitter_signals_forwarded_total{daemon=\"gitaly\",signal=\"HUP\"} 1\n"
	    "pidsitter_signals_forwarded_total{daemon=\"gitaly\",signal=\"RTMIN+1\"} 7\n");
	CHECK(lines_starting(text, "pidsitter_log_lines_dropped_total{") ==
	    "pidsitter_log_lines_dropped_total{daemon=\"gitaly\"} 12\n");
	CHECK(lines_starting(text, "pidsitter_daemon_last_exit_code{") == "");
	CHECK(lines_starting(text, "pidsitter_exit_code{") == "");
	CHECK(lines_starting(text, "pidsitter_start_time_seconds{") ==
	    "pidsitter_start_time_seconds{daemon=\"gitaly\"} 1796221760.125\n");
	/* Every family has its HELP and TYPE, with or without samples. */
	CHECK(lines_starting(text, "# TYPE ") ==
	    "# TYPE pidsitter_up gauge\n"
	    "# TYPE pidsitter_state gauge\n"
	    "# TYPE pidsitter_generation gauge\n"
	    "# TYPE pidsitter_daemon_pid gauge\n"
	    "# TYPE pidsitter_daemon_start_time_seconds gauge\n"
	    "# TYPE pidsitter_generations gauge\n"
	    "# TYPE pidsitter_upgrades_total counter\n"
	    "# TYPE pidsitter_last_upgrade_time_seconds gauge\n"
	    "# TYPE pidsitter_signals_forwarded_total counter\n"
	    "# TYPE pidsitter_log_lines_dropped_total counter\n"
	    "# TYPE pidsitter_daemon_last_exit_code gauge\n"
	    "# TYPE pidsitter_exit_code gauge\n"
	    "# TYPE pidsitter_start_time_seconds gauge\n"
	    "# TYPE pidsitter_info gauge\n");

	/* Exited: down, no current generation, the codes. */
	m.up = false;
	m.phase = "exited";
	m.generation = 0;
	m.pid = 0;
	m.current = m.draining = 0;
	m.daemon_exit_code = 143;
	m.exit_code = 143;
	text = metrics_format(&m, {{"daemon", "gitaly"}});
	CHECK(well_formed(text) == "");
	CHECK(lines_starting(text, "pidsitter_up{") == "pidsitter_up{daemon=\"gitaly\"} 0\n");
	CHECK(lines_starting(text, "pidsitter_state{daemon=\"gitaly\",state=\"exited\"}") ==
	    "pidsitter_state{daemon=\"gitaly\",state=\"exited\"} 1\n");
	CHECK(lines_starting(text, "pidsitter_generation{") == "");
	CHECK(lines_starting(text, "pidsitter_daemon_pid{") == "");
	CHECK(lines_starting(text, "pidsitter_daemon_start_time_seconds{") == "");
	CHECK(lines_starting(text, "pidsitter_daemon_last_exit_code{") ==
	    "pidsitter_daemon_last_exit_code{daemon=\"gitaly\"} 143\n");
	CHECK(lines_starting(text, "pidsitter_exit_code{") ==
	    "pidsitter_exit_code{daemon=\"gitaly\"} 143\n");
	CHECK(lines_starting(text, "# HELP pidsitter_generation ") != "");
}

TEST_CASE("metrics: label names and values, as Prometheus takes them")
{
	static const struct {
		const char *name;
		bool ok;
	} names[] = {
		{"daemon", true}, {"_x", true}, {"Host_2", true}, {"a1", true},
		{"", false}, {"1a", false}, {"a-b", false}, {"a.b", false}, {"caf\xc3\xa9", false},
		{"a b", false}, {"__name__", false}, {"__x", false},
		{"state", false}, {"role", false}, {"result", false}, {"signal", false},
		{"version", false},
	};
	for (const auto &n : names) {
		CAPTURE(n.name);
		CHECK((metrics_label_name_refusal(n.name) == NULL) == n.ok);
	}
	static const struct {
		const char *value;
		bool ok;
	} values[] = {
		{"gitaly", true}, {"caf\xc3\xa9", true}, {"a\"b\\c\nd", true}, {"\xf0\x9f\x98\x80", true},
		{"", false}, {"\xff", false}, {"\xc3", false}, {"\xc0\xaf", false},
		{"\xed\xa0\x80", false}, {"\xf4\x90\x80\x80", false}, {"\xe0\x80\xaf", false},
	};
	for (const auto &v : values) {
		CAPTURE(v.value);
		CHECK((metrics_label_value_refusal(v.value) == NULL) == v.ok);
	}
}

TEST_CASE("report: the metrics file follows the sitter; counters only grow; rewritten only on a change")
{
	reporting t;
	struct reporter &r = t.r;
	struct sitter &st = t.st;
	const std::string &path = t.path;
	struct stat sb;
	auto step = [&](struct event ev) { t.step(ev); };
	auto has = [&](const std::string &line) { return t.has(line); };

	/* Spawned: current, but no pid file has named it yet. */
	step(sitter_event(EV_FOUND, 4242, 500, FOUND_SPAWNED));
	CAPTURE(slurp(path));
	CHECK(well_formed(slurp(path)) == "");
	CHECK(has("pidsitter_state{daemon=\"gitaly\",state=\"starting\"} 1"));
	CHECK(has("pidsitter_up{daemon=\"gitaly\"} 1"));
	CHECK(has("pidsitter_generation{daemon=\"gitaly\"} 1"));
	CHECK(has("pidsitter_daemon_pid{daemon=\"gitaly\"} 4242"));
	step(sitter_event(EV_FOUND, 4242, 500, FOUND_PIDFILE));
	CHECK(has("pidsitter_state{daemon=\"gitaly\",state=\"running\"} 1"));

	/* Nothing changed: the file is not written again. */
	REQUIRE(stat(path.c_str(), &sb) == 0);
	ino_t before = sb.st_ino;
	report_sync(&r, &st);
	REQUIRE(stat(path.c_str(), &sb) == 0);
	CHECK(sb.st_ino == before);

	report_signal(&r, SIGUSR1);
	report_signal(&r, SIGUSR1);
	report_upgrade_refused(&r);
	report_sync(&r, &st);
	CHECK(has("pidsitter_signals_forwarded_total{daemon=\"gitaly\",signal=\"USR1\"} 2"));
	CHECK(has("pidsitter_upgrades_total{daemon=\"gitaly\",result=\"refused\"} 1"));
	report_upgrade_end(&r, &st, "failed");
	report_upgrade_end(&r, &st, "complete");
	CHECK(has("pidsitter_upgrades_total{daemon=\"gitaly\",result=\"succeeded\"} 1"));
	CHECK(has("pidsitter_upgrades_total{daemon=\"gitaly\",result=\"failed\"} 1"));
	CHECK(slurp(path).find("\npidsitter_last_upgrade_time_seconds{daemon=\"gitaly\"} ") !=
	    std::string::npos);

	/* Its death: the wrapper exits with its code, and says it is down. */
	step(sitter_exit_event(1, 9, STATUS_CHILD, 0));
	report_exit(&r, &st, 137);
	CHECK(well_formed(slurp(path)) == "");
	CHECK(has("pidsitter_up{daemon=\"gitaly\"} 0"));
	CHECK(has("pidsitter_state{daemon=\"gitaly\",state=\"exited\"} 1"));
	CHECK(has("pidsitter_daemon_last_exit_code{daemon=\"gitaly\"} 137"));
	CHECK(has("pidsitter_exit_code{daemon=\"gitaly\"} 137"));
	CHECK(has("pidsitter_signals_forwarded_total{daemon=\"gitaly\",signal=\"USR1\"} 2"));
	CHECK(has("pidsitter_generations{daemon=\"gitaly\",role=\"current\"} 0"));
	CHECK(slurp(path).find("pidsitter_generation{") == std::string::npos);
}

TEST_CASE("report: with a loop, a burst of events is one write of the metrics file, before the loop waits again")
{
	reporting t;
	struct reporter &r = t.r;
	struct sitter &st = t.st;
	const std::string &path = t.path;
	struct stat sb;
	uv_loop_t loop;

	REQUIRE(uv_loop_init(&loop) == 0);
	report_attach_loop(&r, &loop);
	/* Its handle never keeps a loop alive; a wrapper's signal handles
	 * do, which this timer stands for. */
	CHECK(uv_loop_alive(&loop) == 0);
	uv_timer_t alive;
	uv_timer_init(&loop, &alive);
	uv_timer_start(&alive, [](uv_timer_t *) {}, 3600 * 1000, 0);

	t.step(sitter_event(EV_FOUND, 4242, 500, FOUND_PIDFILE));
	/* Due, not written yet; the loop's next turn writes it. */
	CHECK(stat(path.c_str(), &sb) != 0);
	uv_run(&loop, UV_RUN_NOWAIT);
	REQUIRE(stat(path.c_str(), &sb) == 0);
	ino_t first = sb.st_ino;
	CHECK(slurp(path).find("\npidsitter_state{daemon=\"gitaly\",state=\"running\"} 1\n") !=
	    std::string::npos);

	/* A hundred signals forwarded within one turn: one write. */
	for (int i = 0; i < 100; i++) {
		report_signal(&r, SIGUSR1);
		report_sync(&r, &st);
	}
	REQUIRE(stat(path.c_str(), &sb) == 0);
	CHECK(sb.st_ino == first);
	uv_run(&loop, UV_RUN_NOWAIT);
	REQUIRE(stat(path.c_str(), &sb) == 0);
	CHECK(sb.st_ino != first);
	CHECK(slurp(path).find("\npidsitter_signals_forwarded_total{daemon=\"gitaly\",signal=\"USR1\"} 100\n") !=
	    std::string::npos);

	/* The exit is written at once: the loop will not turn again. */
	report_signal(&r, SIGTERM);
	report_sync(&r, &st);
	struct event ev = sitter_exit_event(1, 0, STATUS_CHILD, 0);
	t.acts.clear();
	sitter_step(&st, &ev, &t.acts);
	report_exit(&r, &st, 0);
	CHECK(slurp(path).find("\npidsitter_signals_forwarded_total{daemon=\"gitaly\",signal=\"TERM\"} 1\n") !=
	    std::string::npos);
	CHECK(slurp(path).find("\npidsitter_exit_code{daemon=\"gitaly\"} 0\n") != std::string::npos);

	uv_close((uv_handle_t *)&r.metrics_idle, NULL);
	uv_close((uv_handle_t *)&alive, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(uv_loop_close(&loop) == 0);
}
