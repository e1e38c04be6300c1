/*
 * event.h: the record the benchmark fixture writes for each thing that
 * happens to it, and that the driver reads back.  Shared by fixture.c (C)
 * and the driver (C++, driver.cc), so it stays plain C.
 *
 * Every record is one write(2) of sizeof(struct fx_event) bytes to a FIFO
 * (or a file opened O_APPEND).  That is less than PIPE_BUF, so records from
 * several fixture processes sharing one FIFO never interleave.
 */
#ifndef BENCH_EVENT_H
#define BENCH_EVENT_H

#include <stdint.h>

/* Kinds that are not signals are negative; a positive kind is the number of
 * the signal whose handler ran. */
enum {
	FX_START = -1,	/* first thing in main(): the daemon is running */
	FX_READY = -2,	/* handlers installed and pid file written */
	FX_RENAME = -3,	/* upgrade: time taken just before rename() of the pid file */
	FX_NOTIFY = -4	/* just before sendto() of READY=1 to $NOTIFY_SOCKET */
};

struct fx_event {
	int32_t pid;	/* getpid() of the fixture process that wrote it */
	int32_t kind;	/* FX_* or a signal number */
	int64_t sec;	/* CLOCK_MONOTONIC */
	int64_t nsec;
};

#endif
