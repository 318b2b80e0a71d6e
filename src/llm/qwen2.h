/* qwen2.h: the Qwen2 / Qwen2.5 decoder (qwen2 architecture in GGUF): weights loaded from a
 * memory-mapped GGUF file (immutable, shareable between contexts), and a context holding the
 * per-conversation state (KV cache, scratch) that evaluates token batches into logits. */
#ifndef LLM_QWEN2_H
#define LLM_QWEN2_H

#include "core/vb.h"
#include "core/err.h"
#include "nn/gguf.h"
#include "nn/threadpool.h"

struct qwen2_hparams {
    int64_t n_vocab;     /* rows of token_embd */
    int64_t n_ctx_train; /* qwen2.context_length */
    int64_t n_embd;
    int64_t n_layer;
    int64_t n_head;
    int64_t n_head_kv;
    int64_t head_dim;  /* n_embd / n_head */
    int64_t n_embd_kv; /* n_head_kv * head_dim */
    int64_t n_ff;
    float rms_eps;
    float rope_base;
};

struct qwen2_layer {
    const struct nn_tensor *attn_norm, *wq, *bq, *wk, *bk, *wv, *bv, *wo;
    const struct nn_tensor *ffn_norm, *w_gate, *w_up, *w_down;
};

struct qwen2_model {
    struct gguf_file *gguf; /* owned */
    struct qwen2_hparams hp;
    const struct nn_tensor *tok_embd, *output_norm, *output; /* output == tok_embd when tied */
    bool tied;
    struct qwen2_layer *layers; /* n_layer */
};

/* Loads and validates `path` (every required key and tensor, exact shapes, supported types).
 * On failure writes the reason (naming the key/tensor) into `why`. Caller frees with
 * qwen2_free. */
VB_WUR enum vb_err qwen2_load(const char *path, struct qwen2_model **out, char *why,
                              size_t why_cap);
/* Same over an opened GGUF; takes ownership of `g` (also on failure). */
VB_WUR enum vb_err qwen2_load_gguf(struct gguf_file *g, struct qwen2_model **out, char *why,
                                   size_t why_cap);
void qwen2_free(struct qwen2_model *m);

struct qwen2_ctx_params {
    int n_ctx;     /* KV cache positions; 0 = min(4096, training context) */
    int n_batch;   /* tokens per forward batch; 0 = 256 */
    int n_threads; /* 0 = nn_threads_default(0); ignored when pool is given */
    bool kv_f16;   /* KV cache in f16 (half the memory, llama.cpp's default) instead of f32 */
    struct nn_pool *pool; /* borrowed thread pool (must outlive the context, and not run two
                             contexts at once); NULL = the context starts its own */
};
struct qwen2_ctx_params qwen2_ctx_default_params(void);

struct qwen2_ctx;

/* Allocates the KV cache and scratch (sizes from the model: may fail with VB_ERR_NOMEM).
 * `m` is borrowed and must outlive the context. Caller frees with qwen2_ctx_free. */
VB_WUR enum vb_err qwen2_ctx_new(const struct qwen2_model *m, const struct qwen2_ctx_params *p,
                                 struct qwen2_ctx **out);
void qwen2_ctx_free(struct qwen2_ctx *c);
int qwen2_ctx_n_ctx(const struct qwen2_ctx *c);
/* Positions already in the KV cache. */
int qwen2_ctx_n_past(const struct qwen2_ctx *c);
/* Forgets every position >= n_past (0 clears the cache). */
void qwen2_ctx_truncate(struct qwen2_ctx *c, int n_past);

/* Feeds n tokens at positions n_past..n_past+n-1 and advances n_past. `logits`: NULL (none),
 * or n_vocab floats for the last token (all = false), or n*n_vocab floats, one row per token
 * (all = true). VB_ERR_TOO_LARGE when the context is full, VB_ERR_INVALID for an id out of
 * range, VB_ERR_NOMEM. */
VB_WUR enum vb_err qwen2_eval(struct qwen2_ctx *c, const int32_t *tokens, int n, float *logits,
                              bool all);

#endif
