/*
 * config_keys_test.cc: each key of pidsitter.toml(5) that changes what a
 * running wrapper does, through the built pidsitter and the fixture daemon.
 * config_cli_test.cc has -n, the error messages, the precedence, and
 * pid_file, log_format, env, workdir, signal_rewrite and signals_ignored on
 * a running wrapper; nginx_recipe_test.cc has upgrade_recipe = "nginx" and
 * upgrade_signal against real nginx.  Here: start_timeout, upgrade_timeout
 * (with status_file), names, match, owner, poll_interval, signals_to_all
 * and stop_signals.
 *
 * Each test shows the key at work by a contrast where one is cheap (the
 * same scene with and without it), and waits on events: log lines, record
 * lines, exits.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include <doctest/doctest.h>

#include "harness.h"

namespace {

const int DEADLINE_MS = 10000;

/* A daemon the test starts itself, outside the wrapper's tree: the
 * test's own child, reaped on a thread (so that PIDFD_INFO_EXIT gives the
 * wrapper its exact status), optionally as another user, and exec'd from
 * path with any argv[0].  Killed through a pidfd on the way out, which can
 * never hit a recycled PID. */
struct outsider {
	pid_t pid = -1;
	int pidfd = -1;

	outsider(const std::string &path, const std::vector<std::string> &argv,
	    uid_t uid = (uid_t)-1)
	{
		pid = start_child(path, argv, uid);
		pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		REQUIRE(pidfd >= 0);
		reap_in_background(pid);
	}

	~outsider()
	{
		syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
		close(pidfd);
	}

	bool alive() const
	{
		return syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0 && pid_alive(pid);
	}

	/* Dead and reaped: not even a zombie holds its PID. */
	bool reaped() const
	{
		return syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0 && errno == ESRCH;
	}

	outsider(const outsider &) = delete;
	outsider &operator=(const outsider &) = delete;
};

/* Has pid an inotify watch (the wrapper's on the pid file's directory,
 * which it sets up only after it logged the daemon it monitors)? */
bool
has_inotify_watch(pid_t pid)
{
	std::string fds = "/proc/" + std::to_string(pid) + "/fdinfo";
	DIR *d = opendir(fds.c_str());
	struct dirent *e;
	bool found = false;

	if (d == NULL)
		return false;
	while (!found && (e = readdir(d)) != NULL)
		found = read_file(fds + "/" + e->d_name).find("inotify wd:") != std::string::npos;
	closedir(d);
	return found;
}

/* In the child: pidfd_open(2) refused with ENOSYS by a seccomp filter
 * from here on (a kernel before 5.3, as far as the program can tell). */
int
refuse_pidfd_open(void)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pidfd_open, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {(unsigned short)(sizeof filter / sizeof filter[0]), filter};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return 125;
	return 0;
}

/* Start pidsitter without pidfds: as child_start() otherwise (output
 * captured, the clean environment). */
void
start_without_pidfd(child *p, const std::vector<std::string> &argv)
{
	child_start_hooked(p, argv, clean_env, refuse_pidfd_open);
}

/* A forking daemon's start process whose daemon never came up
 * (sc.dir/bin/start-gitaly, run with names = ["gitaly"]): it exits 0 at
 * once and leaves two helpers behind, re-parented to the wrapper, neither
 * of them called like the daemon (nor the shells that run them before
 * they exec).  With one process left the wrapper would take it for the
 * daemon; with none it would be done: with two, only the pid file can say
 * which is the daemon.  The helpers' pids go to sc.dir/helpers (see
 * left_behind). */
std::string
exiting_starter(const scene &sc)
{
	std::string bin = sc.dir / "bin", helpers = sc.dir / "helpers";

	REQUIRE(mkdir(bin.c_str(), 0755) == 0);
	REQUIRE(symlink("/bin/sleep", (bin + "/helper").c_str()) == 0);
	std::string one = bin + "/helper 600 </dev/null >/dev/null 2>&1 & echo $! >>" + helpers + "\n";
	write_file(bin + "/start-gitaly", "#!/bin/sh\n" + one + one + "exit 0\n", 0755);
	return bin + "/start-gitaly";
}

/* The helpers exiting_starter leaves, killed when the test ends: before
 * its scene, which checks that nothing runs from its directory. */
struct left_behind {
	const scene &sc;

