/*
 * upgrade_test.cc: following the daemon across upgrades with the C
 * tableflip-style fixture: back-to-back upgrades, failed and
 * hanging upgrades, torn pid files, stop signals during a drain and in the
 * middle of an upgrade, forking daemons, successors, reaping; a successor
 * that dies during the drain, a pid file change inotify lost.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include "harness.h"

namespace {

/* HUP the wrapper and wait until the pid file names a new ready process
 * that the wrapper follows; returns the new pid. */
pid_t
upgrade(const scene &sc, child *w, pid_t old, unsigned generation)
{
	pid_t fresh = hup_successor(sc, w, old, 10000);
	REQUIRE(child_wait_line(w, log_gen(*w, generation, fresh).c_str(), 10000));
	return fresh;
}

}  // namespace

TEST_CASE("ten upgrades in a row: each followed, each leaving exactly one live daemon")
{
	scene sc;
	child w;

	child_start(&w, sc.wrapper(sc.daemon({"--drain", "50", "--exit-code", "9"})));
	pid_t cur = sc.ready(5000);
	for (int gen = 2; gen <= 11; gen++) {
		CAPTURE(gen);
		pid_t old = cur;
		cur = upgrade(sc, &w, old, gen);
		REQUIRE(record_wait(sc.record, old, "exit 0", 10000));
		REQUIRE(wait_until([&] { return !pid_alive(old); }, 10000));
		CHECK(live_matching(sc.gitaly).size() == 1);
		CHECK(live_matching(sc.gitaly)[0] == cur);
		/* The drained parent's exit left no zombie behind. */
		CHECK(wait_until([&] { return zombies_of(w.pid).empty(); }, 5000));
	}
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, 10000));
	CHECK(child_code(&w) == 9);
	/* Generation 11 was re-parented to the wrapper (a subreaper): its
	 * status came from reaping it. */
	CHECK(w.out.find("exit_code=9 generation=11") != std::string::npos);
	CHECK(w.out.find("status_source=reap") != std::string::npos);
	CHECK(live_matching(sc.gitaly).empty());
}

TEST_CASE("a failed upgrade leaves the old generation current and the wrapper running")
{
	scene sc;
	child w;
	std::string fail = sc.dir / "fail";

	child_start(&w, sc.wrapper(sc.daemon({"--fail-upgrade-file", fail, "--drain", "50"})));
	pid_t cur = sc.ready(5000);
	write_file(fail, "");

	SUBCASE("the new process crashes before it is ready") {
		send_signal(w.pid, SIGHUP);
		REQUIRE(record_wait(sc.record, cur, "upgrade-failed", 10000));
	}
	SUBCASE("the new process hangs and its parent kills it") {
		unlink(fail.c_str());
		child_kill(&w);
		kill(cur, SIGKILL);
		child w2;
		unlink(sc.pidfile.c_str());
		child_start(&w2, sc.wrapper(sc.daemon({"--upgrade-ready-delay", "60000",
		    "--upgrade-timeout", "300"})));
		REQUIRE(record_wait(sc.record, 0, "ready", 5000));
		REQUIRE(wait_until([&] { return read_pid(sc.pidfile) > 0 && read_pid(sc.pidfile) != cur; }, 5000));
		cur = read_pid(sc.pidfile);
		send_signal(w2.pid, SIGHUP);
		REQUIRE(record_wait(sc.record, cur, "upgrade-failed timeout", 10000));
		send_signal(w2.pid, SIGUSR1);
		CHECK(record_wait(sc.record, cur, "signal SIGUSR1", 5000));
		CHECK(live_matching(sc.gitaly).size() == 1);
		send_signal(w2.pid, SIGTERM);
		REQUIRE(child_wait_exit(&w2, 5000));
		CHECK(w2.out.find("following new process") == std::string::npos);
		return;
	}
	CHECK(read_pid(sc.pidfile) == cur);
	send_signal(w.pid, SIGUSR1);
	CHECK(record_wait(sc.record, cur, "signal SIGUSR1", 5000));
	CHECK(pid_alive(w.pid));
	CHECK(live_matching(sc.gitaly).size() == 1);
	/* The next upgrade works. */
	unlink(fail.c_str());
	cur = upgrade(sc, &w, cur, 2);
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, 10000));
	CHECK(child_code(&w) == 0);
	CHECK(record_count(sc.record, cur, "signal SIGTERM") == 1);
}

