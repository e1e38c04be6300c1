/*
 * tableflip_test.cc: the built pidsitter against a REAL tableflip daemon
 * (test/tableflip/main.go, built with Debian's cloudflare/tableflip):
 * upgrades with HUP followed one after the other, TERM in the middle of a
 * drain, a failed upgrade.
 *
 * How a tableflip upgrade goes (pidsitter(8), UPGRADES): the current
 * process P1 gets HUP, fork+execs P2 as its own child with the listening
 * socket; P2 writes the pid file (temp file + rename) and tells P1; P1
 * drains and exits, and P2 is re-parented to the nearest child subreaper:
 * pidsitter.
 *
 * The daemon's binary is "tableflip-daemon", 16 bytes: its comm is
 * "tableflip-daemo" and pidsitter matches it as the kernel cuts it (and by
 * exe).  Go cannot catch signal 34, so no test sends it.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include <doctest/doctest.h>

#include "harness.h"
#include "proc.h"

namespace {

/* Generous: CI machines are slow and shared.  Nothing waits this long
 * unless something is wrong. */
const int DEADLINE_MS = 20000;

/* A temporary directory with the daemon's pid file and record in it.  On
 * the way out (a failed REQUIRE included) it kills whatever still runs
 * from it, before the directory is removed. */
struct tf_scene {
	tmp_dir dir;
	std::string bin, pidfile, record;

	tf_scene()
	{
		bin = build_path("tableflip-daemon");
		pidfile = dir / "tableflip.pid";
		record = dir / "record";
	}

	~tf_scene()
	{
		for (pid_t pid : live_mentioning(dir.path))
			kill(pid, SIGKILL);
	}

	/* pidsitter [opts] -p PIDFILE -- tableflip-daemon -pid-file ... */
	std::vector<std::string> wrapper(std::vector<std::string> daemon_args,
	    std::vector<std::string> opts = {}) const
	{
		std::vector<std::string> a = {build_path("pidsitter")};
		a.insert(a.end(), opts.begin(), opts.end());
		a.insert(a.end(), {"-p", pidfile, "--", bin, "-pid-file", pidfile,
		    "-record", record});
		a.insert(a.end(), daemon_args.begin(), daemon_args.end());
		return a;
	}

	/* For failure messages: what the wrapper and the daemons said. */
	std::string dump(child *w) const
	{
		std::string s = child_dump(w) + "record:\n" + read_file(record) + "daemons:\n";
		for (pid_t pid : daemons()) {
			std::string at = "/proc/" + std::to_string(pid);
			std::string status = read_file(at + "/status"), keep;
			size_t from = 0, nl;
			while ((nl = status.find('\n', from)) != std::string::npos) {
				std::string line = status.substr(from, nl - from + 1);
				from = nl + 1;
				for (const char *k : {"State:", "PPid:", "Threads:", "SigPnd:", "ShdPnd:",
				    "SigBlk:", "nonvoluntary"})
					if (line.compare(0, strlen(k), k) == 0)
						keep += "  " + line;
			}
			s += std::to_string(pid) + " wchan=" + read_file(at + "/wchan") + "\n" + keep;
		}
		return s;
	}

	/* The live daemons of this scene: started as bin, and naming our pid
	 * file (other tests may run tableflip daemons in parallel). */
	std::vector<pid_t> daemons() const
	{
		std::vector<pid_t> out, mine = live_mentioning(pidfile);
		for (pid_t pid : live_matching(bin))
			if (std::find(mine.begin(), mine.end(), pid) != mine.end())
				out.push_back(pid);
		return out;
	}
};

/* The pid in the record line "<pid> <what> <N>", or 0. */
pid_t
record_arg(const std::string &record, pid_t pid, const std::string &what)
{
	std::string text = read_file(record);
	std::string head = std::to_string(pid) + " " + what + " ";
	size_t at = 0;

	while ((at = text.find(head, at)) != std::string::npos) {
		if (at == 0 || text[at - 1] == '\n')
			return (pid_t)atoi(text.c_str() + at + head.size());
		at += head.size();
	}
	return 0;
}

