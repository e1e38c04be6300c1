/*
 * report.cc: status file and sd_notify, without libsystemd.
 */
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

static void
append_time(std::string *out, const struct timespec *ts)
{
	struct tm tm;
	char buf[64];
	time_t secs = ts->tv_sec;

	gmtime_r(&secs, &tm);
	snprintf(buf, sizeof buf, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\"",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, ts->tv_nsec / 1000000);
	out->append(buf);
}

std::string
report_status_json(const struct report_state *st, long wrapper_pid)
{
	std::string out = "{\"state\":";
	char buf[96];
	bool first = true;

	log_quote_json(&out, st->state);
	snprintf(buf, sizeof buf, ",\"wrapper\":%ld,\"current\":", wrapper_pid);
	out += buf;
	const struct report_gen *cur = NULL;
	for (const struct report_gen &g : st->gens)
		if (g.current)
			cur = &g;
	if (cur != NULL) {
		snprintf(buf, sizeof buf, "{\"pid\":%d,\"generation\":%u}", (int)cur->pid, cur->number);
		out += buf;
	} else {
		out += "null";
	}
	out += ",\"draining\":[";
	for (const struct report_gen &g : st->gens) {
		if (g.current)
			continue;
		snprintf(buf, sizeof buf, "%s{\"pid\":%d,\"generation\":%u}", first ? "" : ",",
		    (int)g.pid, g.number);
		out += buf;
		first = false;
	}
	out += "],\"last_upgrade\":{\"result\":";
	log_quote_json(&out, st->last_upgrade);
	out += ",\"time\":";
	if (st->last_upgrade_at.tv_sec != 0)
		append_time(&out, &st->last_upgrade_at);
	else
		out += "null";
	out += "}";
	if (st->exit_code >= 0) {
		snprintf(buf, sizeof buf, ",\"exit_code\":%d", st->exit_code);
		out += buf;
	}
	out += "}\n";
	return out;
}

/*
 * Create a new file beside path, ".<name>.<12 hex digits>": O_EXCL makes
 * the kernel create it or fail, so nothing already there is opened,
 * whatever it is (a FIFO would block an open for writing until a reader
 * comes, a hard link would be truncated, and a symbolic link is not
 * followed with O_CREAT|O_EXCL, open(2)).  A name taken is tried again
 * with other digits.  The leading dot keeps a temporary left by a killed
 * wrapper out of a plain ls and of globs on the status file's name.
 */
static int
create_temp(const char *path, std::string *tmp)
{
	const char *slash = strrchr(path, '/');
	std::string prefix = slash == NULL ? std::string(".") + path + "." :
	    std::string(path, (size_t)(slash - path + 1)) + "." + (slash + 1) + ".";
	static unsigned long long counter;

	for (int tries = 0; tries < 100; tries++) {
		unsigned long long r = 0;
		struct timespec ts;
		char suffix[32];
		int fd;

		/* Unpredictable names: another user cannot take them all in
		 * advance.  Without getrandom's bytes (early at boot), the
		 * clock, the pid and a counter still make a free name likely;
		 * O_EXCL keeps it safe either way. */
		if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			r = (unsigned long long)ts.tv_nsec * 2654435761ULL ^
			    ((unsigned long long)getpid() << 32) ^ ++counter;
		}
		snprintf(suffix, sizeof suffix, "%012llx", r & 0xffffffffffffULL);
		*tmp = prefix + suffix;
		/* 0644, less the umask, as the status file always had. */
		fd = open(tmp->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY |
		    O_CLOEXEC, 0644);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

/*
 * No fsync(): the file describes processes that a machine crash ends too,
 * and the directory is usually a tmpfs (/run) where it does nothing; on a
 * disk it would make the event loop wait for the disk at every change.  A
 * reader still never sees a part: rename() replaces the name at once.
 */
int
report_write_atomic(const char *path, const std::string &text)
{
	std::string tmp;
	const char *p = text.data();
	size_t left = text.size();
	int fd, r = 0;

	fd = create_temp(path, &tmp);
	if (fd < 0)
		return fd;
	while (left > 0) {
		ssize_t n = write(fd, p, left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		p += n;
		left -= (size_t)n;
	}
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp.c_str(), path) < 0)
		r = -errno;
	if (r != 0)
		unlink(tmp.c_str());
	return r;
}

int
report_notify(const char *socket_path, const std::string &msg)
{
	struct sockaddr_un sa;
	size_t len = strlen(socket_path);
	socklen_t salen;
	int fd, r = 0;

	if (len == 0 || len >= sizeof sa.sun_path || (socket_path[0] != '/' && socket_path[0] != '@'))
		return -EINVAL;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, socket_path, len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';  /* the abstract namespace */
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (sendto(fd, msg.data(), msg.size(), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen) < 0)
		r = -errno;
	close(fd);
	return r;
}
