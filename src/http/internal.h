/* internal.h: the HTTP layer's private structures shared by server.c (libmicrohttpd glue,
 * worker pool, lifecycle), request.c (accessors, replies) and stream.c (chunked streams).
 * Not for use outside src/http/. */
#ifndef VB_HTTP_INTERNAL_H
#define VB_HTTP_INTERNAL_H

#include "core/vb.h"
#include "core/buf.h"
#include "http/http.h"
#include "http/router.h"

struct vb_workq;

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define HTTP_REQ_ID_MAX      64 /* longest X-Request-Id we echo */
#define HTTP_EXTRA_HDRS_MAX  16 /* http_reply_header calls per request */
#define HTTP_REQ_HEADERS_MAX 128
#define HTTP_STREAM_BUF      (64 * 1024) /* bytes buffered between producer and socket */

enum http_phase {
    HTTP_PHASE_NEW,     /* request line seen; headers not yet examined */
    HTTP_PHASE_BODY,    /* collecting the body */
    HTTP_PHASE_RUNNING, /* suspended; a worker owns the handler run */
    HTTP_PHASE_REPLIED, /* response queued with libmicrohttpd */
};

/* Handler threads come in lanes so that requests which wait a long time (for a model:
 * HTTP_ROUTE_LONG) or burn CPU on a password hash never hold the threads that serve
 * everything else. */
enum http_lane_id {
    HTTP_LANE_LIGHT, /* `workers` threads: every route without HTTP_ROUTE_LONG */
    HTTP_LANE_LONG,  /* `long_workers` threads: HTTP_ROUTE_LONG routes (none: LIGHT serves them) */
    HTTP_LANE_AUTH,  /* `auth_workers` threads: HTTP_ROUTE_PASSWORD routes, authentication
                        that would block elsewhere (VB_ERR_WOULD_BLOCK), background password
                        work (http_req_run_on_auth_worker) */
    HTTP_LANES,
};

struct http_server {
    struct MHD_Daemon *daemon;
    struct http_server_params p; /* copy; p.allowed_hosts/p.cors_origins point to ours */
    char *allowed_hosts;         /* owned copies */
    char *cors_origins;
    int port;

    pthread_mutex_t lock;               /* guards in_flight */
    pthread_cond_t cv_idle;             /* in_flight dropped */
    struct vb_workq *lanes[HTTP_LANES]; /* owned; NULL for a lane without threads */
    struct http_conns *conns;           /* per-address limit and request-head deadline */
    int in_flight;                      /* requests between the request line and completion */
    atomic_bool stopping;               /* http_server_stop began: new requests get 503 */
    atomic_bool hard_stop;              /* drain time is over: handlers should give up */
    int stop_fd; /* eventfd, readable once hard_stop is set: wakes http_req_wait_readable */
};

struct http_request {
    struct http_server *srv;
    struct MHD_Connection *conn;
    atomic_int refs; /* the connection's, plus the worker's while a job runs */
    enum http_phase phase;
    struct timespec start;
    int fd; /* the client socket: only polled while the connection is suspended */

    char *raw_uri; /* owned: request target as received */
    char method[16];
    char path[HTTP_PATH_MAX + 1]; /* decoded; "" when the path was refused */
    struct http_route_match match;
    struct http_query query;
    char id[HTTP_REQ_ID_MAX + 1];
    char client_ip[64];
    char *hdr_store; /* owned: "name\0value\0" pairs */
    size_t n_hdrs;
    const char *hdr_names[HTTP_REQ_HEADERS_MAX];
    const char *hdr_values[HTTP_REQ_HEADERS_MAX];
    const char *cors_origin; /* the request's Origin when allowed, else NULL */

    struct vb_buf body;
    bool upload; /* a multipart body to an HTTP_ROUTE_UPLOAD route: upload_max applies */
    bool body_too_large;
    uint64_t body_discarded;

    int64_t user_id;
    char *username;  /* owned */
    char *err_field; /* owned */
    char *err_msg;   /* owned */

    /* reply */
    size_t n_extra;
    char *extra_names[HTTP_EXTRA_HDRS_MAX]; /* owned */
    char *extra_values[HTTP_EXTRA_HDRS_MAX];
    struct MHD_Response *resp; /* our reference until queued */
    bool replied;
    bool resumed; /* the worker already resumed the connection (streams) */
    int status;
    uint64_t bytes; /* body bytes of the reply (streams: counted when done) */
    struct http_stream *stream;
    bool stream_closed;
    atomic_bool cancelled;
    bool after_stop;    /* began after http_server_stop: refused with 503 */
    bool on_auth_lane;  /* queued for or running on HTTP_LANE_AUTH */
    bool authenticated; /* the auth callback accepted it (on HTTP_LANE_AUTH) */
};

/* server.c */
void http_req_unref(struct http_request *req);
/* Adds the standard headers (X-Request-Id, CORS, extras) to resp and stages it as the
 * reply. Takes resp (destroyed on error). VB_ERR_INTERNAL when a reply exists already. */
enum vb_err http_req_stage(struct http_request *req, int status, struct MHD_Response *resp,
                           uint64_t bytes);
/* Stages the JSON error reply for err (message: fmt or vb_err_message). */
void http_req_stage_error(struct http_request *req, enum vb_err err, const char *field,
                          const char *msg);
/* Resumes the suspended connection so the staged reply gets queued (once). */
void http_req_resume(struct http_request *req);
/* true when the peer of fd has closed or reset the connection. */
bool http_peer_gone(int fd);

/* conns.c: the open-connection registry (per-address limit, request-head deadline). */
struct http_conns;
/* Starts the watchdog thread. max_open: the overall limit given to libmicrohttpd (for the
 * log line near it); max_per_ip 0 = no limit; head_timeout_s 0 = 10. NULL with the reason
 * in why on failure. Free with http_conns_free after MHD_stop_daemon. */
struct http_conns *http_conns_new(int max_open, int max_per_ip, int head_timeout_s, char *why,
                                  size_t why_cap);
void http_conns_free(struct http_conns *c);
/* MHD accept policy (cls = the registry): refuses an address over its limit. */
enum MHD_Result http_conns_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen);
/* MHD_OPTION_NOTIFY_CONNECTION (cls = the registry): registers and removes connections. */
void http_conns_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                       enum MHD_ConnectionNotificationCode code);
/* libmicrohttpd refused a connection at its overall limit: logs it (rate-limited). */
void http_conns_overall_limit(struct http_conns *c);
/* The request head is complete: its deadline no longer applies. */
void http_conns_head_done(struct MHD_Connection *conn);
/* A reply completed: the next request's head must arrive within the deadline. */
void http_conns_head_wait(struct MHD_Connection *conn);

/* stream.c */
/* The connection completed (ok = sent fully): marks the stream finished and wakes the
 * producer. Returns the body bytes sent. */
uint64_t http_stream_finish(struct http_stream *s, bool ok);
/* Ends the stream from the layer after the handler returned (abort = error end). */
void http_stream_end(struct http_stream *s, bool abort);
bool http_stream_cancelled(struct http_stream *s);
/* Drops the request's reference to s. */
void http_stream_release(struct http_stream *s);

#endif
