/*
 * faults_test.cc: faults.  The wrapper must survive whatever its
 * daemon, its supervisor and the machine throw at it, and never be the
 * reason a daemon is lost, duplicated or left a zombie:
 *
 *   - an upgrade storm: 50 upgrades back to back;
 *   - new generations that fail in every way, many in a row;
 *   - the wrapper SIGKILLed and restarted, in steady state and mid-upgrade;
 *   - a storm of 10,000 signals;
 *   - outputs closed or full, the pid file's directory deleted;
 *   - a log whose reader is stuck, whatever the log is (a pipe, a named
 *     FIFO, a socket, a terminal stopped with ^S);
 *   - the daemon SIGKILLed while signals are being forwarded to it.
 *
 * The daemon is test/fixture-daemon.c (a tableflip-style upgrade on HUP,
 * every event appended to a record file).
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include <doctest/doctest.h>

#include "hardening.h"
#include "proc.h"

namespace {

/* Nothing waits this long unless something is wrong (CI is shared). */
const int DEADLINE_MS = 20000;

/* Exactly one daemon of sc runs (after any drain has ended): its pid. */
pid_t
settled(const scene &sc)
{
	std::vector<pid_t> d;
	if (!wait_until([&] { d = sc.daemons(); return d.size() == 1; }, DEADLINE_MS))
		return 0;
	return d[0];
}

/* HUP the wrapper and wait until the pid file names a new ready process
 * that the wrapper follows; returns it. */
pid_t
upgrade(const scene &sc, child *w, pid_t old)
{
	pid_t fresh = hup_successor(sc, w, old, DEADLINE_MS);
	REQUIRE(wait_log(w, {"msg=\"following new process\"", "process=" + std::to_string(fresh)},
	    DEADLINE_MS));
	return fresh;
}

/* The daemon of sc and its wrapper w, whose log nobody reads, still do
 * their job: USR1 reaches the daemon, an upgrade happens (the old
 * generation drains and exits), USR2 reaches the new one. */
void
works_unlogged(const scene &sc, child *w)
{
	pid_t d1 = sc.ready(DEADLINE_MS);
	send_signal(w->pid, SIGUSR1);
	REQUIRE(record_wait(sc.record, d1, "signal SIGUSR1", DEADLINE_MS));
	pid_t d2 = hup_successor(sc, w, d1, DEADLINE_MS);
	REQUIRE(record_wait(sc.record, d1, "exit 0", DEADLINE_MS));
	send_signal(w->pid, SIGUSR2);
	REQUIRE(record_wait(sc.record, d2, "signal SIGUSR2", DEADLINE_MS));
}

/* TERM to the wrapper w: it exits 9, the daemon's code. */
void
stop_exits_9(child *w)
{
	send_signal(w->pid, SIGTERM);
	REQUIRE(child_wait_exit(w, DEADLINE_MS));
	CHECK(child_code(w) == 9);
}

/* The last "<pid> upgrading <child>" line of pid: the child. */
pid_t
last_child(const std::string &record, pid_t pid)
{
	std::string text = read_file(record), key = std::to_string(pid) + " upgrading ";
	size_t at = text.rfind(key);
	return at == std::string::npos ? 0 : (pid_t)atoi(text.c_str() + at + key.size());
}

/* For a wrapper whose memory is measured: under AddressSanitizer (make
 * check SAN=1) freed memory is held in a quarantine, not reused, so the
 * resident size grows with every allocation even without a leak.  No
 * quarantine: what is measured is what is kept.  (Other binaries ignore
 * the variable; leaks are LeakSanitizer's to report at exit.) */
std::vector<std::string>
no_quarantine(void)
{
	const char *o = getenv("ASAN_OPTIONS");
	std::string v = o != NULL && *o ? std::string(o) + ":" : std::string();
	return {"ASAN_OPTIONS=" + v + "quarantine_size_mb=0"};
}

int
sys_pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

int
sys_pidfd_send_signal(int fd, int sig, siginfo_t *info)
{
	return (int)syscall(SYS_pidfd_send_signal, fd, sig, info, 0);
}

}  // namespace

/*
 * 50 upgrades, each started as soon as the previous one is followed (the
 * fixture, like tableflip, refuses an upgrade while one is under way).
 * A wrapper that kept every generation it ever followed, or leaked a pidfd
 * or handle per generation, grows; one that lost count ends up with two
 * daemons or none.
 */
TEST_CASE("faults: an upgrade storm, 50 HUPs back to back")
{
	scene sc;
	child w;

	child_start(&w, sc.wrapper(sc.daemon({"--drain", "20", "--exit-code", "9"})), no_quarantine());
	pid_t cur = sc.ready(DEADLINE_MS);
	REQUIRE(wait_log(&w, {"msg=\"monitoring process\"", "process=" + std::to_string(cur)}, DEADLINE_MS));
	int fds0 = fd_count(w.pid);
	long rss0 = vm_rss_kb(w.pid);

	long long t0 = mono_ms();
	for (int gen = 2; gen <= 51; gen++) {
		CAPTURE(gen);
		cur = upgrade(sc, &w, cur);
		CHECK(has_line(w.out, {"msg=\"following new process\"", "generation=" + std::to_string(gen),
		    "process=" + std::to_string(cur), "role=current"}));
	}
	MESSAGE("50 upgrades took " << mono_ms() - t0 << " ms");
	/* Every drained generation exited and was reaped. */
	CHECK(settled(sc) == cur);
	CHECK(wait_until([&] { return zombies_of(w.pid).empty(); }, DEADLINE_MS));
	CHECK(wait_until([&] { return fd_count(w.pid) == fds0; }, DEADLINE_MS));
	long rss1 = vm_rss_kb(w.pid);
	MESSAGE("wrapper VmRSS " << rss0 << " KiB before, " << rss1 << " KiB after");
	CHECK(rss1 - rss0 < rss_allowance_kb(w.pid));
	CHECK(child_count_lines(&w, "msg=\"following new process\"") == 50);
	CHECK(wait_until([&] {
		pump_for(&w, 5);
		return child_count_lines(&w, "msg=\"process exited\"") == 50;
	}, DEADLINE_MS));

	stop_exits_9(&w);
	CHECK(has_line(w.out, {"msg=\"process exited\"", "exit_code=9", "generation=51"}));
	CHECK(sc.daemons().empty());
}

