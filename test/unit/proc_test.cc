/*
 * proc_test.cc: /proc parsing, pidfds and proc_identify (proc.cc).
 *
 * The pure functions get tables; the rest runs on this process and on
 * children it forks (some exec /bin/sleep, under other names through
 * symbolic links), each killed and reaped before its test ends.  Waiting
 * for a child's death is a poll on its pidfd with a deadline.
 */
#include <doctest/doctest.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "proc.h"
#include "settings.h"

/* A /proc/PID/stat line with all 52 fields, as Linux 6.x writes it. */
static std::string
stat_line(const char *comm, char state, int ppid, unsigned long long start)
{
	char buf[1024];

	snprintf(buf, sizeof buf,
	    "4321 (%s) %c %d 4321 4321 0 -1 4194560 120 0 0 0 3 1 0 0 20 0 1 0 %llu "
	    "2297856 224 18446744073709551615 94814446473216 94814446490433 "
	    "140724711584832 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 94814446506352 "
	    "94814446507784 94814480199680 140724711591417 140724711591437 "
	    "140724711591437 140724711604203 0\n",
	    comm, state, ppid, start);
	return buf;
}

/*
 * Fork and exec path with argv (as uid, unless (uid_t)-1); returns once
 * the exec has happened (the close-on-exec pipe reads EOF), with the
 * child's pid, or -1 if the exec failed.
 */
static pid_t
start(const char *path, const char *const *argv, uid_t uid)
{
	int fds[2], err = 0;
	pid_t pid;

	REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		if (uid == (uid_t)-1 || setuid(uid) == 0)
			execv(path, (char *const *)argv);
		err = errno;
		(void)!write(fds[1], &err, sizeof err);
		_exit(127);
	}
	close(fds[1]);
	if (read(fds[0], &err, sizeof err) > 0) {
		waitpid(pid, NULL, 0);
		pid = -1;
	}
	close(fds[0]);
	return pid;
}

/* Kill and reap a child; its wait status. */
static int
finish(pid_t pid)
{
	int status = -1;

	kill(pid, SIGKILL);
	CHECK(waitpid(pid, &status, 0) == pid);
	return status;
}

TEST_CASE("proc: stat parsing counts fields after the last ')'")
{
	static const struct {
		const char *comm;
		char state;
		int ppid;
		unsigned long long start;
	} cases[] = {
		{"gitaly", 'S', 1, 987654},
		{"a b", 'R', 77, 1},
		{"a) b) (c", 'S', 1, 123456789},
		{"1234 (a) b) (c", 'D', 4194304, 5},
		{")", 'Z', 2, 0},
		{"(", 'X', 3, 18446744073709551615ULL},
		{"((((", 'I', 0, 42},
		{"x) R 1 2 3 4 5", 't', 9, 43},
		{") S 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9", 'S', 10, 44},
		{"", 'S', 11, 45},
		{"gitaly-ssh-xxxx", 'S', 12, 46},
		{"tab\there", 'S', 13, 47},
		{"new\nline", 'S', 14, 48},
		{"\xc3\xa9\xff", 'S', 15, 49},
	};
	for (const auto &c : cases) {
		std::string line = stat_line(c.comm, c.state, c.ppid, c.start);
		struct proc_stat st;

		CAPTURE(line);
		memset(&st, 0, sizeof st);
		REQUIRE(proc_stat_parse(line.data(), line.size(), &st) == 0);
		CHECK(st.state == c.state);
		CHECK(st.ppid == c.ppid);
		CHECK(st.start_time == c.start);
	}
}

TEST_CASE("proc: stat parsing refuses garbage")
{
	static const char *const cases[] = {
		"",
		"\n",
		"hello",
		"1234",
		"1234 (a",
		"1234 (a)",
		"1234 (a) ",
		"1234 (a)S 1 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 5 1\n",
		/* 21 fields: no start time. */
		"1 (a) S 1 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0\n",
		"1 (a) S 1 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 \n",
		/* ppid and start time must be numbers. */
		"1 (a) S x 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 5 1\n",
		"1 (a) S -1 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 5 1\n",
		"1 (a) S 1x 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 5 1\n",
		"1 (a) S 1 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 -5 1\n",
		"1 (a) S 1 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 5x 1\n",
		"1 (a) S 1 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 99999999999999999999999 1\n",
		"1 (a) S 1 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0  5 1\n",
	};
	for (const char *c : cases) {
		std::string line = c;
		struct proc_stat st;
		CAPTURE(line);
		CHECK(proc_stat_parse(c, strlen(c), &st) == -EINVAL);
	}

	/* Exactly 22 fields are enough. */
	const char *short22 = "1 (a) S 7 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 5\n";
	struct proc_stat st;
	CHECK(proc_stat_parse(short22, strlen(short22), &st) == 0);
	CHECK(st.ppid == 7);
	CHECK(st.start_time == 5);
}

