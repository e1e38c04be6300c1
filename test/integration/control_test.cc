/*
 * control_test.cc: the control socket through the built binary: pidsitter
 * -s status / upgrade / stop with their verdicts and exit statuses, one
 * wrapper per socket, the socket's permissions and directory, and clients
 * that misbehave (too long, binary, slow, half-closed, many, flooding,
 * never reading) while the daemon goes on untouched.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include "harness.h"

namespace {

/* A client of the socket: its exit code, stdout and stderr. */
struct reply {
	int code = -1;
	std::string out, err;
};

reply
send_command(const std::vector<std::string> &args, int timeout_ms = 20000)
{
	std::vector<std::string> argv = {build_path("pidsitter")};
	child c;
	reply r;

	argv.insert(argv.end(), args.begin(), args.end());
	child_start(&c, argv, clean_env);
	REQUIRE_MESSAGE(child_wait_exit(&c, timeout_ms), child_dump(&c));
	r.code = child_code(&c);
	r.out = c.out;
	r.err = c.err;
	return r;
}

reply
ctl(const std::string &sock, const char *cmd, const std::vector<std::string> &more = {})
{
	std::vector<std::string> args = {"-S", sock, "-s", cmd};
	args.insert(args.end(), more.begin(), more.end());
	return send_command(args);
}

/* A raw connection to the socket (the test's own client). */
int
raw_connect(const std::string &path)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	REQUIRE(fd >= 0);
	/* Bounded: a connect waits for room in the listener's backlog, and
	 * a write for room in the peer's buffer, as long as SO_SNDTIMEO
	 * says (unix_stream_connect, unix_stream_sendmsg: net/unix/af_unix.c),
	 * for ever by default: a stuck wrapper would hang the test.  Then
	 * they fail with EAGAIN. */
	struct timeval tv = {10, 0};
	REQUIRE(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0);
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	REQUIRE(path.size() < sizeof sa.sun_path);
	memcpy(sa.sun_path, path.c_str(), path.size());
	REQUIRE_MESSAGE(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0, strerror(errno));
	return fd;
}

/* Everything the peer sends until it closes (or the deadline). */
std::string
read_all(int fd, int timeout_ms)
{
	std::string out;
	long long end = mono_ms() + timeout_ms;
	char buf[512];

	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		long long left = end - mono_ms();
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		ssize_t n = read(fd, buf, sizeof buf);
		if (n <= 0)
			break;
		out.append(buf, (size_t)n);
	}
	return out;
}

void
stop_wrapper(child *w)
{
	if (w->pid > 0 && !w->exited) {
		kill(w->pid, SIGTERM);
		child_wait_exit(w, 10000);
	}
}

/* A wrapper with a control socket over the fixture daemon. */
struct ctl_scene {
	scene sc;
	std::string sock;
	child w;
	pid_t daemon = 0;

	/* extra: the daemon's options; a word starting "@/" is a file in
	 * the scene's directory. */
	explicit ctl_scene(std::vector<std::string> extra = {}, const std::string &keys = "")
	{
		sock = sc.dir / "pidsitter.sock";
		for (std::string &e : extra)
			if (e.rfind("@/", 0) == 0)
				e = sc.dir.path + e.substr(1);
		sc.config("control_socket = \"" + sock + "\"\n" + keys);
		daemon = start_monitored(sc, &w, sc.configured(extra), 10000);
		REQUIRE(child_wait_line(&w, "control socket ready", 5000));
	}
	/* The wrapper stops its daemon, unless the test did. */
	~ctl_scene() { stop_wrapper(&w); }
};

/* A hook for child_start_hooked: few descriptors, as a tight
 * LimitNOFILE= would leave. */
int
few_descriptors(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 126;
	rl.rlim_cur = 48;
	return setrlimit(RLIMIT_NOFILE, &rl) == 0 ? 0 : 126;
}

bool
is_socket(const std::string &path)
{
	struct stat st;
	return lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

}  // namespace

