/* registry.h: the table of models Vocero knows how to fetch (Hugging Face repository,
 * revision, files, expected sizes and SHA-256), where their files live under MODELS_DIR,
 * and whether they are installed.
 *
 * Where the expected SHA-256 comes from, in order:
 *   1. the registry (models_file.sha256) when we know it;
 *   2. the Hugging Face tree API, GET {endpoint}/api/models/{repo}/tree/{revision}: for
 *      LFS files the `lfs.oid` field is the SHA-256 of the content (and `lfs.size` the size);
 *   3. the `X-Linked-Etag` header of the resolve response (or of the redirect that leads
 *      to the CDN), when it is 64 hex characters (LFS files; small non-LFS files carry a
 *      git blob SHA-1 there, which is not a content hash and is ignored).
 * When none of them gives a hash the size is still checked (registry, API or
 * Content-Length) and the hash we computed while downloading is recorded, so that
 * `vocero models verify` can later detect a corrupted file.
 *
 * After a successful download each file gets a sidecar `.<local_name>.meta` in the same
 * directory ("size N\nsha256 HEX\n"): the size and hash that were verified. */
#ifndef VB_MODELS_REGISTRY_H
#define VB_MODELS_REGISTRY_H

#include "core/vb.h"
#include "core/err.h"

#define MODELS_SHA256_HEX_LEN 64
#define MODELS_META_PREFIX    "."
#define MODELS_META_SUFFIX    ".meta"
#define MODELS_PART_SUFFIX    ".part"

enum models_kind {
    MODELS_KIND_LLM,
    MODELS_KIND_TTS,
};

struct models_file {
    const char *path;       /* path inside the repository (URL path segment, no leading /) */
    const char *local_name; /* plain file name under the model's directory */
    uint64_t size;          /* expected size in bytes; 0 = unknown (taken from the server) */
    const char *sha256;     /* expected lower-case hex SHA-256; NULL = unknown (see above) */
    uint64_t approx_size;   /* rough size in bytes for display before download; 0 = unknown */
};

struct models_entry {
    const char *name;      /* registry name, e.g. "qwen2.5-3b-instruct" */
    enum models_kind kind; /* what the model is for */
    const char *repo;      /* Hugging Face repository, "owner/name" */
    const char *revision;  /* branch, tag or commit, e.g. "main" */
    const char *dir;       /* directory under MODELS_DIR holding the files */
    const struct models_file *files;
    size_t n_files;
    bool is_default;         /* pulled at server start when MODELS_AUTO_DOWNLOAD is true */
    const char *description; /* one line for `vocero models list` */
};

/* State of one file on disk. */
enum models_file_state {
    MODELS_FILE_MISSING,  /* no file (a .part may exist: see models_file_part_size) */
    MODELS_FILE_BAD_SIZE, /* present with a size other than the expected one */
    MODELS_FILE_PRESENT,  /* present; no expected size known to check it against */
    MODELS_FILE_OK,       /* present with the expected size (registry or .meta) */
};

/* Every known model; *n receives the count. Static storage. */
const struct models_entry *models_registry(size_t *n);
/* The entry called `name`, or NULL. Borrowed from static storage. */
const struct models_entry *models_find(const char *name);
/* Registry names of the default chat (LLM_MODEL) and speech models. */
#define MODELS_DEFAULT_LLM "qwen2.5-3b-instruct"
#define MODELS_DEFAULT_TTS "chatterbox-turbo"
/* "llm" or "tts"; static storage. */
const char *models_kind_name(enum models_kind kind);

/* "<models_dir>/<model dir>/<local_name>" into out. VB_ERR_TOO_LARGE if out_cap is short,
 * VB_ERR_INVALID if a name is unsafe (contains '/' or starts with '.'). */
VB_WUR enum vb_err models_file_path(const char *models_dir, const struct models_entry *m,
                                    const struct models_file *f, char *out, size_t out_cap);
/* "<models_dir>/<model dir>" into out. */
VB_WUR enum vb_err models_dir_path(const char *models_dir, const struct models_entry *m, char *out,
                                   size_t out_cap);
/* Path of the file with `suffix` appended (".part"), or of the sidecar when meta is true. */
VB_WUR enum vb_err models_file_aux_path(const char *models_dir, const struct models_entry *m,
                                        const struct models_file *f, bool meta, char *out,
                                        size_t out_cap);

/* What the sidecar of a downloaded file records. */
struct models_meta {
    uint64_t size;   /* bytes */
    char sha256[65]; /* lower-case hex of the content */
    bool published;  /* the hash was checked against a published one (registry, API or
                        X-Linked-Etag); false: none was published, this is what we received */
};

/* Reads the sidecar of f: true when it exists and parses (a malformed one is ignored). The
 * file is "size N\nsha256 HEX\npublished 0|1\n"; a missing third line reads as 0. */
bool models_meta_read(const char *models_dir, const struct models_entry *m,
                      const struct models_file *f, struct models_meta *out);
/* Writes the sidecar atomically (temporary + fsync + rename). VB_ERR_INVALID on a bad hash. */
VB_WUR enum vb_err models_meta_write(const char *models_dir, const struct models_entry *m,
                                     const struct models_file *f, const struct models_meta *meta);

/* State of f on disk; *size_on_disk gets the file's size (0 when missing), may be NULL. */
enum models_file_state models_file_state(const char *models_dir, const struct models_entry *m,
                                         const struct models_file *f, uint64_t *size_on_disk);
/* Bytes already in f's .part file (0 when none). */
uint64_t models_file_part_size(const char *models_dir, const struct models_entry *m,
                               const struct models_file *f);
/* true when every file of m is present with the right size (MODELS_FILE_OK or, when no size
 * is known at all, MODELS_FILE_PRESENT). */
bool models_is_installed(const char *models_dir, const struct models_entry *m);
/* Expected size of f: the registry's, else the sidecar's, else 0. */
uint64_t models_file_expected_size(const char *models_dir, const struct models_entry *m,
                                   const struct models_file *f);
/* For settings such as LLM_MODEL that take a registry name or a file path: when
 * name_or_path is a registry name, out gets the path of its first file under models_dir
 * (its directory when it has several files) and *entry (may be NULL) the entry; otherwise
 * out gets name_or_path unchanged and *entry NULL. VB_ERR_TOO_LARGE if out_cap is short. */
VB_WUR enum vb_err models_resolve(const char *models_dir, const char *name_or_path, char *out,
                                  size_t out_cap, const struct models_entry **entry);
/* One line for a 503 reply or a log: the first missing (or wrong-size) file of m and the
 * command that installs it, e.g. "model qwen2.5-3b-instruct is not installed: models/...gguf
 * is missing; run `vocero models pull qwen2.5-3b-instruct`". "" when m is installed. */
void models_missing_message(const char *models_dir, const struct models_entry *m, char *out,
                            size_t out_cap);
/* true when s is 64 hex digits (either case). */
bool models_sha256_hex_valid(const char *s, size_t len);

#endif
