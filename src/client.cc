/*
 * client.cc: pidsitter -s COMMAND (control.h has the protocol).
 */
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <string>

#include "clock.h"

/* A reply line is a few hundred bytes; more is not a wrapper talking. */
#define CLIENT_LINE_MAX 65536

/* Milliseconds left before the deadline (-1: none). */
static int
left_ms(long long deadline)
{
	long long left;

	if (deadline < 0)
		return -1;
	left = deadline - clock_now_ms();
	return left < 0 ? 0 : left > 1000000 ? 1000000 : (int)left;
}

static int
say(int code, const std::string &msg)
{
	fprintf(stderr, "pidsitter: %s\n", msg.c_str());
	return code;
}

static int
timed_out(const struct control_request *req, const std::string &path)
{
	if (req->cmd == CTL_STATUS)
		return say(CLIENT_TIMEOUT, "no answer from " + path + " in time");
	return say(CLIENT_TIMEOUT, "no verdict from " + path + " in time; the " +
	    control_cmd_name(req->cmd) + " goes on");
}

/* Wait until fd is ready for events; 0, or -ETIMEDOUT. */
static int
wait_fd(int fd, short events, long long deadline)
{
	struct pollfd p = {fd, events, 0};
	int r;

	do
		r = poll(&p, 1, left_ms(deadline));
	while (r < 0 && errno == EINTR);
	return r == 0 ? -ETIMEDOUT : 0;
}

static int
connect_to(const char *path, long long deadline, int *out)
{
	struct sockaddr_un sa;
	std::string where = path;
	size_t len = where.size();
	int fd, dirfd = -1, r;

	/* A path longer than a socket address holds (108 bytes, unix(7)):
	 * through its directory, held open, as the wrapper binds it. */
	if (len >= sizeof sa.sun_path) {
		size_t slash = where.find_last_of('/');
		if (slash == std::string::npos || slash == 0)
			return -ENAMETOOLONG;
		dirfd = open(where.substr(0, slash).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dirfd < 0)
			return -errno;
		where = "/proc/self/fd/" + std::to_string(dirfd) + where.substr(slash);
		len = where.size();
		if (len >= sizeof sa.sun_path) {
			close(dirfd);
			return -ENAMETOOLONG;
		}
	}
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, where.data(), len);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		r = -errno;
		if (dirfd >= 0)
			close(dirfd);
		return r;
	}
	/* A full backlog makes a Unix connect wait (EAGAIN when it may
	 * not): retried until the deadline, a busy wrapper is no absent
	 * one. */
	while ((r = connect(fd, (struct sockaddr *)&sa,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1))) < 0 &&
	    errno == EAGAIN) {
		struct timespec pause = {0, 10 * 1000000};
		if (left_ms(deadline) == 0) {
			errno = ETIMEDOUT;
			break;
		}
		nanosleep(&pause, NULL);
	}
	if (r < 0) {
		r = -errno;
		close(fd);
	} else {
		*out = fd;
	}
	if (dirfd >= 0)
		close(dirfd);
	return r;
}

/* Is the peer root, ourselves, or the owner of the socket file (a wrapper
 * running as the daemon's user, asked by root)?  Whoever else listens
 * there is not the wrapper we mean to control, and must not be told our
 * requests. */
static bool
peer_trusted(int fd, const char *path, uid_t *uid)
{
	struct ucred cred;
	socklen_t len = sizeof cred;
	struct stat st;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return false;
	*uid = cred.uid;
	if (cred.uid == 0 || cred.uid == geteuid())
		return true;
	return lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_uid == cred.uid;
}

/* A reply for a terminal: a control character (an escape sequence from
 * whoever listens at the path) becomes '?'; a tab stays. */
static std::string
printable(const std::string &text)
{
	std::string out = text;

	for (char &ch : out)
		if (((unsigned char)ch < 0x20 && ch != '\t') || ch == 0x7f)
			ch = '?';
	return out;
}

/* One reply line: 0 when it ends the reply (*code set), 1 otherwise. */
static int
take_line(const std::string &raw, int *code)
{
	std::string line = printable(raw);

	if (line.compare(0, 5, "info ") == 0) {
		printf("%s\n", line.c_str() + 5);
		fflush(stdout);
		return 1;
	}
	if (line.compare(0, 3, "ok ") == 0 || line == "ok") {
		if (line.size() > 3)
			printf("%s\n", line.c_str() + 3);
		fflush(stdout);
		*code = CLIENT_OK;
		return 0;
	}
	if (line.compare(0, 5, "fail ") == 0) {
		fprintf(stderr, "pidsitter: %s\n", line.c_str() + 5);
		*code = CLIENT_FAILED;
		return 0;
	}
	fprintf(stderr, "pidsitter: unexpected reply: %.200s\n", line.c_str());
	*code = CLIENT_FAILED;
	return 0;
}

int
client_run(const char *path, const struct control_request *req, uint64_t timeout_ms)
{
	long long deadline = timeout_ms > 0 ? clock_now_ms() + (long long)timeout_ms : -1;
	std::string request = control_cmd_name(req->cmd), pending;
	std::string where = path;
	char buf[4096];
	size_t off = 0;
	uid_t uid = 0;
	int fd = -1, r, code = CLIENT_FAILED;

	r = connect_to(path, deadline, &fd);
	if (r == -ENOENT || r == -ECONNREFUSED)
		return say(CLIENT_NO_WRAPPER, "no pidsitter answers at " + where + ": " +
		    strerror(-r));
	if (r == -ETIMEDOUT)
		return timed_out(req, where);
	if (r < 0)
		return say(CLIENT_FAILED, "cannot connect to " + where + ": " + strerror(-r));
	if (!peer_trusted(fd, path, &uid)) {
		close(fd);
		return say(CLIENT_FAILED, "refusing to talk to " + where + ": uid " +
		    std::to_string(uid) + " listens there, which is neither root, this "
		    "user nor the socket's owner");
	}
	if (req->json)
		request += " json";
	request += "\n";
	while (off < request.size()) {
		ssize_t n = send(fd, request.data() + off, request.size() - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EAGAIN) {
			if (wait_fd(fd, POLLOUT, deadline) < 0) {
				close(fd);
				return timed_out(req, where);
			}
			continue;
		}
		/* Closed on us: a refusal may be waiting to be read. */
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
			break;
		if (n < 0 && errno != EINTR) {
			r = errno;
			close(fd);
			return say(CLIENT_FAILED, "cannot send to " + where + ": " + strerror(r));
		}
		if (n > 0)
			off += (size_t)n;
	}
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof buf, 0);
		if (n < 0 && errno == EAGAIN) {
			if (wait_fd(fd, POLLIN, deadline) < 0) {
				close(fd);
				return timed_out(req, where);
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			std::string err = n < 0 ? std::string(": ") + strerror(errno) : "";
			close(fd);
			return say(CLIENT_FAILED, where + " closed the connection without a "
			    "verdict" + err);
		}
		pending.append(buf, (size_t)n);
		size_t nl;
		while ((nl = pending.find('\n')) != std::string::npos) {
			std::string line = pending.substr(0, nl);
			pending.erase(0, nl + 1);
			if (take_line(line, &code) == 0) {
				close(fd);
				return code;
			}
		}
		if (pending.size() > CLIENT_LINE_MAX) {
			close(fd);
			return say(CLIENT_FAILED, where + " sent a line too long to be a reply");
		}
	}
}
