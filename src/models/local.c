/* local.c: checksum verification and removal of installed model files. */
#include "core/vb.h"
#include "models/local.h"
#include "models/sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

const char *models_verify_result_name(enum models_verify_result r)
{
    switch (r) {
    case MODELS_VERIFY_OK:
        return "ok";
    case MODELS_VERIFY_OK_RECORDED:
        return "ok (recorded)";
    case MODELS_VERIFY_UNCHECKED:
        return "unchecked";
    case MODELS_VERIFY_MISSING:
        return "missing";
    case MODELS_VERIFY_BAD_SIZE:
        return "size mismatch";
    case MODELS_VERIFY_BAD_HASH:
        return "checksum mismatch";
    }
    return "unknown";
}

enum vb_err models_verify_file(const char *models_dir, const struct models_entry *m,
                               const struct models_file *f, const atomic_int *cancel,
                               enum models_verify_result *result, char sha_hex[65], char *why,
                               size_t why_cap)
{
    enum vb_err err = VB_OK;
    char path[4096], want_sha[65] = "";
    uint64_t want_size = 0;
    bool published = false;
    struct models_meta meta;
    struct models_sha256 h = {0};
    struct stat st;
    int fd = -1;
    sha_hex[0] = '\0';
    *result = MODELS_VERIFY_MISSING;
    if (models_file_path(models_dir, m, f, path, sizeof path) != VB_OK) {
        snprintf(why, why_cap, "%s: path too long or unsafe", f->local_name);
        return VB_ERR_INVALID;
    }
    if (models_meta_read(models_dir, m, f, &meta)) {
        want_size = meta.size;
        memcpy(want_sha, meta.sha256, sizeof want_sha);
        published = meta.published;
    }
    if (f->size)
        want_size = f->size;
    if (f->sha256 && models_sha256_hex_valid(f->sha256, strlen(f->sha256))) {
        for (int k = 0; k < 64; k++)
            want_sha[k] = (char)(f->sha256[k] | 0x20);
        want_sha[64] = '\0';
        published = true;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT) {
            snprintf(why, why_cap, "%s: %s", path, strerror(errno));
            err = VB_ERR_IO;
        }
        goto out;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, why_cap, "%s: not a regular file", path);
        err = VB_ERR_IO;
        goto out;
    }
    if (want_size && (uint64_t)st.st_size != want_size) {
        *result = MODELS_VERIFY_BAD_SIZE;
        goto out;
    }
    err = models_sha256_init(&h);
    if (err)
        goto out;
    err = models_sha256_fd(&h, fd, (uint64_t)st.st_size, cancel);
    if (err) {
        snprintf(why, why_cap, "%s: %s", path,
                 err == VB_ERR_CANCELLED ? "cancelled" : "read error");
        goto out;
    }
    models_sha256_final_hex(&h, sha_hex);
    if (!want_sha[0])
        *result = MODELS_VERIFY_UNCHECKED;
    else
        *result = strcmp(sha_hex, want_sha) != 0 ? MODELS_VERIFY_BAD_HASH
                  : published                    ? MODELS_VERIFY_OK
                                                 : MODELS_VERIFY_OK_RECORDED;
out:
    models_sha256_release(&h);
    if (fd >= 0)
        close(fd);
    return err;
}

/* Unlinks path; a missing file is fine. Counts deletions, records the first failure. */
static void remove_one(const char *path, size_t *n, enum vb_err *err, char *why, size_t why_cap)
{
    if (unlink(path) == 0) {
        (*n)++;
        return;
    }
    if (errno == ENOENT)
        return;
    if (!*err)
        snprintf(why, why_cap, "cannot delete %s: %s", path, strerror(errno));
    *err = VB_ERR_IO;
}

enum vb_err models_remove(const char *models_dir, const struct models_entry *m, size_t *n_removed,
                          char *why, size_t why_cap)
{
    enum vb_err err = VB_OK;
    char path[4096];
    size_t n = 0;
    for (size_t i = 0; i < m->n_files; i++) {
        const struct models_file *f = &m->files[i];
        if (models_file_path(models_dir, m, f, path, sizeof path) == VB_OK)
            remove_one(path, &n, &err, why, why_cap);
        if (models_file_aux_path(models_dir, m, f, false, path, sizeof path) == VB_OK)
            remove_one(path, &n, &err, why, why_cap);
        if (models_file_aux_path(models_dir, m, f, true, path, sizeof path) == VB_OK) {
            size_t ignored = 0;
            remove_one(path, &ignored, &err, why, why_cap);
        }
    }
    if (models_dir_path(models_dir, m, path, sizeof path) == VB_OK)
        (void)rmdir(path); /* only when empty: other files are the user's */
    if (n_removed)
        *n_removed = n;
    return err;
}
