/*
 * control_test.cc: the control socket's request line (control.cc), one
 * line per rule; what a client is owed at the wrapper's exit
 * (control_exit), through a socket in a loop of the test's own.
 */
#include <doctest/doctest.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "control.h"

TEST_CASE("control: request lines, one per rule")
{
	static const struct {
		const char *line;
		int r;
		enum control_cmd cmd;
		bool json;
		const char *why;
	} cases[] = {
		{"status", 0, CTL_STATUS, false, ""},
		{"status json", 0, CTL_STATUS, true, ""},
		{"status\r", 0, CTL_STATUS, false, ""},  /* CRLF clients */
		{"upgrade", 0, CTL_UPGRADE, false, ""},
		{"stop", 0, CTL_STOP, false, ""},
		{"", -EINVAL, CTL_STATUS, false, "empty request"},
		{"\r", -EINVAL, CTL_STATUS, false, "empty request"},
		{"STATUS", -EINVAL, CTL_STATUS, false, "unknown command (status, upgrade or stop)"},
		{"stat", -EINVAL, CTL_STATUS, false, "unknown command (status, upgrade or stop)"},
		{"statusx", -EINVAL, CTL_STATUS, false, "unknown command (status, upgrade or stop)"},
		{" status", -EINVAL, CTL_STATUS, false, "unknown command (status, upgrade or stop)"},
		{"status ", -EINVAL, CTL_STATUS, false, "unexpected argument"},
		{"status  json", -EINVAL, CTL_STATUS, false, "unexpected argument"},
		{"status jsonx", -EINVAL, CTL_STATUS, false, "unexpected argument"},
		{"upgrade json", -EINVAL, CTL_STATUS, false, "unexpected argument"},
		{"stop now", -EINVAL, CTL_STATUS, false, "unexpected argument"},
		{"sta\ttus", -EINVAL, CTL_STATUS, false, "request is not printable text"},
		{"status\xc3\xa9", -EINVAL, CTL_STATUS, false, "request is not printable text"},
	};
	for (const auto &c : cases) {
		struct control_request req;
		const char *why = "";
		CAPTURE(c.line);
		CHECK(control_parse(c.line, strlen(c.line), &req, &why) == c.r);
		CHECK(std::string(why) == c.why);
		if (c.r == 0) {
			CHECK(req.cmd == c.cmd);
			CHECK(req.json == c.json);
		}
	}
	/* A NUL byte is no end of the line, and a long line is refused
	 * whatever it starts with. */
	struct control_request req;
	const char *why = "";
	CHECK(control_parse("stop\0x", 6, &req, &why) == -EINVAL);
	std::string longer = "status" + std::string(CONTROL_REQUEST_MAX, ' ');
	CHECK(control_parse(longer.data(), longer.size(), &req, &why) == -EINVAL);
	CHECK(std::string(why) == "request too long");
}

/* ---- the verdict at the wrapper's exit (control_exit) ---- */

