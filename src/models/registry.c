/* registry.c: the known models, their local paths, the .meta sidecars and the installed
 * check. Sizes and hashes of the official files are not pinned here (they could not be
 * checked offline): they come from the Hugging Face API or headers at download time (see
 * registry.h); approx_size only feeds `vocero models list`. */
#include "core/vb.h"
#include "models/registry.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <unistd.h>

#define MB 1000000ULL

/* One GGUF file per Qwen2.5 entry; the local name is the repository path. Approximate
 * sizes are those of files with the same tensor types (spec gguf-qwen2.md section 2.5). */
static const struct models_file qwen05_q4[] = {
    {"qwen2.5-0.5b-instruct-q4_k_m.gguf", "qwen2.5-0.5b-instruct-q4_k_m.gguf", 0, NULL, 398 * MB},
};
static const struct models_file qwen05_q8[] = {
    {"qwen2.5-0.5b-instruct-q8_0.gguf", "qwen2.5-0.5b-instruct-q8_0.gguf", 0, NULL, 531 * MB},
};
static const struct models_file qwen15_q4[] = {
    {"qwen2.5-1.5b-instruct-q4_k_m.gguf", "qwen2.5-1.5b-instruct-q4_k_m.gguf", 0, NULL, 1120 * MB},
};
static const struct models_file qwen15_q8[] = {
    {"qwen2.5-1.5b-instruct-q8_0.gguf", "qwen2.5-1.5b-instruct-q8_0.gguf", 0, NULL, 1890 * MB},
};
static const struct models_file qwen3_q4[] = {
    {"qwen2.5-3b-instruct-q4_k_m.gguf", "qwen2.5-3b-instruct-q4_k_m.gguf", 0, NULL, 1930 * MB},
};
static const struct models_file qwen3_q8[] = {
    {"qwen2.5-3b-instruct-q8_0.gguf", "qwen2.5-3b-instruct-q8_0.gguf", 0, NULL, 3285 * MB},
};

/* ResembleAI/chatterbox-turbo as published (spec chatterbox-turbo.md section 8.1): what the
 * Turbo loader reads. s3gen.safetensors (the non-meanflow decoder) and the training yaml are
 * not used and not fetched. */
static const struct models_file chatterbox_turbo[] = {
    {"t3_turbo_v1.safetensors", "t3_turbo_v1.safetensors", 0, NULL, 1930 * MB},
    {"s3gen_meanflow.safetensors", "s3gen_meanflow.safetensors", 0, NULL, 1065 * MB},
    {"ve.safetensors", "ve.safetensors", 0, NULL, 5766000},
    {"conds.pt", "conds.pt", 0, NULL, 166000},
    {"vocab.json", "vocab.json", 0, NULL, 1042000},
    {"merges.txt", "merges.txt", 0, NULL, 456000},
    {"added_tokens.json", "added_tokens.json", 0, NULL, 0},
    {"special_tokens_map.json", "special_tokens_map.json", 0, NULL, 0},
    {"tokenizer_config.json", "tokenizer_config.json", 0, NULL, 0},
};

#define QWEN(nm, sz, files, def, desc)                                                             \
    {                                                                                              \
        nm, MODELS_KIND_LLM, "Qwen/Qwen2.5-" sz "-Instruct-GGUF", "main", nm, files,               \
            VB_ARRAY_LEN(files), def, desc                                                         \
    }

static const struct models_entry registry[] = {
    QWEN("qwen2.5-0.5b-instruct", "0.5B", qwen05_q4, false, "Qwen2.5 0.5B Instruct, GGUF q4_k_m"),
    QWEN("qwen2.5-0.5b-instruct-q8_0", "0.5B", qwen05_q8, false,
         "Qwen2.5 0.5B Instruct, GGUF q8_0"),
    QWEN("qwen2.5-1.5b-instruct", "1.5B", qwen15_q4, false, "Qwen2.5 1.5B Instruct, GGUF q4_k_m"),
    QWEN("qwen2.5-1.5b-instruct-q8_0", "1.5B", qwen15_q8, false,
         "Qwen2.5 1.5B Instruct, GGUF q8_0"),
    QWEN(MODELS_DEFAULT_LLM, "3B", qwen3_q4, true,
         "Qwen2.5 3B Instruct, GGUF q4_k_m (default chat model)"),
    QWEN("qwen2.5-3b-instruct-q8_0", "3B", qwen3_q8, false, "Qwen2.5 3B Instruct, GGUF q8_0"),
    {MODELS_DEFAULT_TTS, MODELS_KIND_TTS, "ResembleAI/chatterbox-turbo", "main", MODELS_DEFAULT_TTS,
     chatterbox_turbo, VB_ARRAY_LEN(chatterbox_turbo), true,
     "Chatterbox-Turbo voice-cloning TTS (safetensors, tokenizer, default voice)"},
};

