/*
 * control.h: the control socket (pidsitter(8), CONTROL).  The wrapper
 * listens on a Unix stream socket; a client (pidsitter -s, client.cc)
 * connects, sends one request line and reads reply lines until the final
 * one:
 *
 *   request = command [" json"] "\n"     at most CONTROL_REQUEST_MAX bytes
 *   command = "status" | "upgrade" | "stop"
 *   reply   = *("info " text "\n") ("ok " | "fail ") text "\n"
 *
 * "info" lines are what the client prints; "ok" and "fail" end the reply
 * (the client exits 0 or 1) and the wrapper closes the connection.
 *
 * Nothing a client does can stall the wrapper: the socket is non-blocking,
 * each connection is bounded in bytes and in the time it takes to send its
 * request, their number is bounded, and a reply is a few short lines that
 * the kernel's socket buffer takes whole (a client that never reads is
 * closed once its unread replies pass CONTROL_QUEUE_MAX).  Only the exit
 * waits for clients, CONTROL_EXIT_MS at most in all (control_exit()).
 */
#ifndef PIDSITTER_CONTROL_H
#define PIDSITTER_CONTROL_H

#include <stddef.h>
#include <sys/types.h>

#include <uv.h>

#include <deque>
#include <string>
#include <vector>

#define CONTROL_REQUEST_MAX 128     /* a request line, its newline included */
#define CONTROL_INPUT_MAX 4096      /* what a connection may send in all */
#define CONTROL_REQUEST_MS 5000     /* to send the request line */
#define CONTROL_QUEUE_MAX 65536     /* replies the client has not read */
#define CONTROL_CONNS_MAX 128       /* connections at once, at most */
#define CONTROL_FD_SHARE 4          /* and at most 1/4 of RLIMIT_NOFILE */
#define CONTROL_LOCK_MS 1000        /* control_open() waits this for the lock */
#define CONTROL_EXIT_MS 200         /* the exit waits this for slow readers */

enum control_cmd {
	CTL_STATUS,
	CTL_UPGRADE,
	CTL_STOP,
};

struct control_request {
	enum control_cmd cmd;
	bool json;        /* status: one JSON object instead of text lines */
};

/* Parse a request line (without its newline).  0, or -EINVAL with *why
 * pointing at a static reason.  Pure, for the tests and the fuzzer. */
int control_parse(const char *line, size_t len, struct control_request *req,
    const char **why);

/* The command's name, as a request writes it. */
const char *control_cmd_name(enum control_cmd cmd);

struct control;
struct control_write;

/* One client. */
struct control_conn {
	struct control *c;
	uv_pipe_t pipe;
	uv_timer_t timer;          /* the request's deadline */
	std::string in;            /* the request line, as it comes */
	size_t received;           /* bytes read in all */
	pid_t peer_pid;
	uid_t peer_uid;
	bool have_request;
	bool waiting;              /* for a verdict: see control_wait() */
	enum control_cmd cmd;
	bool closing;
	int open_handles;
	/* Its uv_write()s whose callback has not run, oldest first: what
	 * libuv has not written yet is the end of them (control_exit()). */
	std::deque<struct control_write *> writes;
};

/* A request arrived on conn: answer with control_info()/control_done(),
 * now or later (control_wait()). */
typedef void (*control_request_fn)(struct control_conn *conn,
    const struct control_request *req, void *data);

struct control {
	uv_loop_t *loop;
	uv_pipe_t server;
	bool listening;
	std::string path;          /* as configured, for messages */
	std::string name;          /* its last component */
	int dirfd;                 /* its directory (O_PATH), -1: none */
	dev_t dev;                 /* the socket's inode, removed at exit */
	ino_t ino;                 /* only while it is still ours */
	std::vector<struct control_conn *> conns;
	size_t conns_max;          /* CONTROL_CONNS_MAX, or fewer: see control_open() */
	control_request_fn request;
	void *data;
};

/*
 * Listen at path: its directory must pass the pid file's trust rules
 * (pidfile.h; daemon_owner as there), the socket is created mode 0600.
 * A socket already there is asked first: when a wrapper answers, -EADDRINUSE
 * and *why names its pid; when nobody answers it is stale and removed.
 * Anything else at path is left alone (-EEXIST).  0 or -errno, *why set.
 * The look, the removal, bind() and listen() happen under flock(2) on the
 * directory: a socket bound but not yet listening looks stale to another
 * wrapper starting at the same moment.  The connections served at once
 * are at most a quarter of RLIMIT_NOFILE, so that clients never take the
 * descriptors the wrapper needs to follow the daemon.
 */
int control_open(struct control *c, uv_loop_t *loop, const char *path, uid_t daemon_owner,
    control_request_fn request, void *data, std::string *why);

/* An "info" line to conn. */
void control_info(struct control_conn *conn, const std::string &text);
/* The final line ("ok" or "fail"); the connection then closes. */
void control_done(struct control_conn *conn, bool ok, const std::string &text);
/* conn waits for the verdict of cmd: control_verdict() answers it. */
void control_wait(struct control_conn *conn, enum control_cmd cmd);
/* The verdict for every connection waiting for cmd. */
void control_verdict(struct control *c, enum control_cmd cmd, bool ok, const std::string &text);
/* Is anyone waiting for cmd? */
bool control_waiting(const struct control *c, enum control_cmd cmd);

/* The wrapper exits with code (the loop runs no more): the socket is
 * removed (only if it is still ours); each connection is written what
 * libuv still held for it and then, if it waits, its verdict ("ok" to
 * whoever waits for the stop, "fail" to the others), waiting at most
 * CONTROL_EXIT_MS in all for clients slow to read; every connection is
 * then closed. */
void control_exit(struct control *c, int code);

/* Close the handles (the loop then runs out): a start that failed.  The
 * socket is removed. */
void control_close(struct control *c);

#endif
