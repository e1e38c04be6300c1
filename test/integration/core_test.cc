/*
 * core_test.cc: the built pidsitter against the fixture daemon: spawn,
 * adopt, forward, exit status, bad pid files, bad invocations.
 */
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include "harness.h"

TEST_CASE("spawns the daemon with GITALY_UPGRADES_ENABLED, forwards signals, exits with its code")
{
	scene sc;
	child w;

	child_start(&w, sc.wrapper(sc.daemon({"--exit-code", "7", "--env", "GITALY_UPGRADES_ENABLED"})));
	REQUIRE(child_wait_line(&w, "msg=\"monitoring process\"", 5000));
	pid_t daemon = sc.ready(5000);
	CHECK(record_count(sc.record, daemon, "env GITALY_UPGRADES_ENABLED=true") == 1);
	/* The daemon is our wrapper's child, in its process group. */
	CHECK(record_count(sc.record, daemon, "start " + std::to_string(w.pid)) == 1);
	CHECK(getpgid(daemon) == getpgid(w.pid));

	const struct {
		int sig;
		const char *name;
	} sigs[] = {{SIGUSR1, "SIGUSR1"}, {SIGUSR2, "SIGUSR2"}, {SIGWINCH, "SIGWINCH"},
	    {SIGTTIN, "SIGTTIN"}, {SIGTTOU, "SIGTTOU"}, {SIGTSTP, "SIGTSTP"},
	    {SIGALRM, "SIGALRM"}, {SIGPWR, "SIGPWR"}, {SIGCONT, "SIGCONT"},
	    {SIGRTMIN + 3, "SIG37"}};
	for (const auto &e : sigs) {
		CAPTURE(e.name);
		send_signal(w.pid, e.sig);
		/* One at a time: standard signals may coalesce. */
		CHECK(record_wait(sc.record, daemon, std::string("signal ") + e.name, 5000));
	}
	/* The wrapper caught TSTP, TTIN, TTOU itself: it is not stopped. */
	CHECK(pid_alive(w.pid));

	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, 5000));
	CHECK(child_code(&w) == 7);
	CHECK(child_count_lines(&w, "msg=\"forwarding signal\"") == 11);
	CHECK(record_count(sc.record, daemon, "signal SIGTERM") == 1);
	CHECK(w.out.find("msg=\"wrapper for process shutting down\"") != std::string::npos);
	CHECK_FALSE(pid_alive(daemon));
}

TEST_CASE("a start process that exits 0 and leaves nothing behind: the wrapper exits 0 at once, as gitaly-wrapper")
{
	scene sc;
	child w;

	/* Not a forking daemon: nothing was left to wait for a pid file of
	 * (the default start_timeout, 10 s, is for those). */
	child_start(&w, {build_path("pidsitter"), "-p", sc.pidfile, "--", "/bin/true"}, clean_env);
	REQUIRE(child_wait_exit(&w, 20000));
	INFO(child_dump(&w));
	CHECK(child_code(&w) == 0);
	CHECK(child_count_lines(&w, "waiting for the daemon's pid file") == 0);
	CHECK(child_count_lines(&w, log_msg("process exited", "exit_code=0 " +
	    log_gen(w, 1, (pid_t)line_field(child_find_line(&w, "msg=\"monitoring process\""),
	    "process")) + " status_source=child").c_str()) == 1);
	CHECK(child_count_lines(&w, log_msg("wrapper for process shutting down",
	    "exit_code=0").c_str()) == 1);
}

TEST_CASE("a daemon killed by signal N gives exit status 128+N")
{
	scene sc;
	child w;

	child_start(&w, sc.wrapper(sc.daemon()));
	pid_t daemon = sc.ready(5000);
	send_signal(daemon, SIGKILL);
	REQUIRE(child_wait_exit(&w, 5000));
	CHECK(child_code(&w) == 137);
	CHECK(w.out.find("signal=SIGKILL status_source=child") != std::string::npos);
}

TEST_CASE("adopts a live matching daemon without spawning a second, and reports its exact status")
{
	scene sc;
	child d, w;

	/* The daemon is the test's child, not the wrapper's. */
	child_start(&d, sc.daemon({"--exit-code", "42"}));
	REQUIRE(record_wait(sc.record, d.pid, "ready", 5000));
	reap_in_background(d.pid);
	d.exited = true;  /* the background thread reaps it */

	sc.config(SLOW_REAP_OK);
	child_start(&w, sc.wrapper(sc.daemon(), {"-c", sc.conf}));
	REQUIRE(child_wait_line(&w, "msg=\"adopting a process\"", 5000));
	REQUIRE(child_wait_line(&w, "msg=\"monitoring process\"", 5000));
	CHECK(w.out.find("process=" + std::to_string(d.pid)) != std::string::npos);
	CHECK(w.out.find("spawning a process") == std::string::npos);
	CHECK(live_matching(sc.gitaly).size() == 1);

	send_signal(w.pid, SIGUSR1);
	REQUIRE(record_wait(sc.record, d.pid, "signal SIGUSR1", 5000));
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, 5000));
	/* PIDFD_INFO_EXIT: the status of a process we never parented. */
	CHECK(child_code(&w) == 42);
	CHECK(w.out.find("exit_code=42 generation=1") != std::string::npos);
	CHECK(w.out.find("status_source=pidfd") != std::string::npos);
}

