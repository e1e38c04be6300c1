/*
 * runit_test.cc: pidsitter under the real runit.  Each test
 * builds a service directory from examples/runit/gitaly (its paths
 * replaced by a temporary directory's), supervises it with a runsv of its
 * own (a child of the test, never the machine's /etc/service) and drives
 * it with sv, as an operator would: up, hup (a tableflip upgrade of the
 * fixture), down during a drain, term, restart, and kill of the wrapper.
 * pidsitter's log goes through ./log/run (svlogd) into log/main/current.
 * As root the wrapper and the daemon run as nobody (chpst -u), the way
 * GitLab Omnibus runs them as git.
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

const char SV[] = "/usr/bin/sv";

/* What `sv status DIR` says of the service (not of its log). */
struct sv_status {
	bool up = false;
	pid_t pid = 0;
	long secs = -1;
	std::string raw;
};

struct runit_service {
	tmp_dir dir;
	service_daemon gitaly;
	std::string svdir, status, current;
	child runsv;

	explicit runit_service(const std::vector<std::string> &extra) : gitaly(dir, extra)
	{
		svdir = dir / "gitaly";
		status = gitaly.var + "/pidsitter.status";
		current = svdir + "/log/main/current";

		if (!gitaly.as_nobody)
			MESSAGE("not root, or nobody cannot run the build: no chpst -u");
		subst_list subs = gitaly.subs;
		subs.push_back({"/etc/sv/gitaly", svdir});
		subs.push_back({" -U git:git -u git:git",
		    gitaly.as_nobody ? " -U nobody -u nobody" : ""});
		copy_example("examples/runit/gitaly", svdir, subs);
		/* The example is the real thing: it says what it ran. */
		std::string run = read_file(svdir + "/run");
		CAPTURE(run);
		REQUIRE(run.find("exec chpst -e " + svdir + "/env -P") != std::string::npos);
		REQUIRE(run.find("-c " + svdir + "/pidsitter.toml") != std::string::npos);
		/* Down until the test says up. */
		write_file(svdir + "/down", "");
		child_start(&runsv, {"/usr/bin/runsv", svdir});
		REQUIRE_MESSAGE(wait_until([&] {
			struct stat st;
			return stat((svdir + "/supervise/ok").c_str(), &st) == 0 &&
			    stat((svdir + "/log/supervise/ok").c_str(), &st) == 0;
		}, 20000), child_dump(&runsv));
		REQUIRE(wait_until([&] { return get_status().raw.compare(0, 6, "down: ") == 0; }, 20000));
	}

	/* On a failure: nothing the service started may outlive the test. */
	~runit_service()
	{
		kill_all_in(dir.path);
		child_kill(&runsv);
	}

	cmd_result sv(std::vector<std::string> args)
	{
		args.insert(args.begin(), SV);
		args.push_back(svdir);
		/* Longer than the longest -w a test gives sv (60 s): sv's own
		 * verdict, not run_cmd's deadline, says how the wait ended. */
		return run_cmd(args, {}, 70000);
	}
	/* sv args, which must succeed; a failure shows what sv said (its
	 * exit code alone does not tell a timeout from a refusal). */
	void ok(const std::vector<std::string> &args)
	{
		std::string line;
		for (const std::string &a : args)
			line += " " + a;
		long long t0 = mono_ms();
		cmd_result r = sv(args);
		if (r.code == 0)
			return;
		long long took = mono_ms() - t0;
		/* Read here, not inside the message: doctest builds that
		 * while it reports, and run_cmd may assert. */
		std::string now = get_status().raw;
		FAIL("sv" << line << ": exit " << r.code << " after " << took << " ms\n" << r.out <<
		    r.err << "now: " << now);
	}

	sv_status get_status()
	{
		sv_status s;
		cmd_result r = run_cmd({SV, "status", svdir});
		s.raw = r.out;
		if (r.code != 0)
			return s;
		/* run: DIR: (pid N) Ss[, normally down]; run: log: (pid M) Ts */
		std::string me = svdir + ": ";
		size_t at = s.raw.find(me);
		if (at == std::string::npos)
			return s;
		s.up = s.raw.compare(0, 5, "run: ") == 0;
		const char *p = s.raw.c_str() + at + me.size();
		if (strncmp(p, "(pid ", 5) == 0) {
			char *end;
			s.pid = (pid_t)strtol(p + 5, &end, 10);
			p = end + 2;  /* ") " */
		}
		s.secs = strtol(p, NULL, 10);
		return s;
	}

