/*
 * options_test.cc: the command line and the environment into struct
 * settings (options.cc), plus the Go-compatible duration and bool parsers.
 */
#include <doctest/doctest.h>

#include <errno.h>
#include <getopt.h>
#include <string.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "options.h"
#include "settings.h"
#include "signals.h"

/* Parse "pidsitter" followed by args; returns options_parse's result. */
static int
parse(std::vector<std::string> args, struct options *o, std::string *err)
{
	std::vector<char *> argv;

	args.insert(args.begin(), "pidsitter");
	for (std::string &a : args)
		argv.push_back(&a[0]);
	argv.push_back(NULL);
	*o = options();
	err->clear();
	return options_parse((int)args.size(), argv.data(), o, err);
}

TEST_CASE("options: parse, one line per command line")
{
	typedef std::vector<std::string> v;
	static const struct {
		v args;
		int r;
		const char *pid_file;
		v argv;
		const char *err;
	} cases[] = {
		{{"-p", "/run/g.pid", "gitaly"}, 0, "/run/g.pid", {"gitaly"}, ""},
		{{"--pid-file=/run/g.pid", "gitaly"}, 0, "/run/g.pid", {"gitaly"}, ""},
		{{"--pid-file", "/run/g.pid", "gitaly"}, 0, "/run/g.pid", {"gitaly"}, ""},
		{{"-p/run/g.pid", "gitaly"}, 0, "/run/g.pid", {"gitaly"}, ""},
		{{"--pid=/run/g.pid", "gitaly"}, 0, "/run/g.pid", {"gitaly"}, ""},
		{{"-p", "a", "-p", "b", "gitaly"}, 0, "b", {"gitaly"}, ""},
		{{"gitaly", "serve", "/etc/gitaly.toml"}, 0, "", {"gitaly", "serve", "/etc/gitaly.toml"}, ""},
		/* The daemon's own options are its own. */
		{{"-p", "x", "gitaly", "-p", "y", "--json"}, 0, "x", {"gitaly", "-p", "y", "--json"}, ""},
		{{"gitaly", "-h"}, 0, "", {"gitaly", "-h"}, ""},
		{{"gitaly", "--", "-v"}, 0, "", {"gitaly", "--", "-v"}, ""},
		{{"--", "gitaly", "-p", "y"}, 0, "", {"gitaly", "-p", "y"}, ""},
		{{"-p", "x", "--", "-weird-binary", "a"}, 0, "x", {"-weird-binary", "a"}, ""},
		{{"--", "--"}, 0, "", {"--"}, ""},
		{{"-p", "--", "gitaly"}, 0, "--", {"gitaly"}, ""},
		{{"/opt/gitlab/embedded/bin/gitaly", ""}, 0, "", {"/opt/gitlab/embedded/bin/gitaly", ""}, ""},

		{{}, -EINVAL, "", {}, "no binary to run"},
		{{"-p", "x"}, -EINVAL, "x", {}, "no binary to run"},
		{{"-p", "x", "--"}, -EINVAL, "x", {}, "no binary to run"},
		{{"-p"}, -EINVAL, "", {}, "option -p needs an argument"},
		{{"--pid-file"}, -EINVAL, "", {}, "option --pid-file needs an argument"},
		{{"-c"}, -EINVAL, "", {}, "option -c needs an argument"},
		{{"gitaly", "-p"}, 0, "", {"gitaly", "-p"}, ""},
		{{"-p", "", "gitaly"}, -EINVAL, "", {}, "empty pid file name"},
		{{"--pid-file=", "gitaly"}, -EINVAL, "", {}, "empty pid file name"},
		{{"-x", "gitaly"}, -EINVAL, "", {}, "unknown option -x"},
		{{"-vx", "gitaly"}, -EINVAL, "", {}, "unknown option -x"},
		{{"--bogus", "gitaly"}, -EINVAL, "", {}, "unknown option --bogus"},
		{{"", "arg"}, -EINVAL, "", {}, "empty binary name"},
		{{"-i", "abc", "gitaly"}, -EINVAL, "", {}, "invalid poll interval 'abc' (a duration such as 500ms or 2s)"},
		{{"-i", "0", "gitaly"}, -EINVAL, "", {}, "invalid poll interval '0' (a duration such as 500ms or 2s)"},
		{{"-i", "5", "gitaly"}, -EINVAL, "", {}, "invalid poll interval '5' (a duration such as 500ms or 2s)"},
		{{"--notify-fd", "x", "gitaly"}, -EINVAL, "", {}, "invalid notification fd 'x' (a number from 3)"},
		{{"--notify-fd", "2", "gitaly"}, -EINVAL, "", {}, "invalid notification fd '2' (a number from 3)"},
		{{"--notify-fd", "3x", "gitaly"}, -EINVAL, "", {}, "invalid notification fd '3x' (a number from 3)"},
		{{"--notify-fd", "-3", "gitaly"}, -EINVAL, "", {}, "invalid notification fd '-3' (a number from 3)"},
		{{"--notify-fd", "", "gitaly"}, -EINVAL, "", {}, "invalid notification fd '' (a number from 3)"},
		{{"--notify-fd", "99999999999", "gitaly"}, -EINVAL, "", {}, "invalid notification fd '99999999999' (a number from 3)"},
	};
	for (const auto &c : cases) {
		struct options o;
		std::string err, line;
		for (const std::string &a : c.args)
			line += "[" + a + "]";
		CAPTURE(line);
		CHECK(parse(c.args, &o, &err) == c.r);
		CHECK(err == std::string(c.err));
		if (c.r == 0) {
			CHECK(o.pid_file == c.pid_file);
			CHECK(o.argv == c.argv);
			CHECK(o.action == OPT_RUN);
		}
	}
}

