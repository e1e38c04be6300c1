/*
 * options.cc: the command line (GNU getopt, stopping at the binary).
 */
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "settings.h"

static const char usage_line[] =
    "usage: pidsitter [-hjnVv] [-c config] [-i interval] [-p pidfile] "
    "[-S socket] [--notify-fd fd] [--] binary [arg ...]\n"
    "       pidsitter [-j] [-c config | -S socket] -s command [--timeout duration]";

const char *
options_usage(void)
{
	return usage_line;
}

static int
parse_fd(const char *s, int *fd)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 3 || v > INT_MAX)
		return -EINVAL;
	*fd = (int)v;
	return 0;
}

enum { OPT_NOTIFY_FD = 256, OPT_TIMEOUT };

int
options_parse(int argc, char **argv, struct options *o, std::string *err)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{"poll-interval", required_argument, NULL, 'i'},
		{"json", no_argument, NULL, 'j'},
		{"check-config", no_argument, NULL, 'n'},
		{"pid-file", required_argument, NULL, 'p'},
		{"version", no_argument, NULL, 'V'},
		{"verbose", no_argument, NULL, 'v'},
		{"notify-fd", required_argument, NULL, OPT_NOTIFY_FD},
		{"control-socket", required_argument, NULL, 'S'},
		{"send", required_argument, NULL, 's'},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{NULL, 0, NULL, 0},
	};
	int ch, word = 1;   /* the argv word getopt is reading */

	/* getopt keeps state across calls; the tests parse many times. */
	optind = 0;
	opterr = 0;
	/* '+': stop at the first non-option, the daemon's own options are its
	 * own; ':' first: report a missing argument as ':'. */
	while ((ch = getopt_long(argc, argv, "+:c:hi:jnp:S:s:Vv", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o->config_file = optarg;
			break;
		case 'h':
			o->action = OPT_HELP;
			return 0;
		case 'i':
			if (parse_duration(optarg, &o->poll_interval_ms) < 0 ||
			    o->poll_interval_ms == 0) {
				*err = std::string("invalid poll interval '") + optarg +
				    "' (a duration such as 500ms or 2s)";
				return -EINVAL;
			}
			break;
		case 'j':
			o->json = true;
			break;
		case 'n':
			o->check_only = true;
			break;
		case 'p':
			if (optarg[0] == '\0') {
				*err = "empty pid file name";
				return -EINVAL;
			}
			o->pid_file = optarg;
			break;
		case 'S':
			if (optarg[0] == '\0') {
				*err = "empty control socket name";
				return -EINVAL;
			}
			o->control_socket = optarg;
			break;
		case 's':
			if (strcmp(optarg, "status") != 0 && strcmp(optarg, "upgrade") != 0 &&
			    strcmp(optarg, "stop") != 0) {
				*err = std::string("unknown command '") + optarg +
				    "' (status, upgrade or stop)";
				return -EINVAL;
			}
			o->command = optarg;
			o->action = OPT_CONTROL;
			break;
		case OPT_TIMEOUT:
			if (parse_duration(optarg, &o->timeout_ms) < 0 || o->timeout_ms == 0) {
				*err = std::string("invalid timeout '") + optarg +
				    "' (a duration such as 500ms or 2s)";
				return -EINVAL;
			}
			break;
		case 'V':
			o->action = OPT_VERSION;
			return 0;
		case 'v':
			o->verbose++;
			break;
		case OPT_NOTIFY_FD:
			if (parse_fd(optarg, &o->notify_fd) < 0) {
				*err = std::string("invalid notification fd '") + optarg +
				    "' (a number from 3)";
				return -EINVAL;
			}
			break;
		case ':':
			*err = std::string("option ") + argv[optind - 1] + " needs an argument";
			return -EINVAL;
		default:
			/* "--json=yes": glibc sets optopt to 'j'; name the
			 * option as it was written.  argv[word], not
			 * argv[optind - 1]: in "--json -xv", that is still
			 * "--json" when 'x' is refused. */
			if (strncmp(argv[word], "--", 2) == 0) {
				std::string opt = argv[word];
				size_t eq = opt.find('=');
				/* optopt 0: no such option (or an ambiguous
				 * abbreviation), whatever follows its '='. */
				if (eq != std::string::npos && optopt != 0)
					*err = "option " + opt.substr(0, eq) + " takes no argument";
				else
					*err = "unknown option " + opt.substr(0, eq);
			} else if (optopt != 0)
				*err = std::string("unknown option -") + (char)optopt;
			else
				*err = std::string("unknown option ") + argv[word];
			return -EINVAL;
		}
		/* optind moves past a word only once its last letter is read. */
		word = optind;
	}
	for (int i = optind; i < argc; i++)
		o->argv.push_back(argv[i]);
	if (o->action == OPT_CONTROL) {
		/* A client runs no daemon: a binary here is a mistake, say
		 * "-s" where "-S" was meant. */
		if (!o->argv.empty()) {
			*err = "-s " + o->command + " takes no binary ('" + o->argv[0] + "')";
			return -EINVAL;
		}
		if (o->check_only) {
			*err = "-n and -s exclude each other";
			return -EINVAL;
		}
		return 0;
	}
	if (o->timeout_ms != 0) {
		*err = "--timeout is for -s";
		return -EINVAL;
	}
	if (o->argv.empty() && !o->check_only) {
		*err = "no binary to run";
		return -EINVAL;
	}
	if (!o->argv.empty() && o->argv[0].empty()) {
		*err = "empty binary name";
		return -EINVAL;
	}
	return 0;
}
