/* headers.h: the response headers the downloader relies on, parsed one line at a time as
 * libcurl hands them over (status lines of every response in a redirect chain included).
 * Input is untrusted: malformed values are ignored, never trusted halfway. */
#ifndef VB_MODELS_HEADERS_H
#define VB_MODELS_HEADERS_H

#include "core/vb.h"

struct models_resp {
    /* of the current response: reset by each status line */
    int status;             /* "HTTP/x yyy": yyy; 0 = no status line yet */
    bool have_range;        /* Content-Range: bytes START-END/TOTAL was valid */
    uint64_t range_start;   /* first byte of the body */
    uint64_t range_end;     /* last byte of the body (inclusive) */
    uint64_t range_total;   /* whole file size; 0 = "*" or absent (also set by "bytes * /N") */
    int64_t content_length; /* -1 = absent */
    /* of any response in the chain (the redirect from huggingface.co carries them) */
    char linked_etag[65]; /* X-Linked-Etag when it is a SHA-256 (lower-case hex), else "" */
    uint64_t linked_size; /* X-Linked-Size; 0 = absent */
};

void models_resp_init(struct models_resp *r);
/* Feeds one header line (with or without its CRLF); len bytes, not NUL-terminated. */
void models_resp_header(struct models_resp *r, const char *line, size_t len);

#endif
