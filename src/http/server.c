/* server.c: libmicrohttpd glue, the bounded handler worker pool and the server lifecycle.
 *
 * Threading. libmicrohttpd runs io_threads epoll I/O threads (thread pool mode); they
 * parse requests, collect bodies and send replies, and never run a handler. Once a body
 * is complete the connection is suspended and the request is pushed onto a bounded queue
 * (a lane: one core/workq.h worker queue) served by `workers` threads (full queue: 503 +
 * Retry-After, answered from the I/O thread). Routes flagged HTTP_ROUTE_LONG wait for a model (a
 * speech or chat queue) and go to a second lane of `long_workers` threads instead, sized by the
 * caller from the model queues, so however many generations wait, the `workers` lane stays free for
 * health checks and the other light routes. The worker runs auth and the handler, stages the reply
 * and resumes the connection; libmicrohttpd then calls the access handler again, which queues the
 * staged response. Cheap checks that need no handler (Host, path decoding, route lookup, 404/405,
 * CORS preflight, 413 by Content-Length) are answered directly on the I/O thread before
 * the body is read. Password checks (bcrypt) run on a third lane of `auth_workers` threads:
 * HTTP_ROUTE_PASSWORD routes whole, and authentication that would block elsewhere (see
 * http_auth_fn), so Bearer requests and cached credentials never wait behind them.
 *
 * Streaming (stream.c) keeps this rule: an I/O thread never waits. The content reader
 * copies what the producer has buffered; when the buffer is empty it suspends the
 * connection from inside the reader (which libmicrohttpd 0.9.75 documents as a safe
 * place to suspend) and returns 0; the producer's next write or close resumes it. So no
 * thread-per-connection mode is needed.
 *
 * While a connection is suspended libmicrohttpd does not notice a client that hangs up,
 * so http_req_cancelled polls the socket (POLLRDHUP) itself in that state. */
#include "core/vb.h"
#include "http/internal.h"
#include "core/alloc.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"
#include "core/time_fmt.h"
#include "core/workq.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_IO_THREADS   4
#define DEFAULT_WORKERS      8
#define DEFAULT_AUTH_WORKERS 2
#define DEFAULT_QUEUE_MAX    256
#define DEFAULT_HEADER_MAX   (16 * 1024)
#define DEFAULT_BODY_MAX     (256 * 1024)
#define DEFAULT_UPLOAD_MAX   (50 * 1024 * 1024)
#define DEFAULT_TIMEOUT_S    60
#define CONNECTIONS_MAX      10000 /* open connections, whatever the descriptor limit */
#define CONNECTIONS_MIN      64
#define FD_RESERVE           128 /* descriptors kept for files, the database and pipes */
#define DISCARD_MAX_BYTES    (4 * 1024 * 1024) /* over-limit chunked body we read to say 413 */
#define WWW_AUTHENTICATE     "Bearer realm=\"vocero\", Basic realm=\"vocero\""
#define DB_RETRY_AFTER_S     "5" /* seconds, when the database is unreachable */
#define EXPOSE_HEADERS       "X-Request-Id, Content-Disposition, Content-Range, Retry-After"
#define CORS_ALLOW_HEADERS   "Authorization, Content-Type, X-Request-Id, Range"

/* ===== small helpers ===== */

static double ms_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) * 1e3 + (double)(now.tv_nsec - t0->tv_nsec) / 1e6;
}

bool http_peer_gone(int fd)
{
    if (fd < 0)
        return false;
    struct pollfd pfd = {.fd = fd, .events = POLLIN | POLLRDHUP};
    if (poll(&pfd, 1, 0) <= 0)
        return false;
    return (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

/* Compares the comma-separated item list `list` against [s, s+n) case-insensitively;
 * items are trimmed; `strip_port` removes a ":port" suffix from items. "*" matches all. */
static bool list_has(const char *list, const char *s, size_t n, bool strip_port)
{
    if (!list)
        return false;
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *item = p;
        while (*p && *p != ',')
            p++;
        const char *e = p;
        while (e > item && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        size_t len = (size_t)(e - item);
        if (len == 1 && item[0] == '*')
            return true;
        if (strip_port && len && item[0] != '[') {
            const char *colon = memchr(item, ':', len);
            if (colon)
                len = (size_t)(colon - item);
        } else if (strip_port && len && item[0] == '[') {
            const char *rb = memchr(item, ']', len);
            if (rb)
                len = (size_t)(rb - item) + 1;
        }
        while (!strip_port && len && item[len - 1] == '/')
            len--;
        if (len && len == n && strncasecmp(item, s, n) == 0)
            return true;
    }
    return false;
}

static bool host_allowed(const char *list, const char *host)
{
    if (list && strcmp(list, "*") == 0)
        return true;
    if (!host || !*host)
        return false;
    size_t n = strlen(host);
    if (host[0] == '[') {
        const char *rb = strchr(host, ']');
        if (!rb)
            return false;
        n = (size_t)(rb - host) + 1;
    } else {
        const char *colon = strchr(host, ':');
        if (colon)
            n = (size_t)(colon - host);
    }
    while (n && host[n - 1] == '.') /* "example.com." is example.com */
        n--;
    return n > 0 && list_has(list, host, n, true);
}

static bool request_id_sane(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok || n >= HTTP_REQ_ID_MAX)
            return false;
    }
    return n > 0;
}

