/* request.c: request accessors and the reply functions (JSON, bytes, errors, files with
 * single byte ranges) of the HTTP layer. Runs on the worker thread that owns the request. */
#include "core/vb.h"
#include "http/internal.h"
#include "http/multipart.h"
#include "http/range.h"
#include "core/alloc.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

void *http_req_app(const struct http_request *req)
{
    return req->srv->p.app;
}

const char *http_req_method(const struct http_request *req)
{
    return req->method;
}

const char *http_req_path(const struct http_request *req)
{
    return req->path;
}

const char *http_req_id(const struct http_request *req)
{
    return req->id;
}

const char *http_req_param(const struct http_request *req, const char *name)
{
    return http_route_param(&req->match, name);
}

const char *http_req_query(const struct http_request *req, const char *name)
{
    return http_query_get(&req->query, name);
}

const char *http_req_header(const struct http_request *req, const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < req->n_hdrs; i++) {
        if (strcasecmp(req->hdr_names[i], name) == 0)
            return req->hdr_values[i];
    }
    return NULL;
}

const char *http_req_body(const struct http_request *req, size_t *len)
{
    if (len)
        *len = req->body.len;
    return vb_buf_str(&req->body);
}

const char *http_req_client_ip(const struct http_request *req)
{
    return req->client_ip;
}

int64_t http_req_user_id(const struct http_request *req)
{
    return req->user_id;
}

const char *http_req_username(const struct http_request *req)
{
    return req->username;
}

void http_req_set_user(struct http_request *req, int64_t user_id, const char *username)
{
    req->user_id = user_id;
    vb_free(req->username);
    req->username = username ? vb_xstrdup(username) : NULL;
}

bool http_req_cancelled(const struct http_request *creq)
{
    struct http_request *req = (struct http_request *)creq; /* caches the answer */
    if (atomic_load(&req->cancelled) || atomic_load(&req->srv->hard_stop))
        return true;
    bool gone = false;
    if (req->stream)
        gone = http_stream_cancelled(req->stream);
    else if (req->phase == HTTP_PHASE_RUNNING && !req->resumed)
        gone = http_peer_gone(req->fd); /* suspended: libmicrohttpd is not watching */
    if (gone)
        atomic_store(&req->cancelled, true);
    return gone;
}

enum vb_err http_req_wait_readable(struct http_request *req, int fd)
{
    if (http_req_cancelled(req))
        return VB_ERR_CANCELLED;
    struct pollfd p[3] = {{.fd = fd, .events = POLLIN},
                          {.fd = req->srv->stop_fd, .events = POLLIN}};
    nfds_t n = 2;
    /* suspended by its worker, so libmicrohttpd neither watches nor closes the socket */
    if (!req->stream && req->phase == HTTP_PHASE_RUNNING && !req->resumed)
        p[n++] = (struct pollfd){.fd = req->fd, .events = POLLRDHUP};
    while (poll(p, n, -1) < 0 && errno == EINTR)
        continue;
    if ((p[0].revents & POLLIN) || !http_req_cancelled(req))
        return VB_OK;
    return VB_ERR_CANCELLED;
}

const char *http_req_error_message(const struct http_request *req)
{
    return req->err_msg;
}

void http_req_set_error(struct http_request *req, const char *field, const char *fmt, ...)
{
    vb_free(req->err_field);
    vb_free(req->err_msg);
    req->err_field = field ? vb_xstrdup(field) : NULL;
    req->err_msg = NULL;
    if (fmt) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        req->err_msg = vb_xstrdup(msg);
    }
}

enum vb_err http_req_multipart(struct http_request *req, struct http_multipart *out)
{
    char boundary[HTTP_MULTIPART_BOUNDARY_MAX + 1];
    char why[160];
    enum vb_err err = http_multipart_boundary(http_req_header(req, "Content-Type"), boundary,
                                              sizeof boundary, why, sizeof why);
    if (!err) {
        size_t len;
        const char *body = http_req_body(req, &len);
        err = http_multipart_parse(body, len, boundary, out, why, sizeof why);
    }
    if (err)
        http_req_set_error(req, NULL, "%s", why);
    return err;
}

/* ===== replies ===== */

static bool header_value_ok(const char *s)
{
    for (; *s; s++) {
        if (*s == '\r' || *s == '\n')
            return false;
    }
    return true;
}

