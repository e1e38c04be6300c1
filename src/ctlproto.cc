/*
 * ctlproto.cc: the control socket's request line (control.h has the
 * protocol).  Pure and apart from the server, so the fuzzer links it
 * without libuv.
 */
#include <errno.h>
#include <string.h>

#include "control.h"

static const char *const cmd_names[] = {"status", "upgrade", "stop"};

const char *
control_cmd_name(enum control_cmd cmd)
{
	return cmd_names[cmd];
}

int
control_parse(const char *line, size_t len, struct control_request *req, const char **why)
{
	size_t i, word_end;

	/* A client that ends its line with CRLF (telnet, some nc) is fine. */
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0) {
		*why = "empty request";
		return -EINVAL;
	}
	if (len >= CONTROL_REQUEST_MAX) {
		*why = "request too long";
		return -EINVAL;
	}
	for (i = 0; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] > 0x7e) {
			*why = "request is not printable text";
			return -EINVAL;
		}
	for (word_end = 0; word_end < len && line[word_end] != ' '; word_end++)
		;
	req->json = false;
	for (i = 0; i < sizeof cmd_names / sizeof cmd_names[0]; i++)
		if (strlen(cmd_names[i]) == word_end &&
		    memcmp(line, cmd_names[i], word_end) == 0)
			break;
	if (i == sizeof cmd_names / sizeof cmd_names[0]) {
		*why = "unknown command (status, upgrade or stop)";
		return -EINVAL;
	}
	req->cmd = (enum control_cmd)i;
	if (word_end == len)
		return 0;
	if (req->cmd == CTL_STATUS && len - word_end - 1 == 4 &&
	    memcmp(line + word_end + 1, "json", 4) == 0) {
		req->json = true;
		return 0;
	}
	*why = "unexpected argument";
	return -EINVAL;
}
