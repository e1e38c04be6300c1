/*
 * notify.cc: the daemon's notification socket (notify.h, pidsitter(8)
 * NOTIFICATIONS).  A non-blocking AF_UNIX datagram socket read by a
 * uv_poll in the wrapper's loop.  Every datagram carries its sender's
 * credentials (SO_PASSCRED, unix(7)); it counts only when the sender is a
 * live generation or a descendant of one: its pidfd is opened first, the
 * /proc/PID/stat parent chain is walked to a generation, and the pidfd
 * then confirms the sender is still alive, so the pid read was not
 * recycled meanwhile (doc/DESIGN.md, section 4).  What a message means
 * for a generation (READY=1, MAINPID=) the sitter decides; the rest is
 * relayed upward through the reporter.
 */
#include "notify.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "watch.h"

/* A sender's parent chain is walked at most this far. */
#define ANCESTRY_MAX 64
/* At most this many datagrams per wake-up: the rest wait for the next
 * turn of the loop, so a flood cannot starve the other handles. */
#define RECV_BATCH 64
/* At most one "notification refused" line per this many milliseconds. */
#define DROP_LOG_MS 1000

/* The generation pid is, or the nearest one among its ancestors; 0 when
 * none (an orphan's descendants are not the daemon's either).  A
 * generation is known by pid and start time: a recycled pid is not it. */
static unsigned
generation_of(struct watch *w, pid_t pid)
{
	for (int depth = 0; depth < ANCESTRY_MAX && pid > 1; depth++) {
		const struct generation *g = sitter_gen_by_pid(&w->st, pid);
		struct proc_stat ps;

		if (proc_read_stat(pid, &ps) != 0)
			return 0;
		if (g != NULL)
			return g->role != ROLE_ORPHAN && (g->start_time == 0 ||
			    g->start_time == ps.start_time) ? g->number : 0;
		pid = ps.ppid;
	}
	return 0;
}

/* A refused datagram: one line per DROP_LOG_MS at most, with how many
 * were refused since the last. */
static void
refuse(struct watch *w, pid_t sender, const char *why)
{
	struct notify_relay *n = &w->notify;
	uint64_t now = uv_now(w->loop);

	n->dropped++;
	if (n->drop_logged && now - n->drop_at < DROP_LOG_MS)
		return;
	log_event(LOG_WARN, "notification refused", {{"sender", (long)sender},
	    {"reason", why}, {"dropped", n->dropped}});
	n->dropped = 0;
	n->drop_at = now;
	n->drop_logged = true;
}

/* MAINPID=pid from generation number's side: followed as if the pid file
 * named it, when pid is the daemon by every check of the pid file's
 * (proc_identify) and descends from a generation. */
static void
main_pid(struct watch *w, pid_t sender, pid_t pid)
{
	struct identity id;
	std::string why;
	int r;
	struct match_rules rules = pidwatch_rules(w);

	r = proc_identify(pid, &rules, &id, &why);
	if (r != ID_OK) {
		log_event(LOG_WARN, "MAINPID not followed", {{"process", (long)pid},
		    {"sender", (long)sender}, {"reason", why}});
		return;
	}
	/* Pinned by its pidfd: its ancestry, then alive still. */
	if (generation_of(w, pid) == 0 || (id.pidfd >= 0 && pidfd_signal(id.pidfd, 0) != 0)) {
		log_event(LOG_WARN, "MAINPID not followed", {{"process", (long)pid},
		    {"sender", (long)sender},
		    {"reason", "it is no generation of the daemon nor a descendant of one"}});
		if (id.pidfd >= 0)
			close(id.pidfd);
		return;
	}
	watch_dispatch_identity(w, &id, FOUND_MAINPID);
}