void http_reply_header(struct http_request *req, const char *name, const char *value)
{
    if (!name || !value || !*name || !header_value_ok(name) || !header_value_ok(value)) {
        vb_warn("http: refusing malformed reply header %s", name ? name : "(null)");
        return;
    }
    if (req->n_extra >= HTTP_EXTRA_HDRS_MAX) {
        vb_warn("http: too many reply headers; dropping %s", name);
        return;
    }
    req->extra_names[req->n_extra] = vb_xstrdup(name);
    req->extra_values[req->n_extra] = vb_xstrdup(value);
    req->n_extra++;
}

static void free_cb(void *p)
{
    vb_free(p);
}

enum vb_err http_reply_json(struct http_request *req, int status, struct vb_buf *body)
{
    size_t len = body->len;
    char *data = vb_buf_take(body);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback(len, data, free_cb);
    if (!resp) {
        vb_free(data);
        return VB_ERR_NOMEM;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    return http_req_stage(req, status, resp, len);
}

enum vb_err http_reply_bytes(struct http_request *req, int status, const char *content_type,
                             const void *data, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)(len ? data : ""), MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return VB_ERR_NOMEM;
    if (content_type)
        MHD_add_response_header(resp, "Content-Type", content_type);
    return http_req_stage(req, status, resp, len);
}

enum vb_err http_reply_error(struct http_request *req, enum vb_err err, const char *field,
                             const char *fmt, ...)
{
    char msg[512];
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
    }
    if (req->replied) {
        vb_warn("http: %s %s: error reply after a reply was dropped", req->method, req->path);
        return VB_OK;
    }
    http_req_stage_error(req, err, field, fmt ? msg : NULL);
    return VB_OK;
}

/* Content-Disposition filename: printable ASCII without quotes or backslashes. */
static void safe_filename(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; in[i] && o + 1 < cap; i++) {
        unsigned char c = (unsigned char)in[i];
        out[o++] = (c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == ';') ? '_' : (char)c;
    }
    out[o] = '\0';
}

enum vb_err http_reply_file(struct http_request *req, const char *path, const char *content_type,
                            const char *download_name)
{
    enum vb_err err = VB_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return VB_ERR_NOT_FOUND;
        vb_warn("http: cannot open %s: %s", path, strerror(errno));
        return VB_ERR_IO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        err = VB_ERR_NOT_FOUND;
        goto out;
    }
    uint64_t size = (uint64_t)st.st_size;
    uint64_t start = 0, len = size;
    enum http_range_result rr = http_range_parse(http_req_header(req, "Range"), size, &start, &len);
    if (rr == HTTP_RANGE_UNSATISFIABLE) {
        char cr[64];
        snprintf(cr, sizeof cr, "bytes */%llu", (unsigned long long)size);
        http_reply_header(req, "Content-Range", cr);
        http_reply_header(req, "Accept-Ranges", "bytes");
        err = http_reply_error(req, VB_ERR_RANGE, "Range", "requested range not satisfiable");
        goto out;
    }
    struct MHD_Response *resp = MHD_create_response_from_fd_at_offset64(len, fd, start);
    if (!resp) {
        err = VB_ERR_NOMEM;
        goto out;
    }
    fd = -1; /* owned by resp now */
    MHD_add_response_header(resp, "Content-Type",
                            content_type ? content_type : "application/octet-stream");
    MHD_add_response_header(resp, "Accept-Ranges", "bytes");
    if (rr == HTTP_RANGE_OK) {
        char cr[96];
        snprintf(cr, sizeof cr, "bytes %llu-%llu/%llu", (unsigned long long)start,
                 (unsigned long long)(start + len - 1), (unsigned long long)size);
        MHD_add_response_header(resp, "Content-Range", cr);
    }
    if (download_name && *download_name) {
        char name[256];
        char cd[300];
        safe_filename(download_name, name, sizeof name);
        snprintf(cd, sizeof cd, "inline; filename=\"%s\"", name);
        MHD_add_response_header(resp, "Content-Disposition", cd);
    }
    bool head = strcmp(req->method, "HEAD") == 0;
    err = http_req_stage(req, rr == HTTP_RANGE_OK ? 206 : 200, resp, head ? 0 : len);
out:
    if (fd >= 0)
        close(fd);
    return err;
}
