/*
 * pidfile_test.cc: the pid file parser (a table, one line per input) and
 * the safe reader on real files, FIFOs, devices and links in a temporary
 * directory.  The tests run as root, so they can chown and lchown.
 */
#include <doctest/doctest.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "pidfile.h"

#define S(lit) lit, sizeof(lit) - 1

TEST_CASE("pidfile: parse, one line per input")
{
	static const struct {
		const char *text;
		size_t len;
		long pid_max;
		int r;
		pid_t pid;
		const char *why;
	} cases[] = {
		{S("123"), 4194304, 0, 123, NULL},
		{S("123\n"), 4194304, 0, 123, NULL},
		{S("  123 \n"), 4194304, 0, 123, NULL},
		{S("\t42\r\n"), 4194304, 0, 42, NULL},
		{S("\v\f7\n\n\n"), 4194304, 0, 7, NULL},
		{S("1"), 4194304, 0, 1, NULL},
		/* Leading zeros are decimal digits, not octal. */
		{S("00012"), 4194304, 0, 12, NULL},
		{S("010"), 4194304, 0, 10, NULL},
		{S("0000000000000000000000000000000000001"), 4194304, 0, 1, NULL},
		{S("4194304"), 4194304, 0, 4194304, NULL},
		{S("32768"), 32768, 0, 32768, NULL},

		{S(""), 4194304, -EINVAL, 0, "empty"},
		{S("\n"), 4194304, -EINVAL, 0, "empty"},
		{S(" \t\r\n\v\f"), 4194304, -EINVAL, 0, "empty"},
		{S("abc"), 4194304, -EINVAL, 0, "not a decimal number"},
		{S("12a"), 4194304, -EINVAL, 0, "not a decimal number"},
		{S("a12"), 4194304, -EINVAL, 0, "not a decimal number"},
		{S("-1"), 4194304, -EINVAL, 0, "not a decimal number"},
		{S("+1"), 4194304, -EINVAL, 0, "not a decimal number"},
		{S("1 2"), 4194304, -EINVAL, 0, "not a decimal number"},
		{S("1\n2\n"), 4194304, -EINVAL, 0, "not a decimal number"},
		{S("0x10"), 4194304, -EINVAL, 0, "not a decimal number"},
		{S("1e3"), 4194304, -EINVAL, 0, "not a decimal number"},
		{S("12.0"), 4194304, -EINVAL, 0, "not a decimal number"},
		{S("1_000"), 4194304, -EINVAL, 0, "not a decimal number"},
		{S("\xef\xbc\x91"), 4194304, -EINVAL, 0, "not a decimal number"},  /* fullwidth 1 */
		{S("\xc2\xa0" "123"), 4194304, -EINVAL, 0, "not a decimal number"},  /* NBSP */
		{S("\xff\xfe" "1"), 4194304, -EINVAL, 0, "not a decimal number"},
		{S("123\x80"), 4194304, -EINVAL, 0, "not a decimal number"},
		{S("1\0" "23"), 4194304, -EINVAL, 0, "contains a NUL byte"},
		{S("123\0"), 4194304, -EINVAL, 0, "contains a NUL byte"},
		{S("\0"), 4194304, -EINVAL, 0, "contains a NUL byte"},
		{S("0"), 4194304, -EINVAL, 0, "out of range (not positive)"},
		{S("000\n"), 4194304, -EINVAL, 0, "out of range (not positive)"},
		{S("4194305"), 4194304, -EINVAL, 0, "out of range (greater than pid_max)"},
		{S("32769"), 32768, -EINVAL, 0, "out of range (greater than pid_max)"},
		{S("2147483648"), 4194304, -EINVAL, 0, "out of range (greater than pid_max)"},
		{S("4294967297"), 4194304, -EINVAL, 0, "out of range (greater than pid_max)"},
		{S("18446744073709551617"), 4194304, -EINVAL, 0, "out of range (greater than pid_max)"},
		{S("999999999999999999999999999999999999999999999999999999"), 4194304, -EINVAL, 0,
		    "out of range (greater than pid_max)"},
	};
	for (const auto &c : cases) {
		std::string text(c.text, c.len);
		pid_t pid = -7;
		const char *why = "untouched";
		int r = pidfile_parse(c.text, c.len, c.pid_max, &pid, &why);

		CAPTURE(text);
		CHECK(r == c.r);
		if (c.r == 0) {
			CHECK(pid == c.pid);
			CHECK(std::string(why) == "untouched");
		} else {
			CHECK(pid == -7);
			CHECK(std::string(why) == c.why);
		}
	}
}

