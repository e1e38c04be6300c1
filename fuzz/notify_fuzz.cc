/*
 * notify_fuzz.cc: libFuzzer harness for notify_parse(), the parser of the
 * datagrams a daemon (or anyone who can reach the socket) sends to the
 * wrapper's notification socket (make fuzz).
 *
 * Beyond "no crash and no sanitizer report", the result is checked
 * against notify.h's contract: longer than NOTIFY_MSG_MAX is -EMSGSIZE;
 * accepted, every non-empty line is KEY=VALUE with KEY of A-Z 0-9 _ and
 * no control byte anywhere but the newlines; a refusal says why and
 * leaves nothing set; STATUS holds no control byte; MAINPID is positive.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "notify.h"

/* notify.h's grammar, the plain way. */
static bool
well_formed(const char *buf, size_t len)
{
	size_t i = 0;

	if (len == 0)
		return false;
	while (i < len) {
		size_t start = i;
		bool key = true, eq = false;

		for (; i < len && buf[i] != '\n'; i++) {
			unsigned char c = (unsigned char)buf[i];
			if (c < 0x20 || c == 0x7f)
				return false;
			if (key && c == '=') {
				if (i == start)
					return false;
				key = false;
				eq = true;
			} else if (key && !((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			    c == '_')) {
				return false;
			}
		}
		if (i > start && !eq)
			return false;
		i++;
	}
	return true;
}

extern "C" int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct notify_msg m;
	const char *why = NULL;
	int r = notify_parse(buf, size, &m, &why);

	if (size > NOTIFY_MSG_MAX) {
		if (r != -EMSGSIZE)
			abort();
		return 0;
	}
	if (r != 0) {
		if (r != -EINVAL || why == NULL || m.ready || m.mainpid != 0 || m.have_status)
			abort();
		return 0;
	}
	if (!well_formed(buf, size))
		abort();
	for (char c : m.status)
		if ((unsigned char)c < 0x20 || c == 0x7f)
			abort();
	if (m.mainpid < 0)
		abort();
	return 0;
}