	explicit left_behind(const scene &s) : sc(s) {}
	~left_behind()
	{
		std::vector<pid_t> pids;
		std::string text = read_file(sc.dir / "helpers");

		for (size_t at = 0; at < text.size(); at = text.find('\n', at) + 1) {
			pid_t pid = (pid_t)atoi(text.c_str() + at);
			/* Not reaped by us: alive, its pid is its own. */
			if (pid > 0 && cmdline_of(pid).find(sc.dir.path) != std::string::npos) {
				kill(pid, SIGKILL);
				pids.push_back(pid);
			}
			if (text.find('\n', at) == std::string::npos)
				break;
		}
		wait_until([&] {
			for (pid_t pid : pids)
				if (pid_alive(pid))
					return false;
			return true;
		}, DEADLINE_MS);
	}
};

/* Start the wrapper of sc, its pid file's directory polled every 100 ms;
 * the daemon drains for a minute, so that the new one can only be
 * followed through the pid file, not as an orphan of the old.  Returns
 * the daemon once the wrapper watches the pid file's directory. */
pid_t
start_watching(const scene &sc, child *w)
{
	sc.config("poll_interval = \"100ms\"\n");
	child_start(w, sc.configured({"--drain", "60000"}), clean_env);
	pid_t old = sc.ready(DEADLINE_MS);
	REQUIRE(child_wait_line(w, log_msg("monitoring process", log_gen(*w, 1, old)).c_str(),
	    DEADLINE_MS));
	REQUIRE(wait_until([&] { return has_inotify_watch(w->pid); }, DEADLINE_MS));
	return old;
}

/* HUP: the new process, followed through the pid file and told by the
 * old one that it took over.  (Until the old one has its successor's
 * word, a TERM makes it kill the successor: tableflip's rule.) */
pid_t
upgrade_through_file(const scene &sc, child *w, pid_t old)
{
	pid_t fresh = 0;

	send_signal(w->pid, SIGHUP);
	REQUIRE(wait_until([&] {
		fresh = read_pid(sc.pidfile);
		return fresh > 0 && fresh != old;
	}, DEADLINE_MS));
	REQUIRE(child_wait_line(w, log_msg("following new process", log_gen(*w, 2, fresh) +
	    " role=current source=pid_file").c_str(), DEADLINE_MS));
	REQUIRE(record_wait(sc.record, old, "upgraded", DEADLINE_MS));
	return fresh;
}

}  // namespace

/* ---- start_timeout ---- */

TEST_CASE("start_timeout: a start process that exits 0 and no pid file: exit 1 once it has passed")
{
	scene sc;
	child w;
	/* A forking daemon whose background half never came up: its start
	 * process exits 0 and leaves no daemon behind (helpers only, and no
	 * pid file). */
	std::string starter = exiting_starter(sc);
	left_behind helpers(sc);
	sc.config("start_timeout = \"300ms\"\nnames = [\"gitaly\"]\n");

	auto t0 = std::chrono::steady_clock::now();
	child_start(&w, {build_path("pidsitter"), "-c", sc.conf, "--", starter}, clean_env);
	/* Well before the default, 10 s. */
	REQUIRE(child_wait_exit(&w, 5000));
	long long took = ms_since(t0);
	INFO(child_dump(&w));
	CHECK(child_code(&w) == 1);
	CHECK(took >= 250);
	CHECK(child_count_lines(&w, log_msg("start process exited; waiting for the daemon's pid file",
	    "pid=" + std::to_string(w.pid) + " pid_file=" + sc.pidfile + " timeout_ms=300").c_str()) == 1);
	CHECK(child_count_lines(&w, log_msg("wrapper for process shutting down", "exit_code=1 pid=" +
	    std::to_string(w.pid) + " reason=\"the start process exited and no pid file named a "
	    "live daemon within start_timeout\"").c_str()) == 1);
	CHECK(w.err == "");
}

TEST_CASE("start_timeout: a pid file that names the daemon within it is followed, and the wrapper stays")
{
	scene sc;
	child w;
	std::string starter = exiting_starter(sc);
	left_behind helpers(sc);
	sc.config("start_timeout = \"30s\"\nnames = [\"gitaly\"]\n" SLOW_REAP_OK);

	child_start(&w, {build_path("pidsitter"), "-c", sc.conf, "--", starter}, clean_env);
	INFO(child_dump(&w));
	REQUIRE(child_wait_line(&w, "timeout_ms=30000", DEADLINE_MS));
	/* The daemon comes up later, from elsewhere (the test), and writes
	 * the pid file. */
	outsider d(sc.gitaly, {sc.gitaly, "--pid-file", sc.pidfile, "--record", sc.record,
	    "--exit-code", "6"});
	REQUIRE(child_wait_line(&w, log_msg("following new process", log_gen(w, 2, d.pid) +
	    " role=current source=pid_file").c_str(), DEADLINE_MS));
	send_signal(w.pid, SIGUSR1);
	REQUIRE(record_wait(sc.record, d.pid, "signal SIGUSR1", DEADLINE_MS));
	CHECK_FALSE(w.exited);
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, DEADLINE_MS));
	CHECK(child_code(&w) == 6);
	CHECK(child_count_lines(&w, "exit_code=6 generation=2") == 1);
	CHECK(child_count_lines(&w, "within start_timeout") == 0);
}

