/*
 * client.h: pidsitter -s COMMAND, the control socket's client
 * (pidsitter(8), CONTROL).  Plain blocking code with a deadline: no loop.
 */
#ifndef PIDSITTER_CLIENT_H
#define PIDSITTER_CLIENT_H

#include <stdint.h>

#include "control.h"

/* The client's exit status (pidsitter(8), EXIT STATUS). */
enum client_exit {
	CLIENT_OK = 0,          /* done */
	CLIENT_FAILED = 1,      /* failed or refused: the reason is printed */
	CLIENT_USAGE = 2,
	CLIENT_NO_WRAPPER = 3,  /* nobody answers at the socket (LSB "not running") */
	CLIENT_TIMEOUT = 4,     /* no verdict before --timeout: it goes on */
};

/* Send req to the wrapper at path and print its reply: "info" lines on
 * stdout, a failure on stderr.  timeout_ms 0: wait as long as it takes.
 * Returns an enum client_exit. */
int client_run(const char *path, const struct control_request *req, uint64_t timeout_ms);

#endif
