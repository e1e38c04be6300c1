/*
 * nginx_recipe_test.cc: upgrade_recipe = "nginx" and upgrade_signal
 * (pidsitter.toml(5)) against REAL nginx from Debian (/usr/sbin/nginx) on
 * a loopback port with a temporary prefix.  nginx_test.cc has the forking
 * start and the USR2 upgrade an operator drives by hand; here the wrapper
 * drives it:
 *
 *   HUP (sv hup) -> USR2 to the master, which renames the pid file to
 *   <pidfile>.oldbin and starts the new binary (argv[0]); the new master
 *   writes the pid file -> the wrapper follows it and sends the old master
 *   QUIT -> the old master drains and exits, the new one serves.
 *
 * nginx is started through a link called nginx in the test's directory,
 * so that its argv[0], which it re-executes on USR2, can be pointed at a
 * binary that fails: the timeout path.
 */
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include "harness.h"
#include "nginx_fixture.h"

namespace {

const int DEADLINE_MS = NGINX_DEADLINE_MS;

/* Start nginx through a link called nginx in the prefix, with a
 * configuration file, and wait until the wrapper follows the master
 * (generation 2, after the start process) and the master runs its worker.
 * Returns the master. */
pid_t
start(nginx_prefix &sc, const std::string &config)
{
	sc.binary = sc.dir / "nginx";
	sc.point_binary_at(NGINX);
	pid_t master = sc.start({"-c", config}, clean_env);
	CHECK(child_count_lines(sc.w.get(), log_msg("following new process",
	    log_gen(*sc.w, 2, master)).c_str()) == 1);
	REQUIRE(wait_until([&] { return children_of({master}).size() == 1; }, DEADLINE_MS));
	/* nginx ignores USR2 while the process that started it still runs
	 * ("the changing binary signal is ignored": its parent is still the
	 * one it had at start, src/os/unix/ngx_process.c): a HUP before the
	 * start process is gone would upgrade nothing. */
	REQUIRE(sc.line("process exited", "exit_code=0 generation=1 pid=" +
	    std::to_string(sc.w->pid)));
	return master;
}

/* The wrapper stopped with sig: the one master left gets what nginx must
 * get (QUIT: graceful), and nothing of the prefix is left. */
void
stop_all(nginx_prefix &sc, pid_t master, unsigned gen, int sig, const char *received)
{
	child &w = *sc.w;

	send_signal(w.pid, sig);
	REQUIRE(child_wait_exit(&w, DEADLINE_MS));
	CHECK(child_code(&w) == 0);
	CHECK(child_count_lines(&w, log_msg("forwarding signal", log_gen(w, gen, master) +
	    received + " signal=SIGQUIT").c_str()) == 1);
	CHECK(sc.got(master, 3, "SIGQUIT"));
	CHECK(child_count_lines(&w, log_msg("process exited", "exit_code=0 " +
	    log_gen(w, gen, master)).c_str()) == 1);
	CHECK(wait_until([&] { return sc.live().empty(); }, DEADLINE_MS));
	CHECK_FALSE(tcp_accepts(sc.port));
}

}  // namespace

TEST_CASE("nginx recipe (examples/nginx.toml): HUP upgrades the binary, the old master is QUIT, TERM stops gracefully")
{
	nginx_prefix sc;
	INFO(sc.dump());
	pid_t master = start(sc, "examples/nginx.toml");
	child &w = *sc.w;
	CHECK(sc.serves());

	/* sv hup: USR2 to the master, and only to it. */
	send_signal(w.pid, SIGHUP);
	REQUIRE(sc.line("forwarding signal", log_gen(w, 2, master) +
	    " received=SIGHUP signal=SIGUSR2"));
	REQUIRE(sc.line("upgrade started", log_gen(w, 2, master)));
	pid_t fresh = sc.followed(3);
	CHECK(child_count_lines(&w, log_msg("following new process", log_gen(w, 3, fresh) +
	    " role=current source=pid_file").c_str()) == 1);
	REQUIRE(sc.line("upgrade complete", log_gen(w, 3, fresh)));
	/* The old master: QUIT, from the wrapper, and it drains and exits;
	 * the wrapper stays, with the new master current. */
	REQUIRE(sc.line("forwarding signal", log_gen(w, 2, master) + " signal=SIGQUIT"));
	REQUIRE(sc.line("process exited", "exit_code=0 " + log_gen(w, 2, master)));
	CHECK(sc.got(master, 12, "SIGUSR2"));
	CHECK(sc.got(master, 3, "SIGQUIT"));
	CHECK_FALSE(sc.got(fresh, 3, "SIGQUIT"));
	CHECK(read_pid(sc.pidfile) == fresh);
	CHECK(wait_until([&] { return access(sc.oldbin.c_str(), F_OK) != 0; }, DEADLINE_MS));
	CHECK(sc.serves());
	CHECK_FALSE(w.exited);
	CHECK(child_count_lines(&w, "signal=SIGUSR2") == 1);
	/* Its workers are gone with it; the new master and its worker
	 * remain. */
	CHECK(wait_until([&] {
		return sc.live() == std::vector<pid_t>{fresh} && children_of({fresh}).size() == 1;
	}, DEADLINE_MS));

	/* WINCH is ignored (nginx would stop its workers). */
	send_signal(w.pid, SIGWINCH);
	REQUIRE(sc.line("signal not forwarded", "pid=" + std::to_string(w.pid) +
	    " reason=\"ignored by the configuration\" signal=SIGWINCH"));
	CHECK(sc.serves());

	/* sv down: TERM, sent as QUIT. */
	stop_all(sc, fresh, 3, SIGTERM, " received=SIGTERM");
}