TEST_CASE("a torn pid file never makes a stranger current")
{
	scene sc;
	child w;

	/* --torn writes the pid in place a byte at a time, 20 ms apart: the
	 * wrapper sees every prefix of the new pid. */
	child_start(&w, sc.wrapper(sc.daemon({"--torn", "--drain", "100"})));
	pid_t cur = sc.ready(5000);
	for (int gen = 2; gen <= 4; gen++) {
		pid_t old = cur;
		cur = upgrade(sc, &w, old, gen);
		REQUIRE(wait_until([&] { return !pid_alive(old); }, 10000));
	}
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, 10000));
	/* Exactly generations 2..4 were followed, each a gitaly. */
	CHECK(child_count_lines(&w, "msg=\"following new process\"") == 3);
	CHECK(w.out.find("generation=5") == std::string::npos);
	CHECK(record_count(sc.record, cur, "signal SIGTERM") == 1);
}

TEST_CASE("stop signals reach every generation: TERM during the old one's drain stops both")
{
	scene sc;
	child w;

	child_start(&w, sc.wrapper(sc.daemon({"--drain", "60000", "--exit-code", "4"})));
	pid_t old = sc.ready(5000);
	pid_t cur = upgrade(sc, &w, old, 2);
	REQUIRE(record_wait(sc.record, old, "upgraded", 5000));
	REQUIRE(pid_alive(old));

	/* A non-stop signal goes to the current generation only. */
	send_signal(w.pid, SIGUSR2);
	REQUIRE(record_wait(sc.record, cur, "signal SIGUSR2", 5000));
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, 10000));
	CHECK(record_count(sc.record, old, "signal SIGUSR2") == 0);
	CHECK(record_count(sc.record, old, "signal SIGTERM") == 1);
	CHECK(record_count(sc.record, cur, "signal SIGTERM") == 1);
	CHECK(child_code(&w) == 4);
	CHECK(live_matching(sc.gitaly).empty());
}

TEST_CASE("a stop signal in the middle of an upgrade also reaches the generation that appears after it")
{
	scene sc;
	child w;

	/* The new process takes 500 ms to be ready; the old one leaves it
	 * running when it is told to stop. */
	child_start(&w, sc.wrapper(sc.daemon({"--upgrade-ready-delay", "500", "--orphan-on-term"})));
	pid_t old = sc.ready(5000);
	send_signal(w.pid, SIGHUP);
	REQUIRE(record_wait(sc.record, old, "upgrading", 5000));
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, 10000));
	pid_t fresh = read_pid(sc.pidfile);
	REQUIRE(fresh != old);
	CHECK(record_count(sc.record, old, "signal SIGTERM") == 1);
	CHECK(record_count(sc.record, fresh, "signal SIGTERM") == 1);
	CHECK(record_count(sc.record, fresh, "exit") == 1);
	CHECK(live_matching(sc.gitaly).empty());
}

TEST_CASE("a forking daemon: the start process exits 0, the daemon it leaves is followed")
{
	scene sc;
	child w;

	child_start(&w, sc.wrapper(sc.daemon({"--daemonize", "--exit-code", "6",
	    "--ready-delay", "100"})));
	/* The daemon was re-parented to the wrapper (a subreaper) when the
	 * start process exited: it is followed at once, before it even
	 * wrote its pid file. */
	REQUIRE(child_wait_line(&w, "msg=\"following new process\"", 5000));
	CHECK(w.out.find("source=child") != std::string::npos);
	pid_t daemon = sc.ready(5000);
	CHECK(w.out.find("process=" + std::to_string(daemon)) != std::string::npos);
	send_signal(w.pid, SIGUSR1);
	REQUIRE(record_wait(sc.record, daemon, "signal SIGUSR1", 5000));
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, 5000));
	CHECK(child_code(&w) == 6);
	CHECK(w.out.find("exit_code=6 generation=2") != std::string::npos);
	CHECK(w.out.find("status_source=reap") != std::string::npos);
}

