/*
 * appserver_test.cc: the built pidsitter against REAL gunicorn (Debian's
 * gunicorn 20.1, Python 3) and unicorn (Debian's unicorn 6.0, Ruby), each
 * serving an application of a few lines on a loopback port, with the
 * recipes of examples/gunicorn.toml and examples/unicorn.toml.
 *
 * What they do on USR2 (pidsitter(8), UPGRADES; gunicorn's arbiter.py and
 * pidfile.py, unicorn's http_server.rb):
 * - gunicorn: the master forks and executes python3 with its own arguments
 *   and the listening sockets; the new master writes <pidfile>.2 (with
 *   --preload, once it imported the application), and renames it to
 *   <pidfile> only when its parent, the old master, is gone (it looks once
 *   a second); the old master removes <pidfile> as it exits.  TERM is the
 *   graceful stop, QUIT and INT the fast one.
 * - unicorn: the master renames <pidfile> to <pidfile>.oldbin and forks
 *   and executes itself; the new master writes <pidfile> (a config.ru it
 *   cannot read makes it exit before that, and the old master renames
 *   .oldbin back).  QUIT is the graceful stop, TERM and INT the fast one.
 *
 * The application answers "ok\n"; /hold answers only once the file
 * "release" exists in the test's directory (it writes "held" first): a
 * request in flight that keeps an old master draining.
 */
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "harness.h"
#include "proc.h"

namespace {

/* Nothing waits this long unless something is wrong (CI is shared). */
const int DEADLINE_MS = 30000;

enum family { GUNICORN, UNICORN };

/* A directory with the application, the daemon's configuration, its pid
 * file and log, and the wrapper that runs it.  On the way out (a failed
 * REQUIRE included) every process of the directory is killed, wrapper
 * first. */
struct appserver {
	enum family fam;
	tmp_dir dir;
	std::string pidfile, log, app;
	int port = 0;
	std::unique_ptr<child> w;
	std::vector<pinned> seen;

	explicit appserver(enum family f);
	~appserver();
	appserver(const appserver &) = delete;
	appserver &operator=(const appserver &) = delete;