TEST_CASE("proc: stat parsing of a cut line depends only on the bytes before the cut")
{
	/* proc_stat_parse takes (buf, len): a buffer read from /proc is not
	 * NUL-terminated, so what follows len must not change the answer. */
	std::string line = stat_line("a) b", 'S', 1, 987654321);
	size_t field22 = line.find(" 987654321 ") + 1;

	for (size_t len = 0; len <= line.size(); len++) {
		std::string a = line.substr(0, len) + std::string(1, '\0');
		std::string b = line.substr(0, len) + "4444 ";
		struct proc_stat sa, sb;
		memset(&sa, 0, sizeof sa);
		memset(&sb, 0, sizeof sb);
		int ra = proc_stat_parse(a.data(), len, &sa);
		int rb = proc_stat_parse(b.data(), len, &sb);

		CAPTURE(len);
		CHECK(ra == rb);
		if (len <= field22)
			CHECK(ra == -EINVAL);
		if (ra == 0 && rb == 0)
			CHECK(sa.start_time == sb.start_time);
	}
	/* Cut after three digits of the start time: 987, never 987654321. */
	struct proc_stat st;
	memset(&st, 0, sizeof st);
	int r = proc_stat_parse(line.data(), field22 + 3, &st);
	CHECK((r == -EINVAL || st.start_time == 987));
}

TEST_CASE("proc: comm_matches compares as the kernel truncates comm to 15 bytes")
{
	static const struct {
		const char *comm;
		const char *name;
		bool match;
	} cases[] = {
		{"gitaly", "gitaly", true},
		{"praefect", "praefect", true},
		{"gitaly", "praefect", false},
		{"gitaly", "gitaly-ssh", false},          /* a prefix too short */
		{"gitaly-ssh", "gitaly", false},
		{"gitaly-hooks-xy", "gitaly-hooks-xyz1", true},    /* 17 bytes, cut to 15 */
		{"gitaly-hooks-xy", "gitaly-hooks-xyz", true},     /* 16 bytes */
		{"gitaly-hooks-xy", "gitaly-hooks-xy", true},      /* 15 bytes */
		{"gitaly-hooks-x", "gitaly-hooks-xyz1", false},    /* 14 of 17 */
		{"gitaly-hooks-x", "gitaly-hooks-xy", false},      /* 14 of 15 */
		{"gitaly-hooks-x", "gitaly-hooks-x", true},        /* 14 bytes */
		{"gitaly-hooks-xyz", "gitaly-hooks-xyz", false},   /* no comm is 16 bytes */
		{"GITALY", "gitaly", false},
		{"", "gitaly", false},
	};
	for (const auto &c : cases) {
		std::string comm = c.comm, name = c.name;
		CAPTURE(comm);
		CAPTURE(name);
		CHECK(comm_matches(comm, name) == c.match);
	}
}

TEST_CASE("proc: exe_strip_deleted and path_basename")
{
	static const struct {
		const char *in;
		const char *out;
	} strip[] = {
		{"/usr/bin/gitaly (deleted)", "/usr/bin/gitaly"},
		{"/usr/bin/gitaly", "/usr/bin/gitaly"},
		{"/x/gitaly (deleted) (deleted)", "/x/gitaly (deleted)"},
		{"/x/gitaly(deleted)", "/x/gitaly(deleted)"},
		{"/x/gitaly (deleted)x", "/x/gitaly (deleted)x"},
		{"/x/gitaly (Deleted)", "/x/gitaly (Deleted)"},
		{"", ""},
	};
	for (const auto &c : strip) {
		std::string in = c.in;
		CAPTURE(in);
		CHECK(exe_strip_deleted(in) == c.out);
	}
	static const struct {
		const char *in;
		const char *out;
	} base[] = {
		{"/opt/gitlab/embedded/bin/gitaly", "gitaly"},
		{"gitaly", "gitaly"},
		{"./gitaly", "gitaly"},
		{"bin/gitaly", "gitaly"},
		{"//gitaly", "gitaly"},
		{"/gitaly", "gitaly"},
		{"/", ""},
		{"bin/", ""},
		{"", ""},
		{"a b/c d", "c d"},
	};
	for (const auto &c : base) {
		std::string in = c.in;
		CAPTURE(in);
		CHECK(path_basename(in) == c.out);
	}
}

