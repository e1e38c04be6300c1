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

/* The components of a path, in order ("" and "." dropped, except that a
 * path ending in "/" or "/." keeps a last ".": the kernel then requires
 * what comes before it to be a directory, path_resolution(7)). */
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
	if (!parts->empty() && (path.back() == '/' ||
	    (path.size() >= 2 && path.compare(path.size() - 2, 2, "/.") == 0)))
		parts->push_back(".");
}

/* The path of the directory above done (a path with no links in it, for
 * messages: the descriptors decide what is opened). */
static std::string
parent_of(const std::string &done)
{
	size_t slash = done.find_last_of('/');

	if (done.empty())
		return done;  /* the root's parent is the root */
	if (done == "." || done == ".." ||
	    (done.size() >= 3 && done.compare(done.size() - 3, 3, "/..") == 0))
		return done + "/..";
	return done.substr(0, slash);
}

/* fs.protected_symlinks (proc_sys_fs(5)), on unless it says 0. */
static bool
protected_symlinks(void)
{
	char c = '1';
	int fd = open("/proc/sys/fs/protected_symlinks", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (read(fd, &c, 1) != 1)
			c = '1';
		close(fd);
	}
	return c != '0';
}

/*
 * Resolve path to a descriptor of what it names, the way systemd's chase()
 * does for PIDFile=: one component at a time, each opened with O_PATH and
 * O_NOFOLLOW relative to the directory descriptor held before it, so that
 * every check is made on the very object the next step uses (fstat() on
 * the descriptor, never stat() on a path that another user can rename
 * meanwhile).  A symbolic link met on the way is followed by hand,
 * readlinkat() on the link's own descriptor, once its owner passed the
 * rule.  O_PATH opens nothing: no FIFO, device or file open runs (open(2)).
 * Returns 0 with *out (an O_PATH descriptor, not a link) and *st, or
 * -errno with *why.
 */
static int
resolve(const char *path, uid_t daemon_owner, int *out, struct stat *st,
    std::string *why)
{
	std::vector<std::string> todo, more;
	std::string done = path[0] == '/' ? "" : ".";
	char target[4096], buf[512];
	struct stat dir_st;
	int links = 0, cur = -1, next = -1, err = 0;
	ssize_t n;

	if (path[0] == '\0') {
		err = ENOENT;
		goto fail;
	}
	split_path(path, &todo);
	std::reverse(todo.begin(), todo.end());  /* a stack: next on top */
	cur = open(path[0] == '/' ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cur < 0) {
		err = errno;
		goto fail;
	}
	while (!todo.empty()) {
		std::string part = todo.back();
		bool last = todo.size() == 1;

		todo.pop_back();
		/* O_DIRECTORY where a directory must be: it also mounts an
		 * automount point, as a path walk would.  A link fails it with
		 * ENOTDIR and is opened again as itself. */
		next = openat(cur, part.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC |
		    (last ? 0 : O_DIRECTORY));
		if (next < 0 && errno == ENOTDIR && !last)
			next = openat(cur, part.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 || fstat(next, st) < 0) {
			err = errno;
			goto fail;
		}
		std::string cand = part == "." ? done : part == ".." ? parent_of(done) :
		    done + "/" + part;
		if (!S_ISLNK(st->st_mode)) {
			close(cur);
			cur = next;
			next = -1;
			done = cand;
			if (!last && !S_ISDIR(st->st_mode)) {
				err = ENOTDIR;
				goto fail;
			}
			continue;
		}
		/* systemd's rule for PIDFile=: a link that another user owns
		 * could point us at any file. */
		if (!owner_ok(st->st_uid, daemon_owner)) {
			snprintf(buf, sizeof buf,
			    "refused: reached through symbolic link %s owned by uid %u "
			    "(only links owned by root or uid %u are followed); "
			    "use the real path",
			    cand.c_str(), (unsigned)st->st_uid, (unsigned)geteuid());
			*why = buf;
			err = EPERM;
			goto out;
		}
		/* The kernel's own rule for links in a sticky world-writable
		 * directory such as /tmp (may_follow_link() in fs/namei.c),
		 * which following by hand would otherwise bypass. */
		if (st->st_uid != geteuid() && fstat(cur, &dir_st) == 0 &&
		    (dir_st.st_mode & (S_ISVTX | S_IWOTH)) == (S_ISVTX | S_IWOTH) &&
		    dir_st.st_uid != st->st_uid && protected_symlinks()) {
			err = EACCES;
			goto fail;
		}
		if (++links > 40) {
			*why = "cannot open: too many levels of symbolic links";
			err = ELOOP;
			goto out;
		}
		/* An empty name: the link that the O_PATH descriptor holds
		 * (readlinkat(2)), not whatever the name points at now. */
		n = readlinkat(next, "", target, sizeof target);
		if (n < 0 || n >= (ssize_t)sizeof target) {
			err = n < 0 ? errno : ENAMETOOLONG;
			goto fail;
		}
		close(next);
		next = -1;
		target[n] = '\0';
		more.clear();
		split_path(target, &more);
		for (auto it = more.rbegin(); it != more.rend(); ++it)
			todo.push_back(*it);
		if (target[0] == '/') {
			close(cur);
			cur = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (cur < 0) {
				err = errno;
				goto fail;
			}
			done = "";
		}
	}
	if (fstat(cur, st) < 0) {
		err = errno;
		goto fail;
	}
	*out = cur;
	return 0;
fail:
	*why = errno_text("cannot open", err);
out:
	if (next >= 0)
		close(next);
	if (cur >= 0)
		close(cur);
	return -err;
}