TEST_CASE("a daemon started through a script: its successor runs the same program and is followed")
{
	bool background = false;
	SUBCASE("the script execs the daemon") {}
	SUBCASE("the script starts the daemon in the background and exits 0") { background = true; }
	scene sc;
	child w;
	/* BINARY is the script: names are "run-gitaly.sh", which the
	 * daemon (comm gitaly, exe fixture-daemon) never matches. */
	std::string script = sc.dir / "run-gitaly.sh";
	write_file(script, "#!/bin/sh\n" + (background ? sc.gitaly + " \"$@\" &\nexit 0\n" :
	    "exec " + sc.gitaly + " \"$@\"\n"), 0755);
	child_start(&w, {build_path("pidsitter"), "-p", sc.pidfile, "--", script, "--pid-file",
	    sc.pidfile, "--record", sc.record, "--drain", "50", "--exit-code", "7"}, clean_env);
	INFO(child_dump(&w));
	pid_t d1 = sc.ready(10000);
	/* Generation 1 is the script; in the background, it exits 0 and
	 * leaves the daemon, generation 2. */
	unsigned gen = background ? 2 : 1;
	/* Until the script has exited, it is the generation a HUP reaches
	 * (and kills): the daemon must be followed first.  The pid file may
	 * name it before the script is gone. */
	REQUIRE(child_wait_line(&w, log_gen(w, gen, d1).c_str(), 10000));

	/* HUP: the successor is the same program (by exe), not a stranger. */
	pid_t d2 = hup_successor(sc, &w, d1, 10000);
	REQUIRE(child_wait_line(&w, log_msg("following new process", log_gen(w, gen + 1, d2) +
	    " role=current source=pid_file").c_str(), 10000));
	/* The successor is never refused.  (In the background, the daemon
	 * may write its pid file before the script exits; that one read is
	 * refused, and the daemon followed once the script is gone.) */
	CHECK(child_count_lines(&w, ("msg=\"not following process\" pid=" +
	    std::to_string(w.pid) + " pid_file=" + sc.pidfile + " process=" +
	    std::to_string(d2) + " ").c_str()) == 0);
	CHECK(child_count_lines(&w, ("msg=\"not following process\" pid=" +
	    std::to_string(w.pid) + " process=" + std::to_string(d2) + " ").c_str()) == 0);
	if (!background)
		CHECK(child_count_lines(&w, "not following process") == 0);
	REQUIRE(record_wait(sc.record, d1, "exit 0", 10000));
	send_signal(w.pid, SIGUSR1);
	REQUIRE(record_wait(sc.record, d2, "signal SIGUSR1", 10000));
	CHECK(pid_alive(w.pid));
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, 10000));
	CHECK(child_code(&w) == 7);
	CHECK(record_count(sc.record, d2, "signal SIGTERM") == 1);
	CHECK(live_matching(sc.gitaly).empty());

	/* When the pid file first named it, the wrapper said that names do
	 * not match the daemon, once, with the fix. */
	CHECK(child_count_lines(&w, "msg=\"the names do not match the daemon\"") == 1);
	CHECK(has_line(w.out, {"msg=\"the names do not match the daemon\"", log_gen(w, gen, d1),
	    "comm gitaly", "expected run-gitaly.sh",
	    "fix=\"add it to names in the configuration file, names = [\\\"gitaly\\\"]"}));
}

