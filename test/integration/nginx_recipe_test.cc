/*
 * nginx_recipe_test.cc: upgrade_recipe = "nginx" and upgrade_signal
 * (pidsitter.toml(5)) against REAL nginx from Debian (/usr/sbin/nginx) on
 * a loopback port with a temporary prefix (issue 4: "Test the nginx recipe
 * against real nginx").  nginx_test.cc has the forking start and the USR2
 * upgrade an operator drives by hand; here the wrapper drives it:
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
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <memory>

#include <doctest/doctest.h>

#include "harness.h"
#include "proc.h"

namespace {

const int DEADLINE_MS = 20000;

/* The live children of any of parents. */
std::vector<pid_t>
children_of(const std::vector<pid_t> &parents)
{
	std::vector<pid_t> out;
	DIR *d = opendir("/proc");
	struct dirent *e;

	if (d == NULL)
		return out;
	while ((e = readdir(d)) != NULL) {
		struct proc_stat st;
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end != '\0' || pid <= 0)
			continue;
		if (proc_read_stat((pid_t)pid, &st) == 0 && st.state != 'Z' && st.state != 'X' &&
		    std::find(parents.begin(), parents.end(), st.ppid) != parents.end())
			out.push_back((pid_t)pid);
	}
	closedir(d);
	return out;
}

/* A prefix with nginx.conf, the pid file, the error log, the status file
 * and a link nginx -> /usr/sbin/nginx; the wrapper that runs it with a
 * configuration file.  On the way out it kills every nginx process of the
 * prefix (masters name the link in their title; workers are children). */
struct ngx {
	tmp_dir dir;
	std::string conf, pidfile, oldbin, errlog, binary, toml, status;
	int port = 0;
	std::vector<pinned> seen;
	std::unique_ptr<proc> w;

	ngx()
	{
		conf = dir / "nginx.conf";
		pidfile = dir / "nginx.pid";
		oldbin = pidfile + ".oldbin";
		errlog = dir / "error.log";
		binary = dir / "nginx";
		toml = dir / "pidsitter.toml";
		status = dir / "status.json";
		point_binary_at("/usr/sbin/nginx");
	}

	~ngx()
	{
		w.reset();
		std::vector<pid_t> all = live();
		for (pid_t pid : children_of(all))
			all.push_back(pid);
		for (pid_t pid : all)
			kill(pid, SIGKILL);
	}

	/* Replace the link atomically: the next USR2 executes target. */
	void point_binary_at(const char *target)
	{
		std::string tmp = binary + ".tmp";
		unlink(tmp.c_str());
		REQUIRE(symlink(target, tmp.c_str()) == 0);
		REQUIRE(rename(tmp.c_str(), binary.c_str()) == 0);
	}

	void write_conf()
	{
		std::string d = dir.path;
		write_file(conf,
		    "daemon on;\n"
		    "master_process on;\n"
		    "worker_processes 1;\n"
		    "pid " + pidfile + ";\n"
		    "error_log " + errlog + " info;\n"
		    "events {}\n"
		    "http {\n"
		    "    access_log off;\n"
		    "    client_body_temp_path " + d + "/client_body;\n"
		    "    proxy_temp_path " + d + "/proxy;\n"
		    "    fastcgi_temp_path " + d + "/fastcgi;\n"
		    "    uwsgi_temp_path " + d + "/uwsgi;\n"
		    "    scgi_temp_path " + d + "/scgi;\n"
		    "    server {\n"
		    "        listen 127.0.0.1:" + std::to_string(port) + ";\n"
		    "        location / { return 200 \"ok\\n\"; }\n"
		    "    }\n"
		    "}\n");
	}

	/* pidsitter -c FILE -p PIDFILE -- PREFIX/nginx -p PREFIX/ -e LOG -c CONF */
	std::vector<std::string> wrapper(const std::string &config) const
	{
		return {build_path("pidsitter"), "-c", config, "-p", pidfile, "--", binary,
		    "-p", dir.path + "/", "-e", errlog, "-c", conf};
	}

	/* Start and wait until the wrapper follows the master (generation
	 * 2, after the start process); another test may take the port
	 * between free_port() and nginx's bind: then try another.  Returns
	 * the master. */
	pid_t start(const std::string &config)
	{
		for (int attempt = 0; attempt < 5; attempt++) {
			port = free_port();
			write_conf();
			write_file(errlog, "");
			w.reset(new proc());
			proc_start(w.get(), wrapper(config), {"GITALY_PID_FILE",
			    "WRAPPER_JSON_LOGGING", "PIDSITTER_CONFIG"});
			std::string gen2 = "msg=\"following new process\" generation=2 pid=" +
			    std::to_string(w->pid) + " ";
			if (proc_wait_line(w.get(), gen2.c_str(), DEADLINE_MS))
				break;
			REQUIRE(proc_wait_exit(w.get(), DEADLINE_MS));
			REQUIRE(read_file(errlog).find("Address already in use") != std::string::npos);
		}
		REQUIRE_FALSE(w->exited);
		pid_t master = 0;
		REQUIRE(wait_until([&] { return (master = read_pid(pidfile)) > 0; }, DEADLINE_MS));
		met(master);
		CHECK(proc_count_lines(w.get(), ("msg=\"following new process\" " +
		    at(2, master)).c_str()) == 1);
		REQUIRE(wait_until([&] { return children_of({master}).size() == 1; }, DEADLINE_MS));
		return master;
	}

