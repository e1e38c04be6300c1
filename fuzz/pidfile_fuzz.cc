/*
 * pidfile_fuzz.cc: libFuzzer harness for pidfile_parse(), the parser of
 * text that another program, maybe another user, wrote (make fuzz).
 *
 * Beyond "no crash and no sanitizer report", the result is compared with
 * what pidfile.h promises, written out again the plain way: no NUL byte,
 * optional surrounding whitespace, decimal digits only, within 1..pid_max;
 * -EINVAL and a reason otherwise.  libFuzzer hands over a buffer of exactly
 * size bytes, so ASan catches a read past len.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "pidfile.h"

/* The kernel's ceiling (PID_MAX_LIMIT), its default on small machines,
 * and the smallest, where only "1" is a pid. */
static const long pid_maxes[] = {4194304, 32768, 1};

static bool
space(char c)
{
	return strchr(" \t\n\r\v\f", c) != NULL && c != '\0';
}

/* pidfile.h's contract, without the parser's shortcuts: the pid, or 0. */
static long
expected(const char *buf, size_t len, long pid_max)
{
	size_t start = 0, end = len;
	long v = 0;

	if (memchr(buf, '\0', len) != NULL)
		return 0;
	while (start < end && space(buf[start]))
		start++;
	while (end > start && space(buf[end - 1]))
		end--;
	if (start == end)
		return 0;
	for (size_t i = start; i < end; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return 0;
		if (v <= pid_max)   /* saturate: past pid_max is out of range */
			v = v * 10 + (buf[i] - '0');
	}
	return v >= 1 && v <= pid_max ? v : 0;
}

extern "C" int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;

	for (long pid_max : pid_maxes) {
		pid_t pid = -1;
		const char *why = NULL;
		int r = pidfile_parse(buf, size, pid_max, &pid, &why);
		long want = expected(buf, size, pid_max);

		if (r == 0 && (want == 0 || pid != want))
			abort();
		if (r != 0 && (r != -EINVAL || want != 0 || why == NULL || *why == '\0'))
			abort();
	}
	return 0;
}
