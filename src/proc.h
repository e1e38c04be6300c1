/*
 * proc.h: facts about a process from /proc, and the pidfd that pins it.
 *
 * A PID is only a number: the process it names can die and the number be
 * given to a stranger.  A pidfd stays bound to one process.  So we open the
 * pidfd first, then read /proc, then check through the pidfd that the
 * process was not reaped meanwhile; from then on every signal goes through
 * the pidfd (doc/DESIGN.md, "Why it is built this way").
 */
#ifndef PIDSITTER_PROC_H
#define PIDSITTER_PROC_H

#include <stddef.h>
#include <sys/types.h>

#include <string>
#include <vector>

/* The fields of /proc/PID/stat we use. */
struct proc_stat {
	char state;                     /* R S D Z X ... */
	pid_t ppid;
	unsigned long long flags;       /* field 9: PF_EXITING once it is dying */
	unsigned long long start_time;  /* field 22, clock ticks since boot */
};

/* Parse /proc/PID/stat text.  comm (field 2) may hold spaces and
 * parentheses, so fields are counted after the LAST ')'.  0 or -EINVAL. */
int proc_stat_parse(const char *buf, size_t len, struct proc_stat *st);

int proc_read_stat(pid_t pid, struct proc_stat *st);
int proc_read_comm(pid_t pid, std::string *comm);
/* basename of the executable, a trailing " (deleted)" removed. */
int proc_read_exe(pid_t pid, std::string *exe);
/* basename of argv[0] from /proc/PID/cmdline. */
int proc_read_argv0(pid_t pid, std::string *argv0);
/* The effective uid, from the Uid: line of /proc/PID/status. */
int proc_read_uid(pid_t pid, uid_t *uid);
/* Is a SIGKILL pending for it (it is about to die)? */
bool proc_sigkill_pending(pid_t pid);
/* The signals this process ignores, bit N-1 for signal N (SigIgn: of
 * /proc/self/status, proc_pid_status(5)).  0 or -errno. */
int proc_ignored_signals(unsigned long long *mask);

/* The program a process runs: the device and inode of its executable
 * (stat through /proc/PID/exe, which reaches the file even once it was
 * replaced on disk), its path, a trailing " (deleted)" removed, and the
 * name it runs under (comm). */
struct proc_program {
	bool known = false;
	dev_t dev = 0;
	ino_t ino = 0;
	std::string path;
	std::string comm;
};

/* 0 or -errno (exe is unreadable for another user's process unless we
 * are root, and for a zombie). */
int proc_read_program(pid_t pid, struct proc_program *prog);
/* The same program: the same file or the same path (a binary upgrade puts
 * a new file at the path; the old process's exe then says " (deleted)"),
 * under the same name: one multi-call binary (busybox) is many programs.
 * Unknown programs are never the same. */
bool program_same(const struct proc_program *a, const struct proc_program *b);

/* The part after the last '/'. */
std::string path_basename(const std::string &path);
/* Strip a trailing " (deleted)" (the binary was replaced on disk). */
std::string exe_strip_deleted(const std::string &exe);
/* Does comm (at most 15 bytes, as the kernel keeps it) belong to a program
 * named name?  The kernel cuts the name to TASK_COMM_LEN - 1 = 15 bytes. */
bool comm_matches(const std::string &comm, const std::string &name);

/* pidfd system calls; each returns an fd or 0, or -errno. */
int pidfd_open_pid(pid_t pid);
int pidfd_signal(int pidfd, int sig);
/* The wait status of the exited process, for any process (not only our
 * children), once it has been reaped (PIDFD_INFO_EXIT, Linux 6.15).
 * -ENODATA: not reaped yet; -ESRCH: being reaped right now (ask again
 * once the pidfd reports POLLHUP), or reaped by a kernel without exit
 * information (6.13, 6.14); -ENOTTY/-EINVAL: the kernel cannot tell. */
int pidfd_exit_status(int pidfd, int *wstatus);
/* Was the process of pidfd a created before that of pidfd b?  pidfs
 * (Linux 6.9) numbers pidfd inodes in fork order; before it every pidfd
 * has the same inode and the answer is false: cannot tell. */
bool pidfd_born_before(int a, int b);

/* What pidsitter expects the daemon to be. */
struct match_rules {
	std::vector<std::string> names;
	unsigned facts;        /* enum match_fact bits */
	bool owner_any;
	uid_t owner;
	/* The current generation's program: its successor is the daemon too
	 * when it runs the same program, whatever names say (a daemon started
	 * through a script that execs it). */
	struct proc_program program;
	/* Accept a process that matches nothing (matched stays empty): the
	 * one a forking start left is the daemon by that fact alone. */
	bool any_program = false;
};

/* A process that passed the checks. */
struct identity {
	pid_t pid;
	int pidfd;             /* -1 only where the kernel has no pidfd_open */
	unsigned long long start_time;
	pid_t ppid;
	uid_t uid;
	std::string comm;
	std::string exe;
	struct proc_program program;
	std::string matched;   /* "comm", "exe", "argv0", "program"; "" under
	                        * any_program when nothing matched */
};

enum identify_result {
	ID_OK = 0,
	ID_DEAD = 1,      /* no such process, a zombie, or it died while we looked */
	ID_REFUSED = 2,   /* pid 1, ourselves or an ancestor */
	ID_MISMATCH = 3,  /* not the expected binary (whoever runs it) */
	ID_ERROR = 4,     /* we could not tell (out of fds, memory): the
	                   * caller must not take it for dead and spawn */
	ID_OWNER = 5,     /* the expected binary, run by a user the owner
	                   * rule refuses: at start, spawning would put a
	                   * second daemon beside it */
};

/* Is pid the expected daemon?  ID_OK: id is filled and id->pidfd is the
 * caller's to close.  Otherwise *why says what failed. */
int proc_identify(pid_t pid, const struct match_rules *rules,
    struct identity *id, std::string *why);

/* The children of ppid, from /proc (CONFIG_PROC_CHILDREN may be off):
 * the zombies only, or the live ones only. */
std::vector<pid_t> proc_children(pid_t ppid, bool zombies);

/* Every descendant of root (its children, theirs, and so on; zombies
 * included), from /proc/PID/task/TID/children, or a scan of /proc where
 * the kernel lacks those files.  A snapshot: the caller pins each with a
 * pidfd and checks it again (descendants.cc). */
std::vector<pid_t> proc_descendants(pid_t root);
/* The same from one scan of every /proc/PID/stat: the fallback. */
std::vector<pid_t> proc_descendants_scan(pid_t root);

/* Is pid one of our ancestors (or ourselves, or 1)? */
bool proc_is_ancestor(pid_t pid);

#endif
