/* router.h: pure request-target parsing for the HTTP layer: the path decoder (which
 * refuses traversal and ambiguous encodings), route matching with {param} capture and
 * the query-string parser. No I/O and no libmicrohttpd, so each piece can be fuzzed. */
#ifndef VB_HTTP_ROUTER_H
#define VB_HTTP_ROUTER_H

#include "core/vb.h"
#include "core/err.h"
#include "http/http.h"

#define HTTP_PATH_MAX       2048 /* bytes of a raw or decoded path, excluding the NUL */
#define HTTP_PARAMS_MAX     8    /* {param} captures per route */
#define HTTP_QUERY_MAX_ARGS 64   /* name=value pairs in a query string */

/* Percent-decodes the raw path `raw` (len bytes, without the query) into out (out_cap
 * bytes, NUL-terminated). Refuses (VB_ERR_NOT_FOUND): a path not starting with '/',
 * longer than HTTP_PATH_MAX, an invalid or truncated %XX escape, an encoded '/' (%2F),
 * a NUL or other control character (raw or decoded), and "." or ".." segments (raw or
 * encoded). A decoded "%2F" produced by double encoding ("%252F") stays literal text. */
VB_WUR enum vb_err http_path_decode(const char *raw, size_t len, char *out, size_t out_cap);

struct http_route_match {
    const struct http_route *route; /* borrowed from the table; NULL when none */
    size_t n_params;
    const char *names[HTTP_PARAMS_MAX]; /* point into route->pattern, not NUL-ended */
    size_t name_lens[HTTP_PARAMS_MAX];
    const char *values[HTTP_PARAMS_MAX]; /* NUL-terminated, point into store */
    char store[HTTP_PATH_MAX + 1];
    char allow[96]; /* "GET, HEAD, DELETE, OPTIONS": methods the path accepts */
};

/* Matches a decoded path and method against the table. HEAD matches GET routes. When
 * several routes match, the one with the fewest {params} wins (then table order).
 * Returns VB_OK (m->route set), VB_ERR_METHOD (the path exists for other methods;
 * m->allow lists them) or VB_ERR_NOT_FOUND. m->allow is filled in every case where the
 * path matches at least one route. */
VB_WUR enum vb_err http_route_find(const struct http_route *routes, size_t n_routes,
                                   const char *method, const char *path,
                                   struct http_route_match *m);
/* The value captured for {name}, or NULL. Borrowed from m. */
const char *http_route_param(const struct http_route_match *m, const char *name);

struct http_query {
    size_t n;
    const char *names[HTTP_QUERY_MAX_ARGS];  /* decoded, NUL-terminated, into store */
    const char *values[HTTP_QUERY_MAX_ARGS]; /* "" for "?flag" without '=' */
    char *store;                             /* owned */
};

/* Parses a raw query string (without the '?'; len may be 0) of '&'-separated
 * name[=value] pairs, decoding %XX and '+' (space). Empty pairs ("a=1&&b=2") are skipped.
 * VB_ERR_INVALID on a bad escape, a decoded NUL or more than HTTP_QUERY_MAX_ARGS pairs;
 * VB_ERR_NOMEM on OOM. On success the caller releases q with http_query_release; on
 * failure q is left empty (releasing it is still fine). */
VB_WUR enum vb_err http_query_parse(const char *raw, size_t len, struct http_query *q);
/* Value of the first `name`, or NULL. Borrowed from q. */
const char *http_query_get(const struct http_query *q, const char *name);
void http_query_release(struct http_query *q);

#endif
