/* t3.h: Chatterbox-Turbo T3, the text -> speech-token transformer: a GPT-2 (medium) backbone
 * over [speaker | prompt speech tokens | text | START] with a KV cache, the speech head, and the
 * turbo sampling loop (temperature -> top-k -> top-p -> repetition penalty, seeded draw, stop
 * token 6562, length limit). Weights come from t3_turbo_v1.safetensors by their real names and
 * are converted once at load (GPT-2 Conv1D [in,out] handled; f32/f16 as packed GEMM panels,
 * other types quantised to ggml rows). A model is immutable after loading and may be shared
 * by any number of contexts on different threads; a context is used by one thread at a time. */
#ifndef TTS_CHATTERBOX_T3_H
#define TTS_CHATTERBOX_T3_H

#include "core/vb.h"
#include "core/err.h"
#include "nn/threadpool.h"
#include "nn/types.h"

#define CB_T3_SPEECH_START    6561 /* START speech token (first input of the speech part) */
#define CB_T3_SPEECH_STOP     6562 /* STOP speech token (ends generation, removed from output) */
#define CB_T3_SPEECH_CODES    6561 /* real speech codes are 0..6560 */
#define CB_T3_MAX_PROMPT      375  /* speech_cond_prompt_len */
#define CB_T3_DEFAULT_MAX_GEN 1000 /* max_gen_len of inference_turbo */

/* Model shape and load options. cb_t3_default_config() gives the real Chatterbox-Turbo values;
 * the reference vectors use a shrunk GPT-2 (n_embd 64, n_head 4, n_layer 2). */
struct cb_t3_config {
    int n_layer;      /* 24 transformer blocks */
    int n_embd;       /* 1024 model width */
    int n_head;       /* 16 attention heads (head dim = n_embd / n_head) */
    int n_positions;  /* 8196 rows of tfmr.wpe */
    int text_vocab;   /* 50276 rows of text_emb */
    int speech_vocab; /* 6563 rows of speech_emb / speech_head */
    int spk_dim;      /* 256 VoiceEncoder embedding size (cond_enc.spkr_enc input) */
    float ln_eps;     /* 1e-5 */
    /* Type the matrices (attention, MLP, speech head) are converted to at load: NN_TYPE_F32
     * (exact), or any matmul weight type (f16, bf16, q8_0, q4_0, q4_k, q5_k, q6_k, ...). A
     * matrix whose input width is not a multiple of the type's block stays F32. Embedding
     * tables are always gathered in F32. */
    enum nn_type wtype;
};
struct cb_t3_config cb_t3_default_config(void);
/* Parses a weight type name ("f32", "f16", "q8_0", "q4_0", "q4_k", ...) into *out; false for
 * names that are not matmul weight types. */
VB_WUR bool cb_t3_wtype_parse(const char *s, enum nn_type *out);

struct cb_t3_model;
struct nn_st_writer;

/* Adds random weights in the official t3_turbo_v1.safetensors layout and names (under
 * `prefix`, usually "") to w: all 299 tensors of cfg's shapes (tfmr.wte and text_head
 * included, as shipped, though unused), matrices uniform with std 0.02 (GPT-2's init scale),
 * LayerNorm weights 1, biases 0. VB_ERR_INVALID for a bad config, else the writer's errors. */
VB_WUR enum vb_err cb_t3_add_random(struct nn_st_writer *w, const char *prefix,
                                    const struct cb_t3_config *cfg, uint64_t seed);

/* Loads and validates the T3 weights of `path` (names and shapes against cfg; NULL = default
 * config). Errors name the missing/mismatched tensor in `why`. Caller frees with cb_t3_free. */
VB_WUR enum vb_err cb_t3_load(const char *path, const struct cb_t3_config *cfg,
                              struct cb_t3_model **out, char *why, size_t why_cap);
/* Same from a safetensors image in memory, borrowed until cb_t3_free (benchmarks, fuzzing). */
VB_WUR enum vb_err cb_t3_load_memory(const void *data, size_t len, const struct cb_t3_config *cfg,
                                     struct cb_t3_model **out, char *why, size_t why_cap);
