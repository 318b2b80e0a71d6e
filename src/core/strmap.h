/* strmap.h: a string -> int32 hash map with borrowed keys (open addressing, FNV-1a), sized
 * once for a known number of keys: the vocabularies and merge tables of the BPE tokenizers.
 *
 *   struct vb_strmap m;
 *   if (!vb_strmap_init(&m, n_keys)) -> out of memory
 *   vb_strmap_put(&m, text, len, id);          // key bytes must outlive the map
 *   int32_t id = vb_strmap_get(&m, text, len); // -1 when absent
 *   vb_strmap_release(&m);
 */
#ifndef VB_STRMAP_H
#define VB_STRMAP_H

#include "core/vb.h"

struct vb_strmap_entry {
    const char *s; /* borrowed; NULL = empty slot */
    uint32_t len;
    int32_t val;
};

struct vb_strmap {
    struct vb_strmap_entry *e; /* cap slots; iterate them for every key (s != NULL) */
    size_t cap;                /* power of two, at least twice the keys it was sized for */
    size_t n;                  /* keys stored */
};

/* Room for n keys (more puts than n are not allowed). false on out of memory. */
VB_WUR bool vb_strmap_init(struct vb_strmap *m, size_t n);
void vb_strmap_release(struct vb_strmap *m);
/* Adds key s[0..len) -> val; false (and the map unchanged) when the key is there already:
 * the first value stays. */
bool vb_strmap_put(struct vb_strmap *m, const char *s, size_t len, int32_t val);
/* The value of key s[0..len), or -1. An uninitialised (zeroed) map has no keys. */
int32_t vb_strmap_get(const struct vb_strmap *m, const char *s, size_t len);

#endif
