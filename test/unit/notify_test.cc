/*
 * notify_test.cc: the daemon's notification datagrams (notifymsg.cc),
 * one line per rule, and the socket's address.
 */
#include <doctest/doctest.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <string>

#include "notify.h"
#include "options.h"

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

TEST_CASE("notify: ready = \"notify\" with notify = \"off\" is a configuration error")
{
	struct options o;
	struct settings s;
	std::string err;
	char path[] = "/tmp/pidsitter-notify-test-XXXXXX";
	int fd = mkstemp(path);

	REQUIRE(fd >= 0);
	const char text[] = "pid_file = \"/run/x.pid\"\nready = \"notify\"\nnotify = \"off\"\n";
	REQUIRE(write(fd, text, sizeof text - 1) == (ssize_t)(sizeof text - 1));
	close(fd);
	o.config_file = path;
	o.argv = {"/bin/true"};
	CHECK(settings_resolve(&o, no_env, &s, &err) == -EINVAL);
	CHECK(err.find("needs notify = \"relay\"") != std::string::npos);
	unlink(path);
}
