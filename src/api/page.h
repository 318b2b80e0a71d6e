/* page.h: cursor pagination shared by list routes (GET /history, GET /chat/threads): the
 * `limit` and `cursor` query parameters with 422s naming them, and the opaque next_cursor
 * (base64url of a prefix naming the list plus the position's integers). */
#ifndef VB_API_PAGE_H
#define VB_API_PAGE_H

#include "core/vb.h"
#include "core/json.h"
#include "http/http.h"

#define API_PAGE_LIMIT_DEFAULT 20
#define API_PAGE_KEYS_MAX      2 /* integers in one cursor */

/* `limit`: API_PAGE_LIMIT_DEFAULT when absent, else an integer in 1..DB_PAGE_LIMIT_MAX. */
VB_WUR enum vb_err api_page_limit(struct http_request *req, int *out);
/* `cursor`: absent or empty -> VB_OK with *found false; else exactly `n` positive integers
 * written by api_page_write_cursor with the same prefix (e.g. "g1:"), or 422. */
VB_WUR enum vb_err api_page_cursor(struct http_request *req, const char *prefix, int64_t *keys,
                                   size_t n, bool *found);
/* Writes "next_cursor": the cursor for keys[0..n), or null when n is 0 (last page). */
void api_page_write_cursor(struct vb_jw *w, const char *prefix, const int64_t *keys, size_t n);

#endif
