/* range.h: the single-range subset of the HTTP Range header (RFC 9110 section 14) that
 * file replies honour: "bytes=a-b", "bytes=a-" and "bytes=-n". Pure. */
#ifndef VB_HTTP_RANGE_H
#define VB_HTTP_RANGE_H

#include "core/vb.h"

enum http_range_result {
    HTTP_RANGE_NONE,          /* no usable Range header: send the whole file (200) */
    HTTP_RANGE_OK,            /* send *start .. *start + *len - 1 (206) */
    HTTP_RANGE_UNSATISFIABLE, /* 416 with Content-Range: bytes * / size */
};

/* Interprets the Range header value `h` (may be NULL) for a file of `size` bytes.
 * Syntactically invalid values, other units and multiple ranges are ignored (NONE), as
 * RFC 9110 allows. An end past the file is clamped; a start at or past the end, a zero
 * suffix or any range of an empty file is UNSATISFIABLE. */
enum http_range_result http_range_parse(const char *h, uint64_t size, uint64_t *start,
                                        uint64_t *len);

#endif