	void met(pid_t pid) { seen.push_back(pin(pid)); }
	const char *name() const { return fam == GUNICORN ? "gunicorn" : "unicorn"; }
	std::string example() const { return std::string("examples/") + name() + ".toml"; }
	void write_files();
	std::vector<std::string> daemon() const;
	std::vector<std::string> wrapper(const std::string &config) const;
	pid_t start(const std::string &config);
	pid_t start_alone();
	bool line(const char *msg, const std::string &rest) const;
	pid_t followed(unsigned gen);
	bool serves() const;
	/* The old master's graceful stop, as the recipe sends it. */
	const char *retire() const { return fam == GUNICORN ? "SIGTERM" : "SIGQUIT"; }
	/* The daemon's own log says that master pid is stopping. */
	bool stopped(pid_t pid) const;
	std::vector<pid_t> live() const;
	int workers_waiting(pid_t master) const;
	std::string dump() const;
};

appserver::appserver(enum family f) : fam(f)
{
	pidfile = dir / "app.pid";
	log = dir / "daemon.log";
	app = fam == GUNICORN ? dir / "app.py" : dir / "config.ru";
}

appserver::~appserver()
{
	w.reset();
	/* Masters and workers all name the directory in their command line. */
	for (pid_t pid : live())
		kill(pid, SIGKILL);
}

void
appserver::write_files()
{
	std::string d = dir.path;

	if (fam == GUNICORN) {
		write_file(app,
		    "import os, time\n"
		    "def application(environ, start_response):\n"
		    "    if environ.get('PATH_INFO') == '/hold':\n"
		    "        open('" + d + "/held', 'w').close()\n"
		    "        end = time.time() + 120\n"
		    "        while not os.path.exists('" + d + "/release') and time.time() < end:\n"
		    "            time.sleep(0.01)\n"
		    "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
		    "    return [b'ok\\n']\n");
		return;
	}
	write_file(app,
	    "run lambda { |env|\n"
	    "  if env['PATH_INFO'] == '/hold'\n"
	    "    File.write('" + d + "/held', '')\n"
	    "    t = Time.now + 120\n"
	    "    sleep 0.01 until File.exist?('" + d + "/release') || Time.now > t\n"
	    "  end\n"
	    "  [200, {'Content-Type' => 'text/plain'}, [\"ok\\n\"]]\n"
	    "}\n");
	write_file(dir / "unicorn.conf.rb",
	    "listen '127.0.0.1:" + std::to_string(port) + "'\n"
	    "pid '" + pidfile + "'\n"
	    "worker_processes 2\n"
	    "timeout 120\n"
	    "stderr_path '" + log + "'\n");
}

std::vector<std::string>
appserver::daemon() const
{
	if (fam == GUNICORN)
		return {"/usr/bin/gunicorn", "--chdir", dir.path, "--pid", pidfile,
		    "--bind", "127.0.0.1:" + std::to_string(port), "--workers", "2", "--preload",
		    "--timeout", "120", "--graceful-timeout", "120", "--error-logfile", log,
		    "app:application"};
	return {"/usr/bin/unicorn", "-c", dir / "unicorn.conf.rb", app};
}

std::vector<std::string>
appserver::wrapper(const std::string &config) const
{
	std::vector<std::string> a = {build_path("pidsitter"), "-c", config, "-p", pidfile, "--"};
	std::vector<std::string> d = daemon();

	a.insert(a.end(), d.begin(), d.end());
	return a;
}

/* Did the daemon fail to bind (another test took the port meanwhile)? */
static bool
port_taken(const std::string &log)
{
	return log.find("in use") != std::string::npos;
}

pid_t
appserver::start(const std::string &config)
{
	pid_t master = 0;

	for (int attempt = 0; attempt < 5; attempt++) {
		port = free_port();
		write_files();
		write_file(log, "");
		w.reset(new child());
		child_start(w.get(), wrapper(config), clean_env);
		std::string mon = "msg=\"monitoring process\" generation=1 pid=" +
		    std::to_string(w->pid) + " ";
		REQUIRE(child_wait_line(w.get(), mon.c_str(), DEADLINE_MS));
		master = (pid_t)line_field(child_find_line(w.get(), mon.c_str()), "process");
		REQUIRE(master > 0);
		met(master);
		/* The wrapper's exit (the master gave up: a port taken) ends
		 * the wait at once: pid_alive() is false for the zombie it
		 * is until reaped (w->exited is set only by the reaping). */
		if (wait_until([&] { return serves() || !pid_alive(w->pid); }, DEADLINE_MS) &&
		    pid_alive(w->pid) && pid_alive(master))
			break;
		/* pump: the wrapper exits once the master gave up */
		REQUIRE(child_wait_exit(w.get(), DEADLINE_MS));
		REQUIRE(port_taken(read_file(log)));
	}
	REQUIRE_FALSE(w->exited);
	REQUIRE(wait_until([&] { return read_pid(pidfile) == master; }, DEADLINE_MS));
	return master;
}

/* The daemon started by the test, detached: no wrapper yet. */
pid_t
appserver::start_alone()
{
	pid_t master = 0;

	for (int attempt = 0; attempt < 5; attempt++) {
		port = free_port();
		write_files();
		write_file(log, "");
		master = start_detached(daemon());
		met(master);
		if (wait_until([&] { return serves() || !pid_alive(master); }, DEADLINE_MS) &&
		    pid_alive(master))
			break;
		REQUIRE(port_taken(read_file(log)));
	}
	REQUIRE(wait_until([&] { return read_pid(pidfile) == master; }, DEADLINE_MS));
	return master;
}

bool
appserver::line(const char *msg, const std::string &rest) const
{
	return child_wait_line(w.get(), log_msg(msg, rest).c_str(), DEADLINE_MS);
}

pid_t
appserver::followed(unsigned gen)
{
	pid_t pid = child_wait_followed(w.get(), gen, DEADLINE_MS);

	REQUIRE(pid > 0);
	met(pid);
	return pid;
}

/* An answer of the application: 200 and the body "ok\n". */
static bool
answered(const std::string &r)
{
	return r.compare(0, 7, "HTTP/1.") == 0 && r.compare(8, 5, " 200 ") == 0 &&
	    r.size() > 7 && r.compare(r.size() - 7, 7, "\r\n\r\nok\n") == 0;
}

static std::string
get(int port, const char *path)
{
	return tcp_exchange(port, std::string("GET ") + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n",
	    DEADLINE_MS);
}

bool
appserver::serves() const
{
	return answered(get(port, "/"));
}

bool
appserver::stopped(pid_t pid) const
{
	std::string l = read_file(log), p = std::to_string(pid);

	if (fam == GUNICORN)
		return l.find("[" + p + "] [INFO] Handling signal: term") != std::string::npos;
	return l.find("#" + p + "]  INFO -- : master complete") != std::string::npos;
}

std::vector<pid_t>
appserver::live() const
{
	return live_of(seen, dir.path, w != nullptr ? w->pid : 0);
}

/* pselect6(), ppoll(), and where the architecture has them (not arm64),
 * select() and poll(). */
static bool
waits_for_io(long nr)
{
#ifdef SYS_select
	if (nr == SYS_select)
		return true;
#endif
#ifdef SYS_poll
	if (nr == SYS_poll)
		return true;
#endif
	return nr == SYS_pselect6 || nr == SYS_ppoll;
}

/* How many of master's children sleep in pselect6(), poll() or select():
 * a gunicorn sync worker's accept loop, reached after its own signal
 * handlers are set (/proc/PID/syscall: the number first, proc(5)). */
int
appserver::workers_waiting(pid_t master) const
{
	int n = 0;

	for (pid_t pid : proc_children(master, false)) {
		long nr = -1;
		std::string s = read_file("/proc/" + std::to_string(pid) + "/syscall");
		if (sscanf(s.c_str(), "%ld", &nr) == 1 && waits_for_io(nr))
			n++;
	}
	return n;
}

std::string
appserver::dump() const
{
	std::string s = w != nullptr ? child_dump(w.get()) : "no wrapper\n";

	s += std::string(name()) + " log:\n" + bounded_output(read_file(log)) + "live:";
	for (pid_t pid : live())
		s += " " + std::to_string(pid);
	return s;
}

/* HTTP requests one after the other on a thread of their own, each a new
 * connection, until told to stop: how many were answered, how many not.
 * Checked after the thread ended (doctest's assertions are not for
 * threads). */
struct traffic {
	int port;
	std::atomic<bool> stop{false};
	std::atomic<int> ok{0};
	std::atomic<int> failed{0};
	std::string first_failure;
	std::thread t;

