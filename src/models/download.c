/* download.c: resumable, verified downloads of model files with libcurl (one easy handle
 * per request, no shared state, so several threads may download at once). */
#include "core/vb.h"
#include "core/err.h"
#include "models/download.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/fsutil.h"
#include "core/json.h"
#include "core/log.h"
#include "models/headers.h"
#include "models/sha256.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define URL_MAX           2048
#define API_BODY_MAX      (8u << 20) /* tree listings are a few KB per file */
#define PROGRESS_EVERY_S  0.1
#define DEFAULT_CONNECT_S 30
#define DEFAULT_STALL_S   60
#define MAX_REDIRECTS     10
#define USER_AGENT        "vocero/" VB_VERSION

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init(void)
{
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void models_download_default_params(struct models_download_params *p)
{
    memset(p, 0, sizeof *p);
    p->use_api = true;
}

/* The base URL without trailing slashes into out. */
static enum vb_err endpoint_of(const struct models_download_params *p, char *out, size_t cap)
{
    const char *e = p->endpoint;
    if (!e || !e[0])
        e = getenv("HF_ENDPOINT");
    if (!e || !e[0])
        e = MODELS_DEFAULT_ENDPOINT;
    size_t n = strlen(e);
    while (n > 0 && e[n - 1] == '/')
        n--;
    if (n == 0 || n >= cap || (strncmp(e, "http://", 7) != 0 && strncmp(e, "https://", 8) != 0))
        return VB_ERR_INVALID;
    memcpy(out, e, n);
    out[n] = '\0';
    return VB_OK;
}

/* Repository names, revisions and paths we put in URLs unescaped. */
static bool url_part_safe(const char *s)
{
    if (!s || !s[0] || s[0] == '/' || strstr(s, ".."))
        return false;
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '_' || *c == '-' || *c == '/'))
            return false;
    return true;
}

/* Options every request shares. errbuf has CURL_ERROR_SIZE bytes. */
static void setup_common(CURL *c, const struct models_download_params *p, char *errbuf)
{
    errbuf[0] = '\0';
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long)MAX_REDIRECTS);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT,
                     p->connect_timeout_s > 0 ? p->connect_timeout_s : (long)DEFAULT_CONNECT_S);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
                     p->stall_timeout_s > 0 ? p->stall_timeout_s : (long)DEFAULT_STALL_S);
    if (p->token && p->token[0]) {
        /* libcurl sends the bearer only to the host we asked for: a redirect to another host
         * (the CDN) goes without it, since CURLOPT_UNRESTRICTED_AUTH stays off. */
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
        curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, p->token);
    }
}

static bool is_network_error(CURLcode res)
{
    switch (res) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
        return true;
    default:
        return false;
    }
}

/* Error for a transfer that failed below HTTP. */
static enum vb_err curl_failure(CURLcode res, const char *errbuf, const char *endpoint,
                                const char *what, char *why, size_t why_cap)
{
    const char *detail = errbuf && errbuf[0] ? errbuf : curl_easy_strerror(res);
    if (res == CURLE_OPERATION_TIMEDOUT) {
        return vb_failf(why, why_cap, VB_ERR_TIMEOUT,
                        "%s: %s stalled or timed out (%s); run the pull again to resume", what,
                        endpoint, detail);
    }
    return vb_failf(why, why_cap, VB_ERR_UNAVAILABLE, "%s: cannot reach %s (%s)", what, endpoint,
                    detail);
}

