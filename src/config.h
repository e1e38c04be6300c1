/*
 * config.h: the optional TOML file (pidsitter.toml(5)) into struct settings.
 * config.cc is the only file that includes toml++.
 */
#ifndef PIDSITTER_CONFIG_H
#define PIDSITTER_CONFIG_H

#include <stddef.h>

#include <string>

#include "settings.h"

/* Read path and apply every key it sets to *s (over the defaults already
 * in *s).  Returns 0, or -EINVAL with *err set to "FILE:LINE:COL: what is wrong"
 * (FILE alone when the file cannot be read). */
int config_load(const char *path, struct settings *s, std::string *err);

/* The same for text already in memory; path only names it in messages. */
int config_parse(const char *text, size_t len, const char *path,
    struct settings *s, std::string *err);

#endif
