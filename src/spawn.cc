/*
 * spawn.cc: uv_spawn of the daemon.
 */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

std::vector<std::string>
spawn_environment(char **environ_in, const std::vector<std::string> &extra)
{
	std::vector<std::string> env;

	for (char **e = environ_in; e != NULL && *e != NULL; e++) {
		const char *eq = strchr(*e, '=');
		size_t klen = eq ? (size_t)(eq - *e) : strlen(*e);
		bool replaced = false;

		/* systemd's socket is ours: the service's main process is the
		 * wrapper, and systemd would refuse the daemon's messages. */
		if (klen == 13 && strncmp(*e, "NOTIFY_SOCKET", 13) == 0)
			continue;
		for (const std::string &x : extra) {
			if (x.compare(0, klen, *e, klen) == 0 && x.size() > klen && x[klen] == '=') {
				replaced = true;
				break;
			}
		}
		if (!replaced)
			env.push_back(*e);
	}
	for (const std::string &x : extra)
		env.push_back(x);
	return env;
}

int
spawn_daemon(uv_loop_t *loop, uv_process_t *proc, const struct settings *s,
    uv_exit_cb exit_cb, const char *notify_socket)
{
	std::vector<std::string> extra = s->env;

	if (notify_socket != NULL)
		extra.push_back(std::string("NOTIFY_SOCKET=") + notify_socket);
	std::vector<std::string> env = spawn_environment(environ, extra);
	for (size_t i = 0; notify_socket != NULL && i < env.size(); i++)
		if (env[i].compare(0, 13, "WATCHDOG_PID=") == 0)
			env.erase(env.begin() + (long)i--);
	std::vector<char *> argv, envp;
	uv_stdio_container_t stdio[3];
	uv_process_options_t opts;

	for (const std::string &a : s->argv)
		argv.push_back(const_cast<char *>(a.c_str()));
	argv.push_back(NULL);
	for (const std::string &e : env)
		envp.push_back(const_cast<char *>(e.c_str()));
	envp.push_back(NULL);
	for (int i = 0; i < 3; i++) {
		stdio[i].flags = UV_INHERIT_FD;
		stdio[i].data.fd = i;
	}

	memset(&opts, 0, sizeof opts);
	opts.exit_cb = exit_cb;
	opts.file = argv[0];
	opts.args = argv.data();
	opts.env = envp.data();
	opts.cwd = s->workdir.empty() ? NULL : s->workdir.c_str();
	opts.stdio_count = 3;
	opts.stdio = stdio;
	/* libuv resets every signal disposition and the signal mask in the
	 * child, so our SIG_IGN for SIGPIPE does not leak into the daemon. */
	return uv_spawn(loop, proc, &opts);
}

int
spawn_workdir_check(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	/* chdir(2) needs search permission, for the effective ids. */
	if (faccessat(AT_FDCWD, dir, X_OK, AT_EACCESS) < 0)
		return -errno;
	return 0;
}

int
spawn_settings_check(const struct settings *s, std::string *err)
{
	int r;

	if (!s->workdir.empty() && (r = spawn_workdir_check(s->workdir.c_str())) < 0) {
		*err = (s->workdir_at.empty() ? "" : s->workdir_at + ": ") +
		    "workdir: cannot change to '" + s->workdir + "': " + strerror(-r);
		return -EINVAL;
	}
	return 0;
}

int
spawn_exit_code(int err)
{
	if (err == UV_ENOENT)
		return 127;
	if (err == UV_EACCES || err == -ENOEXEC || err == UV_EPERM)
		return 126;
	return 1;
}
