/* mapfile.h: read-only memory mapping of a whole model file, shared by the GGUF, safetensors
 * and PyTorch-zip readers. */
#ifndef VB_NN_MAPFILE_H
#define VB_NN_MAPFILE_H

#include "core/vb.h"
#include "core/err.h"

struct nn_mapping {
    const void *base; /* NULL when nothing is mapped */
    size_t size;      /* bytes */
};

/* Maps `path`, which must be a regular file of min_size..max_size bytes (max_size 0 = no
 * upper limit). Errors, each with "PATH: reason" in why: VB_ERR_NOT_FOUND (no such file),
 * VB_ERR_FORMAT (not a regular file, or a size out of range), VB_ERR_IO. `willneed` asks
 * the kernel to start reading the file in the background. Release with nn_unmap_file. */
VB_WUR enum vb_err nn_map_file(const char *path, uint64_t min_size, uint64_t max_size,
                               bool willneed, struct nn_mapping *out, char *why, size_t why_cap);
/* Unmaps; a zeroed mapping is fine. */
void nn_unmap_file(struct nn_mapping *m);

#endif
