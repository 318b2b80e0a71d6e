/* s3gen_flow.h: the S3Gen "flow" of Chatterbox-Turbo (speech tokens -> 80-bin log mel):
 * speaker affine, token embedding, UpsampleConformerEncoder (pre-lookahead, relative-position
 * conformer layers, x2 upsample), encoder_proj (= mu), and the MeanFlow ConditionalDecoder
 * estimator (time + r embeddings, causal ResBlocks, transformer blocks) run by a 2-step Euler
 * solver with caller-supplied initial noise (cb_flow_noise draws it from a seed). The model is
 * immutable after loading and may be shared by threads; each request uses its own state.
 *
 *   struct cb_flow_config cfg; cb_flow_default_config(&cfg);
 *   struct cb_flow *f; char why[256];
 *   cb_flow_load(st, "flow.", &cfg, &f, why, sizeof why);    // weights copied; st may close
 *   struct cb_flow_state *s; cb_flow_state_new(f, pool, &s);  // one per concurrent request
 *   cb_flow_inference(f, s, &in, mel, NULL);                    // mel (80, cb_flow_out_frames)
 *
 * Matrix layouts at the API: mel-like tensors are channel-major (80, T) as in PyTorch;
 * prompt_feat is (T_p, 80) as the reference's embed_ref produces it. Widths, depths and the
 * estimator's channel count come from the tensor shapes; only the estimator's attention head
 * count (not visible in the shapes) comes from the config. */
#ifndef CB_S3GEN_FLOW_H
#define CB_S3GEN_FLOW_H

#include "core/vb.h"
#include "core/err.h"
#include "nn/safetensors.h"
#include "nn/safetensors_write.h"
#include "nn/threadpool.h"

#define CB_FLOW_N_MELS        80
#define CB_FLOW_VOCAB         6561
#define CB_FLOW_SPK_DIM       192
#define CB_FLOW_TOKEN_MEL     2 /* mel frames per token */
#define CB_FLOW_LOOKAHEAD     3 /* pre-lookahead tokens (trimmed when not finalizing) */
#define CB_FLOW_MAX_TOKENS    4096
#define CB_FLOW_DEFAULT_STEPS 2

struct cb_flow_config {
    int est_heads; /* estimator attention heads (8 in the real model); head width = inner/heads */
    bool weights_f16;  /* keep Linear/Conv weights as binary16: half the memory (~230 MB instead
                          of ~460 MB for the real flow), same speed, ~1e-3 relative deviation */
    bool weights_bf16; /* bf16 weights and activations on Intel AMX (Sapphire Rapids+): half the
                          memory and ~2x faster, ~1e-2 relative deviation; without AMX this
                          falls back to weights_f16 */
};
void cb_flow_default_config(struct cb_flow_config *cfg);

struct cb_flow;
struct cb_flow_state;

struct cb_flow_info {
    int d_model;    /* encoder width (512) */
    int enc_heads;  /* 8 */
    int enc_ffn;    /* 2048 */
    int n_enc;      /* conformer layers before the upsample (6) */
    int n_up;       /* after it (4) */
    int est_ch;     /* estimator channels (256) */
    int est_inner;  /* estimator attention width (512) */
    int est_heads;  /* 8 */
    int est_blocks; /* transformer blocks per stage (4) */
    int est_mid;    /* mid stages (12) */
    int time_dim;   /* time-embedding width (1024) */
    bool meanflow;  /* time_embed_mixer present (r is used) */
};

/* Loads "<prefix>input_embedding", "spk_embed_affine_layer", "encoder.*", "encoder_proj",
 * "decoder.estimator.*" (prefix "flow." in s3gen_meanflow.safetensors). st is only borrowed
 * during the call. Caller frees with cb_flow_free. */
VB_WUR enum vb_err cb_flow_load(const struct nn_safetensors *st, const char *prefix,
                                const struct cb_flow_config *cfg, struct cb_flow **out, char *why,
                                size_t why_cap);
void cb_flow_free(struct cb_flow *f);
void cb_flow_get_info(const struct cb_flow *f, struct cb_flow_info *info);

/* Per-request scratch (grows to the largest length seen). pool borrowed (may be NULL). */
VB_WUR enum vb_err cb_flow_state_new(const struct cb_flow *f, struct nn_pool *pool,
                                     struct cb_flow_state **out);
