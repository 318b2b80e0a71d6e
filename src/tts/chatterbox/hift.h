/* hift.h: the HiFT vocoder of S3Gen (mel 80 x F at 50 Hz -> 24 kHz audio, 480 samples per
 * frame): ConvRNN F0 predictor, harmonic NSF source (SineGen + SourceModuleHnNSF), STFT of
 * the source, the 3-stage upsampling net with Snake resblocks fused with the source, the
 * 18-channel magnitude/phase head, iSTFT (16/4), clamp; and the trim-fade S3Gen applies.
 *
 *   struct cb_hift *m; char why[256];
 *   cb_hift_load(st, "mel2wav.", NULL, &m, why, sizeof why);   // weights from s3gen_meanflow
 *   struct cb_hift_work *w = cb_hift_work_new();
 *   cb_hift_synthesize(m, w, pool, mel, n_frames, seed, NULL, 0, wav, NULL); // 480 * n_frames
 *   cb_hift_trim_fade(wav, 480 * n_frames);
 *   cb_hift_work_free(w); cb_hift_free(m);
 *
 * Model weights are immutable after load and may be shared by threads; a cb_hift_work holds
 * one caller's scratch (grown on demand, reused across calls). */
#ifndef CB_HIFT_H
#define CB_HIFT_H

#include "core/vb.h"
#include "core/err.h"
#include "nn/safetensors.h"
#include "nn/threadpool.h"

#define CB_HIFT_SAMPLE_RATE_HZ    24000
#define CB_HIFT_N_MELS            80
#define CB_HIFT_MAX_STAGES        4
#define CB_HIFT_MAX_KERNELS       4
#define CB_HIFT_MAX_DILATIONS     4
#define CB_HIFT_TRIM_FADE_SAMPLES 960 /* 480 zeroed + 480 raised-cosine fade-in */

/* Hyper-parameters (defaults = the real model). base_channels and the F0 predictor width are
 * taken from the weight shapes at load; the rest must match the checkpoint. */
struct cb_hift_params {
    int in_channels;                                 /* 80 mel bins */
    int base_channels;                               /* 512; 0 = infer from conv_pre */
    int nb_harmonics;                                /* 8 (9 sinusoids) */
    int sample_rate;                                 /* 24000 Hz */
    float nsf_alpha;                                 /* 0.1 sine amplitude */
    float nsf_sigma;                                 /* 0.003 voiced noise std */
    float voiced_threshold_hz;                       /* 10 */
    int n_stages;                                    /* 3 */
    int upsample_rates[CB_HIFT_MAX_STAGES];          /* 8, 5, 3 */
    int upsample_kernels[CB_HIFT_MAX_STAGES];        /* 16, 11, 7 */
    int n_kernels;                                   /* resblocks per stage: 3 */
    int resblock_kernels[CB_HIFT_MAX_KERNELS];       /* 3, 7, 11 */
    int n_dilations;                                 /* 3 */
    int resblock_dilations[CB_HIFT_MAX_DILATIONS];   /* 1, 3, 5 (same for every resblock) */
    int source_resblock_kernels[CB_HIFT_MAX_STAGES]; /* 7, 7, 11 */
    int source_dilations[CB_HIFT_MAX_DILATIONS];     /* 1, 3, 5 */
    int n_fft;                                       /* 16 */
    int hop;                                         /* 4 */
    float lrelu_slope; /* 0.1 between stages (0.01 before conv_post is fixed in the model) */
    float audio_limit; /* 0.99 */
    int f0_layers;     /* 5 conv layers in the F0 predictor */
    int f0_channels;   /* 512; 0 = infer from the weights */
    /* cb_hift_decode runs inputs longer than chunk_frames (256 = 5.1 s; 0 = never) in pieces
     * with context_frames of context each side (0 = the receptive field, computed at load),
     * bit-identical to one piece and with bounded scratch. */
    int chunk_frames;
    int context_frames;
    /* Convolutions (conv_pre, upsampling, source branch, resblocks: all but the F0 predictor
     * and conv_post) in BF16 on Intel AMX where the CPU has it: several times faster, ~3
     * significant digits per convolution; false (default): F32, the reference numerics. */
    bool bf16;
};

struct cb_hift_params cb_hift_default_params(void);

struct cb_hift;
struct cb_hift_work;

/* Loads and folds (weight norm; either parametrizations.weight.original0/1 or legacy
 * weight_g/weight_v names) every tensor under `prefix` (e.g. "mel2wav."), checking names and
 * shapes; `p` NULL = defaults. The file may be closed afterwards (weights are copied and
 * repacked). Caller frees with cb_hift_free. On failure `why` names the tensor/problem. */
VB_WUR enum vb_err cb_hift_load(const struct nn_safetensors *st, const char *prefix,
                                const struct cb_hift_params *p, struct cb_hift **out, char *why,
                                size_t why_cap);
