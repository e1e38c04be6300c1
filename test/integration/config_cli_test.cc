/*
 * config_cli_test.cc: the configuration file through the built pidsitter:
 * -n/--check-config, FILE:LINE:COL errors with exit 2, the precedence
 * command line > environment > file > defaults, PIDSITTER_CONFIG, and the
 * keys that change what a running wrapper does.
 *
 * Every run removes GITALY_PID_FILE, WRAPPER_JSON_LOGGING and
 * PIDSITTER_CONFIG from the environment it inherits, so that the machine's
 * own settings cannot leak into a result.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include "harness.h"

namespace {

/* The output of one finished run. */
struct run {
	int code = -1;
	std::string out, err;
};

/* A tmpfs at dir (or, where dir does not exist, at its parent) with the
 * directories of paths made in it: 0, or -1. */
int
mount_with(const char *dir, const char *parent, const char *const *paths)
{
	if (mount("tmpfs", dir, "tmpfs", 0, "mode=0755") < 0 &&
	    (errno != ENOENT || mount("tmpfs", parent, "tmpfs", 0, "mode=0755") < 0))
		return -1;
	for (; *paths != NULL; paths++) {
		std::string p = *paths;
		for (size_t at = 1; (at = p.find('/', at)) != std::string::npos; at++)
			mkdir(p.substr(0, at).c_str(), 0755);
		if (mkdir(p.c_str(), 0755) < 0 && errno != EEXIST)
			return -1;
	}
	return 0;
}

/* A hook for child_start_hooked: the machine the examples are written for.
 * -n checks that workdir is a directory, and a test machine has no
 * /var/opt/gitlab: in a mount namespace of its own (a user namespace too
 * when not root), pidsitter sees tmpfs on /var/opt and /srv with the
 * directories the examples and the tests name. */
int
on_their_machine(void)
{
	static const char *const var_opt[] = {"/var/opt/gitlab/praefect", NULL};
	static const char *const srv[] = {"/srv/all", NULL};
	uid_t uid = geteuid();
	gid_t gid = getegid();

	if (unshare(CLONE_NEWNS) < 0) {
		char map[64];
		int fd;

		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
			return 125;
		snprintf(map, sizeof map, "0 %u 1\n", (unsigned)uid);
		if ((fd = open("/proc/self/uid_map", O_WRONLY)) < 0 || write(fd, map, strlen(map)) < 0)
			return 125;
		close(fd);
		if ((fd = open("/proc/self/setgroups", O_WRONLY)) >= 0) {
			if (write(fd, "deny", 4) < 0)
				return 125;
			close(fd);
		}
		snprintf(map, sizeof map, "0 %u 1\n", (unsigned)gid);
		if ((fd = open("/proc/self/gid_map", O_WRONLY)) < 0 || write(fd, map, strlen(map)) < 0)
			return 125;
		close(fd);
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount_with("/var/opt", "/var", var_opt) < 0 || mount_with("/srv", "/srv", srv) < 0)
		return 125;
	return 0;
}

/* Run pidsitter with args and env ("K=V" adds, "K" removes) to its end;
 * hook as for child_start_hooked. */
run
pidsitter(std::vector<std::string> args, std::vector<std::string> env = {},
    int (*hook)(void) = NULL)
{
	std::vector<std::string> argv = {build_path("pidsitter")};
	std::vector<std::string> e = clean_env;
	child p;
	run r;

	argv.insert(argv.end(), args.begin(), args.end());
	e.insert(e.end(), env.begin(), env.end());
	child_start_hooked(&p, argv, e, hook);
	REQUIRE(child_wait_exit(&p, 10000));
	r.code = child_code(&p);
	r.out = p.out;
	r.err = p.err;
	return r;
}

/* The value -n printed for key, as written ("" when absent). */
std::string
described(const std::string &out, const char *key)
{
	std::string prefix = std::string(key) + " = ";
	size_t at = 0;

	while (at < out.size()) {
		size_t eol = out.find('\n', at);
		std::string line = out.substr(at, eol == std::string::npos ? std::string::npos : eol - at);
		if (line.compare(0, prefix.size(), prefix) == 0)
			return line.substr(prefix.size());
		if (eol == std::string::npos)
			break;
		at = eol + 1;
	}
	return "";
}

