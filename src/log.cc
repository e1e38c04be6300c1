/*
 * log.cc: logrus-compatible lines (doc/DESIGN.md, "Logging and reporting").
 *
 * Text:  time="2026-11-27T09:44:00.123Z" level=info msg="Wrapper started" pid=7 wrapper=7
 * JSON:  {"level":"info","msg":"Wrapper started","pid":7,"time":"...","wrapper":7}
 *
 * logrus puts time, level and msg first in text and sorts the other keys;
 * its JSON formatter is a Go map, so encoding/json sorts every key.  We do
 * the same so that existing log parsers keep working.
 */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "settings.h"

static int log_fmt = LOG_FORMAT_TEXT;
static int log_verbose;
static long log_wrapper;
static int log_fd = 1;
/* How a line is written: a pipe (runit's svlogd) or a socket (journald)
 * that is full must not stop the wrapper, which would then forward no
 * signal and notice no death; such a line is dropped and counted. */
enum { WRITE_PLAIN, WRITE_PIPE_NOWAIT, WRITE_SOCKET_NOWAIT };
static int log_how = WRITE_PLAIN;
static unsigned long log_dropped;
/* How long a line that is not volatile waits for a full pipe. */
#define LOG_FULL_WAIT_MS 1000

static const char *const level_names[] = {"debug", "info", "warning", "error", "fatal"};

void
log_init(int format, int verbose, long wrapper_pid, int fd)
{
	log_fmt = format;
	log_verbose = verbose;
	log_wrapper = wrapper_pid;
	log_fd = fd;
	log_dropped = 0;
	/* Not O_NONBLOCK on the fd: the daemon shares its file description
	 * and would get EAGAIN.  Per write instead: RWF_NOWAIT for a pipe,
	 * MSG_DONTWAIT for a socket; a regular file or a tty blocks as
	 * usual (a disk that is slow is not one that never drains). */
	struct stat st;
	log_how = WRITE_PLAIN;
	if (fstat(fd, &st) == 0) {
		if (S_ISFIFO(st.st_mode))
			log_how = WRITE_PIPE_NOWAIT;
		else if (S_ISSOCK(st.st_mode))
			log_how = WRITE_SOCKET_NOWAIT;
	}
}

unsigned long
log_dropped_lines(void)
{
	return log_dropped;
}

/* Write a whole line: 1, or 0 when it would block (dropped), or -1. */
static int
write_line(const char *p, size_t left)
{
	while (left > 0) {
		ssize_t n;

		if (log_how == WRITE_PIPE_NOWAIT) {
			struct iovec iov = {(void *)p, left};
			n = pwritev2(log_fd, &iov, 1, -1, RWF_NOWAIT);
			if (n < 0 && (errno == EOPNOTSUPP || errno == EINVAL)) {
				log_how = WRITE_PLAIN;  /* a kernel without it */
				continue;
			}
		} else if (log_how == WRITE_SOCKET_NOWAIT) {
			n = send(log_fd, p, left, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n < 0 && errno == ENOTSOCK) {
				log_how = WRITE_PLAIN;
				continue;
			}
		} else {
			n = write(log_fd, p, left);
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* EAGAIN before any byte: nothing of the line went out. */
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		}
		p += n;
		left -= (size_t)n;
	}
	return 1;
}

/* Length of the valid UTF-8 sequence at s, or 0 when it is not one;
 * *code gets the code point. */
static size_t
utf8_decode(const unsigned char *s, unsigned *code)
{
	unsigned char c = s[0];
	size_t n;
	unsigned cp;

	if (c < 0x80) {
		*code = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and values past U+10FFFF are invalid. */
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*code = cp;
	return n;
}

/* Code points Go's strconv.Quote escapes although they are valid: C1
 * controls, spaces other than ' ', format characters, line and paragraph
 * separators, private use.  (Go also escapes unassigned code points; that
 * needs the Unicode tables, which this does not carry.) */
static bool
go_unprintable(unsigned cp)
{
	return (cp >= 0x80 && cp <= 0xa0) || cp == 0xad || (cp >= 0x600 && cp <= 0x605) ||
	    cp == 0x61c || cp == 0x6dd || cp == 0x70f || cp == 0x180e ||
	    (cp >= 0x2000 && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202f) ||
	    (cp >= 0x205f && cp <= 0x206f) || cp == 0x3000 ||
	    (cp >= 0xe000 && cp <= 0xf8ff) || cp == 0xfeff || (cp >= 0xfff9 && cp <= 0xfffb) ||
	    cp == 0xfffe || cp == 0xffff || (cp >= 0xe0000 && cp <= 0xe007f) || cp >= 0xf0000;
}

static void
append_hex(std::string *out, const char *prefix, unsigned v, int width)
{
	char buf[16];
	snprintf(buf, sizeof buf, "%s%0*x", prefix, width, v);
	out->append(buf);
}

void
log_quote_text(std::string *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	out->push_back('"');
	while (*p) {
		unsigned char c = *p;
		unsigned cp;
		size_t n;

		switch (c) {
		case '"': out->append("\\\""); p++; continue;
		case '\\': out->append("\\\\"); p++; continue;
		case '\a': out->append("\\a"); p++; continue;
		case '\b': out->append("\\b"); p++; continue;
		case '\f': out->append("\\f"); p++; continue;
		case '\n': out->append("\\n"); p++; continue;
		case '\r': out->append("\\r"); p++; continue;
		case '\t': out->append("\\t"); p++; continue;
		case '\v': out->append("\\v"); p++; continue;
		}
		if (c < 0x20 || c == 0x7f) {
			append_hex(out, "\\x", c, 2);
			p++;
			continue;
		}
		n = utf8_decode(p, &cp);
		if (n == 0) {
			append_hex(out, "\\x", c, 2);
			p++;
			continue;
		}
		if (go_unprintable(cp))
			append_hex(out, cp > 0xffff ? "\\U" : "\\u", cp, cp > 0xffff ? 8 : 4);
		else
			out->append((const char *)p, n);
		p += n;
	}
	out->push_back('"');
}

void
log_quote_json(std::string *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	out->push_back('"');
	while (*p) {
		unsigned char c = *p;
		unsigned cp;
		size_t n;

		switch (c) {
		case '"': out->append("\\\""); p++; continue;
		case '\\': out->append("\\\\"); p++; continue;
		case '\n': out->append("\\n"); p++; continue;
		case '\r': out->append("\\r"); p++; continue;
		case '\t': out->append("\\t"); p++; continue;
		}
		/* encoding/json's HTML-safe escapes, as logrus writes them. */
		if (c < 0x20 || c == '<' || c == '>' || c == '&') {
			append_hex(out, "\\u", c, 4);
			p++;
			continue;
		}
		n = utf8_decode(p, &cp);
		if (n == 0) {
			/* encoding/json turns invalid UTF-8 into U+FFFD. */
			out->append("\\ufffd");
			p++;
			continue;
		}
		if (cp == 0x2028 || cp == 0x2029)
			append_hex(out, "\\u", cp, 4);
		else
			out->append((const char *)p, n);
		p += n;
	}
	out->push_back('"');
}

/* logrus quotes a text value unless every byte is in this set. */
static bool
text_needs_quoting(const char *s)
{
	if (*s == '\0')
		return true;
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._/@^+", c) != NULL))
			return true;
	}
	return false;
}

