/*
 * config_test.cc: the TOML file into struct settings (config.cc).
 *
 * One line per bad input with the exact message, then every key's good
 * values, then the files on disk (examples/, and the ones that must be
 * refused).  The tests run from the top of the repository.
 */
#include <doctest/doctest.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "config.h"
#include "options.h"
#include "signals.h"

/* Parse text over the defaults; returns config_parse's result. */
static int
parse(const std::string &text, struct settings *s, std::string *err)
{
	settings_defaults(s);
	return config_parse(text.data(), text.size(), "t.toml", s, err);
}

static std::string
error_of(const std::string &text)
{
	struct settings s;
	std::string err;

	if (parse(text, &s, &err) != -EINVAL)
		return "(accepted)";
	return err;
}

static bool
same_settings(const struct settings &a, const struct settings &b)
{
	return a.pid_file == b.pid_file && a.log_format == b.log_format &&
	    a.poll_interval_ms == b.poll_interval_ms &&
	    a.start_timeout_ms == b.start_timeout_ms &&
	    a.reap_timeout_ms == b.reap_timeout_ms &&
	    a.status_file == b.status_file && a.names == b.names &&
	    a.match_facts == b.match_facts && a.owner_any == b.owner_any &&
	    a.owner == b.owner && a.env == b.env && a.workdir == b.workdir &&
	    memcmp(&a.sig, &b.sig, sizeof a.sig) == 0 && a.recipe == b.recipe &&
	    a.upgrade_signal == b.upgrade_signal &&
	    a.upgrade_timeout_ms == b.upgrade_timeout_ms &&
	    a.stop_timeout_ms == b.stop_timeout_ms && a.descendants == b.descendants &&
	    a.metrics_file == b.metrics_file && a.metrics_labels == b.metrics_labels;
}

