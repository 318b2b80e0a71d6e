/* fsutil.h: crash-safe file writes (temporary name, fsync, rename, fsync of the directory),
 * directory creation, sweeping of stale temporaries, random file names, a lock file. */
#ifndef VB_FSUTIL_H
#define VB_FSUTIL_H

#include "core/vb.h"
#include "core/err.h"

#define VB_TMP_PREFIX     ".tmp-" /* temporaries are VB_TMP_PREFIX "w_<hex>.part"; swept */
#define VB_NAME_MAX       96      /* buffer size for vb_random_file_name */
#define VB_RANDOM_HEX_LEN 24      /* hex digits in a vb_random_file_name */
#define VB_EXT_MAX        8       /* longest extension vb_file_name_generated accepts */

/* mkdir -p with `mode` for the directories it creates. */
VB_WUR enum vb_err vb_mkdir_p(const char *path, unsigned mode);
/* Writes len bytes to dir/name atomically: a reader sees either no file or the whole
 * file, never a partial one, even after a crash. Fails with VB_ERR_CONFLICT if dir/name
 * exists. */
VB_WUR enum vb_err vb_file_write_atomic(const char *dir, const char *name, const void *data,
                                        size_t len);
/* Removes dir/name; a missing file is fine. Callers that cannot act on a failure may
 * ignore the result (the start-up sweep removes what is left). */
enum vb_err vb_file_remove(const char *dir, const char *name);
/* Reads the whole regular file at path (at most max bytes) into a new NUL-terminated buffer
 * (caller frees *out with vb_free). VB_ERR_NOT_FOUND, VB_ERR_TOO_LARGE, VB_ERR_NOMEM,
 * VB_ERR_IO. */
VB_WUR enum vb_err vb_file_read_all(const char *path, size_t max, char **out, size_t *len);
/* Deletes the temporaries of vb_file_write_atomic in dir (left by a crash) whose last
 * change is at least min_age_s seconds old; other files are never touched. Returns how
 * many. */
int vb_dir_sweep_temps(const char *dir, int min_age_s);
/* "prefix_<24 hex>.ext" into out (VB_NAME_MAX bytes). */
VB_WUR enum vb_err vb_random_file_name(const char *prefix, const char *ext, char out[VB_NAME_MAX]);
/* true when name has the exact form vb_random_file_name gives for prefix: "prefix_", 24
 * lower-case hex digits, '.', 1 to VB_EXT_MAX of [a-z0-9]. */
bool vb_file_name_generated(const char *name, const char *prefix);
/* Takes an exclusive advisory lock (flock) on dir/name, creating the file, and writes the
 * process id into it. The lock lasts until *fd is closed (or the process ends).
 * VB_ERR_CONFLICT when another process holds it, with its pid in *holder (0 if unknown);
 * VB_ERR_IO / VB_ERR_NO_SPACE when the file cannot be created. */
VB_WUR enum vb_err vb_dir_lock(const char *dir, const char *name, int *fd, long *holder);
/* true when name is a plain file name we could have generated: 1..VB_NAME_MAX-1 bytes of
 * [A-Za-z0-9._-], not starting with '.', no "..". */
bool vb_file_name_safe(const char *name);

#endif
