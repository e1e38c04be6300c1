/*
 * harness.h: black-box helpers for the integration tests.  They run the
 * built binaries (build/pidsitter, build/fixture-daemon...) as real
 * processes and wait on events with deadlines: a pidfd for an exit, the
 * wrapper's stdout for a log line, a polled file for a record line.
 * Nothing here sleeps for a fixed time to "let things settle".
 */
#ifndef PIDSITTER_HARNESS_H
#define PIDSITTER_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

/* Directory of the built programs ($BUILD or "build"), absolute. */
std::string build_path(const char *name);
/* The root under which every test's temporary directory lives; the final
 * check (leftovers_test.cc) makes sure no process of ours runs from it any
 * more. */
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
struct child {
	pid_t pid = -1;
	int pidfd = -1;
	int out_fd = -1;
	int err_fd = -1;
	std::string out;
	std::string err;
	bool exited = false;
	int wstatus = 0;

	child() = default;
	child(const child &) = delete;
	child &operator=(const child &) = delete;
	~child();
};

/* Start argv with the environment plus `env` ("K=V"; "K" alone removes
 * K).  Output goes to pipes unless inherit_output. */
void child_start(child *p, const std::vector<std::string> &argv,
    const std::vector<std::string> &env = {}, bool inherit_output = false);
/* The same, with before_exec() called in the child just before execve:
 * 0, or the code the child exits with instead. */
void child_start_hooked(child *p, const std::vector<std::string> &argv,
    const std::vector<std::string> &env, int (*before_exec)(void));
/* For child_start's env: the machine's own settings (GITALY_PID_FILE,
 * WRAPPER_JSON_LOGGING, PIDSITTER_CONFIG) must not leak into a result. */
extern const std::vector<std::string> clean_env;

/* Read output until a line of stdout contains needle: true, or false at
 * the deadline (or when the process closed its stdout). */
bool child_wait_line(child *p, const char *needle, int timeout_ms);
/* Count the lines of stdout read so far that contain needle. */
int child_count_lines(const child *p, const char *needle);
/* The first line of stdout read so far that contains needle, or "". */
std::string child_find_line(const child *p, const char *needle);
/* Read output until stderr holds needle (anywhere): true, or false at the
 * deadline (or when the process closed both pipes). */
bool child_wait_stderr(child *p, const char *needle, int timeout_ms);
/* The number after " key=" in a text log line, or -1. */
long line_field(const std::string &line, const char *key);
/* What a text log line holds: msg="MSG", then rest (if any) after a
 * space.  pidsitter writes the other fields sorted by name. */
std::string log_msg(const char *msg, const std::string &rest = "");
/* The fields of a line about generation gen, process pid, of wrapper w:
 * "generation=GEN pid=W process=PID". */
std::string log_gen(const child &w, unsigned gen, pid_t pid);
/* Wait until the wrapper w logs that it follows generation gen: that
 * generation's process, or 0 at the deadline. */
pid_t child_wait_followed(child *w, unsigned gen, int timeout_ms);
/* The lines of text (each ended by a newline) that contain every needle. */
std::vector<std::string> lines_with(const std::string &text,
    const std::vector<std::string> &needles);
/* Does one line of text contain every needle? */
bool has_line(const std::string &text, const std::vector<std::string> &needles);
/* Read p's output for ms milliseconds (so that a chatty wrapper never
 * blocks on its stdout). */
void pump_for(child *p, int ms);
/* Read p's output until one line of stdout contains every needle: true,
 * or false at the deadline. */
bool wait_log(child *p, const std::vector<std::string> &needles, int timeout_ms);
/* What the process wrote so far (reading for up to 100 ms more), for a
 * failure message: INFO(child_dump(&w)).  Each stream is cut to its first
 * 20 and last 40 lines (bounded_output). */
std::string child_dump(child *p);
/* What argv (an absolute path first) writes on stdout and stderr until it
 * closes them, for timeout_ms at most (it is killed then, and the text
 * says so): for a failure message.  It asserts nothing, so that it may run
 * inside INFO(): doctest evaluates those as it reports a failed assertion,
 * holding its reporter's lock, and an assertion failing in there (a
 * run_cmd() at its deadline) would wait for that lock for ever. */
std::string output_of(const std::vector<std::string> &argv, int timeout_ms);
/* text, or its first head and last tail lines around a line saying how
 * many were cut: what a failure message shows of a process's output.
 * PIDSITTER_TEST_FULL_OUTPUT=1 in the environment keeps it whole. */
std::string bounded_output(const std::string &text, int head = 20, int tail = 40);
/* Wait for the exit: true and p->wstatus set, or false at the deadline. */
bool child_wait_exit(child *p, int timeout_ms);
/* The exit code as a shell shows it (128+N for a signal). */
int child_code(const child *p);
/* Kill (SIGKILL) and reap, if still running. */
void child_kill(child *p);

/* Poll cond every 2 ms until true or the deadline. */
template <typename F>
bool wait_until(F cond, int timeout_ms);
bool wait_until_fn(bool (*cond)(void *), void *arg, int timeout_ms);
/* CLOCK_MONOTONIC in milliseconds. */
long long mono_ms(void);
/* Milliseconds since t0. */
long long ms_since(std::chrono::steady_clock::time_point t0);

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
/* The pid of the first record line that is "<pid> <what>" exactly, or 0. */
pid_t record_pid(const std::string &record, const std::string &what);
/* The fixture's helpers (--helper, --detached-helper), pinned once both
 * recorded themselves (a failed REQUIRE after 10 s). */
