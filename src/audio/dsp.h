/* dsp.h: small synthesis building blocks for the ambience generators: a seedable PRNG with
 * all its state in the caller's struct (no globals), biquad and one-pole filters (RBJ
 * cookbook formulas), pink noise at any sample rate, and a smooth random modulator. */
#ifndef VB_AUDIO_DSP_H
#define VB_AUDIO_DSP_H

#include "core/vb.h"

/* splitmix64: 64-bit state, passes BigCrush, trivially seedable. */
struct dsp_rng {
    uint64_t state;
};

void dsp_rng_seed(struct dsp_rng *r, uint64_t seed);
uint64_t dsp_rng_next(struct dsp_rng *r);
/* Uniform in [0, 1). */
double dsp_rng_uniform(struct dsp_rng *r);
/* Uniform in [lo, hi). */
double dsp_rng_range(struct dsp_rng *r, double lo, double hi);
/* White noise sample, uniform in [-1, 1). */
float dsp_rng_white(struct dsp_rng *r);
/* Exponentially distributed with the given mean (waiting times of a Poisson process). */
double dsp_rng_exp(struct dsp_rng *r, double mean);
/* Standard normal (Box-Muller). */
double dsp_rng_gauss(struct dsp_rng *r);

/* Transposed direct form II biquad. */
struct dsp_biquad {
    float b0, b1, b2, a1, a2;
    float z1, z2;
};

/* Designs (and resets) a filter; frequencies are clamped below Nyquist. */
void dsp_biquad_lowpass(struct dsp_biquad *f, int rate, double hz, double q);
void dsp_biquad_highpass(struct dsp_biquad *f, int rate, double hz, double q);
/* Band-pass with 0 dB gain at the centre. */
void dsp_biquad_bandpass(struct dsp_biquad *f, int rate, double hz, double q);
/* Re-designs without clearing the state (for swept filters). */
void dsp_biquad_set_bandpass(struct dsp_biquad *f, int rate, double hz, double q);
void dsp_biquad_set_lowpass(struct dsp_biquad *f, int rate, double hz, double q);

static inline float dsp_biquad_run(struct dsp_biquad *f, float x)
{
    float y = f->b0 * x + f->z1;
    f->z1 = f->b1 * x - f->a1 * y + f->z2;
    f->z2 = f->b2 * x - f->a2 * y;
    return y;
}

/* One-pole low-pass y += a (x - y). */
struct dsp_onepole {
    float a, y;
};
void dsp_onepole_init(struct dsp_onepole *f, int rate, double hz);
static inline float dsp_onepole_run(struct dsp_onepole *f, float x)
{
    f->y += f->a * (x - f->y);
    return f->y;
}

/* Pink (1/f) noise: white through three one-pole sections with corners at 16.5, 264 and
 * 3945 Hz, gains set so the response is the same at every sample rate; about unit RMS / 3. */
struct dsp_pink {
    float p[3], g[3], s[3];
};
void dsp_pink_init(struct dsp_pink *pk, int rate);
float dsp_pink_run(struct dsp_pink *pk, struct dsp_rng *r);

/* Smooth random modulator in [0, 1]: glides along raised-cosine segments between random
 * targets, about `hz` new targets per second (each segment's length varies +-40 %). */
struct dsp_drift {
    double pos, step, base_step;
    float from, to;
};
void dsp_drift_init(struct dsp_drift *d, int rate, double hz, struct dsp_rng *r);
float dsp_drift_run(struct dsp_drift *d, struct dsp_rng *r);

#endif