TEST_CASE("pidfile: parse reads no byte past len")
{
	const char *text = "1234567";
	pid_t pid = 0;
	const char *why;

	/* The caller's buffer is not NUL-terminated: only len counts. */
	CHECK(pidfile_parse(text, 3, 4194304, &pid, &why) == 0);
	CHECK(pid == 123);
	CHECK(pidfile_parse(text, 0, 4194304, &pid, &why) == -EINVAL);
	CHECK(std::string(why) == "empty");
}

TEST_CASE("pidfile: pid_max is the kernel's")
{
	char buf[32] = "";
	FILE *f = fopen("/proc/sys/kernel/pid_max", "r");

	REQUIRE(f != NULL);
	CHECK(fgets(buf, sizeof buf, f) != NULL);
	fclose(f);
	CHECK(pidfile_pid_max() == strtol(buf, NULL, 10));
	CHECK(pidfile_pid_max() == pidfile_pid_max());
}

static int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* Write text to dir/name with exactly this mode; returns the path. */
static std::string
put(const std::string &dir, const char *name, const std::string &text, mode_t mode)
{
	std::string path = dir + "/" + name;
	int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	REQUIRE(fd >= 0);
	CHECK(write(fd, text.data(), text.size()) == (ssize_t)text.size());
	CHECK(fchmod(fd, mode) == 0);
	close(fd);
	return path;
}

