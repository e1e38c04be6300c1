/*
 * nginx_test.cc: the built pidsitter against REAL nginx from Debian
 * (/usr/sbin/nginx), on a loopback port with a temporary prefix (issue 3,
 * "Real peers in the tests").
 *
 * What nginx does (REFERENCE.md §2, "other styles"):
 * - With "daemon on" the start process forks the master and exits 0; the
 *   master, re-parented to pidsitter (a child subreaper), writes the pid
 *   file.  Which pidsitter sees first, the start process's exit or the pid
 *   file, is a race: both orders are correct and both are checked.
 * - USR2 to the master: it renames the pid file to <pidfile>.oldbin and
 *   fork+execs argv[0] (hence the absolute path) as its own child, with
 *   the listening sockets; the new master writes the pid file.  Both
 *   masters and their workers serve until the operator stops the old one.
 * - QUIT: graceful stop; TERM: fast stop.  Both exit 0.
 *
 * nginx rewrites its command line: the master shows "nginx: master process
 * /usr/sbin/nginx -p <prefix> ...", a worker "nginx: worker process" only,
 * so workers are found as the masters' children.  As root, workers run as
 * nobody (the compiled-in default user).
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>

#include <doctest/doctest.h>

#include "harness.h"
#include "proc.h"

namespace {

const int DEADLINE_MS = 20000;
const char NGINX[] = "/usr/sbin/nginx";

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

/* A prefix directory with nginx.conf, the pid file, the logs and nginx's
 * temporary directories in it, and the wrapper that runs nginx there.  On
 * the way out (a failed REQUIRE included) it kills every nginx process of
 * this prefix, masters and workers, before the directory is removed. */
struct ngx_scene {
	tmp_dir dir;
	std::string conf, pidfile, oldbin, errlog;
	std::string binary = NGINX;    /* what pidsitter spawns */
	int port = 0;
	std::vector<pinned> seen;      /* every nginx process the test met */
	std::unique_ptr<proc> w;       /* destroyed first: the wrapper */

	ngx_scene()
	{
		conf = dir / "nginx.conf";
		pidfile = dir / "nginx.pid";
		oldbin = pidfile + ".oldbin";
		errlog = dir / "error.log";
	}

	~ngx_scene()
	{
		w.reset();
		/* Masters name the prefix in their command line; workers are
		 * their children.  Collect all first: a worker whose master is
		 * gone is nobody's to find. */
		std::vector<pid_t> all = live_nginx();
		for (pid_t pid : children_of(all))
			all.push_back(pid);
		for (pid_t pid : all)
			kill(pid, SIGKILL);
	}

