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
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <vector>

#include <uv.h>

#include "clock.h"
#include "settings.h"

static int log_fmt = LOG_FORMAT_TEXT;
static int log_verbose;
static long log_wrapper;
static bool log_ready;

/*
 * Where the lines go, and how a write is kept from waiting.  The daemon
 * shares the wrapper's stdout, its open file description included, so
 * O_NONBLOCK must never be set there: the daemon's own writes would fail
 * with EAGAIN (a uv_pipe_t or uv_tty_t opened on fd 1 sets it, so this
 * uses neither).  Instead:
 *
 *   OUT_OWN      a pipe, a FIFO or a terminal, reopened through
 *                /proc/self/fd/N with O_NONBLOCK: a description of our
 *                own on the same pipe or terminal (open(2) of the magic
 *                link opens the object afresh, as proc(5) says for
 *                /proc/pid/fd);
 *   OUT_SOCKET   a socket (journald): MSG_DONTWAIT on each send(2);
 *   OUT_NOWAIT   a pipe we may not reopen (its inode is another user's,
 *                as runsv's log pipe is to a wrapper started by chpst -u):
 *                RWF_NOWAIT on each pwritev2(2), which pipes have;
 *   OUT_CHECKED  a FIFO or terminal we may not reopen, where RWF_NOWAIT
 *                fails with EOPNOTSUPP: poll(2) for room first, then
 *                write at most PIPE_BUF bytes, which then fit (a daemon
 *                writing to it in between can still make that wait: the
 *                one case left, see CAVEATS in pidsitter(8));
 *   OUT_PLAIN    a regular file or a device such as /dev/null: its writes
 *                do not wait for a reader (a full disk fails them);
 *   OUT_NONE     no log: the fd is closed, or a FIFO has no reader (the
 *                non-blocking open fails with ENXIO, fifo(7)); the open
 *                is tried again at most once a second.
 */
enum { OUT_NONE, OUT_OWN, OUT_SOCKET, OUT_NOWAIT, OUT_CHECKED, OUT_PLAIN };
static int log_fd = 1;          /* the shared descriptor */
static int log_out = -1;        /* the one written to: ours (OUT_OWN) or log_fd */
static int log_how = OUT_NONE;
static bool log_fifo_retry;     /* OUT_NONE: a FIFO that may get a reader */
static long long log_retry_at;  /* CLOCK_MONOTONIC ms of the next try */

/* Lines the log did not take yet, in order; the first one may be partly
 * written already.  Kept within LOG_QUEUE_MAX bytes. */
static std::deque<std::string> log_q;
static size_t log_q_off;        /* bytes of log_q.front() written */
static size_t log_q_bytes;      /* bytes queued, less log_q_off */
static unsigned long log_dropped;
static unsigned long long log_dropped_all;  /* never reset: a counter */

/* One more line lost. */
static void
drop_line(void)
{
	log_dropped++;
	log_dropped_all++;
}

/*
 * The loop writes the queue out when the log takes more: a uv_poll_t on
 * an epoll instance of our own that holds log_out (EPOLLOUT, level
 * triggered), readable exactly when log_out is writable.  Not on log_out
 * itself: uv_poll_init() sets O_NONBLOCK on the fd it is given
 * (libuv's src/unix/poll.c), which for a socket or a pipe we could not
 * reopen is the daemon's description.  The handle polls only while lines
 * are queued (an idle wrapper makes no wakeups) and is unreferenced, so
 * it never keeps the loop alive.
 */
static uv_poll_t log_poll;
static uv_loop_t *log_loop;     /* log_attach_loop's, until log_flush */
static int log_ep = -1;
static bool log_poll_open;
static bool log_poll_failed;
static bool log_polling;

static const char *const level_names[] = {"debug", "info", "warning", "error", "fatal"};

/* A non-blocking description of our own of what fd is open on: the fd
 * (close-on-exec, so the daemon never inherits it), or -errno. */
static int
reopen_nonblocking(int fd, const struct stat *st)
{
	char path[40];
	struct stat mine;
	int r;

	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	/* O_NOCTTY: a terminal must not become the wrapper's controlling
	 * terminal (were it a session leader without one). */
	r = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (r < 0)
		return -errno;
	if (fstat(r, &mine) < 0 || mine.st_dev != st->st_dev || mine.st_ino != st->st_ino) {
		close(r);
		return -ESTALE;  /* not what fd is open on */
	}
	return r;
}

/* Add log_out to the epoll instance the loop polls, if there is one. */
static void
poll_watch_out(void)
{
	struct epoll_event ev;

	if (log_ep < 0 || log_out < 0 || log_how == OUT_PLAIN)
		return;
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLOUT;
	/* Should it fail, the queue goes out with the next line or at
	 * exit. */
	(void)epoll_ctl(log_ep, EPOLL_CTL_ADD, log_out, &ev);
}