TEST_CASE("pidfile: read refuses what it cannot trust, reads the rest")
{
	char tmpl[] = "/tmp/pidsitter-pidfile-XXXXXX";
	const char *dir = mkdtemp(tmpl);
	long pm = 4194304;
	std::string why;
	pid_t pid;

	REQUIRE(dir != NULL);
	REQUIRE(geteuid() == 0);
	std::string d = dir;

	SUBCASE("good files") {
		pid = 0;
		CHECK(pidfile_read(put(d, "a", "123\n", 0644).c_str(), pm, (uid_t)-1, &pid, &why) == 0);
		CHECK(pid == 123);
		CHECK(pidfile_read(put(d, "b", "77", 0600).c_str(), pm, (uid_t)-1, &pid, &why) == 0);
		CHECK(pid == 77);
		CHECK(pidfile_read(put(d, "c", "9", 0444).c_str(), pm, (uid_t)-1, &pid, &why) == 0);
		CHECK(pid == 9);
		/* Exactly PIDFILE_MAX bytes is not too large. */
		std::string full = "4242" + std::string(PIDFILE_MAX - 5, ' ') + "\n";
		REQUIRE(full.size() == PIDFILE_MAX);
		CHECK(pidfile_read(put(d, "d", full, 0644).c_str(), pm, (uid_t)-1, &pid, &why) == 0);
		CHECK(pid == 4242);
		/* A relative path works too. */
		char cwd[4096];
		REQUIRE(getcwd(cwd, sizeof cwd) != NULL);
		REQUIRE(chdir(dir) == 0);
		CHECK(pidfile_read("a", pm, (uid_t)-1, &pid, &why) == 0);
		CHECK(pid == 123);
		REQUIRE(chdir(cwd) == 0);
	}
	SUBCASE("bad text") {
		CHECK(pidfile_read(put(d, "e", "", 0644).c_str(), pm, (uid_t)-1, &pid, &why) == -EINVAL);
		CHECK(why == "empty");
		CHECK(pidfile_read(put(d, "g", "12 3\n", 0644).c_str(), pm, (uid_t)-1, &pid, &why) ==
		    -EINVAL);
		CHECK(why == "not a decimal number");
		CHECK(pidfile_read(put(d, "h", "99999", 0644).c_str(), 32768, (uid_t)-1, &pid, &why) ==
		    -EINVAL);
		CHECK(why == "out of range (greater than pid_max)");
		std::string big = "1" + std::string(PIDFILE_MAX, ' ');
		CHECK(pidfile_read(put(d, "big", big, 0644).c_str(), pm, (uid_t)-1, &pid, &why) ==
		    -EINVAL);
		CHECK(why == "too large (65 bytes)");
		CHECK(pidfile_read(put(d, "huge", std::string(100000, '1'), 0644).c_str(), pm,
		    (uid_t)-1, &pid, &why) == -EINVAL);
		CHECK(why.find("too large") == 0);
	}
	SUBCASE("missing, not a file, a directory") {
		CHECK(pidfile_read((d + "/none").c_str(), pm, (uid_t)-1, &pid, &why) == -ENOENT);
		CHECK(pidfile_read((d + "/none/x").c_str(), pm, (uid_t)-1, &pid, &why) == -ENOENT);
		CHECK(pidfile_read(dir, pm, (uid_t)-1, &pid, &why) == -EISDIR);
		CHECK(why.find("directory") != std::string::npos);
		std::string f = put(d, "f", "1\n", 0644);
		CHECK(pidfile_read((f + "/x").c_str(), pm, (uid_t)-1, &pid, &why) == -ENOTDIR);
		CHECK(pidfile_read("/dev/null", pm, (uid_t)-1, &pid, &why) == -EPERM);
		CHECK(why.find("character device") != std::string::npos);
	}
	SUBCASE("a FIFO is refused without waiting for a writer") {
		std::string fifo = d + "/fifo";
		REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
		/* In a child, so that a reader that blocks shows as a failure
		 * after the deadline instead of hanging the suite. */
		pid_t child = fork();
		REQUIRE(child >= 0);
		if (child == 0) {
			pid_t p;
			std::string w;
			_exit(pidfile_read(fifo.c_str(), pm, (uid_t)-1, &p, &w) == -EPERM &&
			    w.find("FIFO") != std::string::npos ? 0 : 1);
		}
		int pfd = (int)syscall(SYS_pidfd_open, child, 0);
		REQUIRE(pfd >= 0);
		struct pollfd p = {pfd, POLLIN, 0};
		int ready = poll(&p, 1, 10000);
		CHECK(ready == 1);
		if (ready != 1)
			kill(child, SIGKILL);
		int status = -1;
		CHECK(waitpid(child, &status, 0) == child);
		CHECK(WIFEXITED(status));
		CHECK(WEXITSTATUS(status) == 0);
		close(pfd);
	}
	SUBCASE("group- or world-writable") {
		CHECK(pidfile_read(put(d, "gw", "1\n", 0664).c_str(), pm, (uid_t)-1, &pid, &why) ==
		    -EPERM);
		CHECK(why.find("chmod go-w") != std::string::npos);
		CHECK(why.find("0664") != std::string::npos);
		CHECK(pidfile_read(put(d, "ow", "1\n", 0646).c_str(), pm, (uid_t)-1, &pid, &why) ==
		    -EPERM);
		CHECK(why.find("chmod") != std::string::npos);
		CHECK(pidfile_read(put(d, "gwo", "1\n", 0620).c_str(), pm, (uid_t)-1, &pid, &why) ==
		    -EPERM);
		CHECK(pidfile_read(put(d, "all", "1\n", 0666).c_str(), pm, 12345, &pid, &why) == -EPERM);
	}
	SUBCASE("owned by another user") {
		std::string f = put(d, "other", "55\n", 0644);
		REQUIRE(chown(f.c_str(), 12345, 12345) == 0);
		CHECK(pidfile_read(f.c_str(), pm, (uid_t)-1, &pid, &why) == -EPERM);
		CHECK(why.find("uid 12345") != std::string::npos);
		CHECK(why.find("chown") != std::string::npos);
		CHECK(pidfile_read(f.c_str(), pm, 54321, &pid, &why) == -EPERM);
		pid = 0;
		CHECK(pidfile_read(f.c_str(), pm, 12345, &pid, &why) == 0);
		CHECK(pid == 55);
	}
	SUBCASE("symbolic links") {
		std::string f = put(d, "real", "66\n", 0644);
		std::string link = d + "/link";
		REQUIRE(symlink(f.c_str(), link.c_str()) == 0);
		pid = 0;
		CHECK(pidfile_read(link.c_str(), pm, (uid_t)-1, &pid, &why) == 0);
		CHECK(pid == 66);

		/* A link another user owns could point anywhere. */
		REQUIRE(lchown(link.c_str(), 12345, 12345) == 0);
		CHECK(pidfile_read(link.c_str(), pm, (uid_t)-1, &pid, &why) == -EPERM);
		CHECK(why.find(link) != std::string::npos);
		CHECK(why.find("uid 12345") != std::string::npos);
		pid = 0;
		CHECK(pidfile_read(link.c_str(), pm, 12345, &pid, &why) == 0);
		CHECK(pid == 66);

		/* A directory link on the way counts as much as the last one. */
		REQUIRE(mkdir((d + "/sub").c_str(), 0755) == 0);
		put(d, "sub/pid", "67\n", 0644);
		std::string dlink = d + "/dlink";
		REQUIRE(symlink("sub", dlink.c_str()) == 0);
		CHECK(pidfile_read((dlink + "/pid").c_str(), pm, (uid_t)-1, &pid, &why) == 0);
		CHECK(pid == 67);
		REQUIRE(lchown(dlink.c_str(), 12345, 12345) == 0);
		CHECK(pidfile_read((dlink + "/pid").c_str(), pm, (uid_t)-1, &pid, &why) == -EPERM);
		CHECK(why.find(dlink) != std::string::npos);

		/* A root-owned link to a stranger's file: the file decides. */
		std::string other = put(d, "other", "68\n", 0644);
		REQUIRE(chown(other.c_str(), 12345, 12345) == 0);
		std::string olink = d + "/olink";
		REQUIRE(symlink(other.c_str(), olink.c_str()) == 0);
		CHECK(pidfile_read(olink.c_str(), pm, (uid_t)-1, &pid, &why) == -EPERM);
		CHECK(why.find("owned by uid 12345") != std::string::npos);

		/* "every symbolic link on the way" (pidfile.h) includes the
		 * links a link leads through: root's link to a stranger's link
		 * is the stranger's choice of file. */
		std::string evil = d + "/evil";
		REQUIRE(symlink(f.c_str(), evil.c_str()) == 0);
		REQUIRE(lchown(evil.c_str(), 12345, 12345) == 0);
		std::string chain = d + "/chain";
		REQUIRE(symlink("evil", chain.c_str()) == 0);
		CHECK(pidfile_read(chain.c_str(), pm, (uid_t)-1, &pid, &why) == -EPERM);
		CHECK(why.find(evil) != std::string::npos);

		/* Links followed by hand go where the kernel's path walk
		 * would: an absolute link in the middle, "..", a link to a
		 * parent, a trailing slash. */
		std::string abs = d + "/abs";
		REQUIRE(symlink((d + "/sub").c_str(), abs.c_str()) == 0);
		pid = 0;
		CHECK(pidfile_read((abs + "/pid").c_str(), pm, (uid_t)-1, &pid, &why) == 0);
		CHECK(pid == 67);
		REQUIRE(lchown(dlink.c_str(), 0, 0) == 0);
		pid = 0;
		CHECK(pidfile_read((dlink + "/../real").c_str(), pm, (uid_t)-1, &pid, &why) == 0);
		CHECK(pid == 66);
		REQUIRE(symlink("..", (d + "/sub/up").c_str()) == 0);
		pid = 0;
		CHECK(pidfile_read((d + "/sub/up/sub/up/real").c_str(), pm, (uid_t)-1, &pid, &why) == 0);
		CHECK(pid == 66);
		pid = 0;
		CHECK(pidfile_read((d + "/sub/./pid").c_str(), pm, (uid_t)-1, &pid, &why) == 0);
		CHECK(pid == 67);
		CHECK(pidfile_read((f + "/").c_str(), pm, (uid_t)-1, &pid, &why) == -ENOTDIR);
		REQUIRE(lchown(link.c_str(), 0, 0) == 0);
		CHECK(pidfile_read((link + "/").c_str(), pm, (uid_t)-1, &pid, &why) == -ENOTDIR);
		CHECK(pidfile_read((d + "/sub/").c_str(), pm, (uid_t)-1, &pid, &why) == -EISDIR);
		CHECK(pidfile_read((d + "/sub/.").c_str(), pm, (uid_t)-1, &pid, &why) == -EISDIR);
		CHECK(pidfile_read("/", pm, (uid_t)-1, &pid, &why) == -EISDIR);
		CHECK(pidfile_read("", pm, (uid_t)-1, &pid, &why) == -ENOENT);
		REQUIRE(symlink("/", (d + "/root").c_str()) == 0);
		CHECK(pidfile_read((d + "/root").c_str(), pm, (uid_t)-1, &pid, &why) == -EISDIR);
		pid = 0;
		CHECK(pidfile_read((d + "/root" + f).c_str(), pm, (uid_t)-1, &pid, &why) == 0);
		CHECK(pid == 66);

		/* In a sticky world-writable directory (/tmp), the kernel
		 * follows another user's link only as fs.protected_symlinks
		 * allows (proc_sys_fs(5)): following links by hand keeps that
		 * rule, whatever the sysctl says. */
		std::string sticky = d + "/sticky";
		REQUIRE(mkdir(sticky.c_str(), 0755) == 0);
		REQUIRE(chmod(sticky.c_str(), 01777) == 0);
		std::string slink = sticky + "/pid";
		REQUIRE(symlink(f.c_str(), slink.c_str()) == 0);
		REQUIRE(lchown(slink.c_str(), 12345, 12345) == 0);
		int kfd = open(slink.c_str(), O_RDONLY | O_CLOEXEC);
		int kernel = kfd >= 0 ? 0 : -errno;
		if (kfd >= 0)
			close(kfd);
		CAPTURE(kernel);
		CHECK((kernel == 0 || kernel == -EACCES));
		pid = 0;
		CHECK(pidfile_read(slink.c_str(), pm, 12345, &pid, &why) == kernel);
		if (kernel == 0)
			CHECK(pid == 66);

		/* Dangling and looping links. */
		std::string dangling = d + "/dangling";
		REQUIRE(symlink("nowhere", dangling.c_str()) == 0);
		CHECK(pidfile_read(dangling.c_str(), pm, (uid_t)-1, &pid, &why) == -ENOENT);
		std::string loop = d + "/loop";
		REQUIRE(symlink("loop", loop.c_str()) == 0);
		CHECK(pidfile_read(loop.c_str(), pm, (uid_t)-1, &pid, &why) == -ELOOP);
	}

	CHECK(nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS) == 0);
	CHECK(access(dir, F_OK) < 0);
}