/* The port the daemon's first generation printed on stderr (pidsitter
 * hands the daemon its own stderr, and the test captures the wrapper's). */
int
listening_port(child *w)
{
	const char *needle = ": listening on 127.0.0.1:";

	REQUIRE(child_wait_stderr(w, needle, DEADLINE_MS));
	size_t at = w->err.find(needle);
	REQUIRE(child_wait_stderr(w, "\n", DEADLINE_MS));
	return atoi(w->err.c_str() + at + strlen(needle));
}

/* Which process answered a connection: each generation writes its pid. */
pid_t
who_answers(int port)
{
	return (pid_t)atoi(tcp_exchange(port, "", DEADLINE_MS).c_str());
}

/* The log lines about a generation, as pidsitter writes them (text
 * format: fields sorted, pid= and wrapper= are the wrapper's). */
std::string
following(const child &w, unsigned gen, pid_t pid)
{
	return log_msg("following new process", log_gen(w, gen, pid) +
	    " role=current source=pid_file");
}

std::string
exited(const child &w, int code, unsigned gen, pid_t pid, const char *source)
{
	return log_msg("process exited", "exit_code=" + std::to_string(code) + " " +
	    log_gen(w, gen, pid) + " status_source=" + source);
}

std::string
forwarded(const child &w, unsigned gen, pid_t pid, const char *sig)
{
	return log_msg("forwarding signal", log_gen(w, gen, pid) + " signal=" + sig);
}

/* Spawned and ready: the first generation's pid. */
pid_t
first_ready(const tf_scene &sc, child *w)
{
	REQUIRE(child_wait_line(w, "msg=\"monitoring process\"", DEADLINE_MS));
	REQUIRE(record_wait(sc.record, 0, "ready", DEADLINE_MS));
	pid_t pid = record_pid(sc.record, "ready");
	REQUIRE(pid > 0);
	CHECK(child_count_lines(w, log_msg("monitoring process", log_gen(*w, 1, pid)).c_str()) == 1);
	CHECK(read_pid(sc.pidfile) == pid);
	return pid;
}

/* tableflip refuses an upgrade it is asked for too early, and says so:
 * "process is not ready yet" until its run loop has seen Ready() (which
 * returned, and was recorded, a moment before), "parent hasn't exited"
 * until it has seen its parent, the previous generation, die (it learns
 * that from a pipe, on a goroutine of its own, some time after the
 * kernel closed the pipe).  On a loaded machine a HUP can come in either
 * gap; the daemon keeps running, and an operator would simply send HUP
 * again.  So do we. */
int
early_refusals(const std::string &record, pid_t pid)
{
	return record_count(record, pid, "upgrade-failed process is not ready yet") +
	    record_count(record, pid, "upgrade-failed parent hasn't exited");
}

/* HUP to the wrapper until the daemon `old` has really tried to upgrade:
 * its record says "upgraded" or "upgrade-failed" for another reason than
 * asking too early.  *hups counts the HUPs sent. */
void
hup(const tf_scene &sc, child *w, pid_t old, int *hups)
{
	auto t0 = std::chrono::steady_clock::now();

	for (;;) {
		int tried = record_count(sc.record, old, "upgraded") +
		    record_count(sc.record, old, "upgrade-failed");
		int early = early_refusals(sc.record, old);
		send_signal(w->pid, SIGHUP);
		++*hups;
		bool answered = wait_until([&] {
			return record_count(sc.record, old, "upgraded") +
			    record_count(sc.record, old, "upgrade-failed") > tried;
		}, DEADLINE_MS);
		REQUIRE(answered);
		if (early_refusals(sc.record, old) == early)
			return;
		REQUIRE(ms_since(t0) < DEADLINE_MS);
	}
}

/* HUP to the wrapper; the daemon `old` upgrades.  Returns the new pid
 * once it is ready and the wrapper follows it as generation gen. */
