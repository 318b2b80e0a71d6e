/* voice_cond.h: Chatterbox-Turbo reference-voice conditionals (tts_turbo.py
 * prepare_conditionals): from a mono reference clip, the T3 speaker embedding (VoiceEncoder)
 * and prompt speech tokens (S3Tokenizer, first 15 s at 16 kHz), and the S3Gen x-vector
 * (CAMPPlus), prompt tokens and prompt mel (first 10 s at 24 kHz). Computed once per voice;
 * saved/loaded as a small safetensors file so later requests skip the encoders.
 *
 *   struct cb_voice_encoders enc = {.fe = fe, .ve = ve, .campplus = cp, .tok = tok};
 *   struct cb_voice_cond c;
 *   if (cb_voice_cond_compute(&enc, pool, NULL, wav, n, rate, &c, why, sizeof why)) -> error
 *   cb_voice_cond_save(&c, "voice.conds.safetensors", why, sizeof why);
 *   cb_voice_cond_release(&c);
 */
#ifndef TTS_CHATTERBOX_VOICE_COND_H
#define TTS_CHATTERBOX_VOICE_COND_H

#include "core/vb.h"
#include "core/err.h"
#include "nn/threadpool.h"
#include "tts/chatterbox/campplus.h"
#include "tts/chatterbox/frontend.h"
#include "tts/chatterbox/s3tokenizer.h"
#include "tts/chatterbox/voice_encoder.h"

#define CB_VC_DEC_COND_LEN  240000 /* S3Gen reference: first 10 s at 24 kHz */
#define CB_VC_ENC_COND_LEN  240000 /* T3 prompt tokens: first 15 s at 16 kHz */
#define CB_VC_T3_PROMPT_MAX 375    /* speech_cond_prompt_len */
#define CB_VC_FORMAT        "vocero-chatterbox-conds-1"

/* The loaded encoders (all borrowed). */
struct cb_voice_encoders {
    const struct cb_frontend *fe;
    const struct cb_ve *ve;
    const struct cb_campplus *campplus;
    const struct cb_s3tok *tok;
};

struct cb_voice_cond_params {
    bool norm_loudness; /* true: scale the clip to target_lufs first (BS.1770) */
    double target_lufs; /* -27 */
    double min_seconds; /* 5.0: the reference rejects clips of <= 5 s; 0 accepts any length */
};
struct cb_voice_cond_params cb_voice_cond_default_params(void);

/* All arrays owned (cb_voice_cond_release frees). */
struct cb_voice_cond {
    int spk_dim;         /* 256 */
    float *speaker_emb;  /* (spk_dim) VoiceEncoder embedding of the whole 16 kHz clip */
    int n_t3_tokens;     /* <= 375 */
    int64_t *t3_tokens;  /* T3 cond_prompt_speech_tokens */
    int xvec_dim;        /* 192 */
    float *xvector;      /* (xvec_dim) CAMPPlus embedding (S3Gen `embedding`) */
    int n_prompt_tokens; /* flow prompt_token count, <= n_prompt_frames / 2 */
    int64_t *prompt_tokens;
    int n_prompt_frames; /* T_p = floor(len24 / 480), 500 for 10 s */
    float *prompt_feat;  /* (n_prompt_frames, 80) time-major, as prompt_feat (1, T_p, 80) */
};

/* From `n` mono samples at `sample_rate` (any rate; resampled with libsoxr to 24 kHz first).
 * VB_ERR_UNPROCESSABLE when the clip is too short (why says so), VB_ERR_INVALID for bad
 * arguments, VB_ERR_NOMEM. p NULL = defaults. On error out is empty. */
VB_WUR enum vb_err cb_voice_cond_compute(const struct cb_voice_encoders *enc, struct nn_pool *pool,
                                         const struct cb_voice_cond_params *p, const float *wav,
                                         int64_t n, int sample_rate, struct cb_voice_cond *out,
                                         char *why, size_t why_cap);
void cb_voice_cond_release(struct cb_voice_cond *c);

/* Safetensors with speaker_emb, t3_tokens, xvector, prompt_tokens, prompt_feat and
 * __metadata__ format = CB_VC_FORMAT; written atomically. */
VB_WUR enum vb_err cb_voice_cond_save(const struct cb_voice_cond *c, const char *path, char *why,
                                      size_t why_cap);
/* Reads and validates a file written by cb_voice_cond_save. VB_ERR_NOT_FOUND when absent,
 * VB_ERR_FORMAT with the reason otherwise. */
VB_WUR enum vb_err cb_voice_cond_load(const char *path, struct cb_voice_cond *out, char *why,
                                      size_t why_cap);

/* Reads the repository's built-in voice (conds.pt, a PyTorch zip pickle) with the safe reader
 * of nn/torch_zip.h: t3.speaker_emb, t3.cond_prompt_speech_tokens, gen.prompt_token,
 * gen.prompt_feat, gen.embedding. VB_ERR_NOT_FOUND when absent, VB_ERR_FORMAT otherwise. */
VB_WUR enum vb_err cb_voice_cond_load_pt(const char *path, struct cb_voice_cond *out, char *why,
                                         size_t why_cap);

#endif