/* ---- upgrade_timeout, status_file ---- */

TEST_CASE("upgrade_timeout: no new process in time: logged, the old one stays current, status_file says failed")
{
	scene sc;
	child w;
	std::string status = sc.dir / "status.json";

	sc.config("upgrade_timeout = \"300ms\"\nstatus_file = \"" + status + "\"\n");
	/* The new process would take a minute to be ready, and its parent
	 * would wait that long for it. */
	child_start(&w, sc.configured({"--upgrade-ready-delay", "60000", "--upgrade-timeout", "60000"}),
	    clean_env);
	INFO(child_dump(&w));
	pid_t cur = sc.ready(DEADLINE_MS);
	REQUIRE(cur > 0);
	std::string cur_json = "\"current\":{\"pid\":" + std::to_string(cur) + ",\"generation\":1,\"since\":";
	REQUIRE(wait_until([&] {
		std::string s = read_file(status);
		return s.find("\"state\":\"running\"") != std::string::npos &&
		    s.find(cur_json) != std::string::npos;
	}, DEADLINE_MS));
	CHECK(read_file(status).find("\"last_upgrade\":{\"result\":\"none\",\"time\":null}") !=
	    std::string::npos);

	auto t0 = std::chrono::steady_clock::now();
	send_signal(w.pid, SIGHUP);
	REQUIRE(record_wait(sc.record, cur, "upgrading", DEADLINE_MS));
	REQUIRE(child_wait_line(&w, log_msg("upgrade started", log_gen(w, 1, cur)).c_str(),
	    DEADLINE_MS));
	/* Well before the default, 60 s. */
	std::string gave_up = "level=info " + log_msg("no new process after the upgrade signal; "
	    "the current process stays", log_gen(w, 1, cur) + " reason=\"no new process wrote the "
	    "pid file within upgrade_timeout\"");
	REQUIRE(child_wait_line(&w, gave_up.c_str(), 5000));
	CHECK(ms_since(t0) >= 250);
	REQUIRE(wait_until([&] {
		return read_file(status).find("\"last_upgrade\":{\"result\":\"failed\",\"time\":\"") !=
		    std::string::npos;
	}, DEADLINE_MS));
	std::string s = read_file(status);
	CHECK(s.find("\"state\":\"running\"") != std::string::npos);
	CHECK(s.find(cur_json) != std::string::npos);
	CHECK(s.find("\"draining\":[]") != std::string::npos);

	/* Still the current one: it gets what is not for every generation. */
	CHECK(read_pid(sc.pidfile) == cur);
	send_signal(w.pid, SIGUSR1);
	CHECK(record_wait(sc.record, cur, "signal SIGUSR1", DEADLINE_MS));
	CHECK(child_count_lines(&w, "following new process") == 0);

	/* The hanging new process, killed: its parent reaps it.  (Told to
	 * stop while it waits for it, the old one would SIGKILL it and exit
	 * at once: the wrapper, its subreaper, may then adopt the dying
	 * orphan and report its 137.) */
	std::string text = read_file(sc.record);
	std::string upgrading = std::to_string(cur) + " upgrading ";
	REQUIRE(text.find(upgrading) != std::string::npos);
	pid_t hung = (pid_t)atoi(text.c_str() + text.find(upgrading) + upgrading.size());
	REQUIRE(hung > 0);
	send_signal(hung, SIGKILL);
	REQUIRE(record_wait(sc.record, cur, "upgrade-failed child exited 137", DEADLINE_MS));
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, DEADLINE_MS));
	CHECK(child_code(&w) == 0);
	CHECK(read_file(status).find("\"state\":\"exited\"") != std::string::npos);
	CHECK(wait_until([&] { return live_matching(sc.gitaly).empty(); }, DEADLINE_MS));
}

/* ---- names ---- */

