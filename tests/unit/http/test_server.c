/* test_server.c: starts the real HTTP server on an ephemeral port with test routes and
 * talks to it with libcurl: statuses, JSON error shapes, request ids, limits, Host and
 * CORS checks, 405/Allow, ranges, streaming, suspend/resume, queue-full 503, client
 * disconnects and graceful stop. */
#include "core/vb.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "http/http.h"
#include "http/multipart.h"
#include "unit/test.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* ===== test routes ===== */

static char file_path[256];
static atomic_int cancel_seen;        /* /cancel saw http_req_cancelled */
static atomic_int stream_cancel_seen; /* /endless saw VB_ERR_CANCELLED */
static atomic_int wait_result;        /* /wait: 0 running, 1 woken by its fd, 2 cancelled */

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static enum vb_err reply_obj(struct http_request *req, int status, const char *k1, const char *v1,
                             const char *k2, const char *v2)
{
    struct vb_buf b;
    vb_buf_init(&b, 4096);
    struct vb_jw w;
    vb_jw_init(&w, &b);
    vb_jw_obj_begin(&w);
    if (k1)
        vb_jw_kstr(&w, k1, v1);
    if (k2)
        vb_jw_kstr(&w, k2, v2);
    vb_jw_obj_end(&w);
    enum vb_err err = vb_jw_finish(&w);
    if (err) {
        vb_buf_release(&b);
        return err;
    }
    return http_reply_json(req, status, &b);
}

static enum vb_err h_root(struct http_request *req)
{
    return reply_obj(req, 200, "status", "ok", NULL, NULL);
}

static enum vb_err h_me(struct http_request *req)
{
    return reply_obj(req, 200, "username", http_req_username(req), "on_auth_worker",
                     http_req_on_auth_worker(req) ? "yes" : "no");
}

static atomic_int background_ran; /* bg_job ran on an auth worker */

static void bg_job(void *arg)
{
    struct http_request *req = arg; /* only compared, never dereferenced: may be gone */
    (void)req;
    atomic_fetch_add(&background_ran, 1);
}

/* A handler that checks a password: runs whole on an auth worker; queues background work. */
static enum vb_err h_password(struct http_request *req)
{
    enum vb_err err = http_req_run_on_auth_worker(req, bg_job, req);
    if (err)
        return err;
    return reply_obj(req, 200, "on_auth_worker", http_req_on_auth_worker(req) ? "yes" : "no", NULL,
                     NULL);
}

static enum vb_err h_opt(struct http_request *req)
{
    const char *u = http_req_username(req);
    return reply_obj(req, 200, "username", u ? u : "-", NULL, NULL);
}

static enum vb_err h_echo(struct http_request *req)
{
    size_t len;
    const char *body = http_req_body(req, &len);
    return http_reply_bytes(req, 200, "application/octet-stream", body, len);
}

static enum vb_err h_upload(struct http_request *req)
{
    struct http_multipart *mp = vb_xmalloc(sizeof *mp);
    enum vb_err err = http_req_multipart(req, mp);
    if (err)
        goto out;
    const struct http_part *name = http_multipart_get(mp, "name");
    const struct http_part *file = http_multipart_get(mp, "file");
    if (!name || !file) {
        http_req_set_error(req, name ? "file" : "name", "missing part");
        err = VB_ERR_UNPROCESSABLE;
        goto out;
    }
    char nm[64], len[32];
    snprintf(nm, sizeof nm, "%.*s", (int)VB_MIN(name->len, 60), name->data);
    snprintf(len, sizeof len, "%zu", file->len);
    err = reply_obj(req, 201, "name", nm, "file_len", len);
out:
    vb_free(mp);
    return err;
}

static enum vb_err h_slow(struct http_request *req)
{
    sleep_ms(1000);
    return reply_obj(req, 200, "slow", "done", NULL, NULL);
}

static enum vb_err h_stream(struct http_request *req)
{
    struct http_stream *s = http_reply_stream(req, 200, "text/plain");
    if (!s)
        return VB_ERR_NOMEM;
    enum vb_err err = VB_OK;
    for (int i = 0; i < 5 && !err; i++) {
        char line[32];
        int n = snprintf(line, sizeof line, "chunk-%d\n", i);
        err = http_stream_write(s, line, (size_t)n);
        sleep_ms(60);
    }
    http_stream_close(s);
    return err;
}

static enum vb_err h_endless(struct http_request *req)
{
    struct http_stream *s = http_reply_stream(req, 200, "application/octet-stream");
    if (!s)
        return VB_ERR_NOMEM;
    char block[1024];
    memset(block, 'z', sizeof block);
    enum vb_err err = VB_OK;
    double t0 = now_s();
    while (!err && now_s() - t0 < 5.0) {
        err = http_stream_write(s, block, sizeof block);
        sleep_ms(20);
    }
    if (err == VB_ERR_CANCELLED)
        atomic_store(&stream_cancel_seen, 1);
    http_stream_close(s);
    return VB_OK;
}

static enum vb_err h_file(struct http_request *req)
{
    return http_reply_file(req, file_path, "audio/wav", "clip \"1\".wav");
}

static enum vb_err h_missing_file(struct http_request *req)
{
    return http_reply_file(req, "/nonexistent/vocero/file.wav", "audio/wav", NULL);
}

static enum vb_err h_err(struct http_request *req)
{
    http_req_set_error(req, "limit", "limit must be 1..%d", 100);
    return VB_ERR_UNPROCESSABLE;
}

static enum vb_err h_noreply(struct http_request *req)
{
    (void)req;
    return VB_OK;
}

static enum vb_err h_items(struct http_request *req)
{
    const char *x = http_req_query(req, "x");
    return reply_obj(req, 200, "id", http_req_param(req, "id"), "x", x ? x : "(none)");
}

static enum vb_err h_cancel(struct http_request *req)
{
    double t0 = now_s();
    while (now_s() - t0 < 3.0) {
        if (http_req_cancelled(req)) {
            atomic_store(&cancel_seen, 1);
            return VB_ERR_CANCELLED;
        }
        sleep_ms(10);
    }
    return reply_obj(req, 200, "cancelled", "no", NULL, NULL);
}