/* Choose how to write to fd (see the list above). */
static void
setup_out(int fd)
{
	struct stat st;
	int r;

	log_fd = fd;
	log_fifo_retry = false;
	if (log_ep >= 0 && log_out >= 0)
		(void)epoll_ctl(log_ep, EPOLL_CTL_DEL, log_out, NULL);
	if (log_how == OUT_OWN)
		close(log_out);
	log_out = -1;
	log_how = OUT_NONE;
	if (fstat(fd, &st) < 0)
		return;  /* closed: nothing is ever written to whatever gets fd */
	if (S_ISFIFO(st.st_mode) || (S_ISCHR(st.st_mode) && isatty(fd))) {
		/* Opening /dev/ptmx again would make a new terminal (pts(4)):
		 * a pseudo-terminal master is only checked for room. */
		r = st.st_rdev == makedev(5, 2) ? -EPERM : reopen_nonblocking(fd, &st);
		if (r >= 0) {
			log_out = r;
			log_how = OUT_OWN;
		} else if (r == -ENXIO && S_ISFIFO(st.st_mode)) {
			/* A FIFO nobody reads: the log is lost until one
			 * does.  (An anonymous pipe reopens with no reader;
			 * its writes then fail with EPIPE.) */
			log_fifo_retry = true;
			log_retry_at = clock_now_ms() + 1000;
		} else {
			log_out = fd;
			log_how = S_ISFIFO(st.st_mode) ? OUT_NOWAIT : OUT_CHECKED;
		}
	} else if (S_ISSOCK(st.st_mode)) {
		log_out = fd;
		log_how = OUT_SOCKET;
	} else {
		log_out = fd;
		log_how = OUT_PLAIN;
	}
	poll_watch_out();
}

void
log_init(int format, int verbose, long wrapper_pid, int fd)
{
	log_fmt = format;
	log_verbose = verbose;
	log_wrapper = wrapper_pid;
	log_dropped = 0;
	/* Lines queued for an earlier fd go to this one. */
	setup_out(fd);
	log_ready = true;
}

unsigned long
log_dropped_lines(void)
{
	return log_dropped;
}

unsigned long long
log_dropped_total(void)
{
	return log_dropped_all;
}

size_t
log_queued_bytes(void)
{
	return log_q_bytes;
}

/* One write that never waits: the bytes written, or -errno (-EAGAIN:
 * the log takes nothing now). */
