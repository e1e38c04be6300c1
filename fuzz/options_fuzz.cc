/*
 * options_fuzz.cc: libFuzzer harness for the command line and the
 * environment: options_parse() then settings_resolve() (make fuzz).
 *
 * The input is split at its first NUL byte: before it, the words of the
 * command line after "pidsitter", one per line; after it, the environment,
 * NAME=VALUE per line, which a fake getenv serves (GITALY_PID_FILE,
 * WRAPPER_JSON_LOGGING, PIDSITTER_CONFIG).  Like the real ones, neither an
 * argument nor a variable can hold a NUL byte.
 *
 * Beyond "no crash and no sanitizer report", it checks that a usage error
 * is 2 with a message that does not blame a good option, and the
 * precedence pidsitter(8) documents: the command line wins, the daemon's
 * words are passed on untouched, and the daemon's name defaults to the
 * binary's basename.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <string>
#include <utility>
#include <vector>

#include "options.h"
#include "settings.h"

static std::vector<std::pair<std::string, std::string>> fake_env;

static const char *
fake_getenv(const char *name)
{
	for (const auto &e : fake_env)
		if (e.first == name)
			return e.second.c_str();
	return NULL;
}

/* Options that exist, and the long ones that take no argument. */
static const char *const known[] = {
	"-c", "-h", "-i", "-j", "-n", "-p", "-V", "-v", "--config", "--help",
	"--poll-interval", "--json", "--check-config", "--pid-file", "--version",
	"--verbose", "--notify-fd",
};
static const char *const no_argument_long[] = {
	"--help", "--json", "--check-config", "--version", "--verbose",
};

/* "unknown option X" must not name a real option, and "option X takes no
 * argument" must name (an abbreviation of) one that takes none. */
static void
check_usage_error(const std::string &err)
{
	static const std::string unknown = "unknown option ";
	static const std::string option = "option ", no_arg = " takes no argument";

	if (err.empty())
		abort();
	if (err.compare(0, unknown.size(), unknown) == 0) {
		std::string opt = err.substr(unknown.size());
		for (const char *k : known)
			if (opt == k)
				abort();
	}
	if (err.size() > option.size() + no_arg.size() &&
	    err.compare(0, option.size(), option) == 0 &&
	    err.compare(err.size() - no_arg.size(), no_arg.size(), no_arg) == 0) {
		std::string opt = err.substr(option.size(),
		    err.size() - option.size() - no_arg.size());
		bool ok = false;
		for (const char *k : no_argument_long)
			if (opt.size() > 2 && strncmp(k, opt.c_str(), opt.size()) == 0)
				ok = true;
		if (!ok)
			abort();
	}
}

/* text split at every newline; "" is no word at all. */
static std::vector<std::string>
lines(const std::string &text)
{
	std::vector<std::string> v;
	size_t at = 0;

	if (text.empty())
		return v;
	for (;;) {
		size_t nl = text.find('\n', at);
		v.push_back(text.substr(at, nl == std::string::npos ? std::string::npos : nl - at));
		if (nl == std::string::npos)
			return v;
		at = nl + 1;
	}
}

extern "C" int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	std::string in((const char *)data, size);
	size_t nul = in.find('\0');
	std::vector<std::string> words;
	std::vector<char *> argv;
	struct options o;
	struct settings s;
	std::string err;
	int r;

	words = lines(in.substr(0, nul));
	words.insert(words.begin(), "pidsitter");
	fake_env.clear();
	if (nul != std::string::npos) {
		std::string env = in.substr(nul + 1);
		for (char &c : env)
			if (c == '\0')
				c = '\n';
		for (const std::string &l : lines(env)) {
			size_t eq = l.find('=');
			if (eq != std::string::npos)
				fake_env.push_back({l.substr(0, eq), l.substr(eq + 1)});
		}
	}
	for (std::string &w : words)
		argv.push_back(&w[0]);
	argv.push_back(NULL);

	r = options_parse((int)words.size(), argv.data(), &o, &err);
	if (r != 0) {
		if (r != -EINVAL)
			abort();
		check_usage_error(err);
		return 0;
	}
	if (o.action != OPT_RUN)
		return 0;
	r = settings_resolve(&o, fake_getenv, &s, &err);
	if (r != 0) {
		if (r != -EINVAL || err.empty())
			abort();
		return 0;
	}
	if ((!o.pid_file.empty() && s.pid_file != o.pid_file) || s.pid_file.empty())
		abort();
	if (o.json && s.log_format != LOG_FORMAT_JSON)
		abort();
	if (o.poll_interval_ms != 0 && s.poll_interval_ms != o.poll_interval_ms)
		abort();
	if (s.argv != o.argv || (!s.argv.empty() && s.names.empty()))
		abort();
	settings_describe(&s);
	return 0;
}