	explicit traffic(int p) : port(p)
	{
		t = std::thread([this] {
			while (!stop) {
				std::string r = get(port, "/");
				if (answered(r)) {
					ok++;
				} else if (failed++ == 0) {
					first_failure = r.empty() ? "(refused, or nothing)" : r;
				}
				/* Pacing, not synchronisation: the machine is
				 * shared. */
				usleep(5000);
			}
		});
	}
	~traffic()
	{
		stop = true;
		if (t.joinable())
			t.join();
	}
	void finish()
	{
		stop = true;
		t.join();
	}
};

/* A request held in the application (/hold) on a thread of its own, until
 * the file "release" exists: what it got in the end.  On the way out (a
 * failed REQUIRE included) the request is released. */
struct held {
	std::string release;
	std::string got;
	std::thread t;

	explicit held(appserver &sc) : release(sc.dir / "release")
	{
		int port = sc.port;
		t = std::thread([this, port] { got = get(port, "/hold"); });
	}
	~held() { finish(); }
	void finish()
	{
		if (access(release.c_str(), F_OK) != 0)
			write_file(release, "");
		if (t.joinable())
			t.join();
	}
};

/* The wrapper stopped with TERM: the master gets the graceful stop, and
 * nothing of the directory is left. */
void
stop_all(appserver &sc, pid_t master, unsigned gen)
{
	child &w = *sc.w;
	std::string sent = sc.fam == GUNICORN ? " signal=SIGTERM" : " received=SIGTERM signal=SIGQUIT";

	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, DEADLINE_MS));
	CHECK(child_code(&w) == 0);
	CHECK(child_count_lines(&w, log_msg("forwarding signal", log_gen(w, gen, master) +
	    sent).c_str()) == 1);
	CHECK(sc.stopped(master));
	CHECK(wait_until([&] { return sc.live().empty(); }, DEADLINE_MS));
	CHECK_FALSE(tcp_accepts(sc.port));
}