/* Error for an HTTP status outside 2xx. */
static enum vb_err http_failure(long status, const struct models_entry *m, const char *path,
                                const struct models_download_params *p, const char *endpoint,
                                char *why, size_t why_cap)
{
    bool tok = p->token && p->token[0];
    switch (status) {
    case 401:
        if (tok)
            vb_failf(why, why_cap, VB_ERR_UNAUTHORIZED,
                     "%s/%s: HTTP 401 from %s: the server rejected HF_TOKEN; check that the "
                     "token is valid and can read %s",
                     m->repo, path, endpoint, m->repo);
        else
            vb_failf(why, why_cap, VB_ERR_UNAUTHORIZED,
                     "%s/%s: HTTP 401 from %s: %s needs a Hugging Face token: set HF_TOKEN "
                     "(or the repository does not exist)",
                     m->repo, path, endpoint, m->repo);
        return VB_ERR_UNAUTHORIZED;
    case 403:
        if (tok)
            vb_failf(why, why_cap, VB_ERR_FORBIDDEN,
                     "%s/%s: HTTP 403 from %s: HF_TOKEN has no access to %s (for a gated "
                     "repository, accept its terms on the website first)",
                     m->repo, path, endpoint, m->repo);
        else
            vb_failf(why, why_cap, VB_ERR_FORBIDDEN,
                     "%s/%s: HTTP 403 from %s: access denied; set HF_TOKEN to a token that can "
                     "read %s",
                     m->repo, path, endpoint, m->repo);
        return VB_ERR_FORBIDDEN;
    case 404:
        return vb_failf(why, why_cap, VB_ERR_NOT_FOUND,
                        "%s/%s: not found at revision %s (HTTP 404 from %s)", m->repo, path,
                        m->revision, endpoint);
    case 429:
        return vb_failf(why, why_cap, VB_ERR_UNAVAILABLE,
                        "%s/%s: rate limited by %s (HTTP 429); try again later", m->repo, path,
                        endpoint);
    default:
        return vb_failf(why, why_cap, VB_ERR_UNAVAILABLE,
                        "%s/%s: unexpected HTTP %ld from %s; try again later", m->repo, path,
                        status, endpoint);
    }
}

/* ===== Tree API ===== */

static size_t api_write(char *data, size_t size, size_t nmemb, void *user)
{
    struct vb_buf *b = user;
    size_t n = size * nmemb;
    if (b->max == 0) /* over the ceiling once already: the buffer was released */
        return 0;
    if (vb_buf_append(b, data, n) != VB_OK) {
        b->max = 0;
        return 0;
    }
    return n;
}

static int api_xferinfo(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                        curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    const struct models_download_params *p = user;
    return p->cancel && atomic_load(p->cancel) ? 1 : 0;
}

static void expect_from_registry(const struct models_entry *m, struct models_expect *out)
{
    for (size_t i = 0; i < m->n_files; i++) {
        const struct models_file *f = &m->files[i];
        out[i].size = f->size;
        out[i].sha256[0] = '\0';
        if (f->sha256 && models_sha256_hex_valid(f->sha256, strlen(f->sha256))) {
            for (int k = 0; k < 64; k++)
                out[i].sha256[k] = (char)(f->sha256[k] | 0x20); /* hex digits: lower case */
            out[i].sha256[64] = '\0';
        }
    }
}

static void expect_from_listing(const struct models_entry *m, const struct vb_json *list,
                                struct models_expect *out)
{
    if (!list || list->type != VB_JSON_ARRAY)
        return;
    for (const struct vb_json *e = list->child; e; e = e->next) {
        const char *path = vb_json_get_str(e, "path");
        if (!path)
            continue;
        for (size_t i = 0; i < m->n_files; i++) {
            if (strcmp(m->files[i].path, path) != 0)
                continue;
            int64_t size = 0;
            const struct vb_json *lfs = vb_json_get(e, "lfs");
            const char *oid = lfs ? vb_json_get_str(lfs, "oid") : NULL;
            if (!out[i].size &&
                ((lfs && vb_json_get_int(lfs, "size", &size)) ||
                 vb_json_get_int(e, "size", &size)) &&
                size > 0)
                out[i].size = (uint64_t)size;
            if (!out[i].sha256[0] && oid && models_sha256_hex_valid(oid, strlen(oid))) {
                for (int k = 0; k < 64; k++)
                    out[i].sha256[k] = (char)(oid[k] | 0x20);
                out[i].sha256[64] = '\0';
            }
        }
    }
}

