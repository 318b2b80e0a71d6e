/* multipart.h: a strict multipart/form-data parser (RFC 7578 / RFC 2046) over a complete
 * body held in memory. Part data points into the body (no copies); names, filenames and
 * content types are copied into small fixed fields. Pure: no I/O. */
#ifndef VB_HTTP_MULTIPART_H
#define VB_HTTP_MULTIPART_H

#include "core/vb.h"
#include "core/err.h"

#define HTTP_MULTIPART_MAX_PARTS    32
#define HTTP_MULTIPART_BOUNDARY_MAX 70   /* RFC 2046 */
#define HTTP_MULTIPART_HEADER_MAX   4096 /* bytes of one part's header block */
#define HTTP_MULTIPART_NAME_MAX     128  /* bytes of a field name */
#define HTTP_MULTIPART_FILENAME_MAX 512  /* bytes of a filename */
#define HTTP_MULTIPART_CTYPE_MAX    255  /* bytes of a part's Content-Type */

struct http_part {
    char name[HTTP_MULTIPART_NAME_MAX + 1];
    char filename[HTTP_MULTIPART_FILENAME_MAX + 1];  /* "" when absent */
    bool has_filename;                               /* filename= was given (maybe "") */
    char content_type[HTTP_MULTIPART_CTYPE_MAX + 1]; /* "" when absent */
    const char *data; /* borrowed from the body passed to http_multipart_parse */
    size_t len;       /* bytes of data */
};

struct http_multipart {
    size_t n_parts;
    struct http_part parts[HTTP_MULTIPART_MAX_PARTS];
};

/* Extracts the boundary from a Content-Type header value such as
 * `multipart/form-data; boundary="abc"` into out (NUL-terminated; out_cap must be at
 * least HTTP_MULTIPART_BOUNDARY_MAX + 1). VB_ERR_MEDIA_TYPE when the media type is not
 * multipart/form-data (or content_type is NULL); VB_ERR_INVALID when the boundary is
 * missing, empty, longer than 70 characters or has characters RFC 2046 does not allow.
 * A reason goes into why (may be NULL). */
VB_WUR enum vb_err http_multipart_boundary(const char *content_type, char *out, size_t out_cap,
                                           char *why, size_t why_cap);

/* Parses len bytes of body with the given boundary into *mp (caller-owned; large, so
 * allocate it rather than putting it on a small stack). Every part must carry
 * `Content-Disposition: form-data; name="..."`. VB_ERR_INVALID, with a reason naming the
 * part, on: no opening or closing delimiter, truncated parts, malformed or oversized
 * headers, more than HTTP_MULTIPART_MAX_PARTS parts, over-long names. Part data stays
 * valid as long as body does. */
VB_WUR enum vb_err http_multipart_parse(const char *body, size_t len, const char *boundary,
                                        struct http_multipart *mp, char *why, size_t why_cap);

/* First part named `name`, or NULL. Borrowed from mp. */
const struct http_part *http_multipart_get(const struct http_multipart *mp, const char *name);

#endif
