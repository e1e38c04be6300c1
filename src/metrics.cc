/*
 * metrics.cc: the metrics file's text (Prometheus text exposition format
 * 0.0.4).  Every metric has its HELP and TYPE lines, even one with no
 * sample yet, so that `promtool check metrics` and a reader of the file
 * see the same set of names in every state.
 */
#include "metrics.h"

#include <stdio.h>
#include <string.h>

#include "signals.h"

/* The labels pidsitter's own metrics carry: metrics_labels may not take
 * them, or a sample would hold the same label twice. */
static const char *const own_labels[] = {"state", "role", "result", "signal", "version"};

void
metrics_quote(std::string *out, const std::string &value)
{
	out->push_back('"');
	for (char c : value) {
		if (c == '\\')
			*out += "\\\\";
		else if (c == '"')
			*out += "\\\"";
		else if (c == '\n')
			*out += "\\n";
		else
			out->push_back(c);
	}
	out->push_back('"');
}

/* The text being built: the daemon's labels, quoted once. */
struct out {
	std::string text;
	std::string labels;   /* name="value",... */
};

static void
family(struct out *o, const char *name, const char *type, const char *help)
{
	o->text += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " +
	    type + "\n";
}

/* name{labels[,key="value"]} value */
static void
sample(struct out *o, const char *name, const char *key, const char *value, const char *num)
{
	std::string ls = o->labels;

	if (key != NULL) {
		if (!ls.empty())
			ls.push_back(',');
		ls += std::string(key) + "=";
		metrics_quote(&ls, value);
	}
	o->text += name;
	if (!ls.empty())
		o->text += "{" + ls + "}";
	o->text += std::string(" ") + num + "\n";
}

static void
sample_u(struct out *o, const char *name, const char *key, const char *value,
    unsigned long long v)
{
	char num[32];
	snprintf(num, sizeof num, "%llu", v);
	sample(o, name, key, value, num);
}

static void
sample_i(struct out *o, const char *name, long long v)
{
	char num[32];
	snprintf(num, sizeof num, "%lld", v);
	sample(o, name, NULL, NULL, num);
}

/* A unix time: milliseconds are as exact as any of them gets. */
static void
sample_time(struct out *o, const char *name, double t)
{
	char num[48];
	snprintf(num, sizeof num, "%.3f", t);
	sample(o, name, NULL, NULL, num);
}

