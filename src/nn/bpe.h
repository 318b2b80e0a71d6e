/* bpe.h: the byte-level BPE core of the Qwen2 (llm/tokenizer.c) and GPT-2 (Chatterbox
 * text_tokenizer.c) tokenizers: GPT-2's byte alphabet, and the merging of one pre-token's
 * symbols by merge rank. The pre-tokenizers, vocabularies and ids stay with each tokenizer.
 *
 *   struct bpe_work w = {0};                        // scratch, reused from word to word
 *   size_t n = bpe_to_alphabet(bytes, len, word);   // word has room for 2 * len bytes
 *   if (!bpe_merge(&w, &ranks, BPE_LOWEST_LEFTMOST, word, n)) -> out of memory
 *   for (int32_t i = 0; i >= 0; i = w.syms[i].next)  // when n > 0
 *       ... word + w.syms[i].start, w.syms[i].len ...
 *   bpe_work_release(&w);
 */
#ifndef VB_NN_BPE_H
#define VB_NN_BPE_H

#include "core/vb.h"
#include "core/strmap.h"

/* Which pair merges next. Both take the lowest rank; they differ when a merge creates a pair
 * ranked below the one just merged (never in a trained vocabulary, where a merge's parts are
 * ranked before it). */
enum bpe_order {
    BPE_LOWEST_LEFTMOST, /* one occurrence at a time, leftmost first, then rank again
                            (HF tokenizers, llama.cpp) */
    BPE_LOWEST_ALL,      /* every occurrence of the pair, left to right, then rank again
                            (GPT-2's encoder.py, the gpt-3-encoder npm package) */
};

struct bpe_sym {
    int32_t start, len; /* bytes of the word; len 0: merged into the symbol before */
    int32_t prev, next; /* neighbours, -1 at the ends */
};

struct bpe_bigram;

struct bpe_work {
    struct bpe_sym *syms; /* the result of bpe_merge: from index 0 along .next */
    size_t syms_cap;
    struct bpe_bigram *heap;
    size_t heap_n, heap_cap;
    int32_t *merged; /* BPE_LOWEST_ALL: symbols merged at the current rank */
    size_t merged_n, merged_cap;
    char *key; /* "left right" */
    size_t key_cap;
};

/* Writes the byte-alphabet UTF-8 of bytes s[0..n) into out (room for 2 * n bytes): each
 * byte becomes the character vb_byte_to_cp gives it. Returns the bytes written. */
size_t bpe_to_alphabet(const char *s, size_t n, char *out);

/* Splits word[0..len) (UTF-8) into one symbol per character (a lead byte with its
 * continuation bytes, cut at the end), then merges adjacent symbols while some pair has a
 * rank: `ranks` maps "left right" (the two texts joined by one space) to a rank, lower
 * first. The result is in w->syms (none when len is 0). false on out of memory. */
VB_WUR bool bpe_merge(struct bpe_work *w, const struct vb_strmap *ranks, enum bpe_order order,
                      const char *word, size_t len);

void bpe_work_release(struct bpe_work *w);

#endif