const struct models_entry *models_registry(size_t *n)
{
    *n = VB_ARRAY_LEN(registry);
    return registry;
}

const struct models_entry *models_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < VB_ARRAY_LEN(registry); i++)
        if (strcmp(registry[i].name, name) == 0)
            return &registry[i];
    return NULL;
}

const char *models_kind_name(enum models_kind kind)
{
    switch (kind) {
    case MODELS_KIND_LLM:
        return "llm";
    case MODELS_KIND_TTS:
        return "tts";
    }
    return "unknown";
}

/* A path component we are willing to join: non-empty, no '/', not starting with '.'. */
static bool component_safe(const char *s)
{
    return s && s[0] && s[0] != '.' && !strchr(s, '/');
}

enum vb_err models_dir_path(const char *models_dir, const struct models_entry *m, char *out,
                            size_t out_cap)
{
    if (!models_dir || !models_dir[0] || !m || !component_safe(m->dir))
        return VB_ERR_INVALID;
    int n = snprintf(out, out_cap, "%s/%s", models_dir, m->dir);
    return n < 0 || (size_t)n >= out_cap ? VB_ERR_TOO_LARGE : VB_OK;
}

enum vb_err models_file_path(const char *models_dir, const struct models_entry *m,
                             const struct models_file *f, char *out, size_t out_cap)
{
    if (!models_dir || !models_dir[0] || !m || !f || !component_safe(m->dir) ||
        !component_safe(f->local_name))
        return VB_ERR_INVALID;
    int n = snprintf(out, out_cap, "%s/%s/%s", models_dir, m->dir, f->local_name);
    return n < 0 || (size_t)n >= out_cap ? VB_ERR_TOO_LARGE : VB_OK;
}

enum vb_err models_file_aux_path(const char *models_dir, const struct models_entry *m,
                                 const struct models_file *f, bool meta, char *out, size_t out_cap)
{
    if (!models_dir || !models_dir[0] || !m || !f || !component_safe(m->dir) ||
        !component_safe(f->local_name))
        return VB_ERR_INVALID;
    int n = meta ? snprintf(out, out_cap, "%s/%s/" MODELS_META_PREFIX "%s" MODELS_META_SUFFIX,
                            models_dir, m->dir, f->local_name)
                 : snprintf(out, out_cap, "%s/%s/%s" MODELS_PART_SUFFIX, models_dir, m->dir,
                            f->local_name);
    return n < 0 || (size_t)n >= out_cap ? VB_ERR_TOO_LARGE : VB_OK;
}

bool models_sha256_hex_valid(const char *s, size_t len)
{
    if (!s || len != MODELS_SHA256_HEX_LEN)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return true;
}

bool models_meta_read(const char *models_dir, const struct models_entry *m,
                      const struct models_file *f, struct models_meta *out)
{
    char path[4096], text[256];
    if (models_file_aux_path(models_dir, m, f, true, path, sizeof path) != VB_OK)
        return false;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0)
        return false;
    text[n] = '\0';
    if (strncmp(text, "size ", 5) != 0 || text[5] < '0' || text[5] > '9')
        return false;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text + 5, &end, 10);
    if (errno || *end != '\n')
        return false;
    const char *h = end + 1;
    if (strncmp(h, "sha256 ", 7) != 0)
        return false;
    h += 7;
    if (!models_sha256_hex_valid(h, strcspn(h, "\n")) || (h[64] != '\n' && h[64] != '\0'))
        return false;
    for (int i = 0; i < 64; i++)
        out->sha256[i] = (char)((h[i] >= 'A' && h[i] <= 'F') ? h[i] - 'A' + 'a' : h[i]);
    out->sha256[64] = '\0';
    out->size = v;
    out->published = h[64] == '\n' && strncmp(h + 65, "published 1", 11) == 0;
    return true;
}

