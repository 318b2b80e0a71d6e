/* buf.h: growable byte buffer with a hard ceiling set at birth (curl dynbuf style).
 * Going over the ceiling or running out of memory frees the data and returns an error:
 * data is never silently truncated. The content is always NUL-terminated. */
#ifndef VB_BUF_H
#define VB_BUF_H

#include "core/vb.h"
#include "core/err.h"

#include <stdarg.h>

struct vb_buf {
    char *data; /* NUL-terminated; NULL until the first append */
    size_t len; /* bytes used, excluding the NUL */
    size_t cap; /* bytes allocated */
    size_t max; /* hard ceiling on len */
};

void vb_buf_init(struct vb_buf *b, size_t max_bytes);
/* Frees the data and resets to empty (keeps max). */
void vb_buf_release(struct vb_buf *b);
void vb_buf_reset(struct vb_buf *b);
/* VB_ERR_TOO_LARGE over the ceiling, VB_ERR_NOMEM on OOM; both release the buffer. */
VB_WUR enum vb_err vb_buf_append(struct vb_buf *b, const void *data, size_t len);
VB_WUR enum vb_err vb_buf_puts(struct vb_buf *b, const char *s);
VB_WUR enum vb_err vb_buf_putc(struct vb_buf *b, char c);
VB_WUR enum vb_err vb_buf_printf(struct vb_buf *b, const char *fmt, ...) VB_PRINTF(2, 3);
VB_WUR enum vb_err vb_buf_vprintf(struct vb_buf *b, const char *fmt, va_list ap);
/* Returns the data (caller frees with vb_free; never NULL: "" when empty) and resets b. */
char *vb_buf_take(struct vb_buf *b);
/* Borrowed view of the data ("" when empty); valid until the next change to b. */
const char *vb_buf_str(const struct vb_buf *b);

#endif
