/*
 * security_test.cc: security.  pidsitter often runs as root and
 * reads a file other programs write: each test tries to make it adopt or
 * signal a process it must not, or hang on a file it must not read.
 *
 *   - PID reuse: a PID recycled to a stranger (in a pid namespace with a
 *     small pid_max, test/pidcycle.c), at start and while watching;
 *   - pid file trust: the mode, owner and symbolic link rules of
 *     systemd's PIDFile=, at start and while watching;
 *   - owner: another user's daemon, pid 1, the wrapper, its ancestors;
 *   - size and content: huge, FIFO, device, junk, NUL;
 *   - the status file: FIFOs, hard links and directories where it is written.
 *
 * Every test checks that no daemon is lost, duplicated or left a zombie,
 * and the wrapper's exit status.
 */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include "harness.h"
#include "hardening.h"

namespace {

/* Nothing waits this long unless something is wrong (CI is shared). */
const int DEADLINE_MS = 15000;
/* What "quickly" means for a bad pid file: no hang, no read of a huge
 * file.  Generous for a loaded machine; a blocked open or a read of
 * gigabytes takes far longer. */
const int QUICK_MS = 3000;
/* Another user: owns nothing here. */
const uid_t OTHER_UID = 12345;

/* Replace path at once (rename), as a well-behaved writer does: the
 * watcher sees one change, to the final content. */
void
replace_with_file(const std::string &path, const std::string &text, int mode,
    uid_t owner = 0)
{
	std::string tmp = path + ".new";
	write_file(tmp, text, mode);
	REQUIRE(chown(tmp.c_str(), owner, 0) == 0);
	REQUIRE(chmod(tmp.c_str(), (mode_t)mode) == 0);  /* after chown, which may clear bits */
	REQUIRE(rename(tmp.c_str(), path.c_str()) == 0);
}

void
replace_with_link(const std::string &path, const std::string &target, uid_t owner = 0)
{
	std::string tmp = path + ".new";
	unlink(tmp.c_str());
	REQUIRE(symlink(target.c_str(), tmp.c_str()) == 0);
	REQUIRE(lchown(tmp.c_str(), owner, 0) == 0);
	REQUIRE(rename(tmp.c_str(), path.c_str()) == 0);
}

/* A PID that no process has (a child that was just reaped: PIDs are
 * handed out in a cycle of millions, it will not come round here). */
pid_t
dead_pid(void)
{
	pid_t c = fork();
	REQUIRE(c >= 0);
	if (c == 0)
		_exit(0);
	REQUIRE(waitpid(c, NULL, 0) == c);
	return c;
}

uid_t
uid_of(pid_t pid)
{
	struct stat st;
	if (stat(("/proc/" + std::to_string(pid)).c_str(), &st) < 0)
		return (uid_t)-1;
	return st.st_uid;
}

/* The wrapper w left no zombie, and TERM stops it with the daemon's code,
 * 7: it followed no new process. */
void
stop_unmoved(child *w)
{
	CHECK(zombies_of(w->pid).empty());
	send_signal(w->pid, SIGTERM);
	REQUIRE(child_wait_exit(w, DEADLINE_MS));
	CHECK(child_code(w) == 7);
	CHECK(w->out.find("following new process") == std::string::npos);
}

/* w, started by a shell that wrote its own PID into the pid file, exits
 * 5: it did not adopt the process the file names (why), and spawned. */
void
check_refused_own(const scene &sc, child *w, const char *why)
{
	REQUIRE(child_wait_exit(w, DEADLINE_MS));
	INFO(w->out);
	CHECK(read_pid(sc.pidfile) == w->pid);
	CHECK(w->out.find(why) != std::string::npos);
	CHECK(w->out.find("spawning a process") != std::string::npos);
	CHECK(child_code(w) == 5);
}

/* A hook for child_start_hooked: run as nobody (65534). */
int
become_nobody(void)
{
	if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
		return 125;
	return 0;
}

}  // namespace

/*
 * PID reuse.  The pid file goes on naming a PID after its process died;
 * the PID is handed to another program.  gitaly-wrapper checks liveness
 * with kill(pid, 0) and signals the bare PID (pidsitter(8), SECURITY
 * CONSIDERATIONS): it would adopt or signal the stranger.
 */