pid_t
hup_upgrade(const tf_scene &sc, child *w, pid_t old, unsigned gen, int *hups)
{
	hup(sc, w, old, hups);
	REQUIRE(record_count(sc.record, old, "upgraded") == 1);
	pid_t fresh = record_arg(sc.record, old, "upgraded");
	REQUIRE(fresh > 0);
	REQUIRE(fresh != old);
	REQUIRE(record_wait(sc.record, fresh, "ready", DEADLINE_MS));
	REQUIRE(child_wait_line(w, following(*w, gen, fresh).c_str(), DEADLINE_MS));
	return fresh;
}

}  // namespace

TEST_CASE("tableflip: four HUP upgrades of a real tableflip daemon, each followed, then TERM")
{
	tf_scene sc;
	child w;

	/* A port below the ephemeral range, not the daemon's default
	 * 127.0.0.1:0: once our daemons are gone, no other test's "port 0"
	 * listener can be given it, so "nothing listens" means ours. */
	int port = free_port();
	child_start(&w, sc.wrapper({"-drain", "200ms", "-exit-code", "7",
	    "-listen", "127.0.0.1:" + std::to_string(port)}));
	INFO(sc.dump(&w));
	pid_t cur = first_ready(sc, &w);
	CHECK(listening_port(&w) == port);
	CHECK(who_answers(port) == cur);
	CHECK(sc.daemons() == std::vector<pid_t>{cur});

	int hups = 0;
	pinned pcur = pin(cur);
	for (unsigned gen = 2; gen <= 5; gen++) {
		CAPTURE(gen);
		pid_t old = cur;
		pinned pold = pcur;
		int before = hups;
		cur = hup_upgrade(sc, &w, old, gen, &hups);
		pcur = pin(cur);
		CHECK(record_count(sc.record, old, "signal SIGHUP") == hups - before);
		CHECK(child_wait_line(&w, log_msg("process draining", log_gen(w, gen - 1, old)).c_str(),
		    DEADLINE_MS));
		/* The old one drains 200 ms and exits 0.  The first was our
		 * child (libuv's exit callback); every later one was the child
		 * of its predecessor, re-parented to the subreaper when that
		 * one exited, and reaped by the wrapper itself. */
		REQUIRE(record_wait(sc.record, old, "exit 0", DEADLINE_MS));
		REQUIRE(child_wait_line(&w, exited(w, 0, gen - 1, old,
		    gen == 2 ? "child" : "reap").c_str(), DEADLINE_MS));
		/* Logged only once reaped: no zombie, exactly one daemon. */
		CHECK(zombies_of(w.pid).empty());
		CHECK_FALSE(pinned_alive(pold));
		CHECK(sc.daemons() == std::vector<pid_t>{cur});
		CHECK(read_pid(sc.pidfile) == cur);
		/* The new process is the wrapper's child now (subreaper). */
		struct proc_stat st;
		REQUIRE(proc_read_stat(cur, &st) == 0);
		CHECK(st.ppid == w.pid);
		/* Same listening socket, inherited: the new one answers. */
		CHECK(who_answers(port) == cur);
		/* The wrapper itself is the same process all along. */
		CHECK(pid_alive(w.pid));
	}

	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, DEADLINE_MS));
	CHECK(child_code(&w) == 7);
	CHECK(record_count(sc.record, cur, "signal SIGTERM") == 1);
	CHECK(record_count(sc.record, cur, "exit 7") == 1);
	CHECK(record_count(sc.record, 0, "signal SIGTERM") == 1);
	CHECK(child_count_lines(&w, forwarded(w, 5, cur, "SIGTERM").c_str()) == 1);
	CHECK(child_count_lines(&w, exited(w, 7, 5, cur, "reap").c_str()) == 1);
	CHECK(child_count_lines(&w, "msg=\"wrapper for process shutting down\" exit_code=7") == 1);
	/* Four upgrades, four followed; every HUP forwarded, once. */
	CHECK(child_count_lines(&w, "msg=\"following new process\"") == 4);
	CHECK(child_count_lines(&w, "signal=SIGHUP") == hups);
	CHECK(child_count_lines(&w, "msg=\"Wrapper started\"") == 1);
	CHECK(child_count_lines(&w, "msg=\"monitoring process\"") == 1);
	/* Every line came from the one wrapper process. */
	CHECK(child_count_lines(&w, (" pid=" + std::to_string(w.pid) + " ").c_str()) ==
	    child_count_lines(&w, "msg="));
	CHECK(sc.daemons().empty());
	CHECK_FALSE(tcp_accepts(port));
	CHECK(live_mentioning(sc.dir.path).empty());
}