/* Every rule, one line each: the input and the whole message. */
static const struct {
	const char *text;
	const char *msg;
} bad[] = {
	/* Not TOML at all. */
	{"pid_file = ", "t.toml:1:12: Error while parsing key-value pair: encountered end-of-file"},
	{"pid_file = \"a\"\npid_file = \"b\"", "t.toml:2:12: Error while parsing key-value pair: cannot redefine existing string 'pid_file'"},
	{"names = [\"a\",", "t.toml:1:14: Error while parsing array: encountered end-of-file"},
	{"[=", "t.toml:1:2: Error while parsing key: expected bare key starting character or string delimiter, saw '='"},
	{"[[[gitaly]]]", "t.toml:1:3: Error while parsing key: expected bare key starting character or string delimiter, saw '['"},
	/* toml++ 3.3.0 reached __builtin_unreachable on these (config.cc). */
	{"pid_file \xc3\xa9= 1", "t.toml:1:10: Error while parsing key-value pair: expected '=', saw '\\xc3\\xa9'"},
	{"pid_file\xef\xbb\xb7", "t.toml:1:9: Error while parsing key-value pair: expected '=', saw '\\xef\\xbb\\xb7'"},
	{"a = 1\xe3\x80\x81", "t.toml:1:6: Error while parsing decimal integer: expected digit, saw '\\xe3\\x80\\x81'"},
	{"pid_file = \"\xff\"", "t.toml:1:12: Encountered invalid utf-8 sequence"},

	/* Unknown keys, with a suggestion when one is close. */
	{"pidfile = \"x\"", "t.toml:1:1: unknown key 'pidfile' (did you mean 'pid_file'?)"},
	{"pid-file = \"x\"", "t.toml:1:1: unknown key 'pid-file' (did you mean 'pid_file'?)"},
	{"Stop_Signal = []", "t.toml:1:1: unknown key 'Stop_Signal' (did you mean 'stop_signals'?)"},
	{"binary = \"gitaly\"", "t.toml:1:1: unknown key 'binary'"},
	{"\n[gitaly]\npid_file = \"x\"", "t.toml:2:2: unknown key 'gitaly'"},
	{"\"a\\nb\" = 1", "t.toml:1:1: unknown key 'a\\x0ab'"},

	/* Wrong types. */
	{"pid_file = 1", "t.toml:1:12: pid_file must be a string, not an integer"},
	{"pid_file = [\"x\"]", "t.toml:1:12: pid_file must be a string, not an array"},
	{"pid_file.x = \"y\"", "t.toml:1:1: pid_file must be a string, not a table"},
	{"status_file = true", "t.toml:1:15: status_file must be a string, not a boolean"},
	{"workdir = 1.5", "t.toml:1:11: workdir must be a string, not a float"},
	{"log_format = 1979-05-27", "t.toml:1:14: log_format must be a string, not a date"},
	{"names = \"gitaly\"", "t.toml:1:9: names must be an array, not a string"},
	{"names = [\"a\", 2]", "t.toml:1:15: names[1] must be a string, not an integer"},
	{"match = \"comm\"", "t.toml:1:9: match must be an array, not a string"},
	{"owner = 1.0", "t.toml:1:9: owner must be a string or an integer, not a float"},
	{"env = [\"A=B\"]", "t.toml:1:7: env must be a table, not an array (such as env = { NAME = \"value\" })"},
	{"env = { A = 1 }", "t.toml:1:13: env.A must be a string, not an integer"},
	{"metrics_file = 1", "t.toml:1:16: metrics_file must be a string, not an integer"},

	/* metrics_labels: Prometheus's label names and values. */
	{"metrics_labels = \"gitaly\"", "t.toml:1:18: metrics_labels must be a table, not a string (such as metrics_labels = { daemon = \"gitaly\" })"},
	{"metrics_labels = {}", "t.toml:1:18: metrics_labels must not be empty (leave it out for daemon = the basename of the binary)"},
	{"metrics_labels = { daemon = 1 }", "t.toml:1:29: metrics_labels.daemon must be a string, not an integer"},
	{"metrics_labels = { daemon = \"\" }", "t.toml:1:29: metrics_labels.daemon: invalid label value '': an empty label value is the same as no label to Prometheus"},
	{"metrics_labels = { daemon = \"\\u0000\" }", "t.toml:1:29: metrics_labels.daemon must not contain a NUL byte"},
	{"metrics_labels = { daemon = \"a\", \"2x\" = \"b\" }", "t.toml:1:34: metrics_labels: invalid label name '2x': a label name is letters, digits and '_', not starting with a digit"},
	{"[metrics_labels]\n\"a-b\" = \"c\"", "t.toml:2:1: metrics_labels: invalid label name 'a-b': a label name is letters, digits and '_', not starting with a digit"},
	{"metrics_labels = { __name__ = \"x\" }", "t.toml:1:20: metrics_labels: invalid label name '__name__': names starting with \"__\" are reserved for Prometheus's own use"},
	{"metrics_labels = { role = \"x\" }", "t.toml:1:20: metrics_labels: invalid label name 'role': pidsitter's own metrics use that label"},
	{"metrics_labels = { \"\" = \"x\" }", "t.toml:1:20: metrics_labels: invalid label name '': a label name must not be empty"},
	{"signals_to_all = \"TERM\"", "t.toml:1:18: signals_to_all must be an array, not a string"},
	{"signal_rewrite = [\"TERM\"]", "t.toml:1:18: signal_rewrite must be a table, not an array (such as signal_rewrite = { TERM = \"QUIT\" })"},
	{"upgrade_recipe = false", "t.toml:1:18: upgrade_recipe must be a string, not a boolean"},
	{"upgrade_signal = 1", "t.toml:1:18: upgrade_signal must be a signal name such as \"TERM\", not an integer (signal numbers differ between architectures)"},
	{"upgrade_signal = [\"HUP\"]", "t.toml:1:18: upgrade_signal must be a signal name such as \"TERM\", not an array"},

	/* Empty and NUL. */
	{"pid_file = \"\"", "t.toml:1:12: pid_file must not be empty"},
	{"pid_file = \"a\\u0000b\"", "t.toml:1:12: pid_file must not contain a NUL byte"},
	{"workdir = \"\\u0000\"", "t.toml:1:11: workdir must not contain a NUL byte"},
	{"env = { A = \"\\u0000\" }", "t.toml:1:13: env.A must not contain a NUL byte"},
	{"names = [\"a\\u0000\"]", "t.toml:1:10: names[0] must not contain a NUL byte"},
	{"upgrade_signal = \"HUP\\u0000\"", "t.toml:1:18: upgrade_signal must not contain a NUL byte"},
	{"owner = \"\"", "t.toml:1:9: owner must not be empty"},

	/* Durations. */
	{"poll_interval = 5", "t.toml:1:17: poll_interval must be a string holding a duration such as \"2s\", not an integer"},
	{"poll_interval = \"0\"", "t.toml:1:17: poll_interval must be at least 1ms"},
	{"poll_interval = \"0s\"", "t.toml:1:17: poll_interval must be at least 1ms"},
	{"poll_interval = \"0.1ms\"", "t.toml:1:17: poll_interval must be at least 1ms"},
	{"poll_interval = \"5\"", "t.toml:1:17: poll_interval: invalid duration '5' (numbers with a unit: ms, s, m or h, such as \"500ms\", \"2s\" or \"1m30s\")"},
	{"start_timeout = \"1e3s\"", "t.toml:1:17: start_timeout: invalid duration '1e3s' (numbers with a unit: ms, s, m or h, such as \"500ms\", \"2s\" or \"1m30s\")"},
	{"start_timeout = \"-1s\"", "t.toml:1:17: start_timeout: invalid duration '-1s' (numbers with a unit: ms, s, m or h, such as \"500ms\", \"2s\" or \"1m30s\")"},
	{"reap_timeout = \"0s\"", "t.toml:1:16: reap_timeout must be at least 1ms"},
	{"reap_timeout = true", "t.toml:1:16: reap_timeout must be a string holding a duration such as \"2s\", not a boolean"},
	{"upgrade_timeout = \"10 s\"", "t.toml:1:19: upgrade_timeout: invalid duration '10 s' (numbers with a unit: ms, s, m or h, such as \"500ms\", \"2s\" or \"1m30s\")"},
	{"upgrade_timeout = \"1d\"", "t.toml:1:19: upgrade_timeout: invalid duration '1d' (numbers with a unit: ms, s, m or h, such as \"500ms\", \"2s\" or \"1m30s\")"},
	{"upgrade_timeout = \".s\"", "t.toml:1:19: upgrade_timeout: invalid duration '.s' (numbers with a unit: ms, s, m or h, such as \"500ms\", \"2s\" or \"1m30s\")"},
	{"upgrade_timeout = \"99999999999h\"", "t.toml:1:19: upgrade_timeout: invalid duration '99999999999h' (numbers with a unit: ms, s, m or h, such as \"500ms\", \"2s\" or \"1m30s\")"},
	{"upgrade_timeout = \"\"", "t.toml:1:19: upgrade_timeout must not be empty"},
	{"stop_timeout = 0", "t.toml:1:16: stop_timeout must be a string holding a duration such as \"2s\", not an integer"},
	{"stop_timeout = \"0.1ms\"", "t.toml:1:16: stop_timeout must be at least 1ms"},
	{"stop_timeout = \"-1s\"", "t.toml:1:16: stop_timeout: invalid duration '-1s' (numbers with a unit: ms, s, m or h, such as \"500ms\", \"2s\" or \"1m30s\")"},
	{"stop_timeout = \"0\\u0000\"", "t.toml:1:16: stop_timeout must not contain a NUL byte"},

	/* Enumerations. */
	{"log_format = \"xml\"", "t.toml:1:14: unknown log_format 'xml' (\"text\" or \"json\")"},
	{"descendants = \"kill\"", "t.toml:1:15: unknown descendants 'kill' (\"leave\" or \"stop\")"},
	{"descendants = true", "t.toml:1:15: descendants must be a string, not a boolean"},
	{"log_format = \"JSON\"", "t.toml:1:14: unknown log_format 'JSON' (\"text\" or \"json\")"},
	{"upgrade_recipe = \"usr2\"", "t.toml:1:18: unknown upgrade_recipe 'usr2' (\"tableflip\", \"nginx\", \"unicorn\" or \"gunicorn\")"},
	{"match = [\"comm\", \"pid\"]", "t.toml:1:18: match[1]: unknown match fact 'pid' (\"comm\", \"exe\" or \"argv0\")"},
	{"match = []", "t.toml:1:9: match must not be empty (\"comm\", \"exe\", \"argv0\")"},

	/* Names. */
	{"names = []", "t.toml:1:9: names must not be empty (leave it out for the basename of the binary)"},
	{"names = [\"gitaly\", \"\"]", "t.toml:1:20: names[1] must not be empty"},
	{"names = [\"/opt/gitlab/embedded/bin/gitaly\"]", "t.toml:1:10: names[0]: '/opt/gitlab/embedded/bin/gitaly' holds a '/'; names are compared with basenames, write 'gitaly'"},

	/* Owner. */
	{"owner = \"no-such-user-here\"", "t.toml:1:9: owner: unknown user 'no-such-user-here' (a user name from /etc/passwd, a uid, or \"any\")"},
	{"owner = -1", "t.toml:1:9: owner: uid -1 is out of range (0 to 4294967294)"},
	{"owner = 4294967295", "t.toml:1:9: owner: uid 4294967295 is out of range (0 to 4294967294)"},
	{"owner = \"4294967295\"", "t.toml:1:9: owner: uid 4294967295 is out of range (0 to 4294967294)"},
	{"owner = \"ANY\"", "t.toml:1:9: owner: unknown user 'ANY' (a user name from /etc/passwd, a uid, or \"any\")"},

	/* Environment. */
	{"env = { \"A=B\" = \"x\" }", "t.toml:1:9: env: invalid variable name 'A=B' (it must not be empty, nor hold '=' or a NUL byte)"},
	{"env = { \"\" = \"x\" }", "t.toml:1:9: env: invalid variable name '' (it must not be empty, nor hold '=' or a NUL byte)"},
	{"env = { \"A\\u0000\" = \"x\" }", "t.toml:1:9: env: invalid variable name 'A\\x00' (it must not be empty, nor hold '=' or a NUL byte)"},
	{"[env]\nOK = \"1\"\nB.C = \"2\"", "t.toml:3:1: env.B must be a string, not a table"},

	/* Signal names. */
	{"signals_to_all = [\"TERM\", \"FOO\"]", "t.toml:1:27: signals_to_all[1]: unknown signal 'FOO'"},
	{"signals_to_all = [\"\"]", "t.toml:1:19: signals_to_all[0] must not be empty"},
	{"signals_to_all = [15]", "t.toml:1:19: signals_to_all[0] must be a signal name such as \"TERM\", not an integer (signal numbers differ between architectures)"},
	{"signals_to_all = [\"15\"]", "t.toml:1:19: signals_to_all[0]: '15' is a signal number; write its name, \"TERM\" (numbers differ between architectures)"},
	{"signals_to_all = [\"99\"]", "t.toml:1:19: signals_to_all[0]: '99' is a number, not a signal name"},
	{"signals_to_all = [\"RTMIN+99\"]", "t.toml:1:19: signals_to_all[0]: unknown signal 'RTMIN+99'"},
	{"signals_to_all = [\"KILL\"]", "t.toml:1:19: signals_to_all[0]: KILL cannot be caught, so pidsitter cannot forward it"},
	{"stop_signals = [\"SIGSTOP\"]", "t.toml:1:17: stop_signals[0]: STOP cannot be caught, so pidsitter cannot forward it"},
	{"signals_ignored = [\"CHLD\"]", "t.toml:1:20: signals_ignored[0]: CHLD is pidsitter's own: it reports the state of its children"},
	{"signals_ignored = [\"PIPE\"]", "t.toml:1:20: signals_ignored[0]: PIPE is pidsitter's own: it ignores it, so that a closed log pipe cannot kill it"},
	{"signals_to_all = [\"URG\"]", "t.toml:1:19: signals_to_all[0]: URG is never forwarded: Go runtimes send it to themselves to preempt goroutines"},
	{"signals_to_all = [\"SEGV\"]", "t.toml:1:19: signals_to_all[0]: SEGV is a fault the kernel raises in the faulting process itself, not a request to pass on"},
	{"signals_ignored = [\"ABRT\"]", "t.toml:1:20: signals_ignored[0]: ABRT always reaches every generation and starts the stop (systemd's watchdog signal): it is not configurable"},
	{"signals_to_all = [\"XCPU\"]", "t.toml:1:19: signals_to_all[0]: XCPU is raised by the kernel in a process over its resource limits, not a request to pass on"},
	{"signals_to_all = [\"PROF\"]", "t.toml:1:19: signals_to_all[0]: PROF belongs to the timers or I/O of the process that receives it, not a request to pass on"},
	{"signals_to_all = [\"STKFLT\"]", "t.toml:1:19: signals_to_all[0]: STKFLT is not a signal pidsitter forwards"},
	{"upgrade_signal = \"KILL\"", "t.toml:1:18: upgrade_signal: KILL cannot be caught, so pidsitter cannot forward it"},
	{"upgrade_signal = \"HANGUP\"", "t.toml:1:18: upgrade_signal: unknown signal 'HANGUP'"},
	/* The received signal must be one the wrapper catches; what it sends
	 * instead may also be KILL or STOP, never one of its own or a fault. */
	{"signal_rewrite = { KILL = \"TERM\" }", "t.toml:1:20: signal_rewrite: KILL cannot be caught, so pidsitter cannot forward it"},
	{"signal_rewrite = { TERM = \"CHLD\" }", "t.toml:1:27: signal_rewrite.TERM: CHLD is not a request to pass on to a daemon; a rewrite sends a signal pidsitter forwards, or KILL or STOP"},
	{"signal_rewrite = { TERM = \"SEGV\" }", "t.toml:1:27: signal_rewrite.TERM: SEGV is not a request to pass on to a daemon; a rewrite sends a signal pidsitter forwards, or KILL or STOP"},
	{"signal_rewrite = { TERM = 3 }", "t.toml:1:27: signal_rewrite.TERM must be a signal name such as \"TERM\", not an integer (signal numbers differ between architectures)"},
	{"signal_rewrite = { FOO = \"QUIT\" }", "t.toml:1:20: signal_rewrite: unknown signal 'FOO'"},
	{"signal_rewrite = { 15 = \"QUIT\" }", "t.toml:1:20: signal_rewrite: '15' is a signal number; write its name, \"TERM\" (numbers differ between architectures)"},
	{"signal_rewrite = { TERM = \"QUIT\", SIGTERM = \"INT\" }", "t.toml:1:35: signal_rewrite: TERM is rewritten twice"},

	/* Rules between keys. */
	{"stop_signals = [\"TERM\", \"USR1\"]", "t.toml:1:25: stop_signals: USR1 is not in signals_to_all (a stop signal must reach every generation)"},
	{"signals_to_all = [\"TERM\", \"QUIT\"]", "t.toml:1:18: signals_to_all must hold every stop signal; INT is missing (stop_signals defaults to TERM, INT, QUIT)"},
	{"signals_ignored = [\"WINCH\", \"CONT\"]", "t.toml:1:29: signals_ignored: CONT is also in signals_to_all (by default TERM, INT, QUIT, CONT)"},
	{"signals_ignored = [\"USR1\"]\nsignals_to_all = [\"TERM\", \"INT\", \"QUIT\", \"USR1\"]", "t.toml:1:20: signals_ignored: USR1 is also in signals_to_all"},
	{"signals_ignored = [\"USR1\"]\nsignal_rewrite = { USR1 = \"USR2\" }", "t.toml:2:20: signal_rewrite: USR1 is in signals_ignored, so it is never forwarded"},
	{"upgrade_signal = \"TERM\"", "t.toml:1:18: upgrade_signal: TERM is also in signals_to_all (the upgrade signal goes to the current process only)"},
	{"signals_to_all = [\"TERM\", \"INT\", \"QUIT\", \"HUP\"]", "t.toml:1:42: signals_to_all: HUP is the upgrade_signal (it goes to the current process only)"},

	/* The first error in the file is the one reported, whatever the
	 * order of the keys' names. */
	{"workdir = 1\npid_file = 2", "t.toml:1:11: workdir must be a string, not an integer"},
	{"zzz = 1\naaa = 2", "t.toml:1:1: unknown key 'zzz'"},
};