	/* Wait until the service is up under a wrapper other than not_pid. */
	sv_status wait_up(pid_t not_pid, int timeout_ms)
	{
		sv_status s;
		bool ok = wait_until([&] {
			s = get_status();
			return s.up && s.pid > 0 && s.pid != not_pid;
		}, timeout_ms);
		CAPTURE(s.raw);
		REQUIRE(ok);
		return s;
	}

	void wait_down(int timeout_ms)
	{
		sv_status s;
		bool ok = wait_until([&] {
			s = get_status();
			return s.raw.compare(0, 6, "down: ") == 0;
		}, timeout_ms);
		CAPTURE(s.raw);
		REQUIRE(ok);
	}

	/* The lines of svlogd's current file holding every needle. */
	std::vector<std::string> log_lines(const std::vector<std::string> &needles)
	{
		return lines_with(read_file(current), needles);
	}

	bool wait_log(const std::vector<std::string> &needles, size_t n, int timeout_ms)
	{
		return wait_until([&] { return log_lines(needles).size() >= n; }, timeout_ms);
	}

	/* sv check, which runs ./check until it passes: it passes. */
	void check_passes()
	{
		cmd_result check = sv({"-w", "30", "check"});
		CAPTURE(check.out);
		CHECK(check.code == 0);
	}

	/* ./check, run as sv runs it, in the service directory. */
	int run_check()
	{
		return run_cmd({"/bin/sh", "-c", "cd \"$0\" && exec ./check", svdir}).code;
	}

	bool status_json(json *j)
	{
		std::string err, text = read_file(status);
		CAPTURE(text);
		bool ok = json_parse(text, j, &err);
		CAPTURE(err);
		CHECK(ok);
		return ok;
	}

	/* sv down and sv exit: runsv exits, and nothing is left running. */
	void stop()
	{
		CHECK(sv({"-w", "60", "down"}).code == 0);
		CHECK(sv({"exit"}).code == 0);
		bool gone = child_wait_exit(&runsv, 30000);
		CHECK_MESSAGE(gone, child_dump(&runsv));
		check_none_in(dir.path);
	}
};

const json *
at(const json &j, const char *key)
{
	const json *v = j.get(key);
	REQUIRE_MESSAGE(v != NULL, "no \"" << key << "\" in the status file");
	return v;
}

}  // namespace

