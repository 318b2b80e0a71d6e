/* test_registry.c: the model table (names, repositories, files), path building, the .meta
 * sidecar, installed-state checks and the streaming SHA-256. */
#include "core/vb.h"
#include "core/crypto.h"
#include "models/registry.h"
#include "models/sha256.h"
#include "unit/test.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* String equality for char arrays (CHECK_EQ_STR tests its pointers for NULL). */
#define CHECK_SAME(a, b) CHECK_MSG(strcmp((a), (b)) == 0, "\"%s\" != \"%s\"", (a), (b))

static char tmp_root[] = "/tmp/vocero-models-reg-XXXXXX";

static struct models_file tfiles[] = {
    {"w.bin", "w.bin", 0, NULL, 0},
    {"sub/t.json", "t.json", 5, NULL, 0},
};
static struct models_entry tmodel = {
    "t", MODELS_KIND_TTS, "org/t", "main", "t-dir", tfiles, 2, false, "test",
};

static void write_file(const char *name, const char *content, size_t len)
{
    char path[600];
    snprintf(path, sizeof path, "%s/t-dir/%s", tmp_root, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    fwrite(content, 1, len, f);
    fclose(f);
}

TEST(test_table_is_sound)
{
    size_t n = 0;
    const struct models_entry *reg = models_registry(&n);
    CHECK(n >= 4);
    int defaults = 0;
    for (size_t i = 0; i < n; i++) {
        const struct models_entry *m = &reg[i];
        CHECK(m->name && m->repo && strchr(m->repo, '/') && m->revision && m->dir);
        CHECK(m->n_files > 0);
        CHECK(models_find(m->name) == m); /* names are unique */
        defaults += m->is_default;
        for (size_t k = 0; k < m->n_files; k++) {
            const struct models_file *f = &m->files[k];
            CHECK(f->path && f->local_name && !strchr(f->local_name, '/') &&
                  f->local_name[0] != '.');
            CHECK(!f->sha256 || models_sha256_hex_valid(f->sha256, strlen(f->sha256)));
        }
    }
    CHECK_EQ_INT(defaults, 2);
}

TEST(test_known_models)
{
    const struct models_entry *q = models_find(MODELS_DEFAULT_LLM);
    CHECK(q && q->kind == MODELS_KIND_LLM && q->is_default);
    if (q) {
        CHECK_EQ_STR(q->repo, "Qwen/Qwen2.5-3B-Instruct-GGUF");
        CHECK_EQ_STR(q->files[0].path, "qwen2.5-3b-instruct-q4_k_m.gguf");
    }
    const struct models_entry *s = models_find("qwen2.5-0.5b-instruct");
    CHECK(s && strcmp(s->repo, "Qwen/Qwen2.5-0.5B-Instruct-GGUF") == 0 &&
          strcmp(s->files[0].path, "qwen2.5-0.5b-instruct-q4_k_m.gguf") == 0);
    const struct models_entry *m = models_find("qwen2.5-1.5b-instruct-q8_0");
    CHECK(m && strcmp(m->files[0].path, "qwen2.5-1.5b-instruct-q8_0.gguf") == 0);
    const struct models_entry *c = models_find(MODELS_DEFAULT_TTS);
    CHECK(c && c->kind == MODELS_KIND_TTS && c->is_default);
    if (c) {
        CHECK_EQ_STR(c->repo, "ResembleAI/chatterbox-turbo");
        CHECK_EQ_STR(c->dir, "chatterbox-turbo");
        const char *need[] = {"t3_turbo_v1.safetensors",
                              "s3gen_meanflow.safetensors",
                              "ve.safetensors",
                              "conds.pt",
                              "vocab.json",
                              "merges.txt",
                              "added_tokens.json",
                              "special_tokens_map.json",
                              "tokenizer_config.json"};
        for (size_t i = 0; i < VB_ARRAY_LEN(need); i++) {
            bool found = false;
            for (size_t k = 0; k < c->n_files; k++)
                found = found || strcmp(c->files[k].path, need[i]) == 0;
            CHECK_MSG(found, "%s", need[i]);
        }
        for (size_t k = 0; k < c->n_files; k++)
            CHECK(strcmp(c->files[k].path, "s3gen.safetensors") != 0); /* unused by Turbo */
    }
    CHECK(models_find("nope") == NULL);
    CHECK(models_find("") == NULL);
    CHECK(models_find(NULL) == NULL);
    CHECK_EQ_STR(models_kind_name(MODELS_KIND_LLM), "llm");
    CHECK_EQ_STR(models_kind_name(MODELS_KIND_TTS), "tts");
}

TEST(test_paths)
{
    char out[256], small[12];
    const struct models_entry *q = models_find(MODELS_DEFAULT_LLM);
    CHECK_EQ_INT(models_file_path("/m", q, &q->files[0], out, sizeof out), VB_OK);
    CHECK_SAME(out, "/m/qwen2.5-3b-instruct/qwen2.5-3b-instruct-q4_k_m.gguf");
    CHECK_EQ_INT(models_dir_path("/m", q, out, sizeof out), VB_OK);
    CHECK_SAME(out, "/m/qwen2.5-3b-instruct");
    CHECK_EQ_INT(models_file_aux_path("/m", q, &q->files[0], false, out, sizeof out), VB_OK);
    CHECK_SAME(out, "/m/qwen2.5-3b-instruct/qwen2.5-3b-instruct-q4_k_m.gguf.part");
    CHECK_EQ_INT(models_file_aux_path("/m", q, &q->files[0], true, out, sizeof out), VB_OK);
    CHECK_SAME(out, "/m/qwen2.5-3b-instruct/.qwen2.5-3b-instruct-q4_k_m.gguf.meta");
    CHECK_EQ_INT(models_file_path("/m", q, &q->files[0], small, sizeof small), VB_ERR_TOO_LARGE);
    CHECK_EQ_INT(models_file_path("", q, &q->files[0], out, sizeof out), VB_ERR_INVALID);
    CHECK_EQ_INT(models_file_path(NULL, q, &q->files[0], out, sizeof out), VB_ERR_INVALID);
    struct models_file evil = {"x", "../x", 0, NULL, 0};
    CHECK_EQ_INT(models_file_path("/m", q, &evil, out, sizeof out), VB_ERR_INVALID);
    struct models_file slash = {"x", "a/b", 0, NULL, 0};
    CHECK_EQ_INT(models_file_path("/m", q, &slash, out, sizeof out), VB_ERR_INVALID);
    struct models_entry bad = *q;
    bad.dir = "..";
    CHECK_EQ_INT(models_dir_path("/m", &bad, out, sizeof out), VB_ERR_INVALID);
}

TEST(test_resolve_and_missing_message)
{
    char out[300], msg[600];
    const struct models_entry *e = NULL;
    CHECK_EQ_INT(models_resolve("/m", "qwen2.5-1.5b-instruct", out, sizeof out, &e), VB_OK);
    CHECK_SAME(out, "/m/qwen2.5-1.5b-instruct/qwen2.5-1.5b-instruct-q4_k_m.gguf");
    CHECK(e == models_find("qwen2.5-1.5b-instruct"));
    CHECK_EQ_INT(models_resolve("/m", MODELS_DEFAULT_TTS, out, sizeof out, &e), VB_OK);
    CHECK_SAME(out, "/m/chatterbox-turbo");
    CHECK_EQ_INT(models_resolve("/m", "/data/my.gguf", out, sizeof out, &e), VB_OK);
    CHECK_SAME(out, "/data/my.gguf");
    CHECK(e == NULL);
    CHECK_EQ_INT(models_resolve("/m", "/data/my.gguf", out, 5, NULL), VB_ERR_TOO_LARGE);
    CHECK_EQ_INT(models_resolve("/m", NULL, out, sizeof out, NULL), VB_ERR_INVALID);
    models_missing_message(tmp_root, models_find(MODELS_DEFAULT_LLM), msg, sizeof msg);
    CHECK(strstr(msg, "qwen2.5-3b-instruct-q4_k_m.gguf is missing") != NULL);
    CHECK(strstr(msg, "run `vocero models pull qwen2.5-3b-instruct`") != NULL);
    models_missing_message(tmp_root, NULL, msg, sizeof msg);
    CHECK_SAME(msg, "");
}

TEST(test_sha_hex)
{
    const char *h = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    CHECK(models_sha256_hex_valid(h, 64));
    CHECK(models_sha256_hex_valid(
        "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", 64));
    CHECK(!models_sha256_hex_valid(h, 63));
    CHECK(!models_sha256_hex_valid(
        "g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 64));
    CHECK(!models_sha256_hex_valid(NULL, 64));
    CHECK(!models_sha256_hex_valid("0123456789abcdef0123456789abcdef01234567", 40));
}

TEST(test_meta_and_installed)
{
    char dir[600];
    uint64_t size = 0;
    struct models_meta meta;
    snprintf(dir, sizeof dir, "%s/t-dir", tmp_root);
    CHECK(!models_is_installed(tmp_root, &tmodel));
    CHECK(!models_meta_read(tmp_root, &tmodel, &tfiles[0], &meta));
    mkdir(dir, 0755);
    write_file("w.bin", "0123456789", 10);
    write_file("t.json", "{}", 2);
    /* w.bin has no known size: present counts; t.json has 5 expected bytes: wrong. */
    CHECK_EQ_INT(models_file_state(tmp_root, &tmodel, &tfiles[0], &size), MODELS_FILE_PRESENT);
    CHECK_EQ_INT(size, 10);
    CHECK_EQ_INT(models_file_state(tmp_root, &tmodel, &tfiles[1], NULL), MODELS_FILE_BAD_SIZE);
    CHECK(!models_is_installed(tmp_root, &tmodel));
    write_file("t.json", "{\"a\"}", 5);
    CHECK_EQ_INT(models_file_state(tmp_root, &tmodel, &tfiles[1], NULL), MODELS_FILE_OK);
    CHECK(models_is_installed(tmp_root, &tmodel));
    /* A sidecar gives w.bin an expected size. */
    const char *h = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
    struct models_meta w = {.size = 11, .published = true};
    memcpy(w.sha256, h, 65);
    CHECK_EQ_INT(models_meta_write(tmp_root, &tmodel, &tfiles[0], &w), VB_OK);
    CHECK(models_meta_read(tmp_root, &tmodel, &tfiles[0], &meta));
    CHECK_EQ_INT(meta.size, 11);
    CHECK(meta.published);
    CHECK_SAME(meta.sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK_EQ_INT(models_file_expected_size(tmp_root, &tmodel, &tfiles[0]), 11);
    CHECK_EQ_INT(models_file_state(tmp_root, &tmodel, &tfiles[0], NULL), MODELS_FILE_BAD_SIZE);
    CHECK(!models_is_installed(tmp_root, &tmodel));
    w.size = 10;
    w.published = false;
    CHECK_EQ_INT(models_meta_write(tmp_root, &tmodel, &tfiles[0], &w), VB_OK);
    CHECK(models_meta_read(tmp_root, &tmodel, &tfiles[0], &meta) && !meta.published);
    CHECK(models_is_installed(tmp_root, &tmodel));
    char msg[600];
    models_missing_message(tmp_root, &tmodel, msg, sizeof msg);
    CHECK_SAME(msg, "");
    snprintf(w.sha256, sizeof w.sha256, "abc");
    CHECK_EQ_INT(models_meta_write(tmp_root, &tmodel, &tfiles[0], &w), VB_ERR_INVALID);
    /* Malformed sidecars are ignored, never trusted. */
    const char *bad[] = {
        "",
        "size \nsha256 x\n",
        "size -1\nsha256 ",
        "size 10\nsha256 abc\n",
        "size 10\nsha1 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n",
        ("size 99999999999999999999999\nsha256 "
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"),
        "size -5\nsha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n",
        "size 5\nsha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85\n",
        "size  5\nsha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n",
        "size +5\nsha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n",
    };
    for (size_t i = 0; i < VB_ARRAY_LEN(bad); i++) {
        write_file(".w.bin.meta", bad[i], strlen(bad[i]));
        CHECK_MSG(!models_meta_read(tmp_root, &tmodel, &tfiles[0], &meta), "case %zu", i);
    }
    /* .part size */
    CHECK_EQ_INT(models_file_part_size(tmp_root, &tmodel, &tfiles[0]), 0);
    write_file("w.bin.part", "abc", 3);
    CHECK_EQ_INT(models_file_part_size(tmp_root, &tmodel, &tfiles[0]), 3);
    CHECK(!models_is_installed(tmp_root, NULL));
}

TEST(test_streaming_sha256)
{
    /* Chunked hashing (and hashing through a file) equals the one-shot hash. */
    unsigned char data[100000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 131 + 7);
    uint8_t md[VB_SHA256_LEN];
    char want[65], got[65];
    vb_sha256(data, sizeof data, md);
    vb_hex_encode(md, sizeof md, want);
    struct models_sha256 h;
    CHECK_EQ_INT(models_sha256_init(&h), VB_OK);
    size_t off = 0, step = 1;
    while (off < sizeof data) {
        size_t n = VB_MIN(step, sizeof data - off);
        models_sha256_update(&h, data + off, n);
        off += n;
        step = step * 3 + 1;
    }
    models_sha256_final_hex(&h, got);
    CHECK_SAME(got, want);
    models_sha256_release(&h); /* after final: harmless */
    char path[600];
    snprintf(path, sizeof path, "%s/blob", tmp_root);
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, sizeof data, f);
    fclose(f);
    int fd = open(path, O_RDONLY);
    CHECK_EQ_INT(models_sha256_init(&h), VB_OK);
    CHECK_EQ_INT(models_sha256_fd(&h, fd, sizeof data, NULL), VB_OK);
    models_sha256_final_hex(&h, got);
    CHECK_SAME(got, want);
    /* Asking for more bytes than the file has is an error, not a short hash. */
    CHECK_EQ_INT(models_sha256_init(&h), VB_OK);
    CHECK_EQ_INT(models_sha256_fd(&h, fd, sizeof data + 1, NULL), VB_ERR_IO);
    models_sha256_release(&h);
    atomic_int cancel = 1;
    CHECK_EQ_INT(models_sha256_init(&h), VB_OK);
    CHECK_EQ_INT(models_sha256_fd(&h, fd, sizeof data, &cancel), VB_ERR_CANCELLED);
    models_sha256_release(&h);
    close(fd);
    /* Empty input: the well-known empty hash. */
    CHECK_EQ_INT(models_sha256_init(&h), VB_OK);
    models_sha256_final_hex(&h, got);
    CHECK_SAME(got, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

int main(void)
{
    if (!mkdtemp(tmp_root))
        return 1;
    RUN(test_table_is_sound);
    RUN(test_known_models);
    RUN(test_paths);
    RUN(test_resolve_and_missing_message);
    RUN(test_sha_hex);
    RUN(test_meta_and_installed);
    RUN(test_streaming_sha256);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp_root);
    return test_summary();
}