void pin_helpers(const std::string &record, pinned *h, pinned *dh);
/* Every process in /proc but the test itself. */
std::vector<pid_t> all_pids(void);
/* /proc/PID/cmdline, its NULs made spaces ("" once it is gone). */
std::string cmdline_of(pid_t pid);
/* Live (not zombie) processes started as argv0 (argv[0] equal). */
std::vector<pid_t> live_matching(const std::string &argv0);
/* Live (not zombie) processes whose command line contains needle. */
std::vector<pid_t> live_mentioning(const std::string &needle);
/* The pinned processes still alive, and the live processes whose command
 * line contains needle, but except: what a daemon's test met, and what runs
 * from its directory (a daemon's workers, a master the test missed). */
std::vector<pid_t> live_of(const std::vector<pinned> &seen, const std::string &needle,
    pid_t except);
/* Zombie processes whose parent is ppid. */
std::vector<pid_t> zombies_of(pid_t ppid);
/* A child of parent (live, or else a zombie), waiting up to timeout_ms
 * for one to appear; 0 if none. */
pid_t child_of(pid_t parent, int timeout_ms);
/* Send sig to pid; a failure fails the test. */
void send_signal(pid_t pid, int sig);
/* Reap pid, a child of the test, once it exits: its wait status.  Still
 * running after timeout_ms, it is killed and reaped, and the test fails
 * (a failed REQUIRE) naming what it was: a plain waitpid() would wait for
 * ever for a child that waits for a peer that never answers. */
int reap_within(pid_t pid, const char *what, int timeout_ms);
/* Reap pid on a thread of its own (a daemon the test started directly and
 * that pidsitter adopts: its exit status reaches PIDFD_INFO_EXIT only once
 * its parent, the test, has reaped it). */
void reap_in_background(pid_t pid);
/* A configuration line for a wrapper that adopts a daemon the test reaps
 * (reap_in_background, outsider) and checks its exit status: the status
 * reaches the wrapper only once the test's thread has reaped the daemon,
 * and a loaded machine may run that thread later than the default
 * reap_timeout (1 s), after which the status is 0. */
#define SLOW_REAP_OK "reap_timeout = \"1m\"\n"
/* Start a program detached from the test: it is not our child (double
 * fork); returns its pid once it runs. */
pid_t start_detached(const std::vector<std::string> &argv);
/* Start path with argv as the test's own child, in a session of its own,
 * signals unblocked, stdin (and stdout if quiet) from /dev/null, and as
 * uid and its group unless uid is -1 (it exits 126 if it cannot).  The
 * caller reaps it. */
pid_t start_child(const std::string &path, const std::vector<std::string> &argv,
    uid_t uid = (uid_t)-1, bool quiet = false);

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

/* A temporary directory with a daemon called gitaly in it (a link to the
 * fixture daemon, test/fixture-daemon.c), its pid file and its record.
 * Whatever still runs from the directory when the scene ends is a failure
 * (unless a failed REQUIRE ended the test) and is killed, before the
 * directory is removed. */
struct scene {
	tmp_dir dir;
	std::string gitaly, pidfile, record;
	std::string conf;  /* a configuration file, for config() */

	/* pid_dir: the pid file in that subdirectory of dir, made here. */
	explicit scene(const char *pid_dir = NULL);
	~scene();
	scene(const scene &) = delete;
	scene &operator=(const scene &) = delete;

	/* gitaly --pid-file PIDFILE --record RECORD extra... */
	std::vector<std::string> daemon(const std::vector<std::string> &extra = {}) const;
	/* pidsitter -p PIDFILE opts... -- daemon_argv... */
	std::vector<std::string> wrapper(const std::vector<std::string> &daemon_argv,
	    const std::vector<std::string> &opts = {}) const;
	/* Write conf: pid_file, then keys (TOML lines). */
	void config(const std::string &keys) const;
	/* pidsitter -c CONF -- gitaly --pid-file PIDFILE --record RECORD extra... */
	std::vector<std::string> configured(const std::vector<std::string> &extra = {}) const;
	/* The live daemons of this scene. */
	std::vector<pid_t> daemons() const;
	/* Wait until a daemon of this scene recorded "ready": the pid file's
	 * process then (a failed REQUIRE at the deadline). */
	pid_t ready(int timeout_ms) const;
};

/* Start the wrapper w with argv (env as for child_start) and wait until
 * the daemon of sc that it spawned is ready and w monitors it: that
 * daemon. */
pid_t start_monitored(const scene &sc, child *w, const std::vector<std::string> &argv,
    int timeout_ms, const std::vector<std::string> &env = {});

/* gitaly's arguments for a test of what the wrapper finds: one that it
 * spawns instead writes no pid file and exits 5 at once. */
extern const std::vector<std::string> spawn_and_exit;

/* HUP the wrapper w of sc and wait until the pid file names a process
 * other than old that recorded "ready", reading w's output meanwhile:
 * that process (a failed REQUIRE at the deadline). */
pid_t hup_successor(const scene &sc, child *w, pid_t old, int timeout_ms);

/* Send n real-time signals sig (they queue: each one is forwarded and
 * logged) to the wrapper w of sc without reading its output, waiting
 * every 100 until daemon recorded them, so that none is lost to the
 * kernel's queue limit (a failed REQUIRE at the deadline). */
void send_rt_flood(const scene &sc, child *w, pid_t daemon, int sig, int n, int timeout_ms);

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
