/*
 * clock.h: the monotonic clock, for deadlines kept outside the loop (the
 * client, the log's and the control socket's waits at exit); inside it,
 * uv_now() is the clock.
 */
#ifndef PIDSITTER_CLOCK_H
#define PIDSITTER_CLOCK_H

/* CLOCK_MONOTONIC in milliseconds: for differences, never a date. */
long long clock_now_ms(void);

#endif
