/*
 * control_fuzz.cc: libFuzzer harness for control_parse(), the parser of
 * the line a control socket client sends (make fuzz).
 *
 * Beyond "no crash and no sanitizer report", the result is compared with
 * the grammar of control.h written out the plain way: one of "status",
 * "status json", "upgrade", "stop", optionally ended by a carriage return,
 * shorter than CONTROL_REQUEST_MAX; anything else is -EINVAL with a
 * reason.  libFuzzer hands over a buffer of exactly size bytes, so ASan
 * catches a read past len.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <string>

#include "control.h"

extern "C" int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct control_request req;
	const char *why = NULL;
	std::string line((const char *)data, size);
	int r = control_parse((const char *)data, size, &req, &why);

	if (!line.empty() && line.back() == '\r')
		line.pop_back();
	bool valid = line == "status" || line == "status json" || line == "upgrade" ||
	    line == "stop";
	if (valid != (r == 0))
		abort();
	if (r == 0) {
		bool json = line == "status json";
		enum control_cmd cmd = line.compare(0, 6, "status") == 0 ? CTL_STATUS :
		    line == "upgrade" ? CTL_UPGRADE : CTL_STOP;
		if (req.cmd != cmd || req.json != json)
			abort();
		if (strcmp(control_cmd_name(req.cmd), line.substr(0, line.find(' ')).c_str()) != 0)
			abort();
	} else if (r != -EINVAL || why == NULL || *why == '\0') {
		abort();
	}
	return 0;
}
