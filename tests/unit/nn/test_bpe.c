/* test_bpe.c: the byte-level BPE core against straightforward re-statements of the two merge
 * orders on random merge tables (including tables where a merge creates a pair ranked below
 * itself, where the orders differ), plus the byte alphabet. */
#include "core/vb.h"
#include "core/alloc.h"
#include "core/strmap.h"
#include "nn/bpe.h"
#include "unit/test.h"

#define MAX_SYMS 16

/* Symbols as strings, for the re-statements. */
struct word {
    char s[MAX_SYMS][MAX_SYMS + 1];
    size_t n;
};

static int32_t rank_of(const struct vb_strmap *m, const char *a, const char *b)
{
    char key[2 * MAX_SYMS + 2];
    snprintf(key, sizeof key, "%s %s", a, b);
    return vb_strmap_get(m, key, strlen(key));
}

static void merge_at(struct word *w, size_t i)
{
    size_t la = strlen(w->s[i]);
    memcpy(w->s[i] + la, w->s[i + 1], strlen(w->s[i + 1]) + 1);
    memmove(w->s[i + 1], w->s[i + 2], (w->n - i - 2) * sizeof w->s[0]);
    w->n--;
}

/* The lowest-ranked pair (leftmost of equals), or -1. */
static int lowest(const struct word *w, const struct vb_strmap *m, int32_t *rank)
{
    int best = -1;
    for (size_t i = 0; i + 1 < w->n; i++) {
        int32_t r = rank_of(m, w->s[i], w->s[i + 1]);
        if (r >= 0 && (best < 0 || r < *rank))
            best = (int)i, *rank = r;
    }
    return best;
}

/* GPT-2's encoder.py: every occurrence of the lowest-ranked pair, left to right. */
static void ref_all(struct word *w, const struct vb_strmap *m)
{
    int32_t r = -1;
    int b;
    while ((b = lowest(w, m, &r)) >= 0) {
        char first[MAX_SYMS + 1], second[MAX_SYMS + 1];
        memcpy(first, w->s[b], sizeof first);
        memcpy(second, w->s[b + 1], sizeof second);
        for (size_t i = 0; i + 1 < w->n; i++)
            if (strcmp(w->s[i], first) == 0 && strcmp(w->s[i + 1], second) == 0)
                merge_at(w, i);
    }
}

/* HF tokenizers / llama.cpp: one merge at a time, lowest rank, leftmost. */
static void ref_leftmost(struct word *w, const struct vb_strmap *m)
{
    int32_t r = -1;
    int b;
    while ((b = lowest(w, m, &r)) >= 0)
        merge_at(w, (size_t)b);
}

/* bpe_merge's symbols of text as a word. */
static struct word run(struct bpe_work *bw, const struct vb_strmap *m, enum bpe_order order,
                       const char *text)
{
    struct word w = {0};
    CHECK(bpe_merge(bw, m, order, text, strlen(text)));
    for (int32_t i = 0; i >= 0; i = bw->syms[i].next) {
        memcpy(w.s[w.n], text + bw->syms[i].start, (size_t)bw->syms[i].len);
        w.s[w.n][bw->syms[i].len] = '\0';
        w.n++;
    }
    return w;
}

static bool same(const struct word *a, const struct word *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->s[i], b->s[i]) != 0)
            return false;
    return true;
}

static uint32_t rnd(uint32_t *st)
{
    *st = *st * 1664525u + 1013904223u;
    return *st >> 8;
}

TEST(orders_differ_where_a_merge_makes_a_lower_pair)
{
    /* "ab a" ranks before "a b": merging one "a b" at a time lets "ab a" in first */
    static const char *const merges[] = {"ab a", "a b"};
    struct vb_strmap m;
    CHECK(vb_strmap_init(&m, 2));
    for (int32_t i = 0; i < 2; i++)
        vb_strmap_put(&m, merges[i], strlen(merges[i]), i);
    struct bpe_work bw = {0};
    struct word all = run(&bw, &m, BPE_LOWEST_ALL, "abab");
    struct word left = run(&bw, &m, BPE_LOWEST_LEFTMOST, "abab");
    CHECK(all.n == 2 && strcmp(all.s[0], "ab") == 0 && strcmp(all.s[1], "ab") == 0);
    CHECK(left.n == 2 && strcmp(left.s[0], "aba") == 0 && strcmp(left.s[1], "b") == 0);
    bpe_work_release(&bw);
    vb_strmap_release(&m);
}

