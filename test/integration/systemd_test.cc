/*
 * systemd_test.cc: examples/systemd/gitaly.service under a real systemd
 * (Debian 12's 252) as PID 1, booted for each test case in throwaway
 * namespaces by test/systemd-boot.sh (its header says how and why).  The
 * unit the manager loads is the example with its paths replaced
 * (gitlab_paths), its user made one that exists here and
 * DefaultDependencies=no added (the test boots no sysinit.target); Type,
 * ExecStart, ExecReload, KillMode and TimeoutStopSec are the example's.
 * A journal runs beside it, so that systemctl status and journalctl show
 * what they show on a real machine.
 *
 * PIDs: the pid file, the record file and systemctl give the daemon's PID
 * namespace's numbers; /proc here gives the host's.  sd_boot::host_pid
 * translates (the NSpid line of /proc/PID/status).
 */
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>

#include <doctest/doctest.h>

#include "harness.h"
#include "service.h"

namespace {

const char UNIT[] = "examples/systemd/gitaly.service";
const char LAUNCHER[] = "test/systemd-boot.sh";
/* Generous: CI machines are slow and shared.  Nothing waits this long
 * unless something is wrong. */
const int DEADLINE_MS = 30000;

/* A target that pulls in nothing but the journal. */
const char TEST_TARGET[] =
    "[Unit]\n"
    "DefaultDependencies=no\n"
    "Wants=systemd-journald.service\n"
    "After=systemd-journald.service\n";
/* Debian's journal units need sockets and sandboxing this boot has not:
 * the same daemon, started the plainest way (systemd-journald.service(8)).
 * The launcher makes its storage volatile. */
const char JOURNAL_SOCKET[] =
    "[Unit]\n"
    "DefaultDependencies=no\n"
    "[Socket]\n"
    "ListenDatagram=/run/systemd/journal/socket\n"
    "ListenStream=/run/systemd/journal/stdout\n"
    "PassCredentials=yes\n"
    "PassSecurity=yes\n"
    "SocketMode=0666\n"
    "Timestamping=us\n"
    "Service=systemd-journald.service\n";
const char JOURNAL_SERVICE[] =
    "[Unit]\n"
    "DefaultDependencies=no\n"
    "Requires=systemd-journald.socket\n"
    "After=systemd-journald.socket\n"
    "[Service]\n"
    "Type=notify\n"
    "ExecStart=/lib/systemd/systemd-journald\n"
    "Sockets=systemd-journald.socket\n"
    "RuntimeDirectory=systemd/journal\n"
    "RuntimeDirectoryPreserve=yes\n"
    "FileDescriptorStoreMax=16\n"
    "StandardOutput=null\n";

/* The launcher's chain gets SIGKILL when the test dies: nothing of a
 * boot outlives a killed test run (test/systemd-boot.sh). */
int
die_with_parent(void)
{
	return prctl(PR_SET_PDEATHSIG, SIGKILL) == 0 ? 0 : 126;
}

std::string
repo_path(const char *rel)
{
	char *p = realpath(rel, NULL);
	REQUIRE_MESSAGE(p != NULL, rel << ": not found (tests run from the source tree)");
	std::string s = p;
	free(p);
	return s;
}

/* The last number of the NSpid: line of /proc/PID/status (the PID in the
 * process's own namespace), or 0. */
pid_t
ns_pid_of(pid_t host)
{
	std::string st = read_file("/proc/" + std::to_string(host) + "/status");
	size_t at = st.find("\nNSpid:");
	if (at == std::string::npos)
		return 0;
	size_t nl = st.find('\n', at + 1);
	std::string line = st.substr(at + 7, nl - at - 7);
	size_t sp = line.find_last_of(" \t");
	return (pid_t)atol(line.c_str() + (sp == std::string::npos ? 0 : sp + 1));
}

/* A /proc/PID/status field, as text ("" if absent). */
std::string
status_field(pid_t pid, const char *key)
{
	std::string st = read_file("/proc/" + std::to_string(pid) + "/status");
	std::string k = std::string("\n") + key + ":";
	size_t at = st.find(k);
	if (at == std::string::npos)
		return "";
	at += k.size();
	while (at < st.size() && (st[at] == ' ' || st[at] == '\t'))
		at++;
	return st.substr(at, st.find('\n', at) - at);
}

std::string
link_of(const std::string &path)
{
	char buf[4096];
	ssize_t n = readlink(path.c_str(), buf, sizeof buf - 1);
	return n > 0 ? std::string(buf, (size_t)n) : "";
}

/* systemd as PID 1 in namespaces of its own, with the units in
 * dir/units; stopped, and everything of it removed, when this ends. */
struct sd_boot {
	std::string dir, launcher, cgroup, pidns;
	pid_t pid1 = 0;  /* as the host sees it */
	child script;

