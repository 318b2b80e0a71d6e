/* media.h: content types of the audio formats we store, UTF-8 text checks and the
 * multipart body helper shared by upload routes. */
#ifndef VB_API_MEDIA_H
#define VB_API_MEDIA_H

#include "core/vb.h"
#include "core/err.h"
#include "http/http.h"

struct http_multipart;

/* "audio/wav" for "wav" etc.; "application/octet-stream" when unknown. Static storage. */
const char *api_content_type(const char *format);
/* true when s (n bytes) is valid UTF-8 without control characters. */
bool api_text_is_clean(const char *s, size_t n);
/* Parses a multipart/form-data body: 415 when the Content-Type is something else, 400
 * when malformed (reason set on req). Caller frees *out with vb_free. */
VB_WUR enum vb_err api_multipart_body(struct http_request *req, struct http_multipart **out);

#endif