enum vb_err models_fetch_expect(const struct models_entry *m,
                                const struct models_download_params *p, struct models_expect *out,
                                char *why, size_t why_cap)
{
    enum vb_err err = VB_OK;
    char endpoint[URL_MAX], url[URL_MAX], errbuf[CURL_ERROR_SIZE];
    struct vb_buf body;
    struct vb_json *doc = NULL;
    CURL *c = NULL;
    vb_buf_init(&body, API_BODY_MAX);
    expect_from_registry(m, out);
    if (endpoint_of(p, endpoint, sizeof endpoint) != VB_OK) {
        err = vb_failf(why, why_cap, VB_ERR_INVALID,
                       "HF_ENDPOINT must be an http:// or https:// URL");
        goto out;
    }
    if (!url_part_safe(m->repo) || !url_part_safe(m->revision)) {
        err = vb_failf(why, why_cap, VB_ERR_INVALID, "%s: unsafe repository or revision name",
                       m->name);
        goto out;
    }
    int n = snprintf(url, sizeof url, "%s/api/models/%s/tree/%s", endpoint, m->repo, m->revision);
    if (n < 0 || (size_t)n >= sizeof url) {
        err = VB_ERR_TOO_LARGE;
        goto out;
    }
    pthread_once(&curl_once, curl_init);
    c = curl_init_result == CURLE_OK ? curl_easy_init() : NULL;
    if (!c) {
        err = vb_failf(why, why_cap, VB_ERR_INTERNAL, "libcurl could not start");
        goto out;
    }
    setup_common(c, p, errbuf);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, api_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, api_xferinfo);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)p);
    curl_easy_setopt(c, CURLOPT_TIMEOUT,
                     (p->stall_timeout_s > 0 ? p->stall_timeout_s : (long)DEFAULT_STALL_S));
    CURLcode res = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (res == CURLE_ABORTED_BY_CALLBACK) {
        err = vb_failf(why, why_cap, VB_ERR_CANCELLED, "%s: download cancelled", m->name);
        goto out;
    }
    if (res != CURLE_OK && (is_network_error(res) || res == CURLE_OPERATION_TIMEDOUT) &&
        status == 0) {
        err = curl_failure(res, errbuf, endpoint, m->name, why, why_cap);
        goto out;
    }
    if (res != CURLE_OK || status != 200) {
        vb_debug("models: tree API for %s gave HTTP %ld (%s); using headers instead", m->repo,
                 status, curl_easy_strerror(res));
        goto out;
    }
    if (vb_json_parse(vb_buf_str(&body), body.len, &doc, NULL, 0) != VB_OK) {
        vb_debug("models: tree API for %s: unparseable answer; using headers instead", m->repo);
        goto out;
    }
    expect_from_listing(m, doc, out);
out:
    vb_json_free(doc);
    vb_buf_release(&body);
    if (c)
        curl_easy_cleanup(c);
    return err;
}

/* ===== One file ===== */

struct xfer {
    const struct models_download_params *p;
    const struct models_entry *m;
    const struct models_file *f;
    size_t file_index;
    int fd;
    struct models_sha256 hash;
    uint64_t offset;      /* bytes of the .part before this request */
    uint64_t done;        /* bytes of the .part now */
    uint64_t expect_size; /* 0 = unknown */
    uint64_t model_base;  /* bytes of the model's other finished files */
    uint64_t model_total;
    struct models_resp resp; /* headers of the responses of the current request */
    uint64_t body_total;     /* file size the final response announces; 0 = unknown */
    bool body_started;
    long body_status;
    enum vb_err werr; /* set by the write callback when it stops the transfer */
    char wwhy[256];
    double t_start, last_report;
    uint64_t req_bytes;
};

static size_t on_header(char *data, size_t size, size_t nmemb, void *user)
{
    struct xfer *x = user;
    models_resp_header(&x->resp, data, size * nmemb);
    return size * nmemb;
}

static void report(struct xfer *x, bool finished)
{
    if (!x->p->progress)
        return;
    double t = now_s();
    if (!finished && t - x->last_report < PROGRESS_EVERY_S)
        return;
    x->last_report = t;
    struct models_progress pr = {
        .model = x->m->name,
        .file = x->f->local_name,
        .file_index = x->file_index,
        .n_files = x->m->n_files,
        .done = x->done,
        .total =
            x->expect_size ? x->expect_size : (x->body_total ? x->body_total : x->resp.linked_size),
        .model_done = x->model_base + x->done,
        .model_total = x->model_total,
        .bytes_per_s = t > x->t_start ? (double)x->req_bytes / (t - x->t_start) : 0.0,
        .finished = finished,
    };
    x->p->progress(&pr, x->p->progress_user);
}

static int on_xferinfo(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    struct xfer *x = user;
    if (x->p->cancel && atomic_load(x->p->cancel))
        return 1;
    report(x, false);
    return 0;
}