/* Path for the access log: the decoded path, else the raw target with anything
 * unprintable replaced, capped. */
static void log_path(const struct http_request *req, char *out, size_t cap)
{
    const char *src = req->path[0] ? req->path : (req->raw_uri ? req->raw_uri : "-");
    size_t o = 0;
    for (size_t i = 0; src[i] && o + 1 < cap && i < 256; i++) {
        unsigned char c = (unsigned char)src[i];
        if (!req->path[0] && c == '?')
            break; /* the raw query may hold secrets (signatures) */
        out[o++] = (c < 0x21 || c > 0x7e) ? '?' : (char)c;
    }
    out[o] = '\0';
}

/* ===== request lifetime ===== */

void http_req_unref(struct http_request *req)
{
    if (!req || atomic_fetch_sub(&req->refs, 1) != 1)
        return;
    if (req->resp)
        MHD_destroy_response(req->resp);
    if (req->stream)
        http_stream_release(req->stream);
    vb_free(req->raw_uri);
    vb_free(req->hdr_store);
    http_query_release(&req->query);
    vb_buf_release(&req->body);
    vb_free(req->username);
    vb_free(req->err_field);
    vb_free(req->err_msg);
    for (size_t i = 0; i < req->n_extra; i++) {
        vb_free(req->extra_names[i]);
        vb_free(req->extra_values[i]);
    }
    vb_free(req);
}

static enum MHD_Result add_header(struct MHD_Response *resp, const char *name, const char *value)
{
    return MHD_add_response_header(resp, name, value);
}

static bool has_extra(const struct http_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_extra; i++) {
        if (strcasecmp(req->extra_names[i], name) == 0)
            return true;
    }
    return false;
}

enum vb_err http_req_stage(struct http_request *req, int status, struct MHD_Response *resp,
                           uint64_t bytes)
{
    if (!resp)
        return VB_ERR_NOMEM;
    if (req->replied) {
        vb_warn("http: %s %s: a second reply was dropped (request %s)", req->method, req->path,
                req->id);
        MHD_destroy_response(resp);
        return VB_ERR_INTERNAL;
    }
    add_header(resp, "X-Request-Id", req->id);
    add_header(resp, "X-Content-Type-Options", "nosniff");
    if (req->cors_origin) {
        add_header(resp, "Access-Control-Allow-Origin", req->cors_origin);
        add_header(resp, "Vary", "Origin");
        add_header(resp, "Access-Control-Expose-Headers", EXPOSE_HEADERS);
    }
    for (size_t i = 0; i < req->n_extra; i++) {
        if (add_header(resp, req->extra_names[i], req->extra_values[i]) != MHD_YES)
            vb_warn("http: header %s was refused", req->extra_names[i]);
    }
    if (status == 401 && !has_extra(req, "WWW-Authenticate"))
        add_header(resp, "WWW-Authenticate", WWW_AUTHENTICATE);
    if (atomic_load(&req->srv->stopping))
        add_header(resp, "Connection", "close");
    req->resp = resp;
    req->status = status;
    req->bytes = bytes;
    req->replied = true;
    return VB_OK;
}

static void free_cb(void *p)
{
    vb_free(p);
}

void http_req_stage_error(struct http_request *req, enum vb_err err, const char *field,
                          const char *msg)
{
    if (err == VB_OK)
        err = VB_ERR_INTERNAL;
    struct vb_buf b;
    vb_buf_init(&b, 64 * 1024);
    struct vb_jw w;
    vb_jw_init(&w, &b);
    vb_jw_obj_begin(&w);
    vb_jw_key(&w, "error");
    vb_jw_obj_begin(&w);
    vb_jw_kstr(&w, "code", vb_err_code(err));
    vb_jw_kstr(&w, "message", msg ? msg : vb_err_message(err));
    vb_jw_key(&w, "field");
    vb_jw_str(&w, field);
    vb_jw_obj_end(&w);
    vb_jw_obj_end(&w);
    struct MHD_Response *resp = NULL;
    size_t len = 0;
    if (vb_jw_finish(&w) == VB_OK) {
        len = b.len;
        char *data = vb_buf_take(&b);
        resp = MHD_create_response_from_buffer_with_free_callback(len, data, free_cb);
        if (!resp)
            vb_free(data);
    } else {
        static const char fallback[] = "{\"error\":{\"code\":\"internal_error\",\"message\":"
                                       "\"internal error\",\"field\":null}}";
        vb_buf_release(&b);
        err = VB_ERR_INTERNAL;
        len = sizeof fallback - 1;
        resp = MHD_create_response_from_buffer(sizeof fallback - 1, (void *)fallback,
                                               MHD_RESPMEM_PERSISTENT);
    }
    if (!resp)
        return; /* out of memory: the access handler will close the connection */
    add_header(resp, "Content-Type", "application/json");
    add_header(resp, "Cache-Control", "no-store");
    enum vb_err e = http_req_stage(req, http_status_of(err), resp, len);
    (void)e;
}

