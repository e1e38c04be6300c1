/*
 * harness.cc: see harness.h.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <exception>

#include <doctest/doctest.h>

#include "proc.h"

extern char **environ;

std::string
build_path(const char *name)
{
	const char *b = getenv("BUILD");
	std::string dir = b != NULL && *b ? b : "build";
	char cwd[4096];

	if (dir[0] != '/' && getcwd(cwd, sizeof cwd) != NULL)
		dir = std::string(cwd) + "/" + dir;
	return dir + "/" + name;
}

std::string
test_root(void)
{
	static std::string root;

	if (root.empty()) {
		char buf[64];
		snprintf(buf, sizeof buf, "/tmp/pidsitter-test.%d", (int)getpid());
		root = buf;
		mkdir(root.c_str(), 0755);
		/* Gone at exit when every test removed its directory (the
		 * final check, leftovers_test.cc, removes it too, and fails if
		 * it cannot). */
		atexit([] { rmdir(root.c_str()); });
	}
	return root;
}

tmp_dir::tmp_dir()
{
	std::string tmpl = test_root() + "/t.XXXXXX";
	std::vector<char> buf(tmpl.begin(), tmpl.end());
	buf.push_back('\0');
	REQUIRE(mkdtemp(buf.data()) != NULL);
	chmod(buf.data(), 0755);
	path = buf.data();
}

static int
rm_cb(const char *p, const struct stat *, int, struct FTW *)
{
	return remove(p);
}