	explicit sd_boot(const std::string &d) : dir(d)
	{
		launcher = repo_path(LAUNCHER);
		std::string build = build_path("pidsitter");
		build = build.substr(0, build.rfind('/'));
		/* script(1) gives the console a pty; its own output is the
		 * console's copy, in dir/console. */
		child_start_hooked(&script, {"/bin/sh", "-c",
		    "exec script -qfec \"setpriv --pdeathsig HUP bash '$0' run '$1' '$2'\" "
		    "\"$1/console\" "
		    "</dev/null >/dev/null 2>&1", launcher, dir, build},
		    clean_env, die_with_parent);
		/* Up once PID 1 is systemd (no longer the launcher's step
		 * before it) and its private socket, which systemctl uses,
		 * exists in its root. */
		bool up = wait_until([&] {
			pid1 = read_pid(dir + "/boot/pid1");
			std::string at = "/proc/" + std::to_string(pid1);
			return (pid1 > 0 && read_file(at + "/comm") == "systemd\n" &&
			    access((at + "/root/run/systemd/private").c_str(), F_OK) == 0) ||
			    !pid_alive(script.pid);
		}, DEADLINE_MS);
		cgroup = read_file(dir + "/boot/cgroup");
		cgroup.erase(cgroup.find_last_not_of('\n') + 1);
		pidns = link_of("/proc/" + std::to_string(pid1) + "/ns/pid");
		cmd_result r;
		if (up && pid_alive(script.pid))
			r = ctl({"is-system-running", "--wait"});
		if (r.out != "running\n") {
			/* A constructor that fails runs no destructor. */
			stop();
			INFO(console());
			FAIL("systemd did not start: exit " << r.code << ": " << r.out << r.err);
		}
	}

	/* A failed assertion in stop() (the launcher past its deadline)
	 * throws, and an exception leaving a destructor ends the whole
	 * program (std::terminate), every later test's result with it: it
	 * is caught here, after doctest has counted the failure. */
	~sd_boot()
	{
		try {
			stop();
		} catch (...) {
		}
	}

	/* argv inside every namespace of PID 1. */
	cmd_result run(const std::vector<std::string> &argv, int timeout_ms = DEADLINE_MS)
	{
		std::vector<std::string> a = {"/usr/bin/nsenter", "-t", std::to_string(pid1), "-a"};
		a.insert(a.end(), argv.begin(), argv.end());
		return run_cmd(a, clean_env, timeout_ms);
	}
	cmd_result ctl(const std::vector<std::string> &args, int timeout_ms = DEADLINE_MS)
	{
		std::vector<std::string> a = {"systemctl", "--no-pager"};
		a.insert(a.end(), args.begin(), args.end());
		return run(a, timeout_ms);
	}
	/* systemctl show -p KEY --value UNIT */
	std::string prop(const char *unit, const char *key)
	{
		cmd_result r = ctl({"show", "-p", key, "--value", unit});
		REQUIRE_MESSAGE(r.code == 0, r.err);
		return r.out.substr(0, r.out.find('\n'));
	}
	/* What the journal holds of unit, one message a line.  Safe in
	 * INFO() (output_of asserts nothing): journalctl may hang with the
	 * manager when a check fails. */
	std::string journal(const char *unit)
	{
		return output_of({"/usr/bin/nsenter", "-t", std::to_string(pid1), "-a", "journalctl",
		    "--no-pager", "-o", "cat", "-u", unit}, DEADLINE_MS);
	}
	/* Wait until the journal of unit holds needle. */
	bool journal_wait(const char *unit, const std::string &needle)
	{
		return wait_until([&] {
			return journal(unit).find(needle) != std::string::npos;
		}, DEADLINE_MS);
	}
	std::string console() const
	{
		return bounded_output(read_file(dir + "/console"));
	}

	/* The host's number of a process of this boot, or 0. */
	pid_t host_pid(pid_t ns)
	{
		for (pid_t pid : all_pids())
			if (ns_pid_of(pid) == ns &&
			    link_of("/proc/" + std::to_string(pid) + "/ns/pid") == pidns)
				return pid;
		return 0;
	}
	/* Live processes of this boot other than PID 1 and the journal. */
	std::vector<pid_t> others()
	{
		std::vector<pid_t> out;
		for (pid_t pid : all_pids()) {
			if (pid == pid1 || !pid_alive(pid) ||
			    link_of("/proc/" + std::to_string(pid) + "/ns/pid") != pidns)
				continue;
			if (read_file("/proc/" + std::to_string(pid) + "/comm") ==
			    "systemd-journal\n")
				continue;
			out.push_back(pid);
		}
		return out;
	}
	/* The host PIDs in the cgroup of unit (none once systemd removed
	 * it). */
	std::vector<pid_t> unit_procs(const char *unit)
	{
		std::vector<pid_t> out;
		std::string text = read_file(cgroup + "/system.slice/" + unit + "/cgroup.procs");
		size_t from = 0, nl;
		while ((nl = text.find('\n', from)) != std::string::npos) {
			out.push_back((pid_t)atol(text.c_str() + from));
			from = nl + 1;
		}
		return out;
	}

