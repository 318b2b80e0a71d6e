/* s3gen_flow_internal.h: the S3Gen flow's weights, shared by s3gen_flow_load.c (the loader)
 * and s3gen_flow.c (the forward pass). Not for use outside these two files. */
#ifndef CB_S3GEN_FLOW_INTERNAL_H
#define CB_S3GEN_FLOW_INTERNAL_H

#include "core/vb.h"
#include "tts/chatterbox/s3_ops.h"
#include "tts/chatterbox/s3gen_flow.h"

#define EST_IN       (4 * CB_FLOW_N_MELS) /* [x; mu; spks; cond] */
#define TIME_SIN_DIM EST_IN               /* sinusoid width = estimator in_channels */
#define MAX_LAYERS   64

/* ---- weights ---- */

struct conformer {
    const float *norm_mha_w, *norm_mha_b, *norm_ff_w, *norm_ff_b; /* (D) */
    struct s3_linear q, k, v, out, pos;                           /* D -> D; pos without bias */
    const float *bias_u, *bias_v;                                 /* (H, D/H) */
    struct s3_linear w1, w2;                                      /* D -> FF -> D */
};

struct causal_block {
    struct s3_conv conv; /* k 3, left pad 2 */
    const float *ln_w, *ln_b;
};

struct resblock {
    struct causal_block b1, b2;
    struct s3_linear mlp; /* time_dim -> C, applied to mish(E) */
    struct s3_conv res;   /* k 1 */
};

struct tblock {
    const float *norm1_w, *norm1_b, *norm3_w, *norm3_b; /* (C) */
    struct s3_linear to_q, to_k, to_v, to_out;          /* C -> A (no bias) x3, A -> C */
    struct s3_linear ff1, ff2;                          /* C -> 4C -> C */
};

struct stage {
    struct resblock res;
    struct tblock *tb;   /* est_blocks */
    struct s3_conv post; /* down/up causal conv k 3 (unused for mid stages) */
};

struct cb_flow {
    struct s3_wstore ws;
    struct cb_flow_info info;
    const float *embedding; /* (6561, D) */
    struct s3_linear spk;   /* 192 -> 80 */
    /* encoder */
    struct s3_linear embed_lin, up_embed_lin;
    const float *embed_ln_w, *embed_ln_b, *up_embed_ln_w, *up_embed_ln_b, *after_w, *after_b;
    struct s3_conv look1, look2; /* k 4 (right pad 3), k 3 (left pad 2) */
    struct s3_conv up_conv;      /* k 5 (left pad 4) after nearest x2 */
    struct conformer *enc;       /* n_enc + n_up */
    struct s3_linear proj;       /* D -> 80 */
    /* estimator */
    struct s3_linear t_lin1, t_lin2, t_mix; /* 320 -> E -> E; 2E -> E (meanflow) */
    struct stage down, up, *mid;
    struct causal_block final_block;
    struct s3_conv final_proj; /* C -> 80, k 1 */
    int est_ff_max;            /* widest transformer-block FFN (scratch sizing) */
    bool attn_bf16;            /* attention products in bf16 (weights_bf16) */
};

#endif
