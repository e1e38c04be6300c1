/*
 * nginx_test.cc: the built pidsitter against REAL nginx from Debian
 * (/usr/sbin/nginx), on a loopback port with a temporary prefix.
 *
 * What nginx does (pidsitter(8), UPGRADES):
 * - With "daemon on" the start process forks the master and exits 0; the
 *   master, re-parented to pidsitter (a child subreaper), writes the pid
 *   file.  Which pidsitter sees first, the start process's exit or the pid
 *   file, is a race: both orders are correct and both are checked.
 * - USR2 to the master: it renames the pid file to <pidfile>.oldbin and
 *   fork+execs argv[0] (hence the absolute path) as its own child, with
 *   the listening sockets; the new master writes the pid file.  Both
 *   masters and their workers serve until the operator stops the old one.
 * - QUIT: graceful stop; TERM: fast stop.  Both exit 0.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <chrono>

#include <doctest/doctest.h>

#include "harness.h"
#include "nginx_fixture.h"
#include "proc.h"

namespace {

const int DEADLINE_MS = NGINX_DEADLINE_MS;

/* The master's workers, once it has started them (after it wrote the pid
 * file). */
std::vector<pid_t>
workers(nginx_prefix &sc, pid_t master)
{
	std::vector<pid_t> out;

	CHECK(wait_until([&] { return (out = children_of({master})).size() == 1; },
	    DEADLINE_MS));
	for (pid_t pid : out)
		sc.met(pid);
	return out;
}

/* Position of the first stdout line holding needle, or npos. */
size_t
line_pos(const child &w, const std::string &needle)
{
	std::string line = child_find_line(&w, needle.c_str());
	return line.empty() ? std::string::npos : w.out.find(line);
}

/* Start (the wrapper with options, env as for child_start): the forking
 * start followed, the master serving.  Returns the master's pid. */
pid_t
start_followed(nginx_prefix &sc, const std::vector<std::string> &options = {},
    const std::vector<std::string> &env = {})
{
	pid_t master = sc.start(options, env);
	child &w = *sc.w;

	/* Generation 1 is the start process: it exits 0 (our own child). */
	std::string mon = child_find_line(&w, "msg=\"monitoring process\" generation=1 ");
	REQUIRE_FALSE(mon.empty());
	pid_t starter = (pid_t)line_field(mon, "process");
	REQUIRE(starter > 0);
	CHECK(starter != master);
	std::string gone = log_msg("process exited", "exit_code=0 " + log_gen(w, 1, starter) +
	    " status_source=child");
	REQUIRE(child_wait_line(&w, gone.c_str(), DEADLINE_MS));

	/* Generation 2 is the master, current, found one of two ways,
	 * depending on what the wrapper saw first:
	 * - the pid file, while the start process still ran: followed from
	 *   the pid file, current at once; the start process drains;
	 * - the start process's exit, and the master, re-parented to us,
	 *   named like the daemon among our children: followed as an orphan
	 *   (not the daemon on its name alone), then current as the one
	 *   process the start process left.
	 * (The wrapper waits for the pid file only when the start process
	 * leaves several processes.) */
	std::string follow = log_msg("following new process", log_gen(w, 2, master) + " ");
	REQUIRE(child_count_lines(&w, follow.c_str()) == 1);
	std::string how = child_find_line(&w, follow.c_str());
	size_t waited = line_pos(w, "msg=\"start process exited; waiting for the daemon's pid file\"");
	if (how.find(" role=current source=pid_file ") != std::string::npos) {
		if (waited != std::string::npos)
			CHECK(waited < line_pos(w, follow));
		else
			CHECK(line_pos(w, follow) < line_pos(w, gone));
	} else {
		CHECK(how.find(" role=orphan source=child ") != std::string::npos);
		CHECK(waited == std::string::npos);
		CHECK(line_pos(w, follow) < line_pos(w, gone));
		CHECK(sc.line("process is current", log_gen(w, 2, master)));
	}
	CHECK(child_count_lines(&w, "msg=\"wrapper for process shutting down\"") == 0);

	/* The master was orphaned by the start process: ours now. */
	struct proc_stat st;
	REQUIRE(proc_read_stat(master, &st) == 0);
	CHECK(st.ppid == w.pid);
	workers(sc, master);
	CHECK(sc.serves());
	CHECK(zombies_of(w.pid).empty());
	return master;
}

/* USR2 to the wrapper: nginx's binary upgrade, followed.  Returns the new
 * master's pid. */