	/* Shut down; then nothing of the boot may be left: no process in
	 * its namespace, no cgroup.  Repeatable. */
	void stop()
	{
		if (script.pid <= 0 || script.exited)
			return;
		run_cmd({"/bin/bash", launcher, "stop", dir}, clean_env, 60000);
		if (!child_wait_exit(&script, DEADLINE_MS))
			child_kill(&script);
	}
	void stop_checked()
	{
		std::vector<pid_t> left;
		stop();
		CHECK_MESSAGE(access(cgroup.c_str(), F_OK) != 0, cgroup << " is left");
		for (pid_t pid : all_pids())
			if (link_of("/proc/" + std::to_string(pid) + "/ns/pid") == pidns)
				left.push_back(pid);
		CHECK_MESSAGE(left.empty(), left.size() << " process(es) of the boot left");
		CHECK(child_code(&script) == 0);
	}
};

/* Which program a test runs as "gitaly" under the unit. */
enum daemon_kind { FIXTURE, TABLEFLIP };

/* A test's directory: units/ (the example's unit, adapted, and the
 * target), bin/gitaly (a link to the daemon), var/ (its pid file and
 * record; the daemon's user's). */
struct sd_scene {
	tmp_dir dir;
	std::string units, bin, var, pidfile, record;
	daemon_kind kind;
	std::string user = "root", group = "root";
	subst_list subs;

	/* extra_args: more of the daemon's arguments; @VAR@ in them is
	 * var (the only directory of the test the daemon can write). */
	sd_scene(daemon_kind k, const std::string &extra_args = "") : kind(k)
	{
		units = dir / "units";
		var = dir / "var";
		REQUIRE(mkdir(units.c_str(), 0755) == 0);
		REQUIRE(mkdir((dir / "bin").c_str(), 0755) == 0);
		REQUIRE(mkdir(var.c_str(), 0755) == 0);
		const char *prog = kind == FIXTURE ? "fixture-daemon" : "tableflip-daemon";
		bin = dir.link("bin/gitaly", prog);
		pidfile = var + "/gitaly.pid";
		record = var + "/record";
		std::string args = kind == FIXTURE ?
		    "--pid-file " + pidfile + " --record " + record :
		    "-pid-file " + pidfile + " -record " + record + " -drain 200ms";
		if (!extra_args.empty())
			args += " " + substitute(extra_args, {{"@VAR@", var}});
		subs = gitlab_paths(args, var, bin);
		/* The example runs as git, which CI machines do not have:
		 * nobody where it may run our programs, as the runit and s6
		 * tests do, else root. */
		if (nobody_can_run({build_path("pidsitter"), build_path(prog)})) {
			struct passwd *pw = getpwnam("nobody");
			struct group *gr = getgrgid(pw->pw_gid);
			REQUIRE(gr != NULL);
			user = "nobody";
			group = gr->gr_name;
			chown_nobody(var);
		}
		write_file(units + "/test.target", TEST_TARGET);
		write_file(units + "/systemd-journald.socket", JOURNAL_SOCKET);
		write_file(units + "/systemd-journald.service", JOURNAL_SERVICE);
	}

	/* The example's text as the test's manager loads it, with more
	 * replacements (a KillMode= line, say) after the usual ones. */
	std::string unit(const subst_list &more = {}) const
	{
		subst_list s = subs;
		s.push_back({"\nUser=git\n", "\nUser=" + user + "\n"});
		s.push_back({"\nGroup=git\n", "\nGroup=" + group + "\n"});
		s.push_back({"\n[Unit]\n", "\n[Unit]\nDefaultDependencies=no\n"});
		s.insert(s.end(), more.begin(), more.end());
		std::string text = substitute(read_file(UNIT), s);
		REQUIRE(text.find("DefaultDependencies=no") != std::string::npos);
		REQUIRE(text.find("User=" + user) != std::string::npos);
		return text;
	}
	void install(const subst_list &more = {}) const
	{
		write_file(units + "/gitaly.service", unit(more));
	}
	/* A drop-in (systemd.unit(5), "gitaly.service.d/"). */
	void drop_in(const char *name, const std::string &text) const
	{
		std::string d = units + "/gitaly.service.d";
		mkdir(d.c_str(), 0755);
		write_file(d + "/" + name, text);
	}