int
pidfile_trusted_dir(const char *dir, uid_t daemon_owner, int *fd, std::string *why)
{
	struct stat st;
	char buf[512];
	int r;

	r = resolve(dir, daemon_owner, fd, &st, why);
	if (r < 0)
		return r;
	if (!S_ISDIR(st.st_mode)) {
		*why = errno_text("cannot open", ENOTDIR);
		r = -ENOTDIR;
	} else if (!owner_ok(st.st_uid, daemon_owner)) {
		snprintf(buf, sizeof buf, "refused: directory %s is owned by uid %u "
		    "(only root or uid %u may own it)", dir, (unsigned)st.st_uid,
		    (unsigned)geteuid());
		*why = buf;
		r = -EPERM;
	} else if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(buf, sizeof buf, "refused: directory %s is writable by %s, who "
		    "could put another socket there; chmod go-w it", dir,
		    st.st_mode & S_IWOTH ? "others" : "its group");
		*why = buf;
		r = -EPERM;
	}
	if (r < 0) {
		close(*fd);
		*fd = -1;
	}
	return r;
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
    std::string *why, struct stat *seen)
{
	char buf[PIDFILE_MAX + 1], msg[256];
	char proc_path[64];
	struct stat st;
	const char *reason;
	ssize_t n;
	dev_t dev;
	ino_t ino;
	int fd = -1, opath = -1, r;

	r = resolve(path, daemon_owner, &opath, &st, why);
	if (r < 0)
		return r;
	/* Refuse a device or FIFO before opening it: opening a FIFO is seen
	 * by its writers, opening some devices does something (a watchdog, a
	 * tape).  st is the O_PATH descriptor's, so it is what gets opened. */
	if (S_ISDIR(st.st_mode)) {
		*why = "cannot read: is a directory";
		r = -EISDIR;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		*why = std::string("refused: ") + file_type(st.st_mode) +
		    ", not a regular file";
		r = -EPERM;
		goto out;
	}
	/* Open for reading the file that opath holds, not a name: the
	 * /proc/self/fd link reaches that very inode (proc_pid_fd(5)).
	 * O_NONBLOCK: no wait for the holder of a lease (fcntl(2)). */
	snprintf(proc_path, sizeof proc_path, "/proc/self/fd/%d", opath);
	fd = open(proc_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		*why = errno_text("cannot open", -r);
		if (r == -ENOENT) {
			/* Without /proc: not "no pid file", which would
			 * spawn a second daemon. */
			*why = "cannot open: /proc is not mounted (the pid file is "
			    "opened through /proc/self/fd)";
			r = -ENXIO;
		}
		goto out;
	}
	dev = st.st_dev;
	ino = st.st_ino;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		*why = errno_text("cannot stat", -r);
		goto out;
	}
	if (st.st_dev != dev || st.st_ino != ino || !S_ISREG(st.st_mode)) {
		/* Only a /proc that is not the kernel's could do that:
		 * refuse rather than trust it. */
		*why = "cannot open: /proc/self/fd reopened another file";
		r = -ENXIO;
		goto out;
	}
	if (!owner_ok(st.st_uid, daemon_owner)) {
		snprintf(msg, sizeof msg,
		    "refused: owned by uid %u, not by root or uid %u (the wrapper's); "
		    "chown it or write it as one of those",
		    (unsigned)st.st_uid, (unsigned)geteuid());
		*why = msg;
		r = -EPERM;
		goto out;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(msg, sizeof msg,
		    "refused: group- or world-writable (mode %04o); chmod go-w it",
		    (unsigned)(st.st_mode & 07777));
		*why = msg;
		r = -EPERM;
		goto out;
	}
	if (st.st_size > PIDFILE_MAX) {
		snprintf(msg, sizeof msg, "too large (%lld bytes)", (long long)st.st_size);
		*why = msg;
		r = -EINVAL;
		goto out;
	}
	do
		n = read(fd, buf, sizeof buf);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		r = -errno;
		*why = errno_text("cannot read", -r);
		goto out;
	}
	if (n > PIDFILE_MAX) {
		*why = "too large";
		r = -EINVAL;
		goto out;
	}
	if (seen != NULL)
		*seen = st;
	r = pidfile_parse(buf, (size_t)n, pid_max, pid, &reason);
	if (r < 0)
		*why = reason;
out:
	if (fd >= 0)
		close(fd);
	if (opath >= 0)
		close(opath);
	return r;
}