void http_req_resume(struct http_request *req)
{
    if (req->resumed)
        return;
    req->resumed = true;
    MHD_resume_connection(req->conn);
}

/* ===== libmicrohttpd callbacks ===== */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct http_server *srv = cls;
    struct http_request *req = vb_try_calloc(1, sizeof *req);
    if (!req)
        return NULL;
    req->srv = srv;
    req->conn = conn;
    atomic_init(&req->refs, 1);
    atomic_init(&req->cancelled, false);
    req->fd = -1;
    clock_gettime(CLOCK_MONOTONIC, &req->start);
    size_t n = strlen(uri);
    req->raw_uri = vb_try_malloc(n + 1);
    if (req->raw_uri)
        memcpy(req->raw_uri, uri, n + 1);
    vb_buf_init(&req->body, 0);
    pthread_mutex_lock(&srv->lock);
    srv->in_flight++;
    req->after_stop = atomic_load(&srv->stopping);
    pthread_mutex_unlock(&srv->lock);
    return req;
}

struct hdr_collect {
    struct vb_buf buf;
    size_t n;
    enum vb_err err;
};

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    struct hdr_collect *c = cls;
    if (c->n >= HTTP_REQ_HEADERS_MAX) {
        c->err = VB_ERR_INVALID;
        return MHD_NO;
    }
    if (!value)
        value = "";
    enum vb_err err = vb_buf_append(&c->buf, key, strlen(key) + 1);
    if (!err)
        err = vb_buf_append(&c->buf, value, strlen(value) + 1);
    if (err) {
        c->err = err;
        return MHD_NO;
    }
    c->n++;
    return MHD_YES;
}

static enum vb_err copy_headers(struct http_request *req)
{
    struct hdr_collect c = {.n = 0, .err = VB_OK};
    vb_buf_init(&c.buf, req->srv->p.header_max * 2 + 1024);
    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, collect_header, &c);
    if (c.err) {
        vb_buf_release(&c.buf);
        return c.err;
    }
    size_t len = c.buf.len;
    req->hdr_store = vb_buf_take(&c.buf);
    const char *p = req->hdr_store;
    for (size_t i = 0; i < c.n && p < req->hdr_store + len; i++) {
        req->hdr_names[i] = p;
        p += strlen(p) + 1;
        req->hdr_values[i] = p;
        p += strlen(p) + 1;
        req->n_hdrs = i + 1;
    }
    return VB_OK;
}

static void stage_preflight(struct http_request *req)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return;
    add_header(resp, "Allow", req->match.allow);
    if (req->cors_origin && http_req_header(req, "Access-Control-Request-Method")) {
        add_header(resp, "Access-Control-Allow-Methods", req->match.allow);
        const char *want = http_req_header(req, "Access-Control-Request-Headers");
        bool sane = want && *want && strlen(want) < 512;
        for (const char *c = want; sane && *c; c++) {
            bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                      (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == ',' || *c == ' ';
            sane = ok;
        }
        add_header(resp, "Access-Control-Allow-Headers", sane ? want : CORS_ALLOW_HEADERS);
        add_header(resp, "Access-Control-Max-Age", "600");
    }
    enum vb_err e = http_req_stage(req, 204, resp, 0);
    (void)e;
}

static void add_extra(struct http_request *req, const char *name, const char *value)
{
    http_reply_header(req, name, value);
}

/* RFC 9110 token: what a header name may be made of. */
static bool is_token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  (c && strchr("!#$%&'*+-.^_`|~", c));
        if (!ok)
            return false;
    }
    return true;
}

/* A request head that a proxy in front of us could frame or route differently from us
 * (request smuggling) is refused: a repeated Content-Length, Transfer-Encoding or Host,
 * Content-Length together with Transfer-Encoding, a transfer coding other than chunked,
 * or a header name that is not a token ("Foo Bar", "Foo :"). Returns the reason and sets
 * *field, or NULL when the head is unambiguous. */
static const char *ambiguous_head(const struct http_request *req, const char **field)
{
    static const char *const once[] = {"Content-Length", "Transfer-Encoding", "Host"};
    size_t seen[VB_ARRAY_LEN(once)] = {0};
    *field = NULL;
    for (size_t i = 0; i < req->n_hdrs; i++) {
        if (!is_token(req->hdr_names[i]))
            return "malformed header name";
        for (size_t k = 0; k < VB_ARRAY_LEN(once); k++) {
            if (strcasecmp(req->hdr_names[i], once[k]) == 0 && ++seen[k] > 1) {
                *field = once[k];
                return "header given more than once";
            }
        }
    }
    if (seen[0] && seen[1]) {
        *field = "Transfer-Encoding";
        return "Content-Length and Transfer-Encoding together";
    }
    const char *te = http_req_header(req, "Transfer-Encoding");
    if (te && strcasecmp(te, "chunked") != 0) {
        *field = "Transfer-Encoding";
        return "only the chunked transfer coding is accepted";
    }
    return NULL;
}

