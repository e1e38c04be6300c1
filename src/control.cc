/*
 * control.cc: the control socket's server side (control.h has the
 * protocol; pidsitter(8), CONTROL, documents it for users).
 */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "pidfile.h"

/* ---- connections ---- */

/* A write in flight: the request and its bytes together. */
struct control_write {
	uv_write_t req;
	struct control_conn *conn;
	size_t len;
	char text[1];
};

static void
conn_closed_cb(uv_handle_t *h)
{
	struct control_conn *conn = (struct control_conn *)h->data;

	if (--conn->open_handles == 0)
		delete conn;
}

static void
conn_close(struct control_conn *conn)
{
	struct control *c = conn->c;

	if (conn->closing)
		return;
	conn->closing = true;
	for (size_t i = 0; i < c->conns.size(); i++)
		if (c->conns[i] == conn) {
			c->conns.erase(c->conns.begin() + (long)i);
			break;
		}
	uv_close((uv_handle_t *)&conn->pipe, conn_closed_cb);
	uv_close((uv_handle_t *)&conn->timer, conn_closed_cb);
}

static void
write_cb(uv_write_t *req, int status)
{
	struct control_write *wr = (struct control_write *)req->data;
	struct control_conn *conn = wr->conn;

	/* The oldest, as libuv completes a stream's writes in order. */
	for (auto it = conn->writes.begin(); it != conn->writes.end(); ++it)
		if (*it == wr) {
			conn->writes.erase(it);
			break;
		}
	free(wr);
	/* The client went away, or the last line is out: close.  (A closed
	 * handle's writes end with UV_ECANCELED, conn is then still live
	 * until its close callback, which runs after this one.) */
	if (status < 0 || (conn->have_request && !conn->waiting &&
	    uv_stream_get_write_queue_size((uv_stream_t *)&conn->pipe) == 0))
		conn_close(conn);
}

/* Queue one line.  A client that lets replies pile up is closed. */
static void
conn_write(struct control_conn *conn, const char *kind, const std::string &text)
{
	std::string line = std::string(kind) + " " + text;
	struct control_write *wr;
	uv_buf_t buf;

	if (conn->closing)
		return;
	if (uv_stream_get_write_queue_size((uv_stream_t *)&conn->pipe) > CONTROL_QUEUE_MAX) {
		conn_close(conn);
		return;
	}
	/* One line each: a newline in text would start a line of its own. */
	for (char &ch : line)
		if (ch == '\n' || ch == '\r')
			ch = ' ';
	line.push_back('\n');
	wr = (struct control_write *)malloc(sizeof *wr + line.size());
	if (wr == NULL) {
		conn_close(conn);
		return;
	}
	memcpy(wr->text, line.data(), line.size());
	wr->conn = conn;
	wr->len = line.size();
	wr->req.data = wr;
	buf = uv_buf_init(wr->text, (unsigned)line.size());
	if (uv_write(&wr->req, (uv_stream_t *)&conn->pipe, &buf, 1, write_cb) != 0) {
		free(wr);
		conn_close(conn);
		return;
	}
	conn->writes.push_back(wr);
}

void
control_info(struct control_conn *conn, const std::string &text)
{
	conn_write(conn, "info", text);
}

void
control_done(struct control_conn *conn, bool ok, const std::string &text)
{
	conn->waiting = false;
	conn->have_request = true;
	conn_write(conn, ok ? "ok" : "fail", text);
}

void
control_wait(struct control_conn *conn, enum control_cmd cmd)
{
	conn->waiting = true;
	conn->cmd = cmd;
}

void
control_verdict(struct control *c, enum control_cmd cmd, bool ok, const std::string &text)
{
	/* A copy: control_done() may close a connection and take it out of
	 * c->conns. */
	std::vector<struct control_conn *> all = c->conns;

	for (struct control_conn *conn : all)
		if (conn->waiting && conn->cmd == cmd)
			control_done(conn, ok, text);
}

bool
control_waiting(const struct control *c, enum control_cmd cmd)
{
	for (const struct control_conn *conn : c->conns)
		if (conn->waiting && conn->cmd == cmd)
			return true;
	return false;
}