	void met(pid_t pid)
	{
		seen.push_back(pin(pid));
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

	/* pidsitter -p PIDFILE -- /usr/sbin/nginx -p PREFIX -e LOG -c CONF
	 * (-e: nginx opens its compiled-in error log before it reads the
	 * configuration; keep even that inside the prefix). */
	std::vector<std::string> wrapper() const
	{
		return {build_path("pidsitter"), "-p", pidfile, "--", binary,
		    "-p", dir.path + "/", "-e", errlog, "-c", conf};
	}

	/* Start the wrapper, which spawns nginx, and wait until it follows
	 * the master.  Another test may take our port between free_port()
	 * and nginx's bind: then nginx fails to start, and we try again on
	 * another one.  Returns the master's pid. */
	pid_t start()
	{
		for (int attempt = 0; attempt < 5; attempt++) {
			port = free_port();
			write_conf();
			write_file(errlog, "");
			w.reset(new proc());
			proc_start(w.get(), wrapper());
			std::string gen2 = "msg=\"following new process\" generation=2 pid=" +
			    std::to_string(w->pid) + " ";
			if (proc_wait_line(w.get(), gen2.c_str(), DEADLINE_MS))
				break;
			REQUIRE(proc_wait_exit(w.get(), DEADLINE_MS));
			REQUIRE(read_file(errlog).find("Address already in use") != std::string::npos);
		}
		REQUIRE(w->pid > 0);
		REQUIRE_FALSE(w->exited);
		/* The wrapper may follow the master before it wrote the pid
		 * file (start_followed() says how). */
		pid_t master = 0;
		REQUIRE(wait_until([&] { return (master = read_pid(pidfile)) > 0; }, DEADLINE_MS));
		met(master);
		return master;
	}

	std::string http_get() const
	{
		return tcp_exchange(port, "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n", DEADLINE_MS);
	}

	/* The master's workers, once it has started them (after it wrote
	 * the pid file). */
	std::vector<pid_t> workers(pid_t master)
	{
		std::vector<pid_t> out;
		CHECK(wait_until([&] { return (out = children_of({master})).size() == 1; },
		    DEADLINE_MS));
		for (pid_t pid : out)
			met(pid);
		return out;
	}

	/* For failure messages: what the wrapper and nginx said, and which
	 * nginx processes run. */
	std::string dump() const
	{
		std::string s = w != nullptr ? proc_dump(w.get()) : "no wrapper\n";
		s += "error.log:\n" + read_file(errlog) + "live:";
		for (pid_t pid : live_nginx())
			s += " " + std::to_string(pid);
		return s;
	}

	/* Every nginx process of this prefix the test met, or that runs
	 * (a master's command line names the prefix; so does the wrapper's). */
	std::vector<pid_t> live_nginx() const
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
};

/* nginx's answer to GET /: 200 and the body "ok\n". */
bool
http_ok(const std::string &reply)
{
	CAPTURE(reply);
	return reply.compare(0, 13, "HTTP/1.1 200 ") == 0 && reply.size() > 7 &&
	    reply.compare(reply.size() - 7, 7, "\r\n\r\nok\n") == 0;
}

std::string
wline(const char *msg, const std::string &rest)
{
	return std::string("msg=\"") + msg + "\" " + rest;
}

std::string
at(const proc &w, unsigned gen, pid_t pid)
{
	return "generation=" + std::to_string(gen) + " pid=" + std::to_string(w.pid) +
	    " process=" + std::to_string(pid);
}

/* Position of the first stdout line holding needle, or npos. */
size_t
line_pos(const proc &w, const std::string &needle)
{
	std::string line = proc_find_line(&w, needle.c_str());
	return line.empty() ? std::string::npos : w.out.find(line);
}

/* Start: the forking start followed, the master serving.  Returns the
 * master's pid. */
pid_t
start_followed(ngx_scene &sc)
{
	pid_t master = sc.start();
	proc &w = *sc.w;

	/* Generation 1 is the start process: it exits 0 (our own child). */
	std::string mon = proc_find_line(&w, "msg=\"monitoring process\" generation=1 ");
	REQUIRE_FALSE(mon.empty());
	pid_t starter = (pid_t)log_field(mon, "process");
	REQUIRE(starter > 0);
	CHECK(starter != master);
	std::string gone = wline("process exited", "exit_code=0 " + at(w, 1, starter) +
	    " status_source=child");
	REQUIRE(proc_wait_line(&w, gone.c_str(), DEADLINE_MS));

	/* Generation 2 is the master, current, found one of three ways,
	 * depending on what the wrapper saw first:
	 * - the pid file, while the start process still ran: followed from
	 *   the pid file, current at once; the start process drains;
	 * - the start process's exit, the pid file not yet written, and the
	 *   master (re-parented to us) already gone or not recognised: the
	 *   wrapper says it waits for the pid file, then follows it;
	 * - the start process's exit, and the master, re-parented to us,
	 *   recognised among our children: followed as our child (draining
	 *   while the start process was current), then current. */
	std::string follow = wline("following new process", at(w, 2, master) + " ");
	REQUIRE(proc_count_lines(&w, follow.c_str()) == 1);
	std::string how = proc_find_line(&w, follow.c_str());
	size_t waited = line_pos(w, "msg=\"start process exited; waiting for the daemon's pid file\"");
	if (how.find(" role=current source=pid_file ") != std::string::npos) {
		if (waited != std::string::npos)
			CHECK(waited < line_pos(w, follow));
		else
			CHECK(line_pos(w, follow) < line_pos(w, gone));
	} else {
		CHECK(how.find(" role=draining source=child ") != std::string::npos);
		CHECK(waited == std::string::npos);
		CHECK(line_pos(w, follow) < line_pos(w, gone));
		CHECK(proc_wait_line(&w, wline("process is current", at(w, 2, master)).c_str(),
		    DEADLINE_MS));
	}
	CHECK(proc_count_lines(&w, "msg=\"wrapper for process shutting down\"") == 0);

	/* The master was orphaned by the start process: ours now. */
	struct proc_stat st;
	REQUIRE(proc_read_stat(master, &st) == 0);
	CHECK(st.ppid == w.pid);
	sc.workers(master);
	CHECK(http_ok(sc.http_get()));
	CHECK(zombies_of(w.pid).empty());
	return master;
}

/* USR2 to the wrapper: nginx's binary upgrade, followed.  Returns the new
 * master's pid. */
pid_t
usr2_followed(ngx_scene &sc, pid_t master)
{
	proc &w = *sc.w;

	send_signal(w.pid, SIGUSR2);
	/* Forwarded to the current master only (not a stop signal). */
	REQUIRE(proc_wait_line(&w, wline("forwarding signal", at(w, 2, master) +
	    " signal=SIGUSR2").c_str(), DEADLINE_MS));
	std::string gen3 = wline("following new process", "generation=3 pid=" +
	    std::to_string(w.pid) + " ");
	REQUIRE(proc_wait_line(&w, gen3.c_str(), DEADLINE_MS));
	pid_t fresh = (pid_t)log_field(proc_find_line(&w, gen3.c_str()), "process");
	REQUIRE(fresh > 0);
	CHECK(fresh != master);
	sc.met(fresh);
	CHECK(proc_count_lines(&w, wline("following new process", at(w, 3, fresh) +
	    " role=current source=pid_file").c_str()) == 1);
	CHECK(proc_wait_line(&w, wline("process draining", at(w, 2, master)).c_str(),
	    DEADLINE_MS));
	CHECK(read_pid(sc.pidfile) == fresh);
	CHECK(read_pid(sc.oldbin) == master);
	CHECK(proc_count_lines(&w, "signal=SIGUSR2") == 1);

	/* Both masters serve; the new one is the old one's child. */
	CHECK(pid_alive(master));
	CHECK(pid_alive(fresh));
	struct proc_stat st;
	REQUIRE(proc_read_stat(fresh, &st) == 0);
	CHECK(st.ppid == master);
	sc.workers(fresh);
	CHECK(http_ok(sc.http_get()));
	CHECK(zombies_of(w.pid).empty());
	CHECK(read_file(sc.errlog).find(std::to_string(master) + "#" + std::to_string(master) +
	    ": signal 12 (SIGUSR2) received from " + std::to_string(w.pid)) != std::string::npos);
	return fresh;
}

/* Stop with sig (QUIT or TERM) sent to the wrapper while both masters
 * run: it reaches both, both exit 0, the wrapper exits 0. */
void
stop_both(ngx_scene &sc, pid_t master, pid_t fresh, int sig, const char *name, int num)
{
	proc &w = *sc.w;
	auto t0 = std::chrono::steady_clock::now();

	send_signal(w.pid, sig);
	REQUIRE(proc_wait_exit(&w, DEADLINE_MS));
	long long took = std::chrono::duration_cast<std::chrono::milliseconds>(
	    std::chrono::steady_clock::now() - t0).count();
	CAPTURE(took);
	CHECK(proc_code(&w) == 0);
	CHECK(proc_count_lines(&w, wline("forwarding signal", at(w, 2, master) +
	    " signal=" + name).c_str()) == 1);
	CHECK(proc_count_lines(&w, wline("forwarding signal", at(w, 3, fresh) +
	    " signal=" + name).c_str()) == 1);
	std::string errlog = read_file(sc.errlog);
	for (pid_t m : {master, fresh}) {
		CAPTURE(m);
		CHECK(errlog.find(std::to_string(m) + "#" + std::to_string(m) + ": signal " +
		    std::to_string(num) + " (" + name + ") received from " +
		    std::to_string(w.pid)) != std::string::npos);
	}

	/* The old master was orphaned by the start process: ours to reap.
	 * The new master is the old one's child: if it exits first, the old
	 * master reaps it (its SIGCHLD handler) and the kernel keeps the
	 * status for PIDFD_INFO_EXIT; if the old one exits first, the new one
	 * is re-parented to us and we reap it.  Both give the exact 0. */
	CHECK(proc_count_lines(&w, wline("process exited", "exit_code=0 " + at(w, 2, master) +
	    " status_source=reap").c_str()) == 1);
	int reaped = proc_count_lines(&w, wline("process exited", "exit_code=0 " +
	    at(w, 3, fresh) + " status_source=reap").c_str());
	int pidfd = proc_count_lines(&w, wline("process exited", "exit_code=0 " +
	    at(w, 3, fresh) + " status_source=pidfd").c_str());
	CHECK(reaped + pidfd == 1);
	CHECK(proc_count_lines(&w, "msg=\"wrapper for process shutting down\" exit_code=0") == 1);

	/* Nothing of this prefix runs, nothing listens on the port. */
	CHECK(sc.live_nginx().empty());
	CHECK_FALSE(tcp_accepts(sc.port));
	CHECK(live_mentioning(sc.dir.path).empty());
}

}  // namespace