TEST_CASE("names: a daemon called praefect is adopted for BINARY gitaly only when names lists it")
{
	scene sc;
	std::string praefect = sc.dir.link("praefect", "fixture-daemon");
	std::string prec = sc.dir / "praefect.record";
	outsider d(praefect, {praefect, "--pid-file", sc.pidfile, "--record", prec,
	    "--exit-code", "3"});
	REQUIRE(record_wait(prec, d.pid, "ready", DEADLINE_MS));

	{
		/* The default, the basename of BINARY: gitaly only. */
		child w;
		sc.config("");
		child_start(&w, sc.configured(spawn_and_exit), clean_env);
		INFO(child_dump(&w));
		REQUIRE(child_wait_exit(&w, DEADLINE_MS));
		CHECK(child_code(&w) == 5);
		CHECK(child_count_lines(&w,
		    log_msg("not adopting the process the pid file names").c_str()) == 1);
		CHECK(child_count_lines(&w, "reason=\"it is not the expected binary (comm praefect, "
		    "exe fixture-daemon; expected gitaly)\"") >= 1);
		CHECK(child_count_lines(&w, log_msg("spawning a process").c_str()) == 1);
		CHECK(record_count(prec, d.pid, "signal") == 0);
		CHECK(d.alive());
	}
	{
		child w;
		sc.config("names = [\"gitaly\", \"praefect\"]\n" SLOW_REAP_OK);
		child_start(&w, sc.configured(spawn_and_exit), clean_env);
		INFO(child_dump(&w));
		REQUIRE(child_wait_line(&w, log_msg("adopting a process", "matched=comm pid=" +
		    std::to_string(w.pid) + " process=" + std::to_string(d.pid)).c_str(), DEADLINE_MS));
		send_signal(w.pid, SIGUSR1);
		REQUIRE(record_wait(prec, d.pid, "signal SIGUSR1", DEADLINE_MS));
		send_signal(w.pid, SIGTERM);
		REQUIRE(child_wait_exit(&w, DEADLINE_MS));
		CHECK(child_code(&w) == 3);
		CHECK(child_count_lines(&w, log_msg("spawning a process").c_str()) == 0);
		CHECK(child_count_lines(&w, "exit_code=3 generation=1") == 1);
		CHECK_FALSE(d.alive());
	}
}

/* ---- match ---- */

TEST_CASE("match: argv0 adopts a daemon known by its argv[0] only; exe alone refuses one known by its comm only")
{
	scene sc;

	SUBCASE("argv0") {
		/* exec'd from a link called alias with argv[0] .../gitaly:
		 * comm is alias, exe fixture-daemon, argv0 gitaly. */
		std::string alias = sc.dir.link("alias", "fixture-daemon");
		outsider d(alias, {sc.gitaly, "--pid-file", sc.pidfile, "--record", sc.record,
		    "--exit-code", "3"});
		REQUIRE(record_wait(sc.record, d.pid, "ready", DEADLINE_MS));
		CHECK(read_file("/proc/" + std::to_string(d.pid) + "/comm") == "alias\n");
		{
			child w;
			sc.config("");  /* the default, ["comm", "exe"] */
			child_start(&w, sc.configured(spawn_and_exit), clean_env);
			INFO(child_dump(&w));
			REQUIRE(child_wait_exit(&w, DEADLINE_MS));
			CHECK(child_code(&w) == 5);
			CHECK(child_count_lines(&w, "reason=\"it is not the expected binary (comm alias, "
			    "exe fixture-daemon; expected gitaly)\"") >= 1);
			CHECK(record_count(sc.record, d.pid, "signal") == 0);
		}
		child w;
		sc.config("match = [\"argv0\"]\n" SLOW_REAP_OK);
		child_start(&w, sc.configured(spawn_and_exit), clean_env);
		INFO(child_dump(&w));
		REQUIRE(child_wait_line(&w, log_msg("adopting a process", "matched=argv0 pid=" +
		    std::to_string(w.pid) + " process=" + std::to_string(d.pid)).c_str(), DEADLINE_MS));
		send_signal(w.pid, SIGTERM);
		REQUIRE(child_wait_exit(&w, DEADLINE_MS));
		CHECK(child_code(&w) == 3);
		CHECK(record_count(sc.record, d.pid, "signal SIGTERM") == 1);
	}
	SUBCASE("exe alone") {
		/* exec'd from the link gitaly: comm gitaly, exe fixture-daemon. */
		outsider d(sc.gitaly, {sc.gitaly, "--pid-file", sc.pidfile, "--record", sc.record,
		    "--exit-code", "3"});
		REQUIRE(record_wait(sc.record, d.pid, "ready", DEADLINE_MS));
		{
			child w;
			sc.config("match = [\"exe\"]\n");
			child_start(&w, sc.configured(spawn_and_exit), clean_env);
			INFO(child_dump(&w));
			REQUIRE(child_wait_exit(&w, DEADLINE_MS));
			CHECK(child_code(&w) == 5);
			CHECK(child_count_lines(&w,
			    log_msg("not adopting the process the pid file names").c_str()) == 1);
			CHECK(child_count_lines(&w, log_msg("spawning a process").c_str()) == 1);
			CHECK(record_count(sc.record, d.pid, "signal") == 0);
			CHECK(d.alive());
		}
		child w;
		sc.config("match = [\"comm\"]\n" SLOW_REAP_OK);
		child_start(&w, sc.configured(spawn_and_exit), clean_env);
		INFO(child_dump(&w));
		REQUIRE(child_wait_line(&w, log_msg("adopting a process", "matched=comm").c_str(),
		    DEADLINE_MS));
		send_signal(w.pid, SIGTERM);
		REQUIRE(child_wait_exit(&w, DEADLINE_MS));
		CHECK(child_code(&w) == 3);
	}
}