TEST_CASE("runit: sv up waits for ./check, sv hup is followed under the same runsv pid, sv down stops both generations")
{
	runit_service sv({"--drain", "60000", "--exit-code", "5"});

	/* sv -v up runs ./check until it passes: the status file, written
	 * by this very wrapper, says running. */
	cmd_result up = sv.sv({"-v", "-w", "60", "up"});
	CAPTURE(up.out);
	CHECK(up.code == 0);
	CHECK(up.out.compare(0, 9, "ok: run: ") == 0);
	sv_status s0 = sv.wait_up(0, 20000);
	pid_t w = s0.pid;
	pid_t d1 = sv.gitaly.wait_ready(0, 20000);
	CHECK(atoi(read_file(sv.svdir + "/supervise/pid").c_str()) == w);
	json st;
	REQUIRE(sv.status_json(&st));
	CHECK(at(st, "state")->s == "running");
	CHECK(at(st, "wrapper")->n == w);
	CHECK(at(*at(st, "current"), "pid")->n == d1);
	if (sv.gitaly.as_nobody) {
		struct stat ps;
		REQUIRE(stat(sv.gitaly.pidfile.c_str(), &ps) == 0);
		CHECK(ps.st_uid == 65534);
	}

	/* pidsitter's lines reach svlogd's current file, timestamped (-tt). */
	REQUIRE(sv.wait_log({"msg=\"monitoring process\"", "process=" + std::to_string(d1)}, 1, 20000));
	std::string mon = sv.log_lines({"msg=\"monitoring process\""})[0];
	CAPTURE(mon);
	CHECK(mon.size() > 26);
	CHECK(mon[4] == '-');
	CHECK(mon[10] == '_');
	CHECK(line_field(mon, "wrapper") == w);
	CHECK(sv.log_lines({"msg=\"Wrapper started\""}).size() == 1);
	CHECK(sv.log_lines({"msg=\"spawning a process\""}).size() == 1);

	/* sv hup: a tableflip upgrade.  runsv's process stays the same, and
	 * so does its uptime. */
	REQUIRE(wait_until([&] { return sv.get_status().secs >= 1; }, 10000));
	long secs = sv.get_status().secs;
	sv.ok({"hup"});
	pid_t d2 = sv.gitaly.wait_ready(d1, 20000);
	REQUIRE(sv.wait_log({"msg=\"following new process\"", "process=" + std::to_string(d2)}, 1, 20000));
	sv_status s1 = sv.get_status();
	CAPTURE(s1.raw);
	CHECK(s1.up);
	CHECK(s1.pid == w);
	CHECK(s1.secs >= secs);
	CHECK(atoi(read_file(sv.svdir + "/supervise/pid").c_str()) == w);
	CHECK(sv.log_lines({"msg=\"forwarding signal\"", "signal=SIGHUP"}).size() == 1);
	CHECK(record_count(sv.gitaly.record, d1, "signal SIGHUP") == 1);
	/* The old generation drains (for a minute), the new one serves. */
	REQUIRE(record_wait(sv.gitaly.record, d1, "upgraded", 10000));
	CHECK(pid_alive(d1));
	std::vector<pid_t> both = sv.gitaly.daemons();
	std::sort(both.begin(), both.end());
	CHECK(both == std::vector<pid_t>{std::min(d1, d2), std::max(d1, d2)});
	REQUIRE(wait_until([&] {
		json j;
		std::string e;
		const json *c;
		return json_parse(read_file(sv.status), &j, &e) && (c = j.get("current")) != NULL &&
		    c->get("generation") != NULL && c->get("generation")->n == 2;
	}, 10000));
	REQUIRE(sv.status_json(&st));
	CHECK(at(*at(st, "current"), "pid")->n == d2);
	REQUIRE(at(st, "draining")->items.size() == 1);
	CHECK(at(at(st, "draining")->items[0], "pid")->n == d1);
	CHECK(at(*at(st, "last_upgrade"), "result")->s == "complete");
	sv.check_passes();

	/* sv down during the drain: TERM and CONT reach both generations,
	 * not only the one the old wrapper knew. */
	sv.ok({"-w", "60", "down"});
	sv.wait_down(30000);
	CHECK(record_wait(sv.gitaly.record, d1, "signal SIGTERM", 10000));
	CHECK(record_wait(sv.gitaly.record, d2, "signal SIGTERM", 10000));
	CHECK(wait_until([&] { return sv.gitaly.daemons().empty(); }, 10000));
	REQUIRE(sv.status_json(&st));
	CHECK(at(st, "state")->s == "exited");
	CHECK(at(st, "exit_code")->n == 5);
	CHECK(sv.wait_log({"msg=\"wrapper for process shutting down\"", "exit_code=5"}, 1, 10000));
	/* Down: ./check says so (sv check would not ask it: down is what
	 * was wanted). */
	CHECK(sv.run_check() == 1);
	sv.stop();
}