static bool is_multipart(const char *content_type)
{
    while (content_type && (*content_type == ' ' || *content_type == '\t'))
        content_type++;
    return content_type && strncasecmp(content_type, "multipart/form-data", 19) == 0;
}

/* "256 KiB (MAX_JSON_KB)": the body limit for this request, for the 413 message. */
static void stage_too_large(struct http_request *req, size_t limit, bool upload)
{
    char msg[128];
    if (upload && limit % (1024 * 1024) == 0)
        snprintf(msg, sizeof msg, "request body is larger than the %zu MiB upload limit (%s)",
                 limit >> 20, "MAX_UPLOAD_MB");
    else
        snprintf(msg, sizeof msg, "request body is larger than the %zu KiB limit (%s)", limit >> 10,
                 upload ? "MAX_UPLOAD_MB" : "MAX_JSON_KB");
    http_req_stage_error(req, VB_ERR_TOO_LARGE, NULL, msg);
}

/* First look at a request: everything that needs no handler. Stages an early reply on
 * refusal; otherwise prepares the body buffer and moves to HTTP_PHASE_BODY. */
static void begin_request(struct http_request *req, const char *method)
{
    struct http_server *srv = req->srv;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci)
        req->fd = ci->connect_fd;
    ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
                      req->client_ip, sizeof req->client_ip);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
                      req->client_ip, sizeof req->client_ip);
    }
    bool method_ok = method && strlen(method) < sizeof req->method;
    snprintf(req->method, sizeof req->method, "%s", method_ok ? method : "?");

    enum vb_err err = copy_headers(req);
    const char *rid = http_req_header(req, "X-Request-Id");
    if (rid && request_id_sane(rid)) {
        snprintf(req->id, sizeof req->id, "%s", rid);
    } else if (vb_request_id(req->id) != VB_OK) {
        snprintf(req->id, sizeof req->id, "r%p", (void *)req);
    }
    if (err) {
        http_req_stage_error(req, err, NULL,
                             err == VB_ERR_INVALID ? "too many request headers" : NULL);
        return;
    }
    const char *bad_field = NULL;
    const char *bad = ambiguous_head(req, &bad_field);
    if (bad) {
        add_extra(req, "Connection", "close");
        http_req_stage_error(req, VB_ERR_INVALID, bad_field, bad);
        return;
    }
    if (!req->raw_uri) {
        http_req_stage_error(req, VB_ERR_NOMEM, NULL, NULL);
        return;
    }
    const char *host = http_req_header(req, "Host");
    if (!host_allowed(srv->allowed_hosts, host)) {
        http_req_stage_error(req, VB_ERR_INVALID, "Host", "Host header is not allowed");
        return;
    }
    const char *origin = http_req_header(req, "Origin");
    if (origin && *origin && srv->cors_origins && *srv->cors_origins &&
        list_has(srv->cors_origins, origin, strlen(origin), false))
        req->cors_origin = origin;
    if (!method_ok) {
        http_req_stage_error(req, VB_ERR_METHOD, NULL, NULL);
        return;
    }

    /* Request target: path, then the query (a fragment should not be sent; drop it). */
    const char *uri = req->raw_uri;
    size_t ulen = strcspn(uri, "#");
    const char *q = memchr(uri, '?', ulen);
    size_t plen = q ? (size_t)(q - uri) : ulen;
    if (http_path_decode(uri, plen, req->path, sizeof req->path) != VB_OK) {
        req->path[0] = '\0';
        http_req_stage_error(req, VB_ERR_NOT_FOUND, NULL, NULL);
        return;
    }
    err = q ? http_query_parse(q + 1, ulen - plen - 1, &req->query)
            : http_query_parse("", 0, &req->query);
    if (err) {
        http_req_stage_error(req, err, NULL,
                             err == VB_ERR_INVALID ? "malformed query string" : NULL);
        return;
    }
    err = http_route_find(srv->p.routes, srv->p.n_routes, req->method, req->path, &req->match);
    if (err == VB_ERR_METHOD && strcmp(req->method, "OPTIONS") == 0) {
        stage_preflight(req);
        return;
    }
    if (err == VB_ERR_METHOD) {
        add_extra(req, "Allow", req->match.allow);
        http_req_stage_error(req, err, NULL, NULL);
        return;
    }
    if (err) {
        http_req_stage_error(req, err, NULL, NULL);
        return;
    }
    /* Only multipart bodies to upload routes get the upload limit: a JSON body to the same
     * route (POST /generate-tts takes both) is held to body_max, as its parse costs more
     * memory than its size. */
    req->upload = (req->match.route->flags & HTTP_ROUTE_UPLOAD) &&
                  is_multipart(http_req_header(req, "Content-Type"));
    size_t limit = req->upload ? srv->p.upload_max : srv->p.body_max;
    const char *cl = http_req_header(req, "Content-Length");
    if (cl) {
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(cl, &end, 10);
        if (errno == 0 && end != cl && v > limit) {
            stage_too_large(req, limit, req->upload);
            return;
        }
    }
    vb_buf_init(&req->body, limit);
    req->phase = HTTP_PHASE_BODY;
}

