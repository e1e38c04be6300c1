/*
 * options.h: the command line and the environment into struct settings.
 * Nothing here exits or prints: it returns, so the tests can call it.
 */
#ifndef PIDSITTER_OPTIONS_H
#define PIDSITTER_OPTIONS_H

#include <stdint.h>

#include <string>
#include <vector>

#include "settings.h"

enum options_action { OPT_RUN, OPT_HELP, OPT_VERSION };

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
	std::vector<std::string> argv;   /* binary and its arguments */
};

/* The usage line, identical to the man page SYNOPSIS. */
const char *options_usage(void);

/* Parse argv (GNU getopt, stopping at the binary).  Returns 0, or 2 with
 * *err set (a usage error). */
int options_parse(int argc, char **argv, struct options *o, std::string *err);

/* The built-in defaults. */
void settings_defaults(struct settings *s);

/* Build the settings: defaults, then the TOML file (-c, else
 * PIDSITTER_CONFIG), then the environment (GITALY_PID_FILE,
 * WRAPPER_JSON_LOGGING), then the command line.  getenv_fn lets the tests
 * supply an environment.  Returns 0, or 2 with *err set. */
int settings_resolve(const struct options *o, const char *(*getenv_fn)(const char *),
    struct settings *s, std::string *err);

/* The effective settings as TOML, for -n. */
std::string settings_describe(const struct settings *s);

/* Go's strconv.ParseBool: 1 t T TRUE true True / 0 f F FALSE false False.
 * Returns false when s is none of them. */
bool parse_go_bool(const char *s, bool *v);

/* A duration: "250ms", "2s", "1m30s", "1h", "0.5s"; units ms s m h.
 * Returns 0 or -EINVAL. */
int parse_duration(const char *s, uint64_t *ms);

#endif
