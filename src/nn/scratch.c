/* scratch.c: the grow-on-demand buffer of scratch.h. */
#include "core/vb.h"
#include "nn/scratch.h"
#include "core/alloc.h"

void nn_scratch_release(struct nn_scratch *s)
{
    vb_free(s->data);
    s->data = NULL;
    s->cap = 0;
}

bool nn_scratch_reserve(struct nn_scratch *s, size_t n)
{
    if (s->cap >= n)
        return true;
    void *p = vb_try_malloc(n);
    if (!p)
        return false;
    vb_free(s->data);
    s->data = p;
    s->cap = n;
    return true;
}