/* Sleeps on an eventfd (written at once with ?ready=1) until it, the client's hang-up or
 * the server's stop wakes it. With ?stream=1 it first starts a stream (whose client is not
 * watched: only the stop can wake it then). */
static enum vb_err h_wait(struct http_request *req)
{
    int fd = eventfd(0, EFD_CLOEXEC);
    uint64_t one = 1;
    if (fd < 0 || (http_req_query(req, "ready") && write(fd, &one, sizeof one) != sizeof one))
        return VB_ERR_INTERNAL;
    struct http_stream *s = NULL;
    if (http_req_query(req, "stream") && (s = http_reply_stream(req, 200, "text/plain")))
        (void)http_stream_write(s, "x", 1);
    enum vb_err err = http_req_wait_readable(req, fd);
    close(fd);
    atomic_store(&wait_result, err == VB_OK ? 1 : 2);
    if (s) {
        http_stream_close(s);
        return VB_OK;
    }
    return err ? err : reply_obj(req, 200, "woken", "ready", NULL, NULL);
}

static enum vb_err test_auth(void *app, struct http_request *req)
{
    (void)app;
    const char *a = http_req_header(req, "Authorization");
    if (a && strcmp(a, "Bearer good") == 0) {
        http_req_set_user(req, 1, "alice");
        return VB_OK;
    }
    if (a && strcmp(a, "Basic slow") == 0) {
        /* A password check: only where blocking is allowed. */
        if (!http_req_on_auth_worker(req))
            return VB_ERR_WOULD_BLOCK;
        sleep_ms(500);
        http_req_set_user(req, 2, "checked");
        return VB_OK;
    }
    if (a && strcmp(a, "Bearer limited") == 0) {
        http_reply_header(req, "Retry-After", "30");
        return VB_ERR_RATE_LIMITED;
    }
    http_req_set_error(req, NULL, "missing or invalid credentials");
    return VB_ERR_UNAUTHORIZED;
}

static const struct http_route routes[] = {
    {"GET", "/", h_root, HTTP_ROUTE_PUBLIC, "root"},
    {"GET", "/me", h_me, 0, "auth required"},
    {"GET", "/opt", h_opt, HTTP_ROUTE_OPTIONAL_AUTH, "optional auth"},
    {"POST", "/echo", h_echo, HTTP_ROUTE_PUBLIC, "echo"},
    {"POST", "/upload", h_upload, HTTP_ROUTE_PUBLIC | HTTP_ROUTE_UPLOAD, "upload"},
    {"GET", "/slow", h_slow, HTTP_ROUTE_PUBLIC, "slow"},
    {"GET", "/slow-long", h_slow, HTTP_ROUTE_PUBLIC | HTTP_ROUTE_LONG, "slow, on the long lane"},
    {"POST", "/password", h_password, HTTP_ROUTE_PUBLIC | HTTP_ROUTE_PASSWORD, "password check"},
    {"GET", "/stream", h_stream, HTTP_ROUTE_PUBLIC, "stream"},
    {"GET", "/endless", h_endless, HTTP_ROUTE_PUBLIC, "endless stream"},
    {"GET", "/file", h_file, HTTP_ROUTE_PUBLIC, "file"},
    {"GET", "/missing-file", h_missing_file, HTTP_ROUTE_PUBLIC, "missing file"},
    {"GET", "/err", h_err, HTTP_ROUTE_PUBLIC, "error"},
    {"GET", "/noreply", h_noreply, HTTP_ROUTE_PUBLIC, "no reply"},
    {"GET", "/items/{id}", h_items, HTTP_ROUTE_PUBLIC, "items"},
    {"DELETE", "/items/{id}", h_items, HTTP_ROUTE_PUBLIC, "items delete"},
    {"GET", "/cancel", h_cancel, HTTP_ROUTE_PUBLIC, "cancel"},
    {"GET", "/wait", h_wait, HTTP_ROUTE_PUBLIC, "wait"},
};

static struct http_server_params base_params(void)
{
    struct http_server_params p = {0};
    p.host = "127.0.0.1";
    p.port = 0;
    p.io_threads = 1; /* one I/O thread: a blocked one would stall everything */
    p.workers = 4;
    p.queue_max = 16;
    p.body_max = 1024;
    p.upload_max = 64 * 1024;
    p.request_timeout_s = 10;
    p.allowed_hosts = "127.0.0.1, localhost";
    p.cors_origins = "https://app.example";
    p.routes = routes;
    p.n_routes = VB_ARRAY_LEN(routes);
    p.auth = test_auth;
    return p;
}

/* ===== client helpers ===== */

struct resp {
    long status;
    struct vb_buf body;
    struct vb_buf headers;
    double first_byte_s; /* when the first body byte arrived */
    size_t abort_after;  /* abort the transfer after this many body bytes (0 = never) */
    double total_s;
    CURLcode rc;
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct resp *r = arg;
    if (r->body.len == 0 && size * n > 0)
        r->first_byte_s = now_s();
    if (vb_buf_append(&r->body, data, size * n) != VB_OK)
        return 0;
    if (r->abort_after && r->body.len >= r->abort_after)
        return 0;
    return size * n;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    struct resp *r = arg;
    if (vb_buf_append(&r->headers, data, size * n) != VB_OK)
        return 0;
    return size * n;
}

static int port;

/* Starts a server of the test's own with params p and points the client (port) at it; the
 * shared server's port is kept in *saved for the test to restore. NULL (a failed check)
 * when it cannot start. */
static struct http_server *own_server_start(const struct http_server_params *p, int *saved)
{
    char why[128];
    struct http_server *s = http_server_start(p, why, sizeof why);
    CHECK_MSG(s != NULL, "%s", why);
    if (s) {
        *saved = port;
        port = http_server_port(s);
    }
    return s;
}

static CURL *make_req(const char *method, const char *path, const char *const *hdrs,
                      const char *body, size_t body_len, struct resp *r, struct curl_slist **sl)
{
    memset(r, 0, sizeof *r);
    vb_buf_init(&r->body, 1 << 20);
    vb_buf_init(&r->headers, 1 << 16);
    CURL *c = curl_easy_init();
    char url[2300];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 15L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    *sl = curl_slist_append(NULL, "Expect:");
    for (size_t i = 0; hdrs && hdrs[i]; i++)
        *sl = curl_slist_append(*sl, hdrs[i]);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, *sl);
    return c;
}

