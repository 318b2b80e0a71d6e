/* alloc.h: allocation wrappers. vb_x* abort on OOM and are for small fixed sizes only;
 * vb_try_* return NULL and are for sizes that come from input or models. */
#ifndef VB_ALLOC_H
#define VB_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

/* Abort on OOM (small, fixed allocations). Caller frees with vb_free. */
void *vb_xmalloc(size_t n);
void *vb_xcalloc(size_t count, size_t n);
void *vb_xrealloc(void *p, size_t n);
char *vb_xstrdup(const char *s);
char *vb_xstrndup(const char *s, size_t n);

/* Return NULL on OOM or overflow (sizes from input). Caller frees with vb_free. */
void *vb_try_malloc(size_t n);
void *vb_try_calloc(size_t count, size_t n);
void *vb_try_realloc(void *p, size_t n);
/* Makes the array *p of *cap elements of elem bytes hold at least need elements, doubling
 * from 64 (contents kept, *p and *cap updated). false on OOM or overflow (*p unchanged). */
bool vb_try_grow(void **p, size_t *cap, size_t need, size_t elem);

/* Frees p; NULL is fine. */
void vb_free(void *p);
/* Zeroes n bytes of p before freeing it (keys, hashes, passwords). NULL is fine. */
void vb_free_secure(void *p, size_t n);

/* Fault injection for tests: when VB_FAULT_ALLOC=N is set in the environment, the N-th
 * vb_try_* allocation fails. */
void vb_alloc_fault_init(void);

#endif