TEST_CASE("nginx recipe with upgrade_signal = USR2: HUP reloads; a new binary that cannot start times out; the next upgrade works")
{
	nginx_prefix sc;
	INFO(sc.dump());
	std::string toml = sc.dir / "pidsitter.toml", status = sc.dir / "status.json";
	write_file(toml,
	    "names = [\"nginx\"]\n"
	    "match = [\"comm\"]\n"
	    "env = {}\n"
	    "upgrade_recipe = \"nginx\"\n"
	    "upgrade_signal = \"USR2\"\n"
	    "upgrade_timeout = \"2s\"\n"
	    "status_file = \"" + status + "\"\n");
	pid_t master = start(sc, toml);
	child &w = *sc.w;
	std::string cur2 = "\"current\":{\"pid\":" + std::to_string(master) + ",\"generation\":2,\"since\":";

	/* HUP is no upgrade now: the master gets it as it is, and reloads. */
	send_signal(w.pid, SIGHUP);
	REQUIRE(sc.line("forwarding signal", log_gen(w, 2, master) + " signal=SIGHUP"));
	REQUIRE(wait_until([&] { return read_file(sc.errlog).find("reconfiguring") !=
	    std::string::npos; }, DEADLINE_MS));
	CHECK(child_count_lines(&w, "msg=\"upgrade started\"") == 0);
	CHECK(sc.serves());

	/* USR2 with a new binary that exits 1 at once: nginx gives its pid
	 * file back to the old master.  The wrapper knows at once if it saw
	 * .oldbin meanwhile, else it gives up after 2 s. */
	sc.point_binary_at("/bin/false");
	send_signal(w.pid, SIGUSR2);
	REQUIRE(sc.line("forwarding signal", log_gen(w, 2, master) + " signal=SIGUSR2"));
	REQUIRE(sc.line("upgrade started", log_gen(w, 2, master)));
	REQUIRE(wait_until([&] { return read_file(sc.errlog).find("exited with code 1") !=
	    std::string::npos; }, DEADLINE_MS));
	REQUIRE(sc.line("upgrade failed; the current process stays", log_gen(w, 2, master)));
	std::string why = child_find_line(&w, "msg=\"upgrade failed");
	CHECK((why.find(" reason=\"no new process wrote the pid file within upgrade_timeout\"") !=
	    std::string::npos || why.find(" reason=\"the new master exited; the old one took its "
	    "pid file back\"") != std::string::npos));
	CHECK(child_find_line(&w, "msg=\"upgrade failed").find("level=warning") != std::string::npos);
	REQUIRE(wait_until([&] { return read_pid(sc.pidfile) == master; }, DEADLINE_MS));
	REQUIRE(wait_until([&] {
		std::string s = read_file(status);
		return s.find("\"last_upgrade\":{\"result\":\"failed\"") != std::string::npos &&
		    s.find(cur2) != std::string::npos && s.find("\"state\":\"running\"") != std::string::npos;
	}, DEADLINE_MS));
	CHECK_FALSE(sc.got(master, 3, "SIGQUIT"));
	CHECK(child_count_lines(&w, "msg=\"following new process\" generation=3") == 0);
	CHECK(pid_alive(master));
	CHECK(sc.serves());

	/* The binary is back: the next USR2 upgrades. */
	sc.point_binary_at(NGINX);
	send_signal(w.pid, SIGUSR2);
	pid_t fresh = sc.followed(3);
	REQUIRE(sc.line("upgrade complete", log_gen(w, 3, fresh)));
	REQUIRE(sc.line("process exited", "exit_code=0 " + log_gen(w, 2, master)));
	CHECK(sc.got(master, 3, "SIGQUIT"));
	REQUIRE(wait_until([&] {
		std::string s = read_file(status);
		return s.find("\"last_upgrade\":{\"result\":\"complete\"") != std::string::npos &&
		    s.find("\"current\":{\"pid\":" + std::to_string(fresh) + ",\"generation\":3,\"since\":") !=
		    std::string::npos && s.find("\"draining\":[]") != std::string::npos;
	}, DEADLINE_MS));
	CHECK(sc.serves());

	/* QUIT: forwarded as it is. */
	stop_all(sc, fresh, 3, SIGQUIT, "");
}