TEST_CASE("proc: reading this process")
{
	struct proc_stat st;
	std::string s;
	uid_t uid = 12345;
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);

	REQUIRE(n > 0);
	exe[n] = '\0';
	REQUIRE(proc_read_stat(getpid(), &st) == 0);
	CHECK(st.state == 'R');
	CHECK(st.ppid == getppid());
	CHECK(st.start_time > 0);
	REQUIRE(proc_read_comm(getpid(), &s) == 0);
	CHECK(s == std::string(program_invocation_short_name).substr(0, 15));
	REQUIRE(proc_read_exe(getpid(), &s) == 0);
	CHECK(s == path_basename(exe));
	REQUIRE(proc_read_argv0(getpid(), &s) == 0);
	CHECK(s == path_basename(program_invocation_name));
	REQUIRE(proc_read_uid(getpid(), &uid) == 0);
	CHECK(uid == geteuid());

	CHECK(proc_is_ancestor(getpid()));
	CHECK(proc_is_ancestor(getppid()));
	CHECK(proc_is_ancestor(1));
}

TEST_CASE("proc: reading a child, a zombie and no process")
{
	static const char *const argv[] = {"renamed-argv0", "30", NULL};
	struct proc_stat self, st;
	std::string s;
	uid_t uid = 0;
	pid_t pid = start("/bin/sleep", argv, 12345);

	REQUIRE(pid > 0);
	REQUIRE(proc_read_stat(getpid(), &self) == 0);
	REQUIRE(proc_read_stat(pid, &st) == 0);
	CHECK(st.state != 'Z');
	CHECK(st.ppid == getpid());
	CHECK(st.start_time >= self.start_time);
	CHECK(proc_read_comm(pid, &s) == 0);
	CHECK(s == "sleep");
	CHECK(proc_read_exe(pid, &s) == 0);
	CHECK(s == "sleep");
	CHECK(proc_read_argv0(pid, &s) == 0);
	CHECK(s == "renamed-argv0");
	CHECK(proc_read_uid(pid, &uid) == 0);
	CHECK(uid == 12345);
	CHECK(!proc_is_ancestor(pid));

	/* Killed, not reaped: a zombie keeps its stat and comm. */
	int fd = pidfd_open_pid(pid);
	REQUIRE(fd >= 0);
	kill(pid, SIGKILL);
	struct pollfd p = {fd, POLLIN, 0};
	CHECK(poll(&p, 1, 10000) == 1);
	CHECK(proc_read_stat(pid, &st) == 0);
	CHECK(st.state == 'Z');
	CHECK(proc_read_comm(pid, &s) == 0);
	CHECK(s == "sleep");
	CHECK(proc_read_exe(pid, &s) < 0);
	close(fd);
	CHECK(WTERMSIG(finish(pid)) == SIGKILL);

	/* Reaped: nothing to read. */
	CHECK(kill(pid, 0) < 0);
	CHECK(proc_read_stat(pid, &st) == -ENOENT);
	CHECK(proc_read_comm(pid, &s) == -ENOENT);
	CHECK(proc_read_exe(pid, &s) == -ENOENT);
	CHECK(proc_read_argv0(pid, &s) == -ENOENT);
	CHECK(proc_read_uid(pid, &uid) == -ENOENT);
}