namespace {

/* A control socket in a loop of its own, with the requests it took. */
struct server {
	uv_loop_t loop;
	struct control c;
	char dir[64];
	std::string path;
	std::vector<struct control_conn *> conns;
};

/* As watch.cc answers: a stop waits for the exit, after an info line;
 * a status is left to the test to answer. */
void
request_cb(struct control_conn *conn, const struct control_request *req, void *data)
{
	struct server *s = (struct server *)data;

	if (req->cmd == CTL_STOP) {
		control_wait(conn, CTL_STOP);
		control_info(conn, "stopping");
	}
	s->conns.push_back(conn);
}

void
server_open(struct server *s)
{
	std::string why;

	REQUIRE(uv_loop_init(&s->loop) == 0);
	snprintf(s->dir, sizeof s->dir, "/tmp/pidsitter-ctl.XXXXXX");
	REQUIRE(mkdtemp(s->dir) != NULL);
	s->path = std::string(s->dir) + "/sock";
	REQUIRE_MESSAGE(control_open(&s->c, &s->loop, s->path.c_str(), geteuid(), request_cb,
	    s, &why) == 0, why);
}

void
close_cb(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* After control_exit(): it closed every connection (their handles'
 * callbacks free them), the listening socket is the test's to close. */
void
server_close(struct server *s)
{
	CHECK(s->c.conns.empty());
	if (!s->c.conns.empty())
		return;  /* left open: closing them here would close them twice */
	uv_walk(&s->loop, close_cb, NULL);
	uv_run(&s->loop, UV_RUN_DEFAULT);
	CHECK(uv_loop_close(&s->loop) == 0);
	unlink(s->path.c_str());
	rmdir(s->dir);
}

void
expired_cb(uv_timer_t *t)
{
	*(bool *)t->data = true;
}

/* A client that sent request; the loop runs until the server took it, 10 s
 * at most: a server that never does (it refused the connection, say)
 * would leave UV_RUN_ONCE waiting for ever, with nothing else to wake it
 * but this timer. */
int
client(struct server *s, const char *request)
{
	struct sockaddr_un sa;
	size_t had = s->conns.size();
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	uv_timer_t limit;
	bool expired = false;

	REQUIRE(fd >= 0);
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, s->path.c_str(), s->path.size());
	REQUIRE(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
	REQUIRE(write(fd, request, strlen(request)) == (ssize_t)strlen(request));
	uv_timer_init(&s->loop, &limit);
	limit.data = &expired;
	uv_timer_start(&limit, expired_cb, 10000, 0);
	while (s->conns.size() == had && !expired)
		uv_run(&s->loop, UV_RUN_ONCE);
	/* Closed before it goes out of scope: libuv finishes a close at
	 * the end of the loop's next turn (uv__run_closing_handles,
	 * src/unix/core.c). */
	uv_close((uv_handle_t *)&limit, NULL);
	uv_run(&s->loop, UV_RUN_NOWAIT);
	REQUIRE_MESSAGE(s->conns.size() > had, "the server did not take the request \"" <<
	    std::string(request, strcspn(request, "\n")) << "\" within 10 s");
	return fd;
}

/* Info lines until libuv holds some back: the socket's buffer is full
 * (the client is not reading).  What the client is to read, appended to
 * *expect. */
void
fill(struct control_conn *conn, std::string *expect)
{
	int i;

	for (i = 0; i < 100000 && uv_stream_get_write_queue_size((uv_stream_t *)&conn->pipe) == 0;
	    i++) {
		std::string text = "line " + std::to_string(i) + " " + std::string(40, 'x');
		control_info(conn, text);
		*expect += "info " + text + "\n";
	}
	REQUIRE(uv_stream_get_write_queue_size((uv_stream_t *)&conn->pipe) > 0);
	REQUIRE(!conn->closing);
}

/* What the peer sends until its last line ("ok", "fail") or its close;
 * gives up after 10 s of silence.  Read in large pieces: the verdict can
 * only be written once most of the full socket buffer is read (a unix
 * stream socket is writable again below a quarter of its send buffer,
 * unix_writable in net/unix/af_unix.c), within CONTROL_EXIT_MS, also
 * under valgrind. */
std::string
read_reply(int fd)
{
	std::string out;
	std::vector<char> buf(256 * 1024);

	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 10000) <= 0)
			break;
		ssize_t n = read(fd, buf.data(), buf.size());
		if (n <= 0)
			break;
		out.append(buf.data(), (size_t)n);
		size_t start = out.size() > 1 ? out.rfind('\n', out.size() - 2) : std::string::npos;
		start = start == std::string::npos ? 0 : start + 1;
		if (out.back() == '\n' && (out.compare(start, 3, "ok ") == 0 ||
		    out.compare(start, 5, "fail ") == 0))
			break;
	}
	return out;
}

/* Its last line, for a message. */
std::string
last_line(const std::string &s)
{
	size_t at = s.size() > 1 ? s.rfind('\n', s.size() - 2) : std::string::npos;
	return at == std::string::npos ? s : s.substr(at + 1);
}

/* Not CHECK(a == b): the reply is some 15 KiB. */
bool
same(const std::string &a, const std::string &b)
{
	return a == b;
}

}  // namespace

TEST_CASE("control: the exit's verdict follows the lines libuv still holds")
{
	struct server s;
	std::string reply;

	server_open(&s);
	SUBCASE("a stop waiting, its earlier lines queued") {
		int fd = client(&s, "stop\n");
		std::string expect = "info stopping\n";
		fill(s.conns[0], &expect);
		expect += "ok stopped; the wrapper exits with status 7\n";
		/* The client reads only now, as the wrapper exits. */
		std::thread reader([&] { reply = read_reply(fd); });
		control_exit(&s.c, 7);
		reader.join();
		CHECK_MESSAGE(same(reply, expect), reply.size() << " bytes of " << expect.size() <<
		    ", the last: " << last_line(reply));
		close(fd);
	}
	SUBCASE("a status reply, its last line queued") {
		int fd = client(&s, "status\n");
		std::string expect;
		fill(s.conns[0], &expect);
		control_done(s.conns[0], true, "");
		expect += "ok \n";
		std::thread reader([&] { reply = read_reply(fd); });
		control_exit(&s.c, 0);
		reader.join();
		CHECK_MESSAGE(same(reply, expect), reply.size() << " bytes of " << expect.size() <<
		    ", the last: " << last_line(reply));
		close(fd);
	}
	SUBCASE("a client that never reads holds the others' verdicts back for a moment only") {
		int mute = client(&s, "stop\n");
		int fd = client(&s, "stop\n");
		std::string ignored, expect = "info stopping\n";
		fill(s.conns[0], &ignored);
		fill(s.conns[1], &expect);
		expect += "ok stopped; the wrapper exits with status 0\n";
		std::thread reader([&] { reply = read_reply(fd); });
		uint64_t start = uv_hrtime();
		control_exit(&s.c, 0);
		uint64_t took_ms = (uv_hrtime() - start) / 1000000;
		reader.join();
		CHECK_MESSAGE(same(reply, expect), reply.size() << " bytes of " << expect.size() <<
		    ", the last: " << last_line(reply));
		/* Bounded by CONTROL_EXIT_MS; the margin is for a loaded machine. */
		CHECK(took_ms < CONTROL_EXIT_MS + 5000);
		close(fd);
		close(mute);
	}
	server_close(&s);
}
