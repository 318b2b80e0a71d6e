/* router.c: path decoding, route matching with {param} capture, query-string parsing.
 * Pure functions over bytes; see router.h for the rules. */
#include "core/vb.h"
#include "http/router.h"
#include "core/alloc.h"
#include "core/crypto.h"

#include <string.h>

static bool is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

enum vb_err http_path_decode(const char *raw, size_t len, char *out, size_t out_cap)
{
    if (!raw || !out || len == 0 || raw[0] != '/' || len > HTTP_PATH_MAX || out_cap <= len)
        return VB_ERR_NOT_FOUND;
    size_t o = 0;
    size_t i = 0;
    while (i < len) {
        /* raw[i] is '/': copy it, then decode one segment. */
        out[o++] = '/';
        i++;
        size_t seg_start = o;
        while (i < len && raw[i] != '/') {
            unsigned char c = (unsigned char)raw[i];
            if (c == '%') {
                if (len - i < 3)
                    return VB_ERR_NOT_FOUND; /* truncated escape */
                int hi = vb_hex_digit(raw[i + 1]);
                int lo = vb_hex_digit(raw[i + 2]);
                if (hi < 0 || lo < 0)
                    return VB_ERR_NOT_FOUND;
                c = (unsigned char)(hi * 16 + lo);
                if (c == '/' || c == '\0')
                    return VB_ERR_NOT_FOUND;
                i += 3;
            } else {
                i++;
            }
            if (is_ctl(c))
                return VB_ERR_NOT_FOUND;
            out[o++] = (char)c;
        }
        size_t seg_len = o - seg_start;
        if ((seg_len == 1 && out[seg_start] == '.') ||
            (seg_len == 2 && out[seg_start] == '.' && out[seg_start + 1] == '.'))
            return VB_ERR_NOT_FOUND;
    }
    out[o] = '\0';
    return VB_OK;
}

/* Next segment of a path/pattern starting at *p (which points just after a '/').
 * Returns its length and advances *p past it (and past the following '/', if any);
 * *more says whether a '/' followed. */
static size_t next_segment(const char **p, bool *more)
{
    const char *s = *p;
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    *more = slash != NULL;
    *p = slash ? slash + 1 : s + n;
    return n;
}

/* Matches one route pattern against path; on success fills the params of m (when
 * capture is true) and returns the number of {params}, else returns -1. */
static int pattern_match(const char *pattern, const char *path, struct http_route_match *m,
                         bool capture)
{
    if (pattern[0] != '/' || path[0] != '/')
        return -1;
    const char *pp = pattern + 1;
    const char *sp = path + 1;
    size_t n_params = 0;
    size_t store_used = 0;
    for (;;) {
        bool pmore, smore;
        const char *pseg = pp;
        const char *sseg = sp;
        size_t plen = next_segment(&pp, &pmore);
        size_t slen = next_segment(&sp, &smore);
        if (plen >= 2 && pseg[0] == '{' && pseg[plen - 1] == '}') {
            if (slen == 0 || n_params >= HTTP_PARAMS_MAX)
                return -1;
            if (capture) {
                m->names[n_params] = pseg + 1;
                m->name_lens[n_params] = plen - 2;
                memcpy(m->store + store_used, sseg, slen);
                m->store[store_used + slen] = '\0';
                m->values[n_params] = m->store + store_used;
                store_used += slen + 1;
            }
            n_params++;
        } else if (plen != slen || memcmp(pseg, sseg, plen) != 0) {
            return -1;
        }
        if (pmore != smore)
            return -1;
        if (!pmore)
            break;
    }
    if (capture)
        m->n_params = n_params;
    return (int)n_params;
}

static void allow_add(char *allow, size_t cap, const char *method)
{
    size_t n = strlen(method);
    /* already listed? */
    const char *p = allow;
    while (*p) {
        const char *comma = strstr(p, ", ");
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && memcmp(p, method, n) == 0)
            return;
        p = comma ? comma + 2 : p + len;
    }
    size_t used = strlen(allow);
    int k = snprintf(allow + used, cap - used, "%s%s", used ? ", " : "", method);
    if (k < 0 || (size_t)k >= cap - used)
        allow[used] = '\0'; /* no room: leave the list as it was */
}

