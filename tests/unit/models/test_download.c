/* test_download.c: models_pull against a loopback HTTP server: success, resume after a cut,
 * a server that ignores Range, a complete part (416), wrong checksum, 401/403 and HF_TOKEN,
 * 404, redirects to another host without the token, no network, cancellation, progress. */
#include "core/vb.h"
#include "core/crypto.h"
#include "models/download.h"
#include "models/local.h"
#include "models/registry.h"
#include "unit/test.h"
#include "unit/models/httpd.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#define REPO "org/test-model"
/* String equality for char arrays (CHECK_EQ_STR tests its pointers for NULL). */
#define CHECK_SAME(a, b) CHECK_MSG(strcmp((a), (b)) == 0, "\"%s\" != \"%s\"", (a), (b))

static struct th_server srv;
static char tmp_root[] = "/tmp/vocero-models-dl-XXXXXX";
static char models_dir[512];
static int dir_seq;

static struct models_file one_file[] = {
    {"a.bin", "a.bin", 0, NULL, 0},
};
static struct models_entry model = {
    "test-model", MODELS_KIND_LLM, REPO, "main", "test-model", one_file, 1, false, "test",
};
static struct models_file two_files[] = {
    {"a.bin", "a.bin", 0, NULL, 0},
    {"config.json", "config.json", 0, NULL, 0},
};
static struct models_entry model2 = {
    "test-model2", MODELS_KIND_TTS, REPO, "main", "test-model2", two_files, 2, false, "test",
};
static struct models_file missing_file[] = {
    {"nope.bin", "nope.bin", 0, NULL, 0},
};
static struct models_entry model404 = {
    "test-404", MODELS_KIND_LLM, REPO, "main", "test-404", missing_file, 1, false, "test",
};

static void hash_file(struct th_file *f)
{
    uint8_t md[VB_SHA256_LEN];
    vb_sha256(f->data, f->len, md);
    vb_hex_encode(md, VB_SHA256_LEN, f->sha256);
}

/* A fresh MODELS_DIR for each test and a server in a known state. */
static void fresh(void)
{
    snprintf(models_dir, sizeof models_dir, "%s/m%d", tmp_root, ++dir_seq);
    mkdir(models_dir, 0755);
    pthread_mutex_lock(&srv.mu);
    srv.token[0] = '\0';
    srv.send_etag = true;
    srv.redirect = srv.ignore_range = srv.corrupt = srv.api = false;
    srv.cut_after = -1;
    srv.n_requests = srv.n_file_requests = 0;
    srv.last_range[0] = srv.last_auth[0] = srv.cdn_auth[0] = '\0';
    pthread_mutex_unlock(&srv.mu);
}

static void params(struct models_download_params *p, char *endpoint, size_t cap)
{
    snprintf(endpoint, cap, "http://127.0.0.1:%d", srv.port);
    models_download_default_params(p);
    p->endpoint = endpoint;
    p->use_api = false;
    p->connect_timeout_s = 5;
    p->stall_timeout_s = 5;
}

/* true when models_dir/<dir>/<name> holds exactly f's bytes. */
static bool file_equals(const char *dir, const char *name, const struct th_file *f)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/%s", models_dir, dir, name);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return false;
    unsigned char *buf = malloc(f->len + 16);
    size_t n = fread(buf, 1, f->len + 16, fp);
    fclose(fp);
    bool ok = n == f->len && memcmp(buf, f->data, f->len) == 0;
    free(buf);
    return ok;
}

static bool exists(const char *dir, const char *name)
{
    char path[1024];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s/%s", models_dir, dir, name);
    return stat(path, &st) == 0;
}

