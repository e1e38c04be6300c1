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

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_FATAL };

/* Or'ed into a level: one of the many lines a signal storm makes (one per
 * signal), dropped at once when the log pipe is full.  Other lines (a
 * generation followed or gone, the wrapper's exit) wait a while for it. */
#define LOG_VOLATILE 0x100

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
 * wrapper's pid and the fd lines go to (1 unless a test says otherwise). */
void log_init(int format, int verbose, long wrapper_pid, int fd);

/* Write one line.  Write errors (a closed pipe, a full disk) are ignored,
 * and a line for a pipe or socket that stays full is dropped and counted
 * (and the count logged once it drains): losing a log line must never
 * cost the daemon its supervisor. */
void log_event(int level, const char *msg, log_fields fields = {});

/* Lines dropped since the last one that went out. */
unsigned long log_dropped_lines(void);

/* The line log_event would write for this time, without the newline:
 * a pure function for the tests. */
std::string log_format_line(int format, const struct timespec *when,
    int level, const char *msg, long wrapper_pid, log_fields fields);

/* Go's strconv.Quote and encoding/json string escaping, as logrus uses. */
void log_quote_text(std::string *out, const char *s);
void log_quote_json(std::string *out, const char *s);

#endif
