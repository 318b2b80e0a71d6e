/* fuzz_models_headers.c: libFuzzer target for the download response headers (untrusted,
 * from the network): the input is split into lines fed one by one, and the parsed state
 * must stay consistent. */
#include "core/vb.h"
#include "models/headers.h"
#include "models/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct models_resp r;
    models_resp_init(&r);
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        models_resp_header(&r, p, len);
        if (r.status != 0 && (r.status < 100 || r.status > 999))
            abort();
        if (r.have_range &&
            (r.range_end < r.range_start || (r.range_total && r.range_end >= r.range_total)))
            abort();
        if (r.content_length < -1)
            abort();
        if (r.linked_etag[0] && !models_sha256_hex_valid(r.linked_etag, strlen(r.linked_etag)))
            abort();
        p += len;
    }
    return 0;
}
