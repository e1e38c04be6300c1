/*
 * notify_test.cc: the daemon's notification datagrams (notifymsg.cc),
 * one line per rule, and the socket's address.
 */
#include <doctest/doctest.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>

#include "notify.h"
#include "options.h"
#include "report.h"

static int
parse(const std::string &text, struct notify_msg *m)
{
	const char *why = NULL;
	int r = notify_parse(text.data(), text.size(), m, &why);

	if (r != 0)
		CHECK(why != NULL);
	return r;
}

TEST_CASE("notify: what a datagram says")
{
	struct notify_msg m;

	CHECK(parse("READY=1", &m) == 0);
	CHECK(m.ready);
	CHECK(parse("READY=1\n", &m) == 0);
	CHECK(m.ready);
	CHECK(parse("READY=0", &m) == 0);
	CHECK(!m.ready);
	CHECK(parse("READY=1\nSTATUS=serving 3 clients\nMAINPID=4242\n", &m) == 0);
	CHECK(m.ready);
	CHECK(m.have_status);
	CHECK(m.status == "serving 3 clients");
	CHECK(m.mainpid == 4242);
	CHECK(parse("STATUS=", &m) == 0);
	CHECK(m.have_status);
	CHECK(m.status.empty());
	CHECK(parse("WATCHDOG=1", &m) == 0);
	CHECK(m.watchdog);
	CHECK(parse("WATCHDOG=trigger", &m) == 0);
	CHECK(m.watchdog_trigger);
	CHECK(!m.watchdog);
	CHECK(parse("RELOADING=1\nMONOTONIC_USEC=123456", &m) == 0);
	CHECK(m.reloading);
	CHECK(m.have_monotonic);
	CHECK(m.monotonic_usec == 123456);
	CHECK(parse("STOPPING=1", &m) == 0);
	CHECK(m.stopping);
	CHECK(parse("EXTEND_TIMEOUT_USEC=5000000", &m) == 0);
	CHECK(m.have_extend);
	CHECK(m.extend_usec == 5000000);
	CHECK(parse("ERRNO=2", &m) == 0);
	CHECK(m.err == 2);
	CHECK(parse("BARRIER=1", &m) == 0);
	CHECK(m.barrier);
	/* Unknown keys are ignored, as systemd ignores them. */
	CHECK(parse("FDSTORE=1\nX_MY_KEY=anything goes", &m) == 0);
	CHECK(!m.ready);
	/* Empty lines are allowed. */
	CHECK(parse("\n\nREADY=1\n\n", &m) == 0);
	CHECK(m.ready);
}

TEST_CASE("notify: malformed datagrams are refused whole")
{
	struct notify_msg m;

	CHECK(parse("", &m) == -EINVAL);
	CHECK(parse("READY", &m) == -EINVAL);
	CHECK(parse("=1", &m) == -EINVAL);
	CHECK(parse("ready=1", &m) == -EINVAL);
	CHECK(parse("READY =1", &m) == -EINVAL);
	CHECK(parse("READY=1\ngarbage", &m) == -EINVAL);
	CHECK(!m.ready);  /* nothing of a refused datagram counts */
	CHECK(parse(std::string("STATUS=a\0b", 10), &m) == -EINVAL);
	CHECK(parse("STATUS=a\rb", &m) == -EINVAL);
	CHECK(parse("MAINPID=", &m) == -EINVAL);
	CHECK(parse("MAINPID=0", &m) == -EINVAL);
	CHECK(parse("MAINPID=-1", &m) == -EINVAL);
	CHECK(parse("MAINPID=12a", &m) == -EINVAL);
	CHECK(parse("MAINPID= 12", &m) == -EINVAL);
	CHECK(parse("MAINPID=99999999999999999999", &m) == -EINVAL);
	CHECK(parse("MAINPID=2147483648", &m) == -EINVAL);
	CHECK(parse("WATCHDOG=2", &m) == -EINVAL);
	CHECK(parse("EXTEND_TIMEOUT_USEC=18446744073709551616", &m) == -EINVAL);
	CHECK(parse("ERRNO=x", &m) == -EINVAL);
	CHECK(parse(std::string(4096, 'A').replace(0, 7, "STATUS="), &m) == 0);
	CHECK(parse(std::string(4097, 'A').replace(0, 7, "STATUS="), &m) == -EMSGSIZE);
}