/* A checked message from generation number (or a descendant). */
static void
act(struct watch *w, unsigned number, pid_t sender, const struct notify_msg *m)
{
	struct notify_relay *n = &w->notify;
	bool current = number == w->st.current;
	char buf[64];

	if (m->mainpid != 0) {
		main_pid(w, sender, m->mainpid);
		/* The sender may be the new generation now. */
		if ((number = generation_of(w, sender)) == 0)
			return;
		current = number == w->st.current;
	}
	if (m->have_status)
		report_daemon_status(&w->report, &w->st, number, m->status);
	if (m->ready) {
		const struct generation *g = sitter_gen(&w->st, number);
		struct event ev = watch_event(EV_READY);

		if (g != NULL && !g->ready)
			log_event(LOG_INFO, "process says it is ready", {{"process", (long)g->pid},
			    {"generation", number}, {"sender", (long)sender}});
		/* The end of the daemon's own reload, relayed as its start. */
		if (current && n->daemon_reloading) {
			report_relay(&w->report, "READY=1");
			n->daemon_reloading = false;
		}
		ev.number = number;
		watch_dispatch(w, &ev);
		current = number == w->st.current;
	}
	/* The service manager watches the service, which is the current
	 * generation: a draining one's pings would hide its successor's
	 * silence. */
	if (!current)
		return;
	if (m->watchdog)
		report_relay(&w->report, "WATCHDOG=1");
	if (m->watchdog_trigger)
		report_relay(&w->report, "WATCHDOG=trigger");
	if (m->have_extend) {
		snprintf(buf, sizeof buf, "EXTEND_TIMEOUT_USEC=%llu",
		    (unsigned long long)m->extend_usec);
		report_relay(&w->report, buf);
	}
	if (m->err != 0) {
		snprintf(buf, sizeof buf, "ERRNO=%d", m->err);
		report_relay(&w->report, buf);
	}
	/* Its own reload (not an upgrade the wrapper tracks, which says
	 * RELOADING=1 itself): systemd 253+ wants MONOTONIC_USEC with it. */
	if (m->reloading && w->st.upgrading == 0) {
		uint64_t usec = m->monotonic_usec;
		if (!m->have_monotonic) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			usec = (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
		}
		snprintf(buf, sizeof buf, "RELOADING=1\nMONOTONIC_USEC=%llu",
		    (unsigned long long)usec);
		report_relay(&w->report, buf);
		n->daemon_reloading = true;
	}
	if (m->stopping)
		log_event(LOG_INFO, "process says it is stopping",
		    {{"generation", number}, {"sender", (long)sender}});
}

static void
handle(struct watch *w, const char *buf, size_t len, bool truncated, const struct ucred *cred)
{
	struct notify_msg m;
	const char *why = "";
	unsigned number;
	int pidfd;

	if (cred == NULL) {
		refuse(w, 0, "no credentials");
		return;
	}
	if (truncated || len > NOTIFY_MSG_MAX) {
		refuse(w, cred->pid, "longer than 4096 bytes");
		return;
	}
	if (notify_parse(buf, len, &m, &why) != 0) {
		refuse(w, cred->pid, why);
		return;
	}
	/* Pin the sender first; a sender already gone cannot be checked. */
	pidfd = pidfd_open_pid(cred->pid);
	if (pidfd < 0 && pidfd != -ENOSYS) {
		refuse(w, cred->pid, "the sender is gone");
		return;
	}
	number = generation_of(w, cred->pid);
	/* READY=1 from a successor that has just written the pid file, which
	 * its parent's generation would otherwise be credited with: read
	 * the pid files first. */
	if (m.ready && (number == 0 || sitter_gen(&w->st, number)->pid != cred->pid)) {
		pidwatch_refresh(w);
		number = generation_of(w, cred->pid);
	}
	if (number == 0 || (pidfd >= 0 && pidfd_signal(pidfd, 0) != 0)) {
		refuse(w, cred->pid, "the sender is no generation of the daemon nor a "
		    "descendant of one");
	} else {
		log_event(LOG_DEBUG, "notification", {{"sender", (long)cred->pid},
		    {"generation", number}});
		act(w, number, cred->pid, &m);
	}
	if (pidfd >= 0)
		close(pidfd);
	notify_sync(w);
}

