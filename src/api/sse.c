/* sse.c: Server-Sent Events framing. */
#include "core/vb.h"
#include "api/sse.h"

struct http_stream *api_sse_start(struct http_request *req)
{
    http_reply_header(req, "Cache-Control", "no-cache");
    http_reply_header(req, "X-Accel-Buffering", "no");
    return http_reply_stream(req, 200, "text/event-stream; charset=utf-8");
}

enum vb_err api_sse_frame(struct vb_buf *b, const char *event, const char *data, size_t len)
{
    enum vb_err err = VB_OK;
    if (event)
        err = vb_buf_printf(b, "event: %s\n", event);
    if (!err)
        err = vb_buf_puts(b, "data: ");
    if (!err)
        err = vb_buf_append(b, data, len);
    if (!err)
        err = vb_buf_puts(b, "\n\n");
    return err;
}

enum vb_err api_sse_send(struct http_stream *s, const char *event, const char *data, size_t len)
{
    struct vb_buf b;
    vb_buf_init(&b, len + 256);
    enum vb_err err = api_sse_frame(&b, event, data, len);
    if (!err)
        err = http_stream_write(s, b.data, b.len);
    vb_buf_release(&b);
    return err;
}
