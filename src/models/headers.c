/* headers.c: parsing of status lines, Content-Range, Content-Length, X-Linked-Etag and
 * X-Linked-Size. */
#include "core/vb.h"
#include "models/headers.h"
#include "models/registry.h"

#include <strings.h>

void models_resp_init(struct models_resp *r)
{
    memset(r, 0, sizeof *r);
    r->content_length = -1;
}

/* Decimal digits only, no sign or blanks, no overflow. */
static bool parse_u64(const char *s, const char *end, uint64_t *out)
{
    uint64_t v = 0;
    if (s >= end)
        return false;
    for (; s < end; s++) {
        if (*s < '0' || *s > '9')
            return false;
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* "bytes START-END/TOTAL", a star for TOTAL (unknown size), or a star for START-END with a
 * TOTAL (the form of a 416 answer). */
static void parse_content_range(struct models_resp *r, const char *v, const char *end)
{
    /* A later Content-Range replaces an earlier one, even when it does not parse. */
    r->have_range = false;
    r->range_start = r->range_end = r->range_total = 0;
    if ((size_t)(end - v) < 6 || strncasecmp(v, "bytes ", 6) != 0)
        return;
    v += 6;
    const char *slash = memchr(v, '/', (size_t)(end - v));
    if (!slash)
        return;
    uint64_t total = 0;
    bool total_star = end - slash == 2 && slash[1] == '*';
    if (!total_star && !parse_u64(slash + 1, end, &total))
        return;
    if (slash - v == 1 && *v == '*') {
        r->range_total = total;
        return;
    }
    const char *dash = memchr(v, '-', (size_t)(slash - v));
    uint64_t start = 0, last = 0;
    if (!dash || !parse_u64(v, dash, &start) || !parse_u64(dash + 1, slash, &last) ||
        last < start || (!total_star && last >= total))
        return;
    r->have_range = true;
    r->range_start = start;
    r->range_end = last;
    r->range_total = total;
}

void models_resp_header(struct models_resp *r, const char *line, size_t len)
{
    const char *end = line + len;
    while (end > line && (end[-1] == '\r' || end[-1] == '\n'))
        end--;
    if ((size_t)(end - line) >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        r->status = 0;
        r->have_range = false;
        r->range_start = r->range_end = r->range_total = 0;
        r->content_length = -1;
        const char *sp = memchr(line, ' ', (size_t)(end - line));
        uint64_t code = 0;
        if (sp && end - sp >= 4 && parse_u64(sp + 1, sp + 4, &code) &&
            (end - sp == 4 || sp[4] == ' ') && code >= 100 && code <= 999)
            r->status = (int)code;
        return;
    }
    const char *colon = memchr(line, ':', (size_t)(end - line));
    if (!colon)
        return;
    size_t name_len = (size_t)(colon - line);
    const char *v = colon + 1;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
#define IS(h) (name_len == sizeof(h) - 1 && strncasecmp(line, h, name_len) == 0)
    if (IS("content-range")) {
        parse_content_range(r, v, end);
    } else if (IS("content-length")) {
        uint64_t n = 0;
        if (parse_u64(v, end, &n) && n <= INT64_MAX)
            r->content_length = (int64_t)n;
    } else if (IS("x-linked-etag")) {
        if (end - v >= 2 && v[0] == 'W' && v[1] == '/')
            v += 2;
        if (end - v >= 2 && *v == '"' && end[-1] == '"') {
            v++;
            end--;
        }
        if (models_sha256_hex_valid(v, (size_t)(end - v))) {
            for (int k = 0; k < 64; k++)
                r->linked_etag[k] = (char)(v[k] | 0x20);
            r->linked_etag[64] = '\0';
        }
    } else if (IS("x-linked-size")) {
        uint64_t n = 0;
        if (parse_u64(v, end, &n))
            r->linked_size = n;
    }
#undef IS
}