TEST_CASE("config: each bad input is one message with its line and column")
{
	for (const auto &b : bad) {
		std::string text = b.text;
		CAPTURE(text);
		CHECK(error_of(b.text) == b.msg);
	}
}

TEST_CASE("config: a raw NUL byte is invalid TOML, wherever it is")
{
	struct settings s;
	std::string err;

	CHECK(parse(std::string("pid_file = \"a\0\"", 15), &s, &err) == -EINVAL);
	CHECK(err == "t.toml:1:14: Error while parsing string: unescaped control "
	    "characters other than TAB (U+0009) are explicitly prohibited");
	CHECK(parse(std::string("pid_file\0 = 1", 14), &s, &err) == -EINVAL);
	CHECK(err == "t.toml:1:9: Error while parsing key-value pair: expected '=', "
	    "saw '\\u0000'");
}

TEST_CASE("config: an error leaves the settings untouched")
{
	struct settings s, before;
	std::string err;
	const char text[] = "pid_file = \"/x.pid\"\nlog_format = \"json\"\nnames = [1]\n";

	settings_defaults(&s);
	settings_defaults(&before);
	CHECK(config_parse(text, strlen(text), "t.toml", &s, &err) == -EINVAL);
	CHECK(err == "t.toml:3:10: names[0] must be a string, not an integer");
	CHECK(same_settings(s, before));
}