/* ---- owner ---- */

TEST_CASE("owner: a daemon running as nobody is adopted by a root wrapper only when owner allows it")
{
	if (geteuid() != 0) {
		MESSAGE("skipped: needs root to run a daemon as uid 65534");
		return;
	}
	const uid_t nobody = 65534;
	scene sc;
	/* The daemon writes its own pid file, in a directory of its own. */
	std::string run = sc.dir / "run";
	REQUIRE(mkdir(run.c_str(), 0755) == 0);
	REQUIRE(chown(run.c_str(), nobody, nobody) == 0);
	std::string own_pidfile = run + "/gitaly.pid";
	std::string rec = run + "/record";
	outsider d(sc.gitaly, {sc.gitaly, "--pid-file", own_pidfile, "--record", rec,
	    "--exit-code", "3"}, nobody);
	REQUIRE(record_wait(rec, d.pid, "ready", DEADLINE_MS));
	REQUIRE(read_pid(own_pidfile) == d.pid);
	/* And root wrote a copy of it (as a root start script would). */
	write_file(sc.pidfile, std::to_string(d.pid) + "\n");

	struct {
		const char *owner;      /* the key's line, "" for none */
		bool own_file;          /* pid_file: the daemon's own, or root's copy */
		int outcome;            /* 0: adopted; else the exit code */
		const char *why;
	} cases[] = {
		/* By default only the wrapper's own uid, root: the daemon by
		 * its name, run by another user, is refused and nothing is
		 * spawned beside it. */
		{"", false, 1, "error=\"it runs as uid 65534, not uid 0; if it is the daemon, set owner = 65534"},
		/* A pid file that another user owns is not trusted at all. */
		{"", true, 1, "error=\"refused: owned by uid 65534, not by root or uid 0"},
		{"owner = 65534\n", true, 0, "matched=comm"},
		{"owner = \"65534\"\n", false, 0, "matched=comm"},
		{"owner = \"any\"\n", false, 0, "matched=comm"},
		{"owner = \"nobody\"\n" SLOW_REAP_OK, true, 0, "matched=comm"},
	};
	for (const auto &c : cases) {
		CAPTURE(c.owner);
		CAPTURE(c.own_file);
		child w;
		std::string pf = c.own_file ? own_pidfile : sc.pidfile;
		write_file(sc.conf, "pid_file = \"" + pf + "\"\n" + c.owner);
		child_start(&w, {build_path("pidsitter"), "-c", sc.conf, "--", sc.gitaly,
		    "--pid-file", pf, "--no-pid-file", "--exit-after", "0", "--exit-code", "5"},
		    clean_env);
		INFO(child_dump(&w));
		if (c.outcome != 0) {
			REQUIRE(child_wait_exit(&w, DEADLINE_MS));
			CHECK(child_code(&w) == c.outcome);
			CHECK(child_count_lines(&w, c.why) >= 1);
			CHECK(child_count_lines(&w, log_msg("spawning a process").c_str()) ==
			    (c.outcome == 5 ? 1 : 0));
			CHECK(record_count(rec, d.pid, "signal") == 0);
			continue;
		}
		REQUIRE(child_wait_line(&w, (log_msg("adopting a process", c.why) + " pid=" +
		    std::to_string(w.pid) + " process=" + std::to_string(d.pid)).c_str(), DEADLINE_MS));
		if (&c != &cases[sizeof cases / sizeof cases[0] - 1]) {
			/* The next case adopts it again. */
			child_kill(&w);
			continue;
		}
		send_signal(w.pid, SIGUSR1);
		REQUIRE(record_wait(rec, d.pid, "signal SIGUSR1", DEADLINE_MS));
		send_signal(w.pid, SIGTERM);
		REQUIRE(child_wait_exit(&w, DEADLINE_MS));
		CHECK(child_code(&w) == 3);
		CHECK(record_count(rec, d.pid, "signal SIGTERM") == 1);
	}
	CHECK(record_count(rec, d.pid, "signal") == 2);
}