TEST_CASE("a script whose background subshell writes the pid file, then execs the daemon: its successor is followed")
{
	scene sc;
	child w;
	std::string script = sc.dir / "run-gitaly.sh", status = sc.dir / "status.json";
	std::string gate = sc.dir / "gate", tmp = sc.pidfile + ".tmp";

	/* The subshell names itself in the pid file while it is still the
	 * script (comm run-gitaly.sh, exe the shell), then, once the test has
	 * seen the wrapper take that pid file (the status file is written
	 * when a pid file first names the daemon), becomes the daemon. */
	write_file(script, "#!/bin/sh\n(\n\techo $(sh -c 'echo $PPID') > " + tmp +
	    "\n\tmv " + tmp + " " + sc.pidfile + "\n\twhile [ ! -e " + gate +
	    " ]; do sleep 0.05; done\n\texec " + sc.gitaly + " \"$@\"\n) &\nexit 0\n", 0755);
	sc.config("status_file = \"" + status + "\"\n");
	child_start(&w, {build_path("pidsitter"), "-c", sc.conf, "--", script, "--pid-file",
	    sc.pidfile, "--record", sc.record, "--drain", "50"}, clean_env);
	INFO(child_dump(&w));
	REQUIRE(wait_until([&] { return !read_file(status).empty(); }, 10000));
	write_file(gate, "");
	pid_t d1 = sc.ready(10000);

	/* Its program is what it runs now, not the shell it ran when the pid
	 * file first named it: the successor is followed, never left behind. */
	pid_t d2 = hup_successor(sc, &w, d1, 10000);
	REQUIRE(child_wait_line(&w, log_msg("following new process", log_gen(w, 3, d2) +
	    " role=current source=pid_file").c_str(), 10000));
	CHECK(child_count_lines(&w, "not following process") == 0);
	REQUIRE(record_wait(sc.record, d1, "exit 0", 10000));
	pump_for(&w, 200);
	CHECK(pid_alive(w.pid));
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, 10000));
	CHECK(record_count(sc.record, d2, "signal SIGTERM") == 1);
	CHECK(live_matching(sc.gitaly).empty());
}

TEST_CASE("the old process crashes mid-upgrade: its orphaned successor is the daemon once it writes the pid file")
{
	scene sc;
	child w;

	/* The new process takes 500 ms to be ready: the old one dies before
	 * it wrote the pid file, and it is re-parented to the wrapper. */
	child_start(&w, sc.wrapper(sc.daemon({"--upgrade-ready-delay", "500", "--exit-code", "3"})));
	INFO(child_dump(&w));
	pid_t old = sc.ready(10000);
	send_signal(w.pid, SIGHUP);
	REQUIRE(record_wait(sc.record, old, "upgrading", 10000));
	std::string text = read_file(sc.record), key = std::to_string(old) + " upgrading ";
	pid_t fresh = (pid_t)atoi(text.c_str() + text.find(key) + key.size());
	REQUIRE(fresh > 0);
	send_signal(old, SIGKILL);
	/* Not the daemon on its name alone: an orphan until the pid file
	 * names it, and the wrapper waits for that. */
	REQUIRE(child_wait_line(&w, log_msg("following new process", log_gen(w, 2, fresh) +
	    " role=orphan source=child").c_str(), 10000));
	REQUIRE(child_wait_line(&w, log_msg("process is current", log_gen(w, 2, fresh)).c_str(),
	    10000));
	REQUIRE(child_wait_line(&w, log_msg("upgrade complete", log_gen(w, 2, fresh)).c_str(),
	    10000));
	CHECK(read_pid(sc.pidfile) == fresh);
	CHECK(child_count_lines(&w, "wrapper for process shutting down") == 0);
	send_signal(w.pid, SIGUSR1);
	REQUIRE(record_wait(sc.record, fresh, "signal SIGUSR1", 10000));
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, 10000));
	CHECK(child_code(&w) == 3);
	CHECK(record_count(sc.record, fresh, "signal SIGTERM") == 1);
	CHECK(live_matching(sc.gitaly).empty());
}