static void stop_with(struct xfer *x, enum vb_err err, const char *fmt, ...) VB_PRINTF(3, 4);
static void stop_with(struct xfer *x, enum vb_err err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->wwhy, sizeof x->wwhy, fmt, ap);
    va_end(ap);
    x->werr = err;
}

/* First bytes of the body: decide whether the server resumed where we asked. */
static bool body_begin(struct xfer *x, CURL *c)
{
    x->body_started = true;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &x->body_status);
    if (x->body_status != 200 && x->body_status != 206)
        return true; /* an error page: discarded, the status decides */
    uint64_t total = 0;
    if (x->body_status == 206) {
        const struct models_resp *r = &x->resp;
        if (!r->have_range || r->range_start != x->offset ||
            (r->range_total && r->range_end + 1 != r->range_total) ||
            (r->content_length >= 0 &&
             (uint64_t)r->content_length != r->range_end - r->range_start + 1)) {
            stop_with(x, VB_ERR_FORMAT,
                      "%s: the server answered with a range we did not ask for (from byte "
                      "%" PRIu64 " to the end)",
                      x->f->local_name, x->offset);
            return false;
        }
        total = r->range_total ? r->range_total : r->range_end + 1;
    } else {
        if (x->offset > 0) {
            /* The server ignored the Range header: start over with the whole body. */
            vb_info("models: %s: the server does not resume; downloading from the start",
                    x->f->local_name);
            if (ftruncate(x->fd, 0) != 0) {
                stop_with(x, VB_ERR_IO, "%s: cannot truncate the partial file: %s",
                          x->f->local_name, strerror(errno));
                return false;
            }
            models_sha256_release(&x->hash);
            if (models_sha256_init(&x->hash) != VB_OK) {
                stop_with(x, VB_ERR_NOMEM, "out of memory");
                return false;
            }
            x->offset = x->done = 0;
        }
        if (x->resp.content_length >= 0)
            total = (uint64_t)x->resp.content_length;
    }
    x->body_total = total;
    if (x->expect_size && total && total != x->expect_size) {
        stop_with(x, VB_ERR_FORMAT,
                  "%s: the server sends %" PRIu64 " bytes but %" PRIu64 " are expected",
                  x->f->local_name, total, x->expect_size);
        return false;
    }
    return true;
}

struct xfer_ctx {
    struct xfer x;
    CURL *curl;
};

static size_t on_body_ctx(char *data, size_t size, size_t nmemb, void *user)
{
    struct xfer_ctx *xc = user;
    struct xfer *x = &xc->x;
    size_t n = size * nmemb;
    if (!x->body_started && !body_begin(x, xc->curl))
        return 0;
    if (x->body_status != 200 && x->body_status != 206)
        return n;
    if (x->expect_size && x->done + n > x->expect_size) {
        stop_with(x, VB_ERR_FORMAT, "%s: the server sent more than the expected %" PRIu64 " bytes",
                  x->f->local_name, x->expect_size);
        return 0;
    }
    size_t off = 0;
    while (off < n) {
        ssize_t w = pwrite(x->fd, data + off, n - off, (off_t)(x->done + off));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            stop_with(x, VB_ERR_IO, "%s: cannot write the partial file: %s", x->f->local_name,
                      w < 0 ? strerror(errno) : "short write");
            return 0;
        }
        off += (size_t)w;
    }
    models_sha256_update(&x->hash, data, n);
    x->done += n;
    x->req_bytes += n;
    return n;
}

