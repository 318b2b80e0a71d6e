/* fuzz_route.c: libFuzzer target for the request target: path decoding, route matching and
 * query parsing (and the Range parser on the same bytes). The first byte picks the method;
 * the rest is "path?query". Checks the decoder's promises: no NUL, control character,
 * encoded '/', "." or ".." segment survives; captured params are non-empty and slash-free. */
#include "core/vb.h"
#include "core/alloc.h"
#include "http/range.h"
#include "http/router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static enum vb_err handler(struct http_request *req)
{
    (void)req;
    return VB_OK;
}

static const struct http_route routes[] = {
    {"GET", "/", handler, HTTP_ROUTE_PUBLIC, "root"},
    {"GET", "/voices", handler, 0, "voices"},
    {"POST", "/voices/upload", handler, HTTP_ROUTE_UPLOAD, "upload"},
    {"GET", "/voices/{id}", handler, 0, "voice"},
    {"DELETE", "/voices/{id}", handler, 0, "voice delete"},
    {"GET", "/voices/{id}/audio", handler, 0, "voice audio"},
    {"GET", "/download/{filename}", handler, HTTP_ROUTE_OPTIONAL_AUTH, "download"},
    {"GET", "/a/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}", handler, 0, "eight params"},
    {"GET", "/docs/{asset}", handler, HTTP_ROUTE_PUBLIC, "docs"},
};

static void check_path(const char *p)
{
    if (p[0] != '/')
        abort();
    for (const char *c = p; *c; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            abort();
    }
    const char *seg = p + 1;
    for (;;) {
        const char *slash = strchr(seg, '/');
        size_t n = slash ? (size_t)(slash - seg) : strlen(seg);
        if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            abort();
        if (!slash)
            break;
        seg = slash + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *methods[] = {"GET", "HEAD", "POST", "DELETE", "PUT", "OPTIONS"};
    if (size == 0)
        return 0;
    const char *method = methods[data[0] % VB_ARRAY_LEN(methods)];
    const char *raw = (const char *)data + 1;
    size_t len = size - 1;
    const char *q = memchr(raw, '?', len);
    size_t plen = q ? (size_t)(q - raw) : len;

    char path[HTTP_PATH_MAX + 1];
    if (http_path_decode(raw, plen, path, sizeof path) == VB_OK) {
        check_path(path);
        if (strlen(path) > plen)
            abort();
        struct http_route_match *m = vb_xmalloc(sizeof *m);
        enum vb_err err = http_route_find(routes, VB_ARRAY_LEN(routes), method, path, m);
        if (err == VB_OK) {
            if (!m->route || m->n_params > HTTP_PARAMS_MAX)
                abort();
            for (size_t i = 0; i < m->n_params; i++) {
                if (!m->values[i][0] || strchr(m->values[i], '/'))
                    abort();
            }
        } else if (err != VB_ERR_NOT_FOUND && err != VB_ERR_METHOD) {
            abort();
        }
        if (err != VB_ERR_NOT_FOUND && !strstr(m->allow, "OPTIONS"))
            abort();
        vb_free(m);
    }

    /* query: exact-size copy so reads past the end are caught */
    size_t qlen = q ? len - plen - 1 : 0;
    char *qs = vb_xmalloc(qlen ? qlen : 1);
    if (qlen)
        memcpy(qs, q + 1, qlen);
    struct http_query query;
    if (http_query_parse(qs, qlen, &query) == VB_OK) {
        if (query.n > HTTP_QUERY_MAX_ARGS)
            abort();
        for (size_t i = 0; i < query.n; i++) {
            if (http_query_get(&query, query.names[i]) == NULL)
                abort();
        }
    }
    http_query_release(&query);
    vb_free(qs);

    /* the same bytes as a Range header value */
    char *h = vb_xmalloc(len + 1);
    memcpy(h, raw, len);
    h[len] = '\0';
    uint64_t sizes[] = {0, 1, 1000, UINT64_MAX};
    for (size_t i = 0; i < VB_ARRAY_LEN(sizes); i++) {
        uint64_t start, n;
        if (http_range_parse(h, sizes[i], &start, &n) == HTTP_RANGE_OK &&
            (n == 0 || start >= sizes[i] || n > sizes[i] - start))
            abort();
    }
    vb_free(h);
    return 0;
}