const char *const examples[] = {
	"examples/gitaly.toml", "examples/praefect.toml", "examples/nginx.toml",
	"examples/gunicorn.toml", "examples/unicorn.toml",
};

}  // namespace

TEST_CASE("-n: every example passes, alone and with its binary, and prints what it set")
{
	for (const char *ex : examples) {
		CAPTURE(ex);
		run r = pidsitter({"-n", "-c", ex}, {}, on_their_machine);
		CHECK(r.code == 0);
		CHECK(r.err == "");
		r = pidsitter({"--check-config", "--config", ex, "/usr/sbin/daemon", "-x"}, {},
		    on_their_machine);
		CHECK(r.code == 0);
		CHECK(r.err == "");
		CHECK(described(r.out, "upgrade_timeout") != "");
	}
	run g = pidsitter({"-n", "-c", "examples/gitaly.toml", "/opt/gitlab/embedded/bin/gitaly"});
	CHECK(described(g.out, "pid_file") == "\"/var/opt/gitlab/gitaly/gitaly.pid\"");
	CHECK(described(g.out, "names") == "[\"gitaly\"]");
	CHECK(described(g.out, "metrics_labels") == "{ daemon = \"gitaly\" }");
	CHECK(described(g.out, "log_format") == "\"json\"");
	run p = pidsitter({"-n", "-c", "examples/praefect.toml", "/opt/gitlab/embedded/bin/praefect"},
	    {}, on_their_machine);
	CHECK(described(p.out, "pid_file") == "\"/var/opt/gitlab/praefect/praefect.pid\"");
	CHECK(described(p.out, "workdir") == "\"/var/opt/gitlab/praefect\"");
	CHECK(described(p.out, "poll_interval") == "\"500ms\"");
	run n = pidsitter({"-n", "-c", "examples/nginx.toml", "/usr/sbin/nginx"});
	CHECK(described(n.out, "upgrade_recipe") == "\"nginx\"");
	CHECK(described(n.out, "signal_rewrite") == "{ \"TERM\" = \"QUIT\" }");
	CHECK(described(n.out, "match") == "[\"comm\"]");
	CHECK(described(n.out, "env") == "{}");
	run gu = pidsitter({"-n", "-c", "examples/gunicorn.toml", "/usr/bin/gunicorn"});
	CHECK(described(gu.out, "upgrade_recipe") == "\"gunicorn\"");
	CHECK(described(gu.out, "names") == "[\"gunicorn\", \"python3\"]");
	CHECK(described(gu.out, "signal_rewrite") == "{}");
	/* "unicorn" is another name for the nginx recipe. */
	run u = pidsitter({"-n", "-c", "examples/unicorn.toml", "/usr/bin/unicorn"});
	CHECK(described(u.out, "upgrade_recipe") == "\"nginx\"");
	CHECK(described(u.out, "signal_rewrite") == "{ \"TERM\" = \"QUIT\" }");
}

