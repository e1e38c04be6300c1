/*
 * notify_test.cc: what pidsitter tells the world: systemd's
 * notification socket, checked against the example unit
 * (examples/systemd/gitaly.service, whose ExecStart and ExecReload are run
 * here as systemd would run them), and the JSON status file.
 */
#include <glob.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <thread>

#include <doctest/doctest.h>

#include "harness.h"
#include "service.h"

namespace {

const char UNIT[] = "examples/systemd/gitaly.service";

/* A unit file: "Section.Key" -> every value given, in order. */
std::map<std::string, std::vector<std::string>>
parse_unit(const std::string &text)
{
	std::map<std::string, std::vector<std::string>> out;
	std::string section;
	size_t from = 0, nl;

	while (from < text.size()) {
		nl = text.find('\n', from);
		if (nl == std::string::npos)
			nl = text.size();
		std::string line = text.substr(from, nl - from);
		from = nl + 1;
		if (line.empty() || line[0] == '#' || line[0] == ';')
			continue;
		REQUIRE_MESSAGE(line.back() != '\\', "continued lines are not expected here");
		if (line[0] == '[') {
			section = line.substr(1, line.find(']') - 1);
			continue;
		}
		size_t eq = line.find('=');
		REQUIRE_MESSAGE(eq != std::string::npos, "not Key=Value: " << line);
		out[section + "." + line.substr(0, eq)].push_back(line.substr(eq + 1));
	}
	return out;
}

std::vector<std::string>
words(const std::string &s)
{
	std::vector<std::string> out;
	size_t from = 0;

	while (from < s.size()) {
		size_t sp = s.find(' ', from);
		if (sp == std::string::npos)
			sp = s.size();
		if (sp > from)
			out.push_back(s.substr(from, sp - from));
		from = sp + 1;
	}
	return out;
}

/* The test's end of NOTIFY_SOCKET. */
struct notify_socket {
	int fd = -1;
	std::string name;  /* what NOTIFY_SOCKET says */
	std::vector<std::string> msgs;

	notify_socket(const std::string &path, bool abstract)
	{
		struct sockaddr_un sa;
		socklen_t len;

		memset(&sa, 0, sizeof sa);
		sa.sun_family = AF_UNIX;
		if (abstract) {
			name = "@pidsitter-test-" + std::to_string(getpid()) + "-" +
			    std::to_string((long)time(NULL));
			memcpy(sa.sun_path + 1, name.c_str() + 1, name.size() - 1);
			len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + name.size());
		} else {
			name = path;
			REQUIRE(path.size() < sizeof sa.sun_path);
			memcpy(sa.sun_path, path.c_str(), path.size());
			len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path.size() + 1);
		}
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		REQUIRE(fd >= 0);
		REQUIRE(bind(fd, (struct sockaddr *)&sa, len) == 0);
	}
	~notify_socket()
	{
		if (fd >= 0)
			close(fd);
	}

	/* Receive until a message holds needle; its index, or -1 at the
	 * deadline.  Messages before `after` do not count. */
	int wait(const char *needle, int timeout_ms, int after = -1)
	{
		for (size_t i = (size_t)(after + 1); i < msgs.size(); i++)
			if (msgs[i].find(needle) != std::string::npos)
				return (int)i;
		bool ok = wait_until([&] {
			struct pollfd p = {fd, POLLIN, 0};
			char buf[4096];
			if (poll(&p, 1, 20) <= 0)
				return false;
			ssize_t n = recv(fd, buf, sizeof buf, 0);
			if (n <= 0)
				return false;
			msgs.emplace_back(buf, (size_t)n);
			return (int)msgs.size() - 1 > after &&
			    msgs.back().find(needle) != std::string::npos;
		}, timeout_ms);
		return ok ? (int)msgs.size() - 1 : -1;
	}
	std::string all() const
	{
		std::string s;
		for (const std::string &m : msgs)
			s += "[" + m + "] ";
		return s;
	}
};

std::string
status_text(pid_t pid, unsigned gen, unsigned gens)
{
	return "STATUS=current pid " + std::to_string(pid) + ", generation " +
	    std::to_string(gen) + ", " + std::to_string(gens) + " generation(s)";
}