static void finish_req(CURL *c, struct resp *r, struct curl_slist *sl)
{
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_cleanup(c);
    curl_slist_free_all(sl);
}

static void do_req(const char *method, const char *path, const char *const *hdrs, const char *body,
                   size_t body_len, struct resp *r)
{
    struct curl_slist *sl;
    CURL *c = make_req(method, path, hdrs, body, body_len, r, &sl);
    double t0 = now_s();
    r->rc = curl_easy_perform(c);
    r->total_s = now_s() - t0;
    finish_req(c, r, sl);
}

static void resp_free(struct resp *r)
{
    vb_buf_release(&r->body);
    vb_buf_release(&r->headers);
}

/* Value of the last header `name` (case-insensitive) into out; NULL if absent. */
static const char *hdr(const struct resp *r, const char *name, char *out, size_t cap)
{
    const char *found = NULL;
    const char *p = vb_buf_str(&r->headers);
    size_t n = strlen(name);
    while (*p) {
        const char *eol = strstr(p, "\r\n");
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            snprintf(out, cap, "%.*s", (int)(len - (size_t)(v - p)), v);
            found = out;
        }
        p += len + (eol ? 2 : 0);
    }
    return found;
}

/* Checks that r carries the JSON error {code, message, field}. */
static void check_error(const struct resp *r, long status, const char *code, const char *field,
                        const char *message_part)
{
    CHECK_EQ_INT(r->status, status);
    struct vb_json *j = NULL;
    char why[128] = "";
    if (vb_json_parse(r->body.data ? r->body.data : "", r->body.len, &j, why, sizeof why)) {
        CHECK_MSG(false, "error body is not JSON (%s): %s", why, vb_buf_str(&r->body));
        return;
    }
    const struct vb_json *e = vb_json_get(j, "error");
    CHECK(e && e->type == VB_JSON_OBJECT);
    CHECK_EQ_STR(vb_json_get_str(e, "code"), code);
    const char *msg = vb_json_get_str(e, "message");
    CHECK(msg && *msg);
    if (message_part)
        CHECK_MSG(msg && strstr(msg, message_part), "message \"%s\"", msg ? msg : "(null)");
    const struct vb_json *f = vb_json_get(e, "field");
    CHECK(f != NULL);
    if (f && field)
        CHECK_EQ_STR(f->type == VB_JSON_STRING ? f->string : "(not a string)", field);
    else if (f)
        CHECK(f->type == VB_JSON_NULL);
    vb_json_free(j);
    char ct[128];
    CHECK_EQ_STR(hdr(r, "Content-Type", ct, sizeof ct), "application/json");
}

static const char *json_str(const struct resp *r, const char *key, char *out, size_t cap)
{
    struct vb_json *j = NULL;
    if (vb_json_parse(r->body.data ? r->body.data : "", r->body.len, &j, NULL, 0))
        return NULL;
    const char *v = vb_json_get_str(j, key);
    if (v)
        snprintf(out, cap, "%s", v);
    vb_json_free(j);
    return v ? out : NULL;
}

/* ===== tests against the main server ===== */

