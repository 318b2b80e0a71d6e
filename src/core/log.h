/* log.h: level-checked logging to stderr. The macro tests the level before evaluating
 * its arguments. Thread-safe: each line is written with one call. */
#ifndef VB_LOG_H
#define VB_LOG_H

#include "core/vb.h"

enum vb_log_level {
    VB_LOG_DEBUG = 0,
    VB_LOG_INFO = 1,
    VB_LOG_WARN = 2,
    VB_LOG_ERROR = 3,
};

extern int vb_log_threshold; /* lines below this level are dropped; set once at start-up */

/* Parses "debug", "info", "warn"/"warning", "error" (any case). false if unknown. */
bool vb_log_level_parse(const char *s, enum vb_log_level *out);
void vb_log_set_level(enum vb_log_level level);
void vb_log_write(enum vb_log_level level, const char *fmt, ...) VB_PRINTF(2, 3);

#define vb_log(level, ...)                                                                         \
    do {                                                                                           \
        if ((int)(level) >= vb_log_threshold)                                                      \
            vb_log_write((level), __VA_ARGS__);                                                    \
    } while (0)

#define vb_debug(...) vb_log(VB_LOG_DEBUG, __VA_ARGS__)
#define vb_info(...)  vb_log(VB_LOG_INFO, __VA_ARGS__)
#define vb_warn(...)  vb_log(VB_LOG_WARN, __VA_ARGS__)
#define vb_error(...) vb_log(VB_LOG_ERROR, __VA_ARGS__)

/* A rate limit for one kind of repeated line (e.g. "database unreachable" once per failing
 * request): at most one line per interval; the lines dropped in between are counted and the
 * next line that passes says how many. Zero-initialise it (a static is fine); thread-safe. */
struct vb_log_limit {
    _Atomic int64_t next_ms;  /* monotonic ms before which lines are dropped */
    _Atomic uint64_t dropped; /* lines dropped since the last one written */
};

/* The decision alone, at monotonic time `now_ms`: true when a line may be written now (the
 * window restarts for `interval_ms`), with *dropped_out (may be NULL) the count dropped since
 * the previous line; false when it is to be dropped (and is counted). */
bool vb_log_limit_pass(struct vb_log_limit *lim, int64_t interval_ms, int64_t now_ms,
                       uint64_t *dropped_out);
/* Writes the line (when `level` is logged at all) if `lim` lets it pass, at most once per
 * `interval_s` seconds, with " (N similar lines suppressed)" appended when N > 0. */
void vb_log_limited(struct vb_log_limit *lim, int interval_s, enum vb_log_level level,
                    const char *fmt, ...) VB_PRINTF(4, 5);

#endif