void
spawned(enum family f)
{
	appserver sc(f);
	INFO(sc.dump());
	pid_t master = sc.start(sc.example());
	child &w = *sc.w;

	CHECK(child_count_lines(&w, "msg=\"adopting a process\"") == 0);
	CHECK(sc.serves());
	/* The master is ours, its workers its own. */
	struct proc_stat st;
	REQUIRE(proc_read_stat(master, &st) == 0);
	CHECK(st.ppid == w.pid);
	CHECK(wait_until([&] { return proc_children(master, false).size() == 2; }, DEADLINE_MS));
	for (pid_t pid : proc_children(master, false))
		sc.met(pid);
	/* WINCH is ignored (it would stop the workers). */
	send_signal(w.pid, SIGWINCH);
	REQUIRE(sc.line("signal not forwarded", "pid=" + std::to_string(w.pid) +
	    " reason=\"ignored by the configuration\" signal=SIGWINCH"));
	CHECK(sc.serves());
	stop_all(sc, master, 1);
	CHECK(child_count_lines(&w, "level=warning msg=\"process exited\" exit_code=0 ") == 1);
}

void
adopted(enum family f)
{
	appserver sc(f);
	INFO(sc.dump());
	pid_t master = sc.start_alone();

	sc.w.reset(new child());
	child &w = *sc.w;
	child_start(&w, sc.wrapper(sc.example()), clean_env);
	REQUIRE(sc.line("adopting a process", "matched=comm pid=" + std::to_string(w.pid) + " process=" +
	    std::to_string(master)));
	REQUIRE(sc.line("monitoring process", log_gen(w, 1, master)));
	CHECK(child_count_lines(&w, "msg=\"spawning a process\"") == 0);
	CHECK(sc.serves());
	stop_all(sc, master, 1);
}

/* HUP to the wrapper, with requests coming all the while: the recipe's
 * upgrade, followed to the end.  None is refused or fails. */
void
upgraded(enum family f)
{
	appserver sc(f);
	INFO(sc.dump());
	pid_t master = sc.start(sc.example());
	child &w = *sc.w;
	traffic load(sc.port);

	REQUIRE(wait_until([&] { return load.ok > 0 || load.failed > 0; }, DEADLINE_MS));
	send_signal(w.pid, SIGHUP);
	REQUIRE(sc.line("forwarding signal", log_gen(w, 1, master) +
	    " received=SIGHUP signal=SIGUSR2"));
	REQUIRE(sc.line("upgrade started", log_gen(w, 1, master)));
	pid_t fresh = sc.followed(2);
	std::string found = f == GUNICORN ? " role=current source=dot2" : " role=current source=pid_file";
	CHECK(child_count_lines(&w, log_msg("following new process", log_gen(w, 2, fresh) +
	    found).c_str()) == 1);
	REQUIRE(sc.line("upgrade complete", log_gen(w, 2, fresh)));
	/* The old master: its graceful stop, from the wrapper; it finishes
	 * and exits, and the wrapper stays, the new master current. */
	REQUIRE(sc.line("forwarding signal", log_gen(w, 1, master) + " signal=" + sc.retire()));
	REQUIRE(sc.line("process exited", "exit_code=0 " + log_gen(w, 1, master)));
	CHECK(child_count_lines(&w, "level=info msg=\"process exited\" exit_code=0 generation=1 ") == 1);
	/* gunicorn's new master takes the pid file once its parent is gone;
	 * unicorn's had it from the start. */
	REQUIRE(wait_until([&] { return read_pid(sc.pidfile) == fresh; }, DEADLINE_MS));
	CHECK(wait_until([&] {
		return access((sc.pidfile + ".2").c_str(), F_OK) != 0 &&
		    access((sc.pidfile + ".oldbin").c_str(), F_OK) != 0;
	}, DEADLINE_MS));
	/* python3, the new gunicorn master's comm, is in names. */
	CHECK(child_count_lines(&w, "msg=\"the names do not match the daemon\"") == 0);
	/* Some more requests to the new master alone. */
	int before = load.ok;
	REQUIRE(wait_until([&] { return load.ok > before + 10 || load.failed > 0; }, DEADLINE_MS));
	load.finish();
	CAPTURE(load.first_failure);
	CHECK(load.failed == 0);
	CHECK(load.ok > 10);
	CHECK(child_count_lines(&w, "signal=SIGUSR2") == 1);
	CHECK_FALSE(w.exited);
	for (pid_t pid : proc_children(fresh, false))
		sc.met(pid);
	CHECK(wait_until([&] { return sc.live().size() == 3; }, DEADLINE_MS));  /* + 2 workers */
	stop_all(sc, fresh, 2);
}

