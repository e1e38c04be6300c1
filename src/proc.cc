/*
 * proc.cc: /proc parsing and pidfds.
 */
#include "proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <utility>

#include "settings.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
/* include/linux/sched.h: set in do_exit(), before the task is a zombie. */
#define PF_EXITING_FLAG 0x00000004ULL
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

/* PIDFD_GET_INFO (Linux 6.13) with PIDFD_INFO_EXIT (6.15) is newer than
 * Debian 12's headers: the ABI, from include/uapi/linux/pidfd.h. */
struct pidsitter_pidfd_info {
	uint64_t mask;
	uint64_t cgroupid;
	uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
	int32_t exit_code;
	uint32_t coredump_mask;
	uint32_t spare1;
};
#define PIDSITTER_PIDFS_IOCTL_MAGIC 0xFF
#define PIDSITTER_PIDFD_GET_INFO \
	_IOWR(PIDSITTER_PIDFS_IOCTL_MAGIC, 11, struct pidsitter_pidfd_info)
#define PIDSITTER_PIDFD_INFO_EXIT (1ULL << 3)

/* Read a small /proc file whole. */
static int
read_small(const char *path, char *buf, size_t size, size_t *len)
{
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int r = -errno;
			close(fd);
			return r;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	*len = got;
	return 0;
}

/* /proc/PID/NAME, whole (up to size bytes). */
static int
read_proc(pid_t pid, const char *name, char *buf, size_t size, size_t *len)
{
	char path[64];

	snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
	return read_small(path, buf, size, len);
}

/* A decimal field of stat text that ends at a space, a newline or end;
 * the text is not NUL-terminated, so no strtoull. */
static int
parse_field(const char *p, const char *end, unsigned long long *v)
{
	unsigned long long n = 0;
	const char *start = p;

	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (n > (~0ULL - d) / 10)
			return -EINVAL;
		n = n * 10 + d;
	}
	if (p == start || (p < end && *p != ' ' && *p != '\n'))
		return -EINVAL;
	*v = n;
	return 0;
}

int
proc_stat_parse(const char *buf, size_t len, struct proc_stat *st)
{
	const char *p = NULL, *end = buf + len;
	int field;

	/* The last ')' ends comm, whatever comm contains. */
	for (const char *q = buf; q < end; q++)
		if (*q == ')')
			p = q;
	if (p == NULL || p + 2 >= end || p[1] != ' ')
		return -EINVAL;
	p += 2;  /* at field 3, the state */
	st->state = *p;
	field = 3;
	while (p < end && field < 22) {
		const char *sp = (const char *)memchr(p, ' ', (size_t)(end - p));
		if (sp == NULL)
			return -EINVAL;
		p = sp + 1;
		field++;
		if (field == 4 || field == 9 || field == 22) {
			unsigned long long v;

			if (parse_field(p, end, &v) < 0)
				return -EINVAL;
			if (field == 4)
				st->ppid = (pid_t)v;
			else if (field == 9)
				st->flags = v;
			else
				st->start_time = v;
		}
	}
	return field == 22 ? 0 : -EINVAL;
}

int
proc_read_stat(pid_t pid, struct proc_stat *st)
{
	char buf[1024];
	size_t len;
	int r;

	r = read_proc(pid, "stat", buf, sizeof buf, &len);
	if (r < 0)
		return r;
	return proc_stat_parse(buf, len, st);
}

int
proc_read_comm(pid_t pid, std::string *comm)
{
	char buf[64];
	size_t len;
	int r;

	r = read_proc(pid, "comm", buf, sizeof buf, &len);
	if (r < 0)
		return r;
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	comm->assign(buf, len);
	return 0;
}