	/* The pid file's process once it recorded "ready" and is not old. */
	pid_t ready(pid_t old = 0) const
	{
		pid_t d = 0;
		bool ok = wait_until([&] {
			d = read_pid(pidfile);
			return d > 0 && d != old && record_count(record, d, "ready") == 1;
		}, DEADLINE_MS);
		INFO("record:\n" << read_file(record));
		REQUIRE(ok);
		return d;
	}
	/* The running daemons: processes started as bin. */
	std::vector<pid_t> daemons() const
	{
		return live_matching(bin);
	}
};

/* The example's one value for Section.Key (the unit has no repeats). */
std::string
unit_value(const std::string &text, const std::string &key)
{
	std::string k = "\n" + key + "=";
	size_t at = text.find(k);
	if (at == std::string::npos)
		return "";
	at += k.size();
	return text.substr(at, text.find('\n', at) - at);
}

/* Is pid's parent chain (host PIDs) reaching ancestor? */
bool
descends_from(pid_t pid, pid_t ancestor)
{
	for (int i = 0; i < 64 && pid > 1; i++) {
		pid = (pid_t)atol(status_field(pid, "PPid").c_str());
		if (pid == ancestor)
			return true;
	}
	return false;
}

/* systemctl start: the unit is active, MainPID is pidsitter (the
 * built one), the pid file names another process of the unit's cgroup
 * that descends from pidsitter; what that process is, for later. */
struct started {
	pid_t main_ns, main_host, daemon_ns, daemon_host;
};

started
start_unit(sd_boot &sd, const sd_scene &sc)
{
	started s;
	cmd_result r = sd.ctl({"start", "gitaly.service"});
	INFO(sd.console());
	INFO(sd.journal("gitaly.service"));
	REQUIRE_MESSAGE(r.code == 0, r.err);
	/* Type=notify: start returned after pidsitter's READY=1, which it
	 * sends once the pid file names the daemon; so no waiting here. */
	s.daemon_ns = read_pid(sc.pidfile);
	REQUIRE(s.daemon_ns > 0);
	CHECK(sd.prop("gitaly.service", "ActiveState") == "active");
	s.main_ns = (pid_t)atol(sd.prop("gitaly.service", "MainPID").c_str());
	REQUIRE(s.main_ns > 0);
	CHECK(s.main_ns != s.daemon_ns);
	s.main_host = sd.host_pid(s.main_ns);
	s.daemon_host = sd.host_pid(s.daemon_ns);
	REQUIRE(s.main_host > 0);
	REQUIRE(s.daemon_host > 0);
	std::string at = "/proc/" + std::to_string(s.main_host);
	CHECK(read_file(at + "/comm") == "pidsitter\n");
	CHECK(link_of(at + "/exe") == build_path("pidsitter"));
	CHECK(read_file("/proc/" + std::to_string(s.daemon_host) + "/comm") == "gitaly\n");
	std::vector<pid_t> procs = sd.unit_procs("gitaly.service");
	CHECK(std::count(procs.begin(), procs.end(), s.main_host) == 1);
	CHECK(std::count(procs.begin(), procs.end(), s.daemon_host) == 1);
	return s;
}

/* systemctl stop: it returns with the unit inactive, its cgroup empty
 * (or gone) and no process of the boot left but PID 1 and the journal. */
void
stop_unit(sd_boot &sd)
{
	cmd_result r = sd.ctl({"stop", "gitaly.service"}, 100000);
	INFO(sd.console());
	INFO(sd.journal("gitaly.service"));
	CHECK_MESSAGE(r.code == 0, r.err);
	CHECK(sd.prop("gitaly.service", "ActiveState") == "inactive");
	CHECK(sd.unit_procs("gitaly.service").empty());
	std::string left;
	for (pid_t pid : sd.others())
		left += std::to_string(pid) + " " + cmdline_of(pid) + "\n";
	CHECK_MESSAGE(left.empty(), "left running:\n" << left);
}

}  // namespace

TEST_CASE("systemd 252 as PID 1: systemctl start returns once the daemon runs, MainPID is pidsitter, systemctl stop leaves no process")
{
	daemon_kind kind = FIXTURE;
	SUBCASE("the fixture daemon") {}
	SUBCASE("the tableflip daemon") { kind = TABLEFLIP; }

	sd_scene sc(kind);
	sc.install();
	sd_boot sd(sc.dir.path);
	started s = start_unit(sd, sc);
	CHECK(descends_from(s.daemon_host, s.main_host));
	CHECK(record_count(sc.record, s.daemon_ns, "ready") == 1);
	CHECK(sd.prop("gitaly.service", "StatusText") ==
	    "current pid " + std::to_string(s.daemon_ns) + ", generation 1, 1 generation(s)");
	/* Both run as the unit's User=. */
	struct passwd *pw = getpwnam(sc.user.c_str());
	REQUIRE(pw != NULL);
	std::string uid = std::to_string(pw->pw_uid) + "\t";
	CHECK(status_field(s.main_host, "Uid").compare(0, uid.size(), uid) == 0);
	CHECK(status_field(s.daemon_host, "Uid").compare(0, uid.size(), uid) == 0);

	stop_unit(sd);
	/* The TERM came from pidsitter, once: KillMode=process. */
	CHECK(record_count(sc.record, s.daemon_ns, "signal SIGTERM") == 1);
	CHECK(sd.journal_wait("gitaly.service", "msg=\"wrapper for process shutting down\""));
	sd.stop_checked();
}

