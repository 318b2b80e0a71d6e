/* page.c: the limit/cursor query parameters and the opaque cursor codec. */
#include "core/vb.h"
#include "api/page.h"
#include "core/crypto.h"
#include "db/store.h"

#include <errno.h>
#include <stdio.h>

#define CURSOR_RAW_MAX 64 /* prefix plus API_PAGE_KEYS_MAX integers and separators */

enum vb_err api_page_limit(struct http_request *req, int *out)
{
    const char *s = http_req_query(req, "limit");
    *out = API_PAGE_LIMIT_DEFAULT;
    if (!s)
        return VB_OK;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || errno || *end || v < 1 || v > DB_PAGE_LIMIT_MAX) {
        http_req_set_error(req, "limit", "limit: must be an integer from 1 to %d",
                           DB_PAGE_LIMIT_MAX);
        return VB_ERR_UNPROCESSABLE;
    }
    *out = (int)v;
    return VB_OK;
}

/* Parses "PREFIXk1:k2..." into exactly n positive integers. */
static bool decode_keys(const char *raw, const char *prefix, int64_t *keys, size_t n)
{
    size_t plen = strlen(prefix);
    if (strncmp(raw, prefix, plen) != 0)
        return false;
    const char *p = raw + plen;
    for (size_t i = 0; i < n; i++) {
        if (*p < '0' || *p > '9')
            return false;
        char *end = NULL;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (errno || v <= 0 || (i + 1 < n ? *end != ':' : *end != '\0'))
            return false;
        keys[i] = v;
        p = end + (i + 1 < n);
    }
    return true;
}

enum vb_err api_page_cursor(struct http_request *req, const char *prefix, int64_t *keys, size_t n,
                            bool *found)
{
    const char *s = http_req_query(req, "cursor");
    uint8_t raw[CURSOR_RAW_MAX + 1];
    size_t len = 0;
    *found = false;
    if (!s || !*s)
        return VB_OK;
    if (n <= API_PAGE_KEYS_MAX && strlen(s) < VB_BASE64URL_LEN(CURSOR_RAW_MAX) &&
        vb_base64url_decode(s, strlen(s), raw, CURSOR_RAW_MAX, &len) == VB_OK) {
        raw[len] = '\0';
        if (strlen((char *)raw) == len && decode_keys((char *)raw, prefix, keys, n)) {
            *found = true;
            return VB_OK;
        }
    }
    http_req_set_error(req, "cursor", "cursor: is not a cursor this server returned");
    return VB_ERR_UNPROCESSABLE;
}

void api_page_write_cursor(struct vb_jw *w, const char *prefix, const int64_t *keys, size_t n)
{
    char raw[CURSOR_RAW_MAX + 1], enc[VB_BASE64URL_LEN(CURSOR_RAW_MAX) + 1];
    int len = snprintf(raw, sizeof raw, "%s", prefix);
    for (size_t i = 0; i < n && len > 0 && (size_t)len < sizeof raw; i++)
        len +=
            snprintf(raw + len, sizeof raw - (size_t)len, i ? ":%lld" : "%lld", (long long)keys[i]);
    vb_jw_key(w, "next_cursor");
    if (n == 0 || len <= 0 || (size_t)len >= sizeof raw ||
        vb_base64url_encode(raw, (size_t)len, enc, sizeof enc) != VB_OK)
        vb_jw_null(w);
    else
        vb_jw_str(w, enc);
}