enum vb_err models_meta_write(const char *models_dir, const struct models_entry *m,
                              const struct models_file *f, const struct models_meta *meta)
{
    char path[4096], tmp[4200], text[160];
    enum vb_err err = models_file_aux_path(models_dir, m, f, true, path, sizeof path);
    if (err)
        return err;
    if (!models_sha256_hex_valid(meta->sha256, strlen(meta->sha256)))
        return VB_ERR_INVALID;
    int len = snprintf(text, sizeof text, "size %" PRIu64 "\nsha256 %s\npublished %d\n", meta->size,
                       meta->sha256, meta->published ? 1 : 0);
    int n = snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return VB_ERR_TOO_LARGE;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return VB_ERR_IO;
    err = VB_OK;
    if (write(fd, text, (size_t)len) != len || fsync(fd) != 0)
        err = VB_ERR_IO;
    if (close(fd) != 0)
        err = VB_ERR_IO;
    if (!err && rename(tmp, path) != 0)
        err = VB_ERR_IO;
    if (err)
        unlink(tmp);
    return err;
}

uint64_t models_file_expected_size(const char *models_dir, const struct models_entry *m,
                                   const struct models_file *f)
{
    if (f->size)
        return f->size;
    struct models_meta meta;
    if (models_meta_read(models_dir, m, f, &meta))
        return meta.size;
    return 0;
}

enum models_file_state models_file_state(const char *models_dir, const struct models_entry *m,
                                         const struct models_file *f, uint64_t *size_on_disk)
{
    char path[4096];
    struct stat st;
    if (size_on_disk)
        *size_on_disk = 0;
    if (models_file_path(models_dir, m, f, path, sizeof path) != VB_OK)
        return MODELS_FILE_MISSING;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return MODELS_FILE_MISSING;
    if (size_on_disk)
        *size_on_disk = (uint64_t)st.st_size;
    uint64_t want = models_file_expected_size(models_dir, m, f);
    if (!want)
        return MODELS_FILE_PRESENT;
    return (uint64_t)st.st_size == want ? MODELS_FILE_OK : MODELS_FILE_BAD_SIZE;
}

uint64_t models_file_part_size(const char *models_dir, const struct models_entry *m,
                               const struct models_file *f)
{
    char path[4096];
    struct stat st;
    if (models_file_aux_path(models_dir, m, f, false, path, sizeof path) != VB_OK)
        return 0;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    return (uint64_t)st.st_size;
}

bool models_is_installed(const char *models_dir, const struct models_entry *m)
{
    if (!m)
        return false;
    for (size_t i = 0; i < m->n_files; i++) {
        enum models_file_state s = models_file_state(models_dir, m, &m->files[i], NULL);
        if (s != MODELS_FILE_OK && s != MODELS_FILE_PRESENT)
            return false;
    }
    return true;
}

enum vb_err models_resolve(const char *models_dir, const char *name_or_path, char *out,
                           size_t out_cap, const struct models_entry **entry)
{
    const struct models_entry *m = models_find(name_or_path);
    if (entry)
        *entry = m;
    if (!name_or_path || !out_cap)
        return VB_ERR_INVALID;
    if (m)
        return m->n_files == 1 ? models_file_path(models_dir, m, &m->files[0], out, out_cap)
                               : models_dir_path(models_dir, m, out, out_cap);
    int n = snprintf(out, out_cap, "%s", name_or_path);
    return n < 0 || (size_t)n >= out_cap ? VB_ERR_TOO_LARGE : VB_OK;
}

void models_missing_message(const char *models_dir, const struct models_entry *m, char *out,
                            size_t out_cap)
{
    char path[4096];
    if (!out_cap)
        return;
    out[0] = '\0';
    if (!m)
        return;
    for (size_t i = 0; i < m->n_files; i++) {
        enum models_file_state s = models_file_state(models_dir, m, &m->files[i], NULL);
        if (s == MODELS_FILE_OK || s == MODELS_FILE_PRESENT)
            continue;
        if (models_file_path(models_dir, m, &m->files[i], path, sizeof path) != VB_OK)
            snprintf(path, sizeof path, "%s", m->files[i].local_name);
        snprintf(out, out_cap, "model %s is not installed: %s %s; run `vocero models pull %s`",
                 m->name, path, s == MODELS_FILE_BAD_SIZE ? "has the wrong size" : "is missing",
                 m->name);
        return;
    }
}