static void fsync_dir_of(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 1;
    if (n >= sizeof dir)
        return;
    memcpy(dir, slash ? path : ".", n);
    dir[n] = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* Downloads file file_index of m; model_base/model_total feed the whole-model progress. */
static enum vb_err download_one(const char *models_dir, const struct models_entry *m,
                                size_t file_index, const struct models_expect *expect,
                                const struct models_download_params *p, uint64_t model_base,
                                uint64_t model_total, char *why, size_t why_cap)
{
    enum vb_err err = VB_OK;
    char endpoint[URL_MAX], url[URL_MAX], final[4096], part[4096], errbuf[CURL_ERROR_SIZE];
    char sha[65], want_sha[65] = "";
    struct xfer_ctx xc;
    struct xfer *x = &xc.x;
    bool drop_part = false;
    memset(&xc, 0, sizeof xc);
    x->fd = -1;
    if (!m || file_index >= m->n_files) {
        return vb_failf(why, why_cap, VB_ERR_INVALID, "no such model file");
    }
    const struct models_file *f = &m->files[file_index];
    x->p = p;
    x->m = m;
    x->f = f;
    x->file_index = file_index;
    x->model_base = model_base;
    x->model_total = model_total;
    x->expect_size = f->size ? f->size : (expect ? expect->size : 0);
    if (f->sha256 && models_sha256_hex_valid(f->sha256, strlen(f->sha256))) {
        for (int k = 0; k < 64; k++)
            want_sha[k] = (char)(f->sha256[k] | 0x20);
        want_sha[64] = '\0';
    } else if (expect && expect->sha256[0]) {
        memcpy(want_sha, expect->sha256, sizeof want_sha);
    }
    if (endpoint_of(p, endpoint, sizeof endpoint) != VB_OK) {
        return vb_failf(why, why_cap, VB_ERR_INVALID,
                        "HF_ENDPOINT must be an http:// or https:// URL");
    }
    if (!url_part_safe(m->repo) || !url_part_safe(m->revision) || !url_part_safe(f->path)) {
        return vb_failf(why, why_cap, VB_ERR_INVALID, "%s: unsafe repository, revision or path",
                        m->name);
    }
    int n =
        snprintf(url, sizeof url, "%s/%s/resolve/%s/%s", endpoint, m->repo, m->revision, f->path);
    if (n < 0 || (size_t)n >= sizeof url ||
        models_file_path(models_dir, m, f, final, sizeof final) != VB_OK ||
        models_file_aux_path(models_dir, m, f, false, part, sizeof part) != VB_OK) {
        return vb_failf(why, why_cap, VB_ERR_INVALID, "%s: path too long or unsafe", f->local_name);
    }
    if (models_sha256_init(&x->hash) != VB_OK) {
        return vb_failf(why, why_cap, VB_ERR_NOMEM, "out of memory");
    }
    pthread_once(&curl_once, curl_init);
    xc.curl = curl_init_result == CURLE_OK ? curl_easy_init() : NULL;
    if (!xc.curl) {
        err = vb_failf(why, why_cap, VB_ERR_INTERNAL, "libcurl could not start");
        goto out;
    }
    x->fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (x->fd < 0) {
        err = vb_failf(why, why_cap, VB_ERR_IO, "%s: cannot open %s: %s", f->local_name, part,
                       strerror(errno));
        goto out;
    }
    if (flock(x->fd, LOCK_EX | LOCK_NB) != 0) {
        err = vb_failf(why, why_cap, VB_ERR_CONFLICT,
                       "%s: another download of this file is in progress", part);
        goto out;
    }
    struct stat st;
    if (fstat(x->fd, &st) != 0) {
        err = vb_failf(why, why_cap, VB_ERR_IO, "%s: %s", part, strerror(errno));
        goto out;
    }
    x->offset = (uint64_t)st.st_size;
    if (x->expect_size && x->offset > x->expect_size) {
        if (ftruncate(x->fd, 0) != 0) {
            err =
                vb_failf(why, why_cap, VB_ERR_IO, "%s: cannot truncate: %s", part, strerror(errno));
            goto out;
        }
        x->offset = 0;
    }
    if (x->expect_size > x->offset) {
        struct statvfs vfs;
        uint64_t need = x->expect_size - x->offset;
        if (fstatvfs(x->fd, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < need) {
            err = vb_failf(why, why_cap, VB_ERR_IO,
                           "%s: not enough disk space in %s: %" PRIu64 " MB needed, %" PRIu64
                           " MB free",
                           f->local_name, models_dir, need / 1000000,
                           (uint64_t)vfs.f_bavail * vfs.f_frsize / 1000000);
            goto out;
        }
    }
    /* The hash covers the bytes we already have. */
    err = models_sha256_fd(&x->hash, x->fd, x->offset, p->cancel);
    if (err) {
        vb_failf(why, why_cap, err, "%s: %s", part,
                 err == VB_ERR_CANCELLED ? "cancelled" : "cannot read the partial file");
        goto out;
    }
    if (x->offset)
        vb_info("models: %s: resuming at byte %" PRIu64, f->local_name, x->offset);

    for (int attempt = 0;; attempt++) {
        CURL *c = xc.curl;
        curl_easy_reset(c);
        setup_common(c, p, errbuf);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body_ctx);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &xc);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_xferinfo);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
        /* CURLOPT_RANGE rather than RESUME_FROM: with RESUME_FROM libcurl fails on a server
         * that answers 200 to a Range request; we want that body, from the start. */
        char range[32];
        snprintf(range, sizeof range, "%" PRIu64 "-", x->offset);
        if (x->offset)
            curl_easy_setopt(c, CURLOPT_RANGE, range);
        x->done = x->offset;
        x->body_started = false;
        x->body_status = 0;
        models_resp_init(&x->resp);
        x->body_total = 0;
        x->werr = VB_OK;
        x->req_bytes = 0;
        x->t_start = x->last_report = now_s();
        CURLcode res = curl_easy_perform(c);
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (x->werr) {
            err = x->werr;
            vb_failf(why, why_cap, err, "%s", x->wwhy);
            drop_part = err == VB_ERR_FORMAT;
            goto out;
        }
        if (res == CURLE_ABORTED_BY_CALLBACK) {
            err = vb_failf(why, why_cap, VB_ERR_CANCELLED,
                           "%s: download cancelled (partial file kept)", f->local_name);
            goto out;
        }
        if (status == 416 && x->offset > 0) {
            /* Range not satisfiable: our part may already be the whole file. */
            uint64_t total = x->resp.range_total ? x->resp.range_total : x->resp.linked_size;
            if (!total)
                total = x->expect_size;
            if (total && total == x->offset) {
                x->done = x->offset;
                break;
            }
            if (attempt == 0) {
                vb_info("models: %s: the partial file does not fit the server's; restarting",
                        f->local_name);
                if (ftruncate(x->fd, 0) != 0) {
                    err = vb_failf(why, why_cap, VB_ERR_IO, "%s: cannot truncate: %s", part,
                                   strerror(errno));
                    goto out;
                }
                models_sha256_release(&x->hash);
                if (models_sha256_init(&x->hash) != VB_OK) {
                    err = VB_ERR_NOMEM;
                    goto out;
                }
                x->offset = 0;
                continue;
            }
        }
        if (status >= 300 || (status == 0 && res == CURLE_OK)) {
            err = http_failure(status, m, f->path, p, endpoint, why, why_cap);
            goto out;
        }
        if (res != CURLE_OK) {
            if (status == 0 || res == CURLE_OPERATION_TIMEDOUT) {
                err = curl_failure(res, errbuf, endpoint, f->local_name, why, why_cap);
            } else {
                err = vb_failf(
                    why, why_cap, VB_ERR_UNAVAILABLE,
                    "%s: download interrupted after %" PRIu64 " bytes (%s); the partial file "
                    "is kept: run the pull again to resume",
                    f->local_name, x->done, errbuf[0] ? errbuf : curl_easy_strerror(res));
            }
            goto out;
        }
        break;
    }

    /* Complete: check size, then hash. */
    uint64_t want_size = x->expect_size
                             ? x->expect_size
                             : (x->resp.linked_size ? x->resp.linked_size : x->body_total);
    if (want_size && x->done != want_size) {
        err = vb_failf(why, why_cap, VB_ERR_FORMAT,
                       "%s: size mismatch: got %" PRIu64 " bytes, expected %" PRIu64
                       "; the partial file was deleted",
                       f->local_name, x->done, want_size);
        drop_part = true;
        goto out;
    }
    if (!want_sha[0] && x->resp.linked_etag[0])
        memcpy(want_sha, x->resp.linked_etag, sizeof want_sha);
    models_sha256_final_hex(&x->hash, sha);
    if (want_sha[0] && strcmp(sha, want_sha) != 0) {
        err =
            vb_failf(why, why_cap, VB_ERR_FORMAT,
                     "%s: checksum mismatch: SHA-256 %s, expected %s; the partial file was deleted",
                     f->local_name, sha, want_sha);
        drop_part = true;
        goto out;
    }
    if (!want_sha[0])
        vb_info("models: %s: no published SHA-256; recorded %s", f->local_name, sha);
    if (fsync(x->fd) != 0 || rename(part, final) != 0) {
        err = vb_failf(why, why_cap, VB_ERR_IO, "%s: cannot move into place: %s", final,
                       strerror(errno));
        goto out;
    }
    fsync_dir_of(final);
    struct models_meta meta = {.size = x->done, .published = want_sha[0] != '\0'};
    memcpy(meta.sha256, sha, sizeof meta.sha256);
    err = models_meta_write(models_dir, m, f, &meta);
    if (err) {
        vb_failf(why, why_cap, err, "%s: cannot write its checksum record", final);
        goto out;
    }
    report(x, true);
