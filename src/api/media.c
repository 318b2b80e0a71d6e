/* media.c: audio content types, text checks and the multipart body helper. */
#include "core/vb.h"
#include "api/media.h"
#include "core/alloc.h"
#include "http/multipart.h"

#include <strings.h>

const char *api_content_type(const char *format)
{
    static const struct {
        const char *format, *type;
    } types[] = {{"wav", "audio/wav"},        {"flac", "audio/flac"}, {"ogg", "audio/ogg"},
                 {"opus", "audio/ogg"},       {"mp3", "audio/mpeg"},  {"aiff", "audio/aiff"},
                 {"json", "application/json"}};
    for (size_t i = 0; format && i < VB_ARRAY_LEN(types); i++)
        if (strcasecmp(format, types[i].format) == 0)
            return types[i].type;
    return "application/octet-stream";
}

bool api_text_is_clean(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (len == 0 || i + len > n || (len == 1 && (c < 0x20 || c == 0x7f)))
            return false;
        for (size_t k = 1; k < len; k++)
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
        if ((len == 2 && c < 0xc2) || (len == 3 && c == 0xe0 && p[i + 1] < 0xa0) ||
            (len == 3 && c == 0xed && p[i + 1] >= 0xa0) ||
            (len == 4 &&
             (c > 0xf4 || (c == 0xf0 && p[i + 1] < 0x90) || (c == 0xf4 && p[i + 1] >= 0x90))))
            return false;
        i += len;
    }
    return true;
}

enum vb_err api_multipart_body(struct http_request *req, struct http_multipart **out)
{
    char boundary[HTTP_MULTIPART_BOUNDARY_MAX + 1], why[200];
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    *out = NULL;
    enum vb_err err = http_multipart_boundary(http_req_header(req, "Content-Type"), boundary,
                                              sizeof boundary, why, sizeof why);
    if (err == VB_ERR_MEDIA_TYPE) {
        http_req_set_error(req, NULL, "Content-Type must be multipart/form-data");
        return err;
    }
    if (err) {
        http_req_set_error(req, NULL, "malformed multipart body: %s", why);
        return VB_ERR_INVALID;
    }
    struct http_multipart *mp = vb_try_malloc(sizeof *mp);
    if (!mp)
        return VB_ERR_NOMEM;
    err = http_multipart_parse(body, len, boundary, mp, why, sizeof why);
    if (err) {
        vb_free(mp);
        if (err == VB_ERR_NOMEM)
            return err;
        http_req_set_error(req, NULL, "malformed multipart body: %s", why);
        return VB_ERR_INVALID;
    }
    *out = mp;
    return VB_OK;
}
