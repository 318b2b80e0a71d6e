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

#endif