TEST_CASE("config: absent keys keep what the settings held")
{
	struct settings s, before;
	std::string err;

	settings_defaults(&s);
	s.pid_file = "/from/before.pid";
	s.poll_interval_ms = 1234;
	s.names = {"earlier"};
	before = s;
	CHECK(config_parse("", 0, "t.toml", &s, &err) == 0);
	CHECK(same_settings(s, before));
	CHECK(config_parse("# only a comment\n\n", 18, "t.toml", &s, &err) == 0);
	CHECK(same_settings(s, before));
	CHECK(config_parse(NULL, 0, "t.toml", &s, &err) == 0);
	CHECK(config_parse("log_format = \"json\"", 19, "t.toml", &s, &err) == 0);
	CHECK(s.pid_file == "/from/before.pid");
	CHECK(s.poll_interval_ms == 1234);
	CHECK(s.names == std::vector<std::string>{"earlier"});
	CHECK(s.log_format == LOG_FORMAT_JSON);
}

TEST_CASE("config: strings")
{
	struct settings s;
	std::string err;

	REQUIRE(parse("pid_file = \"/var/opt/gitlab/gitaly/gitaly.pid\"\n"
	    "status_file = '/run/pidsitter/gitaly.json'\n"
	    "workdir = \"/var/opt/gitlab/gitaly\"\n", &s, &err) == 0);
	CHECK(s.pid_file == "/var/opt/gitlab/gitaly/gitaly.pid");
	CHECK(s.status_file == "/run/pidsitter/gitaly.json");
	CHECK(s.workdir == "/var/opt/gitlab/gitaly");

	/* "" is how -n prints "none" for these. */
	REQUIRE(parse("status_file = \"\"\nworkdir = \"\"\nmetrics_file = \"\"", &s, &err) == 0);
	CHECK(s.status_file.empty());
	CHECK(s.workdir.empty());
	CHECK(s.metrics_file.empty());

	/* Labels in the file's order; any UTF-8 value, escaped only when
	 * the file is written. */
	REQUIRE(parse("metrics_file = \"/run/gitaly.prom\"\n[metrics_labels]\nservice = \"gitaly\"\n"
	    "shard = \"caf\u00e9 \\\"1\\\"\\n\"\n_x = \"y\"\n", &s, &err) == 0);
	CHECK(s.metrics_file == "/run/gitaly.prom");
	REQUIRE(s.metrics_labels.size() == 3);
	CHECK(s.metrics_labels[0] == std::make_pair(std::string("service"), std::string("gitaly")));
	CHECK(s.metrics_labels[1] == std::make_pair(std::string("shard"),
	    std::string("caf\xc3\xa9 \"1\"\n")));
	CHECK(s.metrics_labels[2] == std::make_pair(std::string("_x"), std::string("y")));

	/* Relative paths and UTF-8 are kept as written. */
	REQUIRE(parse("pid_file = \"run/d\u00e9mon.pid\"", &s, &err) == 0);
	CHECK(s.pid_file == "run/d\u00e9mon.pid");
}

