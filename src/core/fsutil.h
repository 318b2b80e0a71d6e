/* fsutil.h: crash-safe file writes (temporary name, fsync, rename, fsync of the directory),
 * directory creation, sweeping of stale temporaries, random file names. */
#ifndef VB_FSUTIL_H
#define VB_FSUTIL_H

#include "core/vb.h"
#include "core/err.h"

#define VB_TMP_PREFIX ".tmp-" /* temporaries start with this; swept at start-up */
#define VB_NAME_MAX   96      /* buffer size for vb_random_file_name */

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
/* Deletes every VB_TMP_PREFIX file in dir (left by a crash); returns how many. */
int vb_dir_sweep_temps(const char *dir);
/* "prefix_<24 hex>.ext" into out (VB_NAME_MAX bytes). */
VB_WUR enum vb_err vb_random_file_name(const char *prefix, const char *ext, char out[VB_NAME_MAX]);
/* true when name is a plain file name we could have generated: 1..VB_NAME_MAX-1 bytes of
 * [A-Za-z0-9._-], not starting with '.', no "..". */
bool vb_file_name_safe(const char *name);

#endif