TEST_CASE("a successor named by <pidfile>.2 keeps the wrapper running when the current one dies")
{
	scene sc;
	child w;

	child_start(&w, sc.wrapper(sc.daemon()));
	pid_t first = sc.ready(5000);
	/* gunicorn: the new master's pid goes to <pidfile>.2 first. */
	std::string rec2 = sc.dir / "record2";
	pid_t second = start_detached({sc.gitaly, "--pid-file", sc.pidfile + ".2",
	    "--record", rec2, "--exit-code", "8"});
	REQUIRE(record_wait(rec2, second, "ready", 5000));
	REQUIRE(child_wait_line(&w, "source=dot2", 5000));
	CHECK(w.out.find("role=draining") != std::string::npos);

	send_signal(first, SIGKILL);
	REQUIRE(child_wait_line(&w, "msg=\"process is current\"", 5000));
	CHECK(pid_alive(w.pid));
	send_signal(w.pid, SIGUSR1);
	REQUIRE(record_wait(rec2, second, "signal SIGUSR1", 5000));
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, 5000));
	CHECK(record_count(rec2, second, "signal SIGTERM") == 1);
	CHECK(live_matching(sc.gitaly).empty());
}

TEST_CASE("a stop during an upgrade: the successor its parent kills is not taken for the daemon")
{
	/* tableflip's old process SIGKILLs a successor that is not ready
	 * when it is told to stop, then exits 0.  The successor, re-parented
	 * to the wrapper, must not be followed while the kill is on its way,
	 * or its SIGKILL becomes the wrapper's exit status (137).  The race
	 * is narrow: try it a number of times. */
	for (int round = 0; round < 15; round++) {
		CAPTURE(round);
		scene sc;
		child w;
		child_start(&w, sc.wrapper(sc.daemon({"--upgrade-ready-delay", "60000"})));
		pid_t old = sc.ready(5000);
		send_signal(w.pid, SIGHUP);
		REQUIRE(record_wait(sc.record, old, "upgrading", 5000));
		send_signal(w.pid, SIGTERM);
		REQUIRE(child_wait_exit(&w, 10000));
		CHECK(child_code(&w) == 0);
		CHECK(w.out.find("exit_code=137") == std::string::npos);
		CHECK(live_matching(sc.gitaly).empty());
	}
}

TEST_CASE("a wrapper started during a drain follows the draining old process too")
{
	scene sc;
	pid_t old, cur;
	{
		child w1;
		child_start(&w1, sc.wrapper(sc.daemon({"--drain", "60000", "--exit-code", "5"})));
		old = sc.ready(5000);
		cur = upgrade(sc, &w1, old, 2);
		REQUIRE(record_wait(sc.record, old, "upgraded", 5000));
		/* The supervisor kills the wrapper in the middle of the drain. */
		child_kill(&w1);
	}
	REQUIRE(pid_alive(old));
	child w;
	child_start(&w, sc.wrapper(sc.daemon({"--drain", "60000", "--exit-code", "5"})));
	REQUIRE(child_wait_line(&w, "msg=\"adopting a process\"", 5000));
	REQUIRE(child_wait_line(&w, "source=parent", 5000));
	CHECK(w.out.find("process=" + std::to_string(cur)) != std::string::npos);
	CHECK(w.out.find("process=" + std::to_string(old) + " role=draining") != std::string::npos);
	/* sv down: the stop reaches the old process as well. */
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, 10000));
	CHECK(record_count(sc.record, old, "signal SIGTERM") == 1);
	CHECK(record_count(sc.record, cur, "signal SIGTERM") == 1);
	CHECK(wait_until([&] { return live_matching(sc.gitaly).empty(); }, 5000));
}