static enum MHD_Result queue_staged(struct http_request *req)
{
    req->phase = HTTP_PHASE_REPLIED;
    if (!req->resp)
        return MHD_NO; /* could not build any reply (OOM): close */
    enum MHD_Result r = MHD_queue_response(req->conn, (unsigned)req->status, req->resp);
    MHD_destroy_response(req->resp);
    req->resp = NULL;
    if (r != MHD_YES)
        vb_warn("http: %s %s: could not queue the reply (request %s)", req->method, req->path,
                req->id);
    return r;
}

/* ===== lanes ===== */

/* The lane a request's route runs on. */
static enum http_lane_id home_lane(const struct http_request *req)
{
    unsigned flags = req->match.route->flags;
    if (flags & HTTP_ROUTE_PASSWORD)
        return HTTP_LANE_AUTH;
    if ((flags & HTTP_ROUTE_LONG) && req->srv->lanes[HTTP_LANE_LONG])
        return HTTP_LANE_LONG;
    return HTTP_LANE_LIGHT;
}

static bool run_job(struct http_request *req);

/* A request's turn on a lane thread: auth, handler and reply, then the connection resumes
 * (nothing when the request moved to another lane). */
static void lane_run_request(void *arg)
{
    struct http_request *req = arg;
    if (run_job(req))
        return; /* moved to another lane */
    http_req_resume(req);
    http_req_unref(req);
}

/* Queues a suspended request (with the reference the queue holds) on lane id; `admitted`
 * (may be NULL) runs before a lane thread can take it. false when the lane is full, has no
 * threads or is closed (the server is stopping). */
static bool lane_push(struct http_request *req, enum http_lane_id id, void (*admitted)(void *))
{
    struct vb_workq *q = req->srv->lanes[id];
    bool was_auth = req->on_auth_lane;
    req->on_auth_lane = id == HTTP_LANE_AUTH; /* not visible to a lane thread before submit */
    if (q && vb_workq_submit(q, lane_run_request, req, admitted) == VB_OK)
        return true;
    req->on_auth_lane = was_auth;
    return false;
}

/* Moves a suspended request (and its reference) to lane id; false when it has no room. */
static bool move_to_lane(struct http_request *req, enum http_lane_id id)
{
    return lane_push(req, id, NULL);
}

bool http_req_on_auth_worker(const struct http_request *req)
{
    return req->on_auth_lane;
}

enum vb_err http_req_run_on_auth_worker(struct http_request *req, void (*fn)(void *arg), void *arg)
{
    struct http_server *srv = req->srv;
    if (!fn)
        return VB_ERR_INVALID;
    if (atomic_load(&srv->hard_stop) ||
        vb_workq_submit(srv->lanes[HTTP_LANE_AUTH], fn, arg, NULL) != VB_OK)
        return VB_ERR_UNAVAILABLE;
    return VB_OK;
}

/* Under the lane's lock, before a lane thread can see the request: suspend it, so that its
 * resume always follows. */
static void dispatch_admitted(void *arg)
{
    struct http_request *req = arg;
    req->phase = HTTP_PHASE_RUNNING;
    atomic_fetch_add(&req->refs, 1);
    MHD_suspend_connection(req->conn);
}

/* The body is complete: hand the request to a worker, or answer 503. A request that began
 * before the stop is in flight and still runs while the server drains; one that began
 * after it (on a kept-alive connection) is refused. */
static enum MHD_Result dispatch(struct http_request *req)
{
    struct http_server *srv = req->srv;
    enum http_lane_id lane = home_lane(req);
    bool stopping = req->after_stop || atomic_load(&srv->hard_stop);
    if (stopping || !lane_push(req, lane, dispatch_admitted)) {
        char retry[16];
        snprintf(retry, sizeof retry, "%d", vb_workq_retry_after_s(srv->lanes[lane]));
        add_extra(req, "Retry-After", retry);
        http_req_stage_error(req, VB_ERR_UNAVAILABLE, NULL,
                             stopping ? "server is shutting down" : "server is busy, retry soon");
        if (!stopping)
            vb_warn("http: queue full (%d), answering 503 to %s %s", srv->p.queue_max, req->method,
                    req->path);
        return queue_staged(req);
    }
    return MHD_YES;
}