TEST_CASE("a pid file with a trailing newline and whitespace is adopted")
{
	scene sc;
	child w;
	pid_t daemon = start_detached(sc.daemon({"--no-pid-file"}));

	REQUIRE(record_wait(sc.record, daemon, "ready", 5000));
	write_file(sc.pidfile, "  " + std::to_string(daemon) + "\n");
	child_start(&w, sc.wrapper(sc.daemon()));
	REQUIRE(child_wait_line(&w, "msg=\"adopting a process\"", 5000));
	CHECK(live_matching(sc.gitaly).size() == 1);
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, 5000));
	CHECK(record_count(sc.record, daemon, "signal SIGTERM") == 1);
}

TEST_CASE("a live process that is not the expected binary is never adopted nor signalled")
{
	scene sc;
	child w;
	std::string stranger = sc.dir.link("stranger", "fixture-daemon");
	std::string strec = sc.dir / "stranger.rec";
	pid_t spid = start_detached({stranger, "--pid-file", sc.pidfile, "--record", strec});

	REQUIRE(record_wait(strec, spid, "ready", 5000));
	child_start(&w, sc.wrapper(sc.daemon({"--no-pid-file"})));
	REQUIRE(child_wait_line(&w, "msg=\"spawning a process\"", 5000));
	CHECK(w.out.find("not the expected binary") != std::string::npos);
	REQUIRE(record_wait(sc.record, 0, "ready", 5000));
	send_signal(w.pid, SIGUSR1);
	REQUIRE(record_wait(sc.record, 0, "signal SIGUSR1", 5000));
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, 5000));
	CHECK(record_count(strec, spid, "signal") == 0);
	CHECK(pid_alive(spid));
	kill(spid, SIGKILL);
}

TEST_CASE("a daemon name longer than 15 bytes is matched the way the kernel cuts comm")
{
	scene sc;
	child w;
	/* Link by another name so that exe does not match: only comm can. */
	std::string longname = sc.dir / "gitaly-with-a-long-name";
	REQUIRE(symlink(build_path("fixture-daemon").c_str(), longname.c_str()) == 0);
	pid_t daemon = start_detached({longname, "--pid-file", sc.pidfile, "--record", sc.record});

	REQUIRE(record_wait(sc.record, daemon, "ready", 5000));
	CHECK(read_file("/proc/" + std::to_string(daemon) + "/comm") == "gitaly-with-a-l\n");
	child_start(&w, {build_path("pidsitter"), "-p", sc.pidfile, longname,
	    "--pid-file", sc.pidfile, "--record", sc.record});
	REQUIRE(child_wait_line(&w, "msg=\"adopting a process\"", 5000));
	CHECK(w.out.find("matched=comm") != std::string::npos);
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, 5000));
	CHECK(live_matching(longname).empty());
}

TEST_CASE("the exe name matches a daemon whose comm differs, even once its binary was replaced")
{
	scene sc;
	child w;
	/* A copy called gitaly, started through a link with another name:
	 * comm is the link's name, exe is gitaly. */
	std::string real = sc.dir / "bin-gitaly";
	mkdir(real.c_str(), 0755);
	real += "/gitaly";
	write_file(real, read_file(build_path("fixture-daemon")), 0755);
	std::string alias = sc.dir / "alias";
	REQUIRE(symlink(real.c_str(), alias.c_str()) == 0);
	pid_t daemon = start_detached({alias, "--pid-file", sc.pidfile, "--record", sc.record});
	REQUIRE(record_wait(sc.record, daemon, "ready", 5000));
	/* An upgrade replaces the file: /proc/PID/exe ends in " (deleted)". */
	REQUIRE(unlink(real.c_str()) == 0);

	child_start(&w, {build_path("pidsitter"), "-p", sc.pidfile, real});
	REQUIRE(child_wait_line(&w, "msg=\"adopting a process\"", 5000));
	CHECK(w.out.find("matched=exe") != std::string::npos);
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, 5000));
	CHECK(record_count(sc.record, daemon, "signal SIGTERM") == 1);
}

