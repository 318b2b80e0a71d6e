/* download.h: fetching model files from Hugging Face (or a mirror) with libcurl:
 * URL {endpoint}/{repo}/resolve/{revision}/{path}, endpoint from HF_ENDPOINT (default
 * https://huggingface.co), `Authorization: Bearer HF_TOKEN` when a token is given (libcurl
 * drops it on redirects to another host, e.g. the CDN), resume of FILE.part with a Range
 * request, streaming SHA-256 (resumed bytes included), size and checksum verification,
 * fsync and atomic rename to the final name, then the .meta sidecar (see registry.h for
 * where the expected size and hash come from).
 *
 *   struct models_download_params p;
 *   models_download_default_params(&p);
 *   p.token = cfg.hf_token;
 *   char why[512];
 *   if (models_pull(cfg.models_dir, models_find("qwen2.5-3b-instruct"), &p, why, sizeof why))
 *       fprintf(stderr, "%s\n", why);
 *
 * Errors: VB_ERR_UNAUTHORIZED / VB_ERR_FORBIDDEN (HTTP 401/403: token missing or rejected),
 * VB_ERR_NOT_FOUND (404), VB_ERR_UNAVAILABLE (network: cannot connect, connection cut; the
 * .part file is kept for the next attempt), VB_ERR_TIMEOUT (stalled), VB_ERR_FORMAT (size or
 * checksum mismatch; the .part file is deleted), VB_ERR_CONFLICT (another process is
 * downloading the same file), VB_ERR_IO (disk), VB_ERR_CANCELLED. `why` always gets one
 * line that names the file and says what to do; it never contains the token. */
#ifndef VB_MODELS_DOWNLOAD_H
#define VB_MODELS_DOWNLOAD_H

#include "core/vb.h"
#include "core/err.h"
#include "models/registry.h"

#include <stdatomic.h>

#define MODELS_DEFAULT_ENDPOINT "https://huggingface.co"

struct models_progress {
    const char *model;    /* registry name (borrowed for the call) */
    const char *file;     /* local file name (borrowed for the call) */
    size_t file_index;    /* 0-based index of the file in the model */
    size_t n_files;       /* files in the model */
    uint64_t done;        /* bytes of this file on disk, resumed part included */
    uint64_t total;       /* expected bytes of this file; 0 = unknown */
    uint64_t model_done;  /* bytes of the whole model on disk (finished files + done) */
    uint64_t model_total; /* expected bytes of the whole model (approximate where unknown) */
    double bytes_per_s;   /* transfer rate of this file's current request */
    bool finished;        /* last call for this file (it is complete and verified) */
};

/* Called from the downloading thread at most about 10 times a second per file, and once
 * with finished = true. */
typedef void (*models_progress_fn)(const struct models_progress *p, void *user);

struct models_download_params {
    const char *endpoint;        /* base URL; NULL = $HF_ENDPOINT, else MODELS_DEFAULT_ENDPOINT */
    const char *token;           /* Hugging Face token (borrowed); NULL or "" = none */
    models_progress_fn progress; /* NULL = no progress reports */
    void *progress_user;         /* passed to progress */
    const atomic_int *cancel;    /* non-zero stops the download (VB_ERR_CANCELLED); NULL = never */
    long connect_timeout_s;      /* TCP/TLS connect limit; 0 = 30 s */
    long stall_timeout_s;        /* abort when no byte arrives for this long; 0 = 60 s */
    bool use_api;                /* ask the tree API for sizes and hashes first (default true) */
};

/* Fills p with the defaults above (no token, no progress, no cancel). */
void models_download_default_params(struct models_download_params *p);

/* What the server (or the registry) says a file should be. */
struct models_expect {
    uint64_t size;   /* bytes; 0 = unknown */
    char sha256[65]; /* lower-case hex; "" = unknown */
};

/* Sizes and SHA-256 of m's files from the tree API (GET {endpoint}/api/models/{repo}/tree/
 * {revision}); out has m->n_files entries, each filled from the registry first, then from
 * the API where the registry leaves it unknown. An API that answers with an HTTP error or
 * something we cannot parse leaves the entries as they were and returns VB_OK (the download
 * itself reports the real error); VB_ERR_UNAVAILABLE when the server cannot be reached. */
VB_WUR enum vb_err models_fetch_expect(const struct models_entry *m,
                                       const struct models_download_params *p,
                                       struct models_expect *out, char *why, size_t why_cap);

/* Downloads file f of m into models_dir/<m->dir>/ (which must exist), resuming its .part
 * file. `expect` may be NULL (registry values and server headers only). On success the
 * final file is in place, fsynced, with its .meta sidecar. */
VB_WUR enum vb_err models_download_file(const char *models_dir, const struct models_entry *m,
                                        size_t file_index, const struct models_expect *expect,
                                        const struct models_download_params *p, char *why,
                                        size_t why_cap);

/* Downloads every file of m that is not already present with the right size (creating the
 * directory). Stops at the first error. */
VB_WUR enum vb_err models_pull(const char *models_dir, const struct models_entry *m,
                               const struct models_download_params *p, char *why, size_t why_cap);

#endif
