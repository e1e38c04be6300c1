/*
 * settings.cc: the built-in defaults, their precedence (command line >
 * environment > TOML file > defaults), the value syntaxes shared by the
 * command line and the file (durations, Go's booleans), and the effective
 * settings described back as TOML (-n).
 */
#include "settings.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "options.h"
#include "proc.h"
#include "signals.h"

bool
parse_go_bool(const char *s, bool *v)
{
	static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
	static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};

	for (const char *y : yes)
		if (strcmp(s, y) == 0)
			return *v = true;
	for (const char *n : no)
		if (strcmp(s, n) == 0) {
			*v = false;
			return true;
		}
	return false;
}

int
parse_duration(const char *s, uint64_t *ms)
{
	double total = 0;
	const char *p = s;

	if (*p == '\0')
		return -EINVAL;
	if (strcmp(p, "0") == 0) {
		*ms = 0;
		return 0;
	}
	/* Go's time.ParseDuration: [digits][.digits] unit, repeated; by hand,
	 * because strtod would also take "1e3", "0x10" and "inf". */
	while (*p) {
		double v = 0, scale = 1, unit;
		bool digits = false;

		for (; *p >= '0' && *p <= '9'; p++, digits = true)
			v = v * 10 + (*p - '0');
		if (*p == '.') {
			for (p++; *p >= '0' && *p <= '9'; p++, digits = true) {
				scale /= 10;
				v += (*p - '0') * scale;
			}
		}
		if (!digits)
			return -EINVAL;
		if (strncmp(p, "ms", 2) == 0) {
			unit = 1;
			p += 2;
		} else if (*p == 's') {
			unit = 1000;
			p++;
		} else if (*p == 'm') {
			unit = 60000;
			p++;
		} else if (*p == 'h') {
			unit = 3600000;
			p++;
		} else
			return -EINVAL;  /* a unit is required, as in Go */
		total += v * unit;
		if (total > 1e12)
			return -EINVAL;
	}
	*ms = (uint64_t)(total + 0.5);
	return 0;
}

void
settings_defaults(struct settings *s)
{
	*s = settings();
	sigpolicy_default(&s->sig);
}

int
settings_resolve(const struct options *o, const char *(*getenv_fn)(const char *),
    struct settings *s, std::string *err)
{
	const char *v;

	settings_defaults(s);

	s->config_file = o->config_file;
	if (s->config_file.empty() && (v = getenv_fn("PIDSITTER_CONFIG")) != NULL && *v)
		s->config_file = v;
	if (!s->config_file.empty() && config_load(s->config_file.c_str(), s, err) != 0)
		return -EINVAL;

	if ((v = getenv_fn("GITALY_PID_FILE")) != NULL && *v)
		s->pid_file = v;
	if ((v = getenv_fn("WRAPPER_JSON_LOGGING")) != NULL) {
		bool json;
		/* gitaly-wrapper: anything ParseBool rejects means text. */
		if (parse_go_bool(v, &json))
			s->log_format = json ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT;
	}

	if (!o->pid_file.empty())
		s->pid_file = o->pid_file;
	if (o->json)
		s->log_format = LOG_FORMAT_JSON;
	s->verbose += o->verbose;
	if (o->poll_interval_ms != 0)
		s->poll_interval_ms = o->poll_interval_ms;
	if (o->notify_fd >= 0)
		s->notify_fd = o->notify_fd;
	if (!o->control_socket.empty())
		s->control_socket = o->control_socket;
	s->check_only = o->check_only;
	s->argv = o->argv;

	if (s->names.empty() && !s->argv.empty())
		s->names.push_back(path_basename(s->argv[0]));
	if (s->metrics_labels.empty() && !s->argv.empty())
		s->metrics_labels.push_back({"daemon", path_basename(s->argv[0])});
	if (s->pid_file.empty()) {
		*err = "missing pid file: give -p/--pid-file PIDFILE or set "
		    "GITALY_PID_FILE (or pid_file in the configuration file)";
		return -EINVAL;
	}
	/* READY=1 could never arrive: no wrapper would ever be ready. */
	if (s->ready == READY_NOTIFY && s->notify == NOTIFY_OFF) {
		*err = s->config_file + ": ready = \"notify\" needs notify = \"relay\"";
		return -EINVAL;
	}
	return 0;
}

int
settings_control_socket(const struct options *o, const char *(*getenv_fn)(const char *),
    std::string *path, std::string *err)
{
	std::string file = o->config_file;
	struct settings s;
	const char *v;

	if (!o->control_socket.empty()) {
		*path = o->control_socket;
		return 0;
	}
	if (file.empty() && (v = getenv_fn("PIDSITTER_CONFIG")) != NULL && *v)
		file = v;
	if (file.empty()) {
		*err = "no control socket: give -S SOCKET, or -c CONFIG with control_socket";
		return -EINVAL;
	}
	settings_defaults(&s);
	if (config_load(file.c_str(), &s, err) != 0)
		return -EINVAL;
	if (s.control_socket.empty()) {
		*err = file + ": no control_socket in the configuration";
		return -EINVAL;
	}
	*path = s.control_socket;
	return 0;
}

/* A TOML basic string: escapes for '"', '\\' and every control byte,
 * DEL included (TOML forbids them raw). */
