/*
 * s6_test.cc: pidsitter under the real s6.  Each test builds a
 * service directory from examples/s6/gitaly (its paths replaced by a
 * temporary directory's), supervises it with an s6-supervise of its own (a
 * child of the test; its stdout, which ./run and ./finish inherit, is the
 * test's pipe) and drives it with s6-svc: -u, -h (a tableflip upgrade),
 * -d during a drain, -t, -r, -k.  Readiness is s6's notification-fd: the
 * example's run passes --notify-fd 3, and s6-svwait -U returns once
 * pidsitter wrote its newline, i.e. once the daemon wrote its pid file.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <doctest/doctest.h>

#include "harness.h"
#include "service.h"

namespace {

/* s6-svstat -o up,pid,ready: "true 123 true". */
struct s6_status {
	bool up = false;
	pid_t pid = 0;
	bool ready = false;
	std::string raw;
};

struct s6_service {
	tmp_dir dir;
	service_daemon gitaly;
	std::string svdir;
	child sup;

	explicit s6_service(const std::vector<std::string> &extra) : gitaly(dir, extra)
	{
		svdir = dir / "gitaly";
		subst_list subs = gitaly.subs;
		subs.push_back({"s6-setuidgid git", gitaly.as_nobody ? "s6-setuidgid nobody" : ""});
		copy_example("examples/s6/gitaly", svdir, subs);
		std::string run = read_file(svdir + "/run");
		CAPTURE(run);
		REQUIRE(run.find("--notify-fd 3") != std::string::npos);
		REQUIRE(read_file(svdir + "/notification-fd") == "3\n");
		write_file(svdir + "/down", "");
		child_start(&sup, {"/usr/bin/s6-supervise", svdir});
		REQUIRE_MESSAGE(wait_until([&] {
			return run_cmd({"/usr/bin/s6-svstat", svdir}).code == 0;
		}, 20000), child_dump(&sup));
	}

	~s6_service()
	{
		kill_all_in(dir.path);
		child_kill(&sup);
	}

	cmd_result svc(const char *opts)
	{
		return run_cmd({"/usr/bin/s6-svc", opts, svdir});
	}

	s6_status get_status()
	{
		s6_status s;
		cmd_result r = run_cmd({"/usr/bin/s6-svstat", "-o", "up,pid,ready", svdir});
		s.raw = r.out;
		if (r.code != 0)
			return s;
		char up[8] = "", ready[8] = "";
		int pid = 0;
		if (sscanf(r.out.c_str(), "%7s %d %7s", up, &pid, ready) != 3)
			return s;
		s.up = strcmp(up, "true") == 0;
		s.pid = pid > 0 ? pid : 0;
		s.ready = strcmp(ready, "true") == 0;
		return s;
	}

	/* Up and ready under a wrapper other than not_pid. */
	s6_status wait_ready(pid_t not_pid, int timeout_ms)
	{
		s6_status s;
		bool ok = wait_until([&] {
			s = get_status();
			return s.up && s.ready && s.pid > 0 && s.pid != not_pid;
		}, timeout_ms);
		CAPTURE(s.raw);
		REQUIRE_MESSAGE(ok, child_dump(&sup));
		return s;
	}

	void wait_down(int timeout_ms)
	{
		s6_status s;
		bool ok = wait_until([&] {
			s = get_status();
			return !s.up && s.raw.compare(0, 5, "false") == 0;
		}, timeout_ms);
		CAPTURE(s.raw);
		REQUIRE(ok);
	}

	/* Lines of s6-supervise's stdout (pidsitter's log, ./finish). */
	bool wait_out(const char *needle, int n, int timeout_ms)
	{
		return child_wait_count(&sup, needle, n, timeout_ms);
	}

	/* s6-svc -dx: s6-supervise brings the service down and exits. */
	void stop()
	{
		CHECK(svc("-dx").code == 0);
		bool gone = child_wait_exit(&sup, 30000);
		CHECK_MESSAGE(gone, child_dump(&sup));
		check_none_in(dir.path);
	}
};

std::string
fd_link(pid_t pid, int fd)
{
	char buf[256];
	std::string path = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd);
	ssize_t n = readlink(path.c_str(), buf, sizeof buf - 1);
	return n > 0 ? std::string(buf, (size_t)n) : "";
}

/* The pipes ("pipe:[inode]") among pid's file descriptors from `from` on. */
std::vector<std::string>
open_pipes(pid_t pid, int from)
{
	std::vector<std::string> out;
	for (int fd = from; fd < 1024; fd++) {
		std::string l = fd_link(pid, fd);
		if (l.compare(0, 5, "pipe:") == 0)
			out.push_back(l);
	}
	return out;
}