/* The application cannot be loaded any more: the new master exits before
 * it names itself, the old one keeps serving, and the wrapper says the
 * upgrade failed: in its log, its status file and to the control socket's
 * client that asked for the upgrade. */
void
failed(enum family f)
{
	appserver sc(f);
	INFO(sc.dump());
	std::string toml = sc.dir / "pidsitter.toml", status = sc.dir / "status.json";
	write_file(toml, std::string(f == GUNICORN ?
	    "names = [\"gunicorn\", \"python3\"]\n"
	    "upgrade_recipe = \"gunicorn\"\n" :
	    "names = [\"unicorn\"]\n"
	    "upgrade_recipe = \"unicorn\"\n"
	    "signal_rewrite = { TERM = \"QUIT\" }\n") +
	    "match = [\"comm\"]\n"
	    "env = {}\n"
	    "upgrade_timeout = \"3s\"\n"
	    "status_file = \"" + status + "\"\n"
	    "control_socket = \"" + sc.dir / "ctl" + "\"\n");
	pid_t master = sc.start(toml);
	child &w = *sc.w;

	/* The upgrade asked for through the control socket (pidsitter -s
	 * upgrade), which waits for the verdict. */
	REQUIRE(rename(sc.app.c_str(), (sc.app + ".off").c_str()) == 0);
	child client;
	child_start(&client, {build_path("pidsitter"), "-S", sc.dir / "ctl", "-s", "upgrade"},
	    clean_env);
	REQUIRE(sc.line("upgrade started", log_gen(w, 1, master)));
	/* The daemon's own word that the new master failed: gunicorn's on
	 * the standard error it shares with the wrapper, unicorn's in the
	 * log its old master's standard error goes to. */
	if (f == GUNICORN)
		REQUIRE(child_wait_stderr(&w, "No module named 'app'", DEADLINE_MS));
	else
		REQUIRE(wait_until([&] {
			return read_file(sc.log).find("not readable") != std::string::npos;
		}, DEADLINE_MS));
	REQUIRE(sc.line("upgrade failed; the current process stays", ""));
	std::string why = child_find_line(&w, "msg=\"upgrade failed; the current process stays\"");
	CHECK(why.find("level=warning ") != std::string::npos);
	CHECK(why.find(log_gen(w, 1, master)) != std::string::npos);
	/* unicorn's old master takes its pid file back from .oldbin: the
	 * wrapper knows at once if it saw .oldbin, else at upgrade_timeout;
	 * gunicorn's leaves no trace but the missing .2. */
	if (f == GUNICORN)
		CHECK(why.find("reason=\"no new process wrote the pid file within upgrade_timeout\"") !=
		    std::string::npos);
	REQUIRE(wait_until([&] {
		std::string s = read_file(status);
		return s.find("\"last_upgrade\":{\"result\":\"failed\"") != std::string::npos &&
		    s.find("\"current\":{\"pid\":" + std::to_string(master) + ",\"generation\":1,\"since\":") !=
		    std::string::npos && s.find("\"state\":\"running\"") != std::string::npos;
	}, DEADLINE_MS));
	REQUIRE(wait_until([&] { return read_pid(sc.pidfile) == master; }, DEADLINE_MS));
	REQUIRE(child_wait_exit(&client, DEADLINE_MS));
	CAPTURE(client.out);
	CAPTURE(client.err);
	CHECK(child_code(&client) == 1);
	CHECK(client.err.find("upgrade failed: ") != std::string::npos);
	CHECK(client.err.find("; generation 1 (pid " + std::to_string(master) + ") stays current") !=
	    std::string::npos);
	CHECK(child_count_lines(&w, "msg=\"following new process\"") == 0);
	CHECK(child_count_lines(&w, "msg=\"upgrade complete\"") == 0);
	CHECK_FALSE(sc.stopped(master));
	CHECK(pid_alive(master));
	CHECK(sc.serves());
	REQUIRE(rename((sc.app + ".off").c_str(), sc.app.c_str()) == 0);
	stop_all(sc, master, 1);
}

