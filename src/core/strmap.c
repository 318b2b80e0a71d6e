/* strmap.c: open-addressing string map with linear probing (see strmap.h). */
#include "core/vb.h"
#include "core/strmap.h"
#include "core/alloc.h"
#include "core/crypto.h"

bool vb_strmap_init(struct vb_strmap *m, size_t n)
{
    size_t cap = 16;
    while (cap < n * 2)
        cap *= 2;
    m->e = vb_try_calloc(cap, sizeof *m->e);
    m->cap = m->e ? cap : 0;
    m->n = 0;
    return m->e != NULL;
}

void vb_strmap_release(struct vb_strmap *m)
{
    vb_free(m->e);
    *m = (struct vb_strmap){0};
}

/* The slot holding key s, or the empty slot where it would go. */
static struct vb_strmap_entry *slot(const struct vb_strmap *m, const char *s, size_t len)
{
    size_t i = (size_t)vb_fnv1a64(VB_FNV64_OFFSET, s, len) & (m->cap - 1);
    for (;;) {
        struct vb_strmap_entry *e = &m->e[i];
        if (!e->s || (e->len == len && memcmp(e->s, s, len) == 0))
            return e;
        i = (i + 1) & (m->cap - 1);
    }
}

bool vb_strmap_put(struct vb_strmap *m, const char *s, size_t len, int32_t val)
{
    struct vb_strmap_entry *e = slot(m, s, len);
    if (e->s)
        return false;
    e->s = s ? s : "";
    e->len = (uint32_t)len;
    e->val = val;
    m->n++;
    return true;
}

int32_t vb_strmap_get(const struct vb_strmap *m, const char *s, size_t len)
{
    if (!m->e)
        return -1;
    const struct vb_strmap_entry *e = slot(m, s, len);
    return e->s ? e->val : -1;
}