TEST_CASE("tableflip: TERM during the old process's drain stops both, promptly")
{
	tf_scene sc;
	child w;

	/* The old process would drain for 30 s after the upgrade. */
	child_start(&w, sc.wrapper({"-drain", "30s", "-exit-code", "7"}));
	INFO(sc.dump(&w));
	pid_t old = first_ready(sc, &w);
	int hups = 0;
	pid_t cur = hup_upgrade(sc, &w, old, 2, &hups);
	CHECK(child_wait_line(&w, log_msg("process draining", log_gen(w, 1, old)).c_str(),
	    DEADLINE_MS));
	CHECK(pid_alive(old));
	CHECK(pid_alive(cur));
	CHECK(sc.daemons().size() == 2);
	CHECK(zombies_of(w.pid).empty());

	auto t0 = std::chrono::steady_clock::now();
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, DEADLINE_MS));
	long long took = ms_since(t0);
	CAPTURE(took);
	/* Well before the 30 s drain: the old one was told to stop too. */
	CHECK(took < 10000);
	CHECK(child_code(&w) == 7);
	CHECK(record_count(sc.record, old, "signal SIGTERM") == 1);
	CHECK(record_count(sc.record, cur, "signal SIGTERM") == 1);
	CHECK(record_count(sc.record, old, "exit 7") == 1);
	CHECK(record_count(sc.record, old, "exit 0") == 0);
	CHECK(record_count(sc.record, cur, "exit 7") == 1);
	CHECK(child_count_lines(&w, forwarded(w, 1, old, "SIGTERM").c_str()) == 1);
	CHECK(child_count_lines(&w, forwarded(w, 2, cur, "SIGTERM").c_str()) == 1);
	/* The old one is our own child.  The new one is the old one's
	 * child: if it exits first, tableflip's parent reaps it (the kernel
	 * then keeps its status for PIDFD_INFO_EXIT); if the old one exits
	 * first, it is re-parented to us and we reap it.  Either way the
	 * status is exact. */
	CHECK(child_count_lines(&w, exited(w, 7, 1, old, "child").c_str()) == 1);
	bool reaped = child_count_lines(&w, exited(w, 7, 2, cur, "reap").c_str()) == 1;
	bool pidfd = child_count_lines(&w, exited(w, 7, 2, cur, "pidfd").c_str()) == 1;
	CHECK(reaped != pidfd);
	CHECK(child_count_lines(&w, "msg=\"wrapper for process shutting down\" exit_code=7") == 1);
	CHECK(sc.daemons().empty());
	CHECK(live_mentioning(sc.dir.path).empty());
}

