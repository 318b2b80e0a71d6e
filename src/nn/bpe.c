/* bpe.c: byte-level BPE merging with a binary heap of ranked pairs (see bpe.h). */
#include "core/vb.h"
#include "nn/bpe.h"
#include "core/alloc.h"
#include "core/unicode.h"

struct bpe_bigram {
    int32_t rank, left, right, size;
};

size_t bpe_to_alphabet(const char *s, size_t n, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += (size_t)vb_utf8_encode(vb_byte_to_cp((uint8_t)s[i]), out + k);
    return k;
}

/* ===== heap of pairs: lowest rank first, then leftmost ===== */

static bool bigram_less(const struct bpe_bigram *a, const struct bpe_bigram *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static bool heap_push(struct bpe_work *w, struct bpe_bigram b)
{
    if (!vb_try_grow((void **)&w->heap, &w->heap_cap, w->heap_n + 1, sizeof *w->heap))
        return false;
    struct bpe_bigram *h = w->heap;
    size_t i = w->heap_n++;
    h[i] = b;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!bigram_less(&h[i], &h[p]))
            break;
        struct bpe_bigram t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
    return true;
}

static struct bpe_bigram heap_pop(struct bpe_work *w)
{
    struct bpe_bigram *h = w->heap;
    struct bpe_bigram top = h[0];
    h[0] = h[--w->heap_n];
    size_t i = 0, n = w->heap_n;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && bigram_less(&h[l], &h[m]))
            m = l;
        if (r < n && bigram_less(&h[r], &h[m]))
            m = r;
        if (m == i)
            break;
        struct bpe_bigram t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
    return top;
}

/* ===== merging ===== */

/* Queues the pair (left, right) if it has a rank. false on out of memory. */
static bool try_pair(struct bpe_work *w, const struct vb_strmap *ranks, const char *word,
                     int32_t left, int32_t right)
{
    if (left < 0 || right < 0)
        return true;
    const struct bpe_sym *a = &w->syms[left], *b = &w->syms[right];
    size_t need = (size_t)a->len + 1 + (size_t)b->len;
    if (!vb_try_grow((void **)&w->key, &w->key_cap, need, 1))
        return false;
    memcpy(w->key, word + a->start, (size_t)a->len);
    w->key[a->len] = ' ';
    memcpy(w->key + a->len + 1, word + b->start, (size_t)b->len);
    int32_t rank = vb_strmap_get(ranks, w->key, need);
    if (rank < 0)
        return true;
    return heap_push(w, (struct bpe_bigram){rank, left, right, a->len + b->len});
}

/* Queues the pairs on both sides of symbol i. */
static bool try_neighbours(struct bpe_work *w, const struct vb_strmap *ranks, const char *word,
                           int32_t i)
{
    return try_pair(w, ranks, word, w->syms[i].prev, i) &&
           try_pair(w, ranks, word, i, w->syms[i].next);
}

static bool note_merged(struct bpe_work *w, int32_t i)
{
    if (!vb_try_grow((void **)&w->merged, &w->merged_cap, w->merged_n + 1, sizeof *w->merged))
        return false;
    w->merged[w->merged_n++] = i;
    return true;
}

bool bpe_merge(struct bpe_work *w, const struct vb_strmap *ranks, enum bpe_order order,
               const char *word, size_t len)
{
    /* one symbol per UTF-8 character */
    size_t n = 0;
    if (!vb_try_grow((void **)&w->syms, &w->syms_cap, len, sizeof *w->syms))
        return false;
    for (size_t i = 0; i < len;) {
        uint8_t b = (uint8_t)word[i];
        size_t cl = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
        if (cl > len - i)
            cl = len - i;
        w->syms[n] = (struct bpe_sym){(int32_t)i, (int32_t)cl, (int32_t)n - 1, (int32_t)n + 1};
        n++;
        i += cl;
    }
    if (n == 0)
        return true;
    w->syms[n - 1].next = -1;
    w->heap_n = 0;
    w->merged_n = 0;
    for (size_t i = 0; i + 1 < n; i++)
        if (!try_pair(w, ranks, word, (int32_t)i, (int32_t)i + 1))
            return false;
    int32_t rank = -1; /* BPE_LOWEST_ALL: the rank being merged */
    for (;;) {
        /* BPE_LOWEST_ALL: once no pair of this rank is left, the new neighbours compete */
        if (w->merged_n && (w->heap_n == 0 || w->heap[0].rank != rank)) {
            for (size_t k = 0; k < w->merged_n; k++)
                if (!try_neighbours(w, ranks, word, w->merged[k]))
                    return false;
            w->merged_n = 0;
        }
        if (w->heap_n == 0)
            break;
        struct bpe_bigram bg = heap_pop(w);
        struct bpe_sym *l = &w->syms[bg.left], *r = &w->syms[bg.right];
        if (l->len == 0 || r->len == 0 || l->len + r->len != bg.size || l->next != bg.right)
            continue; /* stale: one side has merged since */
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0)
            w->syms[r->next].prev = bg.left;
        if (order == BPE_LOWEST_LEFTMOST) {
            if (!try_neighbours(w, ranks, word, bg.left))
                return false;
        } else {
            rank = bg.rank;
            if (!note_merged(w, bg.left))
                return false;
        }
    }
    return true;
}

void bpe_work_release(struct bpe_work *w)
{
    vb_free(w->syms);
    vb_free(w->heap);
    vb_free(w->merged);
    vb_free(w->key);
    *w = (struct bpe_work){0};
}