/* ---- poll_interval ---- */

TEST_CASE("poll_interval: the pid file's directory deleted and recreated is watched again; the next upgrade is followed")
{
	scene sc("run");
	child w;
	std::string run = sc.dir / "run";
	INFO(child_dump(&w));
	pid_t old = start_watching(sc, &w);

	REQUIRE(unlink(sc.pidfile.c_str()) == 0);
	REQUIRE(rmdir(run.c_str()) == 0);
	REQUIRE(child_wait_line(&w, log_msg("pid file directory is gone; looking for it again",
	    "directory=" + run + " interval_ms=100").c_str(), DEADLINE_MS));
	REQUIRE(mkdir(run.c_str(), 0755) == 0);
	REQUIRE(child_wait_line(&w, log_msg("watching the pid file's directory again",
	    "directory=" + run).c_str(), DEADLINE_MS));

	pid_t fresh = upgrade_through_file(sc, &w, old);
	CHECK(pid_alive(old));
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, DEADLINE_MS));
	CHECK(child_code(&w) == 0);
	CHECK(record_count(sc.record, old, "signal SIGTERM") == 1);
	CHECK(record_count(sc.record, fresh, "signal SIGTERM") == 1);
	CHECK(live_matching(sc.gitaly).empty());
}

TEST_CASE("poll_interval: a pid file directory replaced before the wrapper saw it go is watched again too")
{
	scene sc("run");
	child w;
	std::string run = sc.dir / "run";
	INFO(child_dump(&w));
	pid_t old = start_watching(sc, &w);

	/* rm -rf run && mkdir run, or mv run elsewhere && mkdir run, while
	 * the wrapper is not scheduled (made certain by stopping it): when it
	 * reads the events, a directory of that name exists again, but it is
	 * another one, which it does not watch yet. */
	send_signal(w.pid, SIGSTOP);
	SUBCASE("removed") {
		REQUIRE(unlink(sc.pidfile.c_str()) == 0);
		REQUIRE(rmdir(run.c_str()) == 0);
	}
	SUBCASE("moved away") {
		REQUIRE(rename(run.c_str(), (run + ".old").c_str()) == 0);
	}
	REQUIRE(mkdir(run.c_str(), 0755) == 0);
	send_signal(w.pid, SIGCONT);
	REQUIRE(child_wait_line(&w, log_msg("watching the pid file's directory again",
	    "directory=" + run).c_str(), DEADLINE_MS));

	pid_t fresh = upgrade_through_file(sc, &w, old);
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, DEADLINE_MS));
	CHECK(record_count(sc.record, fresh, "signal SIGTERM") == 1);
	CHECK(live_matching(sc.gitaly).empty());
}

TEST_CASE("poll_interval: without pidfds (Linux before 5.3) the daemon's death is found by polling at that interval")
{
	scene sc;
	outsider d(sc.gitaly, {sc.gitaly, "--pid-file", sc.pidfile, "--record", sc.record});
	REQUIRE(record_wait(sc.record, d.pid, "ready", DEADLINE_MS));

	SUBCASE("100ms: noticed") {
		child w;
		sc.config("poll_interval = \"100ms\"\n");
		start_without_pidfd(&w, sc.configured(spawn_and_exit));
		INFO(child_dump(&w));
		REQUIRE(child_wait_line(&w, log_msg("monitoring process", log_gen(w, 1, d.pid)).c_str(),
		    DEADLINE_MS));
		/* Signals go by PID then, after a check of its start time. */
		send_signal(w.pid, SIGUSR1);
		REQUIRE(record_wait(sc.record, d.pid, "signal SIGUSR1", DEADLINE_MS));
		syscall(SYS_pidfd_send_signal, d.pidfd, SIGKILL, NULL, 0);
		REQUIRE(child_wait_exit(&w, DEADLINE_MS));
		CHECK(child_code(&w) == 0);  /* no pidfd, no status: 0, as gitaly-wrapper */
		CHECK(child_count_lines(&w, log_msg("process exited", log_gen(w, 1, d.pid) +
		    " status_source=none").c_str()) == 1);
	}
	SUBCASE("1h: not polled yet") {
		child w;
		sc.config("poll_interval = \"1h\"\n");
		start_without_pidfd(&w, sc.configured(spawn_and_exit));
		INFO(child_dump(&w));
		REQUIRE(child_wait_line(&w, log_msg("monitoring process", log_gen(w, 1, d.pid)).c_str(),
		    DEADLINE_MS));
		syscall(SYS_pidfd_send_signal, d.pidfd, SIGKILL, NULL, 0);
		REQUIRE(wait_until([&] { return d.reaped(); }, DEADLINE_MS));
		/* A signal now finds it gone; the wrapper had not noticed. */
		send_signal(w.pid, SIGUSR1);
		REQUIRE(child_wait_line(&w, log_msg("signal not delivered: the process has exited",
		    log_gen(w, 1, d.pid) + " signal=SIGUSR1").c_str(), DEADLINE_MS));
		CHECK_FALSE(w.exited);
		CHECK(child_count_lines(&w, "msg=\"process exited\"") == 0);
		child_kill(&w);
	}
}

