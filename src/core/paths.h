/* paths.h: canonical folder paths (symlinks resolved, also for folders not created yet),
 * whether two folders overlap, and messages with the paths taken out. */
#ifndef VB_PATHS_H
#define VB_PATHS_H

#include "core/vb.h"
#include "core/err.h"

#define VB_PATH_MAX 4096 /* buffer size for vb_path_resolve */

/* The absolute form of path (relative to the working directory) with every symbolic link
 * resolved for the part that exists and ".", ".." and repeated slashes folded in the part
 * that does not exist yet. VB_ERR_INVALID for an empty or too long path, VB_ERR_IO when a
 * part that exists cannot be examined (a loop of links, no permission). */
VB_WUR enum vb_err vb_path_resolve(const char *path, char out[VB_PATH_MAX]);
/* true when the resolved paths a and b are the same folder or one lies inside the other. */
bool vb_path_overlap(const char *a, const char *b);

/* msg with its paths hidden, into out (at most cap bytes, NUL included): a path under one of
 * the n_dirs folders dirs[i] (as given or resolved) starts with names[i] instead
 * ("MODELS_DIR/chatterbox-turbo/t3.safetensors"); any other absolute path is cut to its last
 * component. A path starts a word (after a space, quote, parenthesis, ',', ';', ':' or '='). */
void vb_path_redact(const char *msg, const char *const *dirs, const char *const *names,
                    size_t n_dirs, char *out, size_t cap);

#endif