std::string
line_with(const child *p, const std::string &needle)
{
	return child_find_line(p, needle.c_str());
}

}  // namespace

TEST_CASE("s6: s6-svwait -U returns once the daemon wrote its pid file; -h is followed under the same pid; -d stops both generations")
{
	/* Ready 1.5 s after it starts: s6 must wait for it. */
	s6_service sv({"--ready-delay", "1500", "--drain", "60000", "--exit-code", "3"});

	REQUIRE(sv.svc("-u").code == 0);
	bool early = read_pid(sv.gitaly.pidfile) == 0;
	cmd_result wait = run_cmd({"/usr/bin/s6-svwait", "-U", "-t", "30000", sv.svdir}, {}, 40000);
	CHECK(wait.code == 0);
	/* Readiness came after the daemon's pid file (the daemon writes it
	 * when it is ready), not when pidsitter started it. */
	CHECK(pid_alive(read_pid(sv.gitaly.pidfile)));
	if (!early)
		MESSAGE("the daemon was ready before s6-svwait started: a slow machine");
	pid_t d1 = sv.gitaly.wait_ready(0, 20000);
	s6_status s0 = sv.get_status();
	CAPTURE(s0.raw);
	CHECK(s0.up);
	CHECK(s0.ready);
	pid_t w = s0.pid;
	REQUIRE(sv.wait_out("msg=\"monitoring process\"", 1, 10000));
	CHECK(line_field(line_with(&sv.sup, "msg=\"monitoring process\""), "process") == d1);
	CHECK(line_field(line_with(&sv.sup, "msg=\"monitoring process\""), "wrapper") == w);
	/* The daemon does not inherit the notification pipe (pidsitter made
	 * it close-on-exec): beyond stdin, stdout and stderr it has no pipe
	 * but those the test itself inherited and passed on (the fixture's
	 * own upgrade pipe exists only during an upgrade). */
	std::vector<std::string> mine = open_pipes(getpid(), 0);
	for (const std::string &p : open_pipes(d1, 3)) {
		CAPTURE(p);
		CHECK(std::find(mine.begin(), mine.end(), p) != mine.end());
	}
	std::string human = run_cmd({"/usr/bin/s6-svstat", sv.svdir}).out;
	CAPTURE(human);
	CHECK(human.find("ready") != std::string::npos);

	/* -h: the upgrade happens behind pidsitter's stable pid. */
	REQUIRE(sv.svc("-h").code == 0);
	pid_t d2 = sv.gitaly.wait_ready(d1, 20000);
	REQUIRE(sv.wait_out("msg=\"following new process\"", 1, 20000));
	CHECK(line_field(line_with(&sv.sup, "msg=\"following new process\""), "process") == d2);
	REQUIRE(record_wait(sv.gitaly.record, d1, "upgraded", 10000));
	s6_status s1 = sv.get_status();
	CAPTURE(s1.raw);
	CHECK(s1.up);
	CHECK(s1.ready);
	CHECK(s1.pid == w);
	std::vector<pid_t> both = sv.gitaly.daemons();
	std::sort(both.begin(), both.end());
	CHECK(both == std::vector<pid_t>{std::min(d1, d2), std::max(d1, d2)});

	/* -d during the drain: TERM then CONT, to both generations. */
	REQUIRE(sv.svc("-d").code == 0);
	sv.wait_down(30000);
	CHECK(record_wait(sv.gitaly.record, d1, "signal SIGTERM", 10000));
	CHECK(record_wait(sv.gitaly.record, d2, "signal SIGTERM", 10000));
	CHECK(wait_until([&] { return sv.gitaly.daemons().empty(); }, 10000));
	/* ./finish got pidsitter's status: the daemon's. */
	CHECK(sv.wait_out("gitaly: pidsitter exited with status 3", 1, 10000));
	sv.stop();
}

TEST_CASE("s6: -t and -r: s6-supervise starts a new pidsitter, which starts a new daemon and says when it is ready")
{
	s6_service sv({});

	REQUIRE(sv.svc("-u").code == 0);
	pid_t w1 = sv.wait_ready(0, 30000).pid;
	pid_t d1 = sv.gitaly.wait_ready(0, 20000);

	SUBCASE("s6-svc -t") {
		REQUIRE(sv.svc("-t").code == 0);
	}
	SUBCASE("s6-svc -r") {
		REQUIRE(sv.svc("-r").code == 0);
	}
	pid_t w2 = sv.wait_ready(w1, 30000).pid;
	CHECK(record_wait(sv.gitaly.record, d1, "signal SIGTERM", 10000));
	CHECK(wait_until([&] { return !pid_alive(d1); }, 10000));
	pid_t d2 = sv.gitaly.wait_ready(d1, 20000);
	CHECK(record_count(sv.gitaly.record, d2, "start " + std::to_string(w2)) == 1);
	CHECK(sv.gitaly.daemons() == std::vector<pid_t>{d2});
	CHECK(sv.wait_out("gitaly: pidsitter exited with status 0", 1, 10000));
	CHECK(sv.wait_out("msg=\"spawning a process\"", 2, 20000));
	CHECK(child_count_lines(&sv.sup, "msg=\"spawning a process\"") == 2);
	sv.stop();
	CHECK(record_count(sv.gitaly.record, d2, "signal SIGTERM") == 1);
}