/* ---- reap_timeout ---- */

TEST_CASE("reap_timeout: an adopted daemon's exit status is waited for until its parent reaps it, that long")
{
	scene sc;
	/* The daemon is the test's child, and the test reaps it only when it
	 * chooses: a slow parent.  (child kills and reaps it on every way out,
	 * a failed REQUIRE included.) */
	child d;
	child_start(&d, sc.daemon({"--exit-code", "9"}));
	REQUIRE(record_wait(sc.record, d.pid, "ready", DEADLINE_MS));
	bool configured = false;
	SUBCASE("reap_timeout = \"1m\": still waiting well past the default 1 s, then the exact status") {
		configured = true;
		sc.config("reap_timeout = \"1m\"\n");
	}
	SUBCASE("default (1 s): the parent reaps too late, status 0 after waiting 1 s") {
		sc.config("");
	}
	CAPTURE(configured);
	child w;
	child_start(&w, sc.configured(spawn_and_exit), clean_env);
	INFO(child_dump(&w));
	REQUIRE(child_wait_line(&w, log_msg("monitoring process", log_gen(w, 1, d.pid)).c_str(),
	    DEADLINE_MS));
	/* The daemon dies after this moment, and the wrapper's wait starts
	 * only once it has died. */
	auto t0 = std::chrono::steady_clock::now();
	send_signal(w.pid, SIGTERM);
	REQUIRE(record_wait(sc.record, d.pid, "signal SIGTERM", DEADLINE_MS));
	REQUIRE(wait_until([&] {
		std::vector<pid_t> z = zombies_of(getpid());
		return std::find(z.begin(), z.end(), d.pid) != z.end();
	}, DEADLINE_MS));
	if (configured) {
		/* Two and a half times the default, the wrapper still waits. */
		CHECK_FALSE(child_wait_exit(&w, 2500));
		REQUIRE(child_wait_exit(&d, DEADLINE_MS));
		REQUIRE(child_wait_exit(&w, DEADLINE_MS));
		CHECK(child_code(&w) == 9);
		CHECK(child_count_lines(&w, log_msg("process exited", "exit_code=9 " +
		    log_gen(w, 1, d.pid) + " status_source=pidfd").c_str()) == 1);
	} else {
		/* The wrapper gives up after 1 s (not before: a little less
		 * allowed for libuv's cached loop time) while its daemon is
		 * still a zombie nobody reaped. */
		REQUIRE(child_wait_exit(&w, DEADLINE_MS));
		CHECK(ms_since(t0) >= 950);
		CHECK(child_code(&w) == 0);
		CHECK(child_count_lines(&w, log_msg("process exited", log_gen(w, 1, d.pid) +
		    " status_source=none").c_str()) == 1);
	}
	CHECK(child_count_lines(&w, "spawning a process") == 0);
}

/* ---- signals_to_all ---- */