void cb_t3_free(struct cb_t3_model *m);
const struct cb_t3_config *cb_t3_model_config(const struct cb_t3_model *m);
/* Bytes of converted weights the model owns (matrices + small vectors). */
size_t cb_t3_model_weight_bytes(const struct cb_t3_model *m);
/* Matrices kept in F32 although cfg.wtype asked for another type, because their input width is
 * not a multiple of that type's block (256 for the K-quants); loading logs their names. */
int cb_t3_model_f32_fallbacks(const struct cb_t3_model *m);

/* Rows of the prefix for a given prompt/text length: 1 + n_prompt + n_text + 1. */
int cb_t3_prefix_len(int n_prompt, int n_text);
/* Writes the prefix embeddings (no positional term) into out, cb_t3_prefix_len(..) rows of
 * n_embd: [spkr_enc(spk_emb) | speech_emb(prompt) | text_emb(text) | speech_emb(START)].
 * spk_emb has spk_dim floats. VB_ERR_INVALID for an id out of range. */
VB_WUR enum vb_err cb_t3_embed_prefix(const struct cb_t3_model *m, const float *spk_emb,
                                      const int32_t *prompt, int n_prompt, const int32_t *text,
                                      int n_text, float *out);

/* speech_emb[token] into out (n_embd floats): the input row of a decoding step.
 * VB_ERR_INVALID for an id out of range. */
VB_WUR enum vb_err cb_t3_embed_speech(const struct cb_t3_model *m, int32_t token, float *out);

struct cb_t3_ctx_params {
    int n_ctx;     /* KV-cache positions; 0 = min(n_positions, 2560) */
    int n_batch;   /* rows per prefill batch; 0 = 512 */
    int n_threads; /* 0 = nn_threads_default(0); ignored when pool is given */
    /* Thread pool to run on (borrowed, must outlive the context; shared with other work of
     * the same thread, e.g. S3Gen), or NULL: the context starts its own. */
    struct nn_pool *pool;
    /* KV cache in f16 (true by default: half the cache memory and bandwidth, which grow
     * with the sequence; on the random reference model the logits move by ~0.04 of a std ~4,
     * tokens unchanged) or f32 (false: the reference's numerics). */
    bool kv_f16;
};
struct cb_t3_ctx_params cb_t3_ctx_default_params(void);

struct cb_t3_ctx;

/* Per-utterance state: KV cache, scratch, sampler buffers. `m` is borrowed and must outlive
 * the context. Sizes come from the model: may fail with VB_ERR_NOMEM. Caller frees with
 * cb_t3_ctx_free. */
VB_WUR enum vb_err cb_t3_ctx_new(const struct cb_t3_model *m, const struct cb_t3_ctx_params *p,
                                 struct cb_t3_ctx **out);
void cb_t3_ctx_free(struct cb_t3_ctx *c);
int cb_t3_ctx_n_ctx(const struct cb_t3_ctx *c);
int cb_t3_ctx_n_past(const struct cb_t3_ctx *c);
/* Forgets the positions (n_past = 0); the cached conditioning rows stay valid until a
 * forward pass overwrites them. */
void cb_t3_ctx_reset(struct cb_t3_ctx *c);
/* Rows of [speaker | prompt] conditioning kept from the last generation (0 = none). */
int cb_t3_ctx_cond_cached(const struct cb_t3_ctx *c);

/* Snapshots of the cached conditioning rows (their K/V in every layer plus the speaker
 * embedding and prompt tokens that produced them), so another context of the same model
 * (another worker) skips the ~376-row prefill for a voice already seen: ~37 MB at the real
 * size with the f16 cache. In-memory use only (native byte order). */
/* Bytes cb_t3_ctx_cond_export needs now (0 when nothing is cached). */
size_t cb_t3_ctx_cond_bytes(const struct cb_t3_ctx *c);
/* Writes the snapshot into buf (cap bytes) and its size into *len. VB_ERR_NOT_FOUND when
 * nothing is cached, VB_ERR_TOO_LARGE when cap is short. */
VB_WUR enum vb_err cb_t3_ctx_cond_export(struct cb_t3_ctx *c, void *buf, size_t cap, size_t *len);
/* Installs a snapshot from a context with the same model, weight type and KV type (the next
 * cb_t3_generate with that voice reuses it). VB_ERR_INVALID for anything else. */
