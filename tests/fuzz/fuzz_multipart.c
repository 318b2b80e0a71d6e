/* fuzz_multipart.c: libFuzzer target for multipart/form-data. The input's first line is the
 * Content-Type header value, the rest is the body. The body is also parsed with a fixed
 * boundary so mutations of the body alone reach the part parser. Checks that every part's
 * data lies inside the body and that the copied fields are NUL-terminated within bounds. */
#include "core/vb.h"
#include "core/alloc.h"
#include "http/multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct http_multipart *mp, const char *body, size_t len)
{
    if (mp->n_parts > HTTP_MULTIPART_MAX_PARTS)
        abort();
    for (size_t i = 0; i < mp->n_parts; i++) {
        const struct http_part *p = &mp->parts[i];
        if (p->data < body || p->len > len || p->data + p->len > body + len)
            abort();
        if (strnlen(p->name, sizeof p->name) >= sizeof p->name ||
            strnlen(p->filename, sizeof p->filename) >= sizeof p->filename ||
            strnlen(p->content_type, sizeof p->content_type) >= sizeof p->content_type)
            abort();
        if (http_multipart_get(mp, p->name) == NULL)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    const char *nl = memchr(in, '\n', size);
    size_t ct_len = nl ? (size_t)(nl - in) : size;
    char *ct = vb_xmalloc(ct_len + 1);
    memcpy(ct, in, ct_len);
    ct[ct_len] = '\0';
    /* an exact-size copy so ASan sees any read past the body */
    size_t blen = nl ? size - ct_len - 1 : 0;
    char *body = vb_xmalloc(blen ? blen : 1);
    if (blen)
        memcpy(body, nl + 1, blen);
    struct http_multipart *mp = vb_xmalloc(sizeof *mp);
    char boundary[HTTP_MULTIPART_BOUNDARY_MAX + 1];
    char why[160];
    if (http_multipart_boundary(ct, boundary, sizeof boundary, why, sizeof why) == VB_OK) {
        size_t bl = strlen(boundary);
        if (bl == 0 || bl > HTTP_MULTIPART_BOUNDARY_MAX)
            abort();
        if (http_multipart_parse(body, blen, boundary, mp, why, sizeof why) == VB_OK)
            check(mp, body, blen);
    }
    if (http_multipart_parse(body, blen, "XyZ", mp, why, sizeof why) == VB_OK)
        check(mp, body, blen);
    vb_free(mp);
    vb_free(body);
    vb_free(ct);
    return 0;
}
