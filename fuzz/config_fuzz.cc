/*
 * config_fuzz.cc: libFuzzer harness for config_parse(), the TOML file
 * loader and its toml++ parser (make fuzz).
 *
 * Beyond "no crash, no leak and no sanitizer report", it checks what
 * config.h and pidsitter.toml(5) promise:
 * - an error is 2 and one line, "fuzz.toml:LINE:COL: what", and leaves the
 *   caller's settings as they were;
 * - what a good file set survives the trip through settings_describe()
 *   (the TOML that -n prints) and back: reading the printed text gives the
 *   same settings.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <string>

#include "config.h"
#include "options.h"
#include "settings.h"

#define NAME "fuzz.toml"

static void
check_error(int r, const std::string &err)
{
	if (r != -EINVAL || err.compare(0, strlen(NAME ":"), NAME ":") != 0 ||
	    err.find('\n') != std::string::npos)
		abort();
}

extern "C" int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct settings s, again;
	std::string err, before, printed;
	int r;

	settings_defaults(&s);
	before = settings_describe(&s);
	r = config_parse((const char *)data, size, NAME, &s, &err);
	if (r != 0) {
		check_error(r, err);
		if (settings_describe(&s) != before)
			abort();
		return 0;
	}

	/* What settings_resolve() adds before -n prints: a file may leave
	 * them out, and "", [] or {} would not read back. */
	if (s.pid_file.empty())
		s.pid_file = "/run/fuzz.pid";
	if (s.names.empty())
		s.names.push_back("fuzzd");
	if (s.metrics_labels.empty())
		s.metrics_labels.push_back({"daemon", "fuzzd"});
	printed = settings_describe(&s);
	settings_defaults(&again);
	r = config_parse(printed.data(), printed.size(), NAME, &again, &err);
	if (r != 0 || settings_describe(&again) != printed)
		abort();
	return 0;
}
