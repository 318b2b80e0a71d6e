/* s3tokenizer.h: S3Tokenizer V2 (speech_tokenizer_v2_25hz): 128-bin log-mel at 100 Hz ->
 * two stride-2 Conv1d + GELU -> transformer blocks (rotary attention with an FSMN memory on
 * the values) -> FSQ projection to 8 dims x 3 levels -> speech tokens 0..6560 at 25 Hz.
 *
 *   struct cb_s3tok *tok; char why[256];
 *   cb_s3tok_load(st, "tokenizer.", NULL, &tok, why, sizeof why);
 *   int64_t toks[CB_S3TOK_MAX_TOKENS]; int n;
 *   cb_s3tok_encode(tok, pool, log_mel, n_frames, 0, toks, CB_S3TOK_MAX_TOKENS, &n, NULL);
 *   cb_s3tok_free(tok);
 *
 * Sizes (state width, layer count, mel bins) come from the tensor shapes; the head width is
 * fixed at 64 by the rotary table, so heads = state / 64. */
#ifndef CB_S3TOKENIZER_H
#define CB_S3TOKENIZER_H

#include "core/vb.h"
#include "core/err.h"
#include "nn/safetensors.h"
#include "nn/safetensors_write.h"
#include "nn/threadpool.h"

#define CB_S3TOK_HEAD_DIM    64
#define CB_S3TOK_CODEBOOK    6561 /* 3^8 */
#define CB_S3TOK_MAX_FRAMES  3000 /* 30 s of 100 Hz mel: one window of the reference model */
#define CB_S3TOK_MAX_TOKENS  750  /* tokens for CB_S3TOK_MAX_FRAMES frames */
#define CB_S3TOK_N_FFT       400
#define CB_S3TOK_HOP         160
#define CB_S3TOK_SAMPLE_RATE 16000

struct cb_s3tok;

struct cb_s3tok_config {
    bool weights_f16;  /* keep Linear/Conv weights as binary16 (~245 MB instead of ~490 MB) */
    bool weights_bf16; /* bf16 weights + activations on Intel AMX (falls back to weights_f16) */
};
void cb_s3tok_default_config(struct cb_s3tok_config *cfg);

struct cb_s3tok_info {
    int n_mels;  /* 128 */
    int n_state; /* 1280 (real) */
    int n_head;  /* n_state / 64 */
    int n_layer; /* 6 (real) */
};

/* Loads "<prefix>encoder.*", "<prefix>quantizer._codebook.project_down.*" and the
 * "<prefix>_mel_filters"/"<prefix>window" buffers (optional: NULL accessors when absent)
 * from `st` (only borrowed during the call). cfg NULL = defaults. Caller frees with
 * cb_s3tok_free. */
VB_WUR enum vb_err cb_s3tok_load(const struct nn_safetensors *st, const char *prefix,
                                 const struct cb_s3tok_config *cfg, struct cb_s3tok **out,
                                 char *why, size_t why_cap);
void cb_s3tok_free(struct cb_s3tok *tok);
void cb_s3tok_get_info(const struct cb_s3tok *tok, struct cb_s3tok_info *info);
/* The checkpoint's mel filterbank (n_mels x 201) and Hann window (400), or NULL if the file
 * lacks them. Borrowed until cb_s3tok_free. */
const float *cb_s3tok_mel_filters(const struct cb_s3tok *tok);
const float *cb_s3tok_window(const struct cb_s3tok *tok);

/* Number of tokens for n_frames mel frames: two stride-2 convolutions (k 3, pad 1). */
int cb_s3tok_n_tokens(int n_frames);

/* Optional intermediate outputs for tests (each may be NULL). */
struct cb_s3tok_debug {
    float *encoder_out;  /* (n_tokens, n_state) */
    float *project_down; /* (n_tokens, 8), before tanh */
};

/* log_mel: (n_mels, n_frames) channel-major, as produced by the S3Tokenizer front end.
 * max_tokens > 0 cuts the mel to 4*max_tokens frames first (the reference's max_len).
 * Writes cb_s3tok_n_tokens(frames used) tokens into tokens[cap] and their count to *n_out.
 * pool may be NULL (one thread). Errors: VB_ERR_INVALID (bad sizes, cap too small),
 * VB_ERR_TOO_LARGE (> CB_S3TOK_MAX_FRAMES frames after the cut), VB_ERR_NOMEM. */
VB_WUR enum vb_err cb_s3tok_encode(const struct cb_s3tok *tok, struct nn_pool *pool,
                                   const float *log_mel, int n_frames, int max_tokens,
                                   int64_t *tokens, int cap, int *n_out,
                                   const struct cb_s3tok_debug *dbg);

/* Widths for random checkpoints (cb_s3tok_add_random). */
struct cb_s3tok_shape {
    int n_mels;  /* 128 */
    int n_state; /* 1280 (multiple of 64) */
    int n_layer; /* 6 */
    int fsmn_k;  /* 31 (odd) */
};
/* The real model's widths (104 tensors under tokenizer.). */
struct cb_s3tok_shape cb_s3tok_real_shape(void);
/* Adds random weights in the official layout and names (under `prefix`, e.g. "tokenizer.") to
 * w: matrices and biases uniform +-1/sqrt(fan_in), LayerNorms 1/0, and the _mel_filters /
 * window buffers as small uniform values (our front end computes its own). */
VB_WUR enum vb_err cb_s3tok_add_random(struct nn_st_writer *w, const char *prefix,
                                       const struct cb_s3tok_shape *s, uint64_t seed);

#endif