VB_WUR enum vb_err cb_t3_ctx_cond_import(struct cb_t3_ctx *c, const void *buf, size_t len);

/* Runs n embedding rows (n_embd each, no positional term: wpe[n_past + i] is added here) at
 * positions n_past.. and advances n_past. hidden: NULL or n rows of n_embd (after ln_f);
 * logits: NULL or speech_vocab raw speech_head logits of the last row. VB_ERR_TOO_LARGE when
 * the cache is full, VB_ERR_NOMEM. */
VB_WUR enum vb_err cb_t3_forward(struct cb_t3_ctx *c, const float *embeds, int n, float *hidden,
                                 float *logits);

struct cb_t3_gen_params {
    float temperature;        /* 0.8; <= 0: no temperature and argmax instead of a draw */
    int top_k;                /* 1000; <= 0: off */
    float top_p;              /* 0.95; >= 1: off */
    float repetition_penalty; /* 1.2; 1: off */
    int max_gen_len;          /* 1000 steps after the first token (<= max_gen_len + 1 tokens) */
    uint64_t seed;            /* same seed + same inputs = same tokens */
};
struct cb_t3_gen_params cb_t3_gen_default_params(void);

/* Optional callbacks during generation (all may be NULL). on_token sees every sampled token
 * as it is drawn (STOP included) and returns false to cancel (VB_ERR_CANCELLED); on_logits
 * sees the raw speech_head logits of each step before processing. */
struct cb_t3_gen_hooks {
    bool (*on_token)(void *user, int32_t token);
    void (*on_logits)(void *user, int step, const float *logits, int n);
    void *user;
};

/* The turbo loop: prefill with the prefix, draw the first token with START as the penalty
 * history, then one token per step from speech_emb(last) until STOP or max_gen_len steps.
 * Writes the tokens without a trailing STOP into tokens (cap >= max_gen_len + 1) and their
 * count into *n_tokens. Starts a new sequence; when the previous generation on this context
 * had the same speaker embedding and prompt tokens, their cached rows are reused (~8x less
 * prefill for a 375-token prompt; the same result, bit for bit with f32/f16 weights, within
 * quantisation noise for quantised weights when the text part is small, because batches take
 * another product path than single rows from 16 rows: nn_matmul_amx_rows where the CPU has
 * AMX (INT8 tiles, or BF16 with NN_AMX=all: ~1.5x faster prefill), else the F32 GEMM on
 * dequantised weights; attention through nn_mha). The caller keeps only ids < 6561 before
 * S3Gen (cb_t3_tokens_for_s3gen). */
VB_WUR enum vb_err cb_t3_generate(struct cb_t3_ctx *c, const float *spk_emb, const int32_t *prompt,
                                  int n_prompt, const int32_t *text, int n_text,
                                  const struct cb_t3_gen_params *gp,
                                  const struct cb_t3_gen_hooks *hooks, int32_t *tokens, int cap,
                                  int *n_tokens);

/* A generation limit proportional to the text (the reference always allows 1000 steps):
 * 20 speech tokens (0.8 s of audio) per text token plus 75 (3 s), capped at
 * CB_T3_DEFAULT_MAX_GEN. Ordinary English runs at 5-8 speech tokens per text token, so this
 * only cuts runaway generations short. */
int cb_t3_max_gen_for_text(int n_text);

/* The ids S3Gen receives (tts_turbo.generate): every id < 6561 of tokens in order, then three
 * silence tokens 4299. Writes at most cap ids into out and returns how many it wrote
 * (n + 3 suffices). */
#define CB_T3_SILENCE_TOKEN 4299
int cb_t3_tokens_for_s3gen(const int32_t *tokens, int n, int32_t *out, int cap);

/* The logit processors in the reference order, in place on n logits: temperature (if > 0 and
 * != 1), top-k, top-p, repetition penalty over the distinct ids of hist (ids outside 0..n-1
 * are ignored). `work` holds n + n_hist floats. Exposed for tests. */
void cb_t3_process_logits(float *logits, int n, const struct cb_t3_gen_params *gp,
                          const int32_t *hist, int n_hist, float *work);

#endif
