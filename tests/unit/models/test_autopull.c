/* test_autopull.c: the background download at server start: missing models are fetched and
 * reported (state, bytes) in the health JSON; no network gives one failure per model and
 * no retries; MODELS_AUTO_DOWNLOAD=false only reports; stop cancels and keeps the part. */
#include "core/vb.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/json.h"
#include "models/autopull.h"
#include "models/registry.h"
#include "unit/test.h"
#include "unit/models/httpd.h"

#include <sys/stat.h>
#include <time.h>

#define REPO  "Qwen/Qwen2.5-0.5B-Instruct-GGUF"
#define GGUF  "qwen2.5-0.5b-instruct-q4_k_m.gguf"
#define MODEL "qwen2.5-0.5b-instruct"

static struct th_server srv;
static char tmp_root[] = "/tmp/vocero-models-auto-XXXXXX";
static int seq;

static void config(struct vb_config *cfg, char *dir, size_t cap, bool auto_download)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(dir, cap, "%s/m%d", tmp_root, ++seq);
    cfg->models_dir = dir;
    cfg->models_auto_download = auto_download;
}

/* Waits (at most 10 s) for the download thread to finish. */
static bool wait_idle(struct models_autopull *ap)
{
    for (int i = 0; i < 1000; i++) {
        if (!models_autopull_busy(ap))
            return true;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return false;
}

static char *health_json(struct models_autopull *ap)
{
    struct vb_buf b;
    struct vb_jw w;
    vb_buf_init(&b, 1 << 16);
    vb_jw_init(&w, &b);
    models_autopull_write_json(ap, &w);
    if (vb_jw_finish(&w) != VB_OK)
        return NULL;
    return vb_buf_take(&b);
}

TEST(test_downloads_missing_and_reports)
{
    struct vb_config cfg;
    char dir[600];
    config(&cfg, dir, sizeof dir, true);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", srv.port);
    setenv("HF_ENDPOINT", endpoint, 1);
    const char *names[] = {MODEL, "no-such-model", NULL};
    struct models_autopull *ap = models_autopull_start(&cfg, names);
    CHECK(ap != NULL);
    CHECK(wait_idle(ap));
    struct models_pull_status st[4];
    CHECK_EQ_INT(models_autopull_status(ap, st, 4), 2);
    CHECK_EQ_STR(st[0].name, MODEL);
    CHECK_EQ_INT(st[0].state, MODELS_PULL_READY);
    CHECK_EQ_INT(st[0].total, srv.files[0].len);
    CHECK_EQ_INT(st[0].done, srv.files[0].len);
    CHECK_EQ_INT(st[1].state, MODELS_PULL_FAILED);
    CHECK(strstr(st[1].reason, "unknown model") != NULL);
    const struct models_entry *m = models_find(MODEL);
    CHECK(models_is_installed(dir, m));
    char *json = health_json(ap);
    struct vb_json *doc = NULL;
    CHECK(json && vb_json_parse(json, strlen(json), &doc, NULL, 0) == VB_OK);
    bool b = false;
    CHECK(vb_json_get_bool(doc, "auto_download", &b) && b);
    const struct vb_json *items = vb_json_get(doc, "items");
    CHECK(items && items->count == 2);
    if (items && items->child) {
        CHECK_EQ_STR(vb_json_get_str(items->child, "state"), "ready");
        CHECK_EQ_STR(vb_json_get_str(items->child, "kind"), "llm");
        int64_t total = 0;
        CHECK(vb_json_get_int(items->child, "bytes_total", &total) &&
              total == (int64_t)srv.files[0].len);
        const struct vb_json *prog = vb_json_get(items->child, "progress");
        CHECK(prog && prog->type == VB_JSON_NUMBER && prog->number == 1.0);
    }
    vb_json_free(doc);
    vb_free(json);
    struct models_pull_status one;
    CHECK(models_autopull_get(ap, MODEL, &one) && one.state == MODELS_PULL_READY);
    CHECK(!models_autopull_get(ap, "other", &one));
    models_autopull_stop(ap);
    /* A second start finds it installed and starts no thread. */
    int before = srv.n_requests;
    ap = models_autopull_start(&cfg, names);
    CHECK(!models_autopull_busy(ap));
    CHECK(models_autopull_get(ap, MODEL, &one) && one.state == MODELS_PULL_READY);
    models_autopull_stop(ap);
    CHECK_EQ_INT(srv.n_requests, before);
}

TEST(test_no_network_fails_once)
{
    struct vb_config cfg;
    char dir[600];
    config(&cfg, dir, sizeof dir, true);
    /* A closed loopback port: connection refused at once. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    bind(s, (struct sockaddr *)&a, sizeof a);
    getsockname(s, (struct sockaddr *)&a, &al);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", ntohs(a.sin_port));
    close(s);
    setenv("HF_ENDPOINT", endpoint, 1);
    const char *names[] = {MODEL, "qwen2.5-1.5b-instruct", NULL};
    struct models_autopull *ap = models_autopull_start(&cfg, names);
    CHECK(wait_idle(ap));
    struct models_pull_status st[2];
    CHECK_EQ_INT(models_autopull_status(ap, st, 2), 2);
    for (int i = 0; i < 2; i++) {
        CHECK_EQ_INT(st[i].state, MODELS_PULL_FAILED);
        CHECK_MSG(strstr(st[i].reason, "cannot reach") != NULL, "%s", st[i].reason);
    }
    char *json = health_json(ap);
    CHECK(json && strstr(json, "\"state\":\"failed\"") && strstr(json, "cannot reach"));
    vb_free(json);
    models_autopull_stop(ap);
    struct stat sb;
    char mdir[700];
    snprintf(mdir, sizeof mdir, "%s/" MODEL, dir);
    CHECK(stat(mdir, &sb) != 0); /* nothing left behind */
}

TEST(test_auto_download_off_reports_missing)
{
    struct vb_config cfg;
    char dir[600];
    config(&cfg, dir, sizeof dir, false);
    int before = srv.n_requests;
    struct models_autopull *ap = models_autopull_start(&cfg, NULL); /* registry defaults */
    CHECK(!models_autopull_busy(ap));
    struct models_pull_status st[8];
    size_t n = models_autopull_status(ap, st, 8);
    CHECK_EQ_INT(n, 2);
    for (size_t i = 0; i < n && i < 8; i++) {
        CHECK_EQ_INT(st[i].state, MODELS_PULL_MISSING);
        CHECK(strstr(st[i].reason, "vocero models pull") != NULL);
    }
    CHECK_EQ_STR(st[0].name, MODELS_DEFAULT_LLM);
    CHECK_EQ_STR(st[1].name, MODELS_DEFAULT_TTS);
    char *json = health_json(ap);
    CHECK(json && strstr(json, "\"auto_download\":false") && strstr(json, "\"missing\""));
    vb_free(json);
    models_autopull_stop(ap);
    CHECK_EQ_INT(srv.n_requests, before);
    CHECK_EQ_INT(models_autopull_status(NULL, st, 8), 0);
    models_autopull_stop(NULL);
}

TEST(test_installed_later_shows_ready)
{
    struct vb_config cfg;
    char dir[600];
    config(&cfg, dir, sizeof dir, false);
    const char *names[] = {MODEL, NULL};
    struct models_autopull *ap = models_autopull_start(&cfg, names);
    struct models_pull_status one;
    CHECK(models_autopull_get(ap, MODEL, &one) && one.state == MODELS_PULL_MISSING);
    /* Someone runs `vocero models pull` meanwhile: the file appears. */
    char path[800];
    snprintf(path, sizeof path, "%s/" MODEL, dir);
    mkdir(dir, 0755);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/" MODEL "/" GGUF, dir);
    FILE *f = fopen(path, "wb");
    fwrite("GGUF", 1, 4, f);
    fclose(f);
    CHECK(models_autopull_get(ap, MODEL, &one) && one.state == MODELS_PULL_READY);
    remove(path);
    CHECK(models_autopull_get(ap, MODEL, &one) && one.state == MODELS_PULL_MISSING);
    models_autopull_stop(ap);
}

TEST(test_stop_cancels_and_next_start_resumes)
{
    struct vb_config cfg;
    char dir[600];
    config(&cfg, dir, sizeof dir, true);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", srv.port);
    setenv("HF_ENDPOINT", endpoint, 1);
    srv.slow_us = 20000; /* 300 kB at 4 KiB per 20 ms: about 1.5 s */
    const char *names[] = {MODEL, NULL};
    struct models_autopull *ap = models_autopull_start(&cfg, names);
    struct models_pull_status one = {0};
    for (int i = 0; i < 500; i++) {
        if (models_autopull_get(ap, MODEL, &one) && one.state == MODELS_PULL_DOWNLOADING &&
            one.done > 0)
            break;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    CHECK_EQ_INT(one.state, MODELS_PULL_DOWNLOADING);
    CHECK(one.done > 0 && one.done < srv.files[0].len);
    CHECK_EQ_INT(one.total, srv.files[0].len);
    char *json = health_json(ap);
    CHECK(json && strstr(json, "\"downloading\""));
    vb_free(json);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    models_autopull_stop(ap);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    CHECK_MSG(took < 1.0, "stop took %.2f s", took);
    const struct models_entry *m = models_find(MODEL);
    CHECK(!models_is_installed(dir, m));
    uint64_t part = models_file_part_size(dir, m, &m->files[0]);
    CHECK(part > 0 && part < srv.files[0].len);
    srv.slow_us = 0;
    ap = models_autopull_start(&cfg, names);
    CHECK(wait_idle(ap));
    CHECK(models_autopull_get(ap, MODEL, &one) && one.state == MODELS_PULL_READY);
    char want[64];
    snprintf(want, sizeof want, "bytes=%llu-", (unsigned long long)part);
    CHECK_MSG(strcmp(srv.last_range, want) == 0, "%s vs %s", srv.last_range, want);
    CHECK(models_is_installed(dir, m));
    models_autopull_stop(ap);
}

int main(void)
{
    if (!mkdtemp(tmp_root) || th_start(&srv, REPO) != 0)
        return 1;
    struct th_file *f = th_add_file(&srv, GGUF, 300000, 3);
    uint8_t md[VB_SHA256_LEN];
    vb_sha256(f->data, f->len, md);
    vb_hex_encode(md, VB_SHA256_LEN, f->sha256);
    srv.send_etag = true;
    srv.api = true;
    RUN(test_downloads_missing_and_reports);
    RUN(test_no_network_fails_once);
    RUN(test_auto_download_off_reports_missing);
    RUN(test_installed_later_shows_ready);
    RUN(test_stop_cancels_and_next_start_resumes);
    unsetenv("HF_ENDPOINT");
    th_stop(&srv);
    th_free_files(&srv);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp_root);
    return test_summary();
}