static void
recv_cb(uv_poll_t *p, int status, int events)
{
	struct watch *w = (struct watch *)p->data;
	int fd = w->notify.fd;

	(void)status;
	(void)events;
	for (int i = 0; i < RECV_BATCH && !w->done; i++) {
		char buf[NOTIFY_MSG_MAX + 1];
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * 16)];
		} ctl;
		struct iovec iov = {buf, sizeof buf};
		struct msghdr mh = {};
		const struct ucred *cred = NULL;
		ssize_t n;

		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = &ctl;
		mh.msg_controllen = sizeof ctl;
		n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_event(LOG_WARN, "cannot read the notification socket",
				    {{"notify_socket", w->notify.address},
				    {"error", strerror(errno)}});
			return;
		}
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET)
				continue;
			if (c->cmsg_type == SCM_CREDENTIALS &&
			    c->cmsg_len >= CMSG_LEN(sizeof(struct ucred)))
				cred = (const struct ucred *)CMSG_DATA(c);
		}
		handle(w, buf, (size_t)n, (mh.msg_flags & MSG_TRUNC) != 0, cred);
		/* Descriptors are never kept.  Closing BARRIER=1's is what its
		 * sender waits for (sd_notify(3)): only now, so a short-lived
		 * sender (systemd-notify) is still alive while it is checked. */
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t j = 0; j < k; j++) {
				int rfd;
				memcpy(&rfd, CMSG_DATA(c) + j * sizeof(int), sizeof rfd);
				close(rfd);
			}
		}
	}
}

/* A path socket left by a wrapper that is gone: nobody receives there. */
static bool
stale_socket(const struct sockaddr_un *sa, socklen_t len)
{
	struct stat st;
	int fd, r;

	if (lstat(sa->sun_path, &st) != 0 || !S_ISSOCK(st.st_mode))
		return false;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	r = connect(fd, (const struct sockaddr *)sa, len);
	close(fd);
	return r < 0 && errno == ECONNREFUSED;
}

int
notify_open(struct watch *w, std::string *why)
{
	struct notify_relay *n = &w->notify;
	struct sockaddr_un sa;
	socklen_t salen;
	char cwd[PATH_MAX];
	int one = 1, fd;

	uv_timer_init(w->loop, &n->retry);
	n->retry.data = w;
	n->retry_init = true;
	if (w->s->notify == NOTIFY_OFF)
		return 0;
	n->address = notify_address(w->s, getcwd(cwd, sizeof cwd));
	if (n->address.size() >= sizeof sa.sun_path) {
		*why = "the address is too long";
		return -ENAMETOOLONG;
	}
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, n->address.data(), n->address.size());
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';  /* the abstract namespace, unix(7) */
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n->address.size());

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		*why = std::string("socket: ") + strerror(errno);
		return -errno;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0) {
		int e = errno;
		*why = std::string("SO_PASSCRED: ") + strerror(e);
		close(fd);
		return -e;
	}
	if (bind(fd, (struct sockaddr *)&sa, salen) < 0 && !(errno == EADDRINUSE &&
	    sa.sun_path[0] == '/' && stale_socket(&sa, salen) && unlink(sa.sun_path) == 0 &&
	    bind(fd, (struct sockaddr *)&sa, salen) == 0)) {
		int e = errno;
		*why = "cannot bind " + n->address + ": " + strerror(e) +
		    (e == EADDRINUSE ? " (another wrapper for this pid file?)" : "");
		close(fd);
		return -e;
	}
	if (uv_poll_init(w->loop, &n->poll, fd) != 0) {
		*why = "cannot poll the socket";
		close(fd);
		return -EIO;
	}
	n->fd = fd;
	n->poll.data = w;
	uv_poll_start(&n->poll, UV_READABLE, recv_cb);
	return 0;
}

static void
retry_cb(uv_timer_t *t)
{
	struct watch *w = (struct watch *)t->data;

	if (!report_flush(&w->report))
		uv_timer_stop(t);
}

void
notify_sync(struct watch *w)
{
	struct notify_relay *n = &w->notify;

	/* Every 100 ms while systemd's queue is full: seldom, and bounded. */
	if (!n->retry_init || w->report.queue.empty() || uv_is_active((uv_handle_t *)&n->retry))
		return;
	uv_timer_start(&n->retry, retry_cb, 100, 100);
}

void
notify_close(struct watch *w)
{
	struct notify_relay *n = &w->notify;

	if (n->fd >= 0 && !uv_is_closing((uv_handle_t *)&n->poll))
		uv_close((uv_handle_t *)&n->poll, NULL);
	if (n->fd >= 0)
		close(n->fd);
	n->fd = -1;
}