tmp_dir::~tmp_dir()
{
	nftw(path.c_str(), rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

std::string
tmp_dir::link(const char *name, const char *program) const
{
	std::string to = path + "/" + name;
	REQUIRE(symlink(build_path(program).c_str(), to.c_str()) == 0);
	return to;
}

child::~child()
{
	child_kill(this);
	if (pidfd >= 0)
		close(pidfd);
	if (out_fd >= 0)
		close(out_fd);
	if (err_fd >= 0)
		close(err_fd);
}

/* argv as execve(2) wants it; valid while argv lives. */
static std::vector<char *>
c_argv(const std::vector<std::string> &argv)
{
	std::vector<char *> av;

	for (const std::string &a : argv)
		av.push_back(const_cast<char *>(a.c_str()));
	av.push_back(NULL);
	return av;
}

/* In a child: the signals the test blocks, unblocked for the program. */
static void
unblock_signals(void)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static void
child_spawn(child *p, const std::vector<std::string> &argv, const std::vector<std::string> &env,
    bool inherit_output, int (*before_exec)(void))
{
	int out[2] = {-1, -1}, err[2] = {-1, -1};
	std::vector<std::string> envs;
	std::vector<char *> av = c_argv(argv), ev;

	for (char **e = environ; *e; e++) {
		bool drop = false;
		for (const std::string &x : env) {
			std::string key = x.substr(0, x.find('='));
			if (strncmp(*e, key.c_str(), key.size()) == 0 && (*e)[key.size()] == '=')
				drop = true;
		}
		if (!drop)
			envs.push_back(*e);
	}
	for (const std::string &x : env)
		if (x.find('=') != std::string::npos)
			envs.push_back(x);
	for (const std::string &e : envs)
		ev.push_back(const_cast<char *>(e.c_str()));
	ev.push_back(NULL);

	if (!inherit_output) {
		REQUIRE(pipe2(out, O_CLOEXEC) == 0);
		REQUIRE(pipe2(err, O_CLOEXEC) == 0);
	}
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		unblock_signals();
		if (!inherit_output) {
			dup2(out[1], 1);
			dup2(err[1], 2);
		}
		if (before_exec != NULL) {
			int code = before_exec();
			if (code != 0)
				_exit(code);
		}
		execve(av[0], av.data(), ev.data());
		_exit(127);
	}
	p->pid = pid;
	p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (!inherit_output) {
		close(out[1]);
		close(err[1]);
		p->out_fd = out[0];
		p->err_fd = err[0];
		fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
		fcntl(p->err_fd, F_SETFL, O_NONBLOCK);
	}
}

void
child_start(child *p, const std::vector<std::string> &argv,
    const std::vector<std::string> &env, bool inherit_output)
{
	child_spawn(p, argv, env, inherit_output, NULL);
}

void
child_start_hooked(child *p, const std::vector<std::string> &argv,
    const std::vector<std::string> &env, int (*before_exec)(void))
{
	child_spawn(p, argv, env, false, before_exec);
}

const std::vector<std::string> clean_env = {"GITALY_PID_FILE", "WRAPPER_JSON_LOGGING",
    "PIDSITTER_CONFIG"};

long long
mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long
ms_since(std::chrono::steady_clock::time_point t0)
{
	return std::chrono::duration_cast<std::chrono::milliseconds>(
	    std::chrono::steady_clock::now() - t0).count();
}

/* Read what is there (up to 64 KiB a stream, so that a reader that
 * lags catches up, yet a process that writes without pause cannot keep
 * us here); false at EOF on stdout.  A read error other than EAGAIN
 * counts as EOF: a terminal's master reads EIO once its slave is closed,
 * and keeps polling readable. */
static bool
pump(child *p, int timeout_ms)
{
	struct pollfd fds[2] = {{p->out_fd, POLLIN, 0}, {p->err_fd, POLLIN, 0}};
	char buf[4096];
	bool open_out = p->out_fd >= 0;

	if (p->out_fd < 0 && p->err_fd < 0)
		return false;
	if (poll(fds, 2, timeout_ms) <= 0)
		return open_out;
	for (int i = 0; i < 2; i++) {
		if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		for (int round = 0; round < 16; round++) {
			ssize_t n = read(fds[i].fd, buf, sizeof buf);
			if (n > 0) {
				(i == 0 ? p->out : p->err).append(buf, (size_t)n);
				continue;
			}
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				break;
			close(fds[i].fd);
			if (i == 0) {
				p->out_fd = -1;
				open_out = false;
			} else {
				p->err_fd = -1;
			}
			break;
		}
	}
	return open_out || p->err_fd >= 0;
}

bool
child_wait_line(child *p, const char *needle, int timeout_ms)
{
	long long end = mono_ms() + timeout_ms;
	size_t from = 0;

	for (;;) {
		size_t nl;
		while ((nl = p->out.find('\n', from)) != std::string::npos) {
			if (p->out.substr(from, nl - from).find(needle) != std::string::npos)
				return true;
			from = nl + 1;
		}
		long long left = end - mono_ms();
		if (left <= 0)
			return false;
		if (!pump(p, (int)(left < 50 ? left : 50)) && p->out_fd < 0)
			return p->out.find(needle, from) != std::string::npos;
	}
}

int
child_count_lines(const child *p, const char *needle)
{
	int n = 0;
	size_t from = 0, nl;

	while ((nl = p->out.find('\n', from)) != std::string::npos) {
		if (p->out.substr(from, nl - from).find(needle) != std::string::npos)
			n++;
		from = nl + 1;
	}
	return n;
}

std::string
child_find_line(const child *p, const char *needle)
{
	size_t from = 0, nl;

	while ((nl = p->out.find('\n', from)) != std::string::npos) {
		std::string line = p->out.substr(from, nl - from);
		if (line.find(needle) != std::string::npos)
			return line;
		from = nl + 1;
	}
	return "";
}

bool
child_wait_stderr(child *p, const char *needle, int timeout_ms)
{
	long long end = mono_ms() + timeout_ms;

	for (;;) {
		if (p->err.find(needle) != std::string::npos)
			return true;
		long long left = end - mono_ms();
		if (left <= 0)
			return false;
		if (!pump(p, (int)(left < 50 ? left : 50)))
			return p->err.find(needle) != std::string::npos;
	}
}

std::string
bounded_output(const std::string &text, int head, int tail)
{
	const char *full = getenv("PIDSITTER_TEST_FULL_OUTPUT");
	std::vector<size_t> starts;  /* where each line starts */

	if (full != NULL && *full != '\0' && strcmp(full, "0") != 0)
		return text;
	for (size_t at = 0; at < text.size();) {
		starts.push_back(at);
		size_t nl = text.find('\n', at);
		at = nl == std::string::npos ? text.size() : nl + 1;
	}
	size_t lines = starts.size();
	if (lines <= (size_t)(head + tail))
		return text;
	size_t cut_from = starts[(size_t)head], cut_to = starts[lines - (size_t)tail];
	return text.substr(0, cut_from) + "... " + std::to_string(lines - (size_t)(head + tail)) +
	    " lines cut (PIDSITTER_TEST_FULL_OUTPUT=1 shows them) ...\n" + text.substr(cut_to);
}

std::string
child_dump(child *p)
{
	long long end = mono_ms() + 100;

	while (mono_ms() < end && pump(p, 20))
		;
	return "stdout:\n" + bounded_output(p->out) + "stderr:\n" + bounded_output(p->err);
}

long
line_field(const std::string &line, const char *key)
{
	std::string k = std::string(" ") + key + "=";
	size_t at = line.find(k);

	if (at == std::string::npos)
		return -1;
	const char *v = line.c_str() + at + k.size();
	char *end;
	long n = strtol(v, &end, 10);
	return end == v ? -1 : n;
}

std::string
log_msg(const char *msg, const std::string &rest)
{
	return std::string("msg=\"") + msg + "\"" + (rest.empty() ? "" : " " + rest);
}

std::string
log_gen(const child &w, unsigned gen, pid_t pid)
{
	return "generation=" + std::to_string(gen) + " pid=" + std::to_string(w.pid) +
	    " process=" + std::to_string(pid);
}

std::vector<pid_t>
live_of(const std::vector<pinned> &seen, const std::string &needle, pid_t except)
{
	std::vector<pid_t> out;

	for (const pinned &p : seen)
		if (pinned_alive(p))
			out.push_back(p.pid);
	for (pid_t pid : live_mentioning(needle))
		if (pid != except && std::find(out.begin(), out.end(), pid) == out.end())
			out.push_back(pid);
	return out;
}

pid_t
child_wait_followed(child *w, unsigned gen, int timeout_ms)
{
	std::string l = log_msg("following new process", "generation=" + std::to_string(gen) +
	    " pid=" + std::to_string(w->pid) + " ");

	if (!child_wait_line(w, l.c_str(), timeout_ms))
		return 0;
	return (pid_t)line_field(child_find_line(w, l.c_str()), "process");
}

std::vector<std::string>
lines_with(const std::string &text, const std::vector<std::string> &needles)
{
	std::vector<std::string> out;
	size_t from = 0, nl;

	while ((nl = text.find('\n', from)) != std::string::npos) {
		std::string line = text.substr(from, nl - from);
		bool all = true;
		from = nl + 1;
		for (const std::string &n : needles)
			all = all && line.find(n) != std::string::npos;
		if (all)
			out.push_back(line);
	}
	return out;
}

bool
has_line(const std::string &text, const std::vector<std::string> &needles)
{
	return !lines_with(text, needles).empty();
}

void
pump_for(child *p, int ms)
{
	long long end = mono_ms() + ms;

	while (mono_ms() < end) {
		long long left = end - mono_ms();
		/* A needle that never matches: child_wait_line just reads. */
		if (!child_wait_line(p, "\x01", (int)(left < 20 ? left : 20)) && p->out_fd < 0)
			usleep(2000);
	}
}

bool
wait_log(child *p, const std::vector<std::string> &needles, int timeout_ms)
{
	long long end = mono_ms() + timeout_ms;

	for (;;) {
		if (has_line(p->out, needles))
			return true;
		if (mono_ms() >= end)
			return false;
		pump_for(p, 20);
	}
}

bool
child_wait_exit(child *p, int timeout_ms)
{
	long long end = mono_ms() + timeout_ms;

	if (p->exited)
		return true;
	for (;;) {
		struct pollfd fd = {p->pidfd, POLLIN, 0};
		long long left = end - mono_ms();

		/* Keep reading output so a chatty process never blocks. */
		pump(p, 0);
		if (poll(&fd, 1, (int)(left < 20 ? (left > 0 ? left : 0) : 20)) > 0)
			break;
		if (left <= 0)
			return false;
	}
	REQUIRE(waitpid(p->pid, &p->wstatus, 0) == p->pid);
	p->exited = true;
	/* What it wrote is in the pipes: read until they close or stay
	 * quiet for 100 ms, for a second at most.  A process it left may
	 * hold them (a daemon outliving its wrapper): no end of file comes
	 * then, and one that writes now and then would keep this going. */
	long long drained = mono_ms() + 1000;
	while (pump(p, 0) && (p->out_fd >= 0 || p->err_fd >= 0) && mono_ms() < drained) {
		struct pollfd fds[2] = {{p->out_fd, POLLIN, 0}, {p->err_fd, POLLIN, 0}};
		if (poll(fds, 2, 100) <= 0)
			break;
	}
	return true;
}

int
child_code(const child *p)
{
	if (WIFEXITED(p->wstatus))
		return WEXITSTATUS(p->wstatus);
	if (WIFSIGNALED(p->wstatus))
		return 128 + WTERMSIG(p->wstatus);
	return -1;
}

void
child_kill(child *p)
{
	if (p->pid <= 0 || p->exited)
		return;
	kill(p->pid, SIGKILL);
	waitpid(p->pid, &p->wstatus, 0);
	p->exited = true;
}

std::string
output_of(const std::vector<std::string> &argv, int timeout_ms)
{
	std::vector<char *> av = c_argv(argv);
	long long end = mono_ms() + timeout_ms;
	std::string out;
	char buf[4096];
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) < 0)
		return "(cannot run " + argv[0] + ": " + strerror(errno) + ")\n";
	pid_t pid = fork();
	if (pid == 0) {
		unblock_signals();
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		execv(av[0], av.data());
		_exit(127);
	}
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		return "(cannot run " + argv[0] + ": " + strerror(errno) + ")\n";
	}
	for (;;) {
		struct pollfd p = {fds[0], POLLIN, 0};
		long long left = end - mono_ms();
		if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
			out += "(" + argv[0] + " still running after " + std::to_string(timeout_ms) +
			    " ms: killed)\n";
			break;
		}
		ssize_t n = read(fds[0], buf, sizeof buf);
		if (n <= 0)
			break;
		out.append(buf, (size_t)n);
	}
	close(fds[0]);
	/* Ours and not reaped yet: the PID cannot be anyone else's. */
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return out;
}