static void
toml_quote(std::string *out, const std::string &v)
{
	out->push_back('"');
	for (unsigned char c : v) {
		if (c == '"' || c == '\\') {
			out->push_back('\\');
			out->push_back((char)c);
		} else if (c < 0x20 || c == 0x7f) {
			char buf[8];
			snprintf(buf, sizeof buf, "\\u%04x", c);
			out->append(buf);
		} else {
			out->push_back((char)c);
		}
	}
	out->push_back('"');
}

static void
describe_list(std::string *out, const char *key, const std::vector<std::string> &list)
{
	std::string line = std::string(key) + " = [";
	for (size_t i = 0; i < list.size(); i++) {
		if (i > 0)
			line += ", ";
		toml_quote(&line, list[i]);
	}
	*out += line + "]\n";
}

static void
describe_signals(std::string *out, const char *key, uint64_t set)
{
	std::vector<std::string> names;
	char buf[16];

	for (int sig = 1; sig < SIG_LIMIT; sig++)
		if (set & SIG_BIT(sig))
			names.push_back(signal_short_name(sig, buf, sizeof buf));
	describe_list(out, key, names);
}

static void
describe_string(std::string *out, const char *key, const std::string &v)
{
	*out += std::string(key) + " = ";
	toml_quote(out, v);
	*out += "\n";
}

static void
describe_ms(std::string *out, const char *key, uint64_t ms)
{
	char buf[96];
	snprintf(buf, sizeof buf, "%s = \"%llums\"\n", key, (unsigned long long)ms);
	*out += buf;
}

std::string
settings_describe(const struct settings *s)
{
	std::string out;
	std::vector<std::string> facts, env;
	char buf[64];

	describe_string(&out, "pid_file", s->pid_file);
	describe_string(&out, "log_format", s->log_format == LOG_FORMAT_JSON ? "json" : "text");
	describe_ms(&out, "poll_interval", s->poll_interval_ms);
	describe_ms(&out, "start_timeout", s->start_timeout_ms);
	describe_ms(&out, "reap_timeout", s->reap_timeout_ms);
	describe_string(&out, "status_file", s->status_file);
	describe_string(&out, "control_socket", s->control_socket);
	describe_string(&out, "metrics_file", s->metrics_file);
	out += "metrics_labels = {";
	for (size_t i = 0; i < s->metrics_labels.size(); i++) {
		out += i == 0 ? " " : ", ";
		out += s->metrics_labels[i].first + " = ";
		toml_quote(&out, s->metrics_labels[i].second);
	}
	out += s->metrics_labels.empty() ? "}\n" : " }\n";
	describe_list(&out, "names", s->names);
	if (s->match_facts & MATCH_COMM)
		facts.push_back("comm");
	if (s->match_facts & MATCH_EXE)
		facts.push_back("exe");
	if (s->match_facts & MATCH_ARGV0)
		facts.push_back("argv0");
	describe_list(&out, "match", facts);
	if (s->owner_any)
		describe_string(&out, "owner", "any");
	else {
		snprintf(buf, sizeof buf, "owner = %u\n",
		    (unsigned)(s->owner == (uid_t)-1 ? geteuid() : s->owner));
		out += buf;
	}
	out += "env = {";
	for (size_t i = 0; i < s->env.size(); i++) {
		size_t eq = s->env[i].find('=');
		out += i == 0 ? " " : ", ";
		/* Keys quoted: an environment name may hold any byte but '='. */
		toml_quote(&out, s->env[i].substr(0, eq));
		out += " = ";
		toml_quote(&out, s->env[i].substr(eq + 1));
	}
	out += s->env.empty() ? "}\n" : " }\n";
	describe_string(&out, "workdir", s->workdir);
	describe_signals(&out, "signals_to_all", s->sig.every);
	describe_signals(&out, "stop_signals", s->sig.stop);
	describe_signals(&out, "signals_ignored", s->sig.ignore);
	out += "signal_rewrite = {";
	bool first = true;
	for (int sig = 1; sig < SIG_LIMIT; sig++) {
		char a[16], b[16];
		if (s->sig.rewrite[sig] == 0)
			continue;
		/* Quoted keys: "RTMIN+1" is not a bare TOML key. */
		snprintf(buf, sizeof buf, "%s\"%s\" = \"%s\"", first ? " " : ", ",
		    signal_short_name(sig, a, sizeof a),
		    signal_short_name(s->sig.rewrite[sig], b, sizeof b));
		out += buf;
		first = false;
	}
	out += first ? "}\n" : " }\n";
	describe_string(&out, "upgrade_recipe", s->recipe == RECIPE_NGINX ? "nginx" :
	    s->recipe == RECIPE_GUNICORN ? "gunicorn" : "tableflip");
	describe_string(&out, "upgrade_signal", signal_short_name(s->upgrade_signal, buf, sizeof buf));
	describe_ms(&out, "upgrade_timeout", s->upgrade_timeout_ms);
	if (s->stop_timeout_ms == 0)
		describe_string(&out, "stop_timeout", "0");
	else
		describe_ms(&out, "stop_timeout", s->stop_timeout_ms);
	describe_string(&out, "descendants", s->descendants == DESCENDANTS_STOP ? "stop" : "leave");
	describe_string(&out, "notify", s->notify == NOTIFY_OFF ? "off" : "relay");
	describe_string(&out, "notify_socket", s->notify_socket);
	describe_string(&out, "ready", s->ready == READY_NOTIFY ? "notify" : "pidfile");
	return out;
}
