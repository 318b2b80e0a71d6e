/* alloc.c: the only place that calls malloc/free directly. */
#include "core/vb.h"
#include "core/alloc.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_long fault_countdown = -1;

void vb_alloc_fault_init(void)
{
    const char *s = getenv("VB_FAULT_ALLOC");
    if (s && *s)
        atomic_store(&fault_countdown, strtol(s, NULL, 10));
}

static bool fault_now(void)
{
    if (atomic_load(&fault_countdown) < 0)
        return false;
    return atomic_fetch_sub(&fault_countdown, 1) == 1;
}

static void oom(size_t n)
{
    fprintf(stderr, "vocero: out of memory allocating %zu bytes\n", n);
    abort();
}

void *vb_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *vb_xcalloc(size_t count, size_t n)
{
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (!p)
        oom(count * n);
    return p;
}

void *vb_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *vb_xstrdup(const char *s)
{
    return vb_xstrndup(s, strlen(s));
}

char *vb_xstrndup(const char *s, size_t n)
{
    char *p = vb_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void *vb_try_malloc(size_t n)
{
    if (fault_now())
        return NULL;
    return malloc(n ? n : 1);
}

void *vb_try_calloc(size_t count, size_t n)
{
    if (fault_now())
        return NULL;
    return calloc(count ? count : 1, n ? n : 1);
}

void *vb_try_realloc(void *p, size_t n)
{
    if (fault_now())
        return NULL;
    return realloc(p, n ? n : 1);
}

bool vb_try_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (*cap >= need)
        return true;
    size_t c = *cap ? *cap : 64;
    while (c < need) {
        if (c > SIZE_MAX / 2)
            return false;
        c *= 2;
    }
    if (c > SIZE_MAX / elem)
        return false;
    void *q = vb_try_realloc(*p, c * elem);
    if (!q)
        return false;
    *p = q;
    *cap = c;
    return true;
}

void vb_free(void *p)
{
    free(p);
}

void vb_free_secure(void *p, size_t n)
{
    if (!p)
        return;
    explicit_bzero(p, n);
    free(p);
}