TEST_CASE("control: status as text and as JSON, and the socket is mode 0600")
{
	ctl_scene t;
	struct stat st;

	REQUIRE(lstat(t.sock.c_str(), &st) == 0);
	CHECK(S_ISSOCK(st.st_mode));
	CHECK((st.st_mode & 0777) == 0600);

	reply r = ctl(t.sock, "status");
	CHECK(r.code == 0);
	CHECK(r.out.find("state: running\n") != std::string::npos);
	CHECK(r.out.find("current: generation 1, pid " + std::to_string(t.daemon) + ", since ") !=
	    std::string::npos);
	CHECK(r.out.find("wrapper: pid " + std::to_string(t.w.pid)) != std::string::npos);

	r = ctl(t.sock, "status", {"-j"});
	CHECK(r.code == 0);
	CHECK(r.out.rfind("{\"state\":\"running\",\"wrapper\":" + std::to_string(t.w.pid) +
	    ",\"current\":{\"pid\":" + std::to_string(t.daemon) + ",\"generation\":1,\"since\":", 0) == 0);
	CHECK(r.out.find("\"last_upgrade\":{\"result\":\"none\",\"time\":null}}\n") != std::string::npos);
	/* Through the configuration file, as an operator's script would. */
	r = send_command({"-c", t.sc.conf, "-s", "status"});
	CHECK(r.code == 0);
	CHECK(r.out.find("state: running") != std::string::npos);
}

TEST_CASE("control: upgrade returns once the new generation is current")
{
	ctl_scene t({"--drain", "50"});

	reply r = ctl(t.sock, "upgrade");
	INFO(r.out, r.err, child_dump(&t.w));
	CHECK(r.code == 0);
	pid_t fresh = read_pid(t.sc.pidfile);
	CHECK(fresh != t.daemon);
	/* The verdict came after the pid file named it and the wrapper made
	 * it current: its log says so already. */
	CHECK(child_count_lines(&t.w, log_msg("upgrade complete").c_str()) +
	    (child_wait_line(&t.w, "upgrade complete", 5000) ? 1 : 0) >= 1);
	CHECK(r.out.find("upgrade started: generation 1 (pid " + std::to_string(t.daemon) + ")") !=
	    std::string::npos);
	CHECK(r.out.find("upgrade complete: generation 2 (pid " + std::to_string(fresh) +
	    ") is current") != std::string::npos);
	r = ctl(t.sock, "status", {"-j"});
	CHECK(r.out.find("\"current\":{\"pid\":" + std::to_string(fresh) + ",\"generation\":2") !=
	    std::string::npos);
	CHECK(r.out.find("\"last_upgrade\":{\"result\":\"complete\"") != std::string::npos);
}

TEST_CASE("control: a failed upgrade is exit 1 with the reason")
{
	SUBCASE("no new process within upgrade_timeout") {
		ctl_scene t({"--fail-upgrade-file", "@/fail", "--drain", "50"},
		    "upgrade_timeout = \"1s\"\n");
		write_file(t.sc.dir / "fail", "");
		reply r = ctl(t.sock, "upgrade");
		INFO(r.out, r.err, child_dump(&t.w));
		CHECK(r.code == 1);
		CHECK(r.err.find("upgrade failed: no new process wrote the pid file within "
		    "upgrade_timeout; generation 1 (pid " + std::to_string(t.daemon) +
		    ") stays current") != std::string::npos);
		CHECK(pid_alive(t.daemon));
	}
	SUBCASE("refused while a generation still drains") {
		ctl_scene t({"--drain-file", "@/drained"});
		reply r = ctl(t.sock, "upgrade");
		REQUIRE(r.code == 0);
		pid_t fresh = read_pid(t.sc.pidfile);
		r = ctl(t.sock, "upgrade");
		INFO(r.out, r.err, child_dump(&t.w));
		CHECK(r.code == 1);
		CHECK(r.err.find("upgrade not started: the daemon will refuse it: generation 1 (pid " +
		    std::to_string(t.daemon) + ") is still draining") != std::string::npos);
		CHECK(pid_alive(t.daemon));
		/* "Not started", and nothing sent (pidsitter(8), CONTROL): a
		 * daemon that did not refuse would upgrade behind the back
		 * of a client told it did not. */
		CHECK(record_count(t.sc.record, fresh, "signal") == 0);
		CHECK(read_pid(t.sc.pidfile) == fresh);
		write_file(t.sc.dir / "drained", "");
	}
}