TEST_CASE("security: a recycled PID is neither adopted nor signalled")
{
	if (pidns_skip())
		return;
	scene sc;
	pidns ns(sc.dir);
	std::string stranger = sc.dir.link("stranger", "fixture-daemon");
	std::string strec = sc.dir / "stranger.rec";
	std::vector<std::string> stranger_argv = {stranger, "--pid-file", sc.dir / "stranger.pid",
	    "--no-pid-file", "--record", strec};

	SUBCASE("at start: the pid file names a dead daemon's PID, now another program's") {
		/* A gitaly that wrote the pid file, then died without removing it. */
		std::string rec0 = sc.dir / "record0";
		pid_t d0 = ns.spawn({sc.gitaly, "--pid-file", sc.pidfile, "--record", rec0});
		REQUIRE(record_wait(rec0, d0, "ready", DEADLINE_MS));
		pid_t d0_host = ns.host_pid(d0);
		REQUIRE(d0_host > 0);
		send_signal(d0_host, SIGKILL);
		REQUIRE(wait_until([&] { return ns.host_pid(d0) == 0; }, DEADLINE_MS));
		REQUIRE(read_pid(sc.pidfile) == d0);

		/* Its PID, recycled: the stranger gets it. */
		pid_t s = ns.spawn(stranger_argv, d0, true);
		REQUIRE(s == d0);
		REQUIRE(record_wait(strec, s, "ready", DEADLINE_MS));

		child w;
		child_start(&w, ns.run(sc.wrapper(sc.daemon({"--exit-code", "7"}))));
		INFO(child_dump(&w));
		REQUIRE(wait_log(&w, {"msg=\"monitoring process\""}, DEADLINE_MS));
		pid_t wh = child_of(w.pid, DEADLINE_MS);
		REQUIRE(wh > 0);
		/* Whatever it chose (once a spawned daemon is ready: before, a
		 * signal would kill it), a signal now goes there. */
		REQUIRE(wait_until([&] {
			return record_count(sc.record, 0, "ready") > 0 ||
			    has_line(w.out, {"msg=\"adopting a process\""});
		}, DEADLINE_MS));
		send_signal(wh, SIGUSR1);
		REQUIRE(wait_until([&] {
			return record_count(sc.record, 0, "signal SIGUSR1") + record_count(strec, s, "signal") > 0;
		}, DEADLINE_MS));
		CHECK(record_count(strec, s, "signal") == 0);
		CHECK(has_line(w.out, {"msg=\"not adopting the process the pid file names\"",
		    "process=" + std::to_string(s), "not the expected binary"}));
		CHECK(w.out.find("adopting a process") == std::string::npos);
		REQUIRE(has_line(w.out, {"msg=\"spawning a process\""}));
		pid_t d1 = read_pid(sc.pidfile);
		REQUIRE(d1 != s);
		CHECK(record_count(sc.record, d1, "signal SIGUSR1") == 1);
		CHECK(live_matching(sc.gitaly).size() == 1);
		CHECK(zombies_of(wh).empty());
		send_signal(wh, SIGTERM);
		REQUIRE(child_wait_exit(&w, DEADLINE_MS));
		CHECK(child_code(&w) == 7);
		CHECK(record_count(strec, s, "signal") == 0);
		CHECK(ns.host_pid(s) > 0);  /* the stranger runs on, untouched */
	}

	SUBCASE("while watching: a dead generation's PID, now another program's, or an older gitaly's") {
		bool older_gitaly = false;
		SUBCASE("another program") {}
		SUBCASE("the expected binary, started before the current generation") { older_gitaly = true; }
		CAPTURE(older_gitaly);

		child w;
		child_start(&w, ns.run(sc.wrapper(sc.daemon({"--exit-code", "7", "--drain", "20"}))));
		INFO(child_dump(&w));
		pid_t d1 = sc.ready(DEADLINE_MS);
		pid_t wh = child_of(w.pid, DEADLINE_MS);
		REQUIRE(wh > 0);
		REQUIRE(wait_log(&w, {"msg=\"monitoring process\"", "process=" + std::to_string(d1)}, DEADLINE_MS));

		/* Generation 2: another gitaly the pid file names (it started
		 * after generation 1: an upgrade as far as anyone can tell).
		 * Its parent is the namespace's pid 1, which reaps it at once
		 * when it dies: its PID is free again while the wrapper runs. */
		std::string rec2 = sc.dir / "record2";
		pid_t d2 = ns.spawn({sc.gitaly, "--pid-file", sc.dir / "other.pid", "--no-pid-file",
		    "--record", rec2});
		REQUIRE(record_wait(rec2, d2, "ready", DEADLINE_MS));
		replace_with_file(sc.pidfile, std::to_string(d2), 0644);
		REQUIRE(wait_log(&w, {"msg=\"following new process\"", "generation=2",
		    "process=" + std::to_string(d2)}, DEADLINE_MS));
		send_signal(ns.host_pid(d2), SIGKILL);
		/* A failed upgrade: generation 1, draining since generation 2
		 * was followed, is not made current by its death; the pid
		 * file naming it again (a rollback) does. */
		REQUIRE(wait_log(&w, {"msg=\"upgrade failed: the new process died\"", "generation=2"},
		    DEADLINE_MS));
		REQUIRE(wait_until([&] { return ns.host_pid(d2) == 0; }, DEADLINE_MS));
		replace_with_file(sc.pidfile, std::to_string(d1), 0644);
		REQUIRE(wait_log(&w, {"msg=\"process is current\"", "generation=1"}, DEADLINE_MS));

		/* Its PID, recycled. */
		pid_t s;
		std::string srec;
		if (older_gitaly) {
			srec = sc.dir / "impostor.rec";
			s = ns.spawn({sc.gitaly, "--pid-file", sc.dir / "impostor.pid", "--no-pid-file",
			    "--record", srec}, d2, true);
		} else {
			srec = strec;
			s = ns.spawn(stranger_argv, d2, true);
		}
		REQUIRE(s == d2);
		pid_t cur = d1;
		if (older_gitaly) {
			/* A real upgrade: generation 3 starts after the impostor,
			 * at once, often within the same clock tick (start times
			 * are in 10 ms ticks): the order must still be known. */
			send_signal(wh, SIGHUP);
			REQUIRE(wait_until([&] {
				cur = read_pid(sc.pidfile);
				return cur != d1 && cur != d2 && cur > 0 &&
				    record_count(sc.record, cur, "ready") == 1;
			}, DEADLINE_MS));
			REQUIRE(wait_log(&w, {"msg=\"following new process\"", "generation=3",
			    "process=" + std::to_string(cur)}, DEADLINE_MS));
			REQUIRE(record_wait(sc.record, d1, "exit 0", DEADLINE_MS));
		}
		REQUIRE(record_wait(srec, s, "ready", DEADLINE_MS));

		/* The stale content comes back (a restored backup, a slow
		 * writer): it names the stranger now. */
		std::string named = "process=" + std::to_string(s);
		int mentions = child_count_lines(&w, named.c_str());
		replace_with_file(sc.pidfile, std::to_string(d2), 0644);
		REQUIRE(wait_until([&] {
			pump_for(&w, 5);
			return child_count_lines(&w, named.c_str()) > mentions;
		}, DEADLINE_MS));
		send_signal(wh, SIGUSR1);
		REQUIRE(wait_until([&] {
			return record_count(sc.record, cur, "signal SIGUSR1") + record_count(srec, s, "signal") > 0;
		}, DEADLINE_MS));
		CHECK(record_count(srec, s, "signal") == 0);
		CHECK(has_line(w.out, {"msg=\"not following process\"", named,
		    older_gitaly ? "it started before the current process" : "not the expected binary"}));
		CHECK(record_count(sc.record, cur, "signal SIGUSR1") == 1);
		CHECK(zombies_of(wh).empty());
		send_signal(wh, SIGTERM);
		REQUIRE(child_wait_exit(&w, DEADLINE_MS));
		CHECK(child_code(&w) == 7);
		CHECK(record_count(sc.record, cur, "signal SIGTERM") == 1);
		CHECK(record_count(srec, s, "signal") == 0);
		CHECK(ns.host_pid(s) > 0);  /* the stranger runs on, untouched */
		/* Generation 2 (and 3, the upgrade), never the stranger. */
		CHECK(child_count_lines(&w, "msg=\"following new process\"") == (older_gitaly ? 2 : 1));
		CHECK(live_matching(sc.gitaly).size() == (older_gitaly ? 1u : 0u));
	}
}

