/*
 * options.h: the command line into struct options (settings.cc adds the
 * environment, the file and the defaults).
 * Nothing here exits or prints: it returns, so the tests can call it.
 */
#ifndef PIDSITTER_OPTIONS_H
#define PIDSITTER_OPTIONS_H

#include <stdint.h>

#include <string>
#include <vector>

#include "settings.h"

enum options_action {
	OPT_RUN,
	OPT_HELP,
	OPT_VERSION,
	OPT_CONTROL,   /* -s: a client of the control socket (client.h) */
};

/* What the command line said; empty/negative fields were not given. */
struct options {
	int action = OPT_RUN;
	std::string pid_file;
	std::string config_file;
	bool json = false;
	int verbose = 0;
	uint64_t poll_interval_ms = 0;   /* 0: not given */
	int notify_fd = -1;
	bool check_only = false;
	std::string control_socket;      /* -S */
	std::string command;             /* -s: status, upgrade or stop */
	uint64_t timeout_ms = 0;         /* --timeout; 0: not given */
	std::vector<std::string> argv;   /* binary and its arguments */
};

/* The usage lines, identical to the man page SYNOPSIS. */
const char *options_usage(void);

/* Parse argv (GNU getopt, stopping at the binary).  Returns 0, or -EINVAL
 * with *err set (a usage error). */
int options_parse(int argc, char **argv, struct options *o, std::string *err);

#endif
