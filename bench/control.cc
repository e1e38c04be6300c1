/*
 * control.cc: the control socket's two figures, on pidsitter's upgrade
 * runs (it listens on control_socket_path() there; the peers have no such
 * thing).
 *
 * status: `pidsitter -S SOCK -s status`, from just before posix_spawn to
 * poll() returning for its pidfd: what a monitoring check pays, a whole
 * client process included.
 *
 * upgrade: what `pidsitter -s upgrade` adds to the daemon's own upgrade.
 * The daemon's upgrade ends when its successor puts the pid file in place
 * (the fixture's FX_RENAME time, just before rename()); the client returns
 * when the wrapper has read the pid file, checked the new process and
 * answered.  Figure = client's exit - rename.  Before it, the generation
 * that follow_measure() left draining is stopped (the fixture drains until
 * told), or the wrapper would rightly refuse the upgrade.
 */
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "driver.h"

static const int64_t CONTROL_DEADLINE = 5 * SEC;

/* Run pidsitter -S SOCK -s cmd; *t0 just before the spawn, *t1 when its
 * pidfd polled readable.  0 and its status, or -1. */
static int
client(runner *r, watch *wt, const char *cmd, int64_t *t0, int64_t *t1, int *status,
    char *err, size_t errlen)
{
	std::vector<std::string> argv = { wt->w->path, "-S", control_socket_path(r), "-s", cmd };
	std::vector<std::string> env;
	pid_t pid;
	int rc, fd;

	rc = spawn(argv, env, -1, &pid, t0);
	if (rc < 0)
		return fail(err, errlen, "cannot run %s -s %s: %s", wt->w->path, cmd, strerror(-rc));
	fd = pidfd_open(pid);
	if (fd < 0) {
		kill(pid, SIGKILL);
		wait_child(pid, status);
		return fail(err, errlen, "pidfd_open: %s", strerror(errno));
	}
	/* Only the client's end is waited for here: what the wrapper and the
	 * fixture say meanwhile waits in their pipe and FIFO. */
	struct pollfd p = { fd, POLLIN, 0 };
	do
		rc = poll(&p, 1, (int)(CONTROL_DEADLINE / MS));
	while (rc < 0 && errno == EINTR && !g_stop);
	*t1 = now_ns();
	close(fd);
	if (rc <= 0)
		kill(pid, SIGKILL);
	wait_child(pid, status);
	if (rc <= 0)
		return fail(err, errlen, "pidsitter -s %s: no answer in %d s", cmd,
		    (int)(CONTROL_DEADLINE / SEC));
	return 0;
}

int
control_measure(runner *r, watch *wt, results *res, char *err, size_t errlen)
{
	int64_t t0, t1;
	int status, rc;
	fx_event ren = {};

	if (client(r, wt, "status", &t0, &t1, &status, err, errlen) < 0)
		return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return fail(err, errlen, "pidsitter -s status: %s", status_text(status).c_str());
	res->s[F_CTL_STATUS].push_back(t1 - t0);

	/* The drained generation goes, and the wrapper has seen it go
	 * (then a status says no "draining"). */
	kill(wt->daemon, SIGTERM);
	rc = runner_wait(r, now_ns() + CONTROL_DEADLINE, 1, [&] {
		return wt->exited || (kill(wt->daemon, 0) < 0 && errno == ESRCH);
	});
	if (rc < 0 || wt->exited)
		return fail(err, errlen, "the drained generation did not go after TERM");
	runner_drain(r);
	if (client(r, wt, "upgrade", &t0, &t1, &status, err, errlen) < 0)
		return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return fail(err, errlen, "pidsitter -s upgrade: %s", status_text(status).c_str());
	rc = runner_wait(r, now_ns() + SEC, 0, [&] {
		return runner_take(r, &ren, [&](const fx_event &x) { return x.kind == FX_RENAME; });
	});
	if (rc < 0)
		return fail(err, errlen, "pidsitter -s upgrade returned, but no pid file was renamed");
	res->s[F_CTL_UPGRADE].push_back(t1 - ev_ns(ren));
	return 0;
}