bool
wait_until_fn(bool (*cond)(void *), void *arg, int timeout_ms)
{
	return wait_until([&] { return cond(arg); }, timeout_ms);
}

std::string
read_file(const std::string &path)
{
	std::string s;
	char buf[4096];
	ssize_t n;
	int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return s;
	while ((n = read(fd, buf, sizeof buf)) > 0)
		s.append(buf, (size_t)n);
	close(fd);
	return s;
}

void
write_file(const std::string &path, const std::string &text, int mode)
{
	int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, text.data(), text.size()) == (ssize_t)text.size());
	fchmod(fd, (mode_t)mode);
	close(fd);
}

pid_t
read_pid(const std::string &path)
{
	std::string s = read_file(path);
	return (pid_t)atoi(s.c_str());
}

bool
pid_alive(pid_t pid)
{
	struct proc_stat st;
	return pid > 0 && proc_read_stat(pid, &st) == 0 && st.state != 'Z' && st.state != 'X';
}

pinned
pin(pid_t pid)
{
	struct proc_stat st;
	pinned p;

	p.pid = pid;
	if (pid > 0 && proc_read_stat(pid, &st) == 0 && st.state != 'Z' && st.state != 'X')
		p.start = st.start_time;
	return p;
}

bool
pinned_alive(const pinned &p)
{
	struct proc_stat st;
	return p.start != 0 && proc_read_stat(p.pid, &st) == 0 && st.start_time == p.start &&
	    st.state != 'Z' && st.state != 'X';
}