TEST_CASE("runit: sv term and sv restart: runsv starts a new pidsitter, which starts a new daemon; never two")
{
	runit_service sv({});

	sv.ok({"-v", "-w", "60", "up"});
	pid_t w1 = sv.wait_up(0, 20000).pid;
	pid_t d1 = sv.gitaly.wait_ready(0, 20000);

	SUBCASE("sv term") {
		sv.ok({"term"});
	}
	SUBCASE("sv restart") {
		sv.ok({"-w", "60", "restart"});
	}
	/* runsv restarts ./run (at most once a second). */
	pid_t w2 = sv.wait_up(w1, 30000).pid;
	CHECK(record_wait(sv.gitaly.record, d1, "signal SIGTERM", 10000));
	CHECK(wait_until([&] { return !pid_alive(d1); }, 10000));
	pid_t d2 = sv.gitaly.wait_ready(d1, 20000);
	CHECK(record_count(sv.gitaly.record, d2, "start " + std::to_string(w2)) == 1);
	CHECK(sv.gitaly.daemons() == std::vector<pid_t>{d2});
	CHECK(sv.wait_log({"msg=\"Wrapper started\"", "wrapper=" + std::to_string(w2)}, 1, 20000));
	CHECK(sv.wait_log({"msg=\"spawning a process\"", "wrapper=" + std::to_string(w2)}, 1, 20000));
	CHECK(sv.log_lines({"msg=\"spawning a process\""}).size() == 2);
	CHECK(sv.log_lines({"msg=\"wrapper for process shutting down\"", "wrapper=" + std::to_string(w1)}).size() == 1);
	sv.check_passes();
	json st;
	REQUIRE(sv.status_json(&st));
	CHECK(at(st, "wrapper")->n == w2);

	/* Once more, to see the new wrapper forwards as the first did. */
	sv.ok({"-w", "60", "restart"});
	pid_t w3 = sv.wait_up(w2, 30000).pid;
	pid_t d3 = sv.gitaly.wait_ready(d2, 20000);
	CHECK(w3 != w1);
	CHECK(record_count(sv.gitaly.record, d2, "signal SIGTERM") == 1);
	CHECK(wait_until([&] { return sv.gitaly.daemons() == std::vector<pid_t>{d3}; }, 10000));
	sv.stop();
	CHECK(record_count(sv.gitaly.record, d3, "signal SIGTERM") == 1);
}

TEST_CASE("runit: sv kill of the wrapper: runsv restarts it, it adopts the running daemon, no duplicate")
{
	runit_service sv({});

	sv.ok({"-v", "-w", "60", "up"});
	pid_t w1 = sv.wait_up(0, 20000).pid;
	pid_t d1 = sv.gitaly.wait_ready(0, 20000);

	/* KILL cannot be forwarded: the daemon runs on, unsupervised until
	 * runsv starts the wrapper again, which finds it through the pid file. */
	sv.ok({"kill"});
	pid_t w2 = sv.wait_up(w1, 30000).pid;
	REQUIRE(sv.wait_log({"msg=\"adopting a process\"", "process=" + std::to_string(d1),
	    "wrapper=" + std::to_string(w2)}, 1, 20000));
	CHECK(sv.log_lines({"msg=\"spawning a process\""}).size() == 1);
	CHECK(pid_alive(d1));
	CHECK(record_count(sv.gitaly.record, 0, "ready") == 1);
	CHECK(sv.gitaly.daemons() == std::vector<pid_t>{d1});
	sv.check_passes();
	json st;
	REQUIRE(sv.status_json(&st));
	CHECK(at(st, "wrapper")->n == w2);
	CHECK(at(*at(st, "current"), "pid")->n == d1);

	/* The adopted daemon upgrades and stops under the new wrapper. */
	sv.ok({"hup"});
	pid_t d2 = sv.gitaly.wait_ready(d1, 20000);
	REQUIRE(sv.wait_log({"msg=\"following new process\"", "process=" + std::to_string(d2),
	    "wrapper=" + std::to_string(w2)}, 1, 20000));
	CHECK(wait_until([&] { return sv.gitaly.daemons() == std::vector<pid_t>{d2}; }, 10000));
	CHECK(sv.get_status().pid == w2);
	sv.ok({"-w", "60", "down"});
	sv.wait_down(30000);
	CHECK(record_count(sv.gitaly.record, d2, "signal SIGTERM") == 1);
	CHECK(wait_until([&] { return sv.gitaly.daemons().empty(); }, 10000));
	sv.stop();
}

