/*
 * spawn.h: start the daemon with uv_spawn.
 */
#ifndef PIDSITTER_SPAWN_H
#define PIDSITTER_SPAWN_H

#include <uv.h>

#include <string>
#include <vector>

#include "settings.h"

/* The daemon's environment: ours without NOTIFY_SOCKET, with each of
 * extra ("KEY=VALUE") replacing a variable of the same name or added. */
std::vector<std::string> spawn_environment(char **environ_in,
    const std::vector<std::string> &extra);

/*
 * Spawn s->argv with our stdin, stdout and stderr, our process group (as
 * gitaly-wrapper does, so a terminal's ^C reaches both), s->workdir and
 * spawn_environment().  libuv reports an exec failure synchronously, so
 * this returns 0 or a negative errno (UV_ENOENT, UV_EACCES...).  The
 * exit status arrives through exit_cb.
 *
 * notify_socket: the relay's address (notify.h), given as NOTIFY_SOCKET,
 * and WATCHDOG_PID (the wrapper's, systemd.exec(5)) left out so the daemon
 * takes WATCHDOG_USEC for itself; NULL: NOTIFY_SOCKET is left out.
 */
int spawn_daemon(uv_loop_t *loop, uv_process_t *proc, const struct settings *s,
    uv_exit_cb exit_cb, const char *notify_socket = NULL);

/* Can the daemon be started in dir: a directory we may search?  0, or
 * -ENOENT, -ENOTDIR, -EACCES...  uv_spawn cannot say which step failed:
 * its child reports the errno of a failed chdir exactly as that of a
 * failed exec (libuv's uv__process_child_init), so that a missing workdir
 * would look like a missing binary.  Checked first, it is told apart. */
int spawn_workdir_check(const char *dir);

/* What -n checks beyond the text: the facts of this machine a spawn
 * relies on (the workdir is a directory the daemon can be started in).
 * Returns 0, or -EINVAL with *err set, "FILE:LINE:COL: ..." when the setting
 * came from the configuration file. */
int spawn_settings_check(const struct settings *s, std::string *err);

/* The exit code pidsitter reports for an exec failure: 127 for a missing
 * binary, 126 for one that cannot be executed, 1 otherwise. */
int spawn_exit_code(int err);

#endif