TEST_CASE("systemd 252 as PID 1: after systemctl kill --kill-whom=main -s KILL, the next start re-adopts the running daemon, never a second one")
{
	sd_scene sc(FIXTURE);
	CHECK(unit_value(read_file(UNIT), "KillMode") == "process");
	sc.install();
	sd_boot sd(sc.dir.path);
	started s = start_unit(sd, sc);
	pinned daemon = pin(s.daemon_host);

	cmd_result k = sd.ctl({"kill", "-s", "KILL", "--kill-whom=main", "gitaly.service"});
	REQUIRE_MESSAGE(k.code == 0, k.err);
	REQUIRE(wait_until([&] { return !pid_alive(s.main_host); }, DEADLINE_MS));
	/* Restart=on-failure may already be on its way: start joins it. */
	cmd_result r = sd.ctl({"start", "gitaly.service"});
	INFO(sd.console());
	std::string j = sd.journal("gitaly.service");
	INFO(j);
	REQUIRE_MESSAGE(r.code == 0, r.err);
	CHECK(sd.prop("gitaly.service", "ActiveState") == "active");
	pid_t main2 = (pid_t)atol(sd.prop("gitaly.service", "MainPID").c_str());
	CHECK(main2 != s.main_ns);
	pid_t main2_host = sd.host_pid(main2);
	CHECK(read_file("/proc/" + std::to_string(main2_host) + "/comm") == "pidsitter\n");

	/* The same daemon, still its first start, adopted; no other. */
	CHECK(pinned_alive(daemon));
	CHECK(read_pid(sc.pidfile) == s.daemon_ns);
	CHECK(sd.journal_wait("gitaly.service", "msg=\"adopting a process\" matched=comm pid=" +
	    std::to_string(main2) + " process=" + std::to_string(s.daemon_ns)));
	CHECK(record_count(sc.record, 0, "start") == 1);
	CHECK(sc.daemons() == std::vector<pid_t>{s.daemon_host});
	std::vector<pid_t> procs = sd.unit_procs("gitaly.service");
	std::sort(procs.begin(), procs.end());
	std::vector<pid_t> want = {s.daemon_host, main2_host};
	std::sort(want.begin(), want.end());
	CHECK(procs == want);
	CHECK(record_count(sc.record, s.daemon_ns, "signal") == 0);

	stop_unit(sd);
	CHECK(record_count(sc.record, s.daemon_ns, "signal SIGTERM") == 1);
	sd.stop_checked();
}

TEST_CASE("systemd 252 as PID 1: why the example is not KillMode=mixed or control-group: the wrapper's death takes the daemon with it, and a second one starts")
{
	const char *mode = "mixed";
	SUBCASE("KillMode=mixed") {}
	SUBCASE("KillMode=control-group") { mode = "control-group"; }

	sd_scene sc(FIXTURE);
	sc.install({{"\nKillMode=process\n", std::string("\nKillMode=") + mode + "\n"}});
	sd_boot sd(sc.dir.path);
	started s = start_unit(sd, sc);
	pinned daemon = pin(s.daemon_host);

	REQUIRE(sd.ctl({"kill", "-s", "KILL", "--kill-whom=main", "gitaly.service"}).code == 0);
	REQUIRE(wait_until([&] { return !pinned_alive(daemon); }, DEADLINE_MS));
	cmd_result r = sd.ctl({"start", "gitaly.service"});
	REQUIRE_MESSAGE(r.code == 0, r.err);
	pid_t d2 = sc.ready(s.daemon_ns);
	CHECK(record_count(sc.record, 0, "start") == 2);
	/* mixed: SIGKILL from systemd (nothing recorded); control-group:
	 * SIGTERM from systemd, not from a wrapper. */
	if (strcmp(mode, "mixed") == 0)
		CHECK(record_count(sc.record, s.daemon_ns, "signal") == 0);
	else
		CHECK(record_count(sc.record, s.daemon_ns, "signal SIGTERM") == 1);
	CHECK(sd.journal_wait("gitaly.service", "msg=\"spawning a process\""));
	CHECK(d2 != s.daemon_ns);
	stop_unit(sd);
	sd.stop_checked();
}

TEST_CASE("systemd 252 as PID 1: systemctl reload upgrades the tableflip daemon, MainPID unchanged, one daemon afterwards")
{
	sd_scene sc(TABLEFLIP);
	sc.install();
	sd_boot sd(sc.dir.path);
	started s = start_unit(sd, sc);

	cmd_result r = sd.ctl({"reload", "gitaly.service"});
	INFO(sd.console());
	INFO(sd.journal("gitaly.service"));
	REQUIRE_MESSAGE(r.code == 0, r.err);
	/* ExecReload=kill -HUP returns before the upgrade is done (the
	 * example's comment): wait for the successor. */
	pid_t d2 = sc.ready(s.daemon_ns);
	CHECK(sd.prop("gitaly.service", "MainPID") == std::to_string(s.main_ns));
	REQUIRE(wait_until([&] {
		return sd.prop("gitaly.service", "StatusText").find(
		    "current pid " + std::to_string(d2) + ", generation 2,") == 0;
	}, DEADLINE_MS));
	pid_t d2_host = sd.host_pid(d2);
	CHECK(descends_from(d2_host, s.main_host));
	/* The old one drains and exits; then one daemon is left. */
	REQUIRE(wait_until([&] { return sc.daemons().size() == 1; }, DEADLINE_MS));
	CHECK(sc.daemons() == std::vector<pid_t>{d2_host});
	CHECK(sd.prop("gitaly.service", "ActiveState") == "active");
	stop_unit(sd);
	sd.stop_checked();
}