/* Whether the request announces a body (a non-zero Content-Length or chunked). */
static bool has_body(const struct http_request *req)
{
    const char *cl = http_req_header(req, "Content-Length");
    if (cl && strspn(cl, "0 \t") != strlen(cl))
        return true;
    return http_req_header(req, "Transfer-Encoding") != NULL;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)url;
    (void)version;
    struct http_request *req = *con_cls;
    if (!req)
        return MHD_NO; /* out of memory in on_uri */
    switch (req->phase) {
    case HTTP_PHASE_NEW:
        req->conn = conn;
        http_conns_head_done(conn);
        begin_request(req, method);
        if (req->replied && !has_body(req)) {
            /* Answer at the final call: replying before libmicrohttpd has finished the
             * request would make it close the connection instead of keeping it alive. */
            req->phase = HTTP_PHASE_BODY;
            return MHD_YES;
        }
        if (req->replied || req->phase == HTTP_PHASE_NEW)
            return queue_staged(req); /* with a body: answer now, the body is not read */
        return MHD_YES;
    case HTTP_PHASE_BODY:
        if (*upload_data_size) {
            size_t n = *upload_data_size;
            *upload_data_size = 0;
            if (!req->body_too_large && !req->replied) {
                enum vb_err err = vb_buf_append(&req->body, upload_data, n);
                if (err == VB_ERR_NOMEM)
                    return MHD_NO;
                if (err)
                    req->body_too_large = true;
            } else {
                req->body_discarded += n;
                if (req->body_discarded > DISCARD_MAX_BYTES)
                    return MHD_NO;
            }
            return MHD_YES;
        }
        if (req->replied)
            return queue_staged(req);
        if (req->body_too_large) {
            stage_too_large(req, req->body.max, req->upload);
            return queue_staged(req);
        }
        return dispatch(req);
    case HTTP_PHASE_RUNNING:
        return queue_staged(req);
    case HTTP_PHASE_REPLIED:
        *upload_data_size = 0;
        return MHD_YES;
    }
    return MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_server *srv = cls;
    struct http_request *req = *con_cls;
    http_conns_head_wait(conn);
    if (!req)
        return;
    *con_cls = NULL;
    bool ok = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK;
    if (!ok)
        atomic_store(&req->cancelled, true);
    if (req->stream)
        req->bytes = http_stream_finish(req->stream, ok);
    char path[300];
    log_path(req, path, sizeof path);
    if (req->phase == HTTP_PHASE_NEW) {
        vb_debug("http: %s: connection ended before the request was handled", path);
    } else {
        vb_info("http: %s %s %d %llu bytes %.1f ms user=%s id=%s%s", req->method, path, req->status,
                (unsigned long long)req->bytes, ms_since(&req->start),
                req->username ? req->username : "-", req->id, ok ? "" : " (aborted)");
    }
    pthread_mutex_lock(&srv->lock);
    srv->in_flight--;
    pthread_cond_broadcast(&srv->cv_idle);
    pthread_mutex_unlock(&srv->lock);
    http_req_unref(req);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct http_server *srv = cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    if (srv->conns && strncmp(line, "Server reached connection limit", 31) == 0) {
        http_conns_overall_limit(srv->conns); /* one line per connection otherwise */
        return;
    }
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    vb_warn("libmicrohttpd: %s", line);
}

/* ===== workers ===== */

/* Runs the auth callback. true when the request moved to another lane: to an auth worker
 * because the callback would block, or, authenticated there, back to its route's lane. */
static bool authenticate(struct http_request *req, enum vb_err *err)
{
    struct http_server *srv = req->srv;
    const struct http_route *route = req->match.route;
    if (!srv->p.auth) {
        vb_error("http: route %s %s needs auth but no auth callback is set", route->method,
                 route->pattern);
        *err = VB_ERR_INTERNAL;
        return false;
    }
    *err = srv->p.auth(srv->p.app, req);
    if (*err == VB_ERR_WOULD_BLOCK) {
        if (!req->on_auth_lane && move_to_lane(req, HTTP_LANE_AUTH))
            return true;
        add_extra(req, "Retry-After", "1");
        http_req_set_error(req, NULL, "too many password checks waiting, retry soon");
        *err = VB_ERR_UNAVAILABLE;
        return false;
    }
    if (*err)
        return false;
    req->authenticated = true;
    enum http_lane_id home = home_lane(req);
    if (!req->on_auth_lane || home == HTTP_LANE_AUTH)
        return false;
    if (move_to_lane(req, home))
        return true;
    add_extra(req, "Retry-After", "1");
    http_req_set_error(req, NULL, "server is busy, retry soon");
    *err = VB_ERR_UNAVAILABLE;
    return false;
}

/* Runs a dequeued request's auth and handler and stages the reply; true when the request
 * moved to another lane instead (the caller then leaves it alone). */
static bool run_job(struct http_request *req)
{
    struct http_server *srv = req->srv;
    const struct http_route *route = req->match.route;
    enum vb_err err = VB_OK;
    if (atomic_load(&srv->hard_stop)) {
        add_extra(req, "Retry-After", "1");
        http_req_stage_error(req, VB_ERR_UNAVAILABLE, NULL, "server is shutting down");
        return false;
    }
    bool need_auth = !(route->flags & HTTP_ROUTE_PUBLIC) && !req->authenticated;
    if (need_auth && (route->flags & HTTP_ROUTE_OPTIONAL_AUTH) &&
        !http_req_header(req, "Authorization"))
        need_auth = false;
    if (need_auth && authenticate(req, &err))
        return true;
    if (!err)
        err = route->handler(req);
    if (req->stream && !req->stream_closed) {
        if (!err)
            vb_warn("http: %s %s: handler did not close its stream", req->method, req->path);
        req->stream_closed = true;
        http_stream_end(req->stream, err != VB_OK);
    }
    if (err && !req->replied) {
        if (err == VB_ERR_DB_DOWN) /* a database restart takes seconds */
            add_extra(req, "Retry-After", DB_RETRY_AFTER_S);
        http_req_stage_error(req, err, req->err_field, req->err_msg);
    } else if (err) {
        vb_warn("http: %s %s: handler failed after replying: %s (request %s)", req->method,
                req->path, vb_err_message(err), req->id);
    } else if (!req->replied) {
        vb_error("http: %s %s: handler returned without a reply (request %s)", req->method,
                 req->path, req->id);
        http_req_stage_error(req, VB_ERR_INTERNAL, NULL, NULL);
    }
    return false;
}