TEST_CASE("garbage in the pid file: logged, and a daemon is spawned")
{
	const std::string bad[] = {"", "\n", "abc", "12abc", "-5", "0", "+7", "0x10",
	    "99999999999999999999", "1 2", std::string("12\0003", 4), "\xff\xfe"};
	for (const std::string &text : bad) {
		CAPTURE(text);
		scene sc;
		child w;
		write_file(sc.pidfile, text);
		child_start(&w, sc.wrapper(sc.daemon(spawn_and_exit)));
		REQUIRE(child_wait_exit(&w, 5000));
		CHECK(w.out.find("msg=\"find process\"") != std::string::npos);
		CHECK(w.out.find("msg=\"spawning a process\"") != std::string::npos);
		CHECK(child_code(&w) == 5);
	}
}

TEST_CASE("pid 1, the wrapper's own ancestors and a zombie are never adopted")
{
	SUBCASE("pid 1 and the test (the wrapper's parent)") {
		for (pid_t pid : {(pid_t)1, getpid()}) {
			scene sc;
			child w;
			write_file(sc.pidfile, std::to_string(pid));
			child_start(&w, sc.wrapper(sc.daemon(spawn_and_exit)));
			REQUIRE(child_wait_exit(&w, 5000));
			CHECK(w.out.find("msg=\"spawning a process\"") != std::string::npos);
			CHECK(w.out.find(pid == 1 ? "it is pid 1" : "ancestor") != std::string::npos);
		}
	}
	SUBCASE("a zombie gitaly counts as dead") {
		scene sc;
		child z, w;
		/* --zombie: a gitaly child that exits and is never reaped. */
		child_start(&z, sc.daemon({"--zombie"}));
		REQUIRE(record_wait(sc.record, z.pid, "zombie", 5000));
		pid_t zpid = read_pid(sc.pidfile);
		REQUIRE(zpid > 0);
		REQUIRE(wait_until([&] { return !pid_alive(zpid); }, 5000));
		child_start(&w, sc.wrapper(sc.daemon(spawn_and_exit)));
		REQUIRE(child_wait_exit(&w, 5000));
		CHECK(w.out.find("zombie") != std::string::npos);
		CHECK(w.out.find("msg=\"spawning a process\"") != std::string::npos);
		CHECK(child_code(&w) == 5);
	}
}

TEST_CASE("a wrapper SIGKILLed and restarted re-adopts the daemon, with no duplicate")
{
	scene sc;
	pid_t daemon;
	{
		child w1;
		child_start(&w1, sc.wrapper(sc.daemon()));
		daemon = sc.ready(5000);
		child_kill(&w1);
	}
	REQUIRE(pid_alive(daemon));
	for (int round = 0; round < 3; round++) {
		child w;
		child_start(&w, sc.wrapper(sc.daemon()));
		REQUIRE(child_wait_line(&w, "msg=\"adopting a process\"", 5000));
		CHECK(w.out.find("process=" + std::to_string(daemon)) != std::string::npos);
		CHECK(live_matching(sc.gitaly).size() == 1);
		child_kill(&w);
	}
	child w;
	child_start(&w, sc.wrapper(sc.daemon()));
	REQUIRE(child_wait_line(&w, "msg=\"monitoring process\"", 5000));
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, 5000));
	CHECK_FALSE(pid_alive(daemon));
	CHECK(live_matching(sc.gitaly).empty());
}

TEST_CASE("JSON log lines: -j and WRAPPER_JSON_LOGGING with Go's bool words")
{
	struct {
		std::vector<std::string> opts;
		std::vector<std::string> env;
		bool json;
	} cases[] = {
		{{"-j"}, {}, true},
		{{"--json"}, {"WRAPPER_JSON_LOGGING=false"}, true},
		{{}, {"WRAPPER_JSON_LOGGING=true"}, true},
		{{}, {"WRAPPER_JSON_LOGGING=1"}, true},
		{{}, {"WRAPPER_JSON_LOGGING=T"}, true},
		{{}, {"WRAPPER_JSON_LOGGING=False"}, false},
		{{}, {"WRAPPER_JSON_LOGGING=yes"}, false},  /* not a Go bool: text */
		{{}, {"WRAPPER_JSON_LOGGING"}, false},
	};
	for (auto &c : cases) {
		scene sc;
		child w;
		CAPTURE(c.env);
		child_start(&w, sc.wrapper(sc.daemon({"--exit-after", "0", "--exit-code", "3"}), c.opts), c.env);
		REQUIRE(child_wait_exit(&w, 5000));
		CHECK(child_code(&w) == 3);
		size_t from = 0, nl;
		int lines = 0;
		while ((nl = w.out.find('\n', from)) != std::string::npos) {
			std::string line = w.out.substr(from, nl - from);
			from = nl + 1;
			lines++;
			if (c.json) {
				CHECK(line.front() == '{');
				CHECK(line.back() == '}');
				CHECK(line.find("\"level\":\"") != std::string::npos);
				CHECK(line.find("\"wrapper\":" + std::to_string(w.pid)) != std::string::npos);
				CHECK(line.find("\"time\":\"") != std::string::npos);
			} else {
				CHECK(line.compare(0, 6, "time=\"") == 0);
			}
		}
		CHECK(lines >= 5);
	}
}