namespace {

/*
 * The two test cases below are written for the unit as it will be once
 * pidsitter has its control socket (`control_socket`, -S PATH, and
 * `pidsitter -S PATH -s upgrade`, which returns when the upgrade is done:
 * 0 when the new generation is current, 1 with the reason when it
 * failed) and its bounded stop (`stop_timeout`, `descendants = "stop"`).
 * final_unit() makes the example that unit while the example still
 * reloads with kill -HUP; once the example says so itself, it changes
 * nothing.
 */
const char CONTROL_SOCKET[] = "/run/gitaly/pidsitter.sock";

/* After a reload that returned once it was done: generation 2, d2, is
 * current, MainPID is still the wrapper's, the unit active. */
void
check_upgraded(sd_boot &sd, const started &s, pid_t d2)
{
	CHECK(sd.prop("gitaly.service", "MainPID") == std::to_string(s.main_ns));
	CHECK(sd.prop("gitaly.service", "StatusText").find(
	    "current pid " + std::to_string(d2) + ", generation 2,") == 0);
	CHECK(sd.prop("gitaly.service", "ActiveState") == "active");
}

subst_list
final_unit(void)
{
	std::string sock = CONTROL_SOCKET;
	return {
	    {"\nExecReload=/bin/kill -HUP $MAINPID\n",
	     "\nRuntimeDirectory=gitaly\nExecReload=" + build_path("pidsitter") + " -S " + sock +
	     " -s upgrade\n"},
	    {"\nExecStart=" + build_path("pidsitter") + " /",
	     "\nExecStart=" + build_path("pidsitter") + " -S " + sock + " /"},
	};
}

}  // namespace

TEST_CASE("systemd 252 as PID 1 (control socket): systemctl reload returns once the new generation is current, and fails with the reason when the upgrade fails")
{
	SUBCASE("the tableflip daemon: reload returns with generation 2 current, MainPID unchanged")
	{
		sd_scene sc(TABLEFLIP);
		sc.install(final_unit());
		std::string u = read_file(sc.units + "/gitaly.service");
		REQUIRE(unit_value(u, "ExecReload") ==
		    build_path("pidsitter") + " -S " + CONTROL_SOCKET + " -s upgrade");
		sd_boot sd(sc.dir.path);
		started s = start_unit(sd, sc);

		cmd_result r = sd.ctl({"reload", "gitaly.service"}, 60000);
		INFO(sd.console());
		INFO(sd.journal("gitaly.service"));
		REQUIRE_MESSAGE(r.code == 0, r.err);
		/* No waiting: the reload returned once it was done. */
		pid_t d2 = read_pid(sc.pidfile);
		CHECK(d2 != s.daemon_ns);
		/* tableflip's Ready() returns (and the record says so) after
		 * the pid file that ended the reload was written. */
		CHECK(record_wait(sc.record, d2, "ready", 5000));
		CHECK(record_count(sc.record, d2, "ready") == 1);
		check_upgraded(sd, s, d2);
		stop_unit(sd);
		sd.stop_checked();
	}
	SUBCASE("the fixture daemon whose successor dies: reload fails, the reason in systemctl status, the old generation stays")
	{
		sd_scene sc(FIXTURE, "--fail-upgrade-file @VAR@/fail");
		std::string fail = sc.var + "/fail";
		sc.install(final_unit());
		/* The verdict in 2 s, not the default minute. */
		std::string conf = sc.var + "/pidsitter.toml";
		write_file(conf, "upgrade_timeout = \"2s\"\n");
		sc.drop_in("config.conf", "[Service]\nEnvironment=PIDSITTER_CONFIG=" + conf + "\n");
		sd_boot sd(sc.dir.path);
		started s = start_unit(sd, sc);
		write_file(fail, "");

		cmd_result r = sd.ctl({"reload", "gitaly.service"}, 60000);
		INFO(sd.console());
		INFO(sd.journal("gitaly.service"));
		CHECK(r.code != 0);
		CHECK(record_wait(sc.record, s.daemon_ns, "upgrade-failed", DEADLINE_MS));
		cmd_result st = sd.ctl({"status", "gitaly.service"});
		INFO(st.out);
		CHECK(has_line(st.out, {"ExecReload=", "status=1/FAILURE"}));
		/* The reason, as pidsitter -s upgrade told it, in the lines
		 * of the journal that status shows. */
		CHECK(has_line(st.out, {"pidsitter", "upgrade"}));
		CHECK(sd.prop("gitaly.service", "ActiveState") == "active");
		CHECK(sd.prop("gitaly.service", "MainPID") == std::to_string(s.main_ns));
		CHECK(read_pid(sc.pidfile) == s.daemon_ns);
		CHECK(pid_alive(s.daemon_host));
		stop_unit(sd);
		sd.stop_checked();
	}
}

TEST_CASE("systemd 252 as PID 1 (stop_timeout): a daemon that ignores TERM is killed by pidsitter at stop_timeout, before TimeoutStopSec; nothing is left")
{
	sd_scene sc(FIXTURE, "--ignore 15");
	std::string conf = sc.var + "/pidsitter.toml";
	write_file(conf, "stop_timeout = \"2s\"\ndescendants = \"stop\"\n");
	sc.install();
	/* The configuration through the environment (pidsitter(8),
	 * PIDSITTER_CONFIG): the example's ExecStart is kept as it is. */
	sc.drop_in("config.conf", "[Service]\nEnvironment=PIDSITTER_CONFIG=" + conf + "\n");
	long timeout_stop = atol(unit_value(read_file(UNIT), "TimeoutStopSec").c_str());
	REQUIRE(timeout_stop > 2);
	sd_boot sd(sc.dir.path);
	started s = start_unit(sd, sc);

	/* Well below TimeoutStopSec: only pidsitter's stop_timeout can
	 * end the stop before systemd's own deadline. */
	cmd_result r = sd.ctl({"stop", "gitaly.service"}, (int)(timeout_stop * 1000 / 2));
	INFO(sd.console());
	INFO(sd.journal("gitaly.service"));
	CHECK(r.code == 0);
	CHECK(sd.prop("gitaly.service", "Result") != "timeout");
	CHECK(!pid_alive(s.daemon_host));
	CHECK(sd.unit_procs("gitaly.service").empty());
	CHECK(sd.others().empty());
	CHECK(record_count(sc.record, s.daemon_ns, "exit") == 0);  /* killed */
	sd.stop_checked();
}