static void
request_timeout_cb(uv_timer_t *t)
{
	struct control_conn *conn = (struct control_conn *)t->data;

	control_done(conn, false, "no request within 5s");
}

static void
alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	static char slab[CONTROL_REQUEST_MAX * 2];

	(void)h;
	(void)suggested;
	/* One connection is read at a time, and its bytes are copied out
	 * before the next read: one buffer serves all. */
	*buf = uv_buf_init(slab, sizeof slab);
}

static void
take_request(struct control_conn *conn)
{
	struct control_request req;
	const char *why;

	uv_timer_stop(&conn->timer);
	conn->have_request = true;
	if (control_parse(conn->in.data(), conn->in.size(), &req, &why) < 0) {
		log_event(LOG_WARN, "control request refused",
		    {{"reason", why}, {"peer", (long)conn->peer_pid}});
		control_done(conn, false, why);
		return;
	}
	conn->cmd = req.cmd;
	conn->c->request(conn, &req, conn->c->data);
}

static void
read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct control_conn *conn = (struct control_conn *)s->data;

	if (n < 0) {
		uv_read_stop(s);
		/* End of input: a request without its newline still counts
		 * (printf status | nc -U ...).  A client that half-closed
		 * its side still gets its replies. */
		if (n == UV_EOF && !conn->have_request && !conn->in.empty()) {
			take_request(conn);
			return;
		}
		if (n != UV_EOF || !conn->have_request)
			conn_close(conn);
		return;
	}
	conn->received += (size_t)n;
	if (conn->received > CONTROL_INPUT_MAX) {
		/* Whatever it is, it is not a client of ours. */
		uv_read_stop(s);
		conn_close(conn);
		return;
	}
	if (conn->have_request)
		return;  /* more after the request: ignored */
	const char *nl = (const char *)memchr(buf->base, '\n', (size_t)n);
	size_t take = nl != NULL ? (size_t)(nl - buf->base) : (size_t)n;
	if (conn->in.size() + take >= CONTROL_REQUEST_MAX) {
		conn->have_request = true;
		uv_timer_stop(&conn->timer);
		control_done(conn, false, "request too long");
		return;
	}
	conn->in.append(buf->base, take);
	if (nl != NULL)
		take_request(conn);
}

/* May this peer control us?  Root, or the wrapper's own user. */
static bool
peer_allowed(struct control_conn *conn)
{
	struct ucred cred;
	socklen_t len = sizeof cred;
	uv_os_fd_t fd;

	if (uv_fileno((uv_handle_t *)&conn->pipe, &fd) != 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return false;
	conn->peer_pid = cred.pid;
	conn->peer_uid = cred.uid;
	return cred.uid == 0 || cred.uid == geteuid();
}

/* A refusal: one line if the socket takes it now, and the descriptor
 * closed at once (uv_close() closes a stream's descriptor before it
 * returns).  A flood of connections beyond conns_max then holds no
 * descriptor past its accept(). */
static void
conn_refuse(struct control_conn *conn, const std::string &text)
{
	std::string line = "fail " + text + "\n";
	uv_buf_t buf = uv_buf_init((char *)line.data(), (unsigned)line.size());

	uv_try_write((uv_stream_t *)&conn->pipe, &buf, 1);
	conn_close(conn);
}

static void
connection_cb(uv_stream_t *server, int status)
{
	struct control *c = (struct control *)server->data;
	struct control_conn *conn;

	if (status < 0)
		return;
	conn = new control_conn();
	conn->c = c;
	conn->pipe.data = conn;
	conn->timer.data = conn;
	uv_pipe_init(c->loop, &conn->pipe, 0);
	uv_timer_init(c->loop, &conn->timer);
	conn->open_handles = 2;
	c->conns.push_back(conn);
	/* Accept even what is refused: a connection left in the backlog
	 * would stop libuv from accepting any other (uv__server_io). */
	if (uv_accept(server, (uv_stream_t *)&conn->pipe) != 0) {
		conn_close(conn);
		return;
	}
	if (!peer_allowed(conn)) {
		log_event(LOG_WARN, "control connection refused",
		    {{"peer", (long)conn->peer_pid}, {"uid", (long)conn->peer_uid},
		    {"reason", "only root and the wrapper's user may control it"}});
		conn_refuse(conn, "permission denied: only root and uid " +
		    std::to_string(geteuid()) + " may control this wrapper");
		return;
	}
	if (c->conns.size() > c->conns_max) {
		conn_refuse(conn, "busy: too many control connections");
		return;
	}
	uv_timer_start(&conn->timer, request_timeout_cb, CONTROL_REQUEST_MS, 0);
	uv_read_start((uv_stream_t *)&conn->pipe, alloc_cb, read_cb);
}

/* ---- the listening socket ---- */

/* The name of path in dirfd, as a socket address: the directory is held
 * open, so a rename of it meanwhile cannot move the socket elsewhere. */
static int
socket_address(const struct control *c, struct sockaddr_un *sa, socklen_t *len)
{
	int n;

	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path, sizeof sa->sun_path, "/proc/self/fd/%d/%s", c->dirfd,
	    c->name.c_str());
	if (n < 0 || (size_t)n >= sizeof sa->sun_path)
		return -ENAMETOOLONG;
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n + 1);
	return 0;
}