/* ===== lifecycle ===== */

static void server_free(struct http_server *srv)
{
    if (!srv)
        return;
    pthread_mutex_destroy(&srv->lock);
    pthread_cond_destroy(&srv->cv_idle);
    if (srv->stop_fd >= 0)
        close(srv->stop_fd);
    for (int l = 0; l < HTTP_LANES; l++)
        vb_workq_free(srv->lanes[l]);
    http_conns_free(srv->conns);
    vb_free(srv->allowed_hosts);
    vb_free(srv->cors_origins);
    vb_free(srv);
}

/* Every lane refuses new jobs, runs what it has queued (a job that would move to another
 * lane then gets 503), and its threads exit. */
static void stop_workers(struct http_server *srv)
{
    for (int l = 0; l < HTTP_LANES; l++)
        if (srv->lanes[l])
            vb_workq_close(srv->lanes[l]);
    for (int l = 0; l < HTTP_LANES; l++)
        if (srv->lanes[l])
            vb_workq_stop(srv->lanes[l]); /* freed with the server: I/O threads still look */
}

static bool check_routes(const struct http_server_params *p, char *why, size_t why_cap)
{
    if (p->n_routes && !p->routes) {
        snprintf(why, why_cap, "routes is NULL");
        return false;
    }
    for (size_t i = 0; i < p->n_routes; i++) {
        const struct http_route *r = &p->routes[i];
        if (!r->method || !r->pattern || !r->handler || r->pattern[0] != '/') {
            snprintf(why, why_cap, "route %zu: method, '/'-pattern and handler are required", i);
            return false;
        }
        size_t n_params = 0;
        for (const char *c = r->pattern; *c; c++)
            n_params += *c == '{';
        if (n_params > HTTP_PARAMS_MAX || strlen(r->pattern) > HTTP_PATH_MAX) {
            snprintf(why, why_cap, "route %s: too many {params} or too long", r->pattern);
            return false;
        }
        if (!(r->flags & HTTP_ROUTE_PUBLIC) && !p->auth) {
            snprintf(why, why_cap, "route %s %s needs auth but no auth callback is set", r->method,
                     r->pattern);
            return false;
        }
    }
    return true;
}

/* Open connections the daemon takes: what the descriptor limit leaves after a reserve for
 * database, model and audio files (libmicrohttpd's own default is 1020 whatever the limit;
 * with epoll it needs no FD_SETSIZE bound). */
static int connection_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return CONNECTIONS_MAX;
    long n = (long)rl.rlim_cur - FD_RESERVE;
    return (int)VB_MAX(VB_MIN(n, (long)CONNECTIONS_MAX), (long)CONNECTIONS_MIN);
}