unsigned long long
monotonic_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000;
}

}  // namespace

TEST_CASE("systemd: the example unit is Type=notify, reloads with pidsitter -s upgrade, stops with KillMode=process")
{
	auto u = parse_unit(read_file(UNIT));

	REQUIRE(u.count("Service.ExecStart") == 1);
	CHECK(u["Service.Type"] == std::vector<std::string>{"notify"});
	CHECK(u["Service.NotifyAccess"] == std::vector<std::string>{"main"});
	CHECK(u["Service.ExecReload"] == std::vector<std::string>{
	    "/usr/sbin/pidsitter -S /run/gitaly/pidsitter.sock -s upgrade"});
	CHECK(u["Service.RuntimeDirectory"] == std::vector<std::string>{"gitaly"});
	CHECK(u["Service.KillMode"] == std::vector<std::string>{"process"});
	CHECK(u.count("Service.TimeoutStopSec") == 1);
	CHECK(u["Service.ExecStart"][0].compare(0, 50,
	    "/usr/sbin/pidsitter -S /run/gitaly/pidsitter.sock ") == 0);
	CHECK(u["Service.Environment"] ==
	    std::vector<std::string>{"GITALY_PID_FILE=/var/opt/gitlab/gitaly/gitaly.pid"});
	CHECK(u["Install.WantedBy"] == std::vector<std::string>{"multi-user.target"});

	/* systemd's own reading, where systemd is installed (not running:
	 * verify needs no manager).  The paths that must exist are ours;
	 * --man=no: the man page is not installed on a build machine. */
	const char *analyze = "/usr/bin/systemd-analyze";
	if (access(analyze, X_OK) != 0) {
		MESSAGE("no systemd-analyze here: the unit was only parsed");
		return;
	}
	tmp_dir dir;
	std::string unit = dir / "gitaly.service";
	write_file(unit, substitute(read_file(UNIT), {{"/usr/sbin/pidsitter", build_path("pidsitter")}}));
	cmd_result v = run_cmd({analyze, "verify", "--man=no", unit}, {}, 60000);
	CAPTURE(v.out);
	CAPTURE(v.err);
	CHECK(v.code == 0);
	CHECK((v.out + v.err).find("gitaly.service") == std::string::npos);
}