/*
 * upgrade_test.cc has one new generation that crashes, one that hangs and
 * torn pid files from generations that then succeed.  Here they come many
 * in a row, in the two ways not covered there: a new process killed in
 * the middle of its torn write (the pid file is left holding a prefix of
 * its PID), and one that writes the pid file and crashes before it tells
 * its parent, so the wrapper follows it and then sees it die while the old
 * generation lives on.  A wrapper that followed only the last PID named
 * would exit then (gitaly-wrapper's model), losing the running daemon.
 */
TEST_CASE("faults: new generations crash, hang, tear the pid file, or crash after writing it, many in a row")
{
	scene sc;
	child w;
	std::string fail = sc.dir / "fail";

	child_start(&w, sc.wrapper(sc.daemon({"--torn", "--fail-upgrade-file", fail,
	    "--upgrade-timeout", "1000", "--drain", "20", "--exit-code", "9"})));
	REQUIRE(record_wait(sc.record, 0, "ready", DEADLINE_MS));
	pid_t cur = 0;
	REQUIRE(wait_until([&] {
		cur = read_pid(sc.pidfile);
		return cur > 0 && record_count(sc.record, cur, "ready") == 1;
	}, DEADLINE_MS));
	REQUIRE(wait_log(&w, {"msg=\"monitoring process\""}, DEADLINE_MS));

	const char *modes[] = {"crash", "hang", "after-pid-file", "torn-kill"};
	int failed = 0, usr1 = 0, torn_kills = 0, lost = 0;
	for (int round = 0; round < 12; round++) {
		std::string mode = modes[round % 4];
		CAPTURE(round);
		CAPTURE(mode);
		INFO(child_dump(&w));
		INFO(bounded_output(read_file(sc.record)));
		if (mode == "torn-kill") {
			unlink(fail.c_str());
			/* What the file holds now could be a prefix too. */
			unlink(sc.pidfile.c_str());
		} else
			write_file(fail, mode == "crash" ? "" : mode, 0644);
		const char *why = mode == "hang" ? "upgrade-failed timeout" :
		    mode == "torn-kill" ? "upgrade-failed child exited 137" :
		    "upgrade-failed child exited 3";
		int whys = record_count(sc.record, cur, why);
		int upgrading = record_count(sc.record, cur, "upgrading");
		send_signal(w.pid, SIGHUP);
		REQUIRE(wait_until([&] {
			return record_count(sc.record, cur, "upgrading") == upgrading + 1;
		}, DEADLINE_MS));
		pid_t child = last_child(sc.record, cur);
		REQUIRE(child > 0);
		if (mode == "torn-kill") {
			/* Kill it when the pid file holds part of its PID. */
			std::string full = std::to_string(child), now;
			bool torn = wait_until([&] {
				now = read_file(sc.pidfile);
				return (!now.empty() && now.size() < full.size() &&
				    full.compare(0, now.size(), now) == 0) || now == full;
			}, DEADLINE_MS);
			REQUIRE(torn);
			if (now == full) {
				/* Too slow to catch it torn (a loaded machine):
				 * an upgrade that worked, then. */
				REQUIRE(wait_log(&w, {"msg=\"following new process\"",
				    "process=" + full}, DEADLINE_MS));
				REQUIRE(record_wait(sc.record, cur, "exit 0", DEADLINE_MS));
				cur = child;
				usr1 = 0;
				failed = 0;
				continue;
			}
			kill(child, SIGKILL);
			torn_kills++;
		}
		/* Its parent saw it fail, and stays. */
		REQUIRE(wait_until([&] {
			return record_count(sc.record, cur, "upgrade-failed") == failed + 1;
		}, DEADLINE_MS));
		CHECK(record_count(sc.record, cur, why) == whys + 1);
		failed++;
		/* If it was followed (named by the pid file, alive: after
		 * writing it, or killed just after its torn write ended), its
		 * death is seen, and it is a failed upgrade: the old
		 * generation, draining since, is not made current by it (a
		 * real parent drains once its successor is ready).  The pid
		 * file naming the old one again, as an operator would write
		 * it, does. */
		std::string cp = "process=" + std::to_string(child);
		CHECK(wait_until([&] {
			pump_for(&w, 5);
			return !has_line(w.out, {"msg=\"following new process\"", cp}) ||
			    has_line(w.out, {"msg=\"process exited\"", cp});
		}, DEADLINE_MS));
		if (has_line(w.out, {"msg=\"following new process\"", cp})) {
			lost++;
			CHECK(has_line(w.out, {"msg=\"upgrade failed: the new process died\"", cp}));
			int dropped = child_count_lines(&w, "msg=\"signal not forwarded\"");
			send_signal(w.pid, SIGUSR1);
			CHECK(wait_until([&] {
				pump_for(&w, 5);
				return child_count_lines(&w, "msg=\"signal not forwarded\"") > dropped;
			}, DEADLINE_MS));
			std::string again = "msg=\"process is current\"";
			int currents = child_count_lines(&w, again.c_str());
			write_file(sc.pidfile + ".new", std::to_string(cur));
			REQUIRE(rename((sc.pidfile + ".new").c_str(), sc.pidfile.c_str()) == 0);
			REQUIRE(wait_until([&] {
				pump_for(&w, 5);
				return child_count_lines(&w, again.c_str()) > currents;
			}, DEADLINE_MS));
			CHECK(has_line(w.out, {again, "process=" + std::to_string(cur)}));
		}
		/* The old generation is still the one: it gets the signals,
		 * and it is the only daemon; nothing is left a zombie. */
		CHECK(pid_alive(w.pid));
		send_signal(w.pid, SIGUSR1);
		usr1++;
		CHECK(wait_until([&] {
			return record_count(sc.record, cur, "signal SIGUSR1") == usr1;
		}, DEADLINE_MS));
		CHECK(settled(sc) == cur);
		CHECK(wait_until([&] { return zombies_of(w.pid).empty() && zombies_of(cur).empty(); },
		    DEADLINE_MS));
	}
	CHECK(torn_kills >= 1);
	MESSAGE(lost << " new generations followed, then lost");
	CHECK(w.out.find("wrapper for process shutting down") == std::string::npos);

	/* And then an upgrade that works. */
	unlink(fail.c_str());
	pid_t old = cur;
	cur = upgrade(sc, &w, old);
	REQUIRE(record_wait(sc.record, old, "exit 0", DEADLINE_MS));
	CHECK(settled(sc) == cur);
	stop_exits_9(&w);
	CHECK(record_count(sc.record, cur, "signal SIGTERM") == 1);
	CHECK(sc.daemons().empty());
}

