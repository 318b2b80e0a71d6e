/* httpd.h: a tiny HTTP/1.1 server on 127.0.0.1 for the model download tests, run in a
 * thread. It imitates the parts of Hugging Face the downloader relies on: the resolve URL
 * (optionally redirecting to a "CDN" on another host name, localhost, with X-Linked-Etag and
 * X-Linked-Size like huggingface.co), Range requests, the tree API, and bearer tokens; and it
 * misbehaves on request: 401 without the right token, 404, corrupted bytes, a connection
 * cut mid-body, a server that ignores Range. One connection at a time, Connection: close. */
#ifndef VB_TEST_MODELS_HTTPD_H
#define VB_TEST_MODELS_HTTPD_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define TH_MAX_FILES 8

struct th_file {
    char path[256];      /* URL path under /{repo}/resolve/{rev}/, e.g. "a.bin" */
    unsigned char *data; /* owned by the test */
    size_t len;
    char sha256[65]; /* sent as X-Linked-Etag when the server's send_etag is on */
};

struct th_server {
    int fd;
    int port;
    pthread_t thread;
    atomic_int stop;
    pthread_mutex_t mu;
    /* behaviour (set under mu or before requests) */
    char repo[128];    /* "org/name" */
    char token[128];   /* non-empty: resolve and API need "Authorization: Bearer token" */
    bool send_etag;    /* X-Linked-Etag on file responses */
    bool redirect;     /* resolve answers 302 to http://localhost:PORT/cdn/PATH */
    bool ignore_range; /* answer 200 with the whole body even to a Range request */
    bool corrupt;      /* flip the last byte of every body */
    long cut_after;    /* >= 0: next file response sends this many body bytes, then closes */
    int slow_us;       /* > 0: pause this long after every 4 KiB of a body */
    bool api;          /* serve the tree API listing (sizes and lfs.oid) */
    struct th_file files[TH_MAX_FILES];
    int n_files;
    /* observations */
    int n_requests;
    int n_file_requests; /* resolve or cdn requests */
    char last_range[64]; /* Range header of the last file request ("" = none) */
    char last_auth[256]; /* Authorization header of the last resolve request */
    char cdn_auth[256];  /* Authorization header of the last /cdn request */
    int last_status;
};

/* false when the peer went away */
static bool th_send_all(int c, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(c, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static void th_reply(struct th_server *s, int c, int status, const char *reason,
                     const char *extra_headers, const void *body, size_t len, long cut)
{
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n", status,
                     reason, len, extra_headers ? extra_headers : "");
    s->last_status = status;
    th_send_all(c, head, (size_t)n);
    if (cut >= 0 && (size_t)cut < len)
        len = (size_t)cut;
    const char *p = body;
    while (body && len) {
        size_t chunk = s->slow_us > 0 && len > 4096 ? 4096 : len;
        if (!th_send_all(c, p, chunk))
            break;
        p += chunk;
        len -= chunk;
        if (s->slow_us > 0 && !atomic_load(&s->stop))
            usleep((useconds_t)s->slow_us);
    }
}

/* Header value (trimmed) of `name` in the raw request into out; "" when absent. */
static void th_header(const char *req, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    out[0] = '\0';
    for (const char *line = strstr(req, "\r\n"); line && line[2]; line = strstr(line + 2, "\r\n")) {
        const char *h = line + 2;
        if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
            const char *v = h + nl + 1;
            while (*v == ' ')
                v++;
            size_t len = strcspn(v, "\r\n");
            if (len >= cap)
                len = cap - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            return;
        }
    }
}

static void th_serve_file(struct th_server *s, int c, const struct th_file *f, const char *range)
{
    char extra[512] = "";
    size_t start = 0;
    long cut = s->cut_after;
    s->cut_after = -1;
    if (s->send_etag)
        snprintf(extra, sizeof extra, "X-Linked-Etag: \"%s\"\r\nX-Linked-Size: %zu\r\n", f->sha256,
                 f->len);
    unsigned char *body = malloc(f->len + 1);
    memcpy(body, f->data, f->len);
    if (s->corrupt && f->len)
        body[f->len - 1] ^= 0x5a;
    if (range[0] && !s->ignore_range && strncmp(range, "bytes=", 6) == 0) {
        start = strtoul(range + 6, NULL, 10);
        if (start >= f->len) {
            char h[640];
            snprintf(h, sizeof h, "%sContent-Range: bytes */%zu\r\n", extra, f->len);
            th_reply(s, c, 416, "Range Not Satisfiable", h, NULL, 0, -1);
        } else {
            char h[640];
            snprintf(h, sizeof h, "%sContent-Range: bytes %zu-%zu/%zu\r\n", extra, start,
                     f->len - 1, f->len);
            th_reply(s, c, 206, "Partial Content", h, body + start, f->len - start, cut);
        }
    } else {
        th_reply(s, c, 200, "OK", extra, body, f->len, cut);
    }
    free(body);
}