std::string
path_basename(const std::string &path)
{
	size_t slash = path.find_last_of('/');
	return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string
exe_strip_deleted(const std::string &exe)
{
	static const char suffix[] = " (deleted)";
	size_t n = sizeof suffix - 1;

	if (exe.size() > n && exe.compare(exe.size() - n, n, suffix) == 0)
		return exe.substr(0, exe.size() - n);
	return exe;
}

int
proc_read_exe(pid_t pid, std::string *exe)
{
	char path[64], buf[4096];
	ssize_t n;

	snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
	n = readlink(path, buf, sizeof buf - 1);
	if (n < 0)
		return -errno;
	*exe = path_basename(exe_strip_deleted(std::string(buf, (size_t)n)));
	return 0;
}

int
proc_read_program(pid_t pid, struct proc_program *prog)
{
	char path[64], buf[4096];
	struct stat st;
	ssize_t n;

	prog->known = false;
	snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
	n = readlink(path, buf, sizeof buf - 1);
	if (n < 0)
		return -errno;
	if (stat(path, &st) < 0)
		return -errno;
	int r = proc_read_comm(pid, &prog->comm);
	if (r < 0)
		return r;
	prog->dev = st.st_dev;
	prog->ino = st.st_ino;
	prog->path = exe_strip_deleted(std::string(buf, (size_t)n));
	prog->known = true;
	return 0;
}

bool
program_same(const struct proc_program *a, const struct proc_program *b)
{
	if (!a->known || !b->known || a->comm != b->comm)
		return false;
	return (a->dev == b->dev && a->ino == b->ino) || a->path == b->path;
}

int
proc_read_argv0(pid_t pid, std::string *argv0)
{
	char buf[4096];
	size_t len;
	int r;

	r = read_proc(pid, "cmdline", buf, sizeof buf - 1, &len);
	if (r < 0)
		return r;
	buf[len] = '\0';
	*argv0 = path_basename(buf);
	return 0;
}

/* A hex signal mask line of /proc/PID/status ("SigPnd:\t0000...100"). */
static bool
mask_has(const char *status, const char *key, int sig)
{
	const char *p = strstr(status, key);
	unsigned long long mask;

	if (p == NULL || sscanf(p + strlen(key), "%llx", &mask) != 1)
		return false;
	return (mask >> (sig - 1)) & 1;
}

int
proc_read_uid(pid_t pid, uid_t *uid)
{
	char buf[4096];
	size_t len;
	const char *p;
	int r;

	r = read_proc(pid, "status", buf, sizeof buf - 1, &len);
	if (r < 0)
		return r;
	buf[len] = '\0';
	p = strstr(buf, "\nUid:");
	if (p == NULL)
		return -EINVAL;
	unsigned long real, eff;
	if (sscanf(p + 5, "%lu %lu", &real, &eff) != 2)
		return -EINVAL;
	*uid = (uid_t)eff;
	return 0;
}

bool
proc_sigkill_pending(pid_t pid)
{
	char buf[4096];
	size_t len;

	if (read_proc(pid, "status", buf, sizeof buf - 1, &len) < 0)
		return false;
	buf[len] = '\0';
	return mask_has(buf, "\nShdPnd:", SIGKILL) || mask_has(buf, "\nSigPnd:", SIGKILL);
}

int
proc_ignored_signals(unsigned long long *mask)
{
	char buf[4096];
	const char *p;
	size_t len;
	int r;

	if ((r = read_small("/proc/self/status", buf, sizeof buf - 1, &len)) < 0)
		return r;
	buf[len] = '\0';
	p = strstr(buf, "\nSigIgn:");
	if (p == NULL || sscanf(p + strlen("\nSigIgn:"), "%llx", mask) != 1)
		return -EINVAL;
	return 0;
}

bool
comm_matches(const std::string &comm, const std::string &name)
{
	/* TASK_COMM_LEN is 16 with the NUL: the kernel keeps 15 bytes. */
	return comm == name.substr(0, 15);
}

int
pidfd_open_pid(pid_t pid)
{
	long r = syscall(SYS_pidfd_open, pid, 0);
	if (r < 0)
		return -errno;
	int fd = (int)r;
	/* pidfd_open sets O_CLOEXEC itself; the daemon must not inherit it. */
	return fd;
}

int
pidfd_signal(int pidfd, int sig)
{
	if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
		return -errno;
	return 0;
}

int
pidfd_exit_status(int pidfd, int *wstatus)
{
	struct pidsitter_pidfd_info info;

	memset(&info, 0, sizeof info);
	info.mask = PIDSITTER_PIDFD_INFO_EXIT;
	/* ESRCH: the exit information is read before the task is looked
	 * up, and a task caught in release_task() between the two has no
	 * pid any more (pidfd_info() in the kernel's fs/pidfs.c); or a
	 * kernel without exit information (6.13, 6.14) after the reap. */
	if (ioctl(pidfd, PIDSITTER_PIDFD_GET_INFO, &info) < 0)
		return -errno;
	if (!(info.mask & PIDSITTER_PIDFD_INFO_EXIT))
		return -ENODATA;
	*wstatus = info.exit_code;
	return 0;
}

bool
pidfd_born_before(int a, int b)
{
	struct stat sa, sb;

	if (a < 0 || b < 0 || fstat(a, &sa) < 0 || fstat(b, &sb) < 0)
		return false;
	return sa.st_ino < sb.st_ino;
}

/* Every process in /proc with its stat (those that vanish while read are
 * left out). */
static std::vector<std::pair<pid_t, struct proc_stat>>
scan_proc(void)
{
	std::vector<std::pair<pid_t, struct proc_stat>> out;
	struct dirent *e;
	DIR *d = opendir("/proc");

	if (d == NULL)
		return out;
	while ((e = readdir(d)) != NULL) {
		struct proc_stat st;
		char *end;
		long pid = strtol(e->d_name, &end, 10);

		if (*end == '\0' && pid > 0 && proc_read_stat((pid_t)pid, &st) == 0)
			out.push_back({(pid_t)pid, st});
	}
	closedir(d);
	return out;
}

std::vector<pid_t>
proc_children(pid_t ppid, bool zombies)
{
	std::vector<pid_t> out;

	/* Our own children: with none at all (the common case, and every
	 * time the spawned daemon simply exits), waitid says ECHILD and the
	 * scan of every process in /proc is saved. */
	if (ppid == getpid()) {
		siginfo_t si;
		memset(&si, 0, sizeof si);
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD)
			return out;
	}
	for (const auto &p : scan_proc()) {
		bool dead = p.second.state == 'Z' || p.second.state == 'X';
		if (p.second.ppid == ppid && dead == zombies)
			out.push_back(p.first);
	}
	return out;
}

