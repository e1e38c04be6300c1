/*
 * stop_test.cc: bounded stops that leave nothing behind.  stop_timeout:
 * generations still alive that long after the first stop are killed, and
 * the wrapper exits with the current one's status.  descendants: what the
 * daemon left (a helper child, a helper that called setsid() and forked
 * again; both ignore TERM) is stopped and reaped before the wrapper exits
 * ("stop"), or named and left ("leave", the default).  The supervisors'
 * own timeouts (runit's sv force-stop, s6's timeout-kill) are in
 * runit_test.cc and s6_test.cc.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include "harness.h"

namespace {

/* Wait for the wrapper's exit (a failed REQUIRE after a minute). */
void
wait_exit(child *w)
{
	bool exited = child_wait_exit(w, 60000);
	INFO(child_dump(w));
	REQUIRE(exited);
}

/* utime + stime of pid, in clock ticks (proc(5): fields 14 and 15). */
long
cpu_ticks(pid_t pid)
{
	std::string st = read_file("/proc/" + std::to_string(pid) + "/stat");
	size_t paren = st.rfind(')');
	long utime = 0, stime = 0;

	REQUIRE(paren != std::string::npos);
	REQUIRE(sscanf(st.c_str() + paren + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld",
	    &utime, &stime) == 2);
	return utime + stime;
}

}  // namespace

TEST_CASE("stop_timeout: a daemon that ignores TERM is killed once it passes; the wrapper exits 137 and names it")
{
	scene sc;
	child w;

	sc.config("stop_timeout = \"1s\"\n");
	pid_t d = start_monitored(sc, &w, sc.configured({"--ignore", "15"}), 10000);
	send_signal(w.pid, SIGTERM);
	wait_exit(&w);
	INFO(child_dump(&w));
	CHECK(child_code(&w) == 137);
	CHECK(has_line(w.out, {log_msg("stop timeout: killing the processes left"),
	    "processes=" + std::to_string(d) + " reason=\"stop_timeout passed\" timeout_ms=1000"}));
	CHECK(child_count_lines(&w, "msg=\"stop timeout") == 1);
	CHECK(has_line(w.out, {log_msg("process exited"), "process=" + std::to_string(d),
	    "signal=SIGKILL"}));
	CHECK(has_line(w.out, {log_msg("wrapper for process shutting down", "exit_code=137")}));
	CHECK_FALSE(pid_alive(d));
}

TEST_CASE("stop_timeout: a stop during an upgrade kills both generations; the status is the current one's")
{
	scene sc;
	child w;

	sc.config("stop_timeout = \"1s\"\n");
	/* Both ignore TERM: the successor is the same program, same options. */
	pid_t d1 = start_monitored(sc, &w, sc.configured({"--ignore", "15", "--drain", "60000"}),
	    10000);
	pid_t d2 = hup_successor(sc, &w, d1, 20000);
	REQUIRE(wait_log(&w, {log_msg("following new process"), "process=" + std::to_string(d2)},
	    10000));
	REQUIRE(record_wait(sc.record, d1, "upgraded " + std::to_string(d2), 10000));
	send_signal(w.pid, SIGTERM);
	wait_exit(&w);
	INFO(child_dump(&w));
	CHECK(child_code(&w) == 137);
	std::string kill = child_find_line(&w, "msg=\"stop timeout");
	CAPTURE(kill);
	CHECK(kill.find("processes=\"" + std::to_string(d1) + "," + std::to_string(d2) + "\"") !=
	    std::string::npos);
	CHECK(has_line(w.out, {log_msg("process exited"), "generation=2",
	    "process=" + std::to_string(d2), "signal=SIGKILL"}));
	CHECK_FALSE(pid_alive(d1));
	CHECK_FALSE(pid_alive(d2));
}