TEST_CASE("options: an argument given to a flag is named in the error")
{
	struct options o;
	std::string err;

	/* glibc reports "--json=yes" as '?' with optopt set to the option's
	 * value, 'j': the message must not call -j unknown. */
	for (const char *arg : {"--json=yes", "--verbose=2", "--check-config=1"}) {
		std::string a = arg;
		CAPTURE(a);
		CHECK(parse({arg, "gitaly"}, &o, &err) == -EINVAL);
		CHECK(err.find(a.substr(0, a.find('='))) != std::string::npos);
	}
}

TEST_CASE("options: flags")
{
	struct options o;
	std::string err;

	REQUIRE(parse({"gitaly"}, &o, &err) == 0);
	CHECK(!o.json);
	CHECK(o.verbose == 0);
	CHECK(o.poll_interval_ms == 0);
	CHECK(o.notify_fd == -1);
	CHECK(!o.check_only);
	CHECK(o.config_file == "");
	CHECK(o.pid_file == "");

	REQUIRE(parse({"-j", "gitaly"}, &o, &err) == 0);
	CHECK(o.json);
	REQUIRE(parse({"--json", "gitaly"}, &o, &err) == 0);
	CHECK(o.json);
	REQUIRE(parse({"-v", "-v", "gitaly"}, &o, &err) == 0);
	CHECK(o.verbose == 2);
	REQUIRE(parse({"-vvv", "--verbose", "gitaly"}, &o, &err) == 0);
	CHECK(o.verbose == 4);
	REQUIRE(parse({"-i", "500ms", "gitaly"}, &o, &err) == 0);
	CHECK(o.poll_interval_ms == 500);
	REQUIRE(parse({"--poll-interval=1m30s", "gitaly"}, &o, &err) == 0);
	CHECK(o.poll_interval_ms == 90000);
	REQUIRE(parse({"--notify-fd", "3", "gitaly"}, &o, &err) == 0);
	CHECK(o.notify_fd == 3);
	REQUIRE(parse({"--notify-fd=17", "gitaly"}, &o, &err) == 0);
	CHECK(o.notify_fd == 17);
	REQUIRE(parse({"-c", "/etc/pidsitter.toml", "gitaly"}, &o, &err) == 0);
	CHECK(o.config_file == "/etc/pidsitter.toml");
	REQUIRE(parse({"-jvp/run/x.pid", "gitaly"}, &o, &err) == 0);
	CHECK(o.json);
	CHECK(o.verbose == 1);
	CHECK(o.pid_file == "/run/x.pid");

	/* -n checks the settings: no binary needed. */
	REQUIRE(parse({"-n"}, &o, &err) == 0);
	CHECK(o.check_only);
	CHECK(o.argv.empty());
	REQUIRE(parse({"--check-config", "-p", "x", "gitaly"}, &o, &err) == 0);
	CHECK(o.check_only);
	CHECK(o.argv == std::vector<std::string>{"gitaly"});

	/* -h and -V need nothing else, and win over what follows. */
	REQUIRE(parse({"-h"}, &o, &err) == 0);
	CHECK(o.action == OPT_HELP);
	REQUIRE(parse({"--help", "-x"}, &o, &err) == 0);
	CHECK(o.action == OPT_HELP);
	REQUIRE(parse({"-V"}, &o, &err) == 0);
	CHECK(o.action == OPT_VERSION);
	REQUIRE(parse({"--version"}, &o, &err) == 0);
	CHECK(o.action == OPT_VERSION);
	REQUIRE(parse({"-p", "x", "-V", "gitaly"}, &o, &err) == 0);
	CHECK(o.action == OPT_VERSION);
}