/* Append the pids a /proc/.../children file lists ("12 34 "). */
static int
read_children_file(const char *path, std::vector<pid_t> *out)
{
	char buf[4096];
	long v = 0;
	bool in = false;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] >= '0' && buf[i] <= '9') {
				v = v * 10 + (buf[i] - '0');
				in = true;
			} else if (in) {
				out->push_back((pid_t)v);
				v = 0;
				in = false;
			}
		}
	}
	if (in)
		out->push_back((pid_t)v);
	close(fd);
	return 0;
}

/* The children of pid, from each of its threads' children file
 * (Documentation/filesystems/proc.rst): a child belongs to the thread
 * that forked it.  -ENOENT: the kernel has no such files. */
static int
children_by_task(pid_t pid, std::vector<pid_t> *out)
{
	char path[96];
	struct dirent *e;
	DIR *d;
	bool any = false;

	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	if ((d = opendir(path)) == NULL)
		return -errno;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/%d/task/%.16s/children", (int)pid, e->d_name);
		if (read_children_file(path, out) == 0)
			any = true;
	}
	closedir(d);
	/* None could be read: gone meanwhile, or no CONFIG_PROC_CHILDREN. */
	return any ? 0 : -ENOENT;
}

std::vector<pid_t>
proc_descendants_scan(pid_t root)
{
	std::vector<std::pair<pid_t, struct proc_stat>> all = scan_proc();
	std::vector<pid_t> out, parents = {root};

	/* Bounded: a torn scan could hold a loop. */
	for (size_t i = 0; i < parents.size() && parents.size() < 65536; i++)
		for (const auto &pp : all)
			if (pp.second.ppid == parents[i]) {
				out.push_back(pp.first);
				parents.push_back(pp.first);
			}
	return out;
}

