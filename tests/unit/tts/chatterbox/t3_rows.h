/* t3_rows.h: a fixed T3 workload for tests that compare two models or two settings: 60 rows
 * prefilled in batches of 23 (the batched GEMM path), then 10 single rows (the decode path). */
#ifndef VB_TEST_CHATTERBOX_T3_ROWS_H
#define VB_TEST_CHATTERBOX_T3_ROWS_H

#include "tts/chatterbox/t3.h"
#include "unit/test.h"

/* Runs the 70 rows of emb (70 x n_embd) through a fresh context; writes the 10 decode logits
 * rows (10 x speech_vocab). */
static void run_rows(const struct cb_t3_model *m, bool kv_f16, int threads, const float *emb,
                     float *logits)
{
    const int E = cb_t3_model_config(m)->n_embd, V = cb_t3_model_config(m)->speech_vocab;
    struct cb_t3_ctx_params p = cb_t3_ctx_default_params();
    p.n_ctx = 128;
    p.n_batch = 23;
    p.n_threads = threads;
    p.kv_f16 = kv_f16;
    struct cb_t3_ctx *c = NULL;
    CHECK(cb_t3_ctx_new(m, &p, &c) == VB_OK);
    if (!c)
        return;
    CHECK(cb_t3_forward(c, emb, 60, NULL, NULL) == VB_OK);
    for (int i = 0; i < 10; i++)
        CHECK(cb_t3_forward(c, emb + (size_t)(60 + i) * E, 1, NULL, logits + (size_t)i * V) ==
              VB_OK);
    cb_t3_ctx_free(c);
}

#endif