TEST_CASE("-n: every key of the file reaches the effective settings")
{
	tmp_dir dir;
	std::string conf = dir / "all.toml";

	write_file(conf,
	    "pid_file = \"/run/all.pid\"\n"
	    "poll_interval = \"250ms\"\n"
	    "start_timeout = \"1m30s\"\n"
	    "reap_timeout = \"2500ms\"\n"
	    "log_format = \"json\"\n"
	    "status_file = \"/run/all.status\"\n"
	    "control_socket = \"/run/all.sock\"\n"
	    "metrics_file = \"/run/all.prom\"\n"
	    "metrics_labels = { service = \"all\", shard = \"two \\\"words\\\"\" }\n"
	    "names = [\"alld\", \"alld-old\"]\n"
	    "match = [\"argv0\", \"exe\"]\n"
	    "owner = 4242\n"
	    "env = { A = \"1\", B = \"two words\" }\n"
	    "workdir = \"/srv/all\"\n"
	    "signals_to_all = [\"TERM\", \"INT\", \"QUIT\", \"CONT\", \"USR1\"]\n"
	    "stop_signals = [\"TERM\", \"USR1\"]\n"
	    "signals_ignored = [\"WINCH\"]\n"
	    "signal_rewrite = { TERM = \"QUIT\", INT = \"QUIT\" }\n"
	    "upgrade_recipe = \"nginx\"\n"
	    "upgrade_signal = \"USR2\"\n"
	    "upgrade_timeout = \"45s\"\n"
	    "stop_timeout = \"20s\"\n"
	    "descendants = \"stop\"\n"
	    "notify = \"relay\"\n"
	    "notify_socket = \"/run/all.notify\"\n"
	    "ready = \"notify\"\n");
	run r = pidsitter({"-n", "-c", conf, "/usr/bin/alld"}, {}, on_their_machine);
	REQUIRE(r.code == 0);
	CHECK(r.err == "");
	CHECK(r.out ==
	    "pid_file = \"/run/all.pid\"\n"
	    "log_format = \"json\"\n"
	    "poll_interval = \"250ms\"\n"
	    "start_timeout = \"90000ms\"\n"
	    "reap_timeout = \"2500ms\"\n"
	    "status_file = \"/run/all.status\"\n"
	    "control_socket = \"/run/all.sock\"\n"
	    "metrics_file = \"/run/all.prom\"\n"
	    "metrics_labels = { service = \"all\", shard = \"two \\\"words\\\"\" }\n"
	    "names = [\"alld\", \"alld-old\"]\n"
	    "match = [\"exe\", \"argv0\"]\n"
	    "owner = 4242\n"
	    "env = { \"A\" = \"1\", \"B\" = \"two words\" }\n"
	    "workdir = \"/srv/all\"\n"
	    "signals_to_all = [\"INT\", \"QUIT\", \"USR1\", \"TERM\", \"CONT\"]\n"
	    "stop_signals = [\"USR1\", \"TERM\"]\n"
	    "signals_ignored = [\"WINCH\"]\n"
	    "signal_rewrite = { \"INT\" = \"QUIT\", \"TERM\" = \"QUIT\" }\n"
	    "upgrade_recipe = \"nginx\"\n"
	    "upgrade_signal = \"USR2\"\n"
	    "upgrade_timeout = \"45000ms\"\n"
	    "stop_timeout = \"20000ms\"\n"
	    "descendants = \"stop\"\n"
	    "notify = \"relay\"\n"
	    "notify_socket = \"/run/all.notify\"\n"
	    "ready = \"notify\"\n");

	/* What -n prints is itself a configuration file that says the same. */
	std::string again = dir / "again.toml";
	write_file(again, r.out);
	run r2 = pidsitter({"-n", "-c", again, "/usr/bin/alld"}, {}, on_their_machine);
	CHECK(r2.code == 0);
	CHECK(r2.out == r.out);

	/* owner: a name and "any". */
	write_file(conf, "pid_file = \"/x.pid\"\nowner = \"root\"\n");
	CHECK(described(pidsitter({"-n", "-c", conf}).out, "owner") == "0");
	write_file(conf, "pid_file = \"/x.pid\"\nowner = \"any\"\n");
	CHECK(described(pidsitter({"-n", "-c", conf}).out, "owner") == "\"any\"");
}

TEST_CASE("a bad file: one FILE:LINE:COL message on stderr, exit 2, nothing started")
{
	tmp_dir dir;
	std::string conf = dir / "bad.toml";
	std::string pidfile = dir / "d.pid";
	const struct {
		const char *text;
		const char *msg;
	} cases[] = {
		{"pid_file = \"/x.pid\"\n\nnames = [\"a\",\n", ":3:15: Error while parsing array: encountered end-of-file"},
		{"# gitaly\npidfile = \"/x.pid\"\n", ":2:1: unknown key 'pidfile' (did you mean 'pid_file'?)"},
		{"poll_interval = 1\n", ":1:17: poll_interval must be a string holding a duration such as \"2s\", not an integer"},
		{"poll_interval = \"0s\"\n", ":1:17: poll_interval must be at least 1ms"},
		{"signals_to_all = [\"TERM\", \"KILL\"]\n", ":1:27: signals_to_all[1]: KILL cannot be caught, so pidsitter cannot forward it"},
		{"stop_signals = [\"USR1\"]\n", ":1:17: stop_signals: USR1 is not in signals_to_all (a stop signal must reach every generation)"},
		{"env = { \"A=B\" = \"1\" }\n", ":1:9: env: invalid variable name 'A=B' (it must not be empty, nor hold '=' or a NUL byte)"},
		{"owner = \"no-such-user-here\"\n", ":1:9: owner: unknown user 'no-such-user-here' (a user name from /etc/passwd, a uid, or \"any\")"},
	};

	for (const auto &c : cases) {
		std::string text = c.text;
		CAPTURE(text);
		write_file(conf, text);
		/* -n and a real start both refuse, before any log line. */
		run r = pidsitter({"-n", "-c", conf});
		CHECK(r.code == 2);
		CHECK(r.err == "pidsitter: " + conf + c.msg + "\n");
		CHECK(r.out == "");
		r = pidsitter({"-c", conf, "-p", pidfile, "/bin/sleep", "1000"});
		CHECK(r.code == 2);
		CHECK(r.err == "pidsitter: " + conf + c.msg + "\n");
		CHECK(r.out == "");
		CHECK(access(pidfile.c_str(), F_OK) != 0);
	}

	/* Files that cannot be read. */
	std::string missing = dir / "missing.toml";
	run r = pidsitter({"-n", "-c", missing});
	CHECK(r.code == 2);
	CHECK(r.err == "pidsitter: " + missing + ": cannot read: No such file or directory\n");
	std::string fifo = dir / "fifo.toml";
	REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
	r = pidsitter({"-n", "-c", fifo});
	CHECK(r.code == 2);
	CHECK(r.err == "pidsitter: " + fifo + ": cannot read: not a regular file\n");
	r = pidsitter({"-n", "-c", dir.path});
	CHECK(r.code == 2);
	CHECK(r.err == "pidsitter: " + dir.path + ": cannot read: Is a directory\n");
}