TEST_CASE("tableflip: a failed upgrade leaves the old process current; the next one is followed")
{
	/* Once with the defaults (upgrade_timeout 60 s: the failure is still
	 * pending when the second HUP comes), once with upgrade_timeout 2s
	 * (the wrapper says the upgrade failed before the second HUP). */
	for (bool short_timeout : {false, true}) {
		CAPTURE(short_timeout);
		tf_scene sc;
		child w;
		std::string fail = sc.dir / "fail-upgrade";
		std::vector<std::string> opts;

		if (short_timeout) {
			write_file(sc.dir / "pidsitter.toml", "upgrade_timeout = \"2s\"\n");
			opts = {"-c", sc.dir / "pidsitter.toml"};
		}
		child_start(&w, sc.wrapper({"-drain", "200ms", "-exit-code", "7",
		    "-fail-upgrade-file", fail}, opts));
		INFO(sc.dump(&w));
		pid_t old = first_ready(sc, &w);

		write_file(fail, "");
		int hups = 0;
		hup(sc, &w, old, &hups);
		CHECK(record_count(sc.record, old, "upgraded") == 0);
		/* The new process gives up before it is ready: it never writes
		 * the pid file, and tableflip's parent reaps it. */
		REQUIRE(record_wait(sc.record, 0, "exit 3", DEADLINE_MS));
		pid_t failed = record_pid(sc.record, "exit 3");
		REQUIRE(failed > 0);
		CHECK(failed != old);
		REQUIRE(record_wait(sc.record, old, "upgrade-failed", DEADLINE_MS));
		CHECK(record_count(sc.record, failed, "ready") == 0);
		pinned pfailed = pin(failed);
		REQUIRE(wait_until([&] { return !pinned_alive(pfailed); }, DEADLINE_MS));
		CHECK(sc.daemons() == std::vector<pid_t>{old});
		CHECK(read_pid(sc.pidfile) == old);
		if (short_timeout) {
			/* No new process within upgrade_timeout: said, and the
			 * old one named as staying current. */
			const char *stays = "the current process stays\"";
			REQUIRE(child_wait_line(&w, stays, DEADLINE_MS));
			std::string line = child_find_line(&w, stays);
			CHECK(line_field(line, "generation") == 1);
			CHECK(line_field(line, "process") == old);
		}

		/* The old one is still current: USR1 reaches it, and only it. */
		send_signal(w.pid, SIGUSR1);
		CHECK(record_wait(sc.record, old, "signal SIGUSR1", DEADLINE_MS));
		CHECK(child_wait_line(&w, forwarded(w, 1, old, "SIGUSR1").c_str(), DEADLINE_MS));
		CHECK(pid_alive(w.pid));
		CHECK(child_count_lines(&w, "msg=\"following new process\"") == 0);
		CHECK(w.out.find("process=" + std::to_string(failed) + " ") == std::string::npos);
		CHECK(zombies_of(w.pid).empty());

		/* Fixed: the next HUP upgrades, and the wrapper follows. */
		REQUIRE(unlink(fail.c_str()) == 0);
		pid_t cur = hup_upgrade(sc, &w, old, 2, &hups);
		REQUIRE(record_wait(sc.record, old, "exit 0", DEADLINE_MS));
		REQUIRE(child_wait_line(&w, exited(w, 0, 1, old, "child").c_str(), DEADLINE_MS));
		CHECK(zombies_of(w.pid).empty());
		CHECK(sc.daemons() == std::vector<pid_t>{cur});
		CHECK(record_count(sc.record, old, "signal SIGHUP") == hups);

		send_signal(w.pid, SIGTERM);
		REQUIRE(child_wait_exit(&w, DEADLINE_MS));
		CHECK(child_code(&w) == 7);
		CHECK(record_count(sc.record, cur, "signal SIGTERM") == 1);
		CHECK(child_count_lines(&w, exited(w, 7, 2, cur, "reap").c_str()) == 1);
		CHECK(sc.daemons().empty());
		CHECK(live_mentioning(sc.dir.path).empty());
	}
}

