/*
 * spawn_test.cc: the daemon's environment and its uv_spawn (spawn.cc).
 *
 * Real spawns of /bin/sh on a loop of their own: the exit callback only
 * records, the checks come after uv_run returns, and every loop closes
 * with uv_loop_close() == 0.
 */
#include <doctest/doctest.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include <string>
#include <vector>

#include "settings.h"
#include "spawn.h"

TEST_CASE("spawn: the environment")
{
	typedef std::vector<std::string> v;
	static const struct {
		v env;
		v extra;
		v want;
	} cases[] = {
		{{}, {"GITALY_UPGRADES_ENABLED=true"}, {"GITALY_UPGRADES_ENABLED=true"}},
		{{"PATH=/bin", "HOME=/root"}, {"GITALY_UPGRADES_ENABLED=true"},
		    {"PATH=/bin", "HOME=/root", "GITALY_UPGRADES_ENABLED=true"}},
		/* An existing variable of the same name is replaced, once. */
		{{"A=1", "GITALY_UPGRADES_ENABLED=false", "B=2"}, {"GITALY_UPGRADES_ENABLED=true"},
		    {"A=1", "B=2", "GITALY_UPGRADES_ENABLED=true"}},
		{{"GITALY_UPGRADES_ENABLED="}, {"GITALY_UPGRADES_ENABLED=true"},
		    {"GITALY_UPGRADES_ENABLED=true"}},
		/* Names are compared whole. */
		{{"GITALY=x", "GITALY_X=y", "GITAL=z"}, {"GITALY=new"},
		    {"GITALY_X=y", "GITAL=z", "GITALY=new"}},
		{{"GITALY=x", "GITALY_X=y"}, {"GITALY_X=new"}, {"GITALY=x", "GITALY_X=new"}},
		{{"gitaly=x"}, {"GITALY=new"}, {"gitaly=x", "GITALY=new"}},
		/* Values may hold '='; only the name before the first counts. */
		{{"OPTS=a=b", "A=B=C"}, {"A=x=y"}, {"OPTS=a=b", "A=x=y"}},
		{{"K=v"}, {}, {"K=v"}},
		{{"K=v"}, {"X=1", "Y=2"}, {"K=v", "X=1", "Y=2"}},
		{{"X=0", "K=v", "Y=0"}, {"X=1", "Y=2"}, {"K=v", "X=1", "Y=2"}},
		/* An empty value is still a value. */
		{{"K=v"}, {"K="}, {"K="}},
	};
	for (const auto &c : cases) {
		std::vector<std::string> copy = c.env;
		std::vector<char *> envp;
		std::string line;

		for (std::string &e : copy)
			envp.push_back(&e[0]);
		envp.push_back(NULL);
		for (const std::string &e : c.env)
			line += "[" + e + "]";
		line += " + ";
		for (const std::string &e : c.extra)
			line += "[" + e + "]";
		CAPTURE(line);
		CHECK(spawn_environment(envp.data(), c.extra) == c.want);
	}
	CHECK(spawn_environment(NULL, {"A=1"}) == v{"A=1"});
}

TEST_CASE("spawn: exit codes for exec failures")
{
	static const struct {
		int err;
		int code;
	} cases[] = {
		{UV_ENOENT, 127}, {UV_EACCES, 126}, {UV_EPERM, 126}, {-ENOEXEC, 126},
		{UV_ENOMEM, 1}, {UV_EAGAIN, 1}, {UV_E2BIG, 1}, {UV_EINVAL, 1},
	};
	for (const auto &c : cases) {
		CAPTURE(c.err);
		CHECK(spawn_exit_code(c.err) == c.code);
	}
}

/* What the exit callback saw. */
struct outcome {
	int calls;
	int64_t exit_status;
	int term_signal;
};

static void
exit_cb(uv_process_t *p, int64_t exit_status, int term_signal)
{
	struct outcome *o = (struct outcome *)p->data;

	o->calls++;
	o->exit_status = exit_status;
	o->term_signal = term_signal;
	uv_close((uv_handle_t *)p, NULL);
}