/*
 * Pid file trust, as systemd's PIDFile=: a file another user could have
 * written names whatever process they like.  A wrapper that reads any
 * pid file (gitaly-wrapper) lets them choose what root adopts and signals.
 */
TEST_CASE("security: an untrusted pid file is refused at start and ignored while watching")
{
	struct trust_case {
		const char *name;
		const char *rule;  /* in the message */
		const char *fix;
	} cases[] = {
		{"group-writable", "group- or world-writable (mode 0664)", "chmod go-w"},
		{"world-writable", "group- or world-writable (mode 0646)", "chmod go-w"},
		{"owned by another user", "owned by uid 12345", "chown it"},
		{"a symbolic link owned by another user", "reached through symbolic link", "use the real path"},
		{"a chain of links, the middle one another user's", "reached through symbolic link", "use the real path"},
		{"a directory on the way reached through another user's link", "reached through symbolic link", "use the real path"},
	};

	for (const trust_case &c : cases) {
		std::string name = c.name;
		CAPTURE(name);
		scene sc;
		std::string marker = sc.dir / "spawned";
		std::string real = sc.dir / "real.pid";
		std::string mid = sc.dir / "mid.link";
		std::string pidfile = sc.pidfile;
		bool dir_link = name.find("directory") != std::string::npos;

		/* The file's content names no process: if it were read, the
		 * binary would be spawned, and it leaves a marker. */
		std::string text = std::to_string(dead_pid());
		auto make_bad = [&](bool at_start) {
			if (name == "group-writable")
				replace_with_file(pidfile, text, 0664);
			else if (name == "world-writable")
				replace_with_file(pidfile, text, 0646);
			else if (name == "owned by another user")
				replace_with_file(pidfile, text, 0644, OTHER_UID);
			else if (name == "a symbolic link owned by another user") {
				replace_with_file(real, text, 0644);
				replace_with_link(pidfile, real, OTHER_UID);
			} else if (name.find("chain") != std::string::npos) {
				replace_with_file(real, text, 0644);
				replace_with_link(mid, real, OTHER_UID);
				replace_with_link(pidfile, mid, 0);
			} else if (at_start) {
				/* dir.link/gitaly.pid, dir.link -> realdir, owned by OTHER_UID. */
				std::string realdir = sc.dir / "realdir";
				mkdir(realdir.c_str(), 0755);
				write_file(realdir + "/gitaly.pid", text, 0644);
				replace_with_link(sc.dir / "dir.link", realdir, OTHER_UID);
			}
		};
		if (dir_link)
			pidfile = sc.dir / "dir.link/gitaly.pid";

		/* At start: refused, exit 1, nothing spawned. */
		make_bad(true);
		{
			child w;
			child_start(&w, {build_path("pidsitter"), "-p", pidfile, "/bin/sh", "-c",
			    "touch " + marker + "; exit 4"});
			REQUIRE(child_wait_exit(&w, DEADLINE_MS));
			INFO(w.out);
			CHECK(child_code(&w) == 1);
			CHECK(has_line(w.out, {"msg=\"cannot use pid file\"", c.rule, c.fix}));
			CHECK(w.out.find("spawning a process") == std::string::npos);
			CHECK(access(marker.c_str(), F_OK) != 0);
		}
		if (dir_link)
			continue;  /* the watch below is on the pid file's own directory */

		/* While watching, after an upgrade signal: the same file
		 * appears, naming a live gitaly that started after the current
		 * generation, as an upgrade's successor would.  It is ignored
		 * with a warning; the current generation stays. */
		unlink(pidfile.c_str());
		unlink(mid.c_str());
		child w;
		pid_t d1 = start_monitored(sc, &w, sc.wrapper(sc.daemon({"--exit-code", "7",
		    "--upgrade-ready-delay", "60000", "--upgrade-timeout", "60000"})), DEADLINE_MS);
		std::string decoy_rec = sc.dir / "decoy.rec";
		pid_t decoy = start_detached({sc.gitaly, "--pid-file", sc.dir / "decoy.pid", "--no-pid-file",
		    "--record", decoy_rec});
		REQUIRE(record_wait(decoy_rec, decoy, "ready", DEADLINE_MS));
		send_signal(w.pid, SIGHUP);
		REQUIRE(record_wait(sc.record, d1, "upgrading", DEADLINE_MS));
		text = std::to_string(decoy);
		make_bad(false);
		/* Ignored with a warning (or, by a wrapper that trusted it,
		 * followed): then a signal shows where things stand. */
		CHECK(wait_until([&] {
			pump_for(&w, 5);
			return has_line(w.out, {"msg=\"cannot use pid file\""}) ||
			    has_line(w.out, {"msg=\"following new process\""});
		}, DEADLINE_MS));
		CHECK(has_line(w.out, {"level=warning", "msg=\"cannot use pid file\"", c.rule, c.fix}));
		send_signal(w.pid, SIGUSR1);
		REQUIRE(wait_until([&] {
			return record_count(sc.record, d1, "signal SIGUSR1") + record_count(decoy_rec, decoy, "signal") > 0;
		}, DEADLINE_MS));
		CHECK(record_count(sc.record, d1, "signal SIGUSR1") == 1);
		CHECK(live_matching(sc.gitaly).size() == 3);  /* d1, its hung successor, the decoy */
		stop_unmoved(&w);
		CHECK(record_count(decoy_rec, decoy, "signal") == 0);
		CHECK(pid_alive(decoy));
		kill(decoy, SIGKILL);
		/* The hung upgrade's new process was killed by its parent. */
		CHECK(wait_until([&] { return live_matching(sc.gitaly).empty(); }, DEADLINE_MS));
	}
}