TEST(random_tables_match_the_reference_loops)
{
    uint32_t st = 12345;
    struct bpe_work bw = {0};
    size_t differ = 0;
    for (int round = 0; round < 300; round++) {
        /* merges over symbols made of a, b, c: random pairs of random short strings */
        enum { N_MERGES = 24 };
        static char keys[N_MERGES][16];
        struct vb_strmap m;
        CHECK(vb_strmap_init(&m, N_MERGES));
        for (int32_t k = 0; k < N_MERGES; k++) {
            size_t la = 1 + rnd(&st) % 3, lb = 1 + rnd(&st) % 3, p = 0;
            for (size_t i = 0; i < la; i++)
                keys[k][p++] = (char)('a' + rnd(&st) % 3);
            keys[k][p++] = ' ';
            for (size_t i = 0; i < lb; i++)
                keys[k][p++] = (char)('a' + rnd(&st) % 3);
            keys[k][p] = '\0';
            vb_strmap_put(&m, keys[k], p, k);
        }
        for (int t = 0; t < 20; t++) {
            char text[MAX_SYMS + 1];
            size_t n = 1 + rnd(&st) % MAX_SYMS;
            for (size_t i = 0; i < n; i++)
                text[i] = (char)('a' + rnd(&st) % 3);
            text[n] = '\0';
            struct word ref = {.n = n};
            for (size_t i = 0; i < n; i++)
                ref.s[i][0] = text[i], ref.s[i][1] = '\0';
            struct word ra = ref, rl = ref;
            ref_all(&ra, &m);
            ref_leftmost(&rl, &m);
            struct word ga = run(&bw, &m, BPE_LOWEST_ALL, text);
            struct word gl = run(&bw, &m, BPE_LOWEST_LEFTMOST, text);
            CHECK_MSG(same(&ga, &ra), "all-occurrences order differs on \"%s\"", text);
            CHECK_MSG(same(&gl, &rl), "leftmost order differs on \"%s\"", text);
            differ += !same(&ra, &rl);
        }
        vb_strmap_release(&m);
    }
    CHECK(differ > 0); /* the tables exercise the case where the two orders part */
    bpe_work_release(&bw);
}

TEST(byte_alphabet)
{
    char out[8];
    CHECK(bpe_to_alphabet("a", 1, out) == 1 && out[0] == 'a');
    CHECK(bpe_to_alphabet(" ", 1, out) == 2 && memcmp(out, "\xC4\xA0", 2) == 0); /* Ġ */
    CHECK(bpe_to_alphabet("\n\xff", 2, out) == 4 && memcmp(out, "\xC4\x8A\xC3\xBF", 4) == 0);
}

TEST(strmap_first_value_stays)
{
    struct vb_strmap m = {0};
    CHECK_EQ_INT(vb_strmap_get(&m, "x", 1), -1); /* zeroed map: no keys */
    CHECK(vb_strmap_init(&m, 1000));
    char keys[1000][16];
    for (int i = 0; i < 1000; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        CHECK(vb_strmap_put(&m, keys[i], strlen(keys[i]), i));
    }
    CHECK(!vb_strmap_put(&m, "k7", 2, 99));
    CHECK_EQ_INT(vb_strmap_get(&m, "k7", 2), 7);
    CHECK_EQ_INT(vb_strmap_get(&m, "k999", 4), 999);
    CHECK_EQ_INT(vb_strmap_get(&m, "k1000", 5), -1);
    CHECK_EQ_INT(vb_strmap_get(&m, "k", 1), -1);
    CHECK_EQ_INT((int)m.n, 1000);
    vb_strmap_release(&m);
}

int main(void)
{
    RUN(orders_differ_where_a_merge_makes_a_lower_pair);
    RUN(random_tables_match_the_reference_loops);
    RUN(byte_alphabet);
    RUN(strmap_first_value_stays);
    return test_summary();
}