static void
format_time(std::string *out, const struct timespec *when)
{
	struct tm tm;
	char buf[64];
	time_t secs = when->tv_sec;

	gmtime_r(&secs, &tm);
	snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, when->tv_nsec / 1000000);
	out->append(buf);
}

struct kv {
	const char *key;
	std::string val;  /* already a number, or the raw string */
	bool is_num;
};

std::string
log_format_line(int format, const struct timespec *when, int level,
    const char *msg, long wrapper_pid, log_fields fields)
{
	std::vector<kv> all;
	std::string stamp, line;
	char num[32];

	format_time(&stamp, when);
	snprintf(num, sizeof num, "%ld", wrapper_pid);
	/* gitaly's logger adds pid (its own pid); the wrapper adds wrapper. */
	all.push_back({"pid", num, true});
	all.push_back({"wrapper", num, true});
	for (const log_field &f : fields) {
		if (f.str != NULL) {
			all.push_back({f.key, f.str, false});
		} else {
			snprintf(num, sizeof num, "%lld", f.num);
			all.push_back({f.key, num, true});
		}
	}
	if (format == LOG_FORMAT_JSON) {
		all.push_back({"time", stamp, false});
		all.push_back({"level", level_names[level], false});
		all.push_back({"msg", msg, false});
	}
	std::stable_sort(all.begin(), all.end(),
	    [](const kv &a, const kv &b) { return strcmp(a.key, b.key) < 0; });

	if (format == LOG_FORMAT_JSON) {
		line.push_back('{');
		for (size_t i = 0; i < all.size(); i++) {
			if (i > 0)
				line.push_back(',');
			log_quote_json(&line, all[i].key);
			line.push_back(':');
			if (all[i].is_num)
				line.append(all[i].val);
			else
				log_quote_json(&line, all[i].val.c_str());
		}
		line.push_back('}');
		return line;
	}

	line.append("time=\"");
	line.append(stamp);
	line.append("\" level=");
	line.append(level_names[level]);
	line.append(" msg=");
	if (text_needs_quoting(msg))
		log_quote_text(&line, msg);
	else
		line.append(msg);
	for (const kv &f : all) {
		line.push_back(' ');
		line.append(f.key);
		line.push_back('=');
		if (f.is_num || !text_needs_quoting(f.val.c_str()))
			line.append(f.val);
		else
			log_quote_text(&line, f.val.c_str());
	}
	return line;
}

void
log_event(int level, const char *msg, log_fields fields)
{
	bool dropable = (level & LOG_VOLATILE) != 0;
	struct timespec now;
	std::string line;
	int r;

	level &= ~LOG_VOLATILE;
	if (level == LOG_DEBUG && log_verbose == 0)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	line = log_format_line(log_fmt, &now, level, msg, log_wrapper, fields);
	line.push_back('\n');
	if (log_dropped > 0) {
		/* Say first how much the reader missed: in the same write,
		 * so that the note goes out exactly when the line does. */
		std::string note = log_format_line(log_fmt, &now, LOG_WARN,
		    "log lines dropped: the log pipe was full", log_wrapper,
		    {{"dropped", log_dropped}});
		note.push_back('\n');
		line.insert(0, note);
	}
	/* One write per line keeps lines whole on a pipe shared with the
	 * daemon (writes up to PIPE_BUF are atomic).  Other write errors (a
	 * closed pipe, a full disk) are ignored. */
	r = write_line(line.data(), line.size());
	if (r == 0 && !dropable && log_how != WRITE_PLAIN) {
		/* Full.  A line about the daemon's life is worth a short wait
		 * for the reader (these are few); one of a signal storm's is
		 * not. */
		struct pollfd pfd = {log_fd, POLLOUT, 0};
		if (poll(&pfd, 1, LOG_FULL_WAIT_MS) == 1)
			r = write_line(line.data(), line.size());
	}
	if (r == 1)
		log_dropped = 0;
	else if (r == 0)
		log_dropped++;
}
