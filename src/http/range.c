/* range.c: single byte-range parsing for file replies. */
#include "core/vb.h"
#include "http/range.h"

#include <strings.h>

/* Parses a run of decimal digits at *p into *out; false when there are none or it
 * overflows. Advances *p. */
static bool parse_u64(const char **p, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (*s < '0' || *s > '9')
        return false;
    while (*s >= '0' && *s <= '9') {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
        s++;
    }
    *out = v;
    *p = s;
    return true;
}

static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

enum http_range_result http_range_parse(const char *h, uint64_t size, uint64_t *start,
                                        uint64_t *len)
{
    *start = 0;
    *len = size;
    if (!h)
        return HTTP_RANGE_NONE;
    const char *s = skip_ws(h);
    if (strncasecmp(s, "bytes", 5) != 0)
        return HTTP_RANGE_NONE;
    s = skip_ws(s + 5);
    if (*s != '=')
        return HTTP_RANGE_NONE;
    s = skip_ws(s + 1);
    uint64_t a = 0, b = 0;
    bool has_a = false, has_b = false;
    if (*s != '-') {
        if (!parse_u64(&s, &a))
            return HTTP_RANGE_NONE;
        has_a = true;
    }
    s = skip_ws(s);
    if (*s != '-')
        return HTTP_RANGE_NONE;
    s = skip_ws(s + 1);
    if (*s >= '0' && *s <= '9') {
        if (!parse_u64(&s, &b))
            return HTTP_RANGE_NONE;
        has_b = true;
    }
    s = skip_ws(s);
    if (*s != '\0') /* multiple ranges or junk */
        return HTTP_RANGE_NONE;
    if (!has_a && !has_b)
        return HTTP_RANGE_NONE;
    if (has_a && has_b && b < a)
        return HTTP_RANGE_NONE; /* invalid range-spec: ignore */
    if (!has_a) {               /* suffix: the last b bytes */
        if (b == 0 || size == 0)
            return HTTP_RANGE_UNSATISFIABLE;
        uint64_t n = b < size ? b : size;
        *start = size - n;
        *len = n;
        return HTTP_RANGE_OK;
    }
    if (a >= size)
        return HTTP_RANGE_UNSATISFIABLE;
    uint64_t last = (has_b && b < size - 1) ? b : size - 1;
    *start = a;
    *len = last - a + 1;
    return HTTP_RANGE_OK;
}
