/* storage.h: the server's folders. At start-up: DATA_DIR, STORAGE_DIR, VOICES_DIR and
 * MODELS_DIR must be apart, and one server at a time holds DATA_DIR. While running: files
 * that no row references are swept, and a full disk answers 507 naming the folder's setting. */
#ifndef VB_API_STORAGE_H
#define VB_API_STORAGE_H

#include "core/vb.h"
#include "core/config.h"
#include "http/http.h"

#define API_LOCK_FILE_NAME ".vocero.lock" /* in DATA_DIR, held while a server runs */

struct api_app;
struct api_sweeper;

/* Refuses DATA_DIR, STORAGE_DIR, VOICES_DIR and MODELS_DIR when two of them are the same
 * folder or one lies inside another (symbolic links resolved, also for folders not
 * created yet), then creates DATA_DIR and takes the instance lock in it, so that a second
 * server on the same data stops here having changed nothing. *lock_fd holds the lock
 * until closed. On error writes the reason into why. */
VB_WUR enum vb_err api_storage_claim(const struct vb_config *cfg, int *lock_fd, char *why,
                                     size_t why_cap);
/* Deletes, in STORAGE_DIR and VOICES_DIR, stale temporaries and the generated files
 * ("gen_<hex>.<ext>", "voice_<hex>.<ext>") that no row references, when older than a
 * minute (younger ones may belong to a request in flight). Any other file is kept. */
void api_storage_sweep(struct api_app *app);
/* Runs api_storage_sweep on a thread of its own a minute after start-up (when the files of a
 * crash just before it are past the grace period), then every SWEEP_INTERVAL_SECONDS (NULL
 * when the setting is 0 or the thread cannot start). Stop with api_storage_sweeper_stop (NULL is
 * fine). */
struct api_sweeper *api_storage_sweeper_start(struct api_app *app);
void api_storage_sweeper_stop(struct api_sweeper *s);
/* vb_file_write_atomic(dir, name, ...) for a request. A full disk or quota gives
 * VB_ERR_NO_SPACE (507) with a message on req that names the folder by its setting (never
 * its path) and an error in the log; nothing of the file is left behind. */
VB_WUR enum vb_err api_storage_save(struct http_request *req, const char *setting, const char *dir,
                                    const char *name, const void *data, size_t len);

/* msg for a client: every path in it that lies under DATA_DIR, STORAGE_DIR, VOICES_DIR or
 * MODELS_DIR (as configured or resolved) starts with the setting's name instead
 * ("MODELS_DIR/chatterbox-turbo/t3.safetensors"), and any other absolute path is cut to its
 * last component. Writes at most cap bytes (NUL included) to out. */
void api_storage_redact(const struct vb_config *cfg, const char *msg, char *out, size_t cap);

#endif