TEST_CASE("a new generation that dies during the old one's drain: a failed upgrade, logged; the old one drains, never current again; the exit status is the new one's")
{
	scene sc;
	child w;
	std::string status = sc.dir / "status.json", drained = sc.dir / "drained";
	sc.config("status_file = \"" + status + "\"\n");

	/* The old one drains until the test says (tableflip's parent drains
	 * for its graceful timeout), and reaps its successor if that dies
	 * first, as tableflip's parent does. */
	child_start(&w, sc.configured({"--drain-file", drained}));
	INFO(child_dump(&w));
	pid_t old = sc.ready(5000);
	pid_t fresh = upgrade(sc, &w, old, 2);
	REQUIRE(record_wait(sc.record, old, "upgraded", 5000));
	REQUIRE(wait_until([&] { return read_file(status).find("\"result\":\"complete\"") !=
	    std::string::npos; }, 5000));

	send_signal(fresh, SIGKILL);
	const char *died = "msg=\"upgrade failed: the new process died\"";
	REQUIRE(child_wait_line(&w, died, 10000));
	std::string line = child_find_line(&w, died);
	CHECK(line_field(line, "generation") == 2);
	CHECK(line_field(line, "process") == fresh);
	CHECK(line_field(line, "draining") == 1);
	CHECK(line.find(" signal=SIGKILL ") != std::string::npos);
	CHECK(line.find("level=error") != std::string::npos);
	/* The status file says so: failed, nothing current, the old one
	 * draining. */
	std::string draining1 = "\"draining\":[{\"pid\":" + std::to_string(old) + ",\"generation\":1}]";
	CHECK(wait_until([&] {
		std::string s = read_file(status);
		return s.find("\"last_upgrade\":{\"result\":\"failed\"") != std::string::npos &&
		    s.find("\"current\":null") != std::string::npos &&
		    s.find(draining1) != std::string::npos;
	}, 5000));

	/* The old one is leaving (it was told to when its successor was
	 * ready): what goes to the current generation has no target. */
	send_signal(w.pid, SIGUSR1);
	REQUIRE(wait_log(&w, {"msg=\"signal not forwarded\"", "signal=SIGUSR1",
	    "reason=\"no current process to forward to\""}, 5000));
	CHECK(pid_alive(old));

	/* It ends its drain; the wrapper exits with the dead generation's
	 * status, and the supervisor restarts the service. */
	write_file(drained, "");
	REQUIRE(child_wait_exit(&w, 10000));
	CHECK(child_code(&w) == 137);
	CHECK(record_count(sc.record, old, "exit 0") == 1);
	CHECK(record_count(sc.record, old, "signal SIGUSR1") == 0);
	CHECK(child_count_lines(&w, "msg=\"process is current\"") == 0);
	CHECK(child_count_lines(&w, "msg=\"wrapper for process shutting down\" exit_code=137") == 1);
	std::string s = read_file(status);
	CHECK(s.find("\"state\":\"exited\"") != std::string::npos);
	CHECK(s.find("\"exit_code\":137") != std::string::npos);
	CHECK(s.find("\"last_upgrade\":{\"result\":\"failed\"") != std::string::npos);
	CHECK(live_matching(sc.gitaly).empty());
}

/* Stop the wrapper w and make more files in dir, its pid file's, than
 * inotify queues: what changes there next, until w reads its queue
 * again, is lost (one IN_Q_OVERFLOW, which libuv does not pass on). */
static void
overflow_while_stopped(const child &w, const std::string &dir)
{
	send_signal(w.pid, SIGSTOP);
	REQUIRE(wait_until([&] {
		return read_file("/proc/" + std::to_string(w.pid) + "/stat").find(") T ") !=
		    std::string::npos;
	}, 5000));
	long queued = atol(read_file("/proc/sys/fs/inotify/max_queued_events").c_str());
	if (queued <= 0)
		queued = 16384;
	long made = 0;
	for (long i = 0; i < queued + 1000; i++) {
		std::string f = dir + "/flood." + std::to_string(i);
		int fd = open(f.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0) {
			close(fd);
			made++;
		}
	}
	REQUIRE(made == queued + 1000);
}