TEST_CASE("systemd: the unit's ExecStart under NOTIFY_SOCKET: READY=1, RELOADING=1 on ExecReload, READY=1 for generation 2, STOPPING=1; the daemon gets the wrapper's socket, never systemd's")
{
	bool abstract = false;
	SUBCASE("a socket in the file system") {}
	SUBCASE("a socket in the abstract namespace (@name)") { abstract = true; }

	scene sc;
	auto u = parse_unit(read_file(UNIT));
	subst_list subs = gitlab_paths("--pid-file " + sc.pidfile + " --record " + sc.record +
	    " --env NOTIFY_SOCKET --upgrade-ready-delay 300 --drain 200 --exit-code 4",
	    sc.dir.path, sc.gitaly);
	subs.push_back({"/run/gitaly", sc.dir.path});
	notify_socket ns(sc.dir / "notify", abstract);
	std::vector<std::string> env;
	for (const std::string &e : u["Service.Environment"])
		env.push_back(substitute(e, subs));
	env.push_back("NOTIFY_SOCKET=" + ns.name);
	child w;
	child_start(&w, words(substitute(u["Service.ExecStart"][0], subs)), env);
	INFO(ns.all());

	/* READY=1 once the pid file names the daemon, which is generation 1. */
	int ready1 = ns.wait("READY=1", 20000);
	REQUIRE_MESSAGE(ready1 >= 0, child_dump(&w));
	pid_t d1 = read_pid(sc.pidfile);
	REQUIRE(d1 > 0);
	CHECK(ns.msgs[ready1] == "READY=1\n" + status_text(d1, 1, 1));
	CHECK(record_wait(sc.record, d1, "env NOTIFY_SOCKET=@pidsitter/", 10000));

	/* systemctl reload: ExecReload, pidsitter -s upgrade through the
	 * control socket (it returns once generation 2 is current). */
	std::vector<std::string> reload =
	    words(substitute(u["Service.ExecReload"][0], subs));
	REQUIRE(access(reload[0].c_str(), X_OK) == 0);
	unsigned long long before = monotonic_usec();
	REQUIRE(run_cmd(reload).code == 0);
	int reloading = ns.wait("RELOADING=1", 20000, ready1);
	REQUIRE(reloading > ready1);
	std::string r = ns.msgs[reloading];  /* a copy: msgs grows */
	CAPTURE(r);
	size_t at = r.find("\nMONOTONIC_USEC=");
	REQUIRE(at != std::string::npos);
	unsigned long long usec = strtoull(r.c_str() + at + 16, NULL, 10);
	CHECK(usec >= before);
	CHECK(usec <= monotonic_usec());

	/* READY=1 again when generation 2 is current. */
	int ready2 = ns.wait("READY=1", 20000, reloading);
	REQUIRE(ready2 > reloading);
	pid_t d2 = read_pid(sc.pidfile);
	CHECK(d2 != d1);
	CHECK(ns.msgs[ready2].compare(0, 8, "READY=1\n") == 0);
	CHECK(ns.msgs[ready2].find("STATUS=current pid " + std::to_string(d2) + ", generation 2,") !=
	    std::string::npos);
	CHECK(record_wait(sc.record, d2, "env NOTIFY_SOCKET=@pidsitter/", 10000));
	REQUIRE(record_wait(sc.record, d1, "exit 0", 10000));

	/* systemctl stop: TERM to the main process. */
	send_signal(w.pid, SIGTERM);
	int stopping = ns.wait("STOPPING=1", 20000, ready2);
	CHECK(stopping > ready2);
	REQUIRE(child_wait_exit(&w, 20000));
	CHECK(child_code(&w) == 4);
	CHECK(record_count(sc.record, d2, "signal SIGTERM") == 1);
	/* Nothing else said READY or RELOADING out of turn. */
	int readies = 0;
	for (const std::string &m : ns.msgs)
		readies += m.compare(0, 8, "READY=1\n") == 0;
	CHECK(readies == 2);
	CHECK(ns.wait("RELOADING=1", 0, reloading) == -1);
}