TEST_CASE("control: a request during an upgrade joins it; --timeout gives up, the upgrade goes on")
{
	ctl_scene t({"--drain", "50", "--upgrade-wait-file", "@/go"});
	child a, b;

	child_start(&a, {build_path("pidsitter"), "-S", t.sock, "-s", "upgrade"}, clean_env);
	REQUIRE(child_wait_line(&a, "upgrade started", 10000));
	child_start(&b, {build_path("pidsitter"), "-S", t.sock, "-s", "upgrade"}, clean_env);
	REQUIRE(child_wait_line(&b, "joining the upgrade in progress of generation 1", 10000));

	reply r = ctl(t.sock, "upgrade", {"--timeout", "300ms"});
	CHECK(r.code == 4);
	CHECK(r.err.find("no verdict from " + t.sock + " in time; the upgrade goes on") !=
	    std::string::npos);
	r = ctl(t.sock, "status");
	CHECK(r.out.find("state: upgrading") != std::string::npos);

	write_file(t.sc.dir / "go", "");
	REQUIRE(child_wait_exit(&a, 10000));
	REQUIRE(child_wait_exit(&b, 10000));
	CHECK(child_code(&a) == 0);
	CHECK(child_code(&b) == 0);
	pid_t fresh = read_pid(t.sc.pidfile);
	CHECK(a.out.find("generation 2 (pid " + std::to_string(fresh) + ") is current") !=
	    std::string::npos);
	CHECK(b.out == a.out.substr(a.out.find('\n') + 1).insert(0,
	    "joining the upgrade in progress of generation 1 (pid " + std::to_string(t.daemon) + ")\n"));
}

TEST_CASE("control: stop returns when every generation is gone, with the exit status")
{
	ctl_scene t({"--exit-code", "7", "--drain-file", "@/drained"});

	REQUIRE(ctl(t.sock, "upgrade").code == 0);
	pid_t fresh = read_pid(t.sc.pidfile);
	reply r = ctl(t.sock, "stop");
	INFO(r.out, r.err);
	CHECK(r.code == 0);
	CHECK(r.out.find("stopped; the wrapper exits with status 7") != std::string::npos);
	REQUIRE(child_wait_exit(&t.w, 10000));
	CHECK(child_code(&t.w) == 7);
	/* Both generations got TERM, as from a supervisor. */
	CHECK(record_count(t.sc.record, t.daemon, "signal SIGTERM") == 1);
	CHECK(record_count(t.sc.record, fresh, "signal SIGTERM") == 1);
	CHECK(!is_socket(t.sock));
	CHECK(access(t.sock.c_str(), F_OK) != 0);
	r = ctl(t.sock, "status");
	CHECK(r.code == 3);
	CHECK(r.err.find("no pidsitter answers at " + t.sock) != std::string::npos);
}

TEST_CASE("control: a stop's verdict waits for a client that reads only after the exit")
{
	ctl_scene t({"--exit-code", "3", "--stop-file", "@/stop"});

	/* One asks, and reads nothing until the wrapper is gone: its lines
	 * wait in the socket for it, the verdict last, then the end.  The
	 * other joins the stop, reading as it goes. */
	int late = raw_connect(t.sock);
	REQUIRE(write(late, "stop\n", 5) == 5);
	REQUIRE(record_wait(t.sc.record, t.daemon, "stopping", 10000));
	child joining;
	child_start(&joining, {build_path("pidsitter"), "-S", t.sock, "-s", "stop"}, clean_env);
	REQUIRE(child_wait_line(&joining, "joining the stop in progress", 10000));
	write_file(t.sc.dir / "stop", "");
	REQUIRE(child_wait_exit(&t.w, 10000));
	CHECK(child_code(&t.w) == 3);
	REQUIRE_MESSAGE(child_wait_exit(&joining, 10000), child_dump(&joining));
	INFO(child_dump(&joining));
	CHECK(child_code(&joining) == 0);
	CHECK(joining.out.find("stopped; the wrapper exits with status 3") != std::string::npos);
	CHECK(read_all(late, 5000) == "info stopping: TERM to every generation\n"
	    "ok stopped; the wrapper exits with status 3\n");
	close(late);
}

