/*
 * metrics.h: the service's state in the Prometheus text exposition format
 * (version 0.0.4), for node_exporter's textfile collector: the metrics
 * file (pidsitter.toml(5), metrics_file).  A pure formatter and the label
 * rules; report.cc gathers the facts and writes the file.
 */
#ifndef PIDSITTER_METRICS_H
#define PIDSITTER_METRICS_H

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "settings.h"

enum upgrade_result {
	UPGRADE_SUCCEEDED,   /* the status file's "complete" */
	UPGRADE_FAILED,
	UPGRADE_REFUSED,     /* forwarded, not tracked: the daemon refuses it */
	UPGRADE_RESULTS,
};

/* What the metrics file says.  Counters only grow within a wrapper's
 * life; a new wrapper starts them from zero (Prometheus's rate() takes
 * that for a counter reset). */
struct metrics_state {
	bool up;                       /* running, and a generation is current */
	const char *phase;             /* the status file's state */
	unsigned generation;           /* the current one's number; 0: none */
	pid_t pid;                     /* and its pid */
	double daemon_start_time;      /* and its start, unix time; 0: unknown */
	unsigned current, draining, orphans;  /* live generations by role */
	unsigned long long upgrades[UPGRADE_RESULTS];
	unsigned long long signals[SIG_LIMIT];  /* forwarded, by signal sent */
	unsigned long long log_lines_dropped;
	double last_upgrade_time;      /* unix time; 0: none yet */
	int daemon_exit_code;          /* the last current generation's; -1: none */
	int exit_code;                 /* the wrapper's, once it exits; -1 before */
	double start_time;             /* the wrapper's, unix time */
};

typedef std::vector<std::pair<std::string, std::string>> metrics_labels;

/* The file's text: HELP and TYPE for every metric, and every sample with
 * labels (the daemon's, first, in their order). */
std::string metrics_format(const struct metrics_state *m, const metrics_labels &labels);

/* A label value as the text format quotes it: backslash, double quote and
 * newline escaped (appended to *out, with the quotes). */
void metrics_quote(std::string *out, const std::string &value);

/* Why name cannot be one of metrics_labels, or NULL when it can: the
 * Prometheus data model's [a-zA-Z_][a-zA-Z0-9_]*, no "__" prefix
 * (reserved), and none of the labels pidsitter's own metrics carry. */
const char *metrics_label_name_refusal(const std::string &name);
/* Why value cannot be a label value, or NULL: empty (Prometheus treats it
 * as no label at all), or not UTF-8. */
const char *metrics_label_value_refusal(const std::string &value);

#endif
