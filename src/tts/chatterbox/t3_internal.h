/* t3_internal.h: the T3 weights and per-utterance context, shared by the files of the model:
 * t3_load.c (weights), t3.c (forward pass and generation), t3_cond.c (conditioning cache). */
#ifndef TTS_CHATTERBOX_T3_INTERNAL_H
#define TTS_CHATTERBOX_T3_INTERNAL_H

#include "core/vb.h"
#include "tts/chatterbox/t3.h"
#include "nn/matmul.h"
#include "nn/safetensors.h"
#include "nn/wmat.h"

/* One GPT-2 block. Matrices are the Conv1D weights transposed: n_out rows of n_in. */
struct cb_t3_layer {
    float *ln1_w, *ln1_b, *ln2_w, *ln2_b; /* (E) */
    struct nn_wmat qkv;                   /* c_attn: 3E rows of E (Q | K | V) */
    float *qkv_b;                         /* (3E) */
    struct nn_wmat proj;                  /* attn.c_proj: E rows of E */
    float *proj_b;                        /* (E) */
    struct nn_wmat fc;                    /* mlp.c_fc: 4E rows of E */
    float *fc_b;                          /* (4E) */
    struct nn_wmat fc_proj;               /* mlp.c_proj: E rows of 4E */
    float *fc_proj_b;                     /* (E) */
};

struct cb_t3_model {
    struct cb_t3_config cfg;
    struct nn_safetensors *st; /* owned: the embedding tables are gathered from it */
    const struct nn_st_tensor *text_emb, *speech_emb, *wpe; /* (V_text|V_speech|n_pos, E) */
    float *spk_w, *spk_b;       /* cond_enc.spkr_enc: (E, S) output-major, (E) */
    float *lnf_w, *lnf_b;       /* (E) */
    struct cb_t3_layer *layers; /* n_layer */
    struct nn_wmat head;        /* speech_head: V_speech rows of E */
    float *head_b;              /* (V_speech) */
    size_t weight_bytes;
    int n_fallback;         /* matrices kept in F32: n_in not a multiple of the wtype's block */
    char fallback[512];     /* their names, comma-separated (truncated with "...") */
    bool drop_source_pages; /* loading from a file mapping: release converted pages */
};

struct cb_t3_ctx {
    const struct cb_t3_model *m;
    struct nn_pool *pool;
    bool own_pool;
    int n_ctx, n_batch, n_past, n_threads;
    bool kv_f16;
    float *k_cache, *v_cache;     /* f32 cache: (n_layer, n_ctx, E) each */
    uint16_t *k16;                /* f16 cache: K (n_layer, n_ctx, E) */
    uint16_t *v16;                /* f16 cache: V (n_layer, n_ctx, E) */
    const struct nn_kernel *kf16; /* f32 -> f16 conversion */
    /* f16 cache, batches of >= NN_WMAT_GEMM_MIN_ROWS rows: attention through nn_mha (GEMMs;
     * bf16 on AMX for quantised weights) over the layer's cache rows widened to F32 */
    float *kv32; /* (2, kv32_rows, E): K rows then V rows, grown on demand */
    int kv32_rows;
    float *mha_work; /* nn_mha scratch, grown on demand */
    size_t mha_work_n;
    float *x;        /* (n_batch, E) residual stream */
    float *xb, *xb2; /* (n_batch, E) */
    float *qkv;      /* (n_batch, 3E) fused projections; Q read in place */
    float *att;      /* (n_batch, E) */
    float *hb;       /* (n_batch, 4E) */
    float *pos;      /* (E) one wpe row */
    float *work;     /* (n_threads, n_head, n_ctx) attention scores */
    float *logits;   /* (V) raw logits of the current step */
    float *emb;      /* (n_ctx, E) prefix / step embeddings */
    /* quantised weights without AMX rows for their type: per-thread dequantised panels */
    struct nn_wmat_work qwork;
    struct nn_scratch scratch;
    /* The conditioning rows [speaker | prompt] still valid in the cache (positions
     * 0..cond_rows-1; 0 = none) and what produced them: a later generation with the same
     * voice reuses them instead of recomputing ~376 rows. */
    int cond_rows;
    float *cond_spk;      /* (spk_dim) */
    int32_t *cond_prompt; /* (n_ctx) */
};

#endif