TEST_CASE("control: one wrapper per socket; a stale socket is replaced; other files are left")
{
	scene sc;
	std::string sock = sc.dir / "ctl";
	child w, second;

	SUBCASE("a second wrapper is refused and starts nothing") {
		sc.config("control_socket = \"" + sock + "\"\n");
		pid_t d = start_monitored(sc, &w, sc.configured(), 10000);
		child_start(&second, sc.configured());
		REQUIRE(child_wait_exit(&second, 10000));
		CHECK(child_code(&second) == 1);
		CHECK(child_find_line(&second, "cannot listen on the control socket").find(
		    "another pidsitter (pid " + std::to_string(w.pid) + ") is watching this daemon") !=
		    std::string::npos);
		CHECK(child_count_lines(&second, "spawning") == 0);
		CHECK(child_count_lines(&second, "adopting") == 0);
		CHECK(live_matching(sc.gitaly) == std::vector<pid_t>{d});
		/* The first one still answers. */
		CHECK(ctl(sock, "status").code == 0);
		stop_wrapper(&w);
	}
	SUBCASE("a socket nobody listens on is removed") {
		struct sockaddr_un sa;
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		memset(&sa, 0, sizeof sa);
		sa.sun_family = AF_UNIX;
		memcpy(sa.sun_path, sock.c_str(), sock.size());
		REQUIRE(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
		close(fd);
		REQUIRE(is_socket(sock));
		CHECK(ctl(sock, "status").code == 3);
		sc.config("control_socket = \"" + sock + "\"\n");
		start_monitored(sc, &w, sc.configured(), 10000);
		CHECK(ctl(sock, "status").code == 0);
		stop_wrapper(&w);
	}
	SUBCASE("a file that is no socket is left alone") {
		write_file(sock, "mine\n");
		sc.config("control_socket = \"" + sock + "\"\n");
		child_start(&w, sc.configured());
		REQUIRE(child_wait_exit(&w, 10000));
		CHECK(child_code(&w) == 1);
		CHECK(child_find_line(&w, "cannot listen").find("not a socket") != std::string::npos);
		CHECK(read_file(sock) == "mine\n");
		CHECK(sc.daemons().empty());
	}
	SUBCASE("a directory others may write to is refused") {
		std::string dir = sc.dir / "open";
		mkdir(dir.c_str(), 0777);
		chmod(dir.c_str(), 0777);
		sc.config("control_socket = \"" + dir + "/ctl\"\n");
		child_start(&w, sc.configured());
		REQUIRE(child_wait_exit(&w, 10000));
		CHECK(child_code(&w) == 1);
		CHECK(child_find_line(&w, "cannot listen").find("writable by others") !=
		    std::string::npos);
		CHECK(sc.daemons().empty());
	}
}

TEST_CASE("control: wrappers started together on one socket: exactly one goes on")
{
	/* The window is between one wrapper's bind() and its listen(): a
	 * second one asking then found nobody listening, took the socket
	 * for stale, removed it and bound its own -- two wrappers, and at
	 * times two daemons.  Started from one shell, all at once, for a
	 * few rounds: the race was not every time. */
	for (int round = 0; round < 12; round++) {
		scene sc;
		std::string sock = sc.dir / "ctl", script, argv;
		std::vector<pid_t> winners;
		child sh;
		const int n = 8;

		sc.config("control_socket = \"" + sock + "\"\n");
		for (const std::string &a : sc.configured())
			argv += a + " ";
		for (int i = 0; i < n; i++)
			script += argv + ">" + sc.dir.path + "/w" + std::to_string(i) + ".log 2>&1 &\n";
		child_start(&sh, {"/bin/sh", "-c", script}, clean_env);
		REQUIRE(child_wait_exit(&sh, 10000));
		for (int i = 0; i < n; i++) {
			std::string log = sc.dir.path + "/w" + std::to_string(i) + ".log", text;
			/* Each one either listens or gives up. */
			REQUIRE_MESSAGE(wait_until([&] {
				text = read_file(log);
				return text.find("control socket ready") != std::string::npos ||
				    text.find("cannot listen") != std::string::npos;
			}, 20000), text);
			if (text.find("control socket ready") != std::string::npos)
				winners.push_back((pid_t)line_field(
				    lines_with(text, {"control socket ready"}).at(0), "wrapper"));
			else
				CHECK(text.find("spawning") == std::string::npos);
		}
		INFO("round ", round);
		CHECK(winners.size() == 1);
		for (pid_t w : winners) {
			send_signal(w, SIGTERM);
			CHECK(wait_until([&] { return !pid_alive(w); }, 10000));
		}
		CHECK(wait_until([&] { return sc.daemons().empty(); }, 10000));
	}
}

TEST_CASE("control: only root and the wrapper's user are served")
{
	ctl_scene t;
	int status = 0;

	/* The socket is 0600: nobody cannot even connect.  (The client has
	 * no --timeout: a wrapper that took the stop and never answered
	 * would keep it waiting for ever, hence reap_within.) */
	pid_t c = start_child(build_path("pidsitter"), {"pidsitter", "-S", t.sock, "-s", "stop"},
	    65534, true);
	status = reap_within(c, "pidsitter -s stop as nobody", 20000);
	CHECK(WEXITSTATUS(status) == 1);
	/* Opened up by mistake (the directory too): the peer's uid still
	 * counts. */
	chmod(t.sc.dir.path.c_str(), 0755);
	chmod(t.sock.c_str(), 0666);
	c = start_child(build_path("pidsitter"), {"pidsitter", "-S", t.sock, "-s", "stop"}, 65534,
	    true);
	status = reap_within(c, "pidsitter -s stop as nobody, the socket 0666", 20000);
	CHECK(WEXITSTATUS(status) == 1);
	CHECK(child_wait_line(&t.w, "control connection refused", 5000));
	CHECK(pid_alive(t.daemon));
	CHECK(record_count(t.sc.record, t.daemon, "signal SIGTERM") == 0);
	CHECK(ctl(t.sock, "status").code == 0);
}

TEST_CASE("control: misbehaving clients never stall the wrapper nor touch the daemon")
{
	ctl_scene t;

	SUBCASE("too long, binary, unknown") {
		int fd = raw_connect(t.sock);
		std::string junk(300, 'x');
		REQUIRE(write(fd, junk.data(), junk.size()) == (ssize_t)junk.size());
		CHECK(read_all(fd, 5000) == "fail request too long\n");
		close(fd);
		fd = raw_connect(t.sock);
		REQUIRE(write(fd, "st\x01\xff\n", 5) == 5);
		CHECK(read_all(fd, 5000) == "fail request is not printable text\n");
		close(fd);
		fd = raw_connect(t.sock);
		REQUIRE(write(fd, "reboot\n", 7) == 7);
		CHECK(read_all(fd, 5000) == "fail unknown command (status, upgrade or stop)\n");
		close(fd);
	}
	SUBCASE("half-closed after a request without its newline") {
		int fd = raw_connect(t.sock);
		REQUIRE(write(fd, "status", 6) == 6);
		shutdown(fd, SHUT_WR);
		std::string out = read_all(fd, 5000);
		CHECK(out.find("info state: running\n") == 0);
		CHECK(out.substr(out.size() - 4) == "ok \n");
		close(fd);
	}
	SUBCASE("slow: a byte and then nothing") {
		int fd = raw_connect(t.sock);
		REQUIRE(write(fd, "s", 1) == 1);
		/* Meanwhile others are served. */
		CHECK(ctl(t.sock, "status").code == 0);
		CHECK(read_all(fd, 15000) == "fail no request within 5s\n");
		close(fd);
	}
	SUBCASE("a flood of bytes after the request, and a client that never reads") {
		int flood = raw_connect(t.sock);
		int mute = raw_connect(t.sock);
		std::string junk(65536, 'y');
		REQUIRE(write(mute, "status\n", 7) == 7);
		REQUIRE(write(flood, "status\n", 7) == 7);
		/* The wrapper closes it after CONTROL_INPUT_MAX bytes: the
		 * writes then fail (EPIPE; SIGPIPE is ignored by MSG_NOSIGNAL). */
		ssize_t n = 0, sent = 0;
		for (int i = 0; i < 64 && (n = send(flood, junk.data(), junk.size(), MSG_NOSIGNAL)) > 0; i++)
			sent += n;
		int err = n < 0 ? errno : 0;
		INFO("the last send: " << std::string(n < 0 ? strerror(err) : "no error"));
		CHECK(n < 0);
		CHECK(sent < 64 * 65536);
		/* Closed by the wrapper (ECONNRESET: with bytes it left
		 * unread), not given up on here (EAGAIN: SO_SNDTIMEO). */
		CHECK((err == EPIPE || err == ECONNRESET));
		close(flood);
		CHECK(ctl(t.sock, "status").code == 0);
		close(mute);
	}
	SUBCASE("a hundred clients at once, and more than the wrapper takes") {
		std::vector<int> fds;
		for (int i = 0; i < 140; i++)
			fds.push_back(raw_connect(t.sock));
		/* The last ones were told the wrapper is busy. */
		std::string last = read_all(fds.back(), 5000);
		CHECK(last == "fail busy: too many control connections\n");
		for (int i = 0; i < 100; i++)
			REQUIRE(write(fds[i], "status json\n", 12) == 12);
		for (int i = 0; i < 100; i++) {
			std::string out = read_all(fds[i], 5000);
			CHECK(out.rfind("info {\"state\":\"running\"", 0) == 0);
		}
		for (int fd : fds)
			close(fd);
		CHECK(ctl(t.sock, "status").code == 0);
	}
	CHECK(pid_alive(t.daemon));
	CHECK(read_pid(t.sc.pidfile) == t.daemon);
	CHECK(record_count(t.sc.record, t.daemon, "signal") == 0);
	send_signal(t.w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&t.w, 10000));
	CHECK(child_code(&t.w) == 0);
}