int
record_count(const std::string &record, pid_t pid, const std::string &what)
{
	std::string text = read_file(record);
	int n = 0;
	size_t from = 0, nl;

	while ((nl = text.find('\n', from)) != std::string::npos) {
		std::string line = text.substr(from, nl - from);
		size_t sp = line.find(' ');
		from = nl + 1;
		if (sp == std::string::npos)
			continue;
		if (pid != 0 && atoi(line.c_str()) != pid)
			continue;
		if (line.compare(sp + 1, what.size(), what) == 0)
			n++;
	}
	return n;
}

bool
record_wait(const std::string &record, pid_t pid, const std::string &what, int timeout_ms)
{
	return wait_until([&] { return record_count(record, pid, what) > 0; }, timeout_ms);
}

void
pin_helpers(const std::string &record, pinned *h, pinned *dh)
{
	REQUIRE(record_wait(record, 0, "helper", 10000));
	REQUIRE(record_wait(record, 0, "detached-helper", 10000));
	*h = pin(record_pid(record, "helper"));
	*dh = pin(record_pid(record, "detached-helper"));
	REQUIRE(pinned_alive(*h));
	REQUIRE(pinned_alive(*dh));
}

pid_t
record_pid(const std::string &record, const std::string &what)
{
	std::string text = read_file(record);
	size_t from = 0, nl;

	while ((nl = text.find('\n', from)) != std::string::npos) {
		std::string line = text.substr(from, nl - from);
		size_t sp = line.find(' ');
		from = nl + 1;
		if (sp != std::string::npos && line.substr(sp + 1) == what)
			return (pid_t)atoi(line.c_str());
	}
	return 0;
}