TEST_CASE("status file: JSON at every step, never torn: running, upgrading, draining, exited with the exit code")
{
	scene sc;
	std::string status = sc.dir / "pidsitter.status";
	sc.config("status_file = \"" + status + "\"\n");

	/* A reader that parses every version of the file it can catch. */
	std::atomic<bool> stop(false);
	std::atomic<int> reads(0), torn(0);
	std::string bad;
	std::thread reader([&] {
		while (!stop.load()) {
			std::string text = read_file(status), err;
			json j;
			if (text.empty())
				continue;
			reads++;
			if (!json_parse(text, &j, &err) && torn++ == 0)
				bad = text + " (" + err + ")";
		}
	});
	/* Joined on every way out, a failed REQUIRE's too. */
	struct joiner {
		std::atomic<bool> &stop;
		std::thread &t;
		~joiner() { end(); }
		void end() { stop = true; if (t.joinable()) t.join(); }
	} join_reader{stop, reader};

	auto load = [&](json *j) {
		std::string text = read_file(status), err;
		CAPTURE(text);
		bool ok = json_parse(text, j, &err);
		CAPTURE(err);
		REQUIRE(ok);
	};
	auto get = [](const json &j, const char *key) {
		const json *v = j.get(key);
		REQUIRE_MESSAGE(v != NULL, "no \"" << key << "\"");
		return *v;
	};
	auto state_is = [&](const char *want) {
		return wait_until([&] {
			json j;
			std::string err;
			return json_parse(read_file(status), &j, &err) && j.get("state") != NULL &&
			    j.get("state")->s == want;
		}, 20000);
	};

	child w;
	child_start(&w, sc.configured({"--drain", "60000", "--upgrade-ready-delay", "2000",
	    "--exit-code", "6"}));
	json j;

	/* Running: the daemon wrote its pid file. */
	REQUIRE_MESSAGE(state_is("running"), child_dump(&w));
	load(&j);
	pid_t d1 = read_pid(sc.pidfile);
	CHECK(get(j, "wrapper").n == w.pid);
	CHECK(get(get(j, "current"), "pid").n == d1);
	CHECK(get(get(j, "current"), "generation").n == 1);
	CHECK(get(j, "draining").type == json::ARRAY);
	CHECK(get(j, "draining").items.empty());
	CHECK(get(get(j, "last_upgrade"), "result").s == "none");
	CHECK(get(get(j, "last_upgrade"), "time").type == json::NUL);
	CHECK(j.get("exit_code") == NULL);
	struct stat st;
	REQUIRE(stat(status.c_str(), &st) == 0);
	CHECK((st.st_mode & 0777) == 0644);

	/* Upgrading: the new process takes 2 s to be ready. */
	send_signal(w.pid, SIGHUP);
	REQUIRE(state_is("upgrading"));
	load(&j);
	CHECK(get(get(j, "current"), "pid").n == d1);

	/* Running again, generation 2 current, generation 1 draining. */
	REQUIRE(wait_until([&] {
		json k;
		std::string err;
		return json_parse(read_file(status), &k, &err) && k.get("current") != NULL &&
		    k.get("current")->get("generation") != NULL &&
		    k.get("current")->get("generation")->n == 2 && k.get("state")->s == "running";
	}, 20000));
	load(&j);
	pid_t d2 = read_pid(sc.pidfile);
	CHECK(d2 != d1);
	CHECK(get(get(j, "current"), "pid").n == d2);
	REQUIRE(get(j, "draining").items.size() == 1);
	CHECK(get(get(j, "draining").items[0], "pid").n == d1);
	CHECK(get(get(j, "draining").items[0], "generation").n == 1);
	CHECK(get(get(j, "last_upgrade"), "result").s == "complete");
	std::string when = get(get(j, "last_upgrade"), "time").s;
	CAPTURE(when);
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	const char *rest = strptime(when.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
	REQUIRE(rest != NULL);
	CHECK(strlen(rest) == 5);  /* ".mmmZ" */
	CHECK(rest[4] == 'Z');
	long skew = (long)(timegm(&tm) - time(NULL));
	CHECK(skew <= 1);
	CHECK(skew >= -120);

	/* Exited, with the code pidsitter exits with. */
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, 20000));
	CHECK(child_code(&w) == 6);
	load(&j);
	CHECK(get(j, "state").s == "exited");
	CHECK(get(j, "exit_code").n == 6);
	CHECK(get(j, "current").type == json::NUL);
	CHECK(get(j, "draining").items.empty());
	CHECK(get(get(j, "last_upgrade"), "result").s == "complete");
	CHECK(access((status + ".tmp").c_str(), F_OK) != 0);
	/* Nor any of the temporaries (pidsitter.toml(5), status_file). */
	glob_t g;
	CHECK(glob((sc.dir / ".pidsitter.status.*").c_str(), GLOB_NOSORT, NULL, &g) == GLOB_NOMATCH);
	globfree(&g);

	join_reader.end();
	CAPTURE(bad);
	CHECK(torn.load() == 0);
	CHECK(reads.load() > 10);
}

TEST_CASE("exit status and status file: a stop during a drain reports the generation that was current, whichever dies last")
{
	scene sc;
	std::string status = sc.dir / "pidsitter.status";
	sc.config("status_file = \"" + status + "\"\n" SLOW_REAP_OK);
	child w, d2;

	child_start(&w, sc.configured({"--exit-code", "7"}));
	REQUIRE_MESSAGE(record_wait(sc.record, 0, "ready", 10000), child_dump(&w));
	pid_t d1 = read_pid(sc.pidfile);
	/* A successor that the test starts (so that the test, its parent,
	 * reaps it and its status is known): it writes the pid file, the
	 * wrapper follows it, and the first generation drains. */
	child_start(&d2, sc.daemon({"--exit-code", "7"}));
	reap_in_background(d2.pid);
	d2.exited = true;  /* the background thread reaps it */
	REQUIRE_MESSAGE(child_wait_line(&w, ("msg=\"following new process\" generation=2 pid=" +
	    std::to_string(w.pid) + " process=" + std::to_string(d2.pid)).c_str(), 10000), child_dump(&w));
	REQUIRE(child_wait_line(&w, "msg=\"process draining\" generation=1", 10000));

	/* The draining generation is held stopped: the TERM reaches it, but
	 * it can act only after the current one has died of it. */
	send_signal(d1, SIGSTOP);
	REQUIRE(wait_until([&] {
		return read_file("/proc/" + std::to_string(d1) + "/stat").find(") T ") != std::string::npos;
	}, 10000));
	send_signal(w.pid, SIGTERM);
	REQUIRE_MESSAGE(child_wait_line(&w, ("msg=\"process exited\" exit_code=7 generation=2 pid=" +
	    std::to_string(w.pid) + " process=" + std::to_string(d2.pid)).c_str(), 10000), child_dump(&w));
	/* Then the old one dies otherwise: its drain cut short. */
	send_signal(d1, SIGKILL);
	REQUIRE(child_wait_exit(&w, 10000));
	INFO(child_dump(&w));
	CHECK(w.out.find("signal=SIGKILL status_source=child") != std::string::npos);
	CHECK(child_code(&w) == 7);
	json j;
	std::string err;
	REQUIRE(json_parse(read_file(status), &j, &err));
	REQUIRE(j.get("exit_code") != NULL);
	CHECK(j.get("exit_code")->n == 7);
}