static long long fsize(const char *dir, const char *name)
{
    char path[1024];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s/%s", models_dir, dir, name);
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

struct progress_log {
    int calls;
    int finished;
    uint64_t last_done, last_total, last_model_total;
};

static void on_progress(const struct models_progress *p, void *user)
{
    struct progress_log *l = user;
    l->calls++;
    l->finished += p->finished;
    l->last_done = p->done;
    l->last_total = p->total;
    l->last_model_total = p->model_total;
}

TEST(test_pull_success_with_etag)
{
    fresh();
    struct models_download_params p;
    char ep[64], why[512] = "";
    struct progress_log log = {0};
    params(&p, ep, sizeof ep);
    p.progress = on_progress;
    p.progress_user = &log;
    CHECK(!models_is_installed(models_dir, &model));
    enum vb_err err = models_pull(models_dir, &model, &p, why, sizeof why);
    CHECK_MSG(err == VB_OK, "%d %s", err, why);
    CHECK(file_equals("test-model", "a.bin", &srv.files[0]));
    CHECK(!exists("test-model", "a.bin.part"));
    CHECK(models_is_installed(models_dir, &model));
    CHECK_EQ_INT(models_file_state(models_dir, &model, &one_file[0], NULL), MODELS_FILE_OK);
    struct models_meta meta;
    CHECK(models_meta_read(models_dir, &model, &one_file[0], &meta));
    CHECK_EQ_INT(meta.size, srv.files[0].len);
    CHECK_SAME(meta.sha256, srv.files[0].sha256);
    CHECK(meta.published);
    CHECK(log.finished == 1);
    CHECK_EQ_INT(log.last_done, srv.files[0].len);
    CHECK_EQ_INT(log.last_total, srv.files[0].len);
    /* A second pull finds everything in place and makes no request. */
    int before = srv.n_requests;
    CHECK_EQ_INT(models_pull(models_dir, &model, &p, why, sizeof why), VB_OK);
    CHECK_EQ_INT(srv.n_requests, before);
}

TEST(test_pull_api_sizes_and_hashes)
{
    fresh();
    srv.api = true;
    srv.send_etag = false;
    struct models_download_params p;
    char ep[64], why[512] = "";
    params(&p, ep, sizeof ep);
    p.use_api = true;
    struct models_expect ex[2];
    CHECK_EQ_INT(models_fetch_expect(&model2, &p, ex, why, sizeof why), VB_OK);
    CHECK_EQ_INT(ex[0].size, srv.files[0].len);
    CHECK_SAME(ex[0].sha256, srv.files[0].sha256);
    CHECK_EQ_INT(ex[1].size, srv.files[1].len);
    enum vb_err err = models_pull(models_dir, &model2, &p, why, sizeof why);
    CHECK_MSG(err == VB_OK, "%d %s", err, why);
    CHECK(file_equals("test-model2", "a.bin", &srv.files[0]));
    CHECK(file_equals("test-model2", "config.json", &srv.files[1]));
    CHECK(models_is_installed(models_dir, &model2));
    /* With the API's hash and a corrupting server (no headers), the checksum catches it. */
    fresh();
    srv.api = true;
    srv.send_etag = false;
    srv.corrupt = true;
    err = models_pull(models_dir, &model2, &p, why, sizeof why);
    CHECK_EQ_INT(err, VB_ERR_FORMAT);
    CHECK(strstr(why, "checksum mismatch") != NULL);
    CHECK(!exists("test-model2", "a.bin.part"));
    CHECK(!exists("test-model2", "a.bin"));
}

TEST(test_resume_after_cut)
{
    fresh();
    struct models_download_params p;
    char ep[64], why[512] = "";
    params(&p, ep, sizeof ep);
    srv.cut_after = 70000;
    enum vb_err err = models_pull(models_dir, &model, &p, why, sizeof why);
    CHECK_EQ_INT(err, VB_ERR_UNAVAILABLE);
    CHECK_MSG(strstr(why, "interrupted") != NULL, "%s", why);
    CHECK(!exists("test-model", "a.bin"));
    CHECK_EQ_INT(fsize("test-model", "a.bin.part"), 70000);
    CHECK(!models_is_installed(models_dir, &model));
    CHECK_EQ_INT(models_file_part_size(models_dir, &model, &one_file[0]), 70000);
    err = models_pull(models_dir, &model, &p, why, sizeof why);
    CHECK_MSG(err == VB_OK, "%d %s", err, why);
    CHECK_SAME(srv.last_range, "bytes=70000-");
    CHECK(file_equals("test-model", "a.bin", &srv.files[0]));
    CHECK(!exists("test-model", "a.bin.part"));
    struct models_meta meta;
    CHECK(models_meta_read(models_dir, &model, &one_file[0], &meta));
    CHECK_SAME(meta.sha256, srv.files[0].sha256);
    CHECK(meta.published);
}

TEST(test_resume_server_ignores_range)
{
    fresh();
    struct models_download_params p;
    char ep[64], why[512] = "";
    params(&p, ep, sizeof ep);
    srv.cut_after = 12345;
    CHECK_EQ_INT(models_pull(models_dir, &model, &p, why, sizeof why), VB_ERR_UNAVAILABLE);
    CHECK_EQ_INT(fsize("test-model", "a.bin.part"), 12345);
    srv.ignore_range = true;
    enum vb_err err = models_pull(models_dir, &model, &p, why, sizeof why);
    CHECK_MSG(err == VB_OK, "%d %s", err, why);
    CHECK_SAME(srv.last_range, "bytes=12345-");
    CHECK(file_equals("test-model", "a.bin", &srv.files[0]));
}

TEST(test_resume_part_already_complete)
{
    fresh();
    struct models_download_params p;
    char ep[64], why[512] = "", path[1024];
    params(&p, ep, sizeof ep);
    /* A .part that holds the whole file (crash before the rename): the server answers 416. */
    snprintf(path, sizeof path, "%s/test-model", models_dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/test-model/a.bin.part", models_dir);
    FILE *fp = fopen(path, "wb");
    fwrite(srv.files[0].data, 1, srv.files[0].len, fp);
    fclose(fp);
    enum vb_err err = models_pull(models_dir, &model, &p, why, sizeof why);
    CHECK_MSG(err == VB_OK, "%d %s", err, why);
    CHECK_EQ_INT(srv.last_status, 416);
    CHECK(file_equals("test-model", "a.bin", &srv.files[0]));
}

TEST(test_wrong_checksum_removes_part)
{
    fresh();
    struct models_download_params p;
    char ep[64], why[512] = "";
    params(&p, ep, sizeof ep);
    srv.corrupt = true;
    enum vb_err err = models_pull(models_dir, &model, &p, why, sizeof why);
    CHECK_EQ_INT(err, VB_ERR_FORMAT);
    CHECK_MSG(strstr(why, "checksum mismatch") && strstr(why, srv.files[0].sha256), "%s", why);
    CHECK(!exists("test-model", "a.bin.part"));
    CHECK(!exists("test-model", "a.bin"));
    CHECK(!models_is_installed(models_dir, &model));
    /* A corrupt partial file is caught too: its bytes are part of the hash. */
    fresh();
    char path[1024];
    snprintf(path, sizeof path, "%s/test-model", models_dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/test-model/a.bin.part", models_dir);
    FILE *fp = fopen(path, "wb");
    fwrite("garbage!", 1, 8, fp);
    fclose(fp);
    CHECK_EQ_INT(models_pull(models_dir, &model, &p, why, sizeof why), VB_ERR_FORMAT);
    CHECK(!exists("test-model", "a.bin.part"));
    err = models_pull(models_dir, &model, &p, why, sizeof why);
    CHECK_MSG(err == VB_OK, "%d %s", err, why);
    CHECK(file_equals("test-model", "a.bin", &srv.files[0]));
}

TEST(test_token_required)
{
    fresh();
    struct models_download_params p;
    char ep[64], why[512] = "";
    params(&p, ep, sizeof ep);
    snprintf(srv.token, sizeof srv.token, "hf_secret_token_123");
    enum vb_err err = models_pull(models_dir, &model, &p, why, sizeof why);
    CHECK_EQ_INT(err, VB_ERR_UNAUTHORIZED);
    CHECK_MSG(strstr(why, "set HF_TOKEN") != NULL, "%s", why);
    CHECK(!exists("test-model", "a.bin"));
    CHECK(!exists("test-model", "a.bin.part"));
    CHECK(!exists("test-model", "")); /* the empty directory is not left behind */
    p.token = "hf_wrong_token";
    err = models_pull(models_dir, &model, &p, why, sizeof why);
    CHECK_EQ_INT(err, VB_ERR_UNAUTHORIZED);
    CHECK_MSG(strstr(why, "rejected HF_TOKEN") != NULL, "%s", why);
    CHECK(strstr(why, "hf_wrong_token") == NULL);
    p.token = "hf_secret_token_123";
    err = models_pull(models_dir, &model, &p, why, sizeof why);
    CHECK_MSG(err == VB_OK, "%d %s", err, why);
    CHECK_SAME(srv.last_auth, "Bearer hf_secret_token_123");
    CHECK(file_equals("test-model", "a.bin", &srv.files[0]));
}

TEST(test_redirect_drops_token_on_other_host)
{
    fresh();
    struct models_download_params p;
    char ep[64], why[512] = "";
    params(&p, ep, sizeof ep);
    snprintf(srv.token, sizeof srv.token, "hf_secret_token_123");
    srv.redirect = true;
    srv.send_etag = false; /* the hash comes from the redirect's X-Linked-Etag */
    p.token = "hf_secret_token_123";
    enum vb_err err = models_pull(models_dir, &model, &p, why, sizeof why);
    CHECK_MSG(err == VB_OK, "%d %s", err, why);
    CHECK_SAME(srv.last_auth, "Bearer hf_secret_token_123");
    CHECK_SAME(srv.cdn_auth, "");
    CHECK(file_equals("test-model", "a.bin", &srv.files[0]));
    struct models_meta meta;
    CHECK(models_meta_read(models_dir, &model, &one_file[0], &meta));
    CHECK_SAME(meta.sha256, srv.files[0].sha256);
    CHECK(meta.published);
    /* A corrupting CDN behind the redirect is caught with the redirect's hash. */
    fresh();
    snprintf(srv.token, sizeof srv.token, "hf_secret_token_123");
    srv.redirect = true;
    srv.send_etag = false;
    srv.corrupt = true;
    CHECK_EQ_INT(models_pull(models_dir, &model, &p, why, sizeof why), VB_ERR_FORMAT);
}

TEST(test_not_found)
{
    fresh();
    struct models_download_params p;
    char ep[64], why[512] = "";
    params(&p, ep, sizeof ep);
    enum vb_err err = models_pull(models_dir, &model404, &p, why, sizeof why);
    CHECK_EQ_INT(err, VB_ERR_NOT_FOUND);
    CHECK_MSG(strstr(why, "not found") && strstr(why, "nope.bin") && strstr(why, "404"), "%s", why);
    CHECK(!strchr(why, '\n'));
}

TEST(test_no_network)
{
    fresh();
    struct models_download_params p;
    char ep[64], why[512] = "";
    params(&p, ep, sizeof ep);
    /* A port nobody listens on: take one from the kernel and close it. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    bind(s, (struct sockaddr *)&a, sizeof a);
    getsockname(s, (struct sockaddr *)&a, &al);
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d/", ntohs(a.sin_port));
    close(s);
    p.use_api = true;
    enum vb_err err = models_pull(models_dir, &model, &p, why, sizeof why);
    CHECK_EQ_INT(err, VB_ERR_UNAVAILABLE);
    CHECK_MSG(strstr(why, "cannot reach") != NULL, "%s", why);
    CHECK(!strchr(why, '\n'));
    p.use_api = false;
    CHECK_EQ_INT(models_pull(models_dir, &model, &p, why, sizeof why), VB_ERR_UNAVAILABLE);
    CHECK_MSG(strstr(why, "cannot reach") != NULL, "%s", why);
}

TEST(test_hf_endpoint_env_and_bad_endpoint)
{
    fresh();
    struct models_download_params p;
    char ep[64], why[512] = "";
    params(&p, ep, sizeof ep);
    p.endpoint = NULL;
    setenv("HF_ENDPOINT", ep, 1);
    enum vb_err err = models_pull(models_dir, &model, &p, why, sizeof why);
    CHECK_MSG(err == VB_OK, "%d %s", err, why);
    CHECK(file_equals("test-model", "a.bin", &srv.files[0]));
    fresh();
    setenv("HF_ENDPOINT", "ftp://example.org", 1);
    CHECK_EQ_INT(models_pull(models_dir, &model, &p, why, sizeof why), VB_ERR_INVALID);
    unsetenv("HF_ENDPOINT");
}

TEST(test_concurrent_download_refused)
{
    fresh();
    struct models_download_params p;
    char ep[64], why[512] = "", path[1024];
    params(&p, ep, sizeof ep);
    snprintf(path, sizeof path, "%s/test-model", models_dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/test-model/a.bin.part", models_dir);
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    CHECK(flock(fd, LOCK_EX) == 0); /* another process is downloading it */
    CHECK_EQ_INT(models_pull(models_dir, &model, &p, why, sizeof why), VB_ERR_CONFLICT);
    CHECK_MSG(strstr(why, "in progress") != NULL, "%s", why);
    CHECK(exists("test-model", "a.bin.part")); /* the other's file is untouched */
    close(fd);
    CHECK_EQ_INT(models_pull(models_dir, &model, &p, why, sizeof why), VB_OK);
}

TEST(test_cancel)
{
    fresh();
    struct models_download_params p;
    char ep[64], why[512] = "";
    atomic_int cancel = 1;
    params(&p, ep, sizeof ep);
    p.cancel = &cancel;
    CHECK_EQ_INT(models_pull(models_dir, &model, &p, why, sizeof why), VB_ERR_CANCELLED);
    CHECK(!exists("test-model", "a.bin"));
    p.use_api = true; /* the API request is cancellable too */
    CHECK_EQ_INT(models_pull(models_dir, &model, &p, why, sizeof why), VB_ERR_CANCELLED);
    CHECK(!exists("test-model", "a.bin"));
}

TEST(test_size_mismatch_with_expected)
{
    fresh();
    struct models_download_params p;
    char ep[64], why[512] = "";
    params(&p, ep, sizeof ep);
    struct models_expect ex = {.size = srv.files[0].len + 1};
    char dir[600];
    snprintf(dir, sizeof dir, "%s/test-model", models_dir);
    mkdir(dir, 0755);
    enum vb_err err = models_download_file(models_dir, &model, 0, &ex, &p, why, sizeof why);
    CHECK_EQ_INT(err, VB_ERR_FORMAT);
    CHECK_MSG(strstr(why, "expected") != NULL, "%s", why);
    CHECK(!exists("test-model", "a.bin.part"));
    CHECK_EQ_INT(models_download_file(models_dir, &model, 5, NULL, &p, why, sizeof why),
                 VB_ERR_INVALID);
    /* An expected size larger than the free space fails before any request. */
    int before = srv.n_requests;
    struct models_expect huge = {.size = 1ULL << 60};
    err = models_download_file(models_dir, &model, 0, &huge, &p, why, sizeof why);
    CHECK_EQ_INT(err, VB_ERR_IO);
    CHECK_MSG(strstr(why, "not enough disk space") != NULL, "%s", why);
    CHECK_EQ_INT(srv.n_requests, before);
}

TEST(test_no_published_hash)
{
    fresh();
    srv.send_etag = false; /* no header, no API: only Content-Length */
    struct models_download_params p;
    char ep[64], why[512] = "", sha[65];
    params(&p, ep, sizeof ep);
    CHECK_EQ_INT(models_pull(models_dir, &model, &p, why, sizeof why), VB_OK);
    struct models_meta meta;
    CHECK(models_meta_read(models_dir, &model, &one_file[0], &meta));
    CHECK(!meta.published);
    CHECK_SAME(meta.sha256, srv.files[0].sha256); /* what we computed */
    enum models_verify_result r;
    CHECK_EQ_INT(
        models_verify_file(models_dir, &model, &one_file[0], NULL, &r, sha, why, sizeof why),
        VB_OK);
    CHECK_EQ_INT(r, MODELS_VERIFY_OK_RECORDED);
    /* A truncated body is still caught by Content-Length. */
    fresh();
    srv.send_etag = false;
    srv.cut_after = 1000;
    CHECK_EQ_INT(models_pull(models_dir, &model, &p, why, sizeof why), VB_ERR_UNAVAILABLE);
    CHECK(!exists("test-model", "a.bin"));
}

TEST(test_verify_detects_corruption_and_remove)
{
    fresh();
    struct models_download_params p;
    char ep[64], why[512] = "", sha[65];
    params(&p, ep, sizeof ep);
    CHECK_EQ_INT(models_pull(models_dir, &model, &p, why, sizeof why), VB_OK);
    enum models_verify_result r;
    CHECK_EQ_INT(
        models_verify_file(models_dir, &model, &one_file[0], NULL, &r, sha, why, sizeof why),
        VB_OK);
    CHECK_EQ_INT(r, MODELS_VERIFY_OK);
    CHECK_SAME(sha, srv.files[0].sha256);
    /* Flip one byte in place: same size, different hash. */
    char path[1024];
    snprintf(path, sizeof path, "%s/test-model/a.bin", models_dir);
    int fd = open(path, O_RDWR);
    unsigned char b = 0;
    CHECK(pread(fd, &b, 1, 100) == 1);
    b ^= 1;
    CHECK(pwrite(fd, &b, 1, 100) == 1);
    close(fd);
    CHECK(models_is_installed(models_dir, &model)); /* size alone cannot tell */
    CHECK_EQ_INT(
        models_verify_file(models_dir, &model, &one_file[0], NULL, &r, sha, why, sizeof why),
        VB_OK);
    CHECK_EQ_INT(r, MODELS_VERIFY_BAD_HASH);
    /* Truncated: size mismatch, not installed. */
    CHECK(truncate(path, 10) == 0);
    CHECK(!models_is_installed(models_dir, &model));
    CHECK_EQ_INT(
        models_verify_file(models_dir, &model, &one_file[0], NULL, &r, sha, why, sizeof why),
        VB_OK);
    CHECK_EQ_INT(r, MODELS_VERIFY_BAD_SIZE);
    /* pull repairs a file of the wrong size. */
    CHECK_EQ_INT(models_pull(models_dir, &model, &p, why, sizeof why), VB_OK);
    CHECK(file_equals("test-model", "a.bin", &srv.files[0]));
    size_t n = 0;
    CHECK_EQ_INT(models_remove(models_dir, &model, &n, why, sizeof why), VB_OK);
    CHECK_EQ_INT(n, 1);
    CHECK(!exists("test-model", "a.bin"));
    CHECK(!exists("test-model", ".a.bin.meta"));
    CHECK(!exists("test-model", ""));
    CHECK_EQ_INT(
        models_verify_file(models_dir, &model, &one_file[0], NULL, &r, sha, why, sizeof why),
        VB_OK);
    CHECK_EQ_INT(r, MODELS_VERIFY_MISSING);
}

int main(void)
{
    if (!mkdtemp(tmp_root) || th_start(&srv, REPO) != 0) {
        fprintf(stderr, "cannot set up the test server\n");
        return 1;
    }
    hash_file(th_add_file(&srv, "a.bin", 200000, 1));
    hash_file(th_add_file(&srv, "config.json", 300, 2));
    RUN(test_pull_success_with_etag);
    RUN(test_pull_api_sizes_and_hashes);
    RUN(test_resume_after_cut);
    RUN(test_resume_server_ignores_range);
    RUN(test_resume_part_already_complete);
    RUN(test_wrong_checksum_removes_part);
    RUN(test_token_required);
    RUN(test_redirect_drops_token_on_other_host);
    RUN(test_not_found);
    RUN(test_no_network);
    RUN(test_hf_endpoint_env_and_bad_endpoint);
    RUN(test_concurrent_download_refused);
    RUN(test_cancel);
    RUN(test_size_mismatch_with_expected);
    RUN(test_no_published_hash);
    RUN(test_verify_detects_corruption_and_remove);
    th_stop(&srv);
    th_free_files(&srv);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp_root);
    return test_summary();
}