	void met(pid_t pid)
	{
		seen.push_back(pin(pid));
	}

	std::string at(unsigned gen, pid_t pid) const
	{
		return "generation=" + std::to_string(gen) + " pid=" + std::to_string(w->pid) +
		    " process=" + std::to_string(pid);
	}

	bool line(const std::string &msg, const std::string &rest) const
	{
		return proc_wait_line(w.get(), ("msg=\"" + msg + "\" " + rest).c_str(), DEADLINE_MS);
	}

	/* nginx's answer to GET /: 200 and "ok\n". */
	bool serves() const
	{
		std::string r = tcp_exchange(port, "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n",
		    DEADLINE_MS);
		CAPTURE(r);
		return r.compare(0, 13, "HTTP/1.1 200 ") == 0 && r.size() > 7 &&
		    r.compare(r.size() - 7, 7, "\r\n\r\nok\n") == 0;
	}

	/* nginx logged that master got sig (its number and name) from us. */
	bool got(pid_t master, int num, const char *name) const
	{
		return read_file(errlog).find(std::to_string(master) + "#" + std::to_string(master) +
		    ": signal " + std::to_string(num) + " (" + name + ") received from " +
		    std::to_string(w->pid)) != std::string::npos;
	}

	/* Every nginx process of this prefix the test met, or that runs. */
	std::vector<pid_t> live() const
	{
		std::vector<pid_t> out;
		for (const pinned &p : seen)
			if (pinned_alive(p))
				out.push_back(p.pid);
		for (pid_t pid : live_mentioning(dir.path))
			if ((w == nullptr || pid != w->pid) &&
			    std::find(out.begin(), out.end(), pid) == out.end())
				out.push_back(pid);
		return out;
	}

	std::string dump() const
	{
		std::string s = w != nullptr ? proc_dump(w.get()) : "no wrapper\n";
		return s + "error.log:\n" + read_file(errlog);
	}
};

/* The wrapper stopped with sig: the one master left gets what nginx must
 * get (QUIT: graceful), and nothing of the prefix is left. */
void
stop_all(ngx &sc, pid_t master, unsigned gen, int sig, const char *received)
{
	proc &w = *sc.w;

	send_signal(w.pid, sig);
	REQUIRE(proc_wait_exit(&w, DEADLINE_MS));
	CHECK(proc_code(&w) == 0);
	CHECK(proc_count_lines(&w, ("msg=\"forwarding signal\" " + sc.at(gen, master) +
	    received + " signal=SIGQUIT").c_str()) == 1);
	CHECK(sc.got(master, 3, "SIGQUIT"));
	CHECK(proc_count_lines(&w, ("msg=\"process exited\" exit_code=0 " +
	    sc.at(gen, master)).c_str()) == 1);
	CHECK(wait_until([&] { return sc.live().empty(); }, DEADLINE_MS));
	CHECK_FALSE(tcp_accepts(sc.port));
}

}  // namespace