TEST_CASE("invocation errors: no pid file, no binary, a missing or non-executable binary")
{
	scene sc;
	std::string marker = sc.dir / "spawned";
	std::vector<std::string> touch = {"/bin/sh", "-c", "touch " + marker + "; exit 4"};

	SUBCASE("no pid file anywhere: exit 2, both sources named, nothing spawned") {
		child w;
		std::vector<std::string> argv = {build_path("pidsitter")};
		argv.insert(argv.end(), touch.begin(), touch.end());
		child_start(&w, argv, {"GITALY_PID_FILE", "PIDSITTER_CONFIG"});
		REQUIRE(child_wait_exit(&w, 5000));
		CHECK(child_code(&w) == 2);
		CHECK(w.err.find("-p") != std::string::npos);
		CHECK(w.err.find("GITALY_PID_FILE") != std::string::npos);
		CHECK(access(marker.c_str(), F_OK) != 0);
	}
	SUBCASE("GITALY_PID_FILE is enough") {
		child w;
		std::vector<std::string> argv = {build_path("pidsitter")};
		argv.insert(argv.end(), touch.begin(), touch.end());
		child_start(&w, argv, {"GITALY_PID_FILE=" + sc.pidfile});
		REQUIRE(child_wait_exit(&w, 5000));
		CHECK(access(marker.c_str(), F_OK) == 0);
	}
	SUBCASE("no binary: usage, exit 2") {
		child w;
		child_start(&w, {build_path("pidsitter"), "-p", sc.pidfile});
		REQUIRE(child_wait_exit(&w, 5000));
		CHECK(child_code(&w) == 2);
		CHECK(w.err.find("usage: pidsitter") != std::string::npos);
	}
	SUBCASE("a missing binary: 127, named") {
		child w;
		child_start(&w, {build_path("pidsitter"), "-p", sc.pidfile, sc.dir / "nope"});
		REQUIRE(child_wait_exit(&w, 5000));
		CHECK(child_code(&w) == 127);
		CHECK(w.out.find(sc.dir / "nope") != std::string::npos);
	}
	SUBCASE("a binary that cannot be executed: 126, named") {
		child w;
		write_file(sc.dir / "noexec", "#!/bin/sh\n", 0644);
		child_start(&w, {build_path("pidsitter"), "-p", sc.pidfile, sc.dir / "noexec"});
		REQUIRE(child_wait_exit(&w, 5000));
		CHECK(child_code(&w) == 126);
		CHECK(w.out.find(sc.dir / "noexec") != std::string::npos);
	}
	SUBCASE("an unreadable pid file (a directory): exit 1, nothing spawned") {
		child w;
		mkdir(sc.pidfile.c_str(), 0755);
		std::vector<std::string> argv = {build_path("pidsitter"), "-p", sc.pidfile};
		argv.insert(argv.end(), touch.begin(), touch.end());
		child_start(&w, argv);
		REQUIRE(child_wait_exit(&w, 5000));
		CHECK(child_code(&w) == 1);
		CHECK(w.out.find("is a directory") != std::string::npos);
		CHECK(access(marker.c_str(), F_OK) != 0);
	}
	SUBCASE("options after the binary are the daemon's") {
		child w;
		child_start(&w, {build_path("pidsitter"), "-p", sc.pidfile, "/bin/sh", "-c",
		    "echo \"args:$0:$1\"; exit 3", "-p", "-j"});
		REQUIRE(child_wait_exit(&w, 5000));
		CHECK(w.out.find("args:-p:-j") != std::string::npos);
		CHECK(w.out.find("time=\"") != std::string::npos);  /* still text */
	}
}

TEST_CASE("-V prints the version, -h the usage line")
{
	child v, h;
	child_start(&v, {build_path("pidsitter"), "-V"});
	REQUIRE(child_wait_exit(&v, 5000));
	CHECK(child_code(&v) == 0);
	CHECK(v.out.compare(0, 10, "pidsitter ") == 0);
	child_start(&h, {build_path("pidsitter"), "--help"});
	REQUIRE(child_wait_exit(&h, 5000));
	CHECK(child_code(&h) == 0);
	CHECK(h.out.compare(0, 17, "usage: pidsitter ") == 0);
}