/* TERM to the wrapper while the old master still drains a request in
 * flight after the recipe's upgrade: both masters get the stop; the
 * request is answered, and nothing is left. */
void
stopped_mid_upgrade(enum family f)
{
	appserver sc(f);
	INFO(sc.dump());
	pid_t master = sc.start(sc.example());
	child &w = *sc.w;
	held hold(sc);

	REQUIRE(wait_until([&] { return access((sc.dir / "held").c_str(), F_OK) == 0; },
	    DEADLINE_MS));
	send_signal(w.pid, SIGHUP);
	pid_t fresh = sc.followed(2);
	REQUIRE(sc.line("upgrade complete", log_gen(w, 2, fresh)));
	REQUIRE(sc.line("forwarding signal", log_gen(w, 1, master) + " signal=" + sc.retire()));
	/* The held request keeps the old master there. */
	CHECK(pid_alive(master));
	CHECK(sc.serves());

	/* A gunicorn worker runs its master's signal handlers until its
	 * init_process() sets its own, and a TERM in between is swallowed:
	 * its master then waits graceful_timeout (30 s) for it.  Stop once
	 * both of the new master's workers wait for connections. */
	if (f == GUNICORN)
		REQUIRE(wait_until([&] { return sc.workers_waiting(fresh) == 2; }, DEADLINE_MS));
	send_signal(w.pid, SIGTERM);
	std::string sent = f == GUNICORN ? " signal=SIGTERM" : " received=SIGTERM signal=SIGQUIT";
	REQUIRE(sc.line("forwarding signal", log_gen(w, 2, fresh) + sent));
	REQUIRE(sc.line("forwarding signal", log_gen(w, 1, master) + sent));
	/* The new master stops; the old one waits for its request. */
	REQUIRE(sc.line("process exited", "exit_code=0 " + log_gen(w, 2, fresh)));
	CHECK(sc.stopped(fresh));
	CHECK(pid_alive(master));
	CHECK_FALSE(w.exited);
	hold.finish();
	CAPTURE(hold.got);
	CHECK(answered(hold.got));
	REQUIRE(child_wait_exit(&w, DEADLINE_MS));
	CHECK(child_code(&w) == 0);
	CHECK(child_count_lines(&w, log_msg("process exited", "exit_code=0 " +
	    log_gen(w, 1, master)).c_str()) == 1);
	CHECK(wait_until([&] { return sc.live().empty(); }, DEADLINE_MS));
	CHECK_FALSE(tcp_accepts(sc.port));
}

}  // namespace

TEST_CASE("gunicorn (examples/gunicorn.toml): spawned, WINCH ignored, TERM stops it gracefully")
{
	spawned(GUNICORN);
}

TEST_CASE("gunicorn: started alone, then adopted; TERM stops it")
{
	adopted(GUNICORN);
}

TEST_CASE("gunicorn recipe: HUP upgrades with requests coming all the while, none refused or failed; the new master in .2 is current, the old one gets TERM")
{
	upgraded(GUNICORN);
}

TEST_CASE("gunicorn recipe: an application that cannot be imported is a failed upgrade; the old master keeps serving")
{
	failed(GUNICORN);
}

TEST_CASE("gunicorn recipe: TERM while the old master drains reaches both masters")
{
	stopped_mid_upgrade(GUNICORN);
}

TEST_CASE("unicorn (examples/unicorn.toml): spawned, WINCH ignored, TERM stops it gracefully")
{
	spawned(UNICORN);
}

TEST_CASE("unicorn: started alone, then adopted; TERM stops it")
{
	adopted(UNICORN);
}

TEST_CASE("unicorn recipe: HUP upgrades with requests coming all the while, none refused or failed; the old master gets QUIT")
{
	upgraded(UNICORN);
}

TEST_CASE("unicorn recipe: a config.ru that cannot be read is a failed upgrade; the old master takes its pid file back and keeps serving")
{
	failed(UNICORN);
}

TEST_CASE("unicorn recipe: TERM while the old master drains reaches both masters")
{
	stopped_mid_upgrade(UNICORN);
}