std::vector<pid_t>
all_pids(void)
{
	std::vector<pid_t> out;
	DIR *d = opendir("/proc");
	struct dirent *e;

	if (d == NULL)
		return out;
	while ((e = readdir(d)) != NULL) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end == '\0' && pid > 0 && pid != getpid())
			out.push_back((pid_t)pid);
	}
	closedir(d);
	return out;
}

std::string
cmdline_of(pid_t pid)
{
	std::string cmd = read_file("/proc/" + std::to_string(pid) + "/cmdline");

	for (char &c : cmd)
		if (c == '\0')
			c = ' ';
	return cmd;
}

std::vector<pid_t>
live_matching(const std::string &argv0)
{
	std::vector<pid_t> out;

	for (pid_t pid : all_pids()) {
		std::string cmd = read_file("/proc/" + std::to_string(pid) + "/cmdline");
		if (strcmp(cmd.c_str(), argv0.c_str()) == 0 && pid_alive(pid))
			out.push_back(pid);
	}
	return out;
}

std::vector<pid_t>
live_mentioning(const std::string &needle)
{
	std::vector<pid_t> out;

	for (pid_t pid : all_pids())
		if (cmdline_of(pid).find(needle) != std::string::npos && pid_alive(pid))
			out.push_back(pid);
	return out;
}

std::vector<pid_t>
zombies_of(pid_t ppid)
{
	return proc_children(ppid, true);
}

pid_t
child_of(pid_t parent, int timeout_ms)
{
	pid_t found = 0;

	wait_until([&] {
		std::vector<pid_t> c = proc_children(parent, false);
		if (c.empty())
			c = proc_children(parent, true);
		found = c.empty() ? 0 : c[0];
		return found != 0;
	}, timeout_ms);
	return found;
}

void
send_signal(pid_t pid, int sig)
{
	REQUIRE(pid > 0);
	REQUIRE(kill(pid, sig) == 0);
}