TEST_CASE("nginx: forking start followed, USR2 binary upgrade followed, QUIT stops both masters")
{
	ngx_scene sc;
	INFO(sc.dump());

	pid_t master = start_followed(sc);
	pid_t fresh = usr2_followed(sc, master);
	stop_both(sc, master, fresh, SIGQUIT, "SIGQUIT", 3);
}

TEST_CASE("nginx: TERM during the upgrade window, both masters alive, stops both")
{
	ngx_scene sc;
	INFO(sc.dump());

	pid_t master = start_followed(sc);
	pid_t fresh = usr2_followed(sc, master);
	stop_both(sc, master, fresh, SIGTERM, "SIGTERM", 15);
}

TEST_CASE("nginx: QUIT while the new binary is still starting also stops the new master")
{
	ngx_scene sc;
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
	proc &w = *sc.w;

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
	REQUIRE(proc_wait_line(&w, wline("process exited", "exit_code=0 " + at(w, 2, master)).c_str(),
	    DEADLINE_MS));
	CHECK(pid_alive(fresh));

	/* The new master now writes the pid file and serves.  A stop was
	 * asked for: the wrapper must not leave it running unsupervised
	 * (issue 3, behaviour 8: a generation that appears after a stop
	 * signal receives it too; REFERENCE.md §1: the defect of today's
	 * wrapper).  It must follow it, pass QUIT on, and exit when it is
	 * gone. */
	struct fd_guard {
		int fd;
		~fd_guard() { if (fd >= 0) close(fd); }
	} open_gate = {open(gate.c_str(), O_RDWR | O_CLOEXEC)};
	/* Held open until the end: a FIFO's data lives only while it is. */
	REQUIRE(open_gate.fd >= 0);
	REQUIRE(write(open_gate.fd, "go\n", 3) == 3);
	REQUIRE(proc_wait_exit(&w, DEADLINE_MS));
	CHECK(proc_code(&w) == 0);
	CHECK(wait_until([&] { return !pinned_alive(sc.seen.back()); }, DEADLINE_MS));
	CHECK(read_file(sc.errlog).find(std::to_string(fresh) + "#" + std::to_string(fresh) +
	    ": signal 3 (SIGQUIT) received from " + std::to_string(w.pid)) != std::string::npos);
	CHECK(sc.live_nginx().empty());
	CHECK_FALSE(tcp_accepts(sc.port));
	CHECK(live_mentioning(sc.dir.path).empty());
}
