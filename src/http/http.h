/* http.h: the HTTP layer's public interface: route table, request accessors, replies,
 * streaming, and the server lifecycle. Built on libmicrohttpd with an internal thread
 * pool for I/O; handlers run on a bounded worker pool (connections are suspended while
 * their handler runs), so a slow handler (bcrypt, synthesis) never blocks other
 * connections; routes flagged HTTP_ROUTE_LONG (those that wait for a model) have a pool of
 * their own, so waiting generations never take the workers that answer health checks and
 * other light routes. When a worker queue is full the server answers 503 + Retry-After.
 *
 *   static enum vb_err api_voice_get(struct http_request *req) {
 *       const char *id = http_req_param(req, "id");
 *       ...
 *       return http_reply_json(req, 200, &body);   // or return VB_ERR_NOT_FOUND
 *   }
 *
 * A handler either sends exactly one reply (http_reply_*) and returns VB_OK, or returns
 * an error without replying and the layer sends the JSON error for it (with the message
 * and field set by http_req_set_error, if any). */
#ifndef VB_HTTP_H
#define VB_HTTP_H

#include "core/vb.h"
#include "core/buf.h"
#include "core/err.h"

struct http_request;
struct http_server;
struct http_stream;

typedef enum vb_err (*http_handler_fn)(struct http_request *req);

enum http_route_flags {
    HTTP_ROUTE_PUBLIC = 1 << 0,        /* no authentication required */
    HTTP_ROUTE_UPLOAD = 1 << 1,        /* multipart/form-data bodies may reach upload_max */
    HTTP_ROUTE_OPTIONAL_AUTH = 1 << 2, /* authenticate when credentials are given */
    HTTP_ROUTE_LONG = 1 << 3,     /* may wait long (for a model): runs on the long_workers lane */
    HTTP_ROUTE_PASSWORD = 1 << 4, /* checks or hashes a password: runs on the auth_workers lane */
};

struct http_route {
    const char *method;  /* "GET", "POST", "PATCH", "DELETE", "PUT" */
    const char *pattern; /* "/voices/{id}": {name} matches one non-empty segment */
    http_handler_fn handler;
    unsigned flags;      /* enum http_route_flags */
    const char *summary; /* one line, also used by the OpenAPI consistency test */
};

/* Called before a non-public route's handler. Returns VB_OK after calling
 * http_req_set_user, or an error (usually VB_ERR_UNAUTHORIZED / VB_ERR_RATE_LIMITED),
 * which the layer sends as the reply (with WWW-Authenticate on 401). Off the auth workers
 * (http_req_on_auth_worker false), a callback that would block on a password hash returns
 * VB_ERR_WOULD_BLOCK instead: the layer runs it again on an auth worker, then the handler
 * back on the route's own lane. */
typedef enum vb_err (*http_auth_fn)(void *app, struct http_request *req);

struct http_server_params {
    const char *host;                /* bind address; NULL or "" = all interfaces */
    int port;                        /* 0 = ephemeral (see http_server_port) */
    int io_threads;                  /* libmicrohttpd thread pool size; 0 = 4 */
    int workers;                     /* handler threads for ordinary routes; 0 = 8 */
    int long_workers;                /* handler threads for HTTP_ROUTE_LONG routes, apart
                                      * from `workers` so that requests waiting for a model
                                      * never hold them; 0 = none (`workers` run them too) */
    int auth_workers;                /* threads for password checks (bcrypt), apart from the
                                      * others so that no password check holds them; 0 = 2 */
    int queue_max;                   /* pending handler jobs per lane before 503; 0 = 256 */
    size_t header_max;               /* bytes of request line + headers; 0 = 16 KiB */
    size_t body_max;                 /* bytes of any other body (JSON); 0 = 256 KiB */
    size_t upload_max;               /* bytes of a multipart body to an HTTP_ROUTE_UPLOAD route;
                                        0 = 50 MiB */
    int request_timeout_s;           /* idle connection / slow client timeout; 0 = 60 */
    int header_timeout_s;            /* the whole request head (line and headers) must arrive
                                        within this many seconds of the connection opening or
                                        of the previous reply (so it is also the keep-alive
                                        idle time); 0 = 10 */
    int max_conns_per_ip;            /* open connections from one client address; 0 = no cap */
    const char *allowed_hosts;       /* comma list of Host names (port ignored) or "*" */
    const char *cors_origins;        /* comma list of origins or "*"; NULL/"" = CORS off */
    const struct http_route *routes; /* borrowed for the server's lifetime */
    size_t n_routes;
    void *app;         /* handed to handlers through http_req_app */
    http_auth_fn auth; /* required unless every route is public */
};

/* Starts listening. On failure returns NULL and writes the reason into why. Caller
 * stops with http_server_stop. */
struct http_server *http_server_start(const struct http_server_params *p, char *why,
                                      size_t why_cap);