/* Does a wrapper answer at the socket?  1 (and *pid: its pid), 0: nobody
 * (a stale socket), or -errno. */
static int
probe(const struct control *c, pid_t *pid)
{
	struct sockaddr_un sa;
	struct ucred cred;
	socklen_t len, clen = sizeof cred;
	int fd, r;

	if ((r = socket_address(c, &sa, &len)) < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (struct sockaddr *)&sa, len);
	if (r < 0 && errno == ECONNREFUSED) {
		close(fd);
		return 0;
	}
	/* EAGAIN: its backlog is full; someone listens all the same. */
	if (r < 0 && errno != EAGAIN) {
		r = -errno;
		close(fd);
		return r;
	}
	*pid = 0;
	if (r == 0 && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0)
		*pid = cred.pid;
	close(fd);
	return 1;
}

/* Lock dirfd's directory against other wrappers' control_open() (flock
 * on a directory opened for reading): the descriptor, or -1 when it
 * cannot be opened or anyone holds the lock longer than CONTROL_LOCK_MS
 * (a user who may read the directory can hold it: better a race than no
 * wrapper). */
static int
lock_dir(int dirfd)
{
	struct timespec pause = {0, 10 * 1000000};
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	for (int waited = 0; flock(fd, LOCK_EX | LOCK_NB) < 0; waited += 10) {
		if ((errno != EWOULDBLOCK && errno != EINTR) || waited >= CONTROL_LOCK_MS) {
			close(fd);
			return -1;
		}
		nanosleep(&pause, NULL);
	}
	return fd;
}

/* The connections served at once: a quarter of the descriptors at most. */
static size_t
conns_max(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur / CONTROL_FD_SHARE >= CONTROL_CONNS_MAX)
		return CONTROL_CONNS_MAX;
	return (size_t)(rl.rlim_cur / CONTROL_FD_SHARE);
}

static int
fail(std::string *why, int err, const std::string &text)
{
	*why = text;
	return -err;
}

static int listen_locked(struct control *c, const struct sockaddr_un *sa, socklen_t len,
    std::string *why);

int
control_open(struct control *c, uv_loop_t *loop, const char *path, uid_t daemon_owner,
    control_request_fn request, void *data, std::string *why)
{
	std::string p = path, dir;
	struct sockaddr_un sa;
	socklen_t len;
	int lockfd, r;

	c->loop = loop;
	c->path = path;
	c->request = request;
	c->data = data;
	c->dirfd = -1;
	c->listening = false;
	size_t slash = p.find_last_of('/');
	dir = slash == std::string::npos ? "." : slash == 0 ? "/" : p.substr(0, slash);
	c->name = slash == std::string::npos ? p : p.substr(slash + 1);
	if (c->name.empty() || c->name == "." || c->name == "..")
		return fail(why, EINVAL, "not a socket name");
	if ((r = pidfile_trusted_dir(dir.c_str(), daemon_owner, &c->dirfd, why)) < 0)
		return r;
	if ((r = socket_address(c, &sa, &len)) < 0)
		return fail(why, -r, "its name is too long for a socket");
	c->conns_max = conns_max();
	lockfd = lock_dir(c->dirfd);
	r = listen_locked(c, &sa, len, why);
	if (lockfd >= 0)
		close(lockfd);
	return r;
}