/* The IN_OPEN events inotify fd in holds now (it is non-blocking). */
static int
opens_seen(int in)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int opens = 0;
	ssize_t n;

	while ((n = read(in, buf, sizeof buf)) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			if (ev->mask & IN_OPEN)
				opens++;
			p += sizeof *ev + ev->len;
		}
	}
	return opens;
}

/*
 * "A FIFO, a socket or a device is refused before it is opened" (pidsitter(8),
 * SECURITY CONSIDERATIONS): opening a FIFO is seen by its writers, opening
 * a device runs its driver.  inotify reports every open of the inode
 * (IN_OPEN; the kernel sends none for O_PATH descriptors, which open
 * nothing), so it tells whether the reader opened them.
 */
TEST_CASE("pidfile: a FIFO, a device, and links to them are refused without being opened")
{
	char tmpl[] = "/tmp/pidsitter-pidfile-XXXXXX";
	const char *dir = mkdtemp(tmpl);
	long pm = 4194304;
	std::string why;
	pid_t pid;

	REQUIRE(dir != NULL);
	REQUIRE(geteuid() == 0);
	std::string d = dir;
	std::string fifo = d + "/fifo", dev = d + "/null";
	REQUIRE(mkfifo(fifo.c_str(), 0644) == 0);
	REQUIRE(mknod(dev.c_str(), S_IFCHR | 0644, makedev(1, 3)) == 0);
	REQUIRE(symlink("fifo", (d + "/to-fifo").c_str()) == 0);
	REQUIRE(symlink(dev.c_str(), (d + "/to-dev").c_str()) == 0);
	REQUIRE(mkdir((d + "/sub").c_str(), 0755) == 0);
	REQUIRE(symlink("../to-fifo", (d + "/sub/chain").c_str()) == 0);
	REQUIRE(symlink("sub", (d + "/dlink").c_str()) == 0);
	int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	REQUIRE(in >= 0);
	REQUIRE(inotify_add_watch(in, fifo.c_str(), IN_OPEN) >= 0);
	REQUIRE(inotify_add_watch(in, dev.c_str(), IN_OPEN) >= 0);

	const struct {
		const char *name;
		const char *type;
	} cases[] = {
		{"fifo", "refused: a FIFO, not a regular file"},
		{"to-fifo", "refused: a FIFO, not a regular file"},
		{"dlink/chain", "refused: a FIFO, not a regular file"},
		{"null", "refused: a character device, not a regular file"},
		{"to-dev", "refused: a character device, not a regular file"},
	};
	for (const auto &c : cases) {
		std::string path = d + "/" + c.name;
		CAPTURE(path);
		CHECK(pidfile_read(path.c_str(), pm, (uid_t)-1, &pid, &why) == -EPERM);
		CHECK(why == c.type);
		CHECK(opens_seen(in) == 0);
	}

	/* The probe works: an open of either is seen. */
	int fd = open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	REQUIRE(fd >= 0);
	close(fd);
	fd = open(dev.c_str(), O_RDONLY | O_CLOEXEC);
	REQUIRE(fd >= 0);
	close(fd);
	CHECK(opens_seen(in) == 2);

	close(in);
	CHECK(nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS) == 0);
}

