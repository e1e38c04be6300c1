/*
 * nginx_fixture.cc: see nginx_fixture.h.
 */
#include "nginx_fixture.h"

#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>


#include <doctest/doctest.h>

#include "proc.h"

std::vector<pid_t>
children_of(const std::vector<pid_t> &parents)
{
	std::vector<pid_t> out;

	for (pid_t parent : parents) {
		std::vector<pid_t> c = proc_children(parent, false);
		out.insert(out.end(), c.begin(), c.end());
	}
	return out;
}

nginx_prefix::nginx_prefix()
{
	conf = dir / "nginx.conf";
	pidfile = dir / "nginx.pid";
	oldbin = pidfile + ".oldbin";
	errlog = dir / "error.log";
}

nginx_prefix::~nginx_prefix()
{
	w.reset();
	/* Masters name the prefix in their command line; workers are their
	 * children.  Collect all first: a worker whose master is gone is
	 * nobody's to find. */
	std::vector<pid_t> all = live();
	for (pid_t pid : children_of(all))
		all.push_back(pid);
	for (pid_t pid : all)
		kill(pid, SIGKILL);
}

void
nginx_prefix::met(pid_t pid)
{
	seen.push_back(pin(pid));
}

void
nginx_prefix::point_binary_at(const char *target)
{
	std::string tmp = binary + ".tmp";

	unlink(tmp.c_str());
	REQUIRE(symlink(target, tmp.c_str()) == 0);
	REQUIRE(rename(tmp.c_str(), binary.c_str()) == 0);
}

void
nginx_prefix::write_conf()
{
	std::string d = dir.path;

	std::string user;
	struct passwd *pw = getpwuid(geteuid());

	if (workers_as_wrapper_user && geteuid() == 0 && pw != NULL)
		user = std::string("user ") + pw->pw_name + ";\n";
	write_file(conf, user +
	    "daemon on;\n"
	    "master_process on;\n"
	    "worker_processes 1;\n"
	    "pid " + pidfile + ";\n"
	    "error_log " + errlog + " info;\n"
	    "events {}\n"
	    "http {\n"
	    "    access_log off;\n"
	    "    client_body_temp_path " + d + "/client_body;\n"
	    "    proxy_temp_path " + d + "/proxy;\n"
	    "    fastcgi_temp_path " + d + "/fastcgi;\n"
	    "    uwsgi_temp_path " + d + "/uwsgi;\n"
	    "    scgi_temp_path " + d + "/scgi;\n"
	    "    server {\n"
	    "        listen 127.0.0.1:" + std::to_string(port) + ";\n"
	    "        location / { return 200 \"ok\\n\"; }\n"
	    "    }\n"
	    "}\n");
}

std::vector<std::string>
nginx_prefix::wrapper(const std::vector<std::string> &options) const
{
	std::vector<std::string> a = {build_path("pidsitter")};

	a.insert(a.end(), options.begin(), options.end());
	a.insert(a.end(), {"-p", pidfile, "--", binary, "-p", dir.path + "/", "-e", errlog,
	    "-c", conf});
	return a;
}

pid_t
nginx_prefix::start(const std::vector<std::string> &options,
    const std::vector<std::string> &env)
{
	for (int attempt = 0; attempt < 5; attempt++) {
		port = free_port();
		write_conf();
		write_file(errlog, "");
		w.reset(new child());
		child_start(w.get(), wrapper(options), env);
		std::string gen2 = "msg=\"following new process\" generation=2 pid=" +
		    std::to_string(w->pid) + " ";
		if (child_wait_line(w.get(), gen2.c_str(), NGINX_DEADLINE_MS))
			break;
		REQUIRE(child_wait_exit(w.get(), NGINX_DEADLINE_MS));
		REQUIRE(read_file(errlog).find("Address already in use") != std::string::npos);
	}
	REQUIRE(w->pid > 0);
	REQUIRE_FALSE(w->exited);
	pid_t master = 0;
	REQUIRE(wait_until([&] { return (master = read_pid(pidfile)) > 0; }, NGINX_DEADLINE_MS));
	met(master);
	return master;
}

bool
nginx_prefix::line(const char *msg, const std::string &rest) const
{
	return child_wait_line(w.get(), log_msg(msg, rest).c_str(), NGINX_DEADLINE_MS);
}

pid_t
nginx_prefix::followed(unsigned gen)
{
	pid_t pid = child_wait_followed(w.get(), gen, NGINX_DEADLINE_MS);

	REQUIRE(pid > 0);
	met(pid);
	return pid;
}

bool
nginx_prefix::serves() const
{
	std::string r = tcp_exchange(port, "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n",
	    NGINX_DEADLINE_MS);

	CAPTURE(r);
	return r.compare(0, 13, "HTTP/1.1 200 ") == 0 && r.size() > 7 &&
	    r.compare(r.size() - 7, 7, "\r\n\r\nok\n") == 0;
}

bool
nginx_prefix::got(pid_t master, int num, const char *name) const
{
	return read_file(errlog).find(std::to_string(master) + "#" + std::to_string(master) +
	    ": signal " + std::to_string(num) + " (" + name + ") received from " +
	    std::to_string(w->pid)) != std::string::npos;
}

std::vector<pid_t>
nginx_prefix::live() const
{
	return live_of(seen, dir.path, w != nullptr ? w->pid : 0);
}

std::string
nginx_prefix::dump() const
{
	std::string s = w != nullptr ? child_dump(w.get()) : "no wrapper\n";

	s += "error.log:\n" + read_file(errlog) + "live:";
	for (pid_t pid : live())
		s += " " + std::to_string(pid);
	return s;
}