/* control_open() under the directory's lock. */
static int
listen_locked(struct control *c, const struct sockaddr_un *sa, socklen_t len,
    std::string *why)
{
	struct stat st;
	mode_t old_mask;
	pid_t other = 0;
	int fd = -1, r;

	for (int tries = 0; tries < 2; tries++) {
		if (fstatat(c->dirfd, c->name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (!S_ISSOCK(st.st_mode))
				return fail(why, EEXIST, "something that is not a socket is there; "
				    "remove it or choose another name");
			r = probe(c, &other);
			if (r > 0)
				return fail(why, EADDRINUSE, "another pidsitter (pid " +
				    std::to_string(other) + ") is watching this daemon");
			if (r < 0)
				return fail(why, -r, std::string("cannot ask the socket there: ") +
				    strerror(-r));
			/* Nobody listens: left by a wrapper that was killed. */
			if (unlinkat(c->dirfd, c->name.c_str(), 0) < 0 && errno != ENOENT)
				return fail(why, errno, std::string("cannot remove the stale socket: ") +
				    strerror(errno));
		} else if (errno != ENOENT) {
			return fail(why, errno, strerror(errno));
		}
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return fail(why, errno, std::string("socket: ") + strerror(errno));
		/* 0600 from the start: bind() creates the file under the
		 * umask, and a chmod afterwards would leave a moment in
		 * which others may connect. */
		old_mask = umask(0177);
		r = bind(fd, (const struct sockaddr *)sa, len);
		umask(old_mask);
		if (r == 0)
			break;
		r = errno;
		close(fd);
		fd = -1;
		/* Another wrapper bound it between our look and our bind:
		 * the next round asks it. */
		if (r != EADDRINUSE)
			return fail(why, r, std::string("bind: ") + strerror(r));
	}
	if (fd < 0)
		return fail(why, EADDRINUSE, "another process keeps binding it");
	if (fstatat(c->dirfd, c->name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
		c->dev = st.st_dev;
		c->ino = st.st_ino;
	}
	uv_pipe_init(c->loop, &c->server, 0);
	c->server.data = c;
	if ((r = uv_pipe_open(&c->server, fd)) == 0)
		r = uv_listen((uv_stream_t *)&c->server, 64, connection_cb);
	if (r != 0) {
		unlinkat(c->dirfd, c->name.c_str(), 0);
		uv_close((uv_handle_t *)&c->server, NULL);
		return fail(why, -r, std::string("listen: ") + uv_strerror(r));
	}
	c->listening = true;
	return 0;
}

/* Remove the socket, if the name is still ours (a second wrapper started
 * after a stale-socket removal may have its own there). */
static void
remove_socket(struct control *c)
{
	struct stat st;

	if (c->dirfd < 0)
		return;
	if (fstatat(c->dirfd, c->name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st.st_dev == c->dev && st.st_ino == c->ino)
		unlinkat(c->dirfd, c->name.c_str(), 0);
	close(c->dirfd);
	c->dirfd = -1;
}

/* ---- the exit ---- */

/* What is still to go to a connection at the exit. */
struct exit_out {
	int fd;
	std::string text;
	size_t off;
};

/* What libuv has not written yet of conn's lines: the last
 * uv_stream_get_write_queue_size() bytes of its writes in flight (libuv
 * writes a stream's requests in order and counts there what it has not
 * handed to the kernel yet: src/unix/stream.c, uv__write_req_update). */
static std::string
conn_unsent(const struct control_conn *conn)
{
	size_t left = uv_stream_get_write_queue_size((const uv_stream_t *)&conn->pipe);
	std::string out;

	for (auto it = conn->writes.rbegin(); it != conn->writes.rend() && left > 0; ++it) {
		size_t take = left < (*it)->len ? left : (*it)->len;
		out.insert(0, (*it)->text + (*it)->len - take, take);
		left -= take;
	}
	return out;
}

/* Send what each is owed, as far as its socket takes it, until every
 * one has all or the deadline (clock_now_ms()) passes.  All are polled
 * together: a client that does not read holds up no other's reply. */
static void
exit_send(std::vector<struct exit_out> *outs, long long deadline)
{
	for (;;) {
		std::vector<struct pollfd> slow;
		for (struct exit_out &o : *outs) {
			while (o.off < o.text.size()) {
				ssize_t n = send(o.fd, o.text.data() + o.off, o.text.size() - o.off,
				    MSG_DONTWAIT | MSG_NOSIGNAL);
				if (n > 0) {
					o.off += (size_t)n;
					continue;
				}
				if (n < 0 && errno == EINTR)
					continue;
				if (n < 0 && errno == EAGAIN)
					slow.push_back({o.fd, POLLOUT, 0});
				else
					o.off = o.text.size();  /* gone: nothing more to send */
				break;
			}
		}
		long long left = deadline - clock_now_ms();
		if (slow.empty() || left <= 0)
			return;
		if (poll(slow.data(), slow.size(), (int)left) < 0 && errno != EINTR)
			return;
	}
}

void
control_exit(struct control *c, int code)
{
	std::vector<struct exit_out> outs;
	uv_os_fd_t fd;

	if (!c->listening)
		return;
	/* The name first: a script that starts the next wrapper as soon as
	 * its stop returns must not find this one's socket still there, and
	 * answering (the listening descriptor lives until the exit). */
	remove_socket(c);
	/*
	 * The loop runs no more, so what libuv still holds for a connection
	 * (its socket's buffer was full) would never go, and uv_try_write()
	 * refuses to write past it (UV_EAGAIN while a stream's queue is not
	 * empty: src/unix/stream.c, uv_try_write2): the verdict would be lost.
	 * Running the loop again would do more than write (the daemon's
	 * handles are in it).  So each connection's unsent lines and then its
	 * verdict are sent here, with poll(2) for room, CONTROL_EXIT_MS at
	 * most in all: a client that reads takes it at once (a reply is a few
	 * hundred bytes, the queue at most CONTROL_QUEUE_MAX), and the time is
	 * only ever spent on one that does not, while the supervisor waits
	 * for this exit.
	 */
	long long deadline = clock_now_ms() + CONTROL_EXIT_MS;
	for (struct control_conn *conn : c->conns) {
		struct exit_out o = {-1, conn_unsent(conn), 0};
		if (conn->waiting)
			o.text += conn->cmd == CTL_STOP ?
			    "ok stopped; the wrapper exits with status " + std::to_string(code) + "\n" :
			    "fail the wrapper is exiting (status " + std::to_string(code) + ")\n";
		conn->waiting = false;
		if (!o.text.empty() && uv_fileno((uv_handle_t *)&conn->pipe, &fd) == 0) {
			o.fd = fd;
			outs.push_back(o);
		}
	}
	exit_send(&outs, deadline);
	/* Closed now (uv_close() closes a stream's descriptor at once): its
	 * client sees the end after the verdict, and libuv's queued copy of
	 * the lines is cancelled, never written a second time should the
	 * loop run again (uv__stream_destroy). */
	std::vector<struct control_conn *> all = c->conns;
	for (struct control_conn *conn : all)
		conn_close(conn);
	c->listening = false;
}

void
control_close(struct control *c)
{
	if (!c->listening)
		return;
	std::vector<struct control_conn *> all = c->conns;
	for (struct control_conn *conn : all)
		conn_close(conn);
	remove_socket(c);
	uv_close((uv_handle_t *)&c->server, NULL);
	c->listening = false;
}