TEST_CASE("control: clients holding connections leave the wrapper descriptors to follow an upgrade")
{
	/* With every descriptor taken by clients that send nothing, the
	 * wrapper could not open the pid file after HUP, took the old
	 * process's exit for the daemon's end and left the new one
	 * orphaned. */
	scene sc;
	std::string sock = sc.dir / "ctl";
	child w;
	std::vector<int> fds;

	sc.config("control_socket = \"" + sock + "\"\n");
	child_start_hooked(&w, sc.configured({"--drain", "50"}), clean_env, few_descriptors);
	pid_t old = sc.ready(10000);
	REQUIRE(child_wait_line(&w, "monitoring process", 10000));
	for (int i = 0; i < 100; i++) {
		struct sockaddr_un sa;
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		REQUIRE(fd >= 0);
		memset(&sa, 0, sizeof sa);
		sa.sun_family = AF_UNIX;
		memcpy(sa.sun_path, sock.c_str(), sock.size());
		if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
			fds.push_back(fd);
		else
			close(fd);
	}
	/* Its connection comes after theirs: once it has its answer
	 * (busy, or closed), the wrapper took all of them. */
	CHECK(ctl(sock, "status").code != 0);
	pid_t fresh = hup_successor(sc, &w, old, 10000);
	CHECK(wait_log(&w, {"upgrade complete", log_gen(w, 2, fresh)}, 10000));
	CHECK(child_count_lines(&w, "shutting down") == 0);
	CHECK(pid_alive(w.pid));
	for (int fd : fds)
		close(fd);
	CHECK(ctl(sock, "status").code == 0);
	stop_wrapper(&w);
	CHECK(child_code(&w) == 0);
	CHECK(sc.daemons().empty());
}