void cb_hift_free(struct cb_hift *m);
/* The effective parameters (with inferred sizes). Borrowed from m. */
const struct cb_hift_params *cb_hift_params_of(const struct cb_hift *m);
/* Audio samples per mel frame (prod(upsample_rates) * hop = 480). */
int cb_hift_samples_per_frame(const struct cb_hift *m);

/* Per-caller scratch; NULL on OOM. Free with cb_hift_work_free (NULL ok). */
struct cb_hift_work *cb_hift_work_new(void);
void cb_hift_work_free(struct cb_hift_work *w);

/* Wall-clock seconds spent per part, accumulated over calls with this work. */
struct cb_hift_timings {
    double f0_s;         /* F0 predictor */
    double source_gen_s; /* sine source (cb_hift_synthesize only) */
    double stft_s;       /* source STFT */
    double ups_s;        /* conv_pre, leaky ReLU, transposed convolutions */
    double source_s;     /* source downsampling convs + source resblocks + fusion */
    double resblocks_s;  /* the main resblocks (most of the work) */
    double post_s;       /* conv_post, magnitude/phase, iSTFT, clamp */
};
/* Copies the totals; reset clears them. */
void cb_hift_work_timings(struct cb_hift_work *w, struct cb_hift_timings *out, bool reset);

/* F0 in Hz per frame: f0[F] from mel (80 rows of F floats, row-major (80, F)). pool may be
 * NULL (single thread). VB_ERR_NOMEM, VB_ERR_INVALID (n_frames < 1 or absurd). */
VB_WUR enum vb_err cb_hift_f0(const struct cb_hift *m, struct cb_hift_work *w, struct nn_pool *pool,
                              const float *mel, int n_frames, float *f0);

/* Random draws of the sine generator, injectable for tests: phase (nb_harmonics+1) initial
 * phases in radians (entry 0 is forced to 0 by the model), noise (nb_harmonics+1, n_samples)
 * standard normal values. */
struct cb_hift_draws {
    const float *phase; /* (H) or NULL: drawn from seed */
    const float *noise; /* (H, n_samples) or NULL: drawn from seed */
    uint64_t seed;
};

/* Excitation source[n_samples] (n_samples = F * samples_per_frame) from per-frame f0[F]:
 * nearest upsampling, 9 harmonics with the reference's phase accumulation (float32 steps
 * summed in double), voiced mask, noise, l_linear + tanh. Split across pool (may be NULL) in
 * blocks; drawn noise comes from one stream per (harmonic, block), so the result depends on
 * the seed only, not on the thread count. */
VB_WUR enum vb_err cb_hift_source(const struct cb_hift *m, struct nn_pool *pool, const float *f0,
                                  int n_frames, const struct cb_hift_draws *draws, float *source);

/* STFT of the source (n_fft 16, hop 4, periodic Hann, centred reflect): out (2*bins, frames)
 * = [re; im], frames = n_samples / hop + 1, bins = n_fft/2 + 1. n_samples > n_fft/2. */
VB_WUR enum vb_err cb_hift_source_stft(const struct cb_hift *m, struct nn_pool *pool,
                                       const float *source, int64_t n_samples, float *out);

/* The generator proper: mel (80, F) and source[F * samples_per_frame] -> wav[F * 480]
 * (clamped to +-audio_limit). Long inputs go in pieces (see chunk_frames). Outputs depend on
 * mel/source only within params.context_frames frames, so a stream can vocode overlapping
 * windows with that much context and keep the middle. */
VB_WUR enum vb_err cb_hift_decode(const struct cb_hift *m, struct cb_hift_work *w,
                                  struct nn_pool *pool, const float *mel, int n_frames,
                                  const float *source, float *wav);

/* f0 -> source (drawn from `seed`) -> decode; wav[F * 480]. Streaming: the first n_cache
 * samples of the source are replaced by cache_source (HiFTGenerator.inference's cache_source;
 * n_cache 0 and NULL for none), and source_out (F * 480 floats, may be NULL) receives the
 * source actually used, from which the caller takes the next chunk's cache. */
VB_WUR enum vb_err cb_hift_synthesize(const struct cb_hift *m, struct cb_hift_work *w,
                                      struct nn_pool *pool, const float *mel, int n_frames,
                                      uint64_t seed, const float *cache_source, int64_t n_cache,
                                      float *wav, float *source_out);

/* S3Gen's trim fade on the first 960 samples: 0..479 zeroed, 480..959 multiplied by
 * (cos(theta)+1)/2 with theta from pi down to 0. Shorter inputs are faded as far as they go. */
void cb_hift_trim_fade(float *wav, int64_t n);
/* The fade gains themselves (n = CB_HIFT_TRIM_FADE_SAMPLES), as PyTorch computes them. */
void cb_hift_trim_fade_table(float gains[CB_HIFT_TRIM_FADE_SAMPLES]);

#endif
