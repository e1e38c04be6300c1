/*
 * settings.h: everything pidsitter is told, in one plain struct.
 *
 * settings.cc builds it from the defaults, the TOML file (config.cc), the
 * environment and the command line (struct options, options.cc), in that
 * order of precedence: command line > environment > file > defaults.  The
 * rest of the program only reads it.
 */
#ifndef PIDSITTER_SETTINGS_H
#define PIDSITTER_SETTINGS_H

#include <stdint.h>
#include <signal.h>
#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#define PIDSITTER_VERSION "0.1.0"

/* The longest name (last component) of a control socket: its address is
 * "/proc/self/fd/N/NAME" in 108 bytes (control.cc). */
#define CONTROL_NAME_MAX 80

/* Signals are 1..64 on Linux; a uint64_t holds one bit per signal. */
#define SIG_LIMIT 65
#define SIG_BIT(sig) (UINT64_C(1) << ((sig) - 1))

enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

/* Which facts of a process are compared with the expected names. */
enum match_fact {
	MATCH_COMM = 1,  /* /proc/PID/comm, compared as the kernel truncates it */
	MATCH_EXE = 2,   /* basename of /proc/PID/exe, " (deleted)" stripped */
	MATCH_ARGV0 = 4, /* basename of the first word of /proc/PID/cmdline */
};

/* How an upgrade is driven when the wrapper receives the upgrade signal. */
/* The daemon's own systemd notifications (notify.h). */
enum notify_mode {
	NOTIFY_RELAY,     /* give it a socket; check, relay, act on its messages */
	NOTIFY_OFF,       /* remove NOTIFY_SOCKET from its environment */
};

/* What makes a generation ready. */
enum ready_mode {
	READY_PIDFILE,    /* a pid file names it */
	READY_NOTIFY,     /* it (or a descendant) sent READY=1 */
};

enum upgrade_recipe {
	RECIPE_TABLEFLIP, /* forward HUP; the daemon re-executes itself */
	RECIPE_NGINX,     /* USR2 to the master, then QUIT to the old one
	                   * (also "unicorn") */
	RECIPE_GUNICORN,  /* USR2 to the master; once <pidfile>.2 names the
	                   * new one, TERM to the old one */
};

/* What happens to the processes the daemon leaves behind, re-parented to
 * the wrapper (a child subreaper), once its last generation is gone. */
enum descendants_policy {
	DESCENDANTS_LEAVE,  /* logged, left running */
	DESCENDANTS_STOP,   /* TERM and CONT, then KILL; reaped before the exit */
};

/* Where the signals we receive go (signals.cc has the defaults). */
struct sigpolicy {
	uint64_t every;           /* reach every live generation */
	uint64_t stop;            /* start the stop: replayed to later generations */
	uint64_t ignore;          /* never forwarded */
	int rewrite[SIG_LIMIT];   /* 0: as received; else the signal sent instead */
};

struct settings {
	std::string pid_file;
	std::string config_file;          /* empty: none */
	int log_format = LOG_FORMAT_TEXT;
	int verbose = 0;
	uint64_t poll_interval_ms = 1000; /* only where no pidfd can be had */
	uint64_t start_timeout_ms = 10000;/* forking daemons: wait for the pid file */
	uint64_t reap_timeout_ms = 1000;  /* adopted daemon: wait for its parent to reap it */

	/* Matching: a process is the daemon when one of `facts` equals one of
	 * `names` (default: basename of the binary) and it runs as `owner`. */
	std::vector<std::string> names;
	unsigned match_facts = MATCH_COMM | MATCH_EXE;
	bool owner_any = false;           /* true: any uid may own the daemon */
	uid_t owner = (uid_t)-1;          /* (uid_t)-1: the wrapper's own uid */

	/* Spawning. */
	std::vector<std::string> env = {"GITALY_UPGRADES_ENABLED=true"};
	std::string workdir;              /* empty: the wrapper's */
	std::string workdir_at;           /* "FILE:LINE:COL" of the key, for -n */

	struct sigpolicy sig = {};
	int recipe = RECIPE_TABLEFLIP;
	int upgrade_signal = SIGHUP;      /* what starts a recipe upgrade */
	uint64_t upgrade_timeout_ms = 60000;

	/* Stopping. */
	uint64_t stop_timeout_ms = 0;     /* then SIGKILL; 0: never */
	int descendants = DESCENDANTS_LEAVE;

	/* Reporting. */
	std::string status_file;          /* empty: none */
	std::string control_socket;       /* empty: none (control.h) */
	std::string metrics_file;         /* empty: none (metrics.h) */
	/* Labels on every metric; default daemon = basename of the binary. */
	std::vector<std::pair<std::string, std::string>> metrics_labels;
	int notify_fd = -1;               /* s6 notification fd; -1: none */
	int notify = NOTIFY_RELAY;        /* enum notify_mode */
	std::string notify_socket;        /* empty: derived from pid_file (notify.h) */
	int ready = READY_PIDFILE;        /* enum ready_mode */

	bool check_only = false;          /* -n: validate, print, exit */
	std::vector<std::string> argv;    /* the daemon: binary and its arguments */
};

struct options;

/* The built-in defaults. */
void settings_defaults(struct settings *s);

/* Build the settings: defaults, then the TOML file (-c, else
 * PIDSITTER_CONFIG), then the environment (GITALY_PID_FILE,
 * WRAPPER_JSON_LOGGING), then the command line.  getenv_fn lets the tests
 * supply an environment.  Returns 0, or -EINVAL with *err set. */
int settings_resolve(const struct options *o, const char *(*getenv_fn)(const char *),
    struct settings *s, std::string *err);

/* For a client (-s): the control socket, from -S, else from the TOML file
 * (-c, else PIDSITTER_CONFIG).  0, or -EINVAL with *err set. */
int settings_control_socket(const struct options *o, const char *(*getenv_fn)(const char *),
    std::string *path, std::string *err);

/* The effective settings as TOML, for -n. */
std::string settings_describe(const struct settings *s);

/* Go's strconv.ParseBool: 1 t T TRUE true True / 0 f F FALSE false False.
 * Returns false when s is none of them. */
bool parse_go_bool(const char *s, bool *v);

/* A duration: "250ms", "2s", "1m30s", "1h", "0.5s"; units ms s m h.
 * Returns 0 or -EINVAL. */
int parse_duration(const char *s, uint64_t *ms);

#endif