TEST_CASE("precedence: command line > environment > file > defaults")
{
	tmp_dir dir;
	std::string conf = dir / "p.toml";

	write_file(conf, "pid_file = \"/from/file.pid\"\nlog_format = \"text\"\n"
	    "poll_interval = \"3s\"\n");

	/* pid_file: file, then GITALY_PID_FILE, then -p. */
	run r = pidsitter({"-n", "-c", conf});
	CHECK(described(r.out, "pid_file") == "\"/from/file.pid\"");
	r = pidsitter({"-n", "-c", conf}, {"GITALY_PID_FILE=/from/env.pid"});
	CHECK(described(r.out, "pid_file") == "\"/from/env.pid\"");
	r = pidsitter({"-n", "-c", conf, "-p", "/from/flag.pid"}, {"GITALY_PID_FILE=/from/env.pid"});
	CHECK(described(r.out, "pid_file") == "\"/from/flag.pid\"");
	/* An empty GITALY_PID_FILE is no value (gitaly-wrapper's test). */
	r = pidsitter({"-n", "-c", conf}, {"GITALY_PID_FILE="});
	CHECK(described(r.out, "pid_file") == "\"/from/file.pid\"");

	/* log_format: WRAPPER_JSON_LOGGING beats the file both ways, a word
	 * Go's ParseBool rejects leaves the file's choice, -j beats both. */
	r = pidsitter({"-n", "-c", conf}, {"WRAPPER_JSON_LOGGING=true"});
	CHECK(described(r.out, "log_format") == "\"json\"");
	write_file(conf, "pid_file = \"/from/file.pid\"\nlog_format = \"json\"\n");
	r = pidsitter({"-n", "-c", conf}, {"WRAPPER_JSON_LOGGING=0"});
	CHECK(described(r.out, "log_format") == "\"text\"");
	r = pidsitter({"-n", "-c", conf}, {"WRAPPER_JSON_LOGGING=yes"});
	CHECK(described(r.out, "log_format") == "\"json\"");
	r = pidsitter({"-n", "-c", conf, "-j"}, {"WRAPPER_JSON_LOGGING=false"});
	CHECK(described(r.out, "log_format") == "\"json\"");

	/* poll_interval: the file over the default, -i over the file. */
	write_file(conf, "pid_file = \"/from/file.pid\"\npoll_interval = \"3s\"\n");
	r = pidsitter({"-n", "-c", conf});
	CHECK(described(r.out, "poll_interval") == "\"3000ms\"");
	r = pidsitter({"-n", "-c", conf, "-i", "250ms"});
	CHECK(described(r.out, "poll_interval") == "\"250ms\"");
	r = pidsitter({"-n", "-p", "/x.pid"});
	CHECK(described(r.out, "poll_interval") == "\"1000ms\"");

	/* The file need not name the pid file when the environment does. */
	write_file(conf, "log_format = \"json\"\n");
	r = pidsitter({"-n", "-c", conf}, {"GITALY_PID_FILE=/from/env.pid"});
	CHECK(r.code == 0);
	CHECK(described(r.out, "pid_file") == "\"/from/env.pid\"");
	r = pidsitter({"-n", "-c", conf});
	CHECK(r.code == 2);
	CHECK(r.err.find("missing pid file") != std::string::npos);
}

