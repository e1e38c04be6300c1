/*
 * harness.h: black-box helpers for the integration tests.  They run the
 * built binaries (build/pidsitter, build/fixture-daemon...) as real
 * processes and wait on events with deadlines: a pidfd for an exit, the
 * wrapper's stdout for a log line, a polled file for a record line.
 * Nothing here sleeps for a fixed time to "let things settle".
 */
#ifndef PIDSITTER_HARNESS_H
#define PIDSITTER_HARNESS_H

#include <sys/types.h>

#include <string>
#include <vector>

/* Directory of the built programs ($BUILD or "build"), absolute. */
std::string build_path(const char *name);
/* The root under which every test's temporary directory lives; the last
 * test checks that no process of ours runs from it any more. */
std::string test_root(void);

/* A temporary directory, removed with everything in it. */
struct tmp_dir {
	std::string path;
	tmp_dir();
	~tmp_dir();
	std::string operator/(const char *name) const { return path + "/" + name; }
	/* A link named name to a built program: a daemon called "gitaly". */
	std::string link(const char *name, const char *program) const;
};

/* A process we started, with its stdout and stderr captured. */
struct proc {
	pid_t pid = -1;
	int pidfd = -1;
	int out_fd = -1;
	int err_fd = -1;
	std::string out;
	std::string err;
	bool exited = false;
	int wstatus = 0;

	proc() = default;
	proc(const proc &) = delete;
	proc &operator=(const proc &) = delete;
	~proc();
};

/* Start argv with the environment plus `env` ("K=V"; "K" alone removes
 * K).  Output goes to pipes unless inherit_output. */
void proc_start(proc *p, const std::vector<std::string> &argv,
    const std::vector<std::string> &env = {}, bool inherit_output = false);

/* Read output until a line of stdout contains needle: true, or false at
 * the deadline (or when the process closed its stdout). */
bool proc_wait_line(proc *p, const char *needle, int timeout_ms);
/* Count the lines of stdout read so far that contain needle. */
int proc_count_lines(const proc *p, const char *needle);
/* The first line of stdout read so far that contains needle, or "". */
std::string proc_find_line(const proc *p, const char *needle);
/* Read output until stderr holds needle (anywhere): true, or false at the
 * deadline (or when the process closed both pipes). */
bool proc_wait_stderr(proc *p, const char *needle, int timeout_ms);
/* The number after " key=" in a text log line, or -1. */
long log_field(const std::string &line, const char *key);
/* Everything the process wrote so far (reading for up to 100 ms more),
 * for a failure message: INFO(proc_dump(&w)). */
std::string proc_dump(proc *p);
/* Wait for the exit: true and p->wstatus set, or false at the deadline. */
bool proc_wait_exit(proc *p, int timeout_ms);
/* The exit code as a shell shows it (128+N for a signal). */
int proc_code(const proc *p);
/* Kill (SIGKILL) and reap, if still running. */
void proc_kill(proc *p);

/* Poll cond every 2 ms until true or the deadline. */
template <typename F>
bool wait_until(F cond, int timeout_ms);
bool wait_until_fn(bool (*cond)(void *), void *arg, int timeout_ms);

std::string read_file(const std::string &path);
void write_file(const std::string &path, const std::string &text, int mode = 0644);
/* The pid in a pid file, or 0. */
pid_t read_pid(const std::string &path);
/* Alive and not a zombie. */
bool pid_alive(pid_t pid);
/* A process pinned by its start time.  Under load the PIDs wrap quickly
 * (pid_max is 32768 on the CI machines): a PID alone, once its process
 * died, may name another test's process, which must never be signalled
 * or counted as ours. */
struct pinned {
	pid_t pid = 0;
	unsigned long long start = 0;  /* 0: it was gone when pinned */
};
pinned pin(pid_t pid);
/* The very process pinned, alive and not a zombie. */
bool pinned_alive(const pinned &p);
/* Lines of a record file (test/fixture-daemon.c) that match "<pid> <what>". */
int record_count(const std::string &record, pid_t pid, const std::string &what);
/* Wait until the record file has a line "<pid> <what>" (pid 0: any). */
bool record_wait(const std::string &record, pid_t pid, const std::string &what,
    int timeout_ms);
/* Live (not zombie) processes started as argv0 (argv[0] equal). */
std::vector<pid_t> live_matching(const std::string &argv0);
/* Live (not zombie) processes whose command line contains needle. */
std::vector<pid_t> live_mentioning(const std::string &needle);
/* Zombie processes whose parent is ppid. */
std::vector<pid_t> zombies_of(pid_t ppid);
/* Send sig to pid; a failure fails the test. */
void send_signal(pid_t pid, int sig);
/* Reap pid on a thread of its own (a daemon the test started directly and
 * that pidsitter adopts: its exit status reaches PIDFD_INFO_EXIT only once
 * its parent, the test, has reaped it). */
void reap_in_background(pid_t pid);
/* Start a program detached from the test: it is not our child (double
 * fork); returns its pid once it runs. */
pid_t start_detached(const std::vector<std::string> &argv);

/* A loopback TCP port nothing listens on now, chosen below the kernel's
 * ephemeral range so that no "port 0" bind of a parallel test can take it
 * meanwhile.  The caller may still lose a race with another test that
 * chose the same port: retry on EADDRINUSE. */
int free_port(void);
/* Connect to 127.0.0.1:port, send request, return what the peer sent until
 * it closed the connection ("" if the connection failed or nothing came
 * before the deadline). */
std::string tcp_exchange(int port, const std::string &request, int timeout_ms);
/* Does anything accept connections on 127.0.0.1:port? */
bool tcp_accepts(int port);

#include <chrono>
#include <thread>

template <typename F>
bool
wait_until(F cond, int timeout_ms)
{
	auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
	for (;;) {
		if (cond())
			return true;
		if (std::chrono::steady_clock::now() >= end)
			return false;
		std::this_thread::sleep_for(std::chrono::milliseconds(2));
	}
}

#endif