TEST_CASE("proc: pidfds signal exactly their process and learn its exit status")
{
	int fd, status = -1, ws = -1;
	pid_t pid;

	CHECK(pidfd_open_pid(0) == -EINVAL);
	CHECK(pidfd_open_pid(-5) == -EINVAL);

	SUBCASE("killed by SIGTERM") {
		pid = fork();
		REQUIRE(pid >= 0);
		if (pid == 0) {
			for (;;)
				pause();
		}
		fd = pidfd_open_pid(pid);
		REQUIRE(fd >= 0);
		CHECK((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
		CHECK(pidfd_signal(fd, 0) == 0);
		CHECK(pidfd_exit_status(fd, &ws) == -ENODATA);
		CHECK(pidfd_signal(fd, SIGTERM) == 0);
		struct pollfd p = {fd, POLLIN, 0};
		REQUIRE(poll(&p, 1, 10000) == 1);
		/* Dead, not reaped yet: the kernel records the status at reaping. */
		CHECK(pidfd_exit_status(fd, &ws) == -ENODATA);
		CHECK(waitpid(pid, &status, 0) == pid);
		CHECK(WIFSIGNALED(status));
		CHECK(WTERMSIG(status) == SIGTERM);
		REQUIRE(pidfd_exit_status(fd, &ws) == 0);
		CHECK(WIFSIGNALED(ws));
		CHECK(WTERMSIG(ws) == SIGTERM);
		CHECK(ws == status);
		/* Reaped: the pid may be anyone's now, the pidfd still nobody's. */
		CHECK(pidfd_signal(fd, 0) == -ESRCH);
		CHECK(pidfd_signal(fd, SIGTERM) == -ESRCH);
		close(fd);
	}
	SUBCASE("exit 42") {
		int go[2];
		REQUIRE(pipe2(go, O_CLOEXEC) == 0);
		pid = fork();
		REQUIRE(pid >= 0);
		if (pid == 0) {
			char c;
			close(go[1]);
			(void)!read(go[0], &c, 1);
			_exit(42);
		}
		close(go[0]);
		fd = pidfd_open_pid(pid);
		REQUIRE(fd >= 0);
		CHECK(pidfd_exit_status(fd, &ws) == -ENODATA);
		close(go[1]);
		struct pollfd p = {fd, POLLIN, 0};
		REQUIRE(poll(&p, 1, 10000) == 1);
		CHECK(pidfd_exit_status(fd, &ws) == -ENODATA);
		CHECK(waitpid(pid, &status, 0) == pid);
		REQUIRE(pidfd_exit_status(fd, &ws) == 0);
		CHECK(WIFEXITED(ws));
		CHECK(WEXITSTATUS(ws) == 42);
		close(fd);
	}
	SUBCASE("not a pidfd") {
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		REQUIRE(fd >= 0);
		CHECK(pidfd_signal(fd, 0) == -EBADF);
		CHECK(pidfd_exit_status(fd, &ws) < 0);
		close(fd);
		CHECK(pidfd_signal(fd, 0) == -EBADF);
	}
}

static int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

TEST_CASE("proc: proc_identify")
{
	static const char *const sleep_argv[] = {"sleep", "30", NULL};
	struct match_rules rules;
	struct identity id;
	std::string why;
	pid_t pid;

	rules.names = {"sleep"};
	rules.facts = MATCH_COMM | MATCH_EXE;
	rules.owner_any = false;
	rules.owner = (uid_t)-1;

	SUBCASE("the expected binary") {
		pid = start("/bin/sleep", sleep_argv, (uid_t)-1);
		REQUIRE(pid > 0);
		struct proc_stat st;
		REQUIRE(proc_read_stat(pid, &st) == 0);
		REQUIRE(proc_identify(pid, &rules, &id, &why) == ID_OK);
		CHECK(id.pid == pid);
		CHECK(id.pidfd >= 0);
		CHECK(id.matched == "comm");
		CHECK(id.comm == "sleep");
		CHECK(id.exe == "sleep");
		CHECK(id.uid == geteuid());
		CHECK(id.ppid == getpid());
		CHECK(id.start_time == st.start_time);
		/* The pidfd is the process's. */
		CHECK(pidfd_signal(id.pidfd, SIGTERM) == 0);
		CHECK(WTERMSIG(finish(pid)) == SIGTERM);
		close(id.pidfd);
	}
	SUBCASE("another binary") {
		pid = start("/bin/sleep", sleep_argv, (uid_t)-1);
		REQUIRE(pid > 0);
		rules.names = {"other", "another"};
		id.pidfd = 99;
		CHECK(proc_identify(pid, &rules, &id, &why) == ID_MISMATCH);
		CHECK(id.pidfd == -1);
		CHECK(why.find("expected other, another") != std::string::npos);
		CHECK(why.find("comm sleep") != std::string::npos);
		rules.names = {"sleepy"};
		CHECK(proc_identify(pid, &rules, &id, &why) == ID_MISMATCH);
		rules.names = {"slee"};
		CHECK(proc_identify(pid, &rules, &id, &why) == ID_MISMATCH);
		CHECK(WTERMSIG(finish(pid)) == SIGKILL);
	}
	SUBCASE("never pid 1, the wrapper or its ancestors") {
		CHECK(proc_identify(1, &rules, &id, &why) == ID_REFUSED);
		CHECK(why.find("pid 1") != std::string::npos);
		CHECK(proc_identify(getpid(), &rules, &id, &why) == ID_REFUSED);
		CHECK(why.find("wrapper itself") != std::string::npos);
		rules.owner_any = true;
		CHECK(proc_identify(getppid(), &rules, &id, &why) == ID_REFUSED);
		CHECK(why.find("ancestor") != std::string::npos);
		CHECK(id.pidfd == -1);
	}
	SUBCASE("a zombie is dead") {
		pid = fork();
		REQUIRE(pid >= 0);
		if (pid == 0)
			_exit(0);
		int fd = pidfd_open_pid(pid);
		REQUIRE(fd >= 0);
		struct pollfd p = {fd, POLLIN, 0};
		REQUIRE(poll(&p, 1, 10000) == 1);
		rules.names = {std::string(program_invocation_short_name).substr(0, 15)};
		CHECK(proc_identify(pid, &rules, &id, &why) == ID_DEAD);
		CHECK(why.find("zombie") != std::string::npos);
		CHECK(id.pidfd == -1);
		close(fd);
		CHECK(finish(pid) == 0);
		/* Reaped, and its pid free: no such process. */
		if (kill(pid, 0) < 0 && errno == ESRCH) {
			CHECK(proc_identify(pid, &rules, &id, &why) == ID_DEAD);
			CHECK(why == "no such process");
		}
	}
	SUBCASE("the owner") {
		pid = start("/bin/sleep", sleep_argv, 12345);
		REQUIRE(pid > 0);
		/* The expected binary, another user's: told apart from a
		 * stranger, so that the caller can refuse to start a second
		 * daemon beside it; the fix is named. */
		CHECK(proc_identify(pid, &rules, &id, &why) == ID_OWNER);
		CHECK(why == "it runs as uid 12345, not uid 0; if it is the daemon, "
		    "set owner = 12345 (or \"any\") in the configuration file");
		CHECK(id.pidfd == -1);
		rules.owner = 0;
		CHECK(proc_identify(pid, &rules, &id, &why) == ID_OWNER);
		/* Another binary, another user's: not the daemon at all. */
		rules.names = {"other"};
		CHECK(proc_identify(pid, &rules, &id, &why) == ID_MISMATCH);
		CHECK(why.find("not the expected binary") != std::string::npos);
		rules.names = {"sleep"};
		rules.owner = 12345;
		REQUIRE(proc_identify(pid, &rules, &id, &why) == ID_OK);
		CHECK(id.uid == 12345);
		close(id.pidfd);
		rules.owner = 54321;
		rules.owner_any = true;
		REQUIRE(proc_identify(pid, &rules, &id, &why) == ID_OK);
		close(id.pidfd);
		finish(pid);
	}
	SUBCASE("argv0 counts only when asked for") {
		static const char *const argv[] = {"/opt/x/gitaly-fake", "30", NULL};
		pid = start("/bin/sleep", argv, (uid_t)-1);
		REQUIRE(pid > 0);
		rules.names = {"gitaly-fake"};
		CHECK(proc_identify(pid, &rules, &id, &why) == ID_MISMATCH);
		rules.facts = MATCH_COMM | MATCH_EXE | MATCH_ARGV0;
		REQUIRE(proc_identify(pid, &rules, &id, &why) == ID_OK);
		CHECK(id.matched == "argv0");
		close(id.pidfd);
		rules.facts = MATCH_ARGV0;
		rules.names = {"sleep"};
		CHECK(proc_identify(pid, &rules, &id, &why) == ID_MISMATCH);
		finish(pid);
	}
	SUBCASE("comm and exe differ: links, long names, a deleted binary") {
		char tmpl[] = "/tmp/pidsitter-proc-XXXXXX";
		REQUIRE(mkdtemp(tmpl) != NULL);
		std::string d = tmpl;
		std::string link = d + "/mydaemon";
		std::string longlink = d + "/a-very-long-daemon-name";
		REQUIRE(symlink("/bin/sleep", link.c_str()) == 0);
		REQUIRE(symlink("/bin/sleep", longlink.c_str()) == 0);

		/* Through a link, comm is the link's name, exe the target's. */
		pid = start(link.c_str(), sleep_argv, (uid_t)-1);
		REQUIRE(pid > 0);
		rules.names = {"sleep"};
		rules.facts = MATCH_EXE;
		REQUIRE(proc_identify(pid, &rules, &id, &why) == ID_OK);
		CHECK(id.matched == "exe");
		CHECK(id.comm == "mydaemon");
		close(id.pidfd);
		rules.facts = MATCH_COMM;
		CHECK(proc_identify(pid, &rules, &id, &why) == ID_MISMATCH);
		rules.names = {"mydaemon"};
		REQUIRE(proc_identify(pid, &rules, &id, &why) == ID_OK);
		CHECK(id.matched == "comm");
		close(id.pidfd);
		rules.facts = MATCH_EXE;
		CHECK(proc_identify(pid, &rules, &id, &why) == ID_MISMATCH);
		finish(pid);

		/* A 23-byte name: the kernel keeps 15 bytes of it. */
		pid = start(longlink.c_str(), sleep_argv, (uid_t)-1);
		REQUIRE(pid > 0);
		rules.names = {"a-very-long-daemon-name"};
		rules.facts = MATCH_COMM;
		REQUIRE(proc_identify(pid, &rules, &id, &why) == ID_OK);
		CHECK(id.comm == "a-very-long-dae");
		CHECK(id.matched == "comm");
		close(id.pidfd);
		finish(pid);

		/* A binary replaced on disk: exe ends in " (deleted)". */
		std::string copy = d + "/gitaly";
		int in = open("/bin/sleep", O_RDONLY | O_CLOEXEC);
		int out = open(copy.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0755);
		REQUIRE(in >= 0);
		REQUIRE(out >= 0);
		char buf[65536];
		ssize_t n;
		while ((n = read(in, buf, sizeof buf)) > 0)
			REQUIRE(write(out, buf, (size_t)n) == n);
		close(in);
		close(out);
		pid = start(copy.c_str(), sleep_argv, (uid_t)-1);
		REQUIRE(pid > 0);
		REQUIRE(unlink(copy.c_str()) == 0);
		std::string exe;
		CHECK(proc_read_exe(pid, &exe) == 0);
		CHECK(exe == "gitaly");
		rules.names = {"gitaly"};
		rules.facts = MATCH_EXE;
		REQUIRE(proc_identify(pid, &rules, &id, &why) == ID_OK);
		CHECK(id.matched == "exe");
		close(id.pidfd);
		finish(pid);

		CHECK(nftw(tmpl, rm_cb, 16, FTW_DEPTH | FTW_PHYS) == 0);
	}
}

/* Copy /bin/sleep to path, through a temporary renamed over it: a binary
 * upgrade, which leaves a running copy's exe " (deleted)". */
static void
install_sleep(const std::string &path)
{
	std::string tmp = path + ".new";
	int in = open("/bin/sleep", O_RDONLY | O_CLOEXEC);
	int out = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	char buf[65536];
	ssize_t n;

	REQUIRE(in >= 0);
	REQUIRE(out >= 0);
	while ((n = read(in, buf, sizeof buf)) > 0)
		REQUIRE(write(out, buf, (size_t)n) == n);
	close(in);
	close(out);
	REQUIRE(rename(tmp.c_str(), path.c_str()) == 0);
}

TEST_CASE("proc: a successor is the daemon when it runs the current process's program, whatever its name")
{
	static const char *const sleep_argv[] = {"sleep", "30", NULL};
	char tmpl[] = "/tmp/pidsitter-proc-XXXXXX";
	struct match_rules rules;
	struct proc_program cur, other;
	struct identity id;
	std::string why;

	REQUIRE(mkdtemp(tmpl) != NULL);
	REQUIRE(chmod(tmpl, 0755) == 0);  /* another user runs it too */
	std::string d = tmpl, daemon = d + "/daemon";
	install_sleep(daemon);
	REQUIRE(symlink(daemon.c_str(), (d + "/alias").c_str()) == 0);
	/* BINARY was a script that exec'd the daemon: names say its name. */
	rules.names = {"run-daemon.sh"};
	rules.facts = MATCH_COMM | MATCH_EXE;
	rules.owner_any = false;
	rules.owner = (uid_t)-1;

	pid_t first = start(daemon.c_str(), sleep_argv, (uid_t)-1);
	REQUIRE(first > 0);
	REQUIRE(proc_read_program(first, &cur) == 0);
	CHECK(cur.known);
	CHECK(cur.path == daemon);
	CHECK(cur.comm == "daemon");
	REQUIRE(proc_read_program(getpid(), &other) == 0);
	CHECK_FALSE(program_same(&cur, &other));
	CHECK(program_same(&cur, &cur));

	SUBCASE("without the current program, names alone decide") {
		pid_t next = start(daemon.c_str(), sleep_argv, (uid_t)-1);
		REQUIRE(next > 0);
		CHECK(proc_identify(next, &rules, &id, &why) == ID_MISMATCH);
		CHECK(why.find("expected run-daemon.sh)") != std::string::npos);
		finish(next);
	}
	SUBCASE("the same file, reached by another path") {
		rules.program = cur;
		REQUIRE(mkdir((d + "/sub").c_str(), 0755) == 0);
		REQUIRE(symlink(daemon.c_str(), (d + "/sub/daemon").c_str()) == 0);
		pid_t next = start((d + "/sub/daemon").c_str(), sleep_argv, (uid_t)-1);
		REQUIRE(next > 0);
		REQUIRE(proc_identify(next, &rules, &id, &why) == ID_OK);
		CHECK(id.matched == "program");
		CHECK(id.comm == "daemon");
		close(id.pidfd);
		finish(next);
	}
	SUBCASE("the same file under another name is another program (a multi-call binary)") {
		rules.program = cur;
		pid_t next = start((d + "/alias").c_str(), sleep_argv, (uid_t)-1);
		REQUIRE(next > 0);
		CHECK(proc_identify(next, &rules, &id, &why) == ID_MISMATCH);
		CHECK(why.find("nor the current process's program (daemon, " + daemon + ")") !=
		    std::string::npos);
		finish(next);
	}
	SUBCASE("the same path after a binary upgrade: another file") {
		install_sleep(daemon);
		/* The running one's exe now says " (deleted)": the path rule
		 * holds either way round. */
		struct proc_program old;
		REQUIRE(proc_read_program(first, &old) == 0);
		CHECK(old.path == daemon);
		CHECK(old.ino == cur.ino);
		rules.program = old;
		pid_t next = start(daemon.c_str(), sleep_argv, (uid_t)-1);
		REQUIRE(next > 0);
		REQUIRE(proc_identify(next, &rules, &id, &why) == ID_OK);
		CHECK(id.matched == "program");
		CHECK(id.program.ino != old.ino);
		CHECK(id.program.path == daemon);
		close(id.pidfd);
		finish(next);
	}
	SUBCASE("another program is still refused, and the reason names the program") {
		rules.program = cur;
		pid_t next = start("/bin/sleep", sleep_argv, (uid_t)-1);
		REQUIRE(next > 0);
		CHECK(proc_identify(next, &rules, &id, &why) == ID_MISMATCH);
		CHECK(why.find("nor the current process's program (daemon, " + daemon + ")") !=
		    std::string::npos);
		CHECK(id.pidfd == -1);
		/* Unless any program will do (what a forking start left). */
		rules.any_program = true;
		REQUIRE(proc_identify(next, &rules, &id, &why) == ID_OK);
		CHECK(id.matched == "");
		close(id.pidfd);
		finish(next);
	}
	SUBCASE("the owner rule still holds") {
		rules.program = cur;
		pid_t next = start(daemon.c_str(), sleep_argv, 12345);
		REQUIRE(next > 0);
		CHECK(proc_identify(next, &rules, &id, &why) == ID_OWNER);
		finish(next);
	}
	finish(first);
	CHECK(nftw(tmpl, rm_cb, 16, FTW_DEPTH | FTW_PHYS) == 0);
}

/*
 * The contract gen_collect (watch.cc) relies on: asked while another
 * process reaps it, pidfd_exit_status says "not yet" (-ENODATA), "being
 * reaped" (-ESRCH: the kernel read the exit information before it looked
 * the task up, and the task lost its pid in between) or gives the status;
 * once the pidfd reports POLLHUP, it gives the status.  A thread reaps
 * while this one asks, many times over, to land in that window.
 */
static void *
reap_thread(void *arg)
{
	int status;

	(void)waitpid(*(pid_t *)arg, &status, 0);
	return NULL;
}

TEST_CASE("proc: pidfd_exit_status while another thread reaps: not yet, being reaped, or the status")
{
	int seen_esrch = 0, rounds = 0;
	struct timespec t0, now;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		int ws = 0, r, go[2];
		pthread_t th;
		pid_t pid;

		REQUIRE(pipe2(go, O_CLOEXEC) == 0);
		pid = fork();
		REQUIRE(pid >= 0);
		if (pid == 0) {
			char c;
			close(go[1]);
			(void)!read(go[0], &c, 1);
			_exit(3);
		}
		close(go[0]);
		int fd = pidfd_open_pid(pid);
		REQUIRE(fd >= 0);
		close(go[1]);
		struct pollfd p = {fd, POLLIN, 0};
		REQUIRE(poll(&p, 1, 10000) == 1);
		REQUIRE(pthread_create(&th, NULL, reap_thread, &pid) == 0);
		/* Until it is reaped, or the run's time is up: this thread
		 * never blocks, and such a thread can keep the reaper from
		 * running for long (under a valgrind that knows pidfds, which
		 * runs one thread at a time with a lock that is not fair:
		 * valgrind(1), --fair-sched; make valgrind leaves this test
		 * out for Debian 12's).  The join waits for the reaper either
		 * way. */
		do {
			r = pidfd_exit_status(fd, &ws);
			CAPTURE(r);
			REQUIRE((r == 0 || r == -ENODATA || r == -ESRCH));
			seen_esrch += r == -ESRCH;
			clock_gettime(CLOCK_MONOTONIC, &now);
		} while (r != 0 && r != -ESRCH && now.tv_sec - t0.tv_sec < 2);
		pthread_join(th, NULL);
		p.events = POLLHUP;
		REQUIRE(poll(&p, 1, 10000) == 1);
		REQUIRE(pidfd_exit_status(fd, &ws) == 0);
		CHECK(WIFEXITED(ws));
		CHECK(WEXITSTATUS(ws) == 3);
		close(fd);
		rounds++;
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (rounds < 2000 && now.tv_sec - t0.tv_sec < 2);
	MESSAGE(rounds << " rounds, " << seen_esrch << " caught while being reaped");
}

TEST_CASE("proc: proc_descendants finds children and their children, and nothing else")
{
	static const char *const argv[] = {"sh", "-c", "sleep 30 & exec sleep 31", NULL};
	pid_t pid = start("/bin/sh", argv, (uid_t)-1);
	std::vector<pid_t> found;
	pid_t grandchild = 0;

	REQUIRE(pid > 0);
	/* sh forks the first sleep, then becomes the second. */
	for (int i = 0; i < 5000 && grandchild == 0; i++) {
		found = proc_descendants(getpid());
		for (pid_t p : found) {
			struct proc_stat st;
			if (p != pid && proc_read_stat(p, &st) == 0 && st.ppid == pid)
				grandchild = p;
		}
		if (grandchild == 0)
			usleep(2000);
	}
	REQUIRE(grandchild != 0);
	CHECK(found.size() == 2);
	CHECK(found[0] == pid);
	CHECK(proc_descendants(pid) == std::vector<pid_t>{grandchild});
	CHECK(proc_descendants(grandchild).empty());
	/* The fallback, for kernels without children files, agrees. */
	CHECK(proc_descendants_scan(getpid()) == found);
	CHECK(proc_descendants_scan(pid) == std::vector<pid_t>{grandchild});
	int fd = pidfd_open_pid(grandchild);
	REQUIRE(fd >= 0);
	CHECK(pidfd_signal(fd, SIGKILL) == 0);
	close(fd);
	CHECK(WTERMSIG(finish(pid)) == SIGKILL);
}