pid_t
usr2_followed(nginx_prefix &sc, pid_t master)
{
	child &w = *sc.w;

	send_signal(w.pid, SIGUSR2);
	/* Forwarded to the current master only (not a stop signal). */
	REQUIRE(sc.line("forwarding signal", log_gen(w, 2, master) + " signal=SIGUSR2"));
	pid_t fresh = sc.followed(3);
	CHECK(fresh != master);
	CHECK(child_count_lines(&w, log_msg("following new process", log_gen(w, 3, fresh) +
	    " role=current source=pid_file").c_str()) == 1);
	CHECK(sc.line("process draining", log_gen(w, 2, master)));
	CHECK(read_pid(sc.pidfile) == fresh);
	CHECK(read_pid(sc.oldbin) == master);
	CHECK(child_count_lines(&w, "signal=SIGUSR2") == 1);

	/* Both masters serve; the new one is the old one's child. */
	CHECK(pid_alive(master));
	CHECK(pid_alive(fresh));
	struct proc_stat st;
	REQUIRE(proc_read_stat(fresh, &st) == 0);
	CHECK(st.ppid == master);
	workers(sc, fresh);
	CHECK(sc.serves());
	CHECK(zombies_of(w.pid).empty());
	CHECK(sc.got(master, 12, "SIGUSR2"));
	return fresh;
}

/* Stop with sig (QUIT or TERM) sent to the wrapper while both masters
 * run: it reaches both, both exit 0, the wrapper exits 0. */
void
stop_both(nginx_prefix &sc, pid_t master, pid_t fresh, int sig, const char *name, int num)
{
	child &w = *sc.w;
	auto t0 = std::chrono::steady_clock::now();

	send_signal(w.pid, sig);
	REQUIRE(child_wait_exit(&w, DEADLINE_MS));
	long long took = ms_since(t0);
	CAPTURE(took);
	CHECK(child_code(&w) == 0);
	CHECK(child_count_lines(&w, log_msg("forwarding signal", log_gen(w, 2, master) +
	    " signal=" + name).c_str()) == 1);
	CHECK(child_count_lines(&w, log_msg("forwarding signal", log_gen(w, 3, fresh) +
	    " signal=" + name).c_str()) == 1);
	for (pid_t m : {master, fresh}) {
		CAPTURE(m);
		CHECK(sc.got(m, num, name));
	}

	/* The old master was orphaned by the start process: ours to reap.
	 * The new master is the old one's child: if it exits first, the old
	 * master reaps it (its SIGCHLD handler) and the kernel keeps the
	 * status for PIDFD_INFO_EXIT; if the old one exits first, the new one
	 * is re-parented to us and we reap it.  Both give the exact 0. */
	CHECK(child_count_lines(&w, log_msg("process exited", "exit_code=0 " + log_gen(w, 2, master) +
	    " status_source=reap").c_str()) == 1);
	int reaped = child_count_lines(&w, log_msg("process exited", "exit_code=0 " +
	    log_gen(w, 3, fresh) + " status_source=reap").c_str());
	int pidfd = child_count_lines(&w, log_msg("process exited", "exit_code=0 " +
	    log_gen(w, 3, fresh) + " status_source=pidfd").c_str());
	CHECK(reaped + pidfd == 1);
	CHECK(child_count_lines(&w, "msg=\"wrapper for process shutting down\" exit_code=0") == 1);

	/* Nothing of this prefix runs, nothing listens on the port. */
	CHECK(sc.live().empty());
	CHECK_FALSE(tcp_accepts(sc.port));
	CHECK(live_mentioning(sc.dir.path).empty());
}

/* The forking start and the USR2 upgrade followed, then sig to the
 * wrapper while both masters run. */
void
upgrade_then_stop(int sig, const char *name, int num)
{
	nginx_prefix sc;
	INFO(sc.dump());

	pid_t master = start_followed(sc);
	pid_t fresh = usr2_followed(sc, master);
	stop_both(sc, master, fresh, sig, name, num);
}

}  // namespace

TEST_CASE("nginx: forking start followed, USR2 binary upgrade followed, QUIT stops both masters")
{
	upgrade_then_stop(SIGQUIT, "SIGQUIT", 3);
}

TEST_CASE("nginx: TERM during the upgrade window, both masters alive, stops both")
{
	upgrade_then_stop(SIGTERM, "SIGTERM", 15);
}

