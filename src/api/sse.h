/* sse.h: Server-Sent Events over an HTTP stream: "event: NAME\ndata: JSON\n\n". */
#ifndef VB_API_SSE_H
#define VB_API_SSE_H

#include "core/vb.h"
#include "core/buf.h"
#include "http/http.h"

/* Starts a text/event-stream reply; NULL on OOM. */
struct http_stream *api_sse_start(struct http_request *req);
/* Appends one event as it goes on the wire to b (see api_sse_send). */
VB_WUR enum vb_err api_sse_frame(struct vb_buf *b, const char *event, const char *data, size_t len);
/* Writes one event (event may be NULL for an unnamed "data:" event); `data` is one line of
 * JSON (or text without newlines). VB_ERR_CANCELLED once the client has gone. */
enum vb_err api_sse_send(struct http_stream *s, const char *event, const char *data, size_t len);

#endif