TEST_CASE("control: the client prints no control characters a server sends")
{
	/* Whoever listens at the path (the socket's owner is trusted: a
	 * wrapper running as the daemon's user) must not reach the
	 * operator's terminal with escape sequences. */
	tmp_dir d;
	std::string sock = d / "fake";
	struct sockaddr_un sa;
	int srv = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	REQUIRE(srv >= 0);
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, sock.c_str(), sock.size());
	REQUIRE(bind(srv, (struct sockaddr *)&sa, sizeof sa) == 0);
	REQUIRE(listen(srv, 4) == 0);
	pid_t server = fork();
	REQUIRE(server >= 0);
	if (server == 0) {
		static const char text[] = "info \x1b]0;owned\x07\x1b[2Jstate\tok\n"
		    "fail \x1b[31mred\x1b[0m\n";
		int c = accept(srv, NULL, NULL);
		char buf[64];
		if (c >= 0 && read(c, buf, sizeof buf) > 0 &&
		    write(c, text, sizeof text - 1) == (ssize_t)(sizeof text - 1))
			_exit(0);
		_exit(1);
	}
	close(srv);
	reply r = ctl(sock, "status");
	/* The client is gone: had it not connected or sent its request,
	 * the server would wait in accept() or read() for ever. */
	reap_within(server, "the fake control server", 10000);
	CHECK(r.code == 1);
	CHECK(r.out == "?]0;owned??[2Jstate\tok\n");
	CHECK(r.err == "pidsitter: ?[31mred?[0m\n");
}

