/* test_models.c: `vocero models list|pull|verify|rm|path` end to end through cli_models,
 * with MODELS_DIR, HF_ENDPOINT and HF_TOKEN from the environment and a loopback server
 * that serves a small stand-in for the Qwen2.5 0.5B GGUF under its real repository path. */
#include "core/vb.h"
#include "core/crypto.h"
#include "cli/cli.h"
#include "unit/test.h"
#include "unit/models/httpd.h"

#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>

#define REPO  "Qwen/Qwen2.5-0.5B-Instruct-GGUF"
#define GGUF  "qwen2.5-0.5b-instruct-q4_k_m.gguf"
#define MODEL "qwen2.5-0.5b-instruct"

/* String equality for char arrays (CHECK_EQ_STR tests its pointers for NULL). */
#define CHECK_SAME(a, b) CHECK_MSG(strcmp((a), (b)) == 0, "\"%s\" != \"%s\"", (a), (b))

static struct th_server srv;
static char tmp_root[] = "/tmp/vocero-models-cli-XXXXXX";
static char models_dir[512];
static char out[16384];

/* Runs `models ARGS...` (NULL-terminated) with stdout captured into `out`. */
static int run(const char *first, ...)
{
    char *argv[16];
    int argc = 0;
    argv[argc++] = "models";
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && argc < 15; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    char path[600];
    snprintf(path, sizeof path, "%s/stdout.txt", tmp_root);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, STDOUT_FILENO);
    close(fd);
    int rc = cli_models(argc, argv);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    out[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (f) {
        size_t n = fread(out, 1, sizeof out - 1, f);
        out[n] = '\0';
        fclose(f);
    }
    return rc;
}

/* The `list` line of MODEL. */
static const char *list_line(void)
{
    static char line[256];
    const char *p = strstr(out, MODEL " ");
    line[0] = '\0';
    if (p) {
        size_t n = strcspn(p, "\n");
        snprintf(line, sizeof line, "%.*s", (int)n, p);
    }
    return line;
}

static bool gguf_exists(void)
{
    char path[700];
    struct stat st;
    snprintf(path, sizeof path, "%s/" MODEL "/" GGUF, models_dir);
    return stat(path, &st) == 0;
}

TEST(test_usage_errors)
{
    CHECK_EQ_INT(run(NULL), 2);
    CHECK_EQ_INT(run("frobnicate", NULL), 2);
    CHECK_EQ_INT(run("--help", NULL), 0);
    CHECK_EQ_INT(run("pull", NULL), 2);
    CHECK_EQ_INT(run("pull", "no-such-model", NULL), 2);
    CHECK_EQ_INT(run("rm", "no-such-model", NULL), 2);
    CHECK_EQ_INT(run("list", "--bogus", NULL), 2);
    CHECK_EQ_INT(run("path", NULL), 2);
}