/* ---- the daemon's own notifications (pidsitter(8), NOTIFICATIONS) ---- */

namespace {

/* A shell daemon that speaks sd_notify through systemd-notify(1), a
 * short-lived child of it: it writes its pid file, then does what the
 * file DIR/do.<its pid> says (systemd-notify's arguments, or "upgrade": a
 * copy of itself that writes the pid file), and records each step in
 * DIR/record.  systemd-notify waits until the wrapper has read the
 * message (BARRIER=1, sd_notify(3)), so "sent 0" means it was handled. */
const char NOTIFY_DAEMON[] = R"(#!/bin/sh
pidfile=$1 dir=$2
trap 'echo "$$ exit" >> "$dir/record"; exit 0' TERM
if [ "${3-}" = successor ]; then
	systemd-notify --pid=$$; echo "$$ mainpid $?" >> "$dir/record"
else
	echo $$ > "$pidfile.$$" && mv "$pidfile.$$" "$pidfile"
fi
echo "$$ env $NOTIFY_SOCKET" >> "$dir/record"
echo "$$ started" >> "$dir/record"
while :; do
	if [ -e "$dir/do.$$" ]; then
		what=$(cat "$dir/do.$$")
		rm -f "$dir/do.$$"
		case $what in
		upgrade) "$0" "$pidfile" "$dir" & ;;
		successor) "$0" "$pidfile" "$dir" successor & ;;
		*) systemd-notify $what; echo "$$ sent $?" >> "$dir/record" ;;
		esac
	fi
	sleep 0.02
done
)";

/* Tell the daemon pid what to do (atomically: it polls for the file). */
void
daemon_do(const scene &sc, pid_t pid, const std::string &what)
{
	std::string tmp = sc.dir / "do.tmp";
	write_file(tmp, what);
	REQUIRE(rename(tmp.c_str(), (sc.dir.path + "/do." + std::to_string(pid)).c_str()) == 0);
}

/* Send one datagram from this process (no generation of anybody's). */
void
send_datagram(const std::string &address, const std::string &msg)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	REQUIRE(fd >= 0);
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	REQUIRE(address.size() < sizeof sa.sun_path);
	memcpy(sa.sun_path, address.data(), address.size());
	if (address[0] == '@')
		sa.sun_path[0] = '\0';
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + address.size());
	CHECK(sendto(fd, msg.data(), msg.size(), 0, (struct sockaddr *)&sa, len) ==
	    (ssize_t)msg.size());
	close(fd);
}

/* The shell daemon in sc's directory, the configuration (its name, then
 * keys) and the wrapper's command line for both. */
std::vector<std::string>
shell_daemon(const scene &sc, const std::string &keys)
{
	std::string script = sc.dir / "notify-daemon";

	write_file(script, NOTIFY_DAEMON, 0755);
	sc.config("names = [\"notify-daemon\"]\n" + keys);
	return {build_path("pidsitter"), "-c", sc.conf, "--", script, sc.pidfile, sc.dir.path};
}

int
count_msgs(const notify_socket &ns, const std::string &m)
{
	int n = 0;
	for (const std::string &x : ns.msgs)
		n += x == m;
	return n;
}

}  // namespace