TEST_CASE("a successor that only <pidfile>.2 names, written while inotify's queue overflowed, is followed when the daemon dies")
{
	/* gunicorn's new master, upgraded by a USR2 sent to the daemon
	 * itself: it writes <pidfile>.2 and leaves the pid file alone while
	 * the old master runs.  The old one is then killed (its pid file,
	 * naming it, stays).  Neither the timed re-read (no upgrade through
	 * the wrapper) nor the pid file, unchanged, tells of the .2: only
	 * reading it at the death does. */
	scene sc("run");
	child w;
	std::string run = sc.dir / "run";

	pid_t old = start_monitored(sc, &w, sc.wrapper(sc.daemon()), 5000);
	INFO(child_dump(&w));
	pid_t fresh = start_detached(sc.daemon({"--pid-file", sc.dir / "fresh.pid"}));
	REQUIRE(record_wait(sc.record, fresh, "ready", 5000));

	overflow_while_stopped(w, run);
	write_file(sc.pidfile + ".2", std::to_string(fresh) + "\n");
	send_signal(w.pid, SIGCONT);
	/* The flood is read (in the turn of the loop that forwards this, or
	 * before) before the death below is. */
	send_signal(w.pid, SIGUSR1);
	REQUIRE(record_wait(sc.record, old, "signal SIGUSR1", 5000));
	send_signal(old, SIGKILL);

	REQUIRE(wait_log(&w, {"msg=\"process is current\"", log_gen(w, 2, fresh)}, 10000));
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, 10000));
	CHECK(record_count(sc.record, fresh, "signal SIGTERM") == 1);
	CHECK(live_matching(sc.gitaly).empty());
}

TEST_CASE("an upgrade whose pid file change inotify lost (its queue overflowed while the wrapper was stopped) is still followed")
{
	/* The pid file in a directory of its own, which the test floods. */
	scene sc("run");
	child w;
	std::string run = sc.dir / "run", go = sc.dir / "go";

	child_start(&w, sc.wrapper(sc.daemon({"--drain", "60000", "--upgrade-wait-file", go,
	    "--upgrade-timeout", "60000"})));
	INFO(child_dump(&w));
	pid_t old = sc.ready(5000);
	REQUIRE(child_wait_line(&w, "msg=\"monitoring process\"", 5000));
	send_signal(w.pid, SIGHUP);
	REQUIRE(child_wait_line(&w, "msg=\"upgrade started\"", 5000));
	REQUIRE(record_wait(sc.record, old, "upgrading", 5000));

	/* Only once inotify's queue overflowed does the new process write
	 * the pid file: that event is lost. */
	overflow_while_stopped(w, run);
	write_file(go, "");
	REQUIRE(record_wait(sc.record, old, "upgraded", 10000));
	pid_t fresh = read_pid(sc.pidfile);
	REQUIRE(fresh != old);
	REQUIRE(record_count(sc.record, fresh, "ready") == 1);
	send_signal(w.pid, SIGCONT);

	/* Found all the same, by the re-reading that runs while an upgrade
	 * is awaited. */
	REQUIRE(wait_log(&w, {"msg=\"following new process\"", log_gen(w, 2, fresh)}, 10000));
	/* Logged after it, maybe read from the pipe later: waited for,
	 * then counted. */
	CHECK(wait_log(&w, {"msg=\"upgrade complete\"", log_gen(w, 2, fresh)}, 5000));
	CHECK(child_count_lines(&w, "msg=\"upgrade complete\"") == 1);
	send_signal(w.pid, SIGUSR1);
	CHECK(record_wait(sc.record, fresh, "signal SIGUSR1", 5000));
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, 10000));
	CHECK(record_count(sc.record, old, "signal SIGTERM") == 1);
	CHECK(record_count(sc.record, fresh, "signal SIGTERM") == 1);
	CHECK(live_matching(sc.gitaly).empty());
}
