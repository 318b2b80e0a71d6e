/* log.c: one line per call: ISO-8601 UTC time, level, message; and the per-kind rate limit
 * for lines that would otherwise repeat once per request. */
#include "core/vb.h"
#include "core/log.h"
#include "core/time_fmt.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

int vb_log_threshold = VB_LOG_INFO;

bool vb_log_level_parse(const char *s, enum vb_log_level *out)
{
    static const struct {
        const char *name;
        enum vb_log_level level;
    } names[] = {{"debug", VB_LOG_DEBUG},
                 {"info", VB_LOG_INFO},
                 {"warn", VB_LOG_WARN},
                 {"warning", VB_LOG_WARN},
                 {"error", VB_LOG_ERROR}};
    for (size_t i = 0; s && i < VB_ARRAY_LEN(names); i++) {
        if (strcasecmp(s, names[i].name) == 0) {
            *out = names[i].level;
            return true;
        }
    }
    return false;
}

void vb_log_set_level(enum vb_log_level level)
{
    vb_log_threshold = (int)level;
}

void vb_log_write(enum vb_log_level level, const char *fmt, ...)
{
    static const char *const tags[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    char line[4096];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    int k = snprintf(line + n, sizeof line - n, ".%03ldZ %-5s ", ts.tv_nsec / 1000000L,
                     tags[level & 3]);
    n += k > 0 ? (size_t)k : 0;
    va_list ap;
    va_start(ap, fmt);
    k = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
    va_end(ap);
    if (k > 0)
        n += VB_MIN((size_t)k, sizeof line - n - 2);
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}

bool vb_log_limit_pass(struct vb_log_limit *lim, int64_t interval_ms, int64_t now_ms,
                       uint64_t *dropped_out)
{
    int64_t next = atomic_load(&lim->next_ms);
    /* next_ms 0: nothing written yet. Only the thread whose exchange wins writes a line. */
    if ((next == 0 || now_ms >= next) &&
        atomic_compare_exchange_strong(&lim->next_ms, &next, now_ms + interval_ms)) {
        uint64_t dropped = atomic_exchange(&lim->dropped, 0);
        if (dropped_out)
            *dropped_out = dropped;
        return true;
    }
    atomic_fetch_add(&lim->dropped, 1);
    return false;
}

void vb_log_limited(struct vb_log_limit *lim, int interval_s, enum vb_log_level level,
                    const char *fmt, ...)
{
    char msg[3072];
    uint64_t dropped = 0;
    if ((int)level < vb_log_threshold ||
        !vb_log_limit_pass(lim, (int64_t)interval_s * 1000, vb_mono_ms(), &dropped))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (dropped)
        vb_log_write(level, "%s (%llu similar lines suppressed)", msg, (unsigned long long)dropped);
    else
        vb_log_write(level, "%s", msg);
}