namespace {

/* systemctl show -p K1 -p K2 ...: the values, in the order of keys
 * (systemctl prints them in its own). */
std::vector<std::string>
props(sd_boot &sd, const char *unit, const std::vector<const char *> &keys)
{
	std::vector<std::string> a = {"show"};
	for (const char *k : keys) {
		a.push_back("-p");
		a.push_back(k);
	}
	a.push_back(unit);
	cmd_result r = sd.ctl(a);
	REQUIRE_MESSAGE(r.code == 0, r.err);
	std::vector<std::string> out;
	for (const char *k : keys) {
		std::string line = std::string("\n") + k + "=";
		std::string text = "\n" + r.out;
		size_t at = text.find(line);
		REQUIRE_MESSAGE(at != std::string::npos, k << " not in " << r.out);
		at += line.size();
		out.push_back(text.substr(at, text.find('\n', at) - at));
	}
	return out;
}

/* An environment variable of a process ("" if absent). */
std::string
environ_of(pid_t pid, const std::string &key)
{
	std::string env = read_file("/proc/" + std::to_string(pid) + "/environ");
	std::string k = key + "=";
	for (size_t at = 0; at < env.size(); at = env.find('\0', at) + 1) {
		if (env.compare(at, k.size(), k) == 0)
			return env.substr(at + k.size(), env.find('\0', at) - at - k.size());
		if (env.find('\0', at) == std::string::npos)
			break;
	}
	return "";
}

}  // namespace

TEST_CASE("systemd 252 as PID 1 (notifications): WatchdogSec= is fed by the daemon's pings through pidsitter; when they stop, the watchdog's SIGABRT ends the daemon too, and the restart runs exactly one new daemon")
{
	/* A daemon that catches ABRT outlives it; stop_timeout, which bounds
	 * the stop ABRT began, kills it (pidsitter(8), NOTIFICATIONS). */
	bool catches = false;
	SUBCASE("a daemon that dies of ABRT (Go's default)") {}
	SUBCASE("a daemon that catches ABRT, and stop_timeout") { catches = true; }
	sd_scene sc(TABLEFLIP, std::string("-sd-notify -sd-watchdog 500ms "
	    "-sd-watchdog-stop-file @VAR@/hang") + (catches ? " -catch-abrt" : ""));
	std::string hang = sc.var + "/hang";
	sc.install();
	sc.drop_in("watchdog.conf", "[Service]\nWatchdogSec=2s\n");
	if (catches) {
		std::string conf = sc.var + "/pidsitter.toml";
		write_file(conf, "stop_timeout = \"1s\"\n");
		sc.drop_in("config.conf", "[Service]\nEnvironment=PIDSITTER_CONFIG=" + conf + "\n");
	}
	sd_boot sd(sc.dir.path);
	started s = start_unit(sd, sc);
	pinned daemon = pin(s.daemon_host);
	pinned wrapper = pin(s.main_host);
	INFO(sd.console());
	INFO(sd.journal("gitaly.service"));
	CHECK(sd.prop("gitaly.service", "WatchdogUSec") == "2s");
	/* The daemon sends to pidsitter's socket, never to systemd's (which
	 * hears the main process only: NotifyAccess=main); it is told the
	 * watchdog's period, not whose it is. */
	CHECK(environ_of(s.daemon_host, "NOTIFY_SOCKET").compare(0, 11, "@pidsitter/") == 0);
	CHECK(environ_of(s.daemon_host, "WATCHDOG_USEC") == "2000000");
	CHECK(environ_of(s.daemon_host, "WATCHDOG_PID") == "");

	/* Over twice WatchdogSec: active all along, never restarted, and
	 * systemd saw pings (WatchdogTimestamp moves on).  Once is enough. */
	std::vector<std::string> stamps;
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		if (catches)
			break;
		std::vector<std::string> v = props(sd, "gitaly.service",
		    {"ActiveState", "NRestarts", "WatchdogTimestampMonotonic"});
		CHECK(v[0] == "active");
		CHECK(v[1] == "0");
		if (stamps.empty() || stamps.back() != v[2])
			stamps.push_back(v[2]);
		usleep(100000);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (t.tv_sec - t0.tv_sec < 5);
	CHECK((catches || stamps.size() >= 3));
	CHECK(pinned_alive(daemon));
	CHECK(pinned_alive(wrapper));

	/* The daemon hangs, as the watchdog sees it: systemd's timeout
	 * fires, and the unit is restarted. */
	write_file(hang, "");
	REQUIRE(record_wait(sc.record, s.daemon_ns, "watchdog-stopped", DEADLINE_MS));
	/* The next daemon pings again. */
	REQUIRE(unlink(hang.c_str()) == 0);
	REQUIRE(wait_until([&] {
		std::vector<std::string> v = props(sd, "gitaly.service",
		    {"ActiveState", "NRestarts"});
		return v[0] == "active" && v[1] == "1";
	}, DEADLINE_MS));
	/* systemd's WatchdogSignal= (SIGABRT) went to pidsitter alone
	 * (KillMode=process), which sent it on; the Go runtime's answer to
	 * it is a goroutine dump and exit 2 (os/signal's package doc). */
	std::string con = sd.console();
	CHECK(con.find("gitaly.service: Watchdog timeout (limit 2s)!") != std::string::npos);
	CHECK(con.find("gitaly.service: Killing process " + std::to_string(s.main_ns) +
	    " (pidsitter) with signal SIGABRT.") != std::string::npos);
	CHECK(con.find("Killing process " + std::to_string(s.daemon_ns) + " ") == std::string::npos);
	CHECK(sd.journal_wait("gitaly.service", "process=" + std::to_string(s.daemon_ns) +
	    " signal=SIGABRT"));
	if (catches) {
		CHECK(record_wait(sc.record, s.daemon_ns, "signal SIGABRT", DEADLINE_MS));
		CHECK(sd.journal_wait("gitaly.service", "msg=\"stop timeout: killing the processes left\""));
	} else {
		CHECK(sd.journal_wait("gitaly.service", "SIGABRT: abort"));
	}
	/* Nothing of the old daemon is left: it and its wrapper are gone,
	 * and the unit runs a new wrapper and one new daemon. */
	CHECK(wait_until([&] { return !pinned_alive(daemon); }, DEADLINE_MS));
	CHECK(!pinned_alive(wrapper));
	pid_t main2 = (pid_t)atol(sd.prop("gitaly.service", "MainPID").c_str());
	CHECK(main2 != s.main_ns);
	pid_t d2 = sc.ready(s.daemon_ns);
	pid_t main2_host = sd.host_pid(main2), d2_host = sd.host_pid(d2);
	CHECK(sc.daemons() == std::vector<pid_t>{d2_host});
	std::vector<pid_t> procs = sd.unit_procs("gitaly.service");
	std::sort(procs.begin(), procs.end());
	std::vector<pid_t> want = {d2_host, main2_host};
	std::sort(want.begin(), want.end());
	CHECK(procs == want);
	CHECK(sd.prop("gitaly.service", "NRestarts") == "1");

	stop_unit(sd);
	sd.stop_checked();
}