TEST_CASE("notify: systemd-notify from a shell daemon; ready = \"notify\" waits for its READY=1; a stranger's MAINPID is refused; WATCHDOG=1 only from the current generation")
{
	scene sc;
	std::string record = sc.dir / "record", status = sc.dir / "status.json";
	std::vector<std::string> argv = shell_daemon(sc, "ready = \"notify\"\nstatus_file = \"" +
	    status + "\"\n");
	notify_socket ns(sc.dir / "systemd", false);
	std::vector<std::string> env = clean_env;
	env.push_back("NOTIFY_SOCKET=" + ns.name);
	child w;
	child_start(&w, argv, env);
	INFO(ns.all());

	REQUIRE_MESSAGE(record_wait(record, 0, "started", 20000), child_dump(&w));
	pid_t d1 = read_pid(sc.pidfile);
	REQUIRE(d1 > 0);
	/* The daemon's NOTIFY_SOCKET is the wrapper's, derived from the pid
	 * file (not systemd's). */
	std::string line;
	for (const std::string &l : lines_with(read_file(record), {std::to_string(d1) + " env "}))
		line = l;
	size_t at = line.find(" env @pidsitter/");
	REQUIRE(at != std::string::npos);
	std::string address = line.substr(at + 5);

	/* Its pid file names it, but it has not said READY=1: starting. */
	daemon_do(sc, d1, "STATUS=booting");
	REQUIRE_MESSAGE(record_wait(record, d1, "sent 0", 20000), child_dump(&w));
	CHECK(read_file(status).find("\"state\":\"starting\"") != std::string::npos);
	CHECK(read_file(status).find("\"daemon_status\":\"booting\"") != std::string::npos);
	CHECK(ns.wait("READY=1", 0) == -1);

	/* READY=1 (with a STATUS=) from systemd-notify, a child of the
	 * daemon: the wrapper is ready only now, after the relayed status. */
	daemon_do(sc, d1, "--ready --status=serving");
	int ready = ns.wait("READY=1", 20000);
	REQUIRE_MESSAGE(ready >= 0, child_dump(&w));
	int relayed = ns.wait("STATUS=serving (generation 1)", 0);
	CHECK(relayed >= 0);
	CHECK(relayed < ready);
	CHECK(wait_until([&] {
		return read_file(status).find("\"state\":\"running\"") != std::string::npos; }, 20000));
	CHECK(read_file(status).find("\"daemon_status\":\"serving\"") != std::string::npos);
	CHECK(wait_log(&w, {log_msg("process says it is ready"), "generation=1"}, 20000));

	/* A stranger (this test: no generation nor a descendant of one)
	 * names itself the main process: refused and logged. */
	send_datagram(address, "MAINPID=" + std::to_string(getpid()) + "\nREADY=1\n");
	CHECK_MESSAGE(wait_log(&w, {log_msg("notification refused"), "sender=" +
	    std::to_string(getpid())}, 20000), child_dump(&w));
	CHECK(child_count_lines(&w, "following new process") == 0);
	/* And garbage, logged at most once a second. */
	send_datagram(address, "not a notification");

	/* A second generation: the copy writes the pid file, the first
	 * drains.  WATCHDOG=1 from the draining one is not relayed; from
	 * the current one it is. */
	daemon_do(sc, d1, "upgrade");
	REQUIRE(wait_until([&] { pid_t p = read_pid(sc.pidfile); return p > 0 && p != d1; }, 20000));
	pid_t d2 = read_pid(sc.pidfile);
	REQUIRE_MESSAGE(wait_log(&w, {log_msg("following new process"),
	    "process=" + std::to_string(d2), "generation=2"}, 20000), child_dump(&w));
	daemon_do(sc, d1, "WATCHDOG=1");
	REQUIRE(record_wait(record, d1, "sent 0", 20000));
	CHECK(record_count(record, d1, "sent 0") == 2);
	daemon_do(sc, d2, "WATCHDOG=1");
	REQUIRE_MESSAGE(ns.wait("WATCHDOG=1", 20000) >= 0, child_dump(&w));
	REQUIRE(record_wait(record, d2, "sent 0", 20000));
	CHECK(count_msgs(ns, "WATCHDOG=1") == 1);

	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, 20000));
	CHECK(record_count(record, d1, "exit") == 1);
	CHECK(record_count(record, d2, "exit") == 1);
}

