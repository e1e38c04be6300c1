/*
 * service.h: helpers for the tests of pidsitter under real supervisors and
 * as a package (runit_test.cc, s6_test.cc, notify_test.cc, deb_test.cc):
 * commands run to completion with a deadline, service directories built
 * from examples/ with their paths replaced, the processes living in a
 * directory (to check that none is left, and to kill them if some are),
 * and a small strict JSON reader for the status file.
 */
#ifndef PIDSITTER_SERVICE_H
#define PIDSITTER_SERVICE_H

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "harness.h"

/* A command run to completion: its exit code as a shell shows it, and
 * what it wrote on stdout and stderr. */
struct cmd_result {
	int code = -1;
	std::string out;
	std::string err;
};

/* Run argv (env as for child_start) and wait for it; a command still
 * running at the deadline is killed and fails the test. */
cmd_result run_cmd(const std::vector<std::string> &argv,
    const std::vector<std::string> &env = {}, int timeout_ms = 30000);

/* Pump p's stdout for a moment, then count its lines holding needle;
 * waits until there are at least n of them. */
bool child_wait_count(child *p, const char *needle, int n, int timeout_ms);

typedef std::vector<std::pair<std::string, std::string>> subst_list;

/* Every occurrence of each .first replaced by its .second, in order. */
std::string substitute(std::string text, const subst_list &subs);

/* Copy the tree `from` (examples/...) to `to`, each file's text passed
 * through substitute() and its mode kept. */
void copy_example(const std::string &from, const std::string &to, const subst_list &subs);
/* What the GitLab paths of the examples become in a test: the daemon's
 * configuration file its arguments (args), its directory var, and the
 * built pidsitter and the daemon gitaly for theirs. */
subst_list gitlab_paths(const std::string &args, const std::string &var,
    const std::string &gitaly);

/* The fixture daemon as a supervised service's, in the test's directory
 * dir: dir/bin/gitaly, a link to it, and dir/var, which holds its pid
 * file and record and is given to nobody when the daemon may run as
 * nobody (the runit and s6 tests then switch user to it). */
struct service_daemon {
	std::string var, bin, pidfile, record;
	bool as_nobody = false;
	/* gitlab_paths() with its arguments: --pid-file, --record, extra. */
	subst_list subs;

	service_daemon(const tmp_dir &dir, const std::vector<std::string> &extra);
	/* The pid file's process once it wrote "ready" and is not `old`
	 * (a failed REQUIRE at the deadline). */
	pid_t wait_ready(pid_t old, int timeout_ms) const;
	/* The live daemons. */
	std::vector<pid_t> daemons() const;
};

/* Live (not zombie) processes whose working directory or command line is
 * in dir: what a supervisor, its logger and the daemons it started leave
 * there (svlogd's command line says only "./main"). */
std::vector<pid_t> live_in(const std::string &dir);
/* SIGKILL what live_in(dir) finds until nothing is left (or 10 s). */
void kill_all_in(const std::string &dir);
/* Check that nothing is left in dir (waiting up to 10 s for it to go),
 * naming what is. */
void check_none_in(const std::string &dir);

/* Whether the daemon may run as "nobody" here: we are root, the user
 * exists, and it may execute every program listed.  The runit and s6
 * tests then switch user the way GitLab Omnibus does (chpst -u git). */
bool nobody_can_run(const std::vector<std::string> &programs);
/* Give dir to nobody (for its pid file, record and status file). */
void chown_nobody(const std::string &dir);

/* A JSON value. */
struct json {
	enum kind { NUL, BOOL, NUMBER, STRING, ARRAY, OBJECT } type = NUL;
	bool b = false;
	double n = 0;
	std::string s;
	std::vector<json> items;                            /* ARRAY */
	std::vector<std::pair<std::string, json>> members;  /* OBJECT, in order */

	/* The member named key of an object, or NULL. */
	const json *get(const char *key) const;
};

/* Parse text (RFC 8259: one value, whitespace around it) into *out.
 * Returns true, or false with *err saying where and why. */
bool json_parse(const std::string &text, json *out, std::string *err);

#endif