TEST_CASE("PIDSITTER_CONFIG names the file when -c is absent")
{
	tmp_dir dir;
	std::string good = dir / "good.toml";
	std::string bad = dir / "bad.toml";

	write_file(good, "pid_file = \"/from/config-env.pid\"\n");
	write_file(bad, "pid_file = 1\n");
	run r = pidsitter({"-n"}, {"PIDSITTER_CONFIG=" + good});
	CHECK(r.code == 0);
	CHECK(described(r.out, "pid_file") == "\"/from/config-env.pid\"");
	/* It is used for a real start too: the error proves it was read. */
	r = pidsitter({"/bin/sleep", "1000"}, {"PIDSITTER_CONFIG=" + bad});
	CHECK(r.code == 2);
	CHECK(r.err == "pidsitter: " + bad + ":1:12: pid_file must be a string, not an integer\n");
	/* -c wins over it. */
	r = pidsitter({"-n", "-c", good}, {"PIDSITTER_CONFIG=" + bad});
	CHECK(r.code == 0);
	/* Empty: no file, as before the configuration existed. */
	r = pidsitter({"-n", "-p", "/x.pid"}, {"PIDSITTER_CONFIG="});
	CHECK(r.code == 0);
}

TEST_CASE("a running wrapper uses the file: pid_file, log_format, env, workdir")
{
	scene sc;
	child w;
	char cwd[PATH_MAX];

	sc.config("log_format = \"json\"\n"
	    "env = { PIDSITTER_TEST_VAR = \"from the file\" }\n"
	    "workdir = \"" + sc.dir.path + "\"\n");
	child_start(&w, sc.configured({"--env", "PIDSITTER_TEST_VAR"}), clean_env);
	REQUIRE(child_wait_line(&w, "\"msg\":\"monitoring process\"", 5000));
	pid_t daemon = sc.ready(5000);
	REQUIRE(daemon > 0);
	CHECK(record_count(sc.record, daemon, "env PIDSITTER_TEST_VAR=from the file") == 1);
	std::string link = "/proc/" + std::to_string(daemon) + "/cwd";
	ssize_t n = readlink(link.c_str(), cwd, sizeof cwd - 1);
	REQUIRE(n > 0);
	cwd[n] = '\0';
	CHECK(std::string(cwd) == sc.dir.path);
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, 5000));
	CHECK(child_code(&w) == 0);
	/* Every line is JSON. */
	CHECK(child_count_lines(&w, "{\"") == child_count_lines(&w, ""));
}

TEST_CASE("env = {} removes GITALY_UPGRADES_ENABLED")
{
	scene sc;
	child w;

	sc.config("env = {}\n");
	child_start(&w, sc.configured({"--env", "GITALY_UPGRADES_ENABLED"}), clean_env);
	REQUIRE(child_wait_line(&w, "msg=\"monitoring process\"", 5000));
	pid_t daemon = sc.ready(5000);
	CHECK(record_count(sc.record, daemon, "env GITALY_UPGRADES_ENABLED=(unset)") == 1);
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, 5000));
}

TEST_CASE("signal_rewrite and signals_ignored change what the daemon receives")
{
	scene sc;
	child w;

	sc.config("signal_rewrite = { USR1 = \"USR2\", TERM = \"INT\" }\n"
	    "signals_ignored = [\"WINCH\"]\n");
	child_start(&w, sc.configured(), clean_env);
	REQUIRE(child_wait_line(&w, "msg=\"monitoring process\"", 5000));
	pid_t daemon = sc.ready(5000);

	send_signal(w.pid, SIGUSR1);
	CHECK(record_wait(sc.record, daemon, "signal SIGUSR2", 5000));
	CHECK(record_count(sc.record, daemon, "signal SIGUSR1") == 0);

	send_signal(w.pid, SIGWINCH);
	CHECK(child_wait_line(&w, "msg=\"signal not forwarded\"", 5000));
	/* A later signal arrives, the ignored one never did. */
	send_signal(w.pid, SIGALRM);
	CHECK(record_wait(sc.record, daemon, "signal SIGALRM", 5000));
	CHECK(record_count(sc.record, daemon, "signal SIGWINCH") == 0);

	/* runit's TERM reaches the daemon as INT. */
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, 5000));
	CHECK(record_count(sc.record, daemon, "signal SIGINT") == 1);
	CHECK(record_count(sc.record, daemon, "signal SIGTERM") == 0);
}

