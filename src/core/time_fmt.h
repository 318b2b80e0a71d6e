/* time_fmt.h: wall-clock and monotonic time, and ISO-8601 UTC formatting for API bodies. */
#ifndef VB_TIME_FMT_H
#define VB_TIME_FMT_H

#include "core/vb.h"
#include "core/err.h"

#include <pthread.h>
#include <time.h>

#define VB_ISO8601_LEN 32 /* buffer size for vb_format_iso8601 */

/* Seconds since the Unix epoch (wall clock). */
int64_t vb_now_unix(void);
/* Milliseconds since the Unix epoch (wall clock). */
int64_t vb_now_ms(void);
/* Milliseconds from an arbitrary start (monotonic; for durations and timeouts). */
int64_t vb_mono_ms(void);
/* The CLOCK_MONOTONIC time `ms` milliseconds from now: the deadline for
 * pthread_cond_timedwait on a condition variable made with vb_cond_init_mono. */
void vb_mono_deadline(struct timespec *ts, int64_t ms);
/* Initialises cv to time its waits against CLOCK_MONOTONIC (immune to clock changes). */
void vb_cond_init_mono(pthread_cond_t *cv);
/* Writes "YYYY-MM-DDTHH:MM:SSZ" (UTC) into out. Years outside 0..9999 are clamped. */
void vb_format_iso8601(int64_t unix_s, char out[VB_ISO8601_LEN]);
/* Parses "YYYY-MM-DDTHH:MM:SS[.fff]Z" (also with ' ' for 'T', "+00:00"/"+00" or nothing for 'Z', as
 * databases print timestamps) into seconds since the epoch. VB_ERR_INVALID if malformed. */
VB_WUR enum vb_err vb_parse_iso8601(const char *s, int64_t *out);

#endif