TEST_CASE("descendants = stop: the helpers the daemon left are stopped, killed when they ignore TERM, and reaped before the exit")
{
	scene sc;
	child w;
	pinned h, dh;

	sc.config("stop_timeout = \"1s\"\ndescendants = \"stop\"\n");
	pid_t d = start_monitored(sc, &w, sc.configured({"--helper", "--detached-helper",
	    "--exit-code", "3"}), 10000);
	pin_helpers(sc.record, &h, &dh);
	/* Neither is taken for the daemon: not followed, not an orphan. */
	CHECK(child_count_lines(&w, "msg=\"following new process\"") == 0);
	send_signal(w.pid, SIGTERM);
	wait_exit(&w);
	INFO(child_dump(&w));
	/* The daemon's status, decided before its helpers were stopped. */
	CHECK(child_code(&w) == 3);
	CHECK(record_count(sc.record, d, "exit 3") == 1);
	std::string stopping = child_find_line(&w, "msg=\"stopping the processes the daemon left\"");
	CAPTURE(stopping);
	CHECK(line_field(stopping, "count") == 2);
	CHECK(stopping.find(std::to_string(h.pid)) != std::string::npos);
	CHECK(stopping.find(std::to_string(dh.pid)) != std::string::npos);
	CHECK(child_count_lines(&w, "msg=\"killing the processes the daemon left\"") == 1);
	/* Gone, and reaped: no zombie, nothing of the test left running. */
	CHECK_FALSE(pinned_alive(h));
	CHECK_FALSE(pinned_alive(dh));
	CHECK(read_file("/proc/" + std::to_string(h.pid) + "/stat").empty());
	CHECK(read_file("/proc/" + std::to_string(dh.pid) + "/stat").empty());
	CHECK(live_mentioning(sc.dir.path).empty());
	/* The exit was said last. */
	size_t said = w.out.find("msg=\"wrapper for process shutting down\"");
	CHECK(said > w.out.find("msg=\"killing the processes the daemon left\""));
}

TEST_CASE("descendants = stop without stop_timeout: KILL comes after 10 s, and a helper that dies meanwhile ends the wait")
{
	scene sc;
	child w;
	pinned h;

	sc.config("descendants = \"stop\"\n");
	pid_t d = start_monitored(sc, &w, sc.configured({"--helper"}), 10000);
	REQUIRE(record_wait(sc.record, 0, "helper", 10000));
	h = pin(record_pid(sc.record, "helper"));
	REQUIRE(pinned_alive(h));
	/* It ignores TERM: a KILL by hand, while the wrapper waits, shows
	 * that the wrapper notices its death and exits before the 10 s. */
	send_signal(w.pid, SIGTERM);
	REQUIRE(wait_log(&w, {log_msg("stopping the processes the daemon left"),
	    "kill_after_ms=10000"}, 10000));
	REQUIRE(pinned_alive(h));
	/* Waiting is sleeping: the daemon's pidfd, readable for good once
	 * it was reaped, must not keep waking the loop (it did: a whole CPU
	 * for the 10 s).  A second of waiting costs a few ticks at most. */
	long before = cpu_ticks(w.pid);
	pump_for(&w, 1000);
	long spent = cpu_ticks(w.pid) - before;
	CHECK(spent < sysconf(_SC_CLK_TCK) / 4);
	kill(h.pid, SIGKILL);
	wait_exit(&w);
	INFO(child_dump(&w));
	CHECK(child_code(&w) == 0);
	CHECK(child_count_lines(&w, "msg=\"killing the processes the daemon left\"") == 0);
	CHECK_FALSE(pid_alive(d));
	CHECK_FALSE(pinned_alive(h));
	CHECK(live_mentioning(sc.dir.path).empty());
}