TEST_CASE("workdir: -n refuses a missing one or a file, at its line; at spawn a missing one is said as such, exit 1")
{
	scene sc;
	std::string file = sc.dir / "a-file";
	write_file(file, "");
	const struct {
		std::string dir;
		const char *why;
	} cases[] = {
		{sc.dir / "no-such-dir", "No such file or directory"},
		{file, "Not a directory"},
		{file + "/below", "Not a directory"},
	};
	for (const auto &c : cases) {
		CAPTURE(c.dir);
		sc.config("workdir = \"" + c.dir + "\"\n");
		/* pid_file is line 1; the value is at column 11 of line 2. */
		run r = pidsitter({"-n", "-c", sc.conf});
		CHECK(r.code == 2);
		CHECK(r.err == "pidsitter: " + sc.conf + ":2:11: workdir: cannot change to '" + c.dir +
		    "': " + c.why + "\n");
		CHECK(r.out == "");

		/* A real start: said as what it is, never as a missing
		 * binary (127), and nothing runs. */
		child w;
		child_start(&w, sc.configured({"--exit-after", "0"}), clean_env);
		REQUIRE(child_wait_exit(&w, 10000));
		INFO(w.out);
		CHECK(child_code(&w) == 1);
		CHECK(has_line(w.out, {"level=fatal", "msg=\"cannot change to workdir\"",
		    "workdir=" + c.dir, std::string("error=\"") + c.why + "\""}));
		CHECK(w.out.find("spawn failed") == std::string::npos);
		CHECK(record_count(sc.record, 0, "start") == 0);
	}

	/* The workdir matters only to a spawn: a daemon already running is
	 * adopted whatever it says. */
	child d, w;
	child_start(&d, sc.daemon({"--exit-code", "3"}));
	REQUIRE(record_wait(sc.record, d.pid, "ready", 10000));
	reap_in_background(d.pid);
	d.exited = true;  /* the background thread reaps it */
	sc.config("workdir = \"" + sc.dir / "no-such-dir" + "\"\n" SLOW_REAP_OK);
	child_start(&w, sc.configured(), clean_env);
	REQUIRE(child_wait_line(&w, "msg=\"adopting a process\"", 10000));
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, 10000));
	CHECK(child_code(&w) == 3);
}

