/*
 * pidfile.h: read a pid file safely, and parse its text.
 */
#ifndef PIDSITTER_PIDFILE_H
#define PIDSITTER_PIDFILE_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <string>

/* The longest pid file we read: "4194304\n" with generous whitespace. */
#define PIDFILE_MAX 64

/*
 * Parse the text of a pid file: optional surrounding whitespace (so the
 * "123\n" that shells and nginx write is fine), then decimal digits only,
 * within 1..pid_max.  Returns 0 and sets *pid, or -EINVAL and points *why at
 * a static reason ("empty", "not a decimal number", ...).
 */
int pidfile_parse(const char *buf, size_t len, long pid_max, pid_t *pid,
    const char **why);

/*
 * Read and parse the pid file at path, refusing files a stranger could
 * have written (see the man page, SECURITY): the file and every symbolic
 * link on the way to it must belong to the wrapper's user, root or
 * daemon_owner ((uid_t)-1: nobody else), and the file must not be group- or
 * world-writable.  The path is resolved one component at a time without
 * letting the kernel follow a link, and every check is made on the
 * descriptor that is then read, so renaming things meanwhile cannot slip
 * another file in.  Never blocks, and never opens anything but a regular
 * file (a FIFO or device is refused before it is opened).  Returns
 *   0        *pid is set
 *   -ENOENT  there is no such file
 *   -EINVAL  the text is not a pid (*why says how)
 *   -EPERM   the file is not to be trusted (*why says which rule, and the fix)
 *   -errno   it could not be read (EACCES, EISDIR, ELOOP...; *why says so)
 * When seen is given and the text was read (0 or -EINVAL), *seen is the
 * fstat() of the very descriptor it was read from.
 */
int pidfile_read(const char *path, long pid_max, uid_t daemon_owner, pid_t *pid,
    std::string *why, struct stat *seen = nullptr);

/*
 * Open the directory dir (O_PATH, into *fd) by the same walk as
 * pidfile_read(), and check that a stranger cannot put something in it:
 * it belongs to root, the wrapper's user or daemon_owner, and it is not
 * writable by group or others.  For the control socket (control.h).
 * 0, or -errno with *why (-EPERM: a rule refused it, *why says the fix).
 */
int pidfile_trusted_dir(const char *dir, uid_t daemon_owner, int *fd, std::string *why);

/* The kernel's pid_max, read once; 4194304 when it cannot be read. */
long pidfile_pid_max(void);

#endif