/*
 * Owner: root must not be talked into adopting (and signalling) another
 * user's process by a pid file, nor pid 1, itself or an ancestor.
 */
TEST_CASE("security: another user's daemon, pid 1, the wrapper and its ancestors are not adopted")
{
	SUBCASE("another user's daemon: refused by default, adopted when the configuration names its owner") {
		bool configured = false;
		SUBCASE("default: the wrapper's own uid") {}
		SUBCASE("owner = 65534 in the configuration") { configured = true; }
		CAPTURE(configured);
		scene sc;
		std::string nrec = sc.dir / "nobody.rec";
		write_file(nrec, "", 0666);
		pid_t nobody = start_child(sc.gitaly, {sc.gitaly, "--pid-file", sc.dir / "nobody.pid",
		    "--no-pid-file", "--record", nrec, "--exit-code", "6"}, 65534, true);
		reap_in_background(nobody);
		REQUIRE(record_wait(nrec, nobody, "ready", DEADLINE_MS));
		REQUIRE(uid_of(nobody) == 65534);
		replace_with_file(sc.pidfile, std::to_string(nobody), 0644);

		std::vector<std::string> opts;
		if (configured) {
			write_file(sc.conf, "owner = 65534\n" SLOW_REAP_OK, 0644);
			opts = {"-c", sc.conf};
		}
		child w;
		child_start(&w, sc.wrapper(sc.daemon({"--exit-code", "5"}), opts));
		if (configured) {
			REQUIRE(wait_log(&w, {"msg=\"adopting a process\"", "process=" + std::to_string(nobody)},
			    DEADLINE_MS));
			send_signal(w.pid, SIGUSR1);
			REQUIRE(record_wait(nrec, nobody, "signal SIGUSR1", DEADLINE_MS));
			CHECK(live_matching(sc.gitaly).size() == 1);
			send_signal(w.pid, SIGTERM);
			REQUIRE(child_wait_exit(&w, DEADLINE_MS));
			CHECK(child_code(&w) == 6);
			CHECK(w.out.find("spawning a process") == std::string::npos);
			CHECK(record_count(sc.record, 0, "start") == 0);
		} else {
			/* It is the daemon by its name, run by a user the owner
			 * rule refuses: spawning would start a second daemon
			 * beside it.  Refused, the fix named, nothing spawned. */
			REQUIRE(child_wait_exit(&w, DEADLINE_MS));
			INFO(w.out);
			CHECK(child_code(&w) == 1);
			CHECK(has_line(w.out, {"level=fatal", "process=" + std::to_string(nobody),
			    "it runs as uid 65534, not uid 0", "set owner = 65534"}));
			CHECK(w.out.find("spawning a process") == std::string::npos);
			CHECK(record_count(sc.record, 0, "start") == 0);
			CHECK(live_matching(sc.gitaly).size() == 1);  /* nobody's alone */
			CHECK(record_count(nrec, nobody, "signal") == 0);
			CHECK(pid_alive(nobody));
			kill(nobody, SIGKILL);
		}
		CHECK(wait_until([&] { return live_matching(sc.gitaly).empty(); }, DEADLINE_MS));
	}

	SUBCASE("while watching: another user's daemon the pid file names is not followed, with a warning") {
		scene sc;
		child w;
		pid_t d1 = start_monitored(sc, &w, sc.wrapper(sc.daemon({"--exit-code", "7"})),
		    DEADLINE_MS);
		std::string nrec = sc.dir / "nobody.rec";
		write_file(nrec, "", 0666);
		pid_t nobody = start_child(sc.gitaly, {sc.gitaly, "--pid-file", sc.dir / "nobody.pid",
		    "--no-pid-file", "--record", nrec}, 65534, true);
		reap_in_background(nobody);
		REQUIRE(record_wait(nrec, nobody, "ready", DEADLINE_MS));
		replace_with_file(sc.pidfile, std::to_string(nobody), 0644);
		REQUIRE(wait_log(&w, {"level=warning", "msg=\"not following process\"",
		    "process=" + std::to_string(nobody), "it runs as uid 65534, not uid 0"}, DEADLINE_MS));
		send_signal(w.pid, SIGUSR1);
		REQUIRE(record_wait(sc.record, d1, "signal SIGUSR1", DEADLINE_MS));
		stop_unmoved(&w);
		CHECK(record_count(nrec, nobody, "signal") == 0);
		CHECK(pid_alive(nobody));
		kill(nobody, SIGKILL);
		CHECK(wait_until([&] { return live_matching(sc.gitaly).empty(); }, DEADLINE_MS));
	}

	SUBCASE("root's daemon, the wrapper run as nobody: refused at start, nothing spawned; another root program is no daemon") {
		bool is_daemon = false;
		SUBCASE("the daemon, run by root") { is_daemon = true; }
		SUBCASE("another program, run by root") { is_daemon = false; }
		CAPTURE(is_daemon);
		scene sc;
		std::string other = sc.dir.link("other", "fixture-daemon");
		std::string rrec = sc.dir / "root.rec";
		std::string orec = sc.dir / "own.rec";
		write_file(rrec, "", 0644);
		write_file(orec, "", 0666);
		pid_t root = start_child(is_daemon ? sc.gitaly : other, {is_daemon ? sc.gitaly : other,
		    "--pid-file", sc.dir / "root.pid", "--no-pid-file", "--record", rrec}, (uid_t)-1, true);
		reap_in_background(root);
		REQUIRE(record_wait(rrec, root, "ready", DEADLINE_MS));
		REQUIRE(uid_of(root) == 0);
		/* Written by root, mode 0644: a pid file nobody may trust. */
		replace_with_file(sc.pidfile, std::to_string(root), 0644);

		child w;
		child_start_hooked(&w, sc.wrapper({sc.gitaly, "--pid-file", sc.dir / "own.pid",
		    "--no-pid-file", "--record", orec, "--exit-after", "0", "--exit-code", "5"}),
		    clean_env, become_nobody);
		REQUIRE(child_wait_exit(&w, DEADLINE_MS));
		INFO(w.out);
		INFO(w.err);
		if (is_daemon) {
			CHECK(child_code(&w) == 1);
			CHECK(has_line(w.out, {"level=fatal", "process=" + std::to_string(root),
			    "it runs as uid 0, not uid 65534", "set owner = 0"}));
			CHECK(w.out.find("spawning a process") == std::string::npos);
			CHECK(record_count(orec, 0, "start") == 0);
		} else {
			/* Not the daemon: gitaly-wrapper's way, spawn. */
			CHECK(has_line(w.out, {"msg=\"not adopting the process the pid file names\"",
			    "process=" + std::to_string(root), "not the expected binary"}));
			CHECK(w.out.find("spawning a process") != std::string::npos);
			CHECK(record_count(orec, 0, "start") == 1);
			CHECK(child_code(&w) == 5);
		}
		CHECK(record_count(rrec, root, "signal") == 0);
		CHECK(pid_alive(root));
		kill(root, SIGKILL);
		CHECK(wait_until([&] { return live_mentioning(sc.dir.path).empty(); }, DEADLINE_MS));
	}

	SUBCASE("the wrapper itself, even when it has the daemon's name") {
		scene sc;
		/* The expected binary is called pidsitter, as the wrapper is. */
		std::string bin = sc.dir / "bin";
		mkdir(bin.c_str(), 0755);
		bin += "/pidsitter";
		REQUIRE(symlink(build_path("fixture-daemon").c_str(), bin.c_str()) == 0);
		child w;
		child_start(&w, {"/bin/sh", "-c", "echo $$ > \"$0\"; exec \"$@\"", sc.pidfile,
		    build_path("pidsitter"), "-p", sc.pidfile, "--", bin, "--pid-file", sc.dir / "x.pid",
		    "--no-pid-file", "--record", sc.record, "--exit-after", "0", "--exit-code", "5"});
		check_refused_own(sc, &w, "it is the wrapper itself");
	}

	SUBCASE("its parent, when it has the daemon's name") {
		scene sc;
		/* The parent is a shell, and the daemon is /bin/sh: comm "sh".
		 * Adopting it would deadlock: each would wait for the other. */
		child w;
		child_start(&w, {"/bin/sh", "-c", "echo $$ > \"$0\"; \"$@\"; exit $?", sc.pidfile,
		    build_path("pidsitter"), "-p", sc.pidfile, "--", "/bin/sh", "-c", "exit 5"});
		check_refused_own(sc, &w, "it is an ancestor of the wrapper");
	}

	SUBCASE("pid 1, when it has the daemon's name (in a pid namespace)") {
		if (pidns_skip())
			return;
		scene sc;
		pidns ns(sc.dir);
		/* The namespace's pid 1 is pidcycle: so is the expected binary. */
		std::string bin = sc.dir / "bin";
		mkdir(bin.c_str(), 0755);
		bin += "/pidcycle";
		REQUIRE(symlink(build_path("fixture-daemon").c_str(), bin.c_str()) == 0);
		write_file(sc.pidfile, "1\n", 0644);
		child w;
		child_start(&w, ns.run({build_path("pidsitter"), "-p", sc.pidfile, "--", bin, "--pid-file",
		    sc.dir / "x.pid", "--no-pid-file", "--record", sc.record, "--exit-after", "0",
		    "--exit-code", "5"}));
		REQUIRE(child_wait_exit(&w, DEADLINE_MS));
		INFO(w.out);
		CHECK(w.out.find("it is pid 1") != std::string::npos);
		CHECK(w.out.find("spawning a process") != std::string::npos);
		CHECK(child_code(&w) == 5);
		CHECK(ns.host_pid(1) == ns.init);  /* alive, and nobody signalled it */
		CHECK(record_count(sc.record, 0, "start") == 1);
	}
}