TEST_CASE("tableflip: the new process SIGKILLed during the old one's drain: a failed upgrade; the old one is never current again; exit 137")
{
	tf_scene sc;
	child w;
	std::string status = sc.dir / "status.json";

	write_file(sc.dir / "pidsitter.toml", "status_file = \"" + status + "\"\n");
	child_start(&w, sc.wrapper({"-drain", "30s", "-exit-code", "7"},
	    {"-c", sc.dir / "pidsitter.toml"}));
	INFO(sc.dump(&w));
	pid_t old = first_ready(sc, &w);
	int hups = 0;
	pid_t cur = hup_upgrade(sc, &w, old, 2, &hups);
	REQUIRE(child_wait_line(&w, log_msg("process draining", log_gen(w, 1, old)).c_str(),
	    DEADLINE_MS));

	send_signal(cur, SIGKILL);
	/* tableflip's parent waits for its child: the kernel has the status. */
	REQUIRE(child_wait_line(&w, log_msg("upgrade failed: the new process died",
	    "draining=1 " + log_gen(w, 2, cur) + " signal=SIGKILL status_source=pidfd").c_str(),
	    DEADLINE_MS));
	REQUIRE(wait_until([&] {
		std::string s = read_file(status);
		return s.find("\"last_upgrade\":{\"result\":\"failed\"") != std::string::npos &&
		    s.find("\"current\":null") != std::string::npos;
	}, DEADLINE_MS));
	CHECK(pid_alive(old));

	/* The old one drains on (tableflip closed its listener): it is not
	 * the service, and what goes to the current generation has no target. */
	send_signal(w.pid, SIGUSR1);
	REQUIRE(wait_log(&w, {"msg=\"signal not forwarded\"", "signal=SIGUSR1",
	    "reason=\"no current process to forward to\""}, DEADLINE_MS));
	/* A stop still reaches it; the exit status is the new one's. */
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, DEADLINE_MS));
	CHECK(child_code(&w) == 137);
	CHECK(record_count(sc.record, old, "signal SIGUSR1") == 0);
	CHECK(record_count(sc.record, old, "signal SIGTERM") == 1);
	CHECK(record_count(sc.record, old, "exit 7") == 1);
	CHECK(child_count_lines(&w, "msg=\"process is current\"") == 0);
	CHECK(child_count_lines(&w, "msg=\"wrapper for process shutting down\" exit_code=137") == 1);
	CHECK(read_file(status).find("\"exit_code\":137") != std::string::npos);
	CHECK(sc.daemons().empty());
	CHECK(live_mentioning(sc.dir.path).empty());
}

TEST_CASE("tableflip: HUP during the old one's drain is forwarded, and not tracked as an upgrade: tableflip refuses it")
{
	tf_scene sc;
	child w;
	std::string status = sc.dir / "status.json";

	write_file(sc.dir / "pidsitter.toml", "status_file = \"" + status + "\"\n");
	child_start(&w, sc.wrapper({"-drain", "30s", "-exit-code", "7"},
	    {"-c", sc.dir / "pidsitter.toml"}));
	INFO(sc.dump(&w));
	pid_t old = first_ready(sc, &w);
	int hups = 0;
	pid_t cur = hup_upgrade(sc, &w, old, 2, &hups);
	REQUIRE(child_wait_line(&w, "msg=\"upgrade complete\"", DEADLINE_MS));
	CHECK(child_count_lines(&w, "msg=\"upgrade started\"") == 1);

	send_signal(w.pid, SIGHUP);
	REQUIRE(wait_log(&w, {"msg=\"upgrade not started\"",
	    "reason=\"the daemon will refuse it: generation 1 is still draining\"",
	    "draining_process=" + std::to_string(old), "generation=2"}, DEADLINE_MS));
	REQUIRE(child_wait_line(&w, forwarded(w, 2, cur, "SIGHUP").c_str(), DEADLINE_MS));
	/* And so it does, while its parent lives. */
	REQUIRE(record_wait(sc.record, cur, "upgrade-failed", DEADLINE_MS));
	CHECK(record_count(sc.record, cur, "upgrade-failed parent hasn't exited") == 1);
	/* No upgrade in progress: nothing to wait upgrade_timeout for. */
	CHECK(child_count_lines(&w, "msg=\"upgrade started\"") == 1);
	std::string s = read_file(status);
	CHECK(s.find("\"state\":\"running\"") != std::string::npos);
	CHECK(s.find("\"current\":{\"pid\":" + std::to_string(cur) + ",\"generation\":2,\"since\":") !=
	    std::string::npos);

	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, DEADLINE_MS));
	CHECK(child_code(&w) == 7);
	CHECK(record_count(sc.record, old, "signal SIGTERM") == 1);
	CHECK(record_count(sc.record, cur, "signal SIGTERM") == 1);
	CHECK(sc.daemons().empty());
	CHECK(live_mentioning(sc.dir.path).empty());
}
