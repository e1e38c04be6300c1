/*
 * nginx_fixture.h: what nginx_test.cc and nginx_recipe_test.cc share:
 * REAL nginx from Debian (/usr/sbin/nginx) in a temporary prefix, on a
 * loopback port, run by the built pidsitter.
 *
 * nginx rewrites its command line: the master shows "nginx: master process
 * /usr/sbin/nginx -p <prefix> ...", a worker "nginx: worker process" only,
 * so workers are found as the masters' children.  As root, workers run as
 * nobody (the compiled-in default user).
 */
#ifndef PIDSITTER_NGINX_FIXTURE_H
#define PIDSITTER_NGINX_FIXTURE_H

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "harness.h"

/* Nothing waits this long unless something is wrong (CI is shared). */
const int NGINX_DEADLINE_MS = 20000;
const char NGINX[] = "/usr/sbin/nginx";

/* The live children of any of parents. */
std::vector<pid_t> children_of(const std::vector<pid_t> &parents);

/* A prefix directory with nginx.conf, the pid file, the logs and nginx's
 * temporary directories in it, and the wrapper that runs nginx there.  On
 * the way out (a failed REQUIRE included) it kills every nginx process of
 * this prefix, masters and workers, before the directory is removed. */
struct nginx_prefix {
	tmp_dir dir;
	std::string conf, pidfile, oldbin, errlog;
	std::string binary = NGINX;    /* what pidsitter spawns */
	int port = 0;
	/* Workers run as the wrapper's user, not nobody ("user" in
	 * nginx.conf; nginx ignores it unless run as root). */
	bool workers_as_wrapper_user = false;
	std::vector<pinned> seen;      /* every nginx process the test met */
	std::unique_ptr<child> w;       /* destroyed first: the wrapper */

	nginx_prefix();
	~nginx_prefix();
	nginx_prefix(const nginx_prefix &) = delete;
	nginx_prefix &operator=(const nginx_prefix &) = delete;

	void met(pid_t pid);
	/* Make binary a link to target, atomically: the next USR2 (nginx
	 * executes its argv[0]) runs target. */
	void point_binary_at(const char *target);
	void write_conf();
	/* pidsitter OPTIONS -p PIDFILE -- BINARY -p PREFIX/ -e LOG -c CONF
	 * (-e: nginx opens its compiled-in error log before it reads the
	 * configuration; keep even that inside the prefix). */
	std::vector<std::string> wrapper(const std::vector<std::string> &options = {}) const;
	/* Start the wrapper (env as for child_start), which spawns nginx, and
	 * wait until it follows the master.  Another test may take our port
	 * between free_port() and nginx's bind: then nginx fails to start,
	 * and we try again on another one.  Returns the master's pid, once
	 * it wrote the pid file (the wrapper may follow it before). */
	pid_t start(const std::vector<std::string> &options = {},
	    const std::vector<std::string> &env = {});
	/* Wait until the wrapper logs msg="MSG" REST (log_msg). */
	bool line(const char *msg, const std::string &rest) const;
	/* Wait until the wrapper follows generation gen: its process, met
	 * (REQUIREs). */
	pid_t followed(unsigned gen);
	/* nginx's answer to GET /: 200 and the body "ok\n". */
	bool serves() const;
	/* nginx logged that master got signal num (name) from the wrapper. */
	bool got(pid_t master, int num, const char *name) const;
	/* Every nginx process of this prefix the test met, or that runs
	 * (a master's command line names the prefix; so does the wrapper's). */
	std::vector<pid_t> live() const;
	/* For failure messages: what the wrapper and nginx said, and which
	 * nginx processes run. */
	std::string dump() const;
};

#endif