void cb_flow_state_free(struct cb_flow_state *s);

/* spks (80) = spk_embed_affine_layer(xvec / max(||xvec||, 1e-12)); xvec (192). */
void cb_flow_speaker(const struct cb_flow *f, const float *xvec, float *spks);

/* Encoder over n tokens (< 6561 each): mu (80, 2n) channel-major; encoder_out (2n, d_model)
 * (after after_norm, before encoder_proj) is optional. VB_ERR_INVALID on a bad token id or
 * length. */
VB_WUR enum vb_err cb_flow_encode(const struct cb_flow *f, struct cb_flow_state *s,
                                  const int64_t *tokens, int n, float *mu, float *encoder_out);

/* One estimator evaluation: dxdt (80, T) = v(x, mu, spks, cond, t, r); x, mu, cond (80, T),
 * spks (80). r is ignored by a non-meanflow checkpoint. */
VB_WUR enum vb_err cb_flow_estimate(const struct cb_flow *f, struct cb_flow_state *s,
                                    const float *x, const float *mu, const float *spks,
                                    const float *cond, int T, float t, float r, float *dxdt);

struct cb_flow_input {
    const int64_t *prompt_tokens; /* (n_prompt) */
    int n_prompt;
    const int64_t *tokens; /* (n_tokens) generated speech tokens (already filtered) */
    int n_tokens;
    const float *prompt_feat; /* (n_prompt_feat, 80) prompt mel, time-major */
    int n_prompt_feat;        /* <= 2*(n_prompt+n_tokens) */
    const float *xvec;        /* (192) CAMPPlus x-vector */
    const float *noise;       /* (80, cb_flow_total_frames) initial x of the ODE */
    int n_steps;              /* Euler steps; 0 = CB_FLOW_DEFAULT_STEPS */
    bool finalize;            /* false: drop the last 2*lookahead frames (streaming) */
};

/* Fills z[n] with standard-normal noise from `seed` (splitmix64 + Box-Muller): the initial x
 * of the ODE (80 x cb_flow_total_frames), reproducible for a seed. */
void cb_flow_noise(float *z, size_t n, uint64_t seed);

/* Frames the ODE runs over (noise length) and frames returned, for an input. */
int cb_flow_total_frames(const struct cb_flow_input *in);
int cb_flow_out_frames(const struct cb_flow_input *in);

/* Optional intermediates for tests (each may be NULL). */
struct cb_flow_debug {
    float *spks;        /* (80) */
    float *encoder_out; /* (T, d_model) */
    float *mu;          /* (80, T) */
    float *dxdt[2];     /* (80, T) of steps 0 and 1 */
};

/* Full token -> mel: mel (80, cb_flow_out_frames(in)) = the solved x without the prompt
 * frames. Errors: VB_ERR_INVALID (bad ids/lengths), VB_ERR_NOMEM. */
VB_WUR enum vb_err cb_flow_inference(const struct cb_flow *f, struct cb_flow_state *s,
                                     const struct cb_flow_input *in, float *mel,
                                     const struct cb_flow_debug *dbg);

/* Widths for random checkpoints (cb_flow_add_random). */
struct cb_flow_shape {
    int d_model;      /* 512 */
    int enc_heads;    /* 8 */
    int enc_ffn;      /* 2048 */
    int n_enc;        /* 6 conformer layers before the upsample */
    int n_up;         /* 4 after it */
    int est_ch;       /* 256; time embedding and FFN width are 4x */
    int est_heads;    /* 8 */
    int est_head_dim; /* 64 */
    int est_blocks;   /* 4 transformer blocks per stage */
    int est_mid;      /* 12 mid stages */
};
/* The real model's widths (1122 tensors under flow.). */
struct cb_flow_shape cb_flow_real_shape(void);
/* Adds random weights in the official layout and names (under `prefix`, e.g. "flow.") to w:
 * matrices/kernels/biases uniform +-1/sqrt(fan_in), LayerNorms 1/0, embedding +-1. Load the
 * result with cfg.est_heads = s->est_heads. */
VB_WUR enum vb_err cb_flow_add_random(struct nn_st_writer *w, const char *prefix,
                                      const struct cb_flow_shape *s, uint64_t seed);

#endif
