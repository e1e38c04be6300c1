/* Placeholder until the TOML loader lands (issue 4). */
#include "config.h"

int
config_parse(const char *, size_t, const char *path, struct settings *, std::string *err)
{
	*err = std::string(path) + ": configuration files are not supported yet";
	return 2;
}

int
config_load(const char *path, struct settings *s, std::string *err)
{
	return config_parse("", 0, path, s, err);
}