struct http_server *http_server_start(const struct http_server_params *p, char *why, size_t why_cap)
{
    char dummy[8];
    if (!why || !why_cap) {
        why = dummy;
        why_cap = sizeof dummy;
    }
    why[0] = '\0';
    if (!p) {
        snprintf(why, why_cap, "no parameters");
        return NULL;
    }
    if (!check_routes(p, why, why_cap))
        return NULL;
    if (p->port < 0 || p->port > 65535) {
        snprintf(why, why_cap, "port %d out of range", p->port);
        return NULL;
    }
    struct http_server *srv = vb_xcalloc(1, sizeof *srv);
    srv->p = *p;
    srv->p.io_threads = p->io_threads > 0 ? p->io_threads : DEFAULT_IO_THREADS;
    srv->p.workers = p->workers > 0 ? p->workers : DEFAULT_WORKERS;
    srv->p.long_workers = p->long_workers > 0 ? p->long_workers : 0;
    srv->p.auth_workers = p->auth_workers > 0 ? p->auth_workers : DEFAULT_AUTH_WORKERS;
    srv->p.queue_max = p->queue_max > 0 ? p->queue_max : DEFAULT_QUEUE_MAX;
    srv->p.header_max = p->header_max ? p->header_max : DEFAULT_HEADER_MAX;
    srv->p.body_max = p->body_max ? p->body_max : DEFAULT_BODY_MAX;
    srv->p.upload_max = p->upload_max ? p->upload_max : DEFAULT_UPLOAD_MAX;
    srv->p.request_timeout_s = p->request_timeout_s > 0 ? p->request_timeout_s : DEFAULT_TIMEOUT_S;
    srv->allowed_hosts = vb_xstrdup(p->allowed_hosts && *p->allowed_hosts ? p->allowed_hosts : "*");
    srv->cors_origins = vb_xstrdup(p->cors_origins ? p->cors_origins : "");
    srv->p.allowed_hosts = srv->allowed_hosts;
    srv->p.cors_origins = srv->cors_origins;
    pthread_mutex_init(&srv->lock, NULL);
    vb_cond_init_mono(&srv->cv_idle);
    srv->stop_fd = eventfd(0, EFD_CLOEXEC);
    if (srv->stop_fd < 0) {
        snprintf(why, why_cap, "cannot create an eventfd: %s", strerror(errno));
        goto fail;
    }
    atomic_init(&srv->hard_stop, false);
    atomic_init(&srv->stopping, false);
    for (int l = 0; l < HTTP_LANES; l++) {
        int n = l == HTTP_LANE_LONG   ? srv->p.long_workers
                : l == HTTP_LANE_AUTH ? srv->p.auth_workers
                                      : srv->p.workers;
        struct vb_workq_params qp = {
            .threads = n, .queue_max = (size_t)srv->p.queue_max, .retry_after_s = 1};
        if (n > 0 && !(srv->lanes[l] = vb_workq_new(&qp, why, why_cap)))
            goto fail; /* none for a lane without threads (the long lane: LIGHT serves it) */
    }

    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    bool have_addr = false;
    if (p->host && *p->host) {
        struct addrinfo hints = {
            .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
        struct addrinfo *res = NULL;
        int rc = getaddrinfo(p->host, NULL, &hints, &res);
        if (rc || !res) {
            snprintf(why, why_cap, "cannot resolve HOST %s: %s", p->host, gai_strerror(rc));
            goto fail;
        }
        memcpy(&ss, res->ai_addr, VB_MIN((size_t)res->ai_addrlen, sizeof ss));
        freeaddrinfo(res);
        if (ss.ss_family == AF_INET) {
            ((struct sockaddr_in *)(void *)&ss)->sin_port = htons((uint16_t)p->port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)(void *)&ss;
            s6->sin6_port = htons((uint16_t)p->port);
            flags |= IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr) ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
        }
        have_addr = true;
    }
    int max_open = connection_limit();
    srv->conns = http_conns_new(max_open, p->max_conns_per_ip, p->header_timeout_s, why, why_cap);
    if (!srv->conns)
        goto fail;
    struct MHD_OptionItem opts[12];
    size_t no = 0;
    opts[no++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, srv};
    if (srv->p.io_threads > 1) /* 1 = libmicrohttpd's single internal thread, no pool */
        opts[no++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, srv->p.io_threads, NULL};
    opts[no++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                         (intptr_t)(srv->p.header_max + 32 * 1024), NULL};
    opts[no++] =
        (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, srv->p.request_timeout_s, NULL};
    opts[no++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, srv};
    opts[no++] = (struct MHD_OptionItem){MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, srv};
    opts[no++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, max_open, NULL};
    opts[no++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)http_conns_notify,
                                         srv->conns};
    opts[no++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_BACKLOG_SIZE, 511, NULL};
    if (have_addr)
        opts[no++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
    opts[no++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    srv->daemon = MHD_start_daemon(flags, (uint16_t)p->port, http_conns_accept, srv->conns,
                                   on_access, srv, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!srv->daemon) {
        snprintf(why, why_cap, "cannot listen on %s:%d (port in use or bad address?)",
                 p->host && *p->host ? p->host : "*", p->port);
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : p->port;
    return srv;
fail:
    stop_workers(srv);
    server_free(srv);
    return NULL;
}

int http_server_port(const struct http_server *s)
{
    return s ? s->port : 0;
}

void http_server_stop(struct http_server *s, int drain_s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    atomic_store(&s->stopping, true);
    pthread_mutex_unlock(&s->lock);
    MHD_socket listen_fd = MHD_quiesce_daemon(s->daemon);

    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += drain_s > 0 ? drain_s : 0;
    pthread_mutex_lock(&s->lock);
    while (s->in_flight > 0) {
        if (pthread_cond_timedwait(&s->cv_idle, &s->lock, &deadline) == ETIMEDOUT)
            break;
    }
    int left = s->in_flight;
    pthread_mutex_unlock(&s->lock);
    if (left)
        vb_warn("http: %d request(s) still in flight after %d s; cancelling them", left, drain_s);
    atomic_store(&s->hard_stop, true);
    uint64_t one = 1;
    if (write(s->stop_fd, &one, sizeof one) < 0) /* wake handlers waiting for a result */
        vb_warn("http: cannot wake waiting handlers: %s", strerror(errno));
    /* Workers finish (handlers see http_req_cancelled), answer queued jobs with 503 and
     * resume every suspended connection; only then may the daemon stop. */
    stop_workers(s);
    MHD_stop_daemon(s->daemon);
    if (listen_fd != MHD_INVALID_SOCKET)
        close(listen_fd);
    server_free(s);
}
