/*
 * control_test.cc: the control socket's request line (control.cc), one
 * line per rule.
 */
#include <doctest/doctest.h>

#include <errno.h>
#include <string.h>

#include <string>

#include "control.h"

TEST_CASE("control: request lines, one per rule")
{
	static const struct {
		const char *line;
		int r;
		enum control_cmd cmd;
		bool json;
		const char *why;
	} cases[] = {
		{"status", 0, CTL_STATUS, false, ""},
		{"status json", 0, CTL_STATUS, true, ""},
		{"status\r", 0, CTL_STATUS, false, ""},  /* CRLF clients */
		{"upgrade", 0, CTL_UPGRADE, false, ""},
		{"stop", 0, CTL_STOP, false, ""},
		{"", -EINVAL, CTL_STATUS, false, "empty request"},
		{"\r", -EINVAL, CTL_STATUS, false, "empty request"},
		{"STATUS", -EINVAL, CTL_STATUS, false, "unknown command (status, upgrade or stop)"},
		{"stat", -EINVAL, CTL_STATUS, false, "unknown command (status, upgrade or stop)"},
		{"statusx", -EINVAL, CTL_STATUS, false, "unknown command (status, upgrade or stop)"},
		{" status", -EINVAL, CTL_STATUS, false, "unknown command (status, upgrade or stop)"},
		{"status ", -EINVAL, CTL_STATUS, false, "unexpected argument"},
		{"status  json", -EINVAL, CTL_STATUS, false, "unexpected argument"},
		{"status jsonx", -EINVAL, CTL_STATUS, false, "unexpected argument"},
		{"upgrade json", -EINVAL, CTL_STATUS, false, "unexpected argument"},
		{"stop now", -EINVAL, CTL_STATUS, false, "unexpected argument"},
		{"sta\ttus", -EINVAL, CTL_STATUS, false, "request is not printable text"},
		{"status\xc3\xa9", -EINVAL, CTL_STATUS, false, "request is not printable text"},
	};
	for (const auto &c : cases) {
		struct control_request req;
		const char *why = "";
		CAPTURE(c.line);
		CHECK(control_parse(c.line, strlen(c.line), &req, &why) == c.r);
		CHECK(std::string(why) == c.why);
		if (c.r == 0) {
			CHECK(req.cmd == c.cmd);
			CHECK(req.json == c.json);
		}
	}
	/* A NUL byte is no end of the line, and a long line is refused
	 * whatever it starts with. */
	struct control_request req;
	const char *why = "";
	CHECK(control_parse("stop\0x", 6, &req, &why) == -EINVAL);
	std::string longer = "status" + std::string(CONTROL_REQUEST_MAX, ' ');
	CHECK(control_parse(longer.data(), longer.size(), &req, &why) == -EINVAL);
	CHECK(std::string(why) == "request too long");
}