TEST_CASE("runit: examples/runit/gitaly-upgrade returns once the new process serves, or says why not")
{
	runit_service sv({"--drain", "50", "--fail-upgrade-file", "FAIL"});
	subst_list subs = sv.gitaly.subs;
	std::string script = sv.dir / "gitaly-upgrade";
	std::string fail = sv.gitaly.var + "/fail";

	subs.push_back({"/etc/sv/gitaly", sv.svdir});
	write_file(script, substitute(read_file("examples/runit/gitaly-upgrade"), subs), 0755);
	/* The daemon's FAIL is relative to its working directory (runsv's:
	 * the service directory); a link puts it in var. */
	REQUIRE(symlink(fail.c_str(), (sv.svdir + "/FAIL").c_str()) == 0);
	write_file(sv.svdir + "/pidsitter.toml", read_file(sv.svdir + "/pidsitter.toml") +
	    "upgrade_timeout = \"2s\"\n");
	sv.ok({"-v", "-w", "60", "up"});
	pid_t w = sv.wait_up(0, 20000).pid;
	pid_t d1 = sv.gitaly.wait_ready(0, 20000);

	cmd_result r = run_cmd({script});
	INFO(r.out, r.err);
	CHECK(r.code == 0);
	pid_t d2 = read_pid(sv.gitaly.pidfile);
	CHECK(d2 != d1);
	CHECK(r.out.find("upgrade complete: generation 2 (pid " + std::to_string(d2) +
	    ") is current") != std::string::npos);
	CHECK(sv.get_status().pid == w);

	/* A new process that crashes before it is ready: the old one serves
	 * on, the script says so and exits 1. */
	REQUIRE(wait_until([&] { return sv.gitaly.daemons() == std::vector<pid_t>{d2}; }, 10000));
	write_file(fail, "");
	r = run_cmd({script, "30s"});
	CHECK(r.code == 1);
	CHECK(r.err.find("upgrade failed: no new process wrote the pid file within "
	    "upgrade_timeout") != std::string::npos);
	CHECK(pid_alive(d2));
	CHECK(sv.get_status().pid == w);

	sv.ok({"-w", "60", "down"});
	sv.wait_down(30000);
	/* The wrapper removed its socket on the way out: nobody answers. */
	r = run_cmd({script});
	CHECK(r.code == 3);
	sv.stop();
}

TEST_CASE("runit: sv force-stop of a daemon that ignores TERM, with helpers: stop_timeout shorter than sv's 7 s leaves nothing running")
{
	/* The daemon and both its helpers ignore TERM. */
	runit_service sv({"--ignore", "15", "--helper", "--detached-helper"});
	std::string conf = sv.svdir + "/pidsitter.toml";
	write_file(conf, read_file(conf) + "stop_timeout = \"2s\"\ndescendants = \"stop\"\n");

	sv.ok({"-v", "-w", "60", "up"});
	pid_t w = sv.wait_up(0, 20000).pid;
	pinned d = pin(sv.gitaly.wait_ready(0, 20000));
	pinned h, dh;
	pin_helpers(sv.gitaly.record, &h, &dh);

	/* TERM and CONT; KILL to the wrapper after 7 s if it is still up. */
	cmd_result stop = sv.sv({"force-stop"});
	CAPTURE(stop.out);
	sv.wait_down(30000);
	/* The wrapper exited by itself, with the killed daemon's status,
	 * and took everything with it: no process of the service's daemon
	 * (its command line names the service's directory) is left. */
	CHECK(sv.wait_log({"msg=\"wrapper for process shutting down\"", "exit_code=137",
	    "wrapper=" + std::to_string(w)}, 1, 10000));
	CHECK(sv.log_lines({"msg=\"stop timeout: killing the processes left\"",
	    "processes=" + std::to_string(d.pid)}).size() == 1);
	CHECK(sv.log_lines({"msg=\"killing the processes the daemon left\"", "count=2"}).size() == 1);
	CHECK(stop.out.compare(0, 4, "ok: ") == 0);
	CHECK_FALSE(pinned_alive(d));
	CHECK_FALSE(pinned_alive(h));
	CHECK_FALSE(pinned_alive(dh));
	CHECK(live_mentioning(sv.gitaly.var).empty());
	sv.stop();
}
