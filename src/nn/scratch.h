/* scratch.h: a caller-owned buffer that grows on demand (activation conversions of the matmul
 * paths, kernel work space). */
#ifndef NN_SCRATCH_H
#define NN_SCRATCH_H

#include "core/vb.h"

struct nn_scratch {
    void *data;
    size_t cap;
};
void nn_scratch_release(struct nn_scratch *s);
/* Grows s to at least n bytes (contents not kept); false on OOM (s unchanged). */
VB_WUR bool nn_scratch_reserve(struct nn_scratch *s, size_t n);

#endif