TEST_CASE("config: durations")
{
	static const struct {
		const char *text;
		uint64_t ms;
	} good[] = {
		{"\"500ms\"", 500}, {"\"2s\"", 2000}, {"\"1m30s\"", 90000},
		{"\"1h\"", 3600000}, {"\"0.5s\"", 500}, {"\".25s\"", 250},
		{"\"1ms\"", 1}, {"\"1h1m1s1ms\"", 3661001}, {"\"1.5m\"", 90000},
	};
	struct settings s;
	std::string err;

	for (const auto &g : good) {
		CAPTURE(g.text);
		REQUIRE(parse(std::string("poll_interval = ") + g.text, &s, &err) == 0);
		CHECK(s.poll_interval_ms == g.ms);
		REQUIRE(parse(std::string("start_timeout = ") + g.text, &s, &err) == 0);
		CHECK(s.start_timeout_ms == g.ms);
		REQUIRE(parse(std::string("reap_timeout = ") + g.text, &s, &err) == 0);
		CHECK(s.reap_timeout_ms == g.ms);
		REQUIRE(parse(std::string("upgrade_timeout = ") + g.text, &s, &err) == 0);
		CHECK(s.upgrade_timeout_ms == g.ms);
	}
}

TEST_CASE("config: log_format and upgrade_recipe")
{
	struct settings s;
	std::string err;

	REQUIRE(parse("log_format = \"json\"", &s, &err) == 0);
	CHECK(s.log_format == LOG_FORMAT_JSON);
	REQUIRE(parse("log_format = \"text\"", &s, &err) == 0);
	CHECK(s.log_format == LOG_FORMAT_TEXT);
	REQUIRE(parse("upgrade_recipe = \"nginx\"", &s, &err) == 0);
	CHECK(s.recipe == RECIPE_NGINX);
	REQUIRE(parse("upgrade_recipe = \"unicorn\"", &s, &err) == 0);
	CHECK(s.recipe == RECIPE_NGINX);
	REQUIRE(parse("upgrade_recipe = \"gunicorn\"", &s, &err) == 0);
	CHECK(s.recipe == RECIPE_GUNICORN);
	REQUIRE(parse("upgrade_recipe = \"tableflip\"", &s, &err) == 0);
	CHECK(s.recipe == RECIPE_TABLEFLIP);
}

TEST_CASE("config: names and match")
{
	struct settings s;
	std::string err;

	REQUIRE(parse("names = [\"gitaly\", \"praefect\"]", &s, &err) == 0);
	CHECK(s.names == std::vector<std::string>{"gitaly", "praefect"});
	/* A name longer than comm's 15 bytes is kept whole: proc.cc compares
	 * it the way the kernel cuts it. */
	REQUIRE(parse("names = [\"a-very-long-daemon-name\"]", &s, &err) == 0);
	CHECK(s.names == std::vector<std::string>{"a-very-long-daemon-name"});

	REQUIRE(parse("match = [\"comm\"]", &s, &err) == 0);
	CHECK(s.match_facts == MATCH_COMM);
	REQUIRE(parse("match = [\"exe\"]", &s, &err) == 0);
	CHECK(s.match_facts == MATCH_EXE);
	REQUIRE(parse("match = [\"argv0\", \"comm\", \"exe\"]", &s, &err) == 0);
	CHECK(s.match_facts == (MATCH_ARGV0 | MATCH_COMM | MATCH_EXE));
	REQUIRE(parse("match = [\"exe\", \"exe\"]", &s, &err) == 0);
	CHECK(s.match_facts == MATCH_EXE);
}

TEST_CASE("config: owner")
{
	struct settings s;
	std::string err;

	REQUIRE(parse("owner = \"root\"", &s, &err) == 0);
	CHECK(s.owner == 0);
	CHECK(!s.owner_any);
	REQUIRE(parse("owner = 998", &s, &err) == 0);
	CHECK(s.owner == 998);
	CHECK(!s.owner_any);
	/* A uid needs no passwd entry (containers often have none). */
	REQUIRE(parse("owner = \"123456\"", &s, &err) == 0);
	CHECK(s.owner == 123456);
	REQUIRE(parse("owner = 0", &s, &err) == 0);
	CHECK(s.owner == 0);
	REQUIRE(parse("owner = \"any\"", &s, &err) == 0);
	CHECK(s.owner_any);
	CHECK(s.owner == (uid_t)-1);

	/* A later owner undoes an earlier "any". */
	settings_defaults(&s);
	s.owner_any = true;
	REQUIRE(config_parse("owner = 7", 9, "t.toml", &s, &err) == 0);
	CHECK(!s.owner_any);
	CHECK(s.owner == 7);
}