TEST(basic_and_request_id)
{
    struct resp r;
    char v[128];
    do_req("GET", "/", NULL, NULL, 0, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(json_str(&r, "status", v, sizeof v), "ok");
    const char *id = hdr(&r, "X-Request-Id", v, sizeof v);
    CHECK(id && strlen(id) == 32);
    CHECK_EQ_STR(hdr(&r, "Content-Type", v, sizeof v), "application/json");
    resp_free(&r);

    const char *echo[] = {"X-Request-Id: abc-123.X_y", NULL};
    do_req("GET", "/", echo, NULL, 0, &r);
    CHECK_EQ_STR(hdr(&r, "X-Request-Id", v, sizeof v), "abc-123.X_y");
    resp_free(&r);

    const char *bad[] = {"X-Request-Id: bad id!", NULL};
    do_req("GET", "/", bad, NULL, 0, &r);
    id = hdr(&r, "X-Request-Id", v, sizeof v);
    CHECK(id && strlen(id) == 32 && strcmp(id, "bad id!") != 0);
    resp_free(&r);

    char longid[100] = "X-Request-Id: ";
    memset(longid + 14, 'a', 65);
    longid[79] = '\0';
    const char *lng[] = {longid, NULL};
    do_req("GET", "/", lng, NULL, 0, &r);
    id = hdr(&r, "X-Request-Id", v, sizeof v);
    CHECK(id && strlen(id) == 32);
    resp_free(&r);

    /* errors carry the id too */
    do_req("GET", "/nope", echo, NULL, 0, &r);
    CHECK_EQ_STR(hdr(&r, "X-Request-Id", v, sizeof v), "abc-123.X_y");
    check_error(&r, 404, "not_found", NULL, NULL);
    resp_free(&r);
}

TEST(not_found_and_paths)
{
    static const char *paths[] = {"/nope",     "/items/a%2Fb",  "/items/%00",  "/../etc/passwd",
                                  "/items/..", "/items/%2e%2e", "/items/x%zz", "/items/",
                                  "/items//",  "/ITEMS/1",      "/items/1/x"};
    for (size_t i = 0; i < VB_ARRAY_LEN(paths); i++) {
        struct resp r;
        do_req("GET", paths[i], NULL, NULL, 0, &r);
        CHECK_MSG(r.status == 404, "%s -> %ld", paths[i], r.status);
        check_error(&r, 404, "not_found", NULL, NULL);
        resp_free(&r);
    }
    /* a very long path */
    static char lp[2200];
    lp[0] = '/';
    memset(lp + 1, 'a', 2100);
    struct resp r;
    do_req("GET", lp, NULL, NULL, 0, &r);
    CHECK(r.status == 404 || r.status == 414 || r.status == 431);
    resp_free(&r);
}

TEST(keep_alive_after_early_error)
{
    /* a 404 answered before any handler runs still keeps the connection for reuse */
    struct resp r;
    struct curl_slist *sl;
    CURL *c = make_req("GET", "/nope", NULL, NULL, 0, &r, &sl);
    CHECK(curl_easy_perform(c) == CURLE_OK);
    long code = 0, connects = -1;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    CHECK_EQ_INT(code, 404);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    curl_easy_setopt(c, CURLOPT_URL, url);
    CHECK(curl_easy_perform(c) == CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
    CHECK_EQ_INT(code, 200);
    CHECK_EQ_INT(connects, 0);
    finish_req(c, &r, sl);
    resp_free(&r);
}

TEST(params_and_query)
{
    struct resp r;
    char v[128];
    do_req("GET", "/items/42?x=a%20b+c&y", NULL, NULL, 0, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(json_str(&r, "id", v, sizeof v), "42");
    CHECK_EQ_STR(json_str(&r, "x", v, sizeof v), "a b c");
    resp_free(&r);
    do_req("GET", "/items/caf%C3%A9", NULL, NULL, 0, &r);
    CHECK_EQ_STR(json_str(&r, "id", v, sizeof v), "caf\xC3\xA9");
    resp_free(&r);
    /* decoded exactly once: %2541 -> "%41", an encoded slash inside a param is refused */
    do_req("GET", "/items/%2541?x=%2541", NULL, NULL, 0, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(json_str(&r, "id", v, sizeof v), "%41");
    CHECK_EQ_STR(json_str(&r, "x", v, sizeof v), "%41");
    resp_free(&r);
    do_req("GET", "/items/a%252Fb", NULL, NULL, 0, &r);
    CHECK_EQ_STR(json_str(&r, "id", v, sizeof v), "a%2Fb");
    resp_free(&r);
    do_req("GET", "/items/1?x=%zz", NULL, NULL, 0, &r);
    check_error(&r, 400, "bad_request", NULL, "query");
    resp_free(&r);
    do_req("DELETE", "/items/9", NULL, NULL, 0, &r);
    CHECK_EQ_INT(r.status, 200);
    resp_free(&r);
}

TEST(method_not_allowed)
{
    struct resp r;
    char v[128];
    do_req("POST", "/", NULL, "x", 1, &r);
    check_error(&r, 405, "method_not_allowed", NULL, NULL);
    CHECK_EQ_STR(hdr(&r, "Allow", v, sizeof v), "GET, HEAD, OPTIONS");
    resp_free(&r);
    do_req("PUT", "/items/1", NULL, NULL, 0, &r);
    check_error(&r, 405, "method_not_allowed", NULL, NULL);
    CHECK_EQ_STR(hdr(&r, "Allow", v, sizeof v), "GET, HEAD, DELETE, OPTIONS");
    resp_free(&r);
    do_req("HEAD", "/", NULL, NULL, 0, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(r.body.len, 0);
    resp_free(&r);
}

TEST(auth)
{
    struct resp r;
    char v[128];
    do_req("GET", "/me", NULL, NULL, 0, &r);
    check_error(&r, 401, "unauthorized", NULL, "credentials");
    CHECK(hdr(&r, "WWW-Authenticate", v, sizeof v) && strstr(v, "Bearer realm=\"vocero\"") &&
          strstr(v, "Basic realm=\"vocero\""));
    resp_free(&r);
    const char *good[] = {"Authorization: Bearer good", NULL};
    do_req("GET", "/me", good, NULL, 0, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(json_str(&r, "username", v, sizeof v), "alice");
    resp_free(&r);
    const char *bad[] = {"Authorization: Bearer nope", NULL};
    do_req("GET", "/me", bad, NULL, 0, &r);
    check_error(&r, 401, "unauthorized", NULL, NULL);
    resp_free(&r);
    const char *lim[] = {"Authorization: Bearer limited", NULL};
    do_req("GET", "/me", lim, NULL, 0, &r);
    check_error(&r, 429, "rate_limited", NULL, NULL);
    CHECK_EQ_STR(hdr(&r, "Retry-After", v, sizeof v), "30");
    resp_free(&r);
    /* optional auth: anonymous is fine, bad credentials are not */
    do_req("GET", "/opt", NULL, NULL, 0, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(json_str(&r, "username", v, sizeof v), "-");
    resp_free(&r);
    do_req("GET", "/opt", good, NULL, 0, &r);
    CHECK_EQ_STR(json_str(&r, "username", v, sizeof v), "alice");
    resp_free(&r);
    do_req("GET", "/opt", bad, NULL, 0, &r);
    CHECK_EQ_INT(r.status, 401);
    resp_free(&r);
}

TEST(handler_errors)
{
    struct resp r;
    do_req("GET", "/err", NULL, NULL, 0, &r);
    check_error(&r, 422, "validation_error", "limit", "limit must be 1..100");
    resp_free(&r);
    do_req("GET", "/noreply", NULL, NULL, 0, &r);
    check_error(&r, 500, "internal_error", NULL, NULL);
    resp_free(&r);
    do_req("GET", "/missing-file", NULL, NULL, 0, &r);
    check_error(&r, 404, "not_found", NULL, NULL);
    resp_free(&r);
}

static size_t read_zeros(char *buf, size_t size, size_t n, void *arg)
{
    size_t *left = arg;
    size_t k = VB_MIN(size * n, *left);
    memset(buf, '0', k);
    *left -= k;
    return k;
}

TEST(body_limits)
{
    struct resp r;
    char body[2048];
    memset(body, 'b', sizeof body);
    do_req("POST", "/echo", NULL, body, 1024, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(r.body.len, 1024);
    CHECK(r.body.data && memcmp(r.body.data, body, 1024) == 0);
    resp_free(&r);
    do_req("POST", "/echo", NULL, body, 1025, &r);
    check_error(&r, 413, "payload_too_large", NULL, NULL);
    resp_free(&r);
    do_req("POST", "/echo", NULL, "", 0, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(r.body.len, 0);
    resp_free(&r);

    /* chunked body without Content-Length that grows over the limit */
    struct curl_slist *sl;
    const char *te[] = {"Transfer-Encoding: chunked", NULL};
    CURL *c = make_req("POST", "/echo", te, NULL, 0, &r, &sl);
    size_t left = 5000;
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_zeros);
    curl_easy_setopt(c, CURLOPT_READDATA, &left);
    r.rc = curl_easy_perform(c);
    finish_req(c, &r, sl);
    check_error(&r, 413, "payload_too_large", NULL, NULL);
    resp_free(&r);
}

TEST(uploads)
{
    struct resp r;
    char v[128];
    struct curl_slist *sl;
    static char data[100 * 1024];
    memset(data, 'w', sizeof data);
    for (int round = 0; round < 2; round++) {
        size_t flen = round == 0 ? 5000 : sizeof data; /* second one is over upload_max */
        CURL *c = make_req("POST", "/upload", NULL, NULL, 0, &r, &sl);
        curl_mime *mime = curl_mime_init(c);
        curl_mimepart *part = curl_mime_addpart(mime);
        curl_mime_name(part, "name");
        curl_mime_data(part, "narrator", CURL_ZERO_TERMINATED);
        part = curl_mime_addpart(mime);
        curl_mime_name(part, "file");
        curl_mime_filename(part, "a.wav");
        curl_mime_type(part, "audio/wav");
        curl_mime_data(part, data, flen);
        curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
        r.rc = curl_easy_perform(c);
        finish_req(c, &r, sl);
        curl_mime_free(mime);
        if (round == 0) {
            CHECK_EQ_INT(r.status, 201);
            CHECK_EQ_STR(json_str(&r, "name", v, sizeof v), "narrator");
            CHECK_EQ_STR(json_str(&r, "file_len", v, sizeof v), "5000");
        } else {
            check_error(&r, 413, "payload_too_large", NULL, NULL);
        }
        resp_free(&r);
    }
    /* not multipart: 415 passthrough */
    const char *json[] = {"Content-Type: application/json", NULL};
    do_req("POST", "/upload", json, "{}", 2, &r);
    check_error(&r, 415, "unsupported_media_type", NULL, "multipart");
    resp_free(&r);
    /* ... and only multipart bodies get the upload limit: a JSON one keeps body_max */
    do_req("POST", "/upload", json, data, 2000, &r);
    check_error(&r, 413, "payload_too_large", NULL, "1 KiB limit (MAX_JSON_KB)");
    resp_free(&r);
    /* malformed multipart: 400 with the parser's reason */
    const char *mp[] = {"Content-Type: multipart/form-data; boundary=zz", NULL};
    do_req("POST", "/upload", mp, "--zz\r\nno header colon\r\n\r\nx\r\n--zz--", 34, &r);
    check_error(&r, 400, "bad_request", NULL, "part 1");
    resp_free(&r);
    /* missing part: handler's 422 with field */
    static const char only_name[] = "--zz\r\nContent-Disposition: form-data; name=name\r\n\r\n"
                                    "n\r\n--zz--";
    do_req("POST", "/upload", mp, only_name, sizeof only_name - 1, &r);
    check_error(&r, 422, "validation_error", "file", NULL);
    resp_free(&r);
}

TEST(host_check)
{
    struct resp r;
    const char *evil[] = {"Host: evil.example", NULL};
    do_req("GET", "/", evil, NULL, 0, &r);
    check_error(&r, 400, "bad_request", "Host", NULL);
    resp_free(&r);
    const char *evil_port[] = {"Host: evil.example:8000", NULL};
    do_req("GET", "/", evil_port, NULL, 0, &r);
    CHECK_EQ_INT(r.status, 400);
    resp_free(&r);
    const char *ok[] = {"Host: LOCALHOST:1234", NULL};
    do_req("GET", "/", ok, NULL, 0, &r);
    CHECK_EQ_INT(r.status, 200);
    resp_free(&r);
    const char *prefix[] = {"Host: localhost.evil.example", NULL};
    do_req("GET", "/", prefix, NULL, 0, &r);
    CHECK_EQ_INT(r.status, 400);
    resp_free(&r);
}

TEST(cors)
{
    struct resp r;
    char v[256];
    const char *pre[] = {"Origin: https://app.example", "Access-Control-Request-Method: GET",
                         "Access-Control-Request-Headers: authorization, content-type", NULL};
    do_req("OPTIONS", "/me", pre, NULL, 0, &r);
    CHECK_EQ_INT(r.status, 204);
    CHECK_EQ_STR(hdr(&r, "Access-Control-Allow-Origin", v, sizeof v), "https://app.example");
    CHECK(hdr(&r, "Access-Control-Allow-Methods", v, sizeof v) && strstr(v, "GET"));
    CHECK_EQ_STR(hdr(&r, "Access-Control-Allow-Headers", v, sizeof v),
                 "authorization, content-type");
    CHECK(hdr(&r, "Access-Control-Max-Age", v, sizeof v) != NULL);
    CHECK(hdr(&r, "X-Request-Id", v, sizeof v) != NULL);
    resp_free(&r);

    const char *other[] = {"Origin: https://evil.example", "Access-Control-Request-Method: GET",
                           NULL};
    do_req("OPTIONS", "/me", other, NULL, 0, &r);
    CHECK(hdr(&r, "Access-Control-Allow-Origin", v, sizeof v) == NULL);
    CHECK(hdr(&r, "Access-Control-Allow-Methods", v, sizeof v) == NULL);
    resp_free(&r);

    const char *simple[] = {"Origin: https://app.example", NULL};
    do_req("GET", "/", simple, NULL, 0, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(hdr(&r, "Access-Control-Allow-Origin", v, sizeof v), "https://app.example");
    CHECK(hdr(&r, "Access-Control-Expose-Headers", v, sizeof v) && strstr(v, "X-Request-Id"));
    resp_free(&r);
    /* error replies carry CORS headers too, so browsers can read them */
    do_req("GET", "/me", simple, NULL, 0, &r);
    CHECK_EQ_INT(r.status, 401);
    CHECK_EQ_STR(hdr(&r, "Access-Control-Allow-Origin", v, sizeof v), "https://app.example");
    resp_free(&r);
    const char *bad[] = {"Origin: https://evil.example", NULL};
    do_req("GET", "/", bad, NULL, 0, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK(hdr(&r, "Access-Control-Allow-Origin", v, sizeof v) == NULL);
    resp_free(&r);
    /* OPTIONS on an unknown path */
    do_req("OPTIONS", "/nope", pre, NULL, 0, &r);
    CHECK_EQ_INT(r.status, 404);
    resp_free(&r);
}

TEST(file_ranges)
{
    struct resp r;
    char v[256];
    do_req("GET", "/file", NULL, NULL, 0, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(r.body.len, 1000);
    CHECK(r.body.data && r.body.data[0] == 'A' && r.body.data[999] == (char)('A' + 999 % 26));
    CHECK_EQ_STR(hdr(&r, "Content-Type", v, sizeof v), "audio/wav");
    CHECK_EQ_STR(hdr(&r, "Accept-Ranges", v, sizeof v), "bytes");
    CHECK_EQ_STR(hdr(&r, "Content-Length", v, sizeof v), "1000");
    CHECK_EQ_STR(hdr(&r, "Content-Disposition", v, sizeof v), "inline; filename=\"clip _1_.wav\"");
    resp_free(&r);

    const char *rg[] = {"Range: bytes=10-19", NULL};
    do_req("GET", "/file", rg, NULL, 0, &r);
    CHECK_EQ_INT(r.status, 206);
    CHECK_EQ_INT(r.body.len, 10);
    CHECK(r.body.data && memcmp(r.body.data, "KLMNOPQRST", 10) == 0);
    CHECK_EQ_STR(hdr(&r, "Content-Range", v, sizeof v), "bytes 10-19/1000");
    CHECK_EQ_STR(hdr(&r, "Content-Length", v, sizeof v), "10");
    resp_free(&r);

    const char *suffix[] = {"Range: bytes=-4", NULL};
    do_req("GET", "/file", suffix, NULL, 0, &r);
    CHECK_EQ_INT(r.status, 206);
    CHECK_EQ_STR(hdr(&r, "Content-Range", v, sizeof v), "bytes 996-999/1000");
    resp_free(&r);

    const char *bad[] = {"Range: bytes=2000-", NULL};
    do_req("GET", "/file", bad, NULL, 0, &r);
    check_error(&r, 416, "range_not_satisfiable", "Range", NULL);
    CHECK_EQ_STR(hdr(&r, "Content-Range", v, sizeof v), "bytes */1000");
    resp_free(&r);

    do_req("HEAD", "/file", NULL, NULL, 0, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(r.body.len, 0);
    CHECK_EQ_STR(hdr(&r, "Content-Length", v, sizeof v), "1000");
    resp_free(&r);
    do_req("HEAD", "/file", rg, NULL, 0, &r);
    CHECK_EQ_INT(r.status, 206);
    CHECK_EQ_STR(hdr(&r, "Content-Length", v, sizeof v), "10");
    resp_free(&r);
}

TEST(streaming)
{
    struct resp r;
    char v[128];
    double t0 = now_s();
    do_req("GET", "/stream", NULL, NULL, 0, &r);
    double t_end = now_s();
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(vb_buf_str(&r.body), "chunk-0\nchunk-1\nchunk-2\nchunk-3\nchunk-4\n");
    CHECK_EQ_STR(hdr(&r, "Transfer-Encoding", v, sizeof v), "chunked");
    CHECK(hdr(&r, "X-Request-Id", v, sizeof v) != NULL);
    /* the first chunk arrived long before the handler finished (5 x 60 ms) */
    CHECK_MSG(r.first_byte_s > 0 && t_end - r.first_byte_s > 0.15,
              "first byte after %.3f s, end after %.3f s", r.first_byte_s - t0, t_end - t0);
    resp_free(&r);
}

TEST(stream_client_disconnect)
{
    atomic_store(&stream_cancel_seen, 0);
    struct resp r;
    struct curl_slist *sl;
    CURL *c = make_req("GET", "/endless", NULL, NULL, 0, &r, &sl);
    r.abort_after = 4096;
    r.rc = curl_easy_perform(c);
    finish_req(c, &r, sl);
    CHECK(r.rc == CURLE_WRITE_ERROR);
    double t0 = now_s();
    while (!atomic_load(&stream_cancel_seen) && now_s() - t0 < 3.0)
        sleep_ms(10);
    CHECK_MSG(atomic_load(&stream_cancel_seen), "producer never saw VB_ERR_CANCELLED");
    resp_free(&r);
}

TEST(request_cancelled)
{
    atomic_store(&cancel_seen, 0);
    struct resp r;
    struct curl_slist *sl;
    CURL *c = make_req("GET", "/cancel", NULL, NULL, 0, &r, &sl);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 200L);
    r.rc = curl_easy_perform(c);
    finish_req(c, &r, sl);
    CHECK(r.rc == CURLE_OPERATION_TIMEDOUT);
    double t0 = now_s();
    while (!atomic_load(&cancel_seen) && now_s() - t0 < 2.0)
        sleep_ms(10);
    CHECK_MSG(atomic_load(&cancel_seen), "handler never saw http_req_cancelled");
    resp_free(&r);
}

/* A handler asleep on a descriptor wakes for it, for a client that hangs up and for the
 * server's stop (no timer involved: the handler has none). */
TEST(wait_readable_wakes)
{
    struct resp r;
    atomic_store(&wait_result, 0);
    do_req("GET", "/wait?ready=1", NULL, NULL, 0, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(atomic_load(&wait_result), 1);
    resp_free(&r);

    atomic_store(&wait_result, 0);
    struct curl_slist *sl;
    CURL *c = make_req("GET", "/wait", NULL, NULL, 0, &r, &sl);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 200L);
    r.rc = curl_easy_perform(c);
    finish_req(c, &r, sl); /* the client hangs up */
    CHECK(r.rc == CURLE_OPERATION_TIMEDOUT);
    double t0 = now_s();
    while (!atomic_load(&wait_result) && now_s() - t0 < 3.0)
        sleep_ms(10);
    CHECK_EQ_INT(atomic_load(&wait_result), 2);
    resp_free(&r);
}

/* Runs n requests for `path` concurrently; the first one starts `head_start_ms` before the
 * others. Fills rs. */
static void run_concurrent(const char *path, int n, int head_start_ms, struct resp *rs)
{
    CURLM *m = curl_multi_init();
    CURL *cs[16];
    struct curl_slist *sls[16];
    for (int i = 0; i < n; i++)
        cs[i] = make_req("GET", path, NULL, NULL, 0, &rs[i], &sls[i]);
    curl_multi_add_handle(m, cs[0]);
    int running = 1;
    double t0 = now_s();
    while (now_s() - t0 < head_start_ms / 1000.0) {
        curl_multi_perform(m, &running);
        curl_multi_poll(m, NULL, 0, 10, NULL);
    }
    for (int i = 1; i < n; i++)
        curl_multi_add_handle(m, cs[i]);
    running = 1;
    while (running) {
        curl_multi_perform(m, &running);
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    for (int i = 0; i < n; i++) {
        curl_multi_remove_handle(m, cs[i]);
        finish_req(cs[i], &rs[i], sls[i]);
    }
    curl_multi_cleanup(m);
}

TEST(slow_does_not_block_fast)
{
    /* a 1 s handler is running while another request completes quickly: the single I/O
     * thread is free because the slow connection is suspended */
    CURLM *m = curl_multi_init();
    struct resp slow, fast;
    struct curl_slist *sl;
    CURL *c = make_req("GET", "/slow", NULL, NULL, 0, &slow, &sl);
    curl_multi_add_handle(m, c);
    double t0 = now_s();
    int running = 1;
    while (now_s() - t0 < 0.2) { /* let the slow request reach its handler */
        curl_multi_perform(m, &running);
        curl_multi_poll(m, NULL, 0, 20, NULL);
    }
    do_req("GET", "/", NULL, NULL, 0, &fast);
    CHECK_EQ_INT(fast.status, 200);
    CHECK_MSG(fast.total_s < 0.5, "fast request took %.3f s", fast.total_s);
    while (running) {
        curl_multi_perform(m, &running);
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    double slow_s = now_s() - t0;
    curl_multi_remove_handle(m, c);
    finish_req(c, &slow, sl);
    curl_multi_cleanup(m);
    CHECK_EQ_INT(slow.status, 200);
    CHECK(slow_s >= 0.95);
    resp_free(&slow);
    resp_free(&fast);
}

/* ===== separate servers ===== */

TEST(queue_full)
{
    struct http_server_params p = base_params();
    p.workers = 1;
    p.queue_max = 1;
    p.io_threads = 3; /* thread-pool mode */
    int saved;
    struct http_server *s = own_server_start(&p, &saved);
    if (!s)
        return;
    /* the first request occupies the only worker; of the next three, one waits in the
     * queue and two are refused */
    struct resp rs[4];
    run_concurrent("/slow", 4, 250, rs);
    int ok = 0, busy = 0;
    for (int i = 0; i < 4; i++) {
        char v[64];
        if (rs[i].status == 200)
            ok++;
        if (rs[i].status == 503) {
            busy++;
            check_error(&rs[i], 503, "unavailable", NULL, "busy");
            CHECK_EQ_STR(hdr(&rs[i], "Retry-After", v, sizeof v), "1");
        }
        resp_free(&rs[i]);
    }
    CHECK_MSG(ok == 2 && busy == 2, "ok %d busy %d", ok, busy);
    http_server_stop(s, 5);
    port = saved;
}

/* PARALLEL requests in flight at once (curl multi), for the lane tests. */
#define PARALLEL 3
struct parallel {
    CURLM *m;
    struct resp r[PARALLEL];
    struct curl_slist *sl[PARALLEL];
    CURL *c[PARALLEL];
    int running;
};

/* Starts PARALLEL GET requests of path and gives them 200 ms to reach the server's lanes. */
static void parallel_start(struct parallel *pl, const char *path, const char *const *hdrs)
{
    pl->m = curl_multi_init();
    for (int i = 0; i < PARALLEL; i++) {
        pl->c[i] = make_req("GET", path, hdrs, NULL, 0, &pl->r[i], &pl->sl[i]);
        curl_multi_add_handle(pl->m, pl->c[i]);
    }
    pl->running = PARALLEL;
    double t0 = now_s();
    while (now_s() - t0 < 0.2) {
        curl_multi_perform(pl->m, &pl->running);
        curl_multi_poll(pl->m, NULL, 0, 20, NULL);
    }
}

static int parallel_running(struct parallel *pl)
{
    curl_multi_perform(pl->m, &pl->running);
    return pl->running;
}

/* Waits for every request; their responses are in pl->r until parallel_free. */
static void parallel_finish(struct parallel *pl)
{
    while (pl->running) {
        curl_multi_perform(pl->m, &pl->running);
        if (pl->running)
            curl_multi_poll(pl->m, NULL, 0, 100, NULL);
    }
    for (int i = 0; i < PARALLEL; i++) {
        curl_multi_remove_handle(pl->m, pl->c[i]);
        finish_req(pl->c[i], &pl->r[i], pl->sl[i]);
    }
    curl_multi_cleanup(pl->m);
}

static void parallel_free(struct parallel *pl)
{
    for (int i = 0; i < PARALLEL; i++)
        resp_free(&pl->r[i]);
}

TEST(long_lane_keeps_workers_free)
{
    /* One ordinary worker and three on the long lane: while three HTTP_ROUTE_LONG requests
     * wait in their handlers, a light request is still answered at once (before any of them
     * ends); without the lane it would queue behind them. */
    struct http_server_params p = base_params();
    p.workers = 1;
    p.long_workers = 3;
    p.io_threads = 2;
    int saved;
    struct http_server *s = own_server_start(&p, &saved);
    if (!s)
        return;
    struct parallel slow;
    parallel_start(&slow, "/slow-long", NULL);
    struct resp fast;
    do_req("GET", "/", NULL, NULL, 0, &fast);
    CHECK_EQ_INT(fast.status, 200);
    int running = parallel_running(&slow);
    CHECK_MSG(running == PARALLEL, "%d long requests were still running when GET / was answered",
              running);
    parallel_finish(&slow);
    for (int i = 0; i < PARALLEL; i++)
        CHECK_EQ_INT(slow.r[i].status, 200);
    parallel_free(&slow);
    resp_free(&fast);
    http_server_stop(s, 5);
    port = saved;
}

TEST(auth_lane_keeps_workers_free)
{
    /* One request worker and one auth worker. Three requests whose authentication blocks
     * (VB_ERR_WOULD_BLOCK off the auth worker, then 500 ms there) leave the request worker
     * free: a Bearer request is answered while all three are still waiting; each then runs
     * its handler back on a request worker. A password route runs whole on the auth worker
     * and its background work runs there too. */
    struct http_server_params p = base_params();
    p.workers = 1;
    p.auth_workers = 1;
    p.io_threads = 2;
    int saved;
    struct http_server *s = own_server_start(&p, &saved);
    if (!s)
        return;
    struct parallel slow;
    const char *basic_slow[] = {"Authorization: Basic slow", NULL};
    parallel_start(&slow, "/me", basic_slow);
    struct resp fast;
    const char *bearer[] = {"Authorization: Bearer good", NULL};
    do_req("GET", "/me", bearer, NULL, 0, &fast);
    CHECK_EQ_INT(fast.status, 200);
    int running = parallel_running(&slow);
    CHECK_MSG(running == PARALLEL,
              "%d password checks were still running when the Bearer "
              "request was answered",
              running);
    char v[64];
    CHECK_EQ_STR(json_str(&fast, "on_auth_worker", v, sizeof v), "no");
    parallel_finish(&slow);
    for (int i = 0; i < PARALLEL; i++) {
        CHECK_EQ_INT(slow.r[i].status, 200);
        CHECK_EQ_STR(json_str(&slow.r[i], "username", v, sizeof v), "checked");
        CHECK_EQ_STR(json_str(&slow.r[i], "on_auth_worker", v, sizeof v), "no");
    }
    parallel_free(&slow);
    resp_free(&fast);

    struct resp pw;
    atomic_store(&background_ran, 0);
    do_req("POST", "/password", NULL, "", 0, &pw);
    CHECK_EQ_INT(pw.status, 200);
    CHECK_EQ_STR(json_str(&pw, "on_auth_worker", v, sizeof v), "yes");
    resp_free(&pw);
    http_server_stop(s, 5); /* runs what the auth worker still has queued */
    CHECK_EQ_INT(atomic_load(&background_ran), 1);
    port = saved;
}

struct stopper {
    struct http_server *s;
    int drain_s;
    double took;
};

static void *stop_thread(void *arg)
{
    struct stopper *st = arg;
    sleep_ms(300);
    double t0 = now_s();
    http_server_stop(st->s, st->drain_s);
    st->took = now_s() - t0;
    return NULL;
}

TEST(graceful_stop)
{
    struct http_server_params p = base_params();
    p.io_threads = 2;
    int saved;
    struct http_server *s = own_server_start(&p, &saved);
    if (!s)
        return;
    struct stopper st = {.s = s, .drain_s = 5};
    pthread_t t;
    pthread_create(&t, NULL, stop_thread, &st);
    struct resp rs[1];
    run_concurrent("/slow", 1, 0, rs); /* in flight when the stop begins */
    pthread_join(t, NULL);
    CHECK_EQ_INT(rs[0].status, 200);
    char v[64];
    CHECK_EQ_STR(json_str(&rs[0], "slow", v, sizeof v), "done");
    CHECK_MSG(st.took > 0.4 && st.took < 4.0, "stop took %.3f s", st.took);
    resp_free(&rs[0]);
    /* nothing listens any more */
    struct resp r;
    do_req("GET", "/", NULL, NULL, 0, &r);
    CHECK(r.rc == CURLE_COULDNT_CONNECT);
    resp_free(&r);
    port = saved;
}

/* The stop wakes a handler asleep on a descriptor nobody writes. */
TEST(stop_wakes_waiting_handler)
{
    struct http_server_params p = base_params();
    int saved;
    struct http_server *s = own_server_start(&p, &saved);
    if (!s)
        return;
    atomic_store(&wait_result, 0);
    struct stopper st = {.s = s};
    pthread_t t;
    pthread_create(&t, NULL, stop_thread, &st);
    struct resp rs[1];
    run_concurrent("/wait?stream=1", 1, 0, rs); /* in flight when the stop begins */
    pthread_join(t, NULL);
    CHECK_EQ_INT(atomic_load(&wait_result), 2);
    resp_free(&rs[0]);
    port = saved;
}

TEST(start_errors)
{
    char why[160] = "";
    struct http_server_params p = base_params();
    p.auth = NULL;
    CHECK(http_server_start(&p, why, sizeof why) == NULL);
    CHECK(strstr(why, "auth") != NULL);
    p = base_params();
    p.host = "256.1.1.1.1";
    CHECK(http_server_start(&p, why, sizeof why) == NULL);
    CHECK(why[0] != '\0');
    p = base_params();
    p.port = port; /* in use */
    CHECK(http_server_start(&p, why, sizeof why) == NULL);
    CHECK(strstr(why, "listen") != NULL);
    CHECK(http_server_start(NULL, why, sizeof why) == NULL);
}

int main(void)
{
    vb_log_set_level(VB_LOG_WARN);
    if (getenv("VB_TEST_VERBOSE"))
        vb_log_set_level(VB_LOG_DEBUG);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(file_path, sizeof file_path, "/tmp/vocero_http_test_%d.bin", (int)getpid());
    FILE *f = fopen(file_path, "wb");
    for (int i = 0; f && i < 1000; i++)
        fputc('A' + i % 26, f);
    if (f)
        fclose(f);

    struct http_server_params p = base_params();
    char why[128];
    struct http_server *s = http_server_start(&p, why, sizeof why);
    if (!s) {
        fprintf(stderr, "cannot start server: %s\n", why);
        return 1;
    }
    port = http_server_port(s);
    RUN(basic_and_request_id);
    RUN(not_found_and_paths);
    RUN(keep_alive_after_early_error);
    RUN(params_and_query);
    RUN(method_not_allowed);
    RUN(auth);
    RUN(handler_errors);
    RUN(body_limits);
    RUN(uploads);
    RUN(host_check);
    RUN(cors);
    RUN(file_ranges);
    RUN(streaming);
    RUN(stream_client_disconnect);
    RUN(request_cancelled);
    RUN(wait_readable_wakes);
    RUN(slow_does_not_block_fast);
    RUN(start_errors);
    http_server_stop(s, 5);
    RUN(queue_full);
    RUN(long_lane_keeps_workers_free);
    RUN(auth_lane_keeps_workers_free);
    RUN(graceful_stop);
    RUN(stop_wakes_waiting_handler);
    unlink(file_path);
    curl_global_cleanup();
    return test_summary();
}
