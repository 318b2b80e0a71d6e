/* campplus.h: CAMPPlus x-vector (S3Gen speaker embedding, `speaker_encoder.*` in
 * s3gen_meanflow.safetensors): Kaldi fbank + CMN -> FCM 2-D residual head -> TDNN -> three
 * CAM dense TDNN blocks with transit layers -> statistics pooling -> dense + BatchNorm -> 192-d.
 * All BatchNorms in eval mode (running statistics).
 *
 *   struct cb_campplus *m;
 *   if (cb_campplus_load(st, "speaker_encoder.", NULL, &m, why, sizeof why)) -> error
 *   float xv[192]; cb_campplus_embed_wav(m, fe, pool, wav16k, n, xv);
 *   cb_campplus_free(m);
 *
 * Widths (head channels, init channels, growth rate, bottleneck, layers per block, embedding
 * size) come from the tensor shapes, so the reference's shrunk model and the real one load
 * with the same code; immutable after loading (shareable between threads).
 */
#ifndef TTS_CHATTERBOX_CAMPPLUS_H
#define TTS_CHATTERBOX_CAMPPLUS_H

#include "core/vb.h"
#include "core/err.h"
#include "nn/safetensors.h"
#include "nn/safetensors_write.h"
#include "nn/threadpool.h"
#include "tts/chatterbox/frontend.h"

#define CB_CAMPPLUS_BLOCKS 3

struct cb_campplus_config {
    int dilation[CB_CAMPPLUS_BLOCKS]; /* 1, 2, 2 */
    int seg_len;                      /* 100 frames per CAM segment-pooling window */
    float bn_eps;                     /* 1e-5 */
};
struct cb_campplus_config cb_campplus_default_config(void);

struct cb_campplus;

/* Loads every tensor under `prefix` ("speaker_encoder." for the real file) that the network
 * uses, validating shapes; copies the data (st may be closed afterwards). cfg NULL =
 * defaults. Caller frees with cb_campplus_free. Errors name the tensor in why. */
VB_WUR enum vb_err cb_campplus_load(const struct nn_safetensors *st, const char *prefix,
                                    const struct cb_campplus_config *cfg, struct cb_campplus **out,
                                    char *why, size_t why_cap);
void cb_campplus_free(struct cb_campplus *m);
int cb_campplus_embed_dim(const struct cb_campplus *m); /* 192 */
int cb_campplus_feat_dim(const struct cb_campplus *m);  /* 80 */

/* x-vector from features (T, feat_dim) time-major (Kaldi fbank after CMN). VB_ERR_INVALID
 * for T < 2 (the pooled std needs two frames), VB_ERR_NOMEM. */
VB_WUR enum vb_err cb_campplus_forward(const struct cb_campplus *m, struct nn_pool *pool,
                                       const float *feats, int64_t T, float *xvector);
/* The whole path from 16 kHz float audio: fbank + CMN, forward. */
VB_WUR enum vb_err cb_campplus_embed_wav(const struct cb_campplus *m, const struct cb_frontend *fe,
                                         struct nn_pool *pool, const float *wav, int64_t n,
                                         float *xvector);

/* Widths for random checkpoints (cb_campplus_add_random). */
struct cb_campplus_shape {
    int feat_dim;                   /* 80 fbank bins (multiple of 8) */
    int m_channels;                 /* 32 FCM head channels */
    int init_channels;              /* 128 TDNN output */
    int growth_rate;                /* 32 channels added per dense layer */
    int bn_size;                    /* 4: bottleneck = bn_size * growth_rate */
    int layers[CB_CAMPPLUS_BLOCKS]; /* 12, 24, 16 dense layers per block */
    int embed;                      /* 192 x-vector size */
};
/* The real model's widths (937 tensors under speaker_encoder.). */
struct cb_campplus_shape cb_campplus_real_shape(void);
/* Adds random weights in the official layout and names (under `prefix`, e.g.
 * "speaker_encoder.") to w: convolutions uniform +-1/sqrt(fan_in), BatchNorms with affine
 * near 1/0, running means near 0, variances in [0.5, 1.5], I64 num_batches_tracked. */
VB_WUR enum vb_err cb_campplus_add_random(struct nn_st_writer *w, const char *prefix,
                                          const struct cb_campplus_shape *s, uint64_t seed);

#endif