/* A successor named by MAINPID= alone dies before it writes the pid
 * file, which still names the first process: that one is current again,
 * as the pid file says, and the wrapper stays.  Whether the file is read
 * again at the death or found unchanged (pidwatch_recheck), the sitter
 * hears the same. */
TEST_CASE("notify: a successor followed through MAINPID= dies before writing the pid file: the process the pid file names is current again")
{
	scene sc;
	std::string record = sc.dir / "record";
	std::vector<std::string> argv = shell_daemon(sc, "");
	child w;
	child_start(&w, argv, clean_env);

	REQUIRE_MESSAGE(record_wait(record, 0, "started", 20000), child_dump(&w));
	pid_t d1 = read_pid(sc.pidfile);
	REQUIRE(d1 > 0);
	REQUIRE(wait_log(&w, {log_msg("monitoring process"), "process=" + std::to_string(d1)},
	    20000));
	daemon_do(sc, d1, "successor");
	REQUIRE_MESSAGE(record_wait(record, 0, "mainpid 0", 20000), child_dump(&w));
	pid_t d2 = 0;
	for (const std::string &l : lines_with(read_file(record), {" mainpid 0"}))
		d2 = (pid_t)atol(l.c_str());
	REQUIRE(d2 > 0);
	REQUIRE_MESSAGE(wait_log(&w, {log_msg("following new process"),
	    "process=" + std::to_string(d2), "source=mainpid"}, 20000), child_dump(&w));
	CHECK(read_pid(sc.pidfile) == d1);

	kill(d2, SIGKILL);
	CHECK_MESSAGE(wait_log(&w, {log_msg("process is current"), "process=" +
	    std::to_string(d1)}, 20000), child_dump(&w));
	CHECK_FALSE(w.exited);
	CHECK(pid_alive(d1));

	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, 20000));
	CHECK(record_count(record, d1, "exit") == 1);
}

TEST_CASE("notify: notify = \"off\" gives the daemon no socket; notify_socket is a path the daemon gets")
{
	scene sc;
	std::string record = sc.dir / "record";
	bool off = false;
	SUBCASE("off") { off = true; }
	SUBCASE("a path") {}
	std::string sock = sc.dir / "daemon.sock";
	child w;
	child_start(&w, shell_daemon(sc, off ? "notify = \"off\"\n" :
	    "notify_socket = \"" + sock + "\"\n"), clean_env);
	REQUIRE_MESSAGE(record_wait(record, 0, "started", 20000), child_dump(&w));
	pid_t d = read_pid(sc.pidfile);
	if (off) {
		CHECK(record_count(record, d, "env") == 1);
		CHECK(record_count(record, d, "env /") == 0);
		CHECK(record_count(record, d, "env @") == 0);
	} else {
		CHECK(record_count(record, d, "env " + sock) == 1);
		/* Not under systemd, READY=1 still reaches the wrapper. */
		daemon_do(sc, d, "--ready");
		CHECK(wait_log(&w, {log_msg("process says it is ready")}, 20000));
	}
	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, 20000));
}

