/* dsp.c: PRNG, filters and noise sources for procedural audio (see dsp.h). */
#include "core/vb.h"
#include "audio/dsp.h"

#include <math.h>

void dsp_rng_seed(struct dsp_rng *r, uint64_t seed)
{
    r->state = seed ^ 0x5eed5eed12345678ull;
    (void)dsp_rng_next(r);
}

uint64_t dsp_rng_next(struct dsp_rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double dsp_rng_uniform(struct dsp_rng *r)
{
    return (double)(dsp_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

double dsp_rng_range(struct dsp_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * dsp_rng_uniform(r);
}

float dsp_rng_white(struct dsp_rng *r)
{
    return (float)(2.0 * dsp_rng_uniform(r) - 1.0);
}

double dsp_rng_exp(struct dsp_rng *r, double mean)
{
    return -mean * log(1.0 - dsp_rng_uniform(r));
}

double dsp_rng_gauss(struct dsp_rng *r)
{
    double u = 1.0 - dsp_rng_uniform(r), v = dsp_rng_uniform(r);
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

static double clamp_hz(int rate, double hz)
{
    double nyq = 0.45 * rate;
    return hz < 1.0 ? 1.0 : hz > nyq ? nyq : hz;
}

static void set_coeffs(struct dsp_biquad *f, double b0, double b1, double b2, double a0, double a1,
                       double a2)
{
    f->b0 = (float)(b0 / a0);
    f->b1 = (float)(b1 / a0);
    f->b2 = (float)(b2 / a0);
    f->a1 = (float)(a1 / a0);
    f->a2 = (float)(a2 / a0);
}

void dsp_biquad_set_lowpass(struct dsp_biquad *f, int rate, double hz, double q)
{
    double w = 2.0 * M_PI * clamp_hz(rate, hz) / rate, c = cos(w), al = sin(w) / (2.0 * q);
    set_coeffs(f, (1 - c) / 2, 1 - c, (1 - c) / 2, 1 + al, -2 * c, 1 - al);
}

void dsp_biquad_lowpass(struct dsp_biquad *f, int rate, double hz, double q)
{
    dsp_biquad_set_lowpass(f, rate, hz, q);
    f->z1 = f->z2 = 0.0f;
}

void dsp_biquad_highpass(struct dsp_biquad *f, int rate, double hz, double q)
{
    double w = 2.0 * M_PI * clamp_hz(rate, hz) / rate, c = cos(w), al = sin(w) / (2.0 * q);
    set_coeffs(f, (1 + c) / 2, -(1 + c), (1 + c) / 2, 1 + al, -2 * c, 1 - al);
    f->z1 = f->z2 = 0.0f;
}

void dsp_biquad_set_bandpass(struct dsp_biquad *f, int rate, double hz, double q)
{
    double w = 2.0 * M_PI * clamp_hz(rate, hz) / rate, c = cos(w), al = sin(w) / (2.0 * q);
    set_coeffs(f, al, 0, -al, 1 + al, -2 * c, 1 - al);
}

void dsp_biquad_bandpass(struct dsp_biquad *f, int rate, double hz, double q)
{
    dsp_biquad_set_bandpass(f, rate, hz, q);
    f->z1 = f->z2 = 0.0f;
}

void dsp_onepole_init(struct dsp_onepole *f, int rate, double hz)
{
    f->a = (float)(1.0 - exp(-2.0 * M_PI * clamp_hz(rate, hz) / rate));
    f->y = 0.0f;
}

void dsp_pink_init(struct dsp_pink *pk, int rate)
{
    /* Corners and relative DC gains of the classic three-pole pinking filter. */
    static const double corner_hz[3] = {16.5, 264.0, 3945.0};
    static const double dc_gain[3] = {42.15, 8.007, 2.448};
    for (int i = 0; i < 3; i++) {
        double p = exp(-2.0 * M_PI * corner_hz[i] / rate);
        pk->p[i] = (float)p;
        pk->g[i] = (float)(dc_gain[i] * (1.0 - p));
        pk->s[i] = 0.0f;
    }
}

float dsp_pink_run(struct dsp_pink *pk, struct dsp_rng *r)
{
    float w = dsp_rng_white(r), y = 0.0f;
    for (int i = 0; i < 3; i++) {
        pk->s[i] = pk->p[i] * pk->s[i] + pk->g[i] * w;
        y += pk->s[i];
    }
    return (y + 0.1848f * w) * 0.25f;
}

void dsp_drift_init(struct dsp_drift *d, int rate, double hz, struct dsp_rng *r)
{
    d->base_step = hz / rate;
    d->step = d->base_step * dsp_rng_range(r, 0.6, 1.4);
    d->pos = dsp_rng_uniform(r);
    d->from = (float)dsp_rng_uniform(r);
    d->to = (float)dsp_rng_uniform(r);
}

float dsp_drift_run(struct dsp_drift *d, struct dsp_rng *r)
{
    d->pos += d->step;
    if (d->pos >= 1.0) {
        d->pos -= 1.0;
        if (d->pos >= 1.0)
            d->pos = 0.0;
        d->from = d->to;
        d->to = (float)dsp_rng_uniform(r);
        d->step = d->base_step * dsp_rng_range(r, 0.6, 1.4);
    }
    float k = (float)(0.5 - 0.5 * cos(M_PI * d->pos));
    return d->from + (d->to - d->from) * k;
}