out:
    if (err && err != VB_ERR_CONFLICT && x->fd >= 0 && !drop_part) {
        struct stat now;
        drop_part = fstat(x->fd, &now) == 0 && now.st_size == 0; /* nothing worth keeping */
    }
    if (drop_part)
        unlink(part);
    if (x->fd >= 0)
        close(x->fd);
    models_sha256_release(&x->hash);
    if (xc.curl)
        curl_easy_cleanup(xc.curl);
    return err;
}

enum vb_err models_download_file(const char *models_dir, const struct models_entry *m,
                                 size_t file_index, const struct models_expect *expect,
                                 const struct models_download_params *p, char *why, size_t why_cap)
{
    uint64_t total = 0;
    if (m && file_index < m->n_files)
        total = m->files[file_index].size
                    ? m->files[file_index].size
                    : (expect && expect->size ? expect->size : m->files[file_index].approx_size);
    return download_one(models_dir, m, file_index, expect, p, 0, total, why, why_cap);
}

enum vb_err models_pull(const char *models_dir, const struct models_entry *m,
                        const struct models_download_params *p, char *why, size_t why_cap)
{
    enum vb_err err = VB_OK;
    char dir[4096] = "";
    struct models_expect *expect = NULL;
    bool *need = NULL;
    if (!m) {
        return vb_failf(why, why_cap, VB_ERR_NOT_FOUND, "unknown model");
    }
    if (models_dir_path(models_dir, m, dir, sizeof dir) != VB_OK) {
        return vb_failf(why, why_cap, VB_ERR_INVALID, "MODELS_DIR path too long or unsafe");
    }
    expect = vb_xcalloc(m->n_files, sizeof *expect);
    need = vb_xcalloc(m->n_files, sizeof *need);
    expect_from_registry(m, expect);
    size_t n_need = 0;
    for (size_t i = 0; i < m->n_files; i++) {
        enum models_file_state s = models_file_state(models_dir, m, &m->files[i], NULL);
        need[i] = s == MODELS_FILE_MISSING || s == MODELS_FILE_BAD_SIZE;
        n_need += need[i];
    }
    if (n_need == 0)
        goto out;
    err = vb_mkdir_p(dir, 0755);
    if (err) {
        vb_failf(why, why_cap, err, "cannot create %s: %s", dir, strerror(errno));
        goto out;
    }
    if (p->use_api) {
        err = models_fetch_expect(m, p, expect, why, why_cap);
        if (err)
            goto out;
    }
    /* A file present without any recorded size may still be wrong: compare with the API. */
    uint64_t total = 0, base = 0;
    for (size_t i = 0; i < m->n_files; i++) {
        uint64_t on_disk = 0;
        enum models_file_state s = models_file_state(models_dir, m, &m->files[i], &on_disk);
        if (s == MODELS_FILE_PRESENT && expect[i].size && on_disk != expect[i].size)
            need[i] = true;
        uint64_t sz = expect[i].size ? expect[i].size
                                     : models_file_expected_size(models_dir, m, &m->files[i]);
        total += sz ? sz : m->files[i].approx_size;
        if (!need[i])
            base += on_disk;
    }
    for (size_t i = 0; i < m->n_files; i++) {
        if (!need[i])
            continue;
        err = download_one(models_dir, m, i, &expect[i], p, base, total, why, why_cap);
        if (err)
            goto out;
        base += models_file_expected_size(models_dir, m, &m->files[i]);
    }
out:
    if (err && dir[0])
        (void)rmdir(dir); /* only when empty: nothing was fetched and no partial file kept */
    vb_free(expect);
    vb_free(need);
    return err;
}