/*
 * Size and content.  gitaly-wrapper reads the whole file (a huge one is
 * read whole, a FIFO blocks the open for ever, /dev/zero never ends) and
 * parses it with strconv.Atoi; a C wrapper using atoi() or strtol() would
 * take "1234\0junk" or "1234<100 MB of zeros>" for 1234.  Each case here
 * starts with the PID of a live gitaly, the decoy, that such a parser
 * would adopt.
 */
TEST_CASE("security: a huge, FIFO, device, junk or NUL pid file is refused quickly, never hangs")
{
	scene sc;
	std::string decoy_rec = sc.dir / "decoy.rec";
	pid_t decoy = start_detached({sc.gitaly, "--pid-file", sc.dir / "decoy.pid", "--no-pid-file",
	    "--record", decoy_rec});
	REQUIRE(record_wait(decoy_rec, decoy, "ready", DEADLINE_MS));
	std::string dp = std::to_string(decoy);
	std::string junk;
	srand((unsigned)mono_ms());
	/* Bytes 0x80..0xff: binary, and neither a digit, white space nor NUL. */
	for (int i = 0; i < 48; i++)
		junk.push_back((char)(0x80 + rand() % 128));

	struct content_case {
		const char *name;
		int code;            /* at start: 5 = spawned (malformed), 1 = refused */
		const char *why;     /* in the log */
	} cases[] = {
		{"huge (64 GiB, sparse)", 5, "too large (68719476736 bytes)"},
		{"a FIFO with no writer", 1, "refused: a FIFO, not a regular file"},
		{"/dev/zero, named directly", 1, "refused: a character device"},
		{"a symbolic link to /dev/zero", 1, "refused: a character device"},
		{"a symbolic link to /dev/null", 1, "refused: a character device"},
		{"binary junk after the digits", 5, "not a decimal number"},
		{"4 KiB of binary junk after the digits", 5, "too large (4"},
		{"a NUL byte after the digits", 5, "contains a NUL byte"},
		{"a NUL byte before the digits", 5, "contains a NUL byte"},
	};

	/* Make the bad pid file at path (atomically, for the watcher). */
	auto make = [&](const std::string &name, const std::string &path) {
		std::string tmp = path + ".new";
		unlink(tmp.c_str());
		if (name.find("huge") != std::string::npos) {
			write_file(tmp, dp + "\n", 0644);
			REQUIRE(truncate(tmp.c_str(), 64LL << 30) == 0);
		} else if (name.find("FIFO") != std::string::npos) {
			REQUIRE(mkfifo(tmp.c_str(), 0644) == 0);
		} else if (name.find("link to /dev/zero") != std::string::npos) {
			REQUIRE(symlink("/dev/zero", tmp.c_str()) == 0);
		} else if (name.find("link to /dev/null") != std::string::npos) {
			REQUIRE(symlink("/dev/null", tmp.c_str()) == 0);
		} else if (name.find("4 KiB") != std::string::npos) {
			std::string big = dp;
			while (big.size() < 4096)
				big += junk;
			write_file(tmp, big, 0644);
		} else if (name.find("junk") != std::string::npos) {
			write_file(tmp, dp + junk, 0644);
		} else if (name.find("after the digits") != std::string::npos) {
			write_file(tmp, dp + std::string("\0", 1) + "junk", 0644);
		} else {
			write_file(tmp, std::string("\0", 1) + dp, 0644);
		}
		REQUIRE(rename(tmp.c_str(), path.c_str()) == 0);
	};

	SUBCASE("at start") {
		for (const content_case &c : cases) {
			std::string name = c.name;
			CAPTURE(name);
			std::string pidfile = sc.pidfile;
			unlink(sc.record.c_str());
			if (name.find("directly") != std::string::npos)
				pidfile = "/dev/zero";
			else
				make(name, pidfile);
			child w;
			long long t0 = mono_ms();
			child_start(&w, {build_path("pidsitter"), "-p", pidfile, "--", sc.gitaly, "--pid-file",
			    sc.dir / "spawned.pid", "--no-pid-file", "--record", sc.record, "--exit-after", "0",
			    "--exit-code", "5"});
			bool quick = child_wait_exit(&w, QUICK_MS);
			long long took = mono_ms() - t0;
			CAPTURE(took);
			CHECK(quick);
			if (!quick)
				child_kill(&w);  /* hung, or adopted the decoy: failed */
			child_dump(&w);
			INFO(w.out);
			CHECK(child_code(&w) == c.code);
			CHECK(w.out.find(c.why) != std::string::npos);
			CHECK(w.out.find("adopting a process") == std::string::npos);
			CHECK(record_count(sc.record, 0, "start") == (c.code == 5 ? 1 : 0));
			unlink(sc.pidfile.c_str());
		}
	}

	SUBCASE("while watching: the loop never blocks, the current generation stays") {
		child w;
		/* -v: malformed pid files are logged at debug level. */
		pid_t d1 = start_monitored(sc, &w, sc.wrapper(sc.daemon({"--exit-code", "7"}), {"-v"}),
		    DEADLINE_MS);
		int usr1 = 0;
		for (const content_case &c : cases) {
			std::string name = c.name;
			CAPTURE(name);
			if (name.find("directly") != std::string::npos)
				continue;
			make(name, sc.pidfile);
			REQUIRE(wait_log(&w, {"msg=\"cannot use pid file\"", c.why}, DEADLINE_MS));
			/* The loop is not stuck on the file: a signal still goes
			 * through at once. */
			send_signal(w.pid, SIGUSR1);
			usr1++;
			CHECK(wait_until([&] {
				return record_count(sc.record, d1, "signal SIGUSR1") == usr1;
			}, QUICK_MS));
		}
		CHECK(live_matching(sc.gitaly).size() == 2);  /* d1 and the decoy */
		stop_unmoved(&w);
	}
	CHECK(record_count(decoy_rec, decoy, "signal") == 0);
	CHECK(pid_alive(decoy));
	kill(decoy, SIGKILL);
}