TEST_CASE("notify: the address is stable for a pid file, and notify_socket wins")
{
	struct settings s;

	settings_defaults(&s);
	s.pid_file = "/run/gitaly/gitaly.pid";
	std::string a = notify_address(&s, "/elsewhere");
	CHECK(a.compare(0, 11, "@pidsitter/") == 0);
	CHECK(a.size() == 11 + 16);
	CHECK(notify_address(&s, "/") == a);
	s.pid_file = "gitaly.pid";
	CHECK(notify_address(&s, "/run/gitaly") == a);
	CHECK(notify_address(&s, "/run") != a);
	s.pid_file = "/run/gitaly/other.pid";
	CHECK(notify_address(&s, "/") != a);
	s.notify_socket = "/run/gitaly/notify.sock";
	CHECK(notify_address(&s, "/") == "/run/gitaly/notify.sock");
}

static const char *
no_env(const char *)
{
	return NULL;
}


static std::string
config_error(const char *text)
{
	struct options o;
	struct settings s;
	std::string err;
	char path[] = "/tmp/pidsitter-notify-test-XXXXXX";
	int fd = mkstemp(path);

	REQUIRE(fd >= 0);
	REQUIRE(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	o.config_file = path;
	o.argv = {"/bin/true"};
	int r = settings_resolve(&o, no_env, &s, &err);
	unlink(path);
	return r == 0 ? "" : err;
}

TEST_CASE("notify: ready = \"notify\" with notify = \"off\" is a configuration error")
{
	CHECK(config_error("pid_file = \"/run/x.pid\"\nready = \"notify\"\nnotify = \"off\"\n").find(
	    "needs notify = \"relay\"") != std::string::npos);
}

TEST_CASE("notify: the keys' values are checked")
{
	CHECK(config_error("pid_file = \"/x.pid\"\nnotify = \"relay\"\nready = \"notify\"\n") == "");
	CHECK(config_error("pid_file = \"/x.pid\"\nnotify = \"maybe\"\n").find(
	    "unknown notify 'maybe'") != std::string::npos);
	CHECK(config_error("pid_file = \"/x.pid\"\nready = \"soon\"\n").find(
	    "unknown ready 'soon'") != std::string::npos);
	CHECK(config_error("pid_file = \"/x.pid\"\nnotify_socket = \"rel/ative\"\n").find(
	    "not an absolute path") != std::string::npos);
	CHECK(config_error(("pid_file = \"/x.pid\"\nnotify_socket = \"/" + std::string(120, 'a') +
	    "\"\n").c_str()).find("longer than 100 bytes") != std::string::npos);
	CHECK(config_error("pid_file = \"/x.pid\"\nnotify_socket = \"\"\n") == "");
}

/* The service manager's end, with a receive queue that fills up. */
TEST_CASE("notify: sending upward never blocks: what the manager cannot take waits, in order, and goes later")
{
	char dir[] = "/tmp/pidsitter-notify-test-XXXXXX";
	REQUIRE(mkdtemp(dir) != NULL);
	std::string path = std::string(dir) + "/sd";
	struct sockaddr_un sa = {};
	int rx = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	char buf[256];

	REQUIRE(rx >= 0);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path.c_str(), path.size());
	REQUIRE(bind(rx, (struct sockaddr *)&sa, sizeof sa) == 0);

	/* Fill its queue (net.unix.max_dgram_qlen datagrams at most). */
	int sent = 0;
	while (report_notify(path.c_str(), "FILL=1") == 0)
		sent++;
	CHECK(report_notify(path.c_str(), "FILL=1") == -EAGAIN);

	struct settings s;
	struct reporter r;
	settings_defaults(&s);
	report_init(&r, &s, path.c_str());
	report_relay(&r, "WATCHDOG=1");
	report_relay(&r, "STATUS=two");
	CHECK(r.queue.size() == 2);
	CHECK(report_flush(&r));  /* still full */

	/* The manager reads: the queue goes out, in order. */
	for (int i = 0; i < sent; i++)
		REQUIRE(recv(rx, buf, sizeof buf, 0) > 0);
	CHECK(!report_flush(&r));
	CHECK(r.queue.empty());
	ssize_t n = recv(rx, buf, sizeof buf, 0);
	CHECK(std::string(buf, n > 0 ? (size_t)n : 0) == "WATCHDOG=1");
	n = recv(rx, buf, sizeof buf, 0);
	CHECK(std::string(buf, n > 0 ? (size_t)n : 0) == "STATUS=two");

	/* Bounded: the oldest goes once REPORT_QUEUE_MAX wait. */
	while (report_notify(path.c_str(), "FILL=1") == 0)
		;
	for (int i = 0; i < REPORT_QUEUE_MAX + 3; i++)
		report_relay(&r, "N=" + std::to_string(i));
	CHECK(r.queue.size() == REPORT_QUEUE_MAX);
	CHECK(r.queue.front() == "N=3");
	CHECK(r.queue_dropped == 3);

	close(rx);
	unlink(path.c_str());
	rmdir(dir);
}
