/* autopull.h: background download of missing default models at server start
 * (MODELS_AUTO_DOWNLOAD), with a per-model state for the health document.
 *
 * One thread pulls the models one after the other and then exits. It never retries: when
 * the server cannot be reached it logs one line naming every model it could not fetch and
 * stops; partial files are kept and resumed by the next start or `vocero models pull`.
 *
 *   struct models_autopull *ap = models_autopull_start(&cfg, NULL);   // default models
 *   ... in GET /: vb_jw_key(&w, "models"); models_autopull_write_json(ap, &w);
 *   ... at shutdown: models_autopull_stop(ap);
 */
#ifndef VB_MODELS_AUTOPULL_H
#define VB_MODELS_AUTOPULL_H

#include "core/vb.h"
#include "core/config.h"
#include "core/json.h"

enum models_pull_state {
    MODELS_PULL_MISSING,     /* not installed and not being fetched */
    MODELS_PULL_QUEUED,      /* waiting for its turn in the download thread */
    MODELS_PULL_DOWNLOADING, /* being fetched: done/total bytes */
    MODELS_PULL_READY,       /* installed */
    MODELS_PULL_FAILED,      /* the download failed: reason */
};

struct models_pull_status {
    const char *name; /* registry name (static storage) */
    const char *kind; /* "llm" or "tts" (static storage) */
    enum models_pull_state state;
    uint64_t done;    /* bytes on disk (DOWNLOADING) */
    uint64_t total;   /* expected bytes, approximate while sizes are unknown; 0 = unknown */
    char reason[512]; /* FAILED: one line; MISSING: how to install it; else "" */
};

/* "missing", "queued", "downloading", "ready", "failed"; static storage. */
const char *models_pull_state_name(enum models_pull_state s);

/* Starts tracking `names` (a NULL-terminated list of registry names; NULL = the registry's
 * default models) under cfg->models_dir, and, when cfg->models_auto_download is true and some
 * are missing, a thread that downloads them with cfg->hf_token. cfg is copied: it may be
 * released afterwards. Returns NULL only when the thread cannot be created (logged); the
 * caller stops and frees the result with models_autopull_stop. */
struct models_autopull *models_autopull_start(const struct vb_config *cfg,
                                              const char *const *names);

/* Copies the state of up to cap models into out; returns the number of models tracked.
 * States other than DOWNLOADING/QUEUED are refreshed from the disk, so a model installed
 * with `vocero models pull` while the server runs shows as ready. ap may be NULL (0). */
size_t models_autopull_status(struct models_autopull *ap, struct models_pull_status *out,
                              size_t cap);

/* State of the model called name (false when not tracked). */
bool models_autopull_get(struct models_autopull *ap, const char *name,
                         struct models_pull_status *out);

/* true while the download thread is working. */
bool models_autopull_busy(struct models_autopull *ap);

/* Writes one JSON object:
 *   {"auto_download": true,
 *    "items": [{"name": "qwen2.5-3b-instruct", "kind": "llm", "state": "downloading",
 *               "bytes_done": 123, "bytes_total": 456, "progress": 0.27, "error": null}]}
 * "progress" is null when the total is unknown; "error" is the reason for failed and
 * missing models. No file-system paths are written (GET / needs no authentication), though
 * a failure reason may name one. ap NULL writes null. */
void models_autopull_write_json(struct models_autopull *ap, struct vb_jw *w);

/* Cancels a download in progress (its partial file is kept), joins the thread and frees
 * everything. NULL is fine. */
void models_autopull_stop(struct models_autopull *ap);

#endif