/*
 * runit restarts a wrapper that was SIGKILLed (sv force-stop, the OOM
 * killer); the daemon ran on unsupervised meanwhile and must be adopted
 * again, never duplicated.  During an upgrade the daemon carries on alone:
 * the restarted wrapper must end up following whatever the pid file names.
 *
 * All of it runs in a pid namespace whose pid 1 reaps orphans at once, as
 * runit's or systemd's does: the daemons outlive their wrappers and are
 * re-parented there, and an adopted daemon's exit status only reaches the
 * wrapper once that parent has reaped it.  (This machine's own pid 1 reaps
 * orphans a second or more late, longer than pidsitter waits for it, so
 * outside the namespace the final status would be "unknown", 0.)
 */
TEST_CASE("faults: the wrapper SIGKILLed and restarted 20 times in steady state and 20 times mid-upgrade")
{
	if (pidns_skip(false))
		return;
	scene sc;
	pidns ns(sc.dir, 0);
	unsigned seed = (unsigned)mono_ms();
	std::vector<std::string> argv = ns.run(sc.wrapper(sc.daemon({"--drain", "30",
	    "--exit-code", "9"})));
	CAPTURE(seed);

	/* A wrapper in the namespace: nsenter, and its child, the wrapper
	 * itself (host PID), which is what gets signals and SIGKILL. */
	struct nsw {
		child p;
		pid_t host = 0;
	};
	auto start = [&](nsw *w) {
		child_start(&w->p, argv);
		w->host = child_of(w->p.pid, DEADLINE_MS);
		REQUIRE(w->host > 0);
	};
	auto sigkill = [&](nsw *w) {
		kill(w->host, SIGKILL);
		REQUIRE(child_wait_exit(&w->p, DEADLINE_MS));
	};
	/* The daemons that run, as PIDs of the namespace. */
	auto daemons = [&] {
		std::vector<pid_t> out;
		for (pid_t h : sc.daemons()) {
			std::string st = read_file("/proc/" + std::to_string(h) + "/status");
			size_t at = st.find("\nNSpid:");
			if (at != std::string::npos)
				out.push_back((pid_t)atoi(st.c_str() + st.find_last_of('\t', st.find('\n', at + 1)) + 1));
		}
		return out;
	};
	auto settled = [&] {
		std::vector<pid_t> d;
		if (!wait_until([&] { d = daemons(); return d.size() == 1; }, DEADLINE_MS))
			return (pid_t)0;
		return d[0];
	};

	pid_t daemon;
	{
		nsw w0;
		start(&w0);
		daemon = sc.ready(DEADLINE_MS);
		REQUIRE(wait_log(&w0.p, {"msg=\"monitoring process\""}, DEADLINE_MS));
		sigkill(&w0);
	}

	/* Steady state: killed at a random moment of its start, or later. */
	for (int round = 0; round < 20; round++) {
		CAPTURE(round);
		nsw w;
		start(&w);
		usleep((useconds_t)(rand_r(&seed) % 30000));
		sigkill(&w);
		INFO(bounded_output(w.p.out));
		CHECK(w.p.out.find("spawning a process") == std::string::npos);
		CHECK(daemons() == std::vector<pid_t>{daemon});
	}
	{
		nsw w;
		start(&w);
		REQUIRE(wait_log(&w.p, {"msg=\"adopting a process\"", "process=" + std::to_string(daemon)},
		    DEADLINE_MS));
		sigkill(&w);
	}

	/* Mid-upgrade: HUP, then SIGKILL a few milliseconds later; the
	 * next wrapper starts at once. */
	int spawned = 0;
	for (int round = 0; round < 20; round++) {
		CAPTURE(round);
		nsw w;
		start(&w);
		REQUIRE(wait_log(&w.p, {"msg=\"monitoring process\""}, DEADLINE_MS));
		INFO(child_dump(&w.p));
		spawned += w.p.out.find("spawning a process") != std::string::npos;
		send_signal(w.host, SIGHUP);
		usleep((useconds_t)(rand_r(&seed) % 5000));
		sigkill(&w);
	}
	CHECK(spawned == 0);

	/* The last wrapper stays: once every upgrade is over, exactly one
	 * daemon runs, the pid file names it and the wrapper follows it. */
	nsw w;
	start(&w);
	REQUIRE(wait_log(&w.p, {"msg=\"monitoring process\""}, DEADLINE_MS));
	CHECK(w.p.out.find("spawning a process") == std::string::npos);
	pid_t last = settled();
	REQUIRE(last > 0);
	REQUIRE(wait_until([&] { return read_pid(sc.pidfile) == last; }, DEADLINE_MS));
	REQUIRE(wait_log(&w.p, {"process=" + std::to_string(last)}, DEADLINE_MS));
	INFO(child_dump(&w.p));
	INFO(bounded_output(read_file(sc.record)));
	send_signal(w.host, SIGUSR1);
	CHECK(record_wait(sc.record, last, "signal SIGUSR1", DEADLINE_MS));
	send_signal(w.host, SIGTERM);
	REQUIRE(child_wait_exit(&w.p, DEADLINE_MS));
	CHECK(child_code(&w.p) == 9);
	CHECK(record_count(sc.record, last, "signal SIGTERM") == 1);
	CHECK(wait_until([&] { return sc.daemons().empty(); }, DEADLINE_MS));
}