TEST_CASE("notify: a daemon adopted by a new wrapper still reaches it: the address comes from the pid file")
{
	scene sc;
	std::string record = sc.dir / "record", status = sc.dir / "status.json";
	std::vector<std::string> argv = shell_daemon(sc, "ready = \"notify\"\nstatus_file = \"" +
	    status + "\"\n");
	child w1;
	child_start(&w1, argv, clean_env);
	REQUIRE_MESSAGE(record_wait(record, 0, "started", 20000), child_dump(&w1));
	pid_t d = read_pid(sc.pidfile);
	daemon_do(sc, d, "--ready");
	REQUIRE(wait_log(&w1, {log_msg("process says it is ready")}, 20000));

	/* The wrapper dies; the daemon runs on, and a new wrapper adopts it.
	 * It is starting until the daemon speaks again, on the same address. */
	send_signal(w1.pid, SIGKILL);
	REQUIRE(child_wait_exit(&w1, 20000));
	child w2;
	child_start(&w2, argv, clean_env);
	REQUIRE_MESSAGE(wait_log(&w2, {log_msg("adopting a process")}, 20000), child_dump(&w2));
	CHECK(wait_until([&] {
		return read_file(status).find("\"wrapper\":" + std::to_string(w2.pid)) !=
		    std::string::npos; }, 20000));
	CHECK(read_file(status).find("\"state\":\"starting\"") != std::string::npos);
	daemon_do(sc, d, "--ready");
	CHECK_MESSAGE(wait_log(&w2, {log_msg("process says it is ready"), "generation=1",
	    "sender=" + std::to_string(d)}, 20000), child_dump(&w2));
	CHECK(wait_until([&] {
		return read_file(status).find("\"state\":\"running\"") != std::string::npos; }, 20000));
	send_signal(w2.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w2, 20000));
	CHECK(record_count(record, d, "exit") == 1);
}

/* A real tableflip daemon that speaks through go-systemd (-sd-notify):
 * with ready = "notify" the wrapper's READY=1, the status file's
 * "running" and an upgrade's completion wait for the daemon's own
 * READY=1; with no pid file at all, MAINPID= is what follows the upgrade. */
TEST_CASE("notify: a tableflip daemon on go-systemd: READY=1 ends the start and the upgrade; MAINPID= follows an upgrade without a pid file")
{
	bool pidfile = true;
	SUBCASE("with its pid file") {}
	SUBCASE("without a pid file: MAINPID=") { pidfile = false; }

	scene sc;
	std::string status = sc.dir / "status.json", rec = sc.dir / "tf-record";
	sc.config("ready = \"notify\"\nstatus_file = \"" + status + "\"\n");
	notify_socket ns(sc.dir / "systemd", false);
	std::vector<std::string> env = clean_env;
	env.push_back("NOTIFY_SOCKET=" + ns.name);
	std::vector<std::string> argv = {build_path("pidsitter"), "-c", sc.conf, "--",
	    build_path("tableflip-daemon"), "-pid-file", sc.pidfile, "-record", rec, "-sd-notify",
	    "-drain", "100ms"};
	if (!pidfile)
		argv.push_back("-no-pid-file");
	child w;
	child_start(&w, argv, env);
	INFO(ns.all());

	REQUIRE_MESSAGE(ns.wait("READY=1", 20000) >= 0, child_dump(&w));
	REQUIRE(record_wait(rec, 0, "sd-notify ok", 20000));
	pid_t d1 = atoi(lines_with(read_file(rec), {" sd-notify ok"}).at(0).c_str());
	CHECK(wait_log(&w, {log_msg("process says it is ready"), "generation=1",
	    "process=" + std::to_string(d1)}, 20000));
	CHECK(wait_until([&] {
		return read_file(status).find("\"state\":\"running\"") != std::string::npos; }, 20000));
	/* The READY=1 upward came after the daemon's (the log's order). */
	size_t said = w.out.find(log_msg("process says it is ready"));
	REQUIRE(said != std::string::npos);

	/* The upgrade (tableflip's HUP): complete once the new one says
	 * READY=1, never before. */
	send_signal(w.pid, SIGHUP);
	REQUIRE_MESSAGE(wait_log(&w, {log_msg("upgrade complete"), "generation=2"}, 20000),
	    (child_dump(&w) + read_file(rec)));
	size_t ready2 = w.out.find(log_msg("process says it is ready") + " generation=2");
	size_t done = w.out.find(log_msg("upgrade complete"));
	CHECK(ready2 != std::string::npos);
	CHECK(ready2 < done);
	if (!pidfile)
		CHECK(has_line(w.out, {log_msg("following new process"), "source=mainpid",
		    "generation=2"}));
	int reloading = ns.wait("RELOADING=1", 20000);
	CHECK(reloading >= 0);
	CHECK(ns.wait("READY=1", 20000, reloading) > reloading);
	REQUIRE(wait_log(&w, {log_msg("process exited"), "generation=1"}, 20000));

	send_signal(w.pid, SIGTERM);
	REQUIRE(child_wait_exit(&w, 20000));
	CHECK(child_code(&w) == 0);
}
