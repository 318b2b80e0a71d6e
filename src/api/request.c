/* request.c: JSON body parsing and validation helpers shared by the handlers. */
#include "core/vb.h"
#include "api/request.h"
#include "core/time_fmt.h"

#include <errno.h>
#include <strings.h>

bool api_content_type_is(const struct http_request *req, const char *type)
{
    const char *ct = http_req_header(req, "Content-Type");
    if (!ct)
        return false;
    while (*ct == ' ')
        ct++;
    size_t n = strlen(type);
    return strncasecmp(ct, type, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

enum vb_err api_json_body(struct http_request *req, struct vb_json **out)
{
    *out = NULL;
    if (!api_content_type_is(req, "application/json")) {
        http_req_set_error(req, NULL, "Content-Type must be application/json");
        return VB_ERR_MEDIA_TYPE;
    }
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    char why[160];
    struct vb_json *doc = NULL;
    const struct vb_json_limits lim = {.max_depth = API_JSON_BODY_MAX_DEPTH,
                                       .max_values = API_JSON_BODY_MAX_VALUES};
    enum vb_err err = vb_json_parse_limited(body, len, &lim, &doc, why, sizeof why);
    if (err == VB_ERR_NOMEM)
        return err;
    if (err) {
        http_req_set_error(req, NULL, "request body is not valid JSON: %s", why);
        return VB_ERR_INVALID;
    }
    if (doc->type != VB_JSON_OBJECT) {
        vb_json_free(doc);
        http_req_set_error(req, NULL, "request body must be a JSON object");
        return VB_ERR_UNPROCESSABLE;
    }
    *out = doc;
    return VB_OK;
}

static bool has_control_chars(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return true;
    }
    return false;
}

enum vb_err api_json_string(struct http_request *req, const struct vb_json *obj, const char *field,
                            bool required, size_t min_len, size_t max_len, const char **out)
{
    *out = NULL;
    const struct vb_json *v = vb_json_get(obj, field);
    if (!v || v->type == VB_JSON_NULL) {
        if (!required)
            return VB_OK;
        http_req_set_error(req, field, "%s: is required", field);
        return VB_ERR_UNPROCESSABLE;
    }
    if (v->type != VB_JSON_STRING) {
        http_req_set_error(req, field, "%s: must be a string", field);
        return VB_ERR_UNPROCESSABLE;
    }
    if (v->string_len < min_len || v->string_len > max_len) {
        http_req_set_error(req, field, "%s: must be %zu to %zu bytes long", field, min_len,
                           max_len);
        return VB_ERR_UNPROCESSABLE;
    }
    if (has_control_chars(v->string, v->string_len)) {
        http_req_set_error(req, field, "%s: must not contain control characters", field);
        return VB_ERR_UNPROCESSABLE;
    }
    *out = v->string;
    return VB_OK;
}

enum vb_err api_json_number(struct http_request *req, const struct vb_json *obj, const char *field,
                            bool integer, double min, double max, double dflt, double *out)
{
    const struct vb_json *v = vb_json_get(obj, field);
    *out = dflt;
    if (!v || v->type == VB_JSON_NULL)
        return VB_OK;
    if (v->type != VB_JSON_NUMBER || (integer && v->number != (double)(int64_t)v->number) ||
        v->number < min || v->number > max) {
        http_req_set_error(req, field, "%s: must be %s from %g to %g", field,
                           integer ? "an integer" : "a number", min, max);
        return VB_ERR_UNPROCESSABLE;
    }
    *out = v->number;
    return VB_OK;
}

enum vb_err api_json_bool(struct http_request *req, const struct vb_json *obj, const char *field,
                          bool dflt, bool *out)
{
    const struct vb_json *v = vb_json_get(obj, field);
    *out = dflt;
    if (!v || v->type == VB_JSON_NULL)
        return VB_OK;
    if (v->type != VB_JSON_BOOL) {
        http_req_set_error(req, field, "%s: must be true or false", field);
        return VB_ERR_UNPROCESSABLE;
    }
    *out = v->boolean;
    return VB_OK;
}

enum vb_err api_path_id(struct http_request *req, const char *name, int64_t *out)
{
    const char *s = http_req_param(req, name);
    *out = 0;
    if (!s || !*s || *s < '1' || *s > '9' || strlen(s) > 18)
        return VB_ERR_NOT_FOUND;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v <= 0)
        return VB_ERR_NOT_FOUND;
    *out = v;
    return VB_OK;
}

void api_json_begin(struct vb_jw *w, struct vb_buf *b)
{
    vb_buf_init(b, API_JSON_REPLY_MAX);
    vb_jw_init(w, b);
}

enum vb_err api_json_send(struct http_request *req, int status, struct vb_jw *w, struct vb_buf *b)
{
    enum vb_err err = vb_jw_finish(w);
    if (err) {
        vb_buf_release(b);
        return err;
    }
    return http_reply_json(req, status, b);
}

void api_json_time(struct vb_jw *w, const char *key, int64_t unix_s)
{
    char iso[VB_ISO8601_LEN];
    vb_format_iso8601(unix_s, iso);
    vb_jw_kstr(w, key, iso);
}

enum vb_err api_no_content(struct http_request *req)
{
    return http_reply_bytes(req, 204, NULL, "", 0);
}