TEST_CASE("signals_to_all: a signal added to it also reaches the draining generation")
{
	bool listed = false;
	SUBCASE("USR1 in signals_to_all") { listed = true; }
	SUBCASE("the default: USR1 to the current generation only") { listed = false; }
	CAPTURE(listed);

	scene sc;
	child w;
	sc.config(listed ? "signals_to_all = [\"TERM\", \"INT\", \"QUIT\", \"CONT\", \"USR1\"]\n" : "");
	child_start(&w, sc.configured({"--drain", "60000"}), clean_env);
	INFO(child_dump(&w));
	pid_t old = sc.ready(DEADLINE_MS);
	pid_t fresh = hup_successor(sc, &w, old, DEADLINE_MS);
	REQUIRE(child_wait_line(&w, log_msg("following new process", log_gen(w, 2, fresh)).c_str(),
	    DEADLINE_MS));
	REQUIRE(record_wait(sc.record, old, "upgraded", DEADLINE_MS));

	send_signal(w.pid, SIGUSR1);
	REQUIRE(record_wait(sc.record, fresh, "signal SIGUSR1", DEADLINE_MS));
	if (listed)
		REQUIRE(record_wait(sc.record, old, "signal SIGUSR1", DEADLINE_MS));
	/* TERM reaches both; once the wrapper is gone, so are they, and
	 * their records are complete. */
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, DEADLINE_MS));
	CHECK(child_code(&w) == 0);
	CHECK(record_count(sc.record, old, "signal SIGUSR1") == (listed ? 1 : 0));
	CHECK(record_count(sc.record, fresh, "signal SIGUSR1") == 1);
	CHECK(child_count_lines(&w, log_msg("forwarding signal", log_gen(w, 1, old) +
	    " signal=SIGUSR1").c_str()) == (listed ? 1 : 0));
	CHECK(record_count(sc.record, old, "signal SIGTERM") == 1);
	CHECK(record_count(sc.record, fresh, "signal SIGTERM") == 1);
	CHECK(live_matching(sc.gitaly).empty());
}

/* ---- stop_signals ---- */

TEST_CASE("stop_signals: a QUIT in the middle of an upgrade is replayed to the new generation only if QUIT is a stop signal")
{
	bool quit_stops = false;
	SUBCASE("stop_signals = [\"TERM\"]") { quit_stops = false; }
	SUBCASE("the default, TERM INT QUIT") { quit_stops = true; }
	CAPTURE(quit_stops);

	scene sc;
	child w;
	sc.config(quit_stops ? "" : "signals_to_all = [\"TERM\", \"INT\", \"QUIT\", \"CONT\"]\n"
	    "stop_signals = [\"TERM\"]\n");
	/* A new process takes 500 ms to be ready; an old one told to stop
	 * leaves it running (upgrade_test.cc has the same with TERM). */
	child_start(&w, sc.configured({"--upgrade-ready-delay", "500", "--orphan-on-term"}), clean_env);
	INFO(child_dump(&w));
	pid_t old = sc.ready(DEADLINE_MS);
	send_signal(w.pid, SIGHUP);
	REQUIRE(record_wait(sc.record, old, "upgrading", DEADLINE_MS));
	send_signal(w.pid, SIGQUIT);
	REQUIRE(record_wait(sc.record, old, "exit 0", DEADLINE_MS));
	/* The new process, orphaned, is the wrapper's child now: followed. */
	REQUIRE(child_wait_line(&w, log_msg("following new process", "generation=2").c_str(),
	    DEADLINE_MS));
	pid_t fresh = (pid_t)line_field(child_find_line(&w,
	    log_msg("following new process", "generation=2").c_str()), "process");
	REQUIRE(fresh > 0);
	REQUIRE(record_wait(sc.record, fresh, "ready", DEADLINE_MS));

	if (quit_stops) {
		REQUIRE(child_wait_exit(&w, DEADLINE_MS));
		CHECK(child_code(&w) == 0);
		CHECK(record_count(sc.record, fresh, "signal SIGQUIT") == 1);
		CHECK(live_matching(sc.gitaly).empty());
		return;
	}
	/* Not a stop: the new generation carries on.  USR1 after it: a QUIT
	 * replayed before would be on record before it. */
	send_signal(w.pid, SIGUSR1);
	REQUIRE(record_wait(sc.record, fresh, "signal SIGUSR1", DEADLINE_MS));
	CHECK(record_count(sc.record, fresh, "signal SIGQUIT") == 0);
	CHECK_FALSE(w.exited);
	CHECK(pid_alive(fresh));

	/* TERM still is a stop signal: the same in the middle of the next
	 * upgrade reaches the generation after it. */
	send_signal(w.pid, SIGHUP);
	REQUIRE(record_wait(sc.record, fresh, "upgrading", DEADLINE_MS));
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, DEADLINE_MS));
	CHECK(child_code(&w) == 0);
	pid_t third = read_pid(sc.pidfile);
	CHECK(third != fresh);
	CHECK(record_count(sc.record, fresh, "signal SIGTERM") == 1);
	CHECK(record_count(sc.record, third, "signal SIGTERM") == 1);
	CHECK(record_count(sc.record, third, "signal SIGQUIT") == 0);
	CHECK(live_matching(sc.gitaly).empty());
}