std::string
metrics_format(const struct metrics_state *m, const metrics_labels &labels)
{
	static const char *const phases[] = {"starting", "running", "upgrading", "stopping",
	    "exited"};
	static const char *const results[] = {"succeeded", "failed", "refused"};
	struct out o;
	char name[16];

	for (const auto &l : labels) {
		if (!o.labels.empty())
			o.labels.push_back(',');
		o.labels += l.first + "=";
		metrics_quote(&o.labels, l.second);
	}

	family(&o, "pidsitter_up", "gauge", "1 while the wrapper runs and a generation of the "
	    "daemon is current; 0 while none is (a forking start awaiting its pid file, an "
	    "upgrade whose new process died, the daemon gone) and once the wrapper has exited.");
	sample_i(&o, "pidsitter_up", m->up ? 1 : 0);

	family(&o, "pidsitter_state", "gauge", "The service's state as the status file names "
	    "it: 1 for the one it is in, 0 for the others.");
	for (const char *p : phases)
		sample_u(&o, "pidsitter_state", "state", p, strcmp(p, m->phase) == 0);

	/* A family's samples follow its own HELP and TYPE lines. */
	family(&o, "pidsitter_generation", "gauge", "The current generation's number (1 for "
	    "the first process followed); no sample while none is current.");
	if (m->generation != 0)
		sample_i(&o, "pidsitter_generation", m->generation);
	family(&o, "pidsitter_daemon_pid", "gauge", "The current generation's process ID; no "
	    "sample while none is current.");
	if (m->generation != 0)
		sample_i(&o, "pidsitter_daemon_pid", m->pid);
	family(&o, "pidsitter_daemon_start_time_seconds", "gauge", "Start time of the current "
	    "generation's process since the Unix epoch in seconds (from /proc); no sample "
	    "while none is current.");
	if (m->generation != 0 && m->daemon_start_time > 0)
		sample_time(&o, "pidsitter_daemon_start_time_seconds", m->daemon_start_time);

	family(&o, "pidsitter_generations", "gauge", "Live processes of the daemon followed, "
	    "by role: current (the pid file names it), draining (an older one finishing its "
	    "work after an upgrade), orphan (re-parented to the wrapper, not known to be the "
	    "daemon).");
	sample_u(&o, "pidsitter_generations", "role", "current", m->current);
	sample_u(&o, "pidsitter_generations", "role", "draining", m->draining);
	sample_u(&o, "pidsitter_generations", "role", "orphan", m->orphans);

	family(&o, "pidsitter_upgrades_total", "counter", "Upgrades by result: succeeded (a "
	    "new generation became current), failed (none in upgrade_timeout, or it died "
	    "first), refused (the upgrade signal came while an older generation still "
	    "drained: forwarded, not tracked).");
	for (int i = 0; i < UPGRADE_RESULTS; i++)
		sample_u(&o, "pidsitter_upgrades_total", "result", results[i], m->upgrades[i]);
	family(&o, "pidsitter_last_upgrade_time_seconds", "gauge", "When the last upgrade "
	    "succeeded or failed, since the Unix epoch in seconds; no sample before one did.");
	if (m->last_upgrade_time > 0)
		sample_time(&o, "pidsitter_last_upgrade_time_seconds", m->last_upgrade_time);

	family(&o, "pidsitter_signals_forwarded_total", "counter", "Signals delivered to a "
	    "process of the daemon, by the signal sent (after signal_rewrite); one per process "
	    "reached.");
	for (int sig = 1; sig < SIG_LIMIT; sig++)
		if (m->signals[sig] > 0)
			sample_u(&o, "pidsitter_signals_forwarded_total", "signal",
			    signal_short_name(sig, name, sizeof name), m->signals[sig]);

	family(&o, "pidsitter_log_lines_dropped_total", "counter", "Log lines dropped because "
	    "the log's reader did not keep up (as of the last write of this file).");
	sample_u(&o, "pidsitter_log_lines_dropped_total", NULL, NULL, m->log_lines_dropped);

	family(&o, "pidsitter_daemon_last_exit_code", "gauge", "Exit code of the last current "
	    "generation that died: its code, or 128+N for signal N; no sample before one did.");
	if (m->daemon_exit_code >= 0)
		sample_i(&o, "pidsitter_daemon_last_exit_code", m->daemon_exit_code);
	family(&o, "pidsitter_exit_code", "gauge", "The code the wrapper exited with; no "
	    "sample while it runs.");
	if (m->exit_code >= 0)
		sample_i(&o, "pidsitter_exit_code", m->exit_code);

	family(&o, "pidsitter_start_time_seconds", "gauge", "Start time of the wrapper since "
	    "the Unix epoch in seconds.");
	sample_time(&o, "pidsitter_start_time_seconds", m->start_time);
	family(&o, "pidsitter_info", "gauge", "Always 1: the wrapper's version.");
	sample(&o, "pidsitter_info", "version", PIDSITTER_VERSION, "1");
	return o.text;
}

const char *
metrics_label_name_refusal(const std::string &name)
{
	if (name.empty())
		return "a label name must not be empty";
	for (size_t i = 0; i < name.size(); i++) {
		char c = name[i];
		bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
		if (!letter && !(i > 0 && c >= '0' && c <= '9'))
			return "a label name is letters, digits and '_', not starting with a digit";
	}
	if (name.compare(0, 2, "__") == 0)
		return "names starting with \"__\" are reserved for Prometheus's own use";
	for (const char *own : own_labels)
		if (name == own)
			return "pidsitter's own metrics use that label";
	return NULL;
}

/* Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing
 * above U+10FFFF. */
static bool
utf8_valid(const std::string &s)
{
	const unsigned char *p = (const unsigned char *)s.data();
	size_t n = s.size(), i = 0;

	while (i < n) {
		unsigned char c = p[i];
		size_t len;
		unsigned cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			len = 2, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			len = 3, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			len = 4, cp = c & 0x07;
		else
			return false;
		if (i + len > n)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

const char *
metrics_label_value_refusal(const std::string &value)
{
	if (value.empty())
		return "an empty label value is the same as no label to Prometheus";
	if (!utf8_valid(value))
		return "a label value must be UTF-8";
	return NULL;
}