/*
 * 10,000 signals in about a second.  Standard signals coalesce in the
 * kernel (one pending bit each); real-time signals queue, and pidsitter
 * forwards each one it receives, so the daemon records exactly as many as
 * were sent (well under RLIMIT_SIGPENDING).  A wrapper that allocates per
 * signal grows; one whose handler is not async-signal-safe crashes.
 *
 * The wrapper logs one line per forwarded signal: the test reads them all
 * the while, and counts them.  (Were they not read, the pipe would fill
 * and the wrapper drop most of them: see CAVEATS in pidsitter(8).)
 */
TEST_CASE("faults: a storm of ten thousand signals; real-time ones all arrive, memory stays flat")
{
	const int TOTAL = 10000, RT_EVERY = 10, RT_SIG_OFFSET = 5;
	const int mixed[] = {SIGUSR1, SIGUSR2, SIGWINCH, SIGALRM, SIGPWR, SIGCONT, SIGTTIN, SIGTTOU,
	    SIGTSTP};
	scene sc;
	child w;
	int rt = SIGRTMIN + RT_SIG_OFFSET;
	std::string rt_name = "signal SIG" + std::to_string(rt);  /* the fixture's name for it */

	pid_t daemon = start_monitored(sc, &w, sc.wrapper(sc.daemon({"--exit-code", "9"})),
	    DEADLINE_MS, no_quarantine());
	/* Warm up (first-use allocations), then measure. */
	int warm = 0;
	for (int sig : mixed) {
		send_signal(w.pid, sig);
		warm++;
		REQUIRE(wait_until([&] {
			pump_for(&w, 5);
			return child_count_lines(&w, "msg=\"forwarding signal\"") == warm;
		}, DEADLINE_MS));
	}
	pump_for(&w, 100);
	long rss0 = vm_rss_kb(w.pid);
	int fds0 = fd_count(w.pid);
	REQUIRE(rss0 > 0);
	/* Queued signals count against the sender's user: all of ours, and
	 * the wrapper's to the daemon, are root's.  Stay well under. */
	for (pid_t p : {w.pid, daemon}) {
		std::string limits = read_file("/proc/" + std::to_string(p) + "/limits");
		size_t at = limits.find("Max pending signals");
		REQUIRE(at != std::string::npos);
		long pending_max = atol(limits.c_str() + at + strlen("Max pending signals"));
		CAPTURE(pending_max);
		REQUIRE(pending_max > 4 * TOTAL / RT_EVERY);
	}

	/* The storm, from a thread: through a pidfd, so that nothing can
	 * reach another process if the wrapper died. */
	int pidfd = sys_pidfd_open(w.pid);
	REQUIRE(pidfd >= 0);
	std::atomic<int> rt_sent{0}, rt_failed{0}, std_sent{0}, other_failed{0};
	std::atomic<bool> done{false};
	std::thread sender([&] {
		for (int i = 0; i < TOTAL; i++) {
			if (i % RT_EVERY == 0) {
				siginfo_t si;
				memset(&si, 0, sizeof si);
				si.si_signo = rt;
				si.si_code = SI_QUEUE;
				si.si_pid = getpid();
				si.si_uid = getuid();
				si.si_value.sival_int = i;
				if (sys_pidfd_send_signal(pidfd, rt, &si) == 0)
					rt_sent++;
				else
					rt_failed++;
			} else if (sys_pidfd_send_signal(pidfd, mixed[i % (sizeof mixed / sizeof mixed[0])],
			    NULL) == 0) {
				std_sent++;
			} else {
				other_failed++;
			}
			/* About a second: 100 signals every 10 ms. */
			if (i % 100 == 99)
				usleep(10000);
		}
		done = true;
	});
	long long t0 = mono_ms();
	while (!done && mono_ms() - t0 < 60000)
		pump_for(&w, 20);
	sender.join();
	long long took = mono_ms() - t0;
	int rt_n = rt_sent.load();
	MESSAGE("10,000 signals sent in " << took << " ms");
	CHECK(rt_failed.load() == 0);
	CHECK(other_failed.load() == 0);
	CHECK(rt_n == TOTAL / RT_EVERY);

	/* Every real-time signal reaches the daemon, once. */
	INFO(child_dump(&w));
	bool all = wait_until([&] {
		pump_for(&w, 20);
		return record_count(sc.record, daemon, rt_name) >= rt_n;
	}, DEADLINE_MS);
	CHECK(all);
	CHECK(record_count(sc.record, daemon, rt_name) == rt_n);
	CHECK(child_count_lines(&w, ("signal=SIGRTMIN+" + std::to_string(RT_SIG_OFFSET)).c_str()) == rt_n);
	/* The standard ones coalesce, but each kind got through (once in
	 * the warm-up, and at least once in the storm). */
	for (const char *name : {"signal SIGUSR2", "signal SIGWINCH", "signal SIGPWR", "signal SIGTSTP"})
		CHECK(record_count(sc.record, daemon, name) >= 2);

	CHECK(pid_alive(w.pid));
	CHECK(pid_alive(daemon));
	CHECK(sc.daemons() == std::vector<pid_t>{daemon});
	CHECK(zombies_of(w.pid).empty());
	long rss1 = vm_rss_kb(w.pid);
	MESSAGE("wrapper VmRSS " << rss0 << " KiB before, " << rss1 << " KiB after");
	CHECK(rss1 - rss0 < rss_allowance_kb(w.pid));
	CHECK(fd_count(w.pid) == fds0);
	close(pidfd);

	/* And it still works. */
	int before = record_count(sc.record, daemon, "signal SIGHUP");
	upgrade(sc, &w, daemon);
	CHECK(record_count(sc.record, daemon, "signal SIGHUP") == before + 1);
	stop_exits_9(&w);
	CHECK(sc.daemons().empty());
}

/*
 * The wrapper's outputs and the pid file's directory.
 */