TEST_CASE("config: env replaces the default list, in the file's order")
{
	struct settings s;
	std::string err;

	settings_defaults(&s);
	REQUIRE(s.env == std::vector<std::string>{"GITALY_UPGRADES_ENABLED=true"});

	REQUIRE(parse("env = { ZED = \"1\", ALPHA = \"a=b\", EMPTY = \"\" }", &s, &err) == 0);
	CHECK(s.env == std::vector<std::string>{"ZED=1", "ALPHA=a=b", "EMPTY="});

	REQUIRE(parse("env = {}", &s, &err) == 0);
	CHECK(s.env.empty());

	REQUIRE(parse("[env]\nGITALY_UPGRADES_ENABLED = \"true\"\nSSL_CERT_DIR = \"/opt/certs\"\n",
	    &s, &err) == 0);
	CHECK(s.env == std::vector<std::string>{"GITALY_UPGRADES_ENABLED=true",
	    "SSL_CERT_DIR=/opt/certs"});

	/* Names the shell cannot write are still names to execve. */
	REQUIRE(parse("env = { \"my-var.x\" = \"1\" }", &s, &err) == 0);
	CHECK(s.env == std::vector<std::string>{"my-var.x=1"});
}

TEST_CASE("config: signal lists")
{
	struct settings s;
	std::string err;

	REQUIRE(parse("signals_to_all = [\"TERM\", \"SIGINT\", \"quit\", \"CONT\", \"USR2\", \"RTMIN+3\"]\n"
	    "stop_signals = [\"TERM\"]\n"
	    "signals_ignored = [\"WINCH\", \"SIGRTMAX\"]\n", &s, &err) == 0);
	CHECK(s.sig.every == (SIG_BIT(SIGTERM) | SIG_BIT(SIGINT) | SIG_BIT(SIGQUIT) |
	    SIG_BIT(SIGCONT) | SIG_BIT(SIGUSR2) | SIG_BIT(SIGRTMIN + 3)));
	CHECK(s.sig.stop == SIG_BIT(SIGTERM));
	CHECK(s.sig.ignore == (SIG_BIT(SIGWINCH) | SIG_BIT(SIGRTMAX)));

	/* Empty lists are "none". */
	REQUIRE(parse("signals_to_all = []\nstop_signals = []\nsignals_ignored = []", &s, &err) == 0);
	CHECK(s.sig.every == 0);
	CHECK(s.sig.stop == 0);
	CHECK(s.sig.ignore == 0);

	/* Every signal pidsitter forwards is accepted, but those whose way
	 * is fixed (signals.h, SIGNAL_ALWAYS_STOP). */
	int sigs[SIG_LIMIT];
	size_t n = signals_forwarded(sigs);
	for (size_t i = 0; i < n; i++) {
		char buf[16];
		if (SIGNAL_ALWAYS_STOP & SIG_BIT(sigs[i]))
			continue;
		signal_name(sigs[i], buf, sizeof buf);
		CAPTURE(buf);
		REQUIRE(parse(std::string("signals_ignored = [\"") + buf + "\"]\n"
		    "signals_to_all = []\nstop_signals = []", &s, &err) == 0);
		CHECK(s.sig.ignore == SIG_BIT(sigs[i]));
	}
}

TEST_CASE("config: signal_rewrite and upgrade_signal")
{
	struct settings s;
	std::string err;

	REQUIRE(parse("signal_rewrite = { TERM = \"QUIT\", SIGUSR1 = \"usr2\", \"RTMIN+1\" = \"HUP\" }",
	    &s, &err) == 0);
	CHECK(s.sig.rewrite[SIGTERM] == SIGQUIT);
	CHECK(s.sig.rewrite[SIGUSR1] == SIGUSR2);
	CHECK(s.sig.rewrite[SIGRTMIN + 1] == SIGHUP);
	CHECK(s.sig.rewrite[SIGINT] == 0);

	/* KILL and STOP cannot be caught, but can be sent: runit's "sv term"
	 * may kill the daemon outright. */
	REQUIRE(parse("signal_rewrite = { TERM = \"KILL\", TSTP = \"SIGSTOP\" }", &s, &err) == 0);
	CHECK(s.sig.rewrite[SIGTERM] == SIGKILL);
	CHECK(s.sig.rewrite[SIGTSTP] == SIGSTOP);

	/* The table replaces earlier rewrites; to itself is no rewrite. */
	settings_defaults(&s);
	s.sig.rewrite[SIGINT] = SIGQUIT;
	const char text[] = "[signal_rewrite]\nHUP = \"HUP\"\n";
	REQUIRE(config_parse(text, strlen(text), "t.toml", &s, &err) == 0);
	for (int sig = 0; sig < SIG_LIMIT; sig++)
		CHECK(s.sig.rewrite[sig] == 0);

	REQUIRE(parse("upgrade_signal = \"USR2\"", &s, &err) == 0);
	CHECK(s.upgrade_signal == SIGUSR2);
	REQUIRE(parse("upgrade_signal = \"SIGHUP\"", &s, &err) == 0);
	CHECK(s.upgrade_signal == SIGHUP);
}