TEST_CASE("systemd 252 as PID 1 (notifications): with ready = \"notify\", systemctl reload returns only after the successor's own READY=1, not at its pid file")
{
	/* Each generation writes its pid file, then waits before READY=1
	 * (recording "sd-notify-sending" just before it sends). */
	const char *ready = "notify";
	std::string delay = "1s";
	SUBCASE("ready = \"notify\": the reload waits for READY=1") {}
	SUBCASE("ready = \"pidfile\": the reload returns at the pid file")
	{
		/* READY=1 never comes while the test runs. */
		ready = "pidfile";
		delay = "1h";
	}
	sd_scene sc(TABLEFLIP, "-sd-notify -sd-ready-delay " + delay);
	std::string conf = sc.var + "/pidsitter.toml";
	write_file(conf, std::string("ready = \"") + ready + "\"\n");
	sc.install(final_unit());
	sc.drop_in("config.conf", "[Service]\nEnvironment=PIDSITTER_CONFIG=" + conf + "\n");
	sd_boot sd(sc.dir.path);
	started s = start_unit(sd, sc);
	INFO(sd.console());
	INFO(sd.journal("gitaly.service"));
	/* The start, too, waited for READY=1 under "notify". */
	CHECK(record_count(sc.record, s.daemon_ns, "sd-notify-sending") ==
	    (strcmp(ready, "notify") == 0 ? 1 : 0));

	cmd_result r = sd.ctl({"reload", "gitaly.service"}, 60000);
	REQUIRE_MESSAGE(r.code == 0, r.err);
	/* Read at once: what the successor had done when reload returned. */
	pid_t d2 = read_pid(sc.pidfile);
	std::string rec = read_file(sc.record);
	INFO("record when reload returned:\n" << rec);
	REQUIRE(d2 > 0);
	CHECK(d2 != s.daemon_ns);
	/* The daemon records "ready" when tableflip's Ready() returns, which
	 * may be after the reload did (the record read above says what had
	 * been done by then). */
	CHECK(record_wait(sc.record, d2, "ready", 5000));
	CHECK(record_count(sc.record, d2, "ready") == 1);
	std::string sending = std::to_string(d2) + " sd-notify-sending\n";
	if (strcmp(ready, "notify") == 0) {
		CHECK(rec.find(sending) != std::string::npos);
		CHECK(sd.journal_wait("gitaly.service", "msg=\"process says it is ready\" "
		    "generation=2"));
	} else {
		CHECK(rec.find(sending) == std::string::npos);
	}
	check_upgraded(sd, s, d2);
	stop_unit(sd);
	sd.stop_checked();
}