namespace {

/* Run a wrapper with a status file (key "status_file") or a metrics file
 * ("metrics_file"), with name (one of the cases below) made first, and
 * stop it. */
void
file_beside(const std::string &key, const std::string &name)
{
	scene sc;
	bool metrics = key == "metrics_file";
	std::string base = metrics ? "metrics.prom" : "status.json";
	std::string status = sc.dir / base.c_str();
	/* What the file says, running and once exited. */
	std::string running = metrics ? "\npidsitter_state{daemon=\"gitaly\",state=\"running\"} 1\n" :
	    "\"state\":\"running\"";
	std::string exited = metrics ? "\npidsitter_state{daemon=\"gitaly\",state=\"exited\"} 1\n" :
	    "{\"state\":\"exited\",";
	std::string code = metrics ? "\npidsitter_exit_code{daemon=\"gitaly\"} 7\n" :
	    "\"exit_code\":7";
	std::string victim = sc.dir / "victim";
	std::string tmp = status + ".tmp";
	bool own_name = name.find("own name") != std::string::npos;
	bool is_dir = name.find("directory") != std::string::npos;

	write_file(victim, "precious\n", 0644);
	if (name.find("a FIFO at") == 0 && name.find(".tmp") != std::string::npos)
		REQUIRE(mkfifo(tmp.c_str(), 0666) == 0);
	else if (name.find("hard link") != std::string::npos)
		REQUIRE(link(victim.c_str(), tmp.c_str()) == 0);
	else if (is_dir)
		REQUIRE(mkdir(status.c_str(), 0755) == 0);
	else
		REQUIRE(mkfifo(status.c_str(), 0666) == 0);
	sc.config(key + " = \"" + status + "\"\n");

	child w;
	child_start(&w, sc.configured({"--exit-code", "7"}), clean_env);
	INFO(child_dump(&w));
	pid_t d1 = sc.ready(DEADLINE_MS);
	REQUIRE(d1 > 0);
	if (is_dir) {
		/* rename() cannot replace a directory: a warning, the
		 * temporary removed, the wrapper unmoved. */
		REQUIRE(wait_log(&w, {"level=warning", metrics ?
		    "msg=\"cannot write the metrics file\"" : "msg=\"cannot write the status file\"",
		    "Is a directory"}, DEADLINE_MS));
	} else {
		/* A wrapper blocked on the way never writes it.  Read only
		 * once it is a regular file: opening the FIFO that may still
		 * be there would block this test, not the wrapper (the
		 * wrapper replaces it with a file, never the other way). */
		REQUIRE(wait_until([&] {
			struct stat now;
			pump_for(&w, 1);
			return lstat(status.c_str(), &now) == 0 && S_ISREG(now.st_mode) &&
			    read_file(status).find(running) != std::string::npos;
		}, DEADLINE_MS));
	}
	/* TERM is forwarded, and the wrapper exits with the daemon's code:
	 * nothing blocked it. */
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, DEADLINE_MS));
	CHECK(child_code(&w) == 7);
	CHECK(record_count(sc.record, d1, "signal SIGTERM") == 1);

	struct stat st, vst;
	REQUIRE(lstat(status.c_str(), &st) == 0);
	if (is_dir) {
		CHECK(S_ISDIR(st.st_mode));
	} else {
		CHECK(S_ISREG(st.st_mode));
		CHECK(read_file(status).find(exited) != std::string::npos);
		CHECK(read_file(status).find(code) != std::string::npos);
	}
	/* The other file is untouched, and what was at the temporary name is
	 * still there, as it was. */
	CHECK(read_file(victim) == "precious\n");
	REQUIRE(stat(victim.c_str(), &vst) == 0);
	CHECK(vst.st_ino != st.st_ino);
	if (!own_name) {
		REQUIRE(lstat(tmp.c_str(), &st) == 0);
		if (name.find("FIFO") != std::string::npos)
			CHECK(S_ISFIFO(st.st_mode));
		else
			CHECK(st.st_ino == vst.st_ino);
	}
	/* No temporary is left behind, even by a failed write. */
	DIR *dir = opendir(sc.dir.path.c_str());
	REQUIRE(dir != NULL);
	std::string left;
	while (struct dirent *e = readdir(dir)) {
		std::string n = e->d_name;
		if (n.find(base) != std::string::npos && n != base && n != base + ".tmp")
			left += n + " ";
	}
	closedir(dir);
	CHECK(left == "");
}

}  // namespace