TEST_CASE("faults: the daemon's stdout closed, the wrapper's stdout closed or full, the pid file's directory deleted")
{
	SUBCASE("the daemon closes its stdout and stderr") {
		/* A supervisor that takes EOF on the daemon's output for its
		 * death would think it gone.  pidsitter shares its own stdout
		 * with the daemon and watches the process itself. */
		scene sc;
		child w;
		pid_t d1 = start_monitored(sc, &w, sc.wrapper(sc.daemon({"--close-stdout",
		    "--drain", "20", "--exit-code", "9"})), DEADLINE_MS);
		send_signal(w.pid, SIGUSR1);
		REQUIRE(record_wait(sc.record, d1, "signal SIGUSR1", DEADLINE_MS));
		pid_t d2 = upgrade(sc, &w, d1);
		send_signal(w.pid, SIGUSR2);
		REQUIRE(record_wait(sc.record, d2, "signal SIGUSR2", DEADLINE_MS));
		CHECK(settled(sc) == d2);
		stop_exits_9(&w);
		CHECK(sc.daemons().empty());
	}

	SUBCASE("the wrapper's stdout is a pipe nobody reads any more") {
		/* Every log line then fails with EPIPE and raises SIGPIPE: a
		 * wrapper that did not ignore it would die on its first line,
		 * leaving the daemon unsupervised (exit 141). */
		scene sc;
		child w;
		child_start(&w, sc.wrapper(sc.daemon({"--drain", "20", "--exit-code", "9"})));
		close(w.out_fd);
		w.out_fd = -1;
		works_unlogged(sc, &w);
		CHECK(pid_alive(w.pid));
		stop_exits_9(&w);
		CHECK(sc.daemons().empty());
	}

	SUBCASE("the wrapper's stdout is a pipe that its reader has stopped reading") {
		/* svlogd stuck: the pipe fills after some 450 lines.  A wrapper
		 * that blocked in write() would forward nothing more, TERM
		 * included, and notice no death; pidsitter keeps a few of the
		 * per-signal lines it cannot write and drops the rest (and
		 * says so once the pipe drains). */
		scene sc;
		child w;
		pid_t d1 = start_monitored(sc, &w, sc.wrapper(sc.daemon({"--exit-code", "9"})),
		    DEADLINE_MS);
		/* From here the test reads nothing: fill the pipe with the
		 * wrapper's own "forwarding signal" lines. */
		int fd = w.out_fd;
		/* Real-time signals queue: each is forwarded and logged. */
		send_rt_flood(sc, &w, d1, SIGRTMIN + 5, 1500, DEADLINE_MS);
		/* 1500 lines of some 130 bytes: far more than a pipe holds. */
		int queued = 0;
		REQUIRE(ioctl(fd, FIONREAD, &queued) == 0);
		CHECK(queued > 32768);
		CHECK(queued <= 65536);
		send_signal(w.pid, SIGUSR1);
		REQUIRE(record_wait(sc.record, d1, "signal SIGUSR1", DEADLINE_MS));
		/* The reader comes back and empties the pipe: the next line
		 * tells what it missed. */
		char buf[65536];
		ssize_t n;
		while ((n = read(fd, buf, sizeof buf)) > 0)
			w.out.append(buf, (size_t)n);
		CHECK(w.out.find("signal=SIGRTMIN+5") != std::string::npos);
		send_signal(w.pid, SIGUSR2);
		REQUIRE(child_wait_line(&w, "msg=\"log lines dropped: the log pipe was full\"", DEADLINE_MS));
		std::string note = child_find_line(&w, "log lines dropped");
		CHECK(line_field(note, "dropped") > 500);
		REQUIRE(child_wait_line(&w, "signal=SIGUSR2", DEADLINE_MS));
		send_signal(w.pid, SIGTERM);
		REQUIRE(record_wait(sc.record, d1, "signal SIGTERM", DEADLINE_MS));
		REQUIRE(child_wait_exit(&w, DEADLINE_MS));
		CHECK(child_code(&w) == 9);
		CHECK(sc.daemons().empty());
	}

	SUBCASE("the disk is full for the log (stdout is /dev/full)") {
		scene sc;
		child w;
		std::vector<std::string> argv = {"/bin/sh", "-c", "exec \"$0\" \"$@\" >/dev/full"};
		std::vector<std::string> wa = sc.wrapper(sc.daemon({"--drain", "20", "--exit-code", "9"}));
		argv.insert(argv.end(), wa.begin(), wa.end());
		child_start(&w, argv);
		works_unlogged(sc, &w);
		stop_exits_9(&w);
		CHECK(w.out.empty());
		CHECK(w.err.empty());
		CHECK(sc.daemons().empty());
	}

	SUBCASE("the wrapper started with stdin and stdout closed") {
		/* The lowest free descriptor would then be the event loop's
		 * epoll instance, and the daemon would inherit it as its own
		 * stdin and stdout.  pidsitter opens /dev/null there first, as
		 * daemon(3) does. */
		scene sc;
		child w;
		std::string script = sc.dir / "run-gitaly.sh";
		std::string fd0 = sc.dir / "fd0", fd1 = sc.dir / "fd1";
		write_file(script, "#!/bin/sh\nin=$(readlink /proc/$$/fd/0)\nout=$(readlink "
		    "/proc/$$/fd/1)\necho \"$in\" > " + fd0 + "\necho \"$out\" > " + fd1 +
		    "\nexec " + sc.gitaly + " \"$@\"\n", 0755);
		std::vector<std::string> argv = {"/bin/sh", "-c", "exec \"$0\" \"$@\" <&- >&-"};
		std::vector<std::string> wa = sc.wrapper({script, "--pid-file", sc.pidfile,
		    "--record", sc.record, "--exit-code", "9"});
		argv.insert(argv.end(), wa.begin(), wa.end());
		child_start(&w, argv);
		pid_t d1 = sc.ready(DEADLINE_MS);
		CHECK(read_file(fd0) == "/dev/null\n");
		CHECK(read_file(fd1) == "/dev/null\n");
		send_signal(w.pid, SIGUSR1);
		REQUIRE(record_wait(sc.record, d1, "signal SIGUSR1", DEADLINE_MS));
		stop_exits_9(&w);
		CHECK(sc.daemons().empty());
	}

	SUBCASE("the pid file's directory deleted and made again") {
		/* A wrapper that set its inotify watch once would watch a
		 * deleted inode for ever: the upgrade below would go unseen
		 * (until the old generation's drain ended, a minute here). */
		scene sc("run");
		std::string run = sc.dir / "run";
		child w;
		pid_t d1 = start_monitored(sc, &w, sc.wrapper(sc.daemon({"--drain", "60000",
		    "--exit-code", "9"}), {"-i", "100ms"}), DEADLINE_MS);
		INFO(child_dump(&w));

		/* Deleted: the wrapper notices and looks for it again. */
		REQUIRE(system(("rm -rf " + run).c_str()) == 0);
		REQUIRE(wait_log(&w, {"msg=\"pid file directory is gone; looking for it again\""},
		    DEADLINE_MS));
		REQUIRE(mkdir(run.c_str(), 0755) == 0);
		REQUIRE(wait_log(&w, {"msg=\"watching the pid file's directory again\""}, DEADLINE_MS));

		/* Deleted and made again before the wrapper looks (it is
		 * stopped meanwhile): another directory by the same name. */
		send_signal(w.pid, SIGSTOP);
		REQUIRE(system(("rm -rf " + run).c_str()) == 0);
		REQUIRE(mkdir(run.c_str(), 0755) == 0);
		int again = child_count_lines(&w, "msg=\"watching the pid file's directory again\"");
		send_signal(w.pid, SIGCONT);
		CHECK(wait_until([&] {
			pump_for(&w, 10);
			return child_count_lines(&w, "msg=\"watching the pid file's directory again\"") > again;
		}, DEADLINE_MS));

		/* The daemon never noticed; an upgrade writes the pid file in
		 * the new directory and is followed at once, the old
		 * generation still draining. */
		CHECK(pid_alive(d1));
		pid_t d2 = upgrade(sc, &w, d1);
		CHECK(has_line(w.out, {"msg=\"following new process\"", "process=" + std::to_string(d2),
		    "role=current", "source=pid_file"}));
		CHECK(pid_alive(d1));
		send_signal(w.pid, SIGUSR1);
		REQUIRE(record_wait(sc.record, d2, "signal SIGUSR1", DEADLINE_MS));
		stop_exits_9(&w);
		CHECK(record_count(sc.record, d1, "signal SIGTERM") == 1);
		CHECK(sc.daemons().empty());
	}
}