static ssize_t
out_write(const char *p, size_t len)
{
	ssize_t n;

	if (log_how == OUT_NONE && log_fifo_retry && clock_now_ms() >= log_retry_at) {
		setup_out(log_fd);
		if (log_how == OUT_NONE)
			log_retry_at = clock_now_ms() + 1000;
	}
	for (;;) {
		switch (log_how) {
		case OUT_NONE:
			return -EPIPE;
		case OUT_SOCKET:
			n = send(log_out, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
			break;
		case OUT_NOWAIT: {
			struct iovec iov = {(void *)p, len};
			n = pwritev2(log_out, &iov, 1, -1, RWF_NOWAIT);
			if (n < 0 && (errno == EOPNOTSUPP || errno == EINVAL)) {
				/* A FIFO, or a kernel without RWF_NOWAIT. */
				log_how = OUT_CHECKED;
				continue;
			}
			break;
		}
		case OUT_CHECKED: {
			struct pollfd pfd = {log_out, POLLOUT, 0};
			int r = poll(&pfd, 1, 0);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return r == 0 ? -EAGAIN : -errno;
			/* With room for a page, PIPE_BUF bytes fit at once
			 * (pipe(7)); a terminal takes what it has room for.
			 * (POLLERR or POLLHUP: the write tells what.) */
			n = write(log_out, p, std::min(len, (size_t)PIPE_BUF));
			break;
		}
		default:
			n = write(log_out, p, len);
			break;
		}
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
}

static void poll_update(void);

/* Write the queue out while the log takes it.  A line the log refuses (a
 * reader gone, a full disk) is dropped and counted. */
static void
flush_queue(void)
{
	while (!log_q.empty()) {
		std::string &line = log_q.front();
		ssize_t n = out_write(line.data() + log_q_off, line.size() - log_q_off);

		if (n == -EAGAIN)
			break;
		if (n < 0) {
			log_q_bytes -= line.size() - log_q_off;
			drop_line();
			n = 0;
			log_q_off = line.size();
		}
		log_q_off += (size_t)n;
		log_q_bytes -= (size_t)n;
		if (log_q_off >= line.size()) {
			log_q.pop_front();
			log_q_off = 0;
		}
	}
	poll_update();
}

static void
poll_cb(uv_poll_t *h, int status, int events)
{
	(void)h;
	(void)events;
	if (status < 0) {
		/* Polling failed (the fd is gone): the queue goes out with
		 * the next line, or at exit. */
		uv_poll_stop(&log_poll);
		log_polling = false;
		return;
	}
	flush_queue();
}

/* The epoll instance and its poll handle, made the first time a line is
 * queued: most runs never queue one, and need neither the system calls
 * at start nor the handle's close at exit.  Should it fail, the queue
 * goes out with the next line or at exit. */
static bool
poll_open(void)
{
	if (log_poll_open)
		return true;
	if (log_loop == NULL || log_poll_failed)
		return false;
	log_ep = epoll_create1(EPOLL_CLOEXEC);
	if (log_ep >= 0 && uv_poll_init(log_loop, &log_poll, log_ep) != 0) {
		close(log_ep);
		log_ep = -1;
	}
	if (log_ep < 0) {
		log_poll_failed = true;
		return false;
	}
	uv_unref((uv_handle_t *)&log_poll);
	log_poll_open = true;
	poll_watch_out();
	return true;
}

/* Poll while lines are queued, and only then. */
static void
poll_update(void)
{
	bool want = log_loop != NULL && !log_q.empty() && log_how != OUT_NONE &&
	    log_how != OUT_PLAIN;

	if (want == log_polling)
		return;
	if (want)
		want = poll_open() && uv_poll_start(&log_poll, UV_READABLE, poll_cb) == 0;
	else
		uv_poll_stop(&log_poll);
	log_polling = want;
}

void
log_attach_loop(struct uv_loop_s *loop)
{
	log_loop = loop;
	log_poll_failed = false;
	poll_update();
}

static void
poll_close_cb(uv_handle_t *h)
{
	(void)h;
	if (log_ep >= 0)
		close(log_ep);
	log_ep = -1;
}

void
log_flush(int timeout_ms)
{
	long long end = clock_now_ms() + timeout_ms;

	if (!log_ready)
		return;
	for (;;) {
		flush_queue();
		long long left = end - clock_now_ms();
		if (log_q.empty() || left <= 0)
			break;
		/* OUT_CHECKED polls log_out too, but for room only. */
		struct pollfd pfd = {log_out, POLLOUT, 0};
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
			break;
	}
	log_loop = NULL;
	if (log_poll_open) {
		if (log_polling)
			uv_poll_stop(&log_poll);
		log_polling = false;
		log_poll_open = false;
		uv_close((uv_handle_t *)&log_poll, poll_close_cb);
	}
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

/*
 * The UTC date of a day number (days since 1970-01-01) in the proleptic
 * Gregorian calendar, as gmtime(3) gives it.  Not gmtime_r(): glibc's
 * loads the time zone file (tzset) the first time, seven system calls at
 * start that UTC has no use for.  The count is shifted to start on
 * 0000-03-01, so that the leap day ends a year; a 400-year era has
 * 146097 days, and within it the year follows from the day of the era
 * less the leap days before it.
 */
static void
utc_date(long long days, long long *year, int *month, int *day)
{
	long long z = days + 719468;  /* days from 0000-03-01 */
	long long era = (z >= 0 ? z : z - 146096) / 146097;
	long long doe = z - era * 146097;                /* [0, 146096] */
	long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);  /* from March 1 */
	long long mp = (5 * doy + 2) / 153;              /* March is 0 */

	*day = (int)(doy - (153 * mp + 2) / 5 + 1);
	*month = (int)(mp < 10 ? mp + 3 : mp - 9);
	*year = yoe + era * 400 + (*month <= 2);
}

void
log_format_time(std::string *out, const struct timespec *when)
{
	long long secs = (long long)when->tv_sec;
	long long days = (secs >= 0 ? secs : secs - 86399) / 86400;
	long long rem = secs - days * 86400, year;
	int month, day;
	char buf[64];

	utc_date(days, &year, &month, &day);
	snprintf(buf, sizeof buf, "%04lld-%02d-%02dT%02lld:%02lld:%02lld.%03ldZ",
	    year, month, day, rem / 3600, rem / 60 % 60, rem % 60,
	    when->tv_nsec / 1000000);
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

	log_format_time(&stamp, when);
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

/* Queue a line the log did not take (all of it but its first `written`
 * bytes), within the bounds in log.h: false when it is dropped. */
static bool
enqueue(std::string *line, size_t written, bool dropable)
{
	size_t len = line->size() - written;
	size_t bound = dropable ? LOG_VOLATILE_QUEUE : LOG_QUEUE_MAX;

	if (written == 0 && log_q_bytes + len > bound)
		return false;
	log_q.emplace_back();
	log_q.back().swap(*line);
	if (log_q.size() == 1)
		log_q_off = written;
	log_q_bytes += len;
	return true;
}

void
log_event(int level, const char *msg, log_fields fields)
{
	bool dropable = (level & LOG_VOLATILE) != 0;
	struct timespec now;
	std::string line;
	ssize_t n = 0;

	level &= ~LOG_VOLATILE;
	if (level == LOG_DEBUG && log_verbose == 0)
		return;
	if (!log_ready)
		log_init(log_fmt, log_verbose, (long)getpid(), 1);
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
	/* Earlier lines first: the log keeps their order. */
	flush_queue();
	if (log_q.empty()) {
		/* One write per line keeps lines whole on a pipe shared with
		 * the daemon (writes up to PIPE_BUF are atomic, pipe(7)). */
		n = out_write(line.data(), line.size());
		if (n == (ssize_t)line.size()) {
			log_dropped = 0;
			return;
		}
		if (n < 0 && n != -EAGAIN) {
			drop_line();
			return;
		}
		if (n < 0)
			n = 0;
	}
	if (enqueue(&line, (size_t)n, dropable))
		log_dropped = 0;
	else
		drop_line();
	poll_update();
}
