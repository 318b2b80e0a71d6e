/* buf.c: growable byte buffer with a hard ceiling. */
#include "core/vb.h"
#include "core/buf.h"
#include "core/alloc.h"

#include <stdio.h>
#include <string.h>

void vb_buf_init(struct vb_buf *b, size_t max_bytes)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max_bytes;
}

void vb_buf_release(struct vb_buf *b)
{
    vb_free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void vb_buf_reset(struct vb_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static enum vb_err reserve(struct vb_buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra) {
        vb_buf_release(b);
        return VB_ERR_TOO_LARGE;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return VB_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = vb_try_realloc(b->data, cap);
    if (!p) {
        vb_buf_release(b);
        return VB_ERR_NOMEM;
    }
    b->data = p;
    b->cap = cap;
    return VB_OK;
}

enum vb_err vb_buf_append(struct vb_buf *b, const void *data, size_t len)
{
    enum vb_err err = reserve(b, len);
    if (err)
        return err;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return VB_OK;
}

enum vb_err vb_buf_puts(struct vb_buf *b, const char *s)
{
    return vb_buf_append(b, s, strlen(s));
}

enum vb_err vb_buf_putc(struct vb_buf *b, char c)
{
    return vb_buf_append(b, &c, 1);
}

enum vb_err vb_buf_vprintf(struct vb_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return VB_ERR_INTERNAL;
    enum vb_err err = reserve(b, (size_t)n);
    if (err)
        return err;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return VB_OK;
}

enum vb_err vb_buf_printf(struct vb_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum vb_err err = vb_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return err;
}

char *vb_buf_take(struct vb_buf *b)
{
    char *p = b->data ? b->data : vb_xstrdup("");
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}

const char *vb_buf_str(const struct vb_buf *b)
{
    return b->data ? b->data : "";
}
