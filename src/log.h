/*
 * log.h: one line per event on stdout, logrus text or JSON, as
 * gitaly-wrapper writes them (doc/DESIGN.md, "Logging and reporting"):
 * every line carries time, level, msg, pid and wrapper; the other fields
 * follow in key order, as logrus sorts them.
 */
#ifndef PIDSITTER_LOG_H
#define PIDSITTER_LOG_H

#include <stddef.h>
#include <time.h>

#include <initializer_list>
#include <string>

struct uv_loop_s;

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_FATAL };

/* Or'ed into a level: one of the many lines a signal storm makes (one per
 * signal).  When the log's reader is not keeping up, only a few of these
 * are kept for it (LOG_VOLATILE_QUEUE bytes of queue); the rest are
 * dropped and counted.  Other lines (a generation followed or gone, the
 * wrapper's exit) are kept, up to LOG_QUEUE_MAX bytes. */
#define LOG_VOLATILE 0x100

/* How much the queue of lines not yet written holds, at most: with any
 * line in it, for a volatile line; for the others. */
#define LOG_VOLATILE_QUEUE (16 * 1024)
#define LOG_QUEUE_MAX (1024 * 1024)

/* How long the wrapper's exit waits, at most, for a reader that does not
 * take the queued lines (log_flush). */
#define LOG_EXIT_WAIT_MS 1000

/* A field is a key and either a string or an integer. */
struct log_field {
	const char *key;
	const char *str;   /* NULL: the field is the number */
	long long num;

	log_field(const char *k, const char *v) : key(k), str(v ? v : ""), num(0) {}
	log_field(const char *k, const std::string &v) : key(k), str(v.c_str()), num(0) {}
	log_field(const char *k, long long v) : key(k), str(NULL), num(v) {}
	log_field(const char *k, long v) : key(k), str(NULL), num(v) {}
	log_field(const char *k, int v) : key(k), str(NULL), num(v) {}
	log_field(const char *k, unsigned v) : key(k), str(NULL), num(v) {}
	log_field(const char *k, unsigned long v) : key(k), str(NULL), num((long long)v) {}
	log_field(const char *k, unsigned long long v) : key(k), str(NULL), num((long long)v) {}
};

typedef std::initializer_list<log_field> log_fields;

/* Set the format (enum log_format), verbosity (debug lines when > 0), the
 * wrapper's pid and the fd lines go to (1 unless a test says otherwise).
 * The fd's open file description, which the daemon shares, keeps its
 * flags: a pipe, FIFO or terminal is written through a description of
 * the log's own, opened non-blocking (see log.cc). */
void log_init(int format, int verbose, long wrapper_pid, int fd);

/* Let the loop write the queued lines as soon as the log takes them (a
 * uv_poll_t, made when a line is first queued, active only while lines
 * are queued, and unreferenced: it never keeps the loop running).
 * Without it, queued lines go out at the next log_event or log_flush. */
void log_attach_loop(struct uv_loop_s *loop);

/* Write one line.  It never waits: what the log does not take at once is
 * queued, in order, within the bounds above, and a line beyond them, or
 * one the log refuses (a reader gone, a full disk), is dropped and
 * counted; the count goes out with the next line written.  Losing a log
 * line must never cost the daemon its supervisor. */
void log_event(int level, const char *msg, log_fields fields = {});

/* On the way out: write what is queued, waiting up to timeout_ms in all
 * for the log to take it, then give up.  It also lets go of the loop
 * (the poll handle is closed: the loop's next run completes that). */
void log_flush(int timeout_ms);

/* Lines dropped since the last one that went out or was queued. */
unsigned long log_dropped_lines(void);
/* Lines dropped since the start, all told (the metrics file's counter). */
unsigned long long log_dropped_total(void);
/* Bytes queued, not yet written. */
size_t log_queued_bytes(void);

/* The line log_event would write for this time, without the newline:
 * a pure function for the tests. */
std::string log_format_line(int format, const struct timespec *when,
    int level, const char *msg, long wrapper_pid, log_fields fields);

/* A UTC time with milliseconds, as the log writes it:
 * 2026-11-27T09:44:00.123Z (appended to *out). */
void log_format_time(std::string *out, const struct timespec *when);

/* Go's strconv.Quote and encoding/json string escaping, as logrus uses. */
void log_quote_text(std::string *out, const char *s);
void log_quote_json(std::string *out, const char *s);

#endif