TEST(test_pull_list_verify_rm)
{
    CHECK_EQ_INT(run("list", NULL), 0);
    CHECK_MSG(strstr(list_line(), "missing") != NULL, "%s", list_line());
    CHECK(strstr(out, "qwen2.5-3b-instruct *") != NULL);
    CHECK(strstr(out, "chatterbox-turbo *") != NULL);
    CHECK_EQ_INT(run("verify", NULL), 0);
    CHECK(strstr(out, "no models installed") != NULL);

    CHECK_EQ_INT(run("pull", MODEL, NULL), 0);
    CHECK(gguf_exists());
    CHECK(strstr(out, "installed in") != NULL);
    CHECK_EQ_INT(run("list", NULL), 0);
    CHECK_MSG(strstr(list_line(), "installed") && strstr(list_line(), "50.0 kB"), "%s",
              list_line());
    CHECK_EQ_INT(run("pull", MODEL, NULL), 0);
    CHECK(strstr(out, "already installed") != NULL);
    CHECK_EQ_INT(run("path", MODEL, NULL), 0);
    char want[700];
    snprintf(want, sizeof want, "%s/" MODEL "/" GGUF "\n", models_dir);
    CHECK_SAME(out, want);

    CHECK_EQ_INT(run("verify", NULL), 0);
    CHECK(strstr(out, "ok") && strstr(out, srv.files[0].sha256));
    CHECK_EQ_INT(run("verify", MODEL, NULL), 0);
    /* Corrupt one byte: verify fails and names the file. */
    char path[700];
    snprintf(path, sizeof path, "%s/" MODEL "/" GGUF, models_dir);
    int fd = open(path, O_RDWR);
    CHECK(pwrite(fd, "X", 1, 1234) == 1);
    close(fd);
    CHECK_EQ_INT(run("verify", MODEL, NULL), 1);
    CHECK_MSG(strstr(out, "checksum mismatch") && strstr(out, GGUF), "%s", out);
    CHECK_EQ_INT(run("verify", "qwen2.5-1.5b-instruct", NULL), 1);
    CHECK(strstr(out, "not installed") != NULL);

    CHECK_EQ_INT(run("rm", MODEL, NULL), 0);
    CHECK(strstr(out, "removed 1 file") != NULL);
    CHECK(!gguf_exists());
    CHECK_EQ_INT(run("list", NULL), 0);
    CHECK(strstr(list_line(), "missing") != NULL);
}

TEST(test_partial_then_resume)
{
    srv.cut_after = 20000;
    CHECK_EQ_INT(run("pull", MODEL, NULL), 1);
    CHECK(!gguf_exists());
    CHECK_EQ_INT(run("list", NULL), 0);
    CHECK_MSG(strstr(list_line(), "partial") != NULL, "%s", list_line());
    CHECK_EQ_INT(run("pull", MODEL, NULL), 0);
    CHECK_SAME(srv.last_range, "bytes=20000-");
    CHECK(gguf_exists());
    CHECK_EQ_INT(run("verify", MODEL, NULL), 0);
    CHECK_EQ_INT(run("rm", MODEL, NULL), 0);
}

TEST(test_token_from_environment)
{
    snprintf(srv.token, sizeof srv.token, "hf_cli_token");
    unsetenv("HF_TOKEN");
    CHECK_EQ_INT(run("pull", MODEL, NULL), 1);
    CHECK(!gguf_exists());
    setenv("HF_TOKEN", "hf_cli_token", 1);
    CHECK_EQ_INT(run("pull", MODEL, NULL), 0);
    CHECK(gguf_exists());
    CHECK_SAME(srv.last_auth, "Bearer hf_cli_token");
    unsetenv("HF_TOKEN");
    srv.token[0] = '\0';
    /* --models-dir overrides MODELS_DIR. */
    char other[600];
    snprintf(other, sizeof other, "%s/other", tmp_root);
    CHECK_EQ_INT(run("pull", MODEL, "--models-dir", other, NULL), 0);
    CHECK_EQ_INT(run("path", MODEL, "--models-dir", other, NULL), 0);
    CHECK(strncmp(out, other, strlen(other)) == 0);
}

int main(void)
{
    if (!mkdtemp(tmp_root) || th_start(&srv, REPO) != 0)
        return 1;
    struct th_file *f = th_add_file(&srv, GGUF, 50000, 7);
    uint8_t md[VB_SHA256_LEN];
    vb_sha256(f->data, f->len, md);
    vb_hex_encode(md, VB_SHA256_LEN, f->sha256);
    srv.send_etag = true;
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", srv.port);
    snprintf(models_dir, sizeof models_dir, "%s/models", tmp_root);
    setenv("MODELS_DIR", models_dir, 1);
    setenv("HF_ENDPOINT", endpoint, 1);
    setenv("LOG_LEVEL", "warn", 1);
    unsetenv("HF_TOKEN");
    RUN(test_usage_errors);
    RUN(test_pull_list_verify_rm);
    RUN(test_partial_then_resume);
    RUN(test_token_from_environment);
    th_stop(&srv);
    th_free_files(&srv);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp_root);
    return test_summary();
}
