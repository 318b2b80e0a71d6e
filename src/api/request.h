/* request.h: helpers shared by handlers: JSON body parsing with clear errors, field
 * validation, id parsing, and the JSON writer set-up for replies. */
#ifndef VB_API_REQUEST_H
#define VB_API_REQUEST_H

#include "core/vb.h"
#include "core/json.h"
#include "http/http.h"

#define API_JSON_REPLY_MAX ((size_t)64 << 20)
/* Request bodies: the largest (POST /v1/chat/completions, 256 messages of a few values
 * each) needs about 2,000 values and 5 levels; the tree stays under ~1 MiB. */
#define API_JSON_BODY_MAX_VALUES 8192
#define API_JSON_BODY_MAX_DEPTH  16

/* true when the request's Content-Type is the media type `type` (case-insensitive;
 * parameters such as charset or boundary are ignored). */
bool api_content_type_is(const struct http_request *req, const char *type);

/* Parses the request body as a JSON object within API_JSON_BODY_MAX_VALUES and
 * API_JSON_BODY_MAX_DEPTH. Errors (already described with http_req_set_error): 415 when
 * the Content-Type is not application/json, 400 when the body is not valid JSON or goes
 * over those limits, 422 when it is not an object. Caller frees *out. */
VB_WUR enum vb_err api_json_body(struct http_request *req, struct vb_json **out);

/* A string member. VB_OK with *out NULL when absent and !required. 422 naming the field
 * when required and absent, when not a string, or when its length in bytes is outside
 * [min_len, max_len]. Control characters are refused. */
VB_WUR enum vb_err api_json_string(struct http_request *req, const struct vb_json *obj,
                                   const char *field, bool required, size_t min_len, size_t max_len,
                                   const char **out);

/* A number member in [min, max]; *out = dflt when absent (or null). 422 naming the field
 * when not a number or out of range. `integer` also requires an integral value. */
VB_WUR enum vb_err api_json_number(struct http_request *req, const struct vb_json *obj,
                                   const char *field, bool integer, double min, double max,
                                   double dflt, double *out);
/* A boolean member; *out = dflt when absent (or null); 422 when not a boolean. */
VB_WUR enum vb_err api_json_bool(struct http_request *req, const struct vb_json *obj,
                                 const char *field, bool dflt, bool *out);

/* The path parameter `name` as an id > 0; 404 otherwise (an id that cannot exist). */
VB_WUR enum vb_err api_path_id(struct http_request *req, const char *name, int64_t *out);

/* Sets up `w` writing into `b` (ceiling API_JSON_REPLY_MAX). */
void api_json_begin(struct vb_jw *w, struct vb_buf *b);
/* Finishes `w` and sends `b` with `status`. */
enum vb_err api_json_send(struct http_request *req, int status, struct vb_jw *w, struct vb_buf *b);
/* Writes "key": "ISO-8601 time". */
void api_json_time(struct vb_jw *w, const char *key, int64_t unix_s);
/* 204 No Content. */
enum vb_err api_no_content(struct http_request *req);

#endif