int http_server_port(const struct http_server *s);
/* Stops accepting, lets in-flight requests finish (up to drain_s seconds), frees s. */
void http_server_stop(struct http_server *s, int drain_s);

/* ===== Request accessors (all strings borrowed until the handler returns) ===== */
void *http_req_app(const struct http_request *req);
const char *http_req_method(const struct http_request *req);
const char *http_req_path(const struct http_request *req); /* decoded path */
const char *http_req_id(const struct http_request *req);   /* X-Request-Id value */
const char *http_req_param(const struct http_request *req, const char *name); /* {name} */
const char *http_req_query(const struct http_request *req, const char *name); /* ?name= */
const char *http_req_header(const struct http_request *req, const char *name);
const char *http_req_body(const struct http_request *req, size_t *len); /* "" when none */
const char *http_req_client_ip(const struct http_request *req);
/* The authenticated user (set by the auth callback); 0 / NULL when anonymous. */
int64_t http_req_user_id(const struct http_request *req);
const char *http_req_username(const struct http_request *req);
void http_req_set_user(struct http_request *req, int64_t user_id, const char *username);
/* true once the client has gone away; long handlers poll it to cancel their work. */
bool http_req_cancelled(const struct http_request *req);
/* Blocks, without a timeout, until fd is readable (VB_OK: a handler's result or bytes are
 * ready) or the client has gone away or the server stops (VB_ERR_CANCELLED, as
 * http_req_cancelled then says). While the request is suspended without a stream the
 * client's socket is watched for a hang-up; once it streams, a client that left is found by
 * the next http_stream_write. */
VB_WUR enum vb_err http_req_wait_readable(struct http_request *req, int fd);
/* true on an auth worker, where blocking on a password hash is expected. */
bool http_req_on_auth_worker(const struct http_request *req);
/* Queues fn(arg) to run on an auth worker, for password work that must not hold up a
 * request (refreshing cached credentials). VB_ERR_UNAVAILABLE when that queue is full or
 * the server is stopping: fn will not run and arg stays the caller's. */
VB_WUR enum vb_err http_req_run_on_auth_worker(struct http_request *req, void (*fn)(void *arg),
                                               void *arg);
/* Message and field for the error reply the layer sends when the handler returns an
 * error (field may be NULL). */
void http_req_set_error(struct http_request *req, const char *field, const char *fmt, ...)
    VB_PRINTF(3, 4);

/* Parses a multipart/form-data body (see http/multipart.h) into *out. On error returns
 * VB_ERR_MEDIA_TYPE (not multipart) or VB_ERR_INVALID (malformed) with the reason set
 * through http_req_set_error, so a handler can simply return the error. Part data points
 * into the request body (valid until the handler returns). */
struct http_multipart;
VB_WUR enum vb_err http_req_multipart(struct http_request *req, struct http_multipart *out);

/* The message last set with http_req_set_error, or NULL (borrowed). */
const char *http_req_error_message(const struct http_request *req);

/* ===== Replies: exactly one per request ===== */
/* The HTTP status for `err` (200 for VB_OK, 499 for VB_ERR_CANCELLED, 500 for unknown). */
int http_status_of(enum vb_err err);
/* Adds a header to the reply about to be sent (Location, Retry-After, ...). */
void http_reply_header(struct http_request *req, const char *name, const char *value);
/* Sends `body` (a JSON text) with Content-Type application/json. Takes the buffer's data
 * (body is reset). */
enum vb_err http_reply_json(struct http_request *req, int status, struct vb_buf *body);
/* Sends len bytes; copies them. */
enum vb_err http_reply_bytes(struct http_request *req, int status, const char *content_type,
                             const void *data, size_t len);
/* Sends the error JSON {"error":{"code","message","field"}} with http_status_of(err).
 * Returns VB_OK (the reply was queued). */
enum vb_err http_reply_error(struct http_request *req, enum vb_err err, const char *field,
                             const char *fmt, ...) VB_PRINTF(4, 5);
/* Sends a file with Content-Length, honouring a single Range header (206/416) and
 * HEAD. download_name (may be NULL) sets Content-Disposition: inline; filename=... */
enum vb_err http_reply_file(struct http_request *req, const char *path, const char *content_type,
                            const char *download_name);
/* Starts a chunked streaming reply; the handler then writes and closes on its own
 * (worker) thread. Returns NULL on OOM. */
struct http_stream *http_reply_stream(struct http_request *req, int status,
                                      const char *content_type);
/* Blocks while the client is slower than the producer (bounded buffer). Returns
 * VB_ERR_CANCELLED once the client has gone away. */
enum vb_err http_stream_write(struct http_stream *s, const void *data, size_t len);
/* Ends the stream (the handler must call it exactly once; s is freed by the layer). */
void http_stream_close(struct http_stream *s);

#endif
