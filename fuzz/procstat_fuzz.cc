/*
 * procstat_fuzz.cc: libFuzzer harness for proc_stat_parse(), the
 * /proc/PID/stat parser (make fuzz).
 *
 * The kernel writes that text, but its second field is the process's comm,
 * which the process chooses (prctl(PR_SET_NAME)): any 15 bytes, spaces and
 * parentheses included.  Beyond "no crash and no sanitizer report", a
 * result is compared with the same fields found the plain way: after the
 * last ')', split at every space; field 3 is the state, 4 the ppid, 9 the
 * flags, 22 the start time, each number ending at a space, a newline or
 * the end.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <string>
#include <vector>

#include "proc.h"

/* The leading decimal digits of a field, which must end the field or be
 * followed by a newline (the end of the line). */
static bool
number(const std::string &f, unsigned long long *v)
{
	size_t i = 0;
	unsigned long long n = 0;

	for (; i < f.size() && f[i] >= '0' && f[i] <= '9'; i++) {
		if (n > (~0ULL - (unsigned)(f[i] - '0')) / 10)
			return false;
		n = n * 10 + (unsigned)(f[i] - '0');
	}
	if (i == 0 || (i < f.size() && f[i] != '\n'))
		return false;
	*v = n;
	return true;
}

static bool
expected(const char *buf, size_t len, struct proc_stat *st)
{
	std::string s(buf, len);
	std::vector<std::string> f;
	size_t close = s.rfind(')'), at;
	unsigned long long ppid, flags, start;

	if (close == std::string::npos || close + 2 >= len || s[close + 1] != ' ')
		return false;
	at = close + 2;
	for (;;) {
		size_t sp = s.find(' ', at);
		f.push_back(s.substr(at, sp == std::string::npos ? std::string::npos : sp - at));
		if (sp == std::string::npos || f.size() == 20)
			break;
		at = sp + 1;
	}
	/* f[0] is field 3; field 22 is f[19]. */
	if (f.size() < 20 || !number(f[1], &ppid) || !number(f[6], &flags) ||
	    !number(f[19], &start))
		return false;
	st->state = s[close + 2];
	st->ppid = (pid_t)ppid;
	st->flags = flags;
	st->start_time = start;
	return true;
}

extern "C" int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proc_stat got, want;
	int r;

	memset(&got, 0, sizeof got);
	memset(&want, 0, sizeof want);
	r = proc_stat_parse((const char *)data, size, &got);
	if (r != 0 && r != -EINVAL)
		abort();
	if ((r == 0) != expected((const char *)data, size, &want))
		abort();
	if (r == 0 && (got.state != want.state || got.ppid != want.ppid ||
	    got.flags != want.flags || got.start_time != want.start_time))
		abort();
	return 0;
}
