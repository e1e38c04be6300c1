/*
 * control.cc: the control socket's server side (control.h has the
 * protocol; pidsitter(8), CONTROL, documents it for users).
 */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "pidfile.h"

/* ---- connections ---- */

/* A write in flight: the request and its bytes together. */
struct control_write {
	uv_write_t req;
	struct control_conn *conn;
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
	wr->req.data = wr;
	buf = uv_buf_init(wr->text, (unsigned)line.size());
	if (uv_write(&wr->req, (uv_stream_t *)&conn->pipe, &buf, 1, write_cb) != 0) {
		free(wr);
		conn_close(conn);
	}
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
		control_done(conn, false, "permission denied: only root and uid " +
		    std::to_string(geteuid()) + " may control this wrapper");
		return;
	}
	if (c->conns.size() > CONTROL_CONNS_MAX) {
		control_done(conn, false, "busy: too many control connections");
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

static int
fail(std::string *why, int err, const std::string &text)
{
	*why = text;
	return -err;
}

int
control_open(struct control *c, uv_loop_t *loop, const char *path, uid_t daemon_owner,
    control_request_fn request, void *data, std::string *why)
{
	std::string p = path, dir;
	struct sockaddr_un sa;
	struct stat st;
	socklen_t len;
	mode_t old_mask;
	pid_t other = 0;
	int fd = -1, r;

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
		r = bind(fd, (struct sockaddr *)&sa, len);
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
	uv_pipe_init(loop, &c->server, 0);
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

void
control_exit(struct control *c, int code)
{
	if (!c->listening)
		return;
	/* The loop runs no more: written now or never.  A few bytes on a
	 * socket whose buffer is empty, but never waited for. */
	for (struct control_conn *conn : c->conns) {
		if (!conn->waiting)
			continue;
		std::string line = conn->cmd == CTL_STOP ?
		    "ok stopped; the wrapper exits with status " + std::to_string(code) + "\n" :
		    "fail the wrapper is exiting (status " + std::to_string(code) + ")\n";
		uv_buf_t buf = uv_buf_init((char *)line.data(), (unsigned)line.size());
		uv_try_write((uv_stream_t *)&conn->pipe, &buf, 1);
		conn->waiting = false;
	}
	remove_socket(c);
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