/*
 * The daemon is SIGKILLed while the wrapper forwards a storm of USR1 to
 * it (a thread sending as fast as it can, through a pidfd).  The storm
 * goes on for half a second after the death: meanwhile the wrapper may
 * well be too busy forwarding to look at anything else, and its signal
 * pipe (libuv's, 64 KiB) may fill, so that libuv drops signals, SIGCHLD
 * included.  After it, the wrapper must see the death, exit 137 and leave
 * no zombie, and nothing may have reached another process:
 *
 *   - its own child: a wrapper that learnt of its child's death only from
 *     SIGCHLD (libuv's child watcher) never does if that SIGCHLD was
 *     dropped: the daemon stays a zombie and the wrapper waits for ever;
 *   - an adopted daemon whose PID goes at once to a stranger (a pid
 *     namespace with a small pid_max, test/pidcycle.c's hunt): its parent,
 *     the namespace's pid 1, reaps it at once, and a wrapper that
 *     signalled the bare PID (kill(pid, sig), as gitaly-wrapper does, with
 *     its liveness poll every second) would hit the stranger.  Through the
 *     pidfd the signal cannot reach anyone else.
 */
TEST_CASE("faults: the daemon SIGKILLed while signals are being forwarded to it")
{
	/* USR1 at pid from a thread until it is gone or the time is up. */
	struct usr1_storm {
		int pidfd;
		std::atomic<long> sent{0};
		std::atomic<long long> stop_at{mono_ms() + DEADLINE_MS};
		std::thread t;

		explicit usr1_storm(pid_t pid) : pidfd(sys_pidfd_open(pid))
		{
			REQUIRE(pidfd >= 0);
			t = std::thread([this] {
				while (mono_ms() < stop_at && sys_pidfd_send_signal(pidfd, SIGUSR1, NULL) == 0)
					sent++;
			});
		}
		~usr1_storm()
		{
			stop_at = 0;
			t.join();
			close(pidfd);
		}
	};

	SUBCASE("its own child") {
		scene sc;
		child w;
		pid_t d = start_monitored(sc, &w, sc.wrapper(sc.daemon({"--exit-code", "9"})),
		    DEADLINE_MS);
		bool exited;
		{
			usr1_storm storm(w.pid);
			/* A second of it first: enough to fill libuv's pipe. */
			long long t0 = mono_ms();
			REQUIRE(wait_until([&] {
				pump_for(&w, 5);
				return record_count(sc.record, d, "signal SIGUSR1") >= 20 &&
				    mono_ms() - t0 >= 1000;
			}, DEADLINE_MS));
			send_signal(d, SIGKILL);
			long long killed = mono_ms();
			storm.stop_at = killed + 500;
			exited = child_wait_exit(&w, DEADLINE_MS);
			MESSAGE(storm.sent.load() << " USR1 sent to the wrapper; it exited "
			    << mono_ms() - killed << " ms after the daemon's death");
		}
		INFO(child_dump(&w));
		CHECK(exited);
		if (!exited) {
			struct proc_stat st;
			CHECK_MESSAGE(!(proc_read_stat(d, &st) == 0 && st.state == 'Z'),
			    "the daemon is a zombie its wrapper never reaped");
			child_kill(&w);
		}
		CHECK(child_code(&w) == 137);
		CHECK(has_line(w.out, {"msg=\"process exited\"", "signal=SIGKILL", "status_source=child"}));
		CHECK(record_count(sc.record, d, "exit") == 0);
		CHECK(wait_until([&] { return !pid_alive(d) && zombies_of(w.pid).empty(); }, DEADLINE_MS));
		CHECK(sc.daemons().empty());
	}

	SUBCASE("adopted, its PID handed at once to a stranger") {
		if (pidns_skip())
			return;
		scene sc;
		pidns ns(sc.dir);
		std::string stranger = sc.dir.link("stranger", "fixture-daemon");
		std::string strec = sc.dir / "stranger.rec";

		pid_t d = ns.spawn({sc.gitaly, "--pid-file", sc.pidfile, "--record", sc.record,
		    "--exit-code", "9"});
		REQUIRE(record_wait(sc.record, d, "ready", DEADLINE_MS));
		child w;
		child_start(&w, ns.run(sc.wrapper(sc.daemon({"--exit-code", "9"}))));
		REQUIRE(wait_log(&w, {"msg=\"adopting a process\"", "process=" + std::to_string(d)},
		    DEADLINE_MS));
		pid_t wh = child_of(w.pid, DEADLINE_MS);
		REQUIRE(wh > 0);
		pid_t dh = ns.host_pid(d);
		REQUIRE(dh > 0);

		/* The stranger waits for the daemon's PID. */
		child hunter;
		ns.hunt(&hunter, d, {stranger, "--pid-file", sc.dir / "stranger.pid", "--no-pid-file",
		    "--record", strec});
		bool exited;
		{
			usr1_storm storm(wh);
			long long t0 = mono_ms();
			REQUIRE(wait_until([&] {
				pump_for(&w, 5);
				return record_count(sc.record, d, "signal SIGUSR1") >= 20 &&
				    mono_ms() - t0 >= 1000;
			}, DEADLINE_MS));
			send_signal(dh, SIGKILL);
			storm.stop_at = mono_ms() + 500;
			exited = child_wait_exit(&w, DEADLINE_MS);
			MESSAGE(storm.sent.load() << " USR1 sent to the wrapper");
		}
		INFO(child_dump(&w));
		INFO(bounded_output(read_file(strec)));
		CHECK(exited);
		if (!exited)
			kill(wh, SIGKILL);
		REQUIRE(child_wait_exit(&w, DEADLINE_MS));
		CHECK(child_code(&w) == 137);
		CHECK(has_line(w.out, {"msg=\"process exited\"", "signal=SIGKILL"}));

		REQUIRE(child_wait_exit(&hunter, DEADLINE_MS));
		pid_t s = (pid_t)atoi(hunter.out.c_str());
		INFO(bounded_output(hunter.out));
		CHECK(s == d);
		if (s > 0)
			REQUIRE(record_wait(strec, s, "ready", DEADLINE_MS));
		/* Nothing reached the stranger at the daemon's PID. */
		CHECK(record_count(strec, s, "signal") == 0);
		CHECK(record_count(sc.record, d, "exit") == 0);  /* SIGKILL: it recorded nothing more */
		CHECK(sc.daemons().empty());
	}
}