TEST_CASE("options: parsing again starts afresh")
{
	struct options o;
	std::string err;

	/* Each of these leaves getopt mid-word or mid-argv. */
	CHECK(parse({"-hv", "gitaly"}, &o, &err) == 0);
	CHECK(parse({"-vx", "gitaly"}, &o, &err) == -EINVAL);
	CHECK(parse({"-p"}, &o, &err) == -EINVAL);
	CHECK(parse({"-j", "-j", "-j", "a", "b", "c", "d"}, &o, &err) == 0);
	for (int i = 0; i < 3; i++) {
		REQUIRE(parse({"-p", "x", "gitaly", "-v"}, &o, &err) == 0);
		CHECK(o.verbose == 0);
		CHECK(!o.json);
		CHECK(o.pid_file == "x");
		CHECK(o.argv == std::vector<std::string>{"gitaly", "-v"});
	}
}

TEST_CASE("options: the usage line is the man page's SYNOPSIS")
{
	std::string u = options_usage();
	CHECK(u.find("usage: pidsitter ") == 0);
	for (const char *opt : {"[-hjnVv]", "-c config", "-i interval",
	    "-p pidfile", "--notify-fd fd", "binary [arg ...]"}) {
		std::string o = opt;
		CAPTURE(o);
		CHECK(u.find(o) != std::string::npos);
	}
}

/* The environment the next settings_resolve() sees. */
static const char *const *fake_env;

