/*
 * pidfile.cc: the pid file is written by another program, maybe another
 * user: read it as untrusted input (bounded, non-blocking, owner and mode
 * checked as systemd does for PIDFile=), and parse it strictly.
 */
#include "pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int
pidfile_parse(const char *buf, size_t len, long pid_max, pid_t *pid, const char **why)
{
	size_t start = 0, end = len;
	long long v = 0;

	if (memchr(buf, '\0', len) != NULL) {
		*why = "contains a NUL byte";
		return -EINVAL;
	}
	while (start < end && is_space(buf[start]))
		start++;
	while (end > start && is_space(buf[end - 1]))
		end--;
	if (start == end) {
		*why = "empty";
		return -EINVAL;
	}
	for (size_t i = start; i < end; i++) {
		if (buf[i] < '0' || buf[i] > '9') {
			*why = "not a decimal number";
			return -EINVAL;
		}
		v = v * 10 + (buf[i] - '0');
		if (v > pid_max) {
			*why = "out of range (greater than pid_max)";
			return -EINVAL;
		}
	}
	if (v < 1) {
		*why = "out of range (not positive)";
		return -EINVAL;
	}
	*pid = (pid_t)v;
	return 0;
}

long
pidfile_pid_max(void)
{
	static long cached;
	char buf[32];
	ssize_t n;
	int fd;

	if (cached > 0)
		return cached;
	cached = 4194304;  /* PID_MAX_LIMIT on 64-bit kernels */
	fd = open("/proc/sys/kernel/pid_max", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cached;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n > 0) {
		buf[n] = '\0';
		long v = strtol(buf, NULL, 10);
		if (v > 0)
			cached = v;
	}
	return cached;
}

static bool
owner_ok(uid_t uid, uid_t daemon_owner)
{
	return uid == 0 || uid == geteuid() || (daemon_owner != (uid_t)-1 && uid == daemon_owner);
}

static std::string
errno_text(const char *what, int err)
{
	std::string s(what);
	s.append(": ");
	s.append(strerror(err));
	return s;
}

/* The components of a path, in order ("" and "." dropped). */
static void
split_path(const std::string &path, std::vector<std::string> *parts)
{
	size_t i = 0;

	while (i <= path.size()) {
		size_t slash = path.find('/', i);
		if (slash == std::string::npos)
			slash = path.size();
		std::string part = path.substr(i, slash - i);
		if (!part.empty() && part != ".")
			parts->push_back(part);
		i = slash + 1;
	}
}

/* systemd's rule for PIDFile= (its chase()): a link that another user
 * owns could point us at any file.  Resolve the path one component at a
 * time, following each link, and check the owner of every link met. */
static int
check_links(const char *path, uid_t daemon_owner, std::string *why)
{
	std::vector<std::string> todo;
	std::string done = path[0] == '/' ? "" : ".";
	int links = 0;

	split_path(path, &todo);
	std::reverse(todo.begin(), todo.end());  /* a stack: next on top */
	while (!todo.empty()) {
		std::string part = todo.back();
		struct stat st;

		todo.pop_back();
		if (part == "..") {
			size_t slash = done.find_last_of('/');
			done = slash == std::string::npos ? std::string("..") :
			    done.substr(0, slash);
			continue;
		}
		std::string cand = done + "/" + part;
		if (lstat(cand.c_str(), &st) < 0)
			return 0;  /* open() will say what is wrong */
		if (!S_ISLNK(st.st_mode)) {
			done = cand;
			continue;
		}
		if (!owner_ok(st.st_uid, daemon_owner)) {
			char buf[512];
			snprintf(buf, sizeof buf,
			    "refused: reached through symbolic link %s owned by uid %u "
			    "(only links owned by root or uid %u are followed); "
			    "use the real path",
			    cand.c_str(), (unsigned)st.st_uid, (unsigned)geteuid());
			*why = buf;
			return -EPERM;
		}
		if (++links > 40) {
			*why = "cannot open: too many levels of symbolic links";
			return -ELOOP;
		}
		char target[4096];
		ssize_t n = readlink(cand.c_str(), target, sizeof target - 1);
		if (n < 0)
			return 0;
		target[n] = '\0';
		std::vector<std::string> more;
		split_path(target, &more);
		for (auto it = more.rbegin(); it != more.rend(); ++it)
			todo.push_back(*it);
		if (target[0] == '/')
			done = "";
	}
	return 0;
}

static const char *
file_type(mode_t m)
{
	if (S_ISFIFO(m)) return "a FIFO";
	if (S_ISCHR(m)) return "a character device";
	if (S_ISBLK(m)) return "a block device";
	if (S_ISSOCK(m)) return "a socket";
	return "not a regular file";
}

int
pidfile_read(const char *path, long pid_max, uid_t daemon_owner, pid_t *pid,
    std::string *why)
{
	char buf[PIDFILE_MAX + 1];
	struct stat st;
	const char *reason;
	ssize_t n;
	int fd, r;

	r = check_links(path, daemon_owner, why);
	if (r < 0)
		return r;
	/* Refuse a device or FIFO before opening it: opening some devices
	 * does something (a watchdog, a tape). */
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
		*why = std::string("refused: ") + file_type(st.st_mode) +
		    ", not a regular file";
		return -EPERM;
	}

	/* O_NONBLOCK: opening a FIFO for reading must not wait for a writer. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		*why = errno_text("cannot open", errno);
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		*why = errno_text("cannot stat", errno);
		close(fd);
		return r;
	}
	if (S_ISDIR(st.st_mode)) {
		*why = "cannot read: is a directory";
		close(fd);
		return -EISDIR;
	}
	if (!S_ISREG(st.st_mode)) {
		*why = std::string("refused: ") + file_type(st.st_mode) +
		    ", not a regular file";
		close(fd);
		return -EPERM;
	}
	if (!owner_ok(st.st_uid, daemon_owner)) {
		char msg[256];
		snprintf(msg, sizeof msg,
		    "refused: owned by uid %u, not by root or uid %u (the wrapper's); "
		    "chown it or write it as one of those",
		    (unsigned)st.st_uid, (unsigned)geteuid());
		*why = msg;
		close(fd);
		return -EPERM;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		char msg[256];
		snprintf(msg, sizeof msg,
		    "refused: group- or world-writable (mode %04o); chmod go-w it",
		    (unsigned)(st.st_mode & 07777));
		*why = msg;
		close(fd);
		return -EPERM;
	}
	if (st.st_size > PIDFILE_MAX) {
		char msg[64];
		snprintf(msg, sizeof msg, "too large (%lld bytes)", (long long)st.st_size);
		*why = msg;
		close(fd);
		return -EINVAL;
	}
	do
		n = read(fd, buf, sizeof buf);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		r = -errno;
		*why = errno_text("cannot read", errno);
		close(fd);
		return r;
	}
	close(fd);
	if (n > PIDFILE_MAX) {
		*why = "too large";
		return -EINVAL;
	}
	r = pidfile_parse(buf, (size_t)n, pid_max, pid, &reason);
	if (r < 0)
		*why = reason;
	return r;
}