namespace {

/* The descriptor a wrapper started by start_logging_to() gets as its
 * stdout (child_start_hooked takes a plain function). */
int log_target = -1;

int
stdout_to_log_target(void)
{
	return dup2(log_target, 1) == 1 ? 0 : 126;
}

/* Start w with argv, its stdout the descriptor fd (shared, as a
 * supervisor's log pipe is shared by the wrapper and the daemon), its
 * stderr captured; the test's copy of fd is closed. */
void
start_logging_to(child *w, const std::vector<std::string> &argv, int fd)
{
	log_target = fd;
	child_start_hooked(w, argv, {}, stdout_to_log_target);
	close(fd);
	log_target = -1;
}

/* The file status flags of pid's descriptor fd (/proc/PID/fdinfo), or -1. */
long
fd_flags(pid_t pid, int fd)
{
	std::string info = read_file("/proc/" + std::to_string(pid) + "/fdinfo/" + std::to_string(fd));
	size_t at = info.find("flags:");
	return at == std::string::npos ? -1 : strtol(info.c_str() + at + 6, NULL, 8);
}

/* Fill the pipe or FIFO that fd writes to, through a description of our
 * own (fd's, shared with the wrapper, keeps its flags). */
void
fill_pipe(int fd)
{
	std::string self = "/proc/self/fd/" + std::to_string(fd);
	int nb = open(self.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	REQUIRE(nb >= 0);
	/* Long lines, then short ones for the room left in the last
	 * page: not even a short log line fits in then. */
	for (size_t len : {100, 2}) {
		std::string junk = std::string(len - 1, '-') + "\n";
		while (write(nb, junk.data(), junk.size()) > 0)
			;
		CHECK(errno == EAGAIN);
	}
	close(nb);
}

/* Fill the socket fd writes to (the peer reads nothing). */
void
fill_socket(int fd)
{
	std::string junk = std::string(99, '-') + "\n";
	while (send(fd, junk.data(), junk.size(), MSG_DONTWAIT) > 0)
		;
	CHECK(errno == EAGAIN);
}

/* Do the lines of text with these messages come in this order, each
 * exactly once? */
bool
msgs_in_order(const std::string &text, const std::vector<std::string> &msgs)
{
	size_t at = 0;
	for (const std::string &m : msgs) {
		std::string needle = "msg=\"" + m + "\"";
		size_t found = text.find(needle, at);
		if (found == std::string::npos) {
			MESSAGE("missing or out of order: " << m);
			return false;
		}
		if (text.find(needle, found + 1) != std::string::npos) {
			MESSAGE("twice: " << m);
			return false;
		}
		at = found;
	}
	return true;
}

/* Neither the wrapper nor the daemon has O_NONBLOCK on its stdout: the
 * description they share keeps its flags, and the daemon's own writes
 * block as usual, never failing with EAGAIN. */
void
stdout_flags_untouched(pid_t wrapper, pid_t daemon)
{
	for (pid_t p : {wrapper, daemon}) {
		CAPTURE(p);
		long fl = fd_flags(p, 1);
		CHECK(fl >= 0);
		CHECK((fl & O_NONBLOCK) == 0);
	}
}

}  // namespace

/*
 * The log's reader is stuck (svlogd or s6-log stopped, a terminal
 * stopped with ^S) from before the wrapper starts.  The wrapper must not
 * wait for it, ever: it spawns the daemon, forwards signals and follows
 * the daemon's life as if the log were fine, and what it could not write
 * is kept in order.  When the reader comes back, every line about the
 * daemon's life arrives, in order, none dropped.  A wrapper that waits a
 * while for each such line and then drops it loses them; one that writes
 * with a plain blocking write(2) (to a FIFO, a terminal) never gets to
 * spawn the daemon at all.
 */
TEST_CASE("faults: a log whose reader is stuck stalls nothing and loses no line about the daemon's life")
{
	const char *kinds[] = {"an anonymous pipe", "a named FIFO", "a socket", "a terminal stopped with ^S",
	    "an anonymous pipe of another user's, run as nobody"};
	for (const char *kind : kinds) {
		SUBCASE(kind) {
			std::string what = kind;
			/* runsv makes the log pipe as root, and chpst -u runs the
			 * wrapper as the daemon's user: a pipe that user may not
			 * open again through /proc/self/fd (pipe inodes are
			 * their maker's, mode 0600). */
			bool as_nobody = what == "an anonymous pipe of another user's, run as nobody";
			if (as_nobody && getuid() != 0) {
				MESSAGE("skipped: needs root to run the wrapper as uid 65534");
				continue;
			}
			scene sc(as_nobody ? "run" : NULL);
			child w;
			std::vector<std::string> argv = sc.wrapper(sc.daemon({"--exit-code", "9"}));
			int rd = -1, wr = -1;

			if (as_nobody) {
				const uid_t nobody = 65534;
				REQUIRE(chown((sc.dir / "run").c_str(), nobody, nobody) == 0);
				write_file(sc.record, "");
				REQUIRE(chown(sc.record.c_str(), nobody, nobody) == 0);
				argv.insert(argv.begin(), {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
				    "--clear-groups", "--"});
			}
			if (what == "an anonymous pipe" || as_nobody) {
				int p[2];
				REQUIRE(pipe2(p, O_CLOEXEC) == 0);
				rd = p[0];
				wr = p[1];
				fill_pipe(wr);
			} else if (what == "a named FIFO") {
				std::string fifo = sc.dir / "log.fifo";
				REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
				rd = open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
				REQUIRE(rd >= 0);
				wr = open(fifo.c_str(), O_WRONLY | O_CLOEXEC);
				REQUIRE(wr >= 0);
				fill_pipe(wr);
			} else if (what == "a socket") {
				int sv[2];
				REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
				rd = sv[1];
				wr = sv[0];
				fill_socket(wr);
			} else {
				/* ^S on the terminal's input stops its output
				 * (IXON): a write to it then waits for ^Q. */
				rd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
				REQUIRE(rd >= 0);
				REQUIRE(grantpt(rd) == 0);
				REQUIRE(unlockpt(rd) == 0);
				wr = open(ptsname(rd), O_RDWR | O_NOCTTY | O_CLOEXEC);
				REQUIRE(wr >= 0);
				REQUIRE(write(rd, "\x13", 1) == 1);
			}
			start_logging_to(&w, argv, wr);
			/* The harness reads the log from here on, when told. */
			close(w.out_fd);
			w.out_fd = rd;

			/* The daemon is spawned and gets its signals; the
			 * wrapper's stdout keeps its flags. */
			pid_t d = sc.ready(DEADLINE_MS);
			send_signal(w.pid, SIGUSR1);
			REQUIRE(record_wait(sc.record, d, "signal SIGUSR1", DEADLINE_MS));
			stdout_flags_untouched(w.pid, d);
			CHECK(pid_alive(w.pid));

			/* The reader comes back: the lines so far arrive. */
			fcntl(rd, F_SETFL, O_NONBLOCK);
			if (what == "a terminal stopped with ^S")
				REQUIRE(write(rd, "\x11", 1) == 1);
			CHECK(wait_log(&w, {"msg=\"monitoring process\""}, DEADLINE_MS));
			send_signal(w.pid, SIGTERM);
			REQUIRE(record_wait(sc.record, d, "signal SIGTERM", DEADLINE_MS));
			REQUIRE(child_wait_exit(&w, DEADLINE_MS));
			CHECK(child_code(&w) == 9);
			INFO(child_dump(&w));
			CHECK(msgs_in_order(w.out, {"Wrapper started", "finding process", "find process",
			    "spawning a process", "monitoring process", "process exited",
			    "wrapper for process shutting down"}));
			CHECK(w.out.find("log lines dropped") == std::string::npos);
			CHECK(sc.daemons().empty());
		}
	}
}

/*
 * The log is a named FIFO whose reader opened it and then stopped reading
 * for good, before the wrapper started.  The wrapper still spawns the
 * daemon, forwards TERM to it and, once the daemon is gone, exits with
 * its status: what it cannot write it gives up on after a short, bounded
 * wait.  (Writing a FIFO with a plain write(2), as it once did when
 * pwritev2's RWF_NOWAIT is not supported there, it would wait for ever.)
 */
TEST_CASE("faults: a named FIFO log whose reader never reads again: TERM is forwarded and the wrapper exits")
{
	scene sc;
	child w;
	std::string fifo = sc.dir / "log.fifo";

	REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
	int rd = open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	REQUIRE(rd >= 0);
	int wr = open(fifo.c_str(), O_WRONLY | O_CLOEXEC);
	REQUIRE(wr >= 0);
	fill_pipe(wr);
	start_logging_to(&w, sc.wrapper(sc.daemon({"--exit-code", "9"})), wr);

	pid_t d = sc.ready(DEADLINE_MS);
	stdout_flags_untouched(w.pid, d);
	send_signal(w.pid, SIGTERM);
	CHECK(record_wait(sc.record, d, "signal SIGTERM", DEADLINE_MS));
	/* The daemon's death is followed by the wrapper's exit, the reader
	 * still stuck. */
	bool exited = child_wait_exit(&w, DEADLINE_MS);
	CHECK(exited);
	if (exited)
		CHECK(child_code(&w) == 9);
	close(rd);
	CHECK(wait_until([&] { return sc.daemons().empty(); }, DEADLINE_MS));
}