std::vector<pid_t>
proc_descendants(pid_t root)
{
	static int have_children = -1;
	std::vector<pid_t> out;

	/* No child at all (the usual exit): nothing to read. */
	if (root == getpid()) {
		siginfo_t si;
		memset(&si, 0, sizeof si);
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD)
			return out;
	}
	if (have_children < 0)
		have_children = access("/proc/thread-self/children", R_OK) == 0;
	if (have_children) {
		/* Breadth first; out grows as it is walked. */
		std::vector<pid_t> kids;
		if (children_by_task(root, &kids) < 0)
			return out;
		out = kids;
		for (size_t i = 0; i < out.size() && out.size() < 65536; i++) {
			kids.clear();
			if (children_by_task(out[i], &kids) == 0)
				out.insert(out.end(), kids.begin(), kids.end());
		}
		return out;
	}
	return proc_descendants_scan(root);
}

bool
proc_is_ancestor(pid_t pid)
{
	pid_t p = getpid();

	if (pid == 1)
		return true;
	/* A chain longer than this is a loop in a torn read; stop. */
	for (int depth = 0; depth < 256 && p > 0; depth++) {
		struct proc_stat st;

		if (p == pid)
			return true;
		if (p == 1 || proc_read_stat(p, &st) < 0)
			break;
		p = st.ppid;
	}
	return false;
}

static bool
name_matches(const struct match_rules *rules, const std::string &value, bool is_comm)
{
	for (const std::string &name : rules->names) {
		if (is_comm ? comm_matches(value, name) : value == name)
			return true;
	}
	return false;
}

/* Does the owner rule allow a process of uid? */
static bool
owner_ok(const struct match_rules *rules, uid_t uid)
{
	uid_t want = rules->owner == (uid_t)-1 ? geteuid() : rules->owner;

	return rules->owner_any || uid == want;
}