TEST_CASE("s6: -k kills the wrapper: s6-supervise restarts it, it adopts the running daemon and is ready at once; no duplicate")
{
	s6_service sv({});

	REQUIRE(sv.svc("-u").code == 0);
	pid_t w1 = sv.wait_ready(0, 30000).pid;
	pid_t d1 = sv.gitaly.wait_ready(0, 20000);

	REQUIRE(sv.svc("-k").code == 0);
	CHECK(sv.wait_out("gitaly: pidsitter killed by signal 9", 1, 20000));
	pid_t w2 = sv.wait_ready(w1, 30000).pid;
	REQUIRE(sv.wait_out("msg=\"adopting a process\"", 1, 20000));
	std::string adopt = line_with(&sv.sup, "msg=\"adopting a process\"");
	CAPTURE(adopt);
	CHECK(line_field(adopt, "process") == d1);
	CHECK(line_field(adopt, "wrapper") == w2);
	CHECK(child_count_lines(&sv.sup, "msg=\"spawning a process\"") == 1);
	CHECK(sv.gitaly.daemons() == std::vector<pid_t>{d1});
	cmd_result wait = run_cmd({"/usr/bin/s6-svwait", "-U", "-t", "10000", sv.svdir}, {}, 20000);
	CHECK(wait.code == 0);

	/* The adopted daemon upgrades and stops under the new wrapper. */
	REQUIRE(sv.svc("-h").code == 0);
	pid_t d2 = sv.gitaly.wait_ready(d1, 20000);
	REQUIRE(sv.wait_out("msg=\"following new process\"", 1, 20000));
	CHECK(wait_until([&] { return sv.gitaly.daemons() == std::vector<pid_t>{d2}; }, 10000));
	CHECK(sv.get_status().pid == w2);
	REQUIRE(sv.svc("-d").code == 0);
	sv.wait_down(30000);
	CHECK(record_count(sv.gitaly.record, d2, "signal SIGTERM") == 1);
	CHECK(wait_until([&] { return sv.gitaly.daemons().empty(); }, 10000));
	sv.stop();
}

TEST_CASE("s6: -d with timeout-kill, a daemon that ignores TERM, with helpers: stop_timeout shorter than s6's leaves nothing running")
{
	s6_service sv({"--ignore", "15", "--helper", "--detached-helper"});
	std::string conf = sv.svdir + "/pidsitter.toml";
	write_file(conf, "stop_timeout = \"2s\"\ndescendants = \"stop\"\n");
	std::string run = read_file(sv.svdir + "/run");
	write_file(sv.svdir + "/run", substitute(run, {{"--notify-fd 3", "-c " + conf +
	    " --notify-fd 3"}}), 0755);
	/* s6-supervise KILLs the wrapper 10 s after -d. */
	write_file(sv.svdir + "/timeout-kill", "10000\n");

	REQUIRE(sv.svc("-u").code == 0);
	pid_t w = sv.wait_ready(0, 30000).pid;
	pinned d = pin(sv.gitaly.wait_ready(0, 20000));
	pinned h, dh;
	pin_helpers(sv.gitaly.record, &h, &dh);

	REQUIRE(sv.svc("-d").code == 0);
	sv.wait_down(30000);
	/* ./finish: the wrapper exited with the killed daemon's status; s6
	 * never had to kill it (that would say 256 and signal 9). */
	CHECK(sv.wait_out("gitaly: pidsitter exited with status 137", 1, 10000));
	CHECK(child_count_lines(&sv.sup, "pidsitter killed by signal") == 0);
	CHECK(line_field(line_with(&sv.sup, "msg=\"stop timeout: killing the processes left\""),
	    "processes") == d.pid);
	CHECK(line_field(line_with(&sv.sup, "msg=\"wrapper for process shutting down\""),
	    "wrapper") == w);
	CHECK_FALSE(pinned_alive(d));
	CHECK_FALSE(pinned_alive(h));
	CHECK_FALSE(pinned_alive(dh));
	CHECK(live_mentioning(sv.gitaly.var).empty());
	sv.stop();
}