/*
 * The attack on a reader that checks a path and then opens it: whoever can
 * write the pid file's directory flips the name between a good pid file
 * and a link to a FIFO (rename() replaces a name at once), hoping that
 * the check sees the file and the open the FIFO.  The reader must open
 * only what it checked, so the FIFO is never opened, however the reads
 * and the flips interleave.
 */
TEST_CASE("pidfile: a name flipped between a file and a link to a FIFO never gets the FIFO opened")
{
	char tmpl[] = "/tmp/pidsitter-pidfile-XXXXXX";
	const char *dir = mkdtemp(tmpl);
	long pm = 4194304;

	REQUIRE(dir != NULL);
	REQUIRE(geteuid() == 0);
	std::string d = dir;
	std::string fifo = d + "/fifo", name = d + "/gitaly.pid", other = d + "/other";
	/* As the attacker (the daemon's user, the configured owner) would
	 * make them: every rule but the file type is met. */
	REQUIRE(mkfifo(fifo.c_str(), 0644) == 0);
	put(d, "gitaly.pid", "123\n", 0644);
	REQUIRE(symlink(fifo.c_str(), other.c_str()) == 0);
	REQUIRE(lchown(name.c_str(), 12345, 12345) == 0);
	REQUIRE(lchown(other.c_str(), 12345, 12345) == 0);
	REQUIRE(lchown(fifo.c_str(), 12345, 12345) == 0);
	int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	REQUIRE(in >= 0);
	REQUIRE(inotify_add_watch(in, fifo.c_str(), IN_OPEN) >= 0);

	/* A bounded run: two seconds of reads, or less once the FIFO was
	 * opened.  The flipper stops at the deadline by itself: a thread
	 * that never blocks can keep the other from running for as long as
	 * it goes on (valgrind runs one thread at a time, and its default
	 * lock is not fair, valgrind(1) --fair-sched), so the reader's own
	 * check of the clock is not enough to end the test. */
	long long end = 0;
	{
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		end = ts.tv_sec * 1000LL + ts.tv_nsec / 1000000 + 2000;
	}
	std::atomic<bool> stop(false);
	std::atomic<long> flips(0);
	std::thread flipper([&] {
		/* RENAME_EXCHANGE: the two names swap at once, so the pid
		 * file's name is always there, a file or the link. */
		while (!stop.load()) {
			if (renameat2(AT_FDCWD, name.c_str(), AT_FDCWD, other.c_str(),
			    RENAME_EXCHANGE) == 0)
				flips++;
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			if (ts.tv_sec * 1000LL + ts.tv_nsec / 1000000 >= end)
				break;
		}
	});
	long reads = 0, good = 0, refused = 0, other_result = 0;
	int opens = 0;
	for (;;) {
		std::string why;
		pid_t pid = 0;
		int r = pidfile_read(name.c_str(), pm, 12345, &pid, &why);
		reads++;
		if (r == 0 && pid == 123)
			good++;
		else if (r == -EPERM && why == "refused: a FIFO, not a regular file")
			refused++;
		else
			other_result++;
		if (reads % 64 == 0) {
			opens += opens_seen(in);
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			if (opens > 0 || ts.tv_sec * 1000LL + ts.tv_nsec / 1000000 >= end)
				break;
		}
	}
	stop = true;
	flipper.join();
	opens += opens_seen(in);
	CAPTURE(reads);
	CAPTURE(flips.load());
	CAPTURE(good);
	CAPTURE(refused);
	CHECK(opens == 0);
	CHECK(other_result == 0);

	close(in);
	CHECK(nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS) == 0);
}