static const char *
fake_getenv(const char *name)
{
	size_t n = strlen(name);
	for (const char *const *e = fake_env; *e != NULL; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

TEST_CASE("options: settings_resolve")
{
	struct options o;
	struct settings s;
	std::string err;
	static const char *const none[] = {NULL};
	static const char *const pidenv[] = {"GITALY_PID_FILE=/run/env.pid", NULL};

	SUBCASE("GITALY_PID_FILE, and -p over it") {
		fake_env = pidenv;
		REQUIRE(parse({"/opt/gitlab/embedded/bin/gitaly", "serve"}, &o, &err) == 0);
		REQUIRE(settings_resolve(&o, fake_getenv, &s, &err) == 0);
		CHECK(s.pid_file == "/run/env.pid");
		CHECK(s.argv == std::vector<std::string>{"/opt/gitlab/embedded/bin/gitaly", "serve"});
		CHECK(s.names == std::vector<std::string>{"gitaly"});
		CHECK(s.log_format == LOG_FORMAT_TEXT);
		CHECK(s.env == std::vector<std::string>{"GITALY_UPGRADES_ENABLED=true"});
		CHECK(s.poll_interval_ms == 1000);
		CHECK(s.start_timeout_ms == 10000);
		CHECK(s.reap_timeout_ms == 1000);
		CHECK(s.notify_fd == -1);
		CHECK(s.config_file == "");
		CHECK(s.recipe == RECIPE_TABLEFLIP);
		CHECK(s.upgrade_signal == SIGHUP);
		CHECK(s.match_facts == (MATCH_COMM | MATCH_EXE));
		CHECK(!s.owner_any);
		CHECK(s.owner == (uid_t)-1);
		struct sigpolicy def;
		sigpolicy_default(&def);
		CHECK(memcmp(&s.sig, &def, sizeof def) == 0);

		REQUIRE(parse({"-p", "/run/cli.pid", "-v", "-i", "2s", "--notify-fd", "5",
		    "praefect"}, &o, &err) == 0);
		REQUIRE(settings_resolve(&o, fake_getenv, &s, &err) == 0);
		CHECK(s.pid_file == "/run/cli.pid");
		CHECK(s.names == std::vector<std::string>{"praefect"});
		CHECK(s.verbose == 1);
		CHECK(s.poll_interval_ms == 2000);
		CHECK(s.notify_fd == 5);
	}
	SUBCASE("no pid file anywhere") {
		fake_env = none;
		REQUIRE(parse({"gitaly"}, &o, &err) == 0);
		CHECK(settings_resolve(&o, fake_getenv, &s, &err) == -EINVAL);
		CHECK(err.find("-p") != std::string::npos);
		CHECK(err.find("GITALY_PID_FILE") != std::string::npos);
		static const char *const empty[] = {"GITALY_PID_FILE=", NULL};
		fake_env = empty;
		err.clear();
		CHECK(settings_resolve(&o, fake_getenv, &s, &err) == -EINVAL);
		CHECK(err.find("GITALY_PID_FILE") != std::string::npos);
	}
	SUBCASE("WRAPPER_JSON_LOGGING takes Go's bool words, anything else is text") {
		static const struct {
			const char *value;
			int format;
		} cases[] = {
			{"1", LOG_FORMAT_JSON}, {"t", LOG_FORMAT_JSON}, {"T", LOG_FORMAT_JSON},
			{"TRUE", LOG_FORMAT_JSON}, {"true", LOG_FORMAT_JSON}, {"True", LOG_FORMAT_JSON},
			{"0", LOG_FORMAT_TEXT}, {"f", LOG_FORMAT_TEXT}, {"F", LOG_FORMAT_TEXT},
			{"FALSE", LOG_FORMAT_TEXT}, {"false", LOG_FORMAT_TEXT}, {"False", LOG_FORMAT_TEXT},
			{"", LOG_FORMAT_TEXT}, {"yes", LOG_FORMAT_TEXT}, {"tRUE", LOG_FORMAT_TEXT},
			{"on", LOG_FORMAT_TEXT}, {" true", LOG_FORMAT_TEXT}, {"2", LOG_FORMAT_TEXT},
		};
		REQUIRE(parse({"gitaly"}, &o, &err) == 0);
		for (const auto &c : cases) {
			std::string var = std::string("WRAPPER_JSON_LOGGING=") + c.value;
			const char *env[] = {"GITALY_PID_FILE=/run/g.pid", var.c_str(), NULL};
			fake_env = env;
			CAPTURE(var);
			REQUIRE(settings_resolve(&o, fake_getenv, &s, &err) == 0);
			CHECK(s.log_format == c.format);
		}
		/* -j wins over the environment. */
		static const char *const off[] = {"GITALY_PID_FILE=/run/g.pid",
		    "WRAPPER_JSON_LOGGING=false", NULL};
		fake_env = off;
		REQUIRE(parse({"-j", "gitaly"}, &o, &err) == 0);
		REQUIRE(settings_resolve(&o, fake_getenv, &s, &err) == 0);
		CHECK(s.log_format == LOG_FORMAT_JSON);
	}
	SUBCASE("-n needs no binary") {
		fake_env = pidenv;
		REQUIRE(parse({"-n"}, &o, &err) == 0);
		REQUIRE(settings_resolve(&o, fake_getenv, &s, &err) == 0);
		CHECK(s.check_only);
		CHECK(s.names.empty());
		CHECK(s.argv.empty());
	}
	fake_env = NULL;
}

TEST_CASE("options: parse_duration, one line per input")
{
	static const struct {
		const char *in;
		int r;
		uint64_t ms;
	} cases[] = {
		{"500ms", 0, 500}, {"2s", 0, 2000}, {"1m30s", 0, 90000}, {"1h", 0, 3600000},
		{"0.5s", 0, 500}, {"0", 0, 0}, {"0s", 0, 0}, {"250ms", 0, 250}, {"1.5h", 0, 5400000},
		{"1h1m1s1ms", 0, 3661001}, {".5s", 0, 500}, {"1ms", 0, 1}, {"10m", 0, 600000},
		{"1s500ms", 0, 1500}, {"0.001s", 0, 1}, {"48h", 0, 172800000},

		{"", -EINVAL, 0}, {"5", -EINVAL, 0}, {"-1s", -EINVAL, 0}, {"1x", -EINVAL, 0},
		{"ms", -EINVAL, 0}, {"s", -EINVAL, 0}, {"1m30", -EINVAL, 0}, {"00", -EINVAL, 0},
		{" 1s", -EINVAL, 0}, {"1s ", -EINVAL, 0}, {"1 s", -EINVAL, 0}, {"1d", -EINVAL, 0},
		{"1us", -EINVAL, 0}, {"+1s", -EINVAL, 0}, {"1S", -EINVAL, 0}, {"1.2.3s", -EINVAL, 0},
		{".s", -EINVAL, 0}, {"99999999999h", -EINVAL, 0}, {"1e999s", -EINVAL, 0},
		/* Go's time.ParseDuration takes decimal numbers only. */
		{"1e3ms", -EINVAL, 0}, {"1E3s", -EINVAL, 0}, {"0x10s", -EINVAL, 0},
		{"0x1p4s", -EINVAL, 0}, {"1.e2s", -EINVAL, 0},
	};
	for (const auto &c : cases) {
		uint64_t ms = 77;
		std::string in = c.in;
		CAPTURE(in);
		CHECK(parse_duration(c.in, &ms) == c.r);
		CHECK(ms == (c.r == 0 ? c.ms : 77));
	}
}

TEST_CASE("options: parse_go_bool, one line per input")
{
	static const struct {
		const char *in;
		bool ok, v;
	} cases[] = {
		{"1", true, true}, {"t", true, true}, {"T", true, true}, {"TRUE", true, true},
		{"true", true, true}, {"True", true, true},
		{"0", true, false}, {"f", true, false}, {"F", true, false}, {"FALSE", true, false},
		{"false", true, false}, {"False", true, false},
		{"", false, false}, {"yes", false, false}, {"no", false, false}, {"tRUE", false, false},
		{"TrUe", false, false}, {"fALSE", false, false}, {"true ", false, false},
		{" true", false, false}, {"01", false, false}, {"2", false, false}, {"y", false, false},
		{"on", false, false}, {"off", false, false},
	};
	for (const auto &c : cases) {
		std::string in = c.in;
		CAPTURE(in);
		bool v = !c.v;
		CHECK(parse_go_bool(c.in, &v) == c.ok);
		if (c.ok)
			CHECK(v == c.v);
	}
}