TEST_CASE("nginx recipe (examples/nginx.toml): HUP upgrades the binary, the old master is QUIT, TERM stops gracefully")
{
	ngx sc;
	INFO(sc.dump());
	pid_t master = sc.start("examples/nginx.toml");
	proc &w = *sc.w;
	CHECK(sc.serves());

	/* sv hup: USR2 to the master, and only to it. */
	send_signal(w.pid, SIGHUP);
	REQUIRE(sc.line("forwarding signal", sc.at(2, master) + " received=SIGHUP signal=SIGUSR2"));
	REQUIRE(sc.line("upgrade started", sc.at(2, master)));
	REQUIRE(sc.line("following new process", "generation=3 pid=" + std::to_string(w.pid) + " "));
	pid_t fresh = (pid_t)log_field(proc_find_line(&w, "msg=\"following new process\" generation=3"),
	    "process");
	REQUIRE(fresh > 0);
	sc.met(fresh);
	CHECK(proc_count_lines(&w, ("msg=\"following new process\" " + sc.at(3, fresh) +
	    " role=current source=pid_file").c_str()) == 1);
	REQUIRE(sc.line("upgrade complete", sc.at(3, fresh)));
	/* The old master: QUIT, from the wrapper, and it drains and exits;
	 * the wrapper stays, with the new master current. */
	REQUIRE(sc.line("forwarding signal", sc.at(2, master) + " signal=SIGQUIT"));
	REQUIRE(sc.line("process exited", "exit_code=0 " + sc.at(2, master)));
	CHECK(sc.got(master, 12, "SIGUSR2"));
	CHECK(sc.got(master, 3, "SIGQUIT"));
	CHECK_FALSE(sc.got(fresh, 3, "SIGQUIT"));
	CHECK(read_pid(sc.pidfile) == fresh);
	CHECK(wait_until([&] { return access(sc.oldbin.c_str(), F_OK) != 0; }, DEADLINE_MS));
	CHECK(sc.serves());
	CHECK_FALSE(w.exited);
	CHECK(proc_count_lines(&w, "signal=SIGUSR2") == 1);
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
	ngx sc;
	INFO(sc.dump());
	write_file(sc.toml,
	    "names = [\"nginx\"]\n"
	    "match = [\"comm\"]\n"
	    "env = {}\n"
	    "upgrade_recipe = \"nginx\"\n"
	    "upgrade_signal = \"USR2\"\n"
	    "upgrade_timeout = \"2s\"\n"
	    "status_file = \"" + sc.status + "\"\n");
	pid_t master = sc.start(sc.toml);
	proc &w = *sc.w;
	std::string cur2 = "\"current\":{\"pid\":" + std::to_string(master) + ",\"generation\":2}";

	/* HUP is no upgrade now: the master gets it as it is, and reloads. */
	send_signal(w.pid, SIGHUP);
	REQUIRE(sc.line("forwarding signal", sc.at(2, master) + " signal=SIGHUP"));
	REQUIRE(wait_until([&] { return read_file(sc.errlog).find("reconfiguring") !=
	    std::string::npos; }, DEADLINE_MS));
	CHECK(proc_count_lines(&w, "msg=\"upgrade started\"") == 0);
	CHECK(sc.serves());

	/* USR2 with a new binary that exits 1 at once: nginx gives its pid
	 * file back to the old master; the wrapper gives up after 2 s. */
	sc.point_binary_at("/bin/false");
	send_signal(w.pid, SIGUSR2);
	REQUIRE(sc.line("forwarding signal", sc.at(2, master) + " signal=SIGUSR2"));
	REQUIRE(sc.line("upgrade started", sc.at(2, master)));
	REQUIRE(wait_until([&] { return read_file(sc.errlog).find("exited with code 1") !=
	    std::string::npos; }, DEADLINE_MS));
	REQUIRE(sc.line("upgrade failed; the current process stays", sc.at(2, master) +
	    " reason=\"no new process wrote the pid file within upgrade_timeout\""));
	CHECK(proc_find_line(&w, "msg=\"upgrade failed").find("level=warning") != std::string::npos);
	REQUIRE(wait_until([&] { return read_pid(sc.pidfile) == master; }, DEADLINE_MS));
	REQUIRE(wait_until([&] {
		std::string s = read_file(sc.status);
		return s.find("\"last_upgrade\":{\"result\":\"failed\"") != std::string::npos &&
		    s.find(cur2) != std::string::npos && s.find("\"state\":\"running\"") != std::string::npos;
	}, DEADLINE_MS));
	CHECK_FALSE(sc.got(master, 3, "SIGQUIT"));
	CHECK(proc_count_lines(&w, "msg=\"following new process\" generation=3") == 0);
	CHECK(pid_alive(master));
	CHECK(sc.serves());

	/* The binary is back: the next USR2 upgrades. */
	sc.point_binary_at("/usr/sbin/nginx");
	send_signal(w.pid, SIGUSR2);
	REQUIRE(sc.line("following new process", "generation=3 pid=" + std::to_string(w.pid) + " "));
	pid_t fresh = (pid_t)log_field(proc_find_line(&w, "msg=\"following new process\" generation=3"),
	    "process");
	REQUIRE(fresh > 0);
	sc.met(fresh);
	REQUIRE(sc.line("upgrade complete", sc.at(3, fresh)));
	REQUIRE(sc.line("process exited", "exit_code=0 " + sc.at(2, master)));
	CHECK(sc.got(master, 3, "SIGQUIT"));
	REQUIRE(wait_until([&] {
		std::string s = read_file(sc.status);
		return s.find("\"last_upgrade\":{\"result\":\"complete\"") != std::string::npos &&
		    s.find("\"current\":{\"pid\":" + std::to_string(fresh) + ",\"generation\":3}") !=
		    std::string::npos && s.find("\"draining\":[]") != std::string::npos;
	}, DEADLINE_MS));
	CHECK(sc.serves());

	/* QUIT: forwarded as it is. */
	stop_all(sc, fresh, 3, SIGQUIT, "");
}