enum vb_err http_route_find(const struct http_route *routes, size_t n_routes, const char *method,
                            const char *path, struct http_route_match *m)
{
    m->route = NULL;
    m->n_params = 0;
    m->allow[0] = '\0';
    if (!method || !path || strlen(path) > HTTP_PATH_MAX)
        return VB_ERR_NOT_FOUND;
    bool is_head = strcmp(method, "HEAD") == 0;
    int best_params = -1;
    size_t best = 0;
    bool path_known = false;
    for (size_t i = 0; i < n_routes; i++) {
        const struct http_route *r = &routes[i];
        if (!r->pattern || !r->method)
            continue;
        int np = pattern_match(r->pattern, path, m, false);
        if (np < 0)
            continue;
        path_known = true;
        allow_add(m->allow, sizeof m->allow, r->method);
        if (strcmp(r->method, "GET") == 0)
            allow_add(m->allow, sizeof m->allow, "HEAD");
        bool method_ok = strcmp(r->method, method) == 0 || (is_head && !strcmp(r->method, "GET"));
        if (method_ok && (best_params < 0 || np < best_params)) {
            best_params = np;
            best = i;
        }
    }
    if (!path_known)
        return VB_ERR_NOT_FOUND;
    allow_add(m->allow, sizeof m->allow, "OPTIONS");
    if (best_params < 0)
        return VB_ERR_METHOD;
    m->route = &routes[best];
    if (pattern_match(m->route->pattern, path, m, true) < 0)
        return VB_ERR_INTERNAL; /* cannot happen: it matched above */
    return VB_OK;
}

const char *http_route_param(const struct http_route_match *m, const char *name)
{
    if (!m || !name)
        return NULL;
    size_t n = strlen(name);
    for (size_t i = 0; i < m->n_params; i++) {
        if (m->name_lens[i] == n && memcmp(m->names[i], name, n) == 0)
            return m->values[i];
    }
    return NULL;
}

/* Decodes len bytes of a query component into out (NUL-terminated); returns the number
 * of bytes written (excluding the NUL) or -1 on a bad escape or decoded NUL. */
static long query_decode(const char *s, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (len - i < 3)
                return -1;
            int hi = vb_hex_digit(s[i + 1]);
            int lo = vb_hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0')
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return (long)o;
}

enum vb_err http_query_parse(const char *raw, size_t len, struct http_query *q)
{
    enum vb_err err = VB_OK;
    q->n = 0;
    q->store = NULL;
    if (!raw)
        len = 0;
    /* Each pair decodes to at most its own length plus two NULs. */
    if (len > SIZE_MAX / 2 - 2)
        return VB_ERR_INVALID;
    q->store = vb_try_malloc(2 * len + 2);
    if (!q->store)
        return VB_ERR_NOMEM;
    char *o = q->store;
    size_t i = 0;
    while (i < len) {
        const char *pair = raw + i;
        const char *amp = memchr(pair, '&', len - i);
        size_t plen = amp ? (size_t)(amp - pair) : len - i;
        i += plen + 1;
        if (plen == 0)
            continue;
        if (q->n >= HTTP_QUERY_MAX_ARGS) {
            err = VB_ERR_INVALID;
            goto out;
        }
        const char *eq = memchr(pair, '=', plen);
        size_t nlen = eq ? (size_t)(eq - pair) : plen;
        long k = query_decode(pair, nlen, o);
        if (k < 0) {
            err = VB_ERR_INVALID;
            goto out;
        }
        q->names[q->n] = o;
        o += k + 1;
        k = eq ? query_decode(eq + 1, plen - nlen - 1, o) : query_decode("", 0, o);
        if (k < 0) {
            err = VB_ERR_INVALID;
            goto out;
        }
        q->values[q->n] = o;
        o += k + 1;
        q->n++;
    }
out:
    if (err)
        http_query_release(q);
    return err;
}

const char *http_query_get(const struct http_query *q, const char *name)
{
    if (!q || !name)
        return NULL;
    for (size_t i = 0; i < q->n; i++) {
        if (strcmp(q->names[i], name) == 0)
            return q->values[i];
    }
    return NULL;
}

void http_query_release(struct http_query *q)
{
    if (!q)
        return;
    vb_free(q->store);
    q->store = NULL;
    q->n = 0;
}