/*
 * The status file is written as root into a directory that the daemon's
 * user may be able to write.  Whatever that user leaves at a name the
 * wrapper might use (a FIFO, which blocks an open for writing until a
 * reader comes; a hard link to another file, which a truncating open
 * would empty; a directory at the file's own name) must neither stop the
 * wrapper nor get another file written.
 */
TEST_CASE("security: a FIFO, a hard link or a directory where the status file is written never stops the wrapper nor gets another file written")
{
	SUBCASE("a FIFO at status.tmp") { file_beside("status_file", "a FIFO at status.tmp"); }
	SUBCASE("a hard link at status.tmp to another file") {
		file_beside("status_file", "a hard link at status.tmp to another file");
	}
	SUBCASE("a FIFO at the status file's own name") {
		file_beside("status_file", "a FIFO at the status file's own name");
	}
	SUBCASE("a directory at the status file's own name") {
		file_beside("status_file", "a directory at the status file's own name");
	}
}

/* The metrics file is written the same way (report_write_atomic), often
 * into node_exporter's textfile directory, which other users may write. */
TEST_CASE("security: a FIFO, a hard link or a directory where the metrics file is written never stops the wrapper nor gets another file written")
{
	SUBCASE("a FIFO at metrics.prom.tmp") {
		file_beside("metrics_file", "a FIFO at metrics.prom.tmp");
	}
	SUBCASE("a hard link at metrics.prom.tmp to another file") {
		file_beside("metrics_file", "a hard link at metrics.prom.tmp to another file");
	}
	SUBCASE("a FIFO at the metrics file's own name") {
		file_beside("metrics_file", "a FIFO at the metrics file's own name");
	}
	SUBCASE("a directory at the metrics file's own name") {
		file_beside("metrics_file", "a directory at the metrics file's own name");
	}
}