TEST_CASE("control: the client's usage errors are exit 2")
{
	reply r = send_command({"-S", "/nonexistent/sock", "-s", "reboot"});
	CHECK(r.code == 2);
	CHECK(r.err.find("unknown command 'reboot' (status, upgrade or stop)") != std::string::npos);
	r = send_command({"-S", "/x", "-s", "status", "/bin/true"});
	CHECK(r.code == 2);
	CHECK(r.err.find("-s status takes no binary ('/bin/true')") != std::string::npos);
	r = send_command({"-s", "status"});
	CHECK(r.code == 2);
	CHECK(r.err.find("no control socket") != std::string::npos);
	r = send_command({"-S", "/nonexistent/sock", "-s", "status", "--timeout", "soon"});
	CHECK(r.code == 2);
	r = send_command({"-S", "/nonexistent/sock", "-s", "status"});
	CHECK(r.code == 3);
}

TEST_CASE("control: a wrapper started as soon as -s stop returns finds the sockets free")
{
	/* ready = "notify": a new wrapper that cannot have the daemon's
	 * notification socket gives up at start.  The old one frees it (and
	 * the control socket) before its reply, not at its exit a moment
	 * later. */
	ctl_scene t({}, "ready = \"notify\"\n");
	for (int round = 0; round < 5; round++) {
		CAPTURE(round);
		reply r = ctl(t.sock, "stop");
		REQUIRE(r.code == 0);
		child next;
		child_start(&next, t.sc.configured());
		REQUIRE_MESSAGE(child_wait_line(&next, "monitoring process", 10000), child_dump(&next));
		CHECK(child_count_lines(&next, "cannot open the notification socket") == 0);
		CHECK(child_count_lines(&next, "cannot listen on the control socket") == 0);
		REQUIRE(child_wait_exit(&t.w, 10000));
		/* The next round stops this one. */
		std::swap(t.w.pid, next.pid);
		std::swap(t.w.pidfd, next.pidfd);
		std::swap(t.w.out_fd, next.out_fd);
		std::swap(t.w.err_fd, next.err_fd);
		std::swap(t.w.out, next.out);
		std::swap(t.w.err, next.err);
		std::swap(t.w.exited, next.exited);
		std::swap(t.w.wstatus, next.wstatus);
		REQUIRE(child_wait_line(&t.w, "control socket ready", 5000));
	}
}