int
reap_within(pid_t pid, const char *what, int timeout_ms)
{
	int status = -1;
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	std::string why = fd < 0 ? strerror(errno) : "";
	struct pollfd p = {fd, POLLIN, 0};
	std::string name = what;  /* doctest shows a char * as a pointer */

	REQUIRE_MESSAGE(fd >= 0, name << ": pidfd_open: " << why);
	/* The pidfd is readable once the process has exited (pidfd_open(2)). */
	bool ended = poll(&p, 1, timeout_ms) == 1;
	close(fd);
	if (!ended)
		kill(pid, SIGKILL);
	REQUIRE(waitpid(pid, &status, 0) == pid);
	REQUIRE_MESSAGE(ended, name << ": still running after " << timeout_ms << " ms (killed)");
	return status;
}

void
reap_in_background(pid_t pid)
{
	std::thread([pid] {
		int st;
		waitpid(pid, &st, 0);
	}).detach();
}

pid_t
start_detached(const std::vector<std::string> &argv)
{
	int p[2];
	pid_t mid, pid = 0;

	REQUIRE(pipe2(p, O_CLOEXEC) == 0);
	mid = fork();
	REQUIRE(mid >= 0);
	if (mid == 0) {
		std::vector<char *> av = c_argv(argv);
		unblock_signals();
		setsid();
		pid_t c = fork();
		if (c != 0) {
			if (write(p[1], &c, sizeof c) < 0)
				_exit(1);
			_exit(0);
		}
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		execv(av[0], av.data());
		_exit(127);
	}
	close(p[1]);
	REQUIRE(read(p[0], &pid, sizeof pid) == (ssize_t)sizeof pid);
	close(p[0]);
	waitpid(mid, NULL, 0);
	return pid;
}

pid_t
start_child(const std::string &path, const std::vector<std::string> &argv, uid_t uid,
    bool quiet)
{
	std::vector<char *> av = c_argv(argv);
	pid_t pid = fork();

	REQUIRE(pid >= 0);
	if (pid == 0) {
		unblock_signals();
		setsid();
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		if (quiet)
			dup2(null, 1);
		if (uid != (uid_t)-1 &&
		    (setgroups(0, NULL) < 0 || setgid((gid_t)uid) < 0 || setuid(uid) < 0))
			_exit(126);
		execv(path.c_str(), av.data());
		_exit(127);
	}
	return pid;
}

int
free_port(void)
{
	static unsigned seed;
	int lo = 32768;
	std::string range = read_file("/proc/sys/net/ipv4/ip_local_port_range");

	if (!range.empty())
		lo = atoi(range.c_str());
	if (lo <= 11024)
		lo = 32768;  /* an odd range: the usual one's floor */
	if (seed == 0)
		seed = (unsigned)getpid() * 2654435761u ^ (unsigned)mono_ms();
	for (int tries = 0; tries < 1000; tries++) {
		int port = 10000 + (int)(rand_r(&seed) % (unsigned)(lo - 10000));
		struct sockaddr_in a;
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		REQUIRE(fd >= 0);
		memset(&a, 0, sizeof a);
		a.sin_family = AF_INET;
		a.sin_port = htons((uint16_t)port);
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		int r = bind(fd, (struct sockaddr *)&a, sizeof a);
		close(fd);
		if (r == 0)
			return port;
	}
	FAIL("no free loopback port below the ephemeral range");
	return -1;
}