TEST_CASE("config: every key at once, and -n's output reads back the same")
{
	struct settings s, again;
	std::string err;

	REQUIRE(parse("pid_file = \"/run/d.pid\"\n"
	    "poll_interval = \"250ms\"\n"
	    "start_timeout = \"3s\"\n"
	    "reap_timeout = \"7s\"\n"
	    "log_format = \"json\"\n"
	    "status_file = \"/run/d.status\"\n"
	    "metrics_file = \"/run/d.prom\"\n"
	    "metrics_labels = { daemon = \"d\", group = \"a \\\"b\\\"\\n\" }\n"
	    "names = [\"d\", \"d2\"]\n"
	    "match = [\"argv0\"]\n"
	    "owner = 4242\n"
	    "env = { A = \"1\", B = \"x \\\"y\\\" \\\\ z\" }\n"
	    "workdir = \"/srv\"\n"
	    "signals_to_all = [\"TERM\", \"INT\", \"QUIT\", \"CONT\", \"USR1\"]\n"
	    "stop_signals = [\"TERM\", \"USR1\"]\n"
	    "signals_ignored = [\"WINCH\"]\n"
	    "signal_rewrite = { TERM = \"QUIT\" }\n"
	    "upgrade_recipe = \"nginx\"\n"
	    "upgrade_signal = \"USR2\"\n"
	    "upgrade_timeout = \"45s\"\n"
	    "stop_timeout = \"1m30s\"\n"
	    "descendants = \"stop\"\n", &s, &err) == 0);
	CHECK(s.pid_file == "/run/d.pid");
	CHECK(s.poll_interval_ms == 250);
	CHECK(s.start_timeout_ms == 3000);
	CHECK(s.reap_timeout_ms == 7000);
	CHECK(s.log_format == LOG_FORMAT_JSON);
	CHECK(s.status_file == "/run/d.status");
	CHECK(s.metrics_file == "/run/d.prom");
	CHECK(s.metrics_labels == std::vector<std::pair<std::string, std::string>>{{"daemon", "d"},
	    {"group", "a \"b\"\n"}});
	CHECK(s.names == std::vector<std::string>{"d", "d2"});
	CHECK(s.match_facts == MATCH_ARGV0);
	CHECK(s.owner == 4242);
	CHECK(s.env == std::vector<std::string>{"A=1", "B=x \"y\" \\ z"});
	CHECK(s.workdir == "/srv");
	CHECK(s.sig.stop == (SIG_BIT(SIGTERM) | SIG_BIT(SIGUSR1)));
	CHECK(s.sig.ignore == SIG_BIT(SIGWINCH));
	CHECK(s.sig.rewrite[SIGTERM] == SIGQUIT);
	CHECK(s.recipe == RECIPE_NGINX);
	CHECK(s.upgrade_signal == SIGUSR2);
	CHECK(s.upgrade_timeout_ms == 45000);
	CHECK(s.stop_timeout_ms == 90000);
	CHECK(s.descendants == DESCENDANTS_STOP);

	/* settings_describe() prints TOML with the same key names: it must
	 * load back into the same settings. */
	std::string described = settings_describe(&s);
	CAPTURE(described);
	REQUIRE(parse(described, &again, &err) == 0);
	CHECK(same_settings(s, again));
}

TEST_CASE("config: settings_describe prints every key the file knows, and no other")
{
	struct settings s;
	std::string err, out, keys;

	settings_defaults(&s);
	s.pid_file = "/x.pid";
	s.names = {"x"};
	s.metrics_labels = {{"daemon", "x"}};
	out = settings_describe(&s);
	for (size_t at = 0; at < out.size();) {
		size_t eol = out.find('\n', at);
		std::string line = out.substr(at, eol - at);
		std::string key = line.substr(0, line.find(" = "));
		/* Each key alone in a file: known, and accepted as printed. */
		CAPTURE(line);
		CHECK(parse(line, &s, &err) == 0);
		keys += key + " ";
		at = eol == std::string::npos ? out.size() : eol + 1;
	}
	CHECK(keys == "pid_file log_format poll_interval start_timeout reap_timeout status_file "
	    "control_socket metrics_file metrics_labels names "
	    "match owner env workdir signals_to_all stop_signals signals_ignored "
	    "signal_rewrite upgrade_recipe upgrade_signal upgrade_timeout stop_timeout "
	    "descendants notify notify_socket ready ");
}

TEST_CASE("config: stop_timeout \"0\" is never, the default; descendants defaults to leave")
{
	struct settings s;
	std::string err;

	settings_defaults(&s);
	CHECK(s.stop_timeout_ms == 0);
	CHECK(s.descendants == DESCENDANTS_LEAVE);
	CHECK(settings_describe(&s).find("stop_timeout = \"0\"\ndescendants = \"leave\"\n") !=
	    std::string::npos);
	for (const char *zero : {"\"0\"", "\"0s\"", "\"0ms\""}) {
		CAPTURE(zero);
		REQUIRE(parse(std::string("stop_timeout = ") + zero, &s, &err) == 0);
		CHECK(s.stop_timeout_ms == 0);
	}
	REQUIRE(parse("stop_timeout = \"1500ms\"\ndescendants = \"leave\"", &s, &err) == 0);
	CHECK(s.stop_timeout_ms == 1500);
	CHECK(s.descendants == DESCENDANTS_LEAVE);
}

TEST_CASE("config: any bytes are an answer, never a crash")
{
	struct settings s;
	std::string err;
	std::string text;

	/* NULs, bad UTF-8, control bytes, deep nesting, a BOM. */
	static const char *const odd[] = {
		"\0\0\0", "\xef\xbb\xbfpid_file = \"x\"", "\xc0\x80", "[[[[", "a = [[[[[[[[[[[[",
		"= 1", "\"\" = 1", "[\"\"]", "a = { b = { c = { d = 1 } } }", "pid_file = '''\n\n'''",
		"names = [\"\\uD800\"]", "\x7f", "env = { A = \"\\u0000\" }",
	};
	for (const char *o : odd) {
		text = o;
		if (text.empty())
			text.assign("\0\0\0", 3);
		(void)parse(text, &s, &err);
	}
	text.assign(4096, '[');
	CHECK(parse("a = " + text, &s, &err) == -EINVAL);
	for (int c = 0; c < 256; c++) {
		text.assign("pid_file = \"a");
		text.push_back((char)c);
		text += "\"";
		(void)parse(text, &s, &err);
		CHECK(err.find('\n') == std::string::npos);
	}
	/* The BOM is TOML's business, not an error. */
	REQUIRE(parse("\xef\xbb\xbfpid_file = \"x\"", &s, &err) == 0);
	CHECK(s.pid_file == "x");
}