TEST_CASE("spawn: a real child on a loop")
{
	uv_loop_t loop;
	uv_process_t proc;
	struct outcome o = {0, -1, -1};
	struct settings s;

	REQUIRE(uv_loop_init(&loop) == 0);
	proc.data = &o;

	SUBCASE("its exit code") {
		s.argv = {"/bin/sh", "-c", "exit 7"};
		REQUIRE(spawn_daemon(&loop, &proc, &s, exit_cb) == 0);
		CHECK(proc.pid > 0);
		CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
		CHECK(o.calls == 1);
		CHECK(o.exit_status == 7);
		CHECK(o.term_signal == 0);
	}
	SUBCASE("its environment: ours plus GITALY_UPGRADES_ENABLED=true") {
		REQUIRE(setenv("PIDSITTER_SPAWN_TEST", "kept", 1) == 0);
		REQUIRE(setenv("GITALY_UPGRADES_ENABLED", "false", 1) == 0);
		s.argv = {"/bin/sh", "-c",
		    "[ \"$GITALY_UPGRADES_ENABLED\" = true ] || exit 3; "
		    "[ \"$PIDSITTER_SPAWN_TEST\" = kept ] || exit 4; "
		    "[ \"$(env | grep -c '^GITALY_UPGRADES_ENABLED=')\" = 1 ] || exit 5; "
		    "exit 0"};
		REQUIRE(spawn_daemon(&loop, &proc, &s, exit_cb) == 0);
		unsetenv("PIDSITTER_SPAWN_TEST");
		unsetenv("GITALY_UPGRADES_ENABLED");
		CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
		CHECK(o.calls == 1);
		CHECK(o.exit_status == 0);
	}
	SUBCASE("the settings' environment, arguments and working directory") {
		s.env = {"A=1", "B=two words"};
		s.workdir = "/";
		s.argv = {"/bin/sh", "-c",
		    "[ \"$A\" = 1 ] && [ \"$B\" = 'two words' ] && [ \"$(pwd -P)\" = / ] && "
		    "[ \"$0\" = name ] && [ \"$1\" = 'arg one' ] && [ $# = 2 ] && exit 9",
		    "name", "arg one", ""};
		REQUIRE(spawn_daemon(&loop, &proc, &s, exit_cb) == 0);
		CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
		CHECK(o.calls == 1);
		CHECK(o.exit_status == 9);
	}
	SUBCASE("killed by a signal") {
		s.argv = {"/bin/sh", "-c", "kill -TERM $$; exit 1"};
		REQUIRE(spawn_daemon(&loop, &proc, &s, exit_cb) == 0);
		CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
		CHECK(o.calls == 1);
		CHECK(o.term_signal == SIGTERM);
	}
	SUBCASE("our process group, and our stdout") {
		int fds[2], saved = dup(1);
		char buf[64];
		REQUIRE(saved >= 0);
		REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
		REQUIRE(dup2(fds[1], 1) == 1);
		close(fds[1]);
		s.argv = {"/bin/sh", "-c", "echo hello; exec sleep 30"};
		int r = spawn_daemon(&loop, &proc, &s, exit_cb);
		dup2(saved, 1);
		close(saved);
		REQUIRE(r == 0);
		/* The pipe's only writer now is the child. */
		ssize_t n = read(fds[0], buf, 6);
		CHECK(n == 6);
		CHECK(std::string(buf, 6) == "hello\n");
		close(fds[0]);
		CHECK(getpgid(proc.pid) == getpgrp());
		CHECK(getsid(proc.pid) == getsid(0));
		CHECK(uv_process_kill(&proc, SIGTERM) == 0);
		CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
		CHECK(o.calls == 1);
		CHECK(o.term_signal == SIGTERM);
	}
	SUBCASE("a missing binary fails at once") {
		s.argv = {"/nonexistent/gitaly", "serve"};
		CHECK(spawn_daemon(&loop, &proc, &s, exit_cb) == UV_ENOENT);
		uv_close((uv_handle_t *)&proc, NULL);
		CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
		CHECK(o.calls == 0);
		s.argv = {"no-such-binary-in-path-pidsitter"};
		CHECK(spawn_daemon(&loop, &proc, &s, exit_cb) == UV_ENOENT);
		uv_close((uv_handle_t *)&proc, NULL);
		CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
	}
	SUBCASE("a file that cannot be executed") {
		char tmpl[] = "/tmp/pidsitter-spawn-XXXXXX";
		REQUIRE(mkdtemp(tmpl) != NULL);
		std::string path = std::string(tmpl) + "/gitaly";
		int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		REQUIRE(fd >= 0);
		CHECK(write(fd, "#!/bin/sh\nexit 0\n", 17) == 17);
		close(fd);
		s.argv = {path};
		int r = spawn_daemon(&loop, &proc, &s, exit_cb);
		CHECK(r == UV_EACCES);
		CHECK(spawn_exit_code(r) == 126);
		uv_close((uv_handle_t *)&proc, NULL);
		CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
		CHECK(o.calls == 0);
		unlink(path.c_str());
		rmdir(tmpl);
	}

	CHECK(uv_loop_close(&loop) == 0);
}