TEST_CASE("nginx: QUIT while the new binary is still starting also stops the new master")
{
	nginx_prefix sc;
	INFO(sc.dump());
	/* nginx itself, except that an upgraded binary (started by USR2;
	 * NGINX names the sockets it inherits) first waits for a line on a
	 * FIFO, the gate: a new binary slow to start, as on a loaded host,
	 * made deterministic.  The shim keeps argv[0], which nginx executes
	 * on USR2, and the name pidsitter expects (comm: nginx).  It is perl
	 * because it must leave signals alone: a signal sent to the new
	 * binary before it runs stays pending (nginx's master blocks them,
	 * and the mask is inherited) until nginx has its handlers, whereas
	 * bash sets SIGQUIT to SIG_IGN at start-up, which discards a pending
	 * QUIT (POSIX; Linux does it). */
	std::string gate = sc.dir / "gate";
	REQUIRE(mkfifo(gate.c_str(), 0600) == 0);
	sc.binary = sc.dir / "nginx";
	write_file(sc.binary,
	    "#!/usr/bin/perl\n"
	    "if (defined $ENV{NGINX}) { open(my $g, '<', '" + gate + "') or die; <$g>; }\n"
	    "exec { '/usr/sbin/nginx' } $0, @ARGV;\n"
	    "die \"exec: $!\";\n", 0755);

	pid_t master = start_followed(sc);
	child &w = *sc.w;

	/* USR2: the old master renames its pid file and starts the new
	 * binary, which waits at the gate: no pid file names it yet. */
	send_signal(w.pid, SIGUSR2);
	const char started[] = "start new binary process ";
	REQUIRE(wait_until([&] {
		return read_file(sc.errlog).find(started) != std::string::npos;
	}, DEADLINE_MS));
	std::string errlog = read_file(sc.errlog);
	pid_t fresh = (pid_t)atoi(errlog.c_str() + errlog.find(started) + strlen(started));
	REQUIRE(fresh > 0);
	sc.met(fresh);
	REQUIRE(wait_until([&] { return access(sc.oldbin.c_str(), F_OK) == 0; }, DEADLINE_MS));
	CHECK(access(sc.pidfile.c_str(), F_OK) != 0);

	/* QUIT now: it reaches the old master, which exits; the new one is
	 * re-parented to the wrapper (the subreaper) and still starting. */
	send_signal(w.pid, SIGQUIT);
	REQUIRE(sc.line("process exited", "exit_code=0 " + log_gen(w, 2, master)));
	CHECK(pid_alive(fresh));

	/* The new master now writes the pid file and serves.  A stop was
	 * asked for: the wrapper must not leave it running unsupervised, as
	 * gitaly-wrapper does (a generation that appears after a stop
	 * signal receives it too: pidsitter(8), SIGNALS).  It must follow
	 * it, pass QUIT on, and exit when it is gone. */
	struct fd_guard {
		int fd;
		~fd_guard() { if (fd >= 0) close(fd); }
	} open_gate = {open(gate.c_str(), O_RDWR | O_CLOEXEC)};
	/* Held open until the end: a FIFO's data lives only while it is. */
	REQUIRE(open_gate.fd >= 0);
	REQUIRE(write(open_gate.fd, "go\n", 3) == 3);
	REQUIRE(child_wait_exit(&w, DEADLINE_MS));
	CHECK(child_code(&w) == 0);
	CHECK(wait_until([&] { return !pinned_alive(sc.seen.back()); }, DEADLINE_MS));
	CHECK(sc.got(fresh, 3, "SIGQUIT"));
	CHECK(sc.live().empty());
	CHECK_FALSE(tcp_accepts(sc.port));
	CHECK(live_mentioning(sc.dir.path).empty());
}

TEST_CASE("nginx (examples/nginx.toml): the master SIGKILLed, its workers are never taken for it: stopped, and the wrapper exits 137")
{
	nginx_prefix sc;
	/* As root, nginx's workers would run as nobody, whom the owner rule
	 * refuses anyway: make them the wrapper's user, as for an nginx run
	 * by an unprivileged user. */
	sc.workers_as_wrapper_user = true;
	INFO(sc.dump());
	pid_t master = start_followed(sc, {"-c", "examples/nginx.toml"}, clean_env);
	child &w = *sc.w;
	std::vector<pid_t> ws = children_of({master});
	REQUIRE(ws.size() == 1);
	uid_t uid;
	REQUIRE(proc_read_uid(ws[0], &uid) == 0);
	REQUIRE(uid == geteuid());

	/* The master crashes; its workers are re-parented to the wrapper
	 * (the subreaper), comm "nginx", the same user. */
	send_signal(master, SIGKILL);
	REQUIRE(sc.line("process exited", log_gen(w, 2, master) +
	    " signal=SIGKILL status_source=reap"));
	/* sv hup now must not send a worker USR2: there is no master. */
	send_signal(w.pid, SIGHUP);
	REQUIRE(child_wait_exit(&w, DEADLINE_MS));
	CHECK(child_code(&w) == 137);
	CHECK(child_count_lines(&w, log_msg("wrapper for process shutting down",
	    "exit_code=137").c_str()) == 1);
	for (pid_t pid : ws) {
		std::string p = "process=" + std::to_string(pid) + " ";
		CAPTURE(p);
		CHECK_FALSE(has_line(w.out, {"msg=\"process is current\"", p}));
		CHECK_FALSE(has_line(w.out, {"role=current", p}));
		CHECK_FALSE(has_line(w.out, {"signal=SIGUSR2", p}));
		/* Not left to serve unsupervised, holding the port the next
		 * start needs: stopped the way TERM is rewritten, gracefully. */
		CHECK(has_line(w.out, {"msg=\"forwarding signal\"", p, "signal=SIGQUIT"}));
	}
	CHECK(child_count_lines(&w, "signal=SIGUSR2") == 0);
	CHECK(wait_until([&] { return sc.live().empty(); }, DEADLINE_MS));
	CHECK_FALSE(tcp_accepts(sc.port));
}