/*
 * Files.
 */

static const char *const examples[] = {
	"examples/gitaly.toml", "examples/praefect.toml", "examples/nginx.toml",
};

TEST_CASE("config: the examples load")
{
	for (const char *path : examples) {
		struct settings s;
		std::string err;

		CAPTURE(path);
		settings_defaults(&s);
		CHECK(config_load(path, &s, &err) == 0);
		CHECK(err == "");
		CHECK(!s.pid_file.empty());
		CHECK(!s.names.empty());
	}
}

TEST_CASE("config: the examples say what they are for")
{
	struct settings s;
	std::string err;

	settings_defaults(&s);
	REQUIRE(config_load("examples/gitaly.toml", &s, &err) == 0);
	CHECK(s.pid_file == "/var/opt/gitlab/gitaly/gitaly.pid");
	CHECK(s.names == std::vector<std::string>{"gitaly"});
	CHECK(s.recipe == RECIPE_TABLEFLIP);
	CHECK(s.env == std::vector<std::string>{"GITALY_UPGRADES_ENABLED=true"});

	settings_defaults(&s);
	REQUIRE(config_load("examples/praefect.toml", &s, &err) == 0);
	CHECK(s.pid_file == "/var/opt/gitlab/praefect/praefect.pid");
	CHECK(s.names == std::vector<std::string>{"praefect"});

	settings_defaults(&s);
	REQUIRE(config_load("examples/nginx.toml", &s, &err) == 0);
	CHECK(s.recipe == RECIPE_NGINX);
	CHECK(s.names == std::vector<std::string>{"nginx"});
	CHECK(s.match_facts == MATCH_COMM);
	CHECK(s.sig.rewrite[SIGTERM] == SIGQUIT);
	CHECK(s.env.empty());
}

namespace {

/* A private directory for the files a test makes; removed by the test. */
struct tmpdir {
	char path[64];

	tmpdir()
	{
		strcpy(path, "/tmp/pidsitter-config-XXXXXX");
		REQUIRE(mkdtemp(path) != NULL);
	}
	std::string file(const char *name) const { return std::string(path) + "/" + name; }
	~tmpdir() { rmdir(path); }
};

}  // namespace

static void
write_file(const std::string &path, const std::string &text)
{
	FILE *f = fopen(path.c_str(), "w");
	REQUIRE(f != NULL);
	REQUIRE(fwrite(text.data(), 1, text.size(), f) == text.size());
	REQUIRE(fclose(f) == 0);
}

TEST_CASE("config: files that cannot be read")
{
	tmpdir dir;
	struct settings s;
	std::string err;
	std::string missing = dir.file("missing.toml");

	settings_defaults(&s);
	CHECK(config_load(missing.c_str(), &s, &err) == -EINVAL);
	CHECK(err == missing + ": cannot read: No such file or directory");

	CHECK(config_load(dir.path, &s, &err) == -EINVAL);
	CHECK(err == std::string(dir.path) + ": cannot read: Is a directory");

	/* A FIFO would block a plain open until a writer came. */
	std::string fifo = dir.file("fifo.toml");
	REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
	CHECK(config_load(fifo.c_str(), &s, &err) == -EINVAL);
	CHECK(err == fifo + ": cannot read: not a regular file");
	unlink(fifo.c_str());

	CHECK(config_load("/dev/null", &s, &err) == -EINVAL);
	CHECK(err == "/dev/null: cannot read: not a regular file");

	std::string big = dir.file("big.toml");
	write_file(big, "# " + std::string(1024 * 1024, 'x') + "\n");
	CHECK(config_load(big.c_str(), &s, &err) == -EINVAL);
	CHECK(err == big + ": cannot read: larger than 1 MiB");
	unlink(big.c_str());

	/* Just under the limit is fine. */
	std::string edge = dir.file("edge.toml");
	std::string text = "pid_file = \"/e.pid\"\n#";
	text += std::string(1024 * 1024 - text.size() - 1, 'x') + "\n";
	REQUIRE(text.size() == 1024 * 1024);
	write_file(edge, text);
	CHECK(config_load(edge.c_str(), &s, &err) == 0);
	CHECK(s.pid_file == "/e.pid");
	unlink(edge.c_str());

	std::string broken = dir.file("broken.toml");
	write_file(broken, "# a comment\n\npoll_interval = \"soon\"\n");
	CHECK(config_load(broken.c_str(), &s, &err) == -EINVAL);
	CHECK(err == broken + ":3:17: poll_interval: invalid duration 'soon' (numbers with a unit: "
	    "ms, s, m or h, such as \"500ms\", \"2s\" or \"1m30s\")");
	unlink(broken.c_str());

	/* Mode 000 stops everyone but root. */
	if (geteuid() != 0) {
		std::string locked = dir.file("locked.toml");
		write_file(locked, "");
		REQUIRE(chmod(locked.c_str(), 0) == 0);
		CHECK(config_load(locked.c_str(), &s, &err) == -EINVAL);
		CHECK(err == locked + ": cannot read: Permission denied");
		unlink(locked.c_str());
	}

	/* Through settings_resolve: -c, then PIDSITTER_CONFIG. */
	std::string good = dir.file("good.toml");
	write_file(good, "pid_file = \"/from/file.pid\"\nlog_format = \"json\"\n");
	struct options o;
	o.argv = {"/usr/bin/gitaly"};
	o.config_file = good;
	REQUIRE(settings_resolve(&o, [](const char *) -> const char * { return NULL; },
	    &s, &err) == 0);
	CHECK(s.pid_file == "/from/file.pid");
	CHECK(s.log_format == LOG_FORMAT_JSON);
	CHECK(s.names == std::vector<std::string>{"gitaly"});
	unlink(good.c_str());
}
