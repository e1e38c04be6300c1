/*
 * notifymsg.cc: the daemon's notification datagrams (notify.h), parsed as
 * untrusted bytes, and the socket's address.  No libuv, no I/O: fuzzed
 * (fuzz/notify_fuzz.cc).
 */
#include "notify.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

/* Decimal digits only, no sign, no spaces, at most max.  0 or -EINVAL. */
static int
parse_uint(const char *p, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -EINVAL;
		if (v > (max - (uint64_t)(p[i] - '0')) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	*out = v;
	return 0;
}

static bool
is_key(const char *p, size_t n, const char *key)
{
	return strlen(key) == n && memcmp(p, key, n) == 0;
}

static bool
is_value(const char *p, size_t n, const char *v)
{
	return strlen(v) == n && memcmp(p, v, n) == 0;
}

/* One KEY=VALUE line.  0 or -EINVAL with *why. */
static int
parse_line(const char *p, size_t n, struct notify_msg *m, const char **why)
{
	const char *eq = (const char *)memchr(p, '=', n);
	size_t klen, vlen;
	const char *v;
	uint64_t u;

	if (eq == NULL || eq == p) {
		*why = "a line is not KEY=VALUE";
		return -EINVAL;
	}
	klen = (size_t)(eq - p);
	for (size_t i = 0; i < klen; i++) {
		char c = p[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) {
			*why = "a key holds a byte other than A-Z, 0-9 or _";
			return -EINVAL;
		}
	}
	v = eq + 1;
	vlen = n - klen - 1;
	for (size_t i = 0; i < vlen; i++) {
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) {
			*why = "a value holds a control byte";
			return -EINVAL;
		}
	}
	if (is_key(p, klen, "READY")) {
		m->ready = is_value(v, vlen, "1");
	} else if (is_key(p, klen, "RELOADING")) {
		m->reloading = is_value(v, vlen, "1");
	} else if (is_key(p, klen, "STOPPING")) {
		m->stopping = is_value(v, vlen, "1");
	} else if (is_key(p, klen, "BARRIER")) {
		m->barrier = is_value(v, vlen, "1");
	} else if (is_key(p, klen, "WATCHDOG")) {
		if (is_value(v, vlen, "1"))
			m->watchdog = true;
		else if (is_value(v, vlen, "trigger"))
			m->watchdog_trigger = true;
		else {
			*why = "WATCHDOG is neither 1 nor trigger";
			return -EINVAL;
		}
	} else if (is_key(p, klen, "MAINPID")) {
		/* pid_max is at most 2^22 (PID_MAX_LIMIT, include/linux/threads.h). */
		if (parse_uint(v, vlen, INT_MAX, &u) != 0 || u < 1) {
			*why = "MAINPID is not a process id";
			return -EINVAL;
		}
		m->mainpid = (pid_t)u;
	} else if (is_key(p, klen, "STATUS")) {
		m->have_status = true;
		m->status.assign(v, vlen);
	} else if (is_key(p, klen, "EXTEND_TIMEOUT_USEC")) {
		if (parse_uint(v, vlen, UINT64_MAX, &m->extend_usec) != 0) {
			*why = "EXTEND_TIMEOUT_USEC is not a number";
			return -EINVAL;
		}
		m->have_extend = true;
	} else if (is_key(p, klen, "MONOTONIC_USEC")) {
		if (parse_uint(v, vlen, UINT64_MAX, &m->monotonic_usec) != 0) {
			*why = "MONOTONIC_USEC is not a number";
			return -EINVAL;
		}
		m->have_monotonic = true;
	} else if (is_key(p, klen, "ERRNO")) {
		/* errno values are small; systemd takes 0..INT_MAX. */
		if (parse_uint(v, vlen, INT_MAX, &u) != 0) {
			*why = "ERRNO is not a number";
			return -EINVAL;
		}
		m->err = (int)u;
	}
	return 0;
}

int
notify_parse(const char *buf, size_t len, struct notify_msg *m, const char **why)
{
	*m = notify_msg();
	if (len > NOTIFY_MSG_MAX) {
		*why = "longer than 4096 bytes";
		return -EMSGSIZE;
	}
	if (len == 0) {
		*why = "empty";
		return -EINVAL;
	}
	size_t start = 0;
	while (start < len) {
		const char *nl = (const char *)memchr(buf + start, '\n', len - start);
		size_t end = nl == NULL ? len : (size_t)(nl - buf);
		int r;

		/* An empty line is allowed (sd_notify's "\n" at the end, or
		 * a message built by joining lines). */
		if (end > start && (r = parse_line(buf + start, end - start, m, why)) != 0) {
			*m = notify_msg();
			return r;
		}
		start = end + 1;
	}
	return 0;
}

/* FNV-1a, 64 bits: not for secrecy (the credential check is what makes
 * the socket safe, pidsitter(8) NOTIFICATIONS), only a short stable name. */
static uint64_t
fnv1a64(const std::string &s)
{
	uint64_t h = 14695981039346656037ULL;

	for (unsigned char c : s) {
		h ^= c;
		h *= 1099511628211ULL;
	}
	return h;
}

std::string
notify_address(const struct settings *s, const char *cwd)
{
	char buf[40];
	std::string path;

	if (!s->notify_socket.empty())
		return s->notify_socket;
	path = s->pid_file;
	if (path.empty() || path[0] != '/')
		path = std::string(cwd != NULL ? cwd : "") + "/" + path;
	snprintf(buf, sizeof buf, "@pidsitter/%016llx", (unsigned long long)fnv1a64(path));
	return buf;
}
