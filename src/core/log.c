/* log.c: one line per call: ISO-8601 UTC time, level, message. */
#include "core/vb.h"
#include "core/log.h"

#include <stdarg.h>
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