int
proc_identify(pid_t pid, const struct match_rules *rules, struct identity *id,
    std::string *why)
{
	struct proc_stat st;
	std::string argv0;
	int fd, r, res = ID_DEAD;

	id->pid = pid;
	id->pidfd = -1;
	id->matched.clear();
	if (pid == getpid()) {
		*why = "it is the wrapper itself";
		return ID_REFUSED;
	}
	if (pid == 1) {
		*why = "it is pid 1";
		return ID_REFUSED;
	}

	/* The pidfd first: whatever we learn below is about this process, as
	 * long as it is not reaped before we have finished (checked last). */
	fd = pidfd_open_pid(pid);
	if (fd == -ESRCH) {
		*why = "no such process";
		return ID_DEAD;
	}
	if (fd < 0 && fd != -ENOSYS) {
		*why = std::string("pidfd_open: ") + strerror(-fd);
		return ID_ERROR;
	}
	r = proc_read_stat(pid, &st);
	if (r < 0) {
		*why = "no such process";
		goto out;
	}
	/* kill(pid, 0) says a zombie is alive; it is not: it has exited and
	 * waits only to be reaped (proc(5), state Z). */
	if (st.state == 'Z' || st.state == 'X') {
		*why = "it is a zombie (exited, not yet reaped)";
		goto out;
	}
	/* Nor is a process already in exit(): adopting it would report its
	 * death as the daemon's. */
	if (st.flags & PF_EXITING_FLAG) {
		*why = "it is exiting";
		goto out;
	}
	if (proc_is_ancestor(pid)) {
		*why = "it is an ancestor of the wrapper";
		res = ID_REFUSED;
		goto out;
	}
	if (proc_read_uid(pid, &id->uid) < 0) {
		*why = "no such process";
		goto out;
	}
	/* tableflip SIGKILLs a successor that is not ready when the old
	 * process stops: with the kill on its way it is as good as dead. */
	if (proc_sigkill_pending(pid)) {
		*why = "it is being killed (SIGKILL pending)";
		goto out;
	}
	id->comm.clear();
	id->exe.clear();
	(void)proc_read_comm(pid, &id->comm);
	/* exe is unreadable for another user's process unless we are root. */
	if (proc_read_program(pid, &id->program) == 0)
		id->exe = path_basename(id->program.path);
	if ((rules->facts & MATCH_COMM) && name_matches(rules, id->comm, true))
		id->matched = "comm";
	else if ((rules->facts & MATCH_EXE) && !id->exe.empty() &&
	    name_matches(rules, id->exe, false))
		id->matched = "exe";
	else if ((rules->facts & MATCH_ARGV0) && proc_read_argv0(pid, &argv0) == 0 &&
	    name_matches(rules, argv0, false))
		id->matched = "argv0";
	else if (program_same(&rules->program, &id->program))
		id->matched = "program";
	if (id->matched.empty() && !rules->any_program) {
		std::string names;
		for (const std::string &n : rules->names)
			names += (names.empty() ? "" : ", ") + n;
		std::string seen;
		if (rules->facts & MATCH_COMM)
			seen += "comm " + id->comm;
		if (rules->facts & MATCH_EXE)
			seen += std::string(seen.empty() ? "" : ", ") + "exe " +
			    (id->exe.empty() ? std::string("unreadable") : id->exe);
		if (rules->facts & MATCH_ARGV0)
			seen += std::string(seen.empty() ? "" : ", ") + "argv0 " +
			    (argv0.empty() ? std::string("unreadable") : argv0);
		/* Only the facts compared are named, so "comm gitaly" never
		 * stands beside "expected gitaly" under match = ["exe"]. */
		*why = "it is not the expected binary (" + seen + "; expected " + names + ")";
		if (rules->program.known)
			*why += " nor the current process's program (" + rules->program.comm +
			    ", " + rules->program.path + ")";
		res = ID_MISMATCH;
		goto out;
	}
	/* Still the same process?  A signal 0 through the pidfd fails once it
	 * has been reaped, and until then the PID could not be reused, so
	 * everything read above was about the process the pidfd holds.  To
	 * another user's process it fails with EPERM unless we are root: only
	 * ESRCH says it is gone. */
	if (fd >= 0 && (r = pidfd_signal(fd, 0)) < 0 && (r == -ESRCH || owner_ok(rules, id->uid))) {
		*why = "it exited while being checked";
		goto out;
	}
	if (fd < 0) {
		struct proc_stat again;
		if (proc_read_stat(pid, &again) < 0 || again.start_time != st.start_time) {
			*why = "it exited while being checked";
			goto out;
		}
	}
	/* The owner is checked once the name matched: another user's
	 * process that is not the daemon is merely not ours (a stale pid file
	 * naming a recycled PID: spawn, as gitaly-wrapper does), while the
	 * daemon run by another user is one the caller must not start a
	 * second of. */
	if (!owner_ok(rules, id->uid)) {
		uid_t want = rules->owner == (uid_t)-1 ? geteuid() : rules->owner;
		char buf[256];
		snprintf(buf, sizeof buf, "it runs as uid %u, not uid %u; if it is "
		    "the daemon, set owner = %u (or \"any\") in the configuration "
		    "file", (unsigned)id->uid, (unsigned)want, (unsigned)id->uid);
		*why = buf;
		res = ID_OWNER;
		goto out;
	}
	id->pidfd = fd;
	id->start_time = st.start_time;
	id->ppid = st.ppid;
	return ID_OK;
out:
	if (fd >= 0)
		close(fd);
	return res;
}