static int
tcp_connect(int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* On loopback a connect is answered at once: accepted into the
	 * listener's backlog, or refused. */
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

std::string
tcp_exchange(int port, const std::string &request, int timeout_ms)
{
	long long end = mono_ms() + timeout_ms;
	std::string got;
	char buf[4096];
	int fd = tcp_connect(port);

	if (fd < 0)
		return got;
	if (!request.empty() &&
	    send(fd, request.data(), request.size(), MSG_NOSIGNAL) != (ssize_t)request.size()) {
		close(fd);
		return got;
	}
	for (;;) {
		struct pollfd pfd = {fd, POLLIN, 0};
		long long left = end - mono_ms();
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			break;
		ssize_t n = read(fd, buf, sizeof buf);
		if (n <= 0)
			break;
		got.append(buf, (size_t)n);
	}
	close(fd);
	return got;
}

bool
tcp_accepts(int port)
{
	int fd = tcp_connect(port);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

scene::scene(const char *pid_dir)
{
	gitaly = dir.link("gitaly", "fixture-daemon");
	if (pid_dir != NULL) {
		REQUIRE(mkdir((dir / pid_dir).c_str(), 0755) == 0);
		pidfile = dir / pid_dir + "/gitaly.pid";
	} else {
		pidfile = dir / "gitaly.pid";
	}
	record = dir / "record";
	conf = dir / "pidsitter.toml";
}

scene::~scene()
{
	std::vector<pid_t> left = live_mentioning(dir.path);

	/* A test that ends normally has stopped all it started: a process
	 * still running from the directory is a leak of the code under test
	 * (a daemon that outlived its wrapper), and a failure.  After a
	 * failed REQUIRE it is only cleaned up. */
	if (std::uncaught_exceptions() == 0 && !left.empty()) {
		wait_until([&] { return (left = live_mentioning(dir.path)).empty(); }, 10000);
		for (pid_t pid : left) {
			CAPTURE(pid);
			CAPTURE(cmdline_of(pid));
			CHECK_MESSAGE(false, "a process outlived the test");
		}
	}
	for (pid_t pid : left)
		kill(pid, SIGKILL);
}

std::vector<std::string>
scene::daemon(const std::vector<std::string> &extra) const
{
	std::vector<std::string> a = {gitaly, "--pid-file", pidfile, "--record", record};

	a.insert(a.end(), extra.begin(), extra.end());
	return a;
}

std::vector<std::string>
scene::wrapper(const std::vector<std::string> &daemon_argv,
    const std::vector<std::string> &opts) const
{
	std::vector<std::string> a = {build_path("pidsitter"), "-p", pidfile};

	a.insert(a.end(), opts.begin(), opts.end());
	a.push_back("--");
	a.insert(a.end(), daemon_argv.begin(), daemon_argv.end());
	return a;
}

void
scene::config(const std::string &keys) const
{
	write_file(conf, "pid_file = \"" + pidfile + "\"\n" + keys);
}

std::vector<std::string>
scene::configured(const std::vector<std::string> &extra) const
{
	std::vector<std::string> a = {build_path("pidsitter"), "-c", conf, "--"}, d = daemon(extra);

	a.insert(a.end(), d.begin(), d.end());
	return a;
}

std::vector<pid_t>
scene::daemons() const
{
	return live_matching(gitaly);
}

pid_t
scene::ready(int timeout_ms) const
{
	REQUIRE(record_wait(record, 0, "ready", timeout_ms));
	return read_pid(pidfile);
}

const std::vector<std::string> spawn_and_exit = {"--no-pid-file", "--exit-after", "0",
    "--exit-code", "5"};

pid_t
start_monitored(const scene &sc, child *w, const std::vector<std::string> &argv,
    int timeout_ms, const std::vector<std::string> &env)
{
	child_start(w, argv, env);
	pid_t d = sc.ready(timeout_ms);
	REQUIRE(wait_log(w, {"msg=\"monitoring process\""}, timeout_ms));
	return d;
}

void
send_rt_flood(const scene &sc, child *w, pid_t daemon, int sig, int n, int timeout_ms)
{
	char name[32];

	snprintf(name, sizeof name, "signal SIG%d", sig);
	for (int i = 0; i < n; i++) {
		send_signal(w->pid, sig);
		if (i % 100 == 99)
			REQUIRE(wait_until([&] {
				return record_count(sc.record, daemon, name) == i + 1;
			}, timeout_ms));
	}
}

pid_t
hup_successor(const scene &sc, child *w, pid_t old, int timeout_ms)
{
	pid_t fresh = 0;

	send_signal(w->pid, SIGHUP);
	REQUIRE(wait_until([&] {
		pump_for(w, 1);
		fresh = read_pid(sc.pidfile);
		return fresh != old && fresh > 0 && record_count(sc.record, fresh, "ready") == 1;
	}, timeout_ms));
	return fresh;
}
