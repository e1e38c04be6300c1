/*
 * hardening.cc: see hardening.h.
 */
#include "hardening.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include "proc.h"

long
vm_rss_kb(pid_t pid)
{
	std::string s = read_file("/proc/" + std::to_string(pid) + "/status");
	size_t at = s.find("\nVmRSS:");

	return at == std::string::npos ? -1 : atol(s.c_str() + at + 8);
}

int
fd_count(pid_t pid)
{
	DIR *d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

long
rss_allowance_kb(pid_t pid)
{
	std::string maps = read_file("/proc/" + std::to_string(pid) + "/maps");

	return maps.find("libasan") != std::string::npos ? 3072 : 1024;
}

/* test/pidcycle.c, from this file's path as the compiler saw it (the
 * tests are built and run from the top of the repository). */
static std::string
pidcycle_source(void)
{
	std::string here = __FILE__;
	size_t slash = here.find_last_of('/');
	std::string dir = slash == std::string::npos ? "." : here.substr(0, slash);
	return dir + "/../pidcycle.c";
}

bool
pidns_supported(std::string *why, bool small_pid_max)
{
	struct utsname u;
	int major = 0, minor = 0;

	if (uname(&u) < 0 || sscanf(u.release, "%d.%d", &major, &minor) != 2) {
		*why = "cannot tell the kernel's version";
		return false;
	}
	/* "pid: allow pid_max to be set per pid namespace", Linux 6.14:
	 * before it, pid_max written inside is the machine's. */
	if (small_pid_max && (major < 6 || (major == 6 && minor < 14))) {
		*why = std::string("kernel ") + u.release + " has no per-namespace pid_max (6.14+)";
		return false;
	}
	if (geteuid() != 0) {
		*why = "not root";
		return false;
	}
	for (const char *p : {"/usr/bin/unshare", "/usr/bin/nsenter"}) {
		if (access(p, X_OK) != 0) {
			*why = std::string(p) + " is missing (util-linux)";
			return false;
		}
	}
	if (access(pidcycle_source().c_str(), R_OK) != 0) {
		*why = pidcycle_source() + " not found (run the tests from the top of the repository)";
		return false;
	}
	return true;
}

bool
pidns_skip(bool small_pid_max)
{
	std::string why;

	if (pidns_supported(&why, small_pid_max))
		return false;
	MESSAGE("skipped: " << why);
	return true;
}

pidns::pidns(const tmp_dir &dir, long max) : pid_max(max)
{
	std::string host_max = read_file("/proc/sys/kernel/pid_max");

	cycle = dir / "pidcycle";
	{
		child cc;
		child_start(&cc, {"/usr/bin/cc", "-std=c11", "-O2", "-o", cycle, pidcycle_source()});
		REQUIRE(child_wait_exit(&cc, 60000));
		INFO(cc.err);
		REQUIRE(child_code(&cc) == 0);
	}
	child_start(&unshare, {"/usr/bin/unshare", "--pid", "--fork", "--mount-proc", cycle,
	    "init", std::to_string(max)});
	bool ready = child_wait_line(&unshare, "ready", 20000);
	init = child_of(unshare.pid, 5000);
	/* Belt and braces: pid_max must have changed inside only. */
	if (read_file("/proc/sys/kernel/pid_max") != host_max) {
		FILE *f = fopen("/proc/sys/kernel/pid_max", "w");
		if (f != NULL) {
			fputs(host_max.c_str(), f);
			fclose(f);
		}
		FAIL("pid_max changed outside the namespace; restored");
	}
	INFO(unshare.err);
	REQUIRE(ready);
	REQUIRE(init > 0);
	char buf[64];
	ssize_t n = readlink(("/proc/" + std::to_string(init) + "/ns/pid").c_str(), buf, sizeof buf - 1);
	REQUIRE(n > 0);
	ns_link.assign(buf, (size_t)n);
}

pidns::~pidns()
{
	if (init > 0)
		kill(init, SIGKILL);
	child_wait_exit(&unshare, 10000);
}

std::vector<std::string>
pidns::run(const std::vector<std::string> &argv) const
{
	std::vector<std::string> a = {"/usr/bin/nsenter", "-t", std::to_string(init), "-p", "-m", "--"};
	a.insert(a.end(), argv.begin(), argv.end());
	return a;
}

pid_t
pidns::spawn(const std::vector<std::string> &argv, pid_t at, bool block)
{
	std::vector<std::string> a = {cycle, "spawn"};
	child p;

	if (at != 0)
		a.insert(a.end(), {"--at", std::to_string(at)});
	if (block)
		a.push_back("--block");
	a.push_back("--");
	a.insert(a.end(), argv.begin(), argv.end());
	child_start(&p, run(a));
	REQUIRE(child_wait_exit(&p, 30000));
	INFO("pidcycle spawn: " << p.out << p.err);
	REQUIRE(child_code(&p) == 0);
	pid_t pid = (pid_t)atoi(p.out.c_str());
	REQUIRE(pid > 0);
	return pid;
}

void
pidns::hunt(child *h, pid_t at, const std::vector<std::string> &argv)
{
	std::vector<std::string> a = {cycle, "hunt", std::to_string(at), "--block", "--"};

	a.insert(a.end(), argv.begin(), argv.end());
	child_start(h, run(a));
}

pid_t
pidns::host_pid(pid_t n) const
{
	char want[32];

	snprintf(want, sizeof want, "\t%d\n", (int)n);
	for (pid_t pid : all_pids()) {
		std::string at = "/proc/" + std::to_string(pid);
		std::string status = read_file(at + "/status");
		size_t nspid = status.find("\nNSpid:");
		char buf[64];
		if (nspid == std::string::npos)
			continue;
		std::string line = status.substr(nspid + 1, status.find('\n', nspid + 1) - nspid);
		/* "NSpid:\tHOST\tN\n": exactly one level below ours. */
		size_t tabs = 0;
		for (char c : line)
			tabs += c == '\t';
		if (tabs != 2 || line.size() < strlen(want) ||
		    line.compare(line.size() - strlen(want), strlen(want), want) != 0)
			continue;
		ssize_t len = readlink((at + "/ns/pid").c_str(), buf, sizeof buf - 1);
		if (len > 0 && ns_link == std::string(buf, (size_t)len))
			return pid;
	}
	return 0;
}