TEST_CASE("JSON logging: usage and configuration errors are JSON lines on stderr too")
{
	tmp_dir dir;
	std::string conf = dir / "bad.toml";
	write_file(conf, "pid_file = 1\n");
	std::string good = dir / "good.toml";
	write_file(good, "pid_file = \"/x.pid\"\nworkdir = \"" + dir / "missing" + "\"\n");
	const struct {
		std::vector<std::string> args;
		std::vector<std::string> env;
		const char *msg;
		std::string error;
	} cases[] = {
		/* -j seen before the error. */
		{{"-j", "-x", "/bin/true"}, {}, "invalid command line", "unknown option -x"},
		{{"--json", "--poll-interval", "soon", "/bin/true"}, {},
		    "invalid command line", "invalid poll interval 'soon' (a duration such as 500ms or 2s)"},
		{{"-j", "-p", "/x.pid"}, {}, "invalid command line", "no binary to run"},
		/* The environment, whatever the command line holds. */
		{{"--bogus", "-j"}, {"WRAPPER_JSON_LOGGING=true"}, "invalid command line",
		    "unknown option --bogus"},
		{{"-c", conf, "/bin/true"}, {"WRAPPER_JSON_LOGGING=1"}, "invalid configuration",
		    conf + ":1:12: pid_file must be a string, not an integer"},
		{{"-j", "-c", conf, "/bin/true"}, {}, "invalid configuration",
		    conf + ":1:12: pid_file must be a string, not an integer"},
		{{"-j", "/bin/true"}, {}, "invalid configuration",
		    "missing pid file: give -p/--pid-file PIDFILE or set GITALY_PID_FILE (or pid_file in the configuration file)"},
		{{"-j", "-n", "-c", good}, {}, "invalid configuration",
		    good + ":2:11: workdir: cannot change to '" + dir / "missing" + "': No such file or directory"},
	};
	for (const auto &c : cases) {
		std::string args, env;
		for (const std::string &a : c.args)
			args += a + " ";
		for (const std::string &e : c.env)
			env += e + " ";
		CAPTURE(args);
		CAPTURE(env);
		run r = pidsitter(c.args, c.env);
		CHECK(r.code == 2);
		CHECK(r.out == "");
		CAPTURE(r.err);
		/* One line, a JSON object with the log's fields. */
		REQUIRE(!r.err.empty());
		CHECK(r.err.find('\n') == r.err.size() - 1);
		CHECK(r.err.front() == '{');
		CHECK(r.err.compare(r.err.size() - 2, 2, "}\n") == 0);
		CHECK(r.err.find("\"level\":\"fatal\"") != std::string::npos);
		CHECK(r.err.find(std::string("\"msg\":\"") + c.msg + "\"") != std::string::npos);
		std::string quoted;
		for (char ch : c.error) {
			if (ch == '"' || ch == '\\')
				quoted.push_back('\\');
			quoted.push_back(ch);
		}
		CHECK(r.err.find("\"error\":\"" + quoted + "\"") != std::string::npos);
		CHECK(r.err.find("\"time\":\"") != std::string::npos);
		CHECK(r.err.find("\"wrapper\":") != std::string::npos);
		CHECK(r.err.find("\"pid\":") != std::string::npos);
	}

	/* Plain text otherwise, with the usage line for a usage error; a -j
	 * after the error was never read. */
	run r = pidsitter({"-x", "-j", "/bin/true"});
	CHECK(r.code == 2);
	CHECK(r.err == std::string("pidsitter: unknown option -x\n") +
	    "usage: pidsitter [-hjnVv] [-c config] [-i interval] [-p pidfile] "
	    "[-S socket] [--notify-fd fd] [--] binary [arg ...]\n"
	    "       pidsitter [-j] [-c config | -S socket] -s command [--timeout duration]\n");
	r = pidsitter({"-c", conf, "/bin/true"}, {"WRAPPER_JSON_LOGGING=no"});
	CHECK(r.code == 2);
	CHECK(r.err == "pidsitter: " + conf + ":1:12: pid_file must be a string, not an integer\n");
	/* The file's own log_format counts once it was read. */
	write_file(conf, "log_format = \"json\"\n");
	r = pidsitter({"-c", conf, "/bin/true"});
	CHECK(r.code == 2);
	CHECK(r.err.find("{\"error\":\"missing pid file") == 0);
}

TEST_CASE("signal_rewrite to KILL: TERM reaches the daemon as SIGKILL")
{
	scene sc;
	child w;

	sc.config("signal_rewrite = { TERM = \"KILL\", USR1 = \"STOP\" }\n");
	run r = pidsitter({"-n", "-c", sc.conf});
	REQUIRE(r.code == 0);
	CHECK(described(r.out, "signal_rewrite") == "{ \"USR1\" = \"STOP\", \"TERM\" = \"KILL\" }");
	child_start(&w, sc.configured({"--exit-code", "4"}), clean_env);
	REQUIRE(child_wait_line(&w, "msg=\"monitoring process\"", 5000));
	pid_t daemon = sc.ready(5000);
	pinned p = pin(daemon);

	/* STOP, then CONT (which goes as it is): the daemon is stopped and
	 * goes on. */
	send_signal(w.pid, SIGUSR1);
	REQUIRE(wait_until([&] {
		std::string st = read_file("/proc/" + std::to_string(daemon) + "/stat");
		size_t rp = st.rfind(')');
		return rp != std::string::npos && st.size() > rp + 2 && st[rp + 2] == 'T';
	}, 5000));
	send_signal(w.pid, SIGCONT);
	REQUIRE(record_wait(sc.record, daemon, "signal SIGCONT", 5000));

	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, 5000));
	INFO(w.out);
	CHECK(child_code(&w) == 128 + SIGKILL);
	CHECK(record_count(sc.record, daemon, "signal SIGTERM") == 0);
	CHECK(!pinned_alive(p));
}