static void th_handle(struct th_server *s, int c)
{
    char req[8192];
    size_t len = 0;
    struct timeval tv = {5, 0};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (len < sizeof req - 1) {
        ssize_t n = recv(c, req + len, sizeof req - 1 - len, 0);
        if (n <= 0)
            return;
        len += (size_t)n;
        req[len] = '\0';
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    char method[16], path[1024], auth[256], range[64];
    if (sscanf(req, "%15s %1023s", method, path) != 2)
        return;
    th_header(req, "Authorization", auth, sizeof auth);
    th_header(req, "Range", range, sizeof range);
    pthread_mutex_lock(&s->mu);
    s->n_requests++;
    char prefix[300], api[300];
    snprintf(prefix, sizeof prefix, "/%s/resolve/main/", s->repo);
    snprintf(api, sizeof api, "/api/models/%s/tree/main", s->repo);
    bool is_cdn = strncmp(path, "/cdn/", 5) == 0;
    bool is_resolve = strncmp(path, prefix, strlen(prefix)) == 0;
    bool is_api = strcmp(path, api) == 0;
    char want[160];
    snprintf(want, sizeof want, "Bearer %s", s->token);
    if (is_cdn) {
        snprintf(s->cdn_auth, sizeof s->cdn_auth, "%s", auth);
    } else if (is_resolve) {
        snprintf(s->last_auth, sizeof s->last_auth, "%s", auth);
    }
    if ((is_resolve || is_api) && s->token[0] && strcmp(auth, want) != 0) {
        th_reply(s, c, 401, "Unauthorized", "X-Error-Code: GatedRepo\r\n", "unauthorized", 12, -1);
        goto out;
    }
    if (is_api) {
        if (!s->api) {
            th_reply(s, c, 404, "Not Found", NULL, "no", 2, -1);
            goto out;
        }
        char body[4096];
        size_t n = (size_t)snprintf(body, sizeof body, "[");
        for (int i = 0; i < s->n_files; i++)
            n += (size_t)snprintf(
                body + n, sizeof body - n,
                "%s{\"type\":\"file\",\"oid\":\"0123456789abcdef0123456789abcdef01234567\","
                "\"size\":%zu,\"path\":\"%s\",\"lfs\":{\"oid\":\"%s\",\"size\":%zu,"
                "\"pointerSize\":134}}",
                i ? "," : "", s->files[i].len, s->files[i].path, s->files[i].sha256,
                s->files[i].len);
        n += (size_t)snprintf(body + n, sizeof body - n, "]");
        th_reply(s, c, 200, "OK", "Content-Type: application/json\r\n", body, n, -1);
        goto out;
    }
    if (is_resolve || is_cdn) {
        const char *fp = is_cdn ? path + 5 : path + strlen(prefix);
        const struct th_file *f = NULL;
        for (int i = 0; i < s->n_files; i++)
            if (strcmp(s->files[i].path, fp) == 0)
                f = &s->files[i];
        s->n_file_requests++;
        snprintf(s->last_range, sizeof s->last_range, "%s", range);
        if (!f) {
            th_reply(s, c, 404, "Not Found", "X-Error-Code: EntryNotFound\r\n", "missing", 7, -1);
            goto out;
        }
        if (is_resolve && s->redirect) {
            char h[800];
            snprintf(h, sizeof h,
                     "Location: http://localhost:%d/cdn/%s\r\nX-Linked-Etag: \"%s\"\r\n"
                     "X-Linked-Size: %zu\r\n",
                     s->port, f->path, f->sha256, f->len);
            th_reply(s, c, 302, "Found", h, NULL, 0, -1);
            goto out;
        }
        th_serve_file(s, c, f, range);
        goto out;
    }
    th_reply(s, c, 404, "Not Found", NULL, "nothing here", 12, -1);
out:
    pthread_mutex_unlock(&s->mu);
}

static void *th_main(void *arg)
{
    struct th_server *s = arg;
    while (!atomic_load(&s->stop)) {
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            continue;
        th_handle(s, c);
        shutdown(c, SHUT_WR);
        close(c);
    }
    return NULL;
}

/* Starts the server on an ephemeral port of 127.0.0.1; returns 0 on success. */
static int th_start(struct th_server *s, const char *repo)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->cut_after = -1;
    snprintf(s->repo, sizeof s->repo, "%s", repo);
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->fd < 0)
        return -1;
    int one = 1;
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (bind(s->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->fd, 16) != 0 ||
        getsockname(s->fd, (struct sockaddr *)&a, &al) != 0)
        return -1;
    s->port = ntohs(a.sin_port);
    return pthread_create(&s->thread, NULL, th_main, s) == 0 ? 0 : -1;
}

static void th_stop(struct th_server *s)
{
    atomic_store(&s->stop, 1);
    pthread_join(s->thread, NULL);
    close(s->fd);
    pthread_mutex_destroy(&s->mu);
}

/* Adds a file with `len` bytes of deterministic content; its SHA-256 is computed by the
 * caller-supplied hasher (the library's vb_sha256) so the server stays independent. */
static struct th_file *th_add_file(struct th_server *s, const char *path, size_t len, unsigned seed)
{
    struct th_file *f = &s->files[s->n_files++];
    snprintf(f->path, sizeof f->path, "%s", path);
    f->data = malloc(len ? len : 1);
    f->len = len;
    unsigned x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        f->data[i] = (unsigned char)(x >> 16);
    }
    return f;
}

static void th_free_files(struct th_server *s)
{
    for (int i = 0; i < s->n_files; i++)
        free(s->files[i].data);
    s->n_files = 0;
}

#endif
