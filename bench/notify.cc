/*
 * notify.cc: the notification relay's figure, on pidsitter's upgrade runs
 * (wrapper_command gives it NOTIFY_SOCKET naming our socket and a
 * configuration with ready = "notify"; the peers relay nothing), measured
 * at the first generation's READY=1, before the upgrade.
 *
 * The fixture, given pidsitter's relay socket as NOTIFY_SOCKET, sends
 * READY=1 once it has written its pid file (its FX_NOTIFY time, just
 * before sendto()).  pidsitter checks the sender, marks the daemon ready
 * and says READY=1 itself to the NOTIFY_SOCKET it was given: ours, read
 * in runner_pump() like the FIFO.  Figure = our recv() returning - the
 * fixture's sendto().
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "driver.h"

int
notify_setup(runner *r)
{
	struct sockaddr_un sa;
	int fd;

	snprintf(r->notify_path, sizeof r->notify_path, "%s/notify.sock", r->dir);
	snprintf(r->notify_conf, sizeof r->notify_conf, "%s/notify.toml", r->dir);
	if (strlen(r->notify_path) >= sizeof sa.sun_path) {
		/* A deep temporary directory: the figure is left out. */
		note("%s: too long for a socket address; no notification figure", r->notify_path);
		return 0;
	}
	fd = open(r->notify_conf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	static const char conf[] = "ready = \"notify\"\n";
	if (write_all(fd, conf, sizeof conf - 1) < 0) {
		close(fd);
		return -1;
	}
	close(fd);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, r->notify_path, strlen(r->notify_path));
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		close(fd);
		return -1;
	}
	r->notify_fd = fd;
	return 0;
}

/* Every datagram waiting; the time of the last READY=1 among them. */
void
notify_read(runner *r)
{
	char buf[4096];
	ssize_t n;

	while ((n = recv(r->notify_fd, buf, sizeof buf - 1, 0)) >= 0) {
		int64_t t = now_ns();
		buf[n] = '\0';
		/* A line of its own (sd_notify(3)): first, or after a newline. */
		if (strncmp(buf, "READY=1", 7) == 0 || strstr(buf, "\nREADY=1") != NULL)
			r->t_notify_ready = t;
	}
}

int
notify_measure(runner *r, watch *wt, results *res, char *err, size_t errlen)
{
	fx_event sent;
	int rc;

	if (r->notify_fd < 0)
		return 0;
	rc = runner_wait(r, now_ns() + READY_DEADLINE, 0, [&] {
		return r->t_notify_ready != 0;
	});
	if (rc < 0)
		return fail(err, errlen, "pidsitter said no READY=1 within %d s",
		    (int)(READY_DEADLINE / SEC));
	if (!runner_take(r, &sent, [&](const fx_event &x) {
	    return x.kind == FX_NOTIFY && x.pid == wt->daemon; }))
		return fail(err, errlen, "pidsitter said READY=1, but the daemon sent none");
	res->s[F_NOTIFY_READY].push_back(r->t_notify_ready - ev_ns(sent));
	return 0;
}