TEST_CASE("descendants = leave (the default): the helpers are named, first ten, and left running")
{
	scene sc;
	child w;
	pinned h, dh;

	pid_t d = start_monitored(sc, &w, sc.wrapper(sc.daemon({"--helper", "--detached-helper"})),
	    10000);
	pin_helpers(sc.record, &h, &dh);
	send_signal(w.pid, SIGTERM);
	wait_exit(&w);
	INFO(child_dump(&w));
	CHECK(child_code(&w) == 0);
	CHECK_FALSE(pid_alive(d));
	std::string left = child_find_line(&w, "msg=\"leaving the processes the daemon left\"");
	CAPTURE(left);
	CHECK(line_field(left, "count") == 2);
	CHECK(left.find(std::to_string(h.pid)) != std::string::npos);
	CHECK(left.find(std::to_string(dh.pid)) != std::string::npos);
	CHECK(child_count_lines(&w, "msg=\"stopping the processes the daemon left\"") == 0);
	/* Left running, as said; the test cleans up. */
	CHECK(pinned_alive(h));
	CHECK(pinned_alive(dh));
	for (const pinned &p : {h, dh})
		if (pinned_alive(p))
			kill(p.pid, SIGKILL);
	CHECK(wait_until([&] { return !pinned_alive(h) && !pinned_alive(dh); }, 10000));
}

TEST_CASE("descendants = stop: an adopted daemon's children, pinned when the stop began, are stopped too")
{
	scene sc;
	child w;
	pinned h;

	/* Not the wrapper's descendant: its helper goes to init, not to us. */
	pid_t d = start_detached(sc.daemon({"--helper"}));
	REQUIRE(record_wait(sc.record, d, "ready", 10000));
	REQUIRE(record_wait(sc.record, 0, "helper", 10000));
	h = pin(record_pid(sc.record, "helper"));
	REQUIRE(pinned_alive(h));
	sc.config("stop_timeout = \"1s\"\ndescendants = \"stop\"\n" SLOW_REAP_OK);
	child_start(&w, sc.configured({"--helper"}), clean_env);
	REQUIRE(wait_log(&w, {log_msg("adopting a process"), "process=" + std::to_string(d)}, 10000));
	send_signal(w.pid, SIGTERM);
	wait_exit(&w);
	INFO(child_dump(&w));
	CHECK_FALSE(pid_alive(d));
	CHECK(has_line(w.out, {log_msg("stopping the processes the daemon left"), "count=1",
	    "processes=" + std::to_string(h.pid)}));
	CHECK_FALSE(pinned_alive(h));
	CHECK(live_mentioning(sc.dir.path).empty());
}

TEST_CASE("stop_timeout: a successor that appears once it passed is killed at once")
{
	scene sc;
	child w;

	/* The successor waits for a file that never comes: it is not ready
	 * when the stop begins, nor when its parent is killed. */
	sc.config("stop_timeout = \"1s\"\n");
	pid_t d1 = start_monitored(sc, &w, sc.configured({"--ignore", "15", "--upgrade-wait-file",
	    sc.dir / "never"}), 10000);
	send_signal(w.pid, SIGHUP);
	REQUIRE(record_wait(sc.record, d1, "upgrading", 10000));
	std::string text = read_file(sc.record), key = std::to_string(d1) + " upgrading ";
	pid_t fresh = (pid_t)atoi(text.c_str() + text.find(key) + key.size());
	REQUIRE(fresh > 0);
	send_signal(w.pid, SIGTERM);
	wait_exit(&w);
	INFO(child_dump(&w));
	/* d1 killed; its child, re-parented to the wrapper after that, is
	 * followed (an orphan: no pid file names it) and killed at once. */
	CHECK(child_code(&w) == 137);
	CHECK(has_line(w.out, {log_msg("stop timeout: killing the processes left"),
	    "processes=" + std::to_string(d1) + " "}));
	CHECK(has_line(w.out, {log_msg("following new process"), "process=" + std::to_string(fresh),
	    "role=orphan"}));
	CHECK(has_line(w.out, {log_msg("process exited"), "process=" + std::to_string(fresh),
	    "signal=SIGKILL"}));
	CHECK_FALSE(pid_alive(d1));
	CHECK_FALSE(pid_alive(fresh));
	CHECK(live_mentioning(sc.dir.path).empty());
}
