/* voice_encoder.h: Chatterbox's VoiceEncoder (ve.safetensors): 16 kHz speech -> top-db trim ->
 * 40-bin power mel -> overlapping 160-frame partials -> 3-layer LSTM (256) -> projection ->
 * ReLU -> L2 norm per partial -> mean -> L2 norm: the 256-d speaker embedding T3 conditions on.
 *
 *   struct cb_ve *ve;
 *   if (cb_ve_load(st, "", NULL, &ve, why, sizeof why)) -> error naming the tensor
 *   float emb[256]; cb_ve_embed_wav(ve, fe, pool, wav16k, n, emb);
 *   cb_ve_free(ve);
 *
 * Sizes (mel bins, hidden width, layer count, embedding size) come from the tensor shapes; the
 * model is immutable after loading and may be shared by threads.
 */
#ifndef TTS_CHATTERBOX_VOICE_ENCODER_H
#define TTS_CHATTERBOX_VOICE_ENCODER_H

#include "core/vb.h"
#include "core/err.h"
#include "nn/safetensors.h"
#include "nn/safetensors_write.h"
#include "nn/threadpool.h"
#include "tts/chatterbox/frontend.h"

#define CB_VE_MAX_LAYERS 8

struct cb_ve_config {
    int partial_frames;  /* 160 mel frames per partial */
    double rate;         /* 1.3 partials per second -> frame step round(16000/rate/160) = 77 */
    double min_coverage; /* 0.8: a last partial is added when it would be this full */
    int trim_top_db;     /* 20 (librosa.effects.trim); 0 disables trimming */
};
struct cb_ve_config cb_ve_default_config(void);

struct cb_ve;

/* Loads "<prefix>lstm.weight_ih_l{k}", "...weight_hh_l{k}", "...bias_ih_l{k}",
 * "...bias_hh_l{k}" (k = 0.. while present) and "<prefix>proj.weight/.bias" from st (the
 * data is copied; st may be closed afterwards). cfg NULL = defaults. Caller frees with
 * cb_ve_free. VB_ERR_FORMAT / VB_ERR_NOT_FOUND with the tensor named in why. */
VB_WUR enum vb_err cb_ve_load(const struct nn_safetensors *st, const char *prefix,
                              const struct cb_ve_config *cfg, struct cb_ve **out, char *why,
                              size_t why_cap);
void cb_ve_free(struct cb_ve *ve);
int cb_ve_embed_dim(const struct cb_ve *ve); /* 256 */
int cb_ve_n_mels(const struct cb_ve *ve);    /* 40 */

/* librosa.effects.trim(top_db): frame RMS (2048 / hop 512, centred, zero padded), keep
 * [first*512, min(n, (last+1)*512)) over frames within top_db of the loudest (all-zero
 * input keeps everything, as librosa does). */
void cb_ve_trim(const float *wav, int64_t n, int top_db, int64_t *start, int64_t *end);

/* Number of partials for T mel frames and the frame count they span (target, >= or < T). */
int cb_ve_num_partials(const struct cb_ve *ve, int64_t T, int64_t *target);

/* Embedding from a mel already computed, (T, n_mels) time-major. partials (optional, NULL):
 * receives cb_ve_num_partials rows of embed_dim. VB_ERR_INVALID for T < 1, VB_ERR_NOMEM. */
VB_WUR enum vb_err cb_ve_embed_mel(const struct cb_ve *ve, struct nn_pool *pool, const float *mel,
                                   int64_t T, float *embed, float *partials);
/* The whole path from 16 kHz float audio: trim, mel, embed. VB_ERR_INVALID when nothing is
 * left after trimming or the clip is too short for the mel (<= 200 samples). */
VB_WUR enum vb_err cb_ve_embed_wav(const struct cb_ve *ve, const struct cb_frontend *fe,
                                   struct nn_pool *pool, const float *wav, int64_t n, float *embed);

/* Adds random weights in the official ve.safetensors layout and names (under `prefix`) to w:
 * n_layers LSTM layers (n_mels -> hidden), proj (hidden -> embed), the two similarity
 * scalars; uniform +-1/sqrt(hidden) like PyTorch's LSTM init. Real size: 40, 256, 3, 256. */
VB_WUR enum vb_err cb_ve_add_random(struct nn_st_writer *w, const char *prefix, int n_mels,
                                    int hidden, int n_layers, int embed, uint64_t seed);

#endif
