/* hift.c: HiFT vocoder forward pass (see hift.h), following hifigan.py / f0_predictor.py of
 * chatterbox step by step. Activations are channel-major rows with zeroed margins so that
 * every convolution reads its padding in place (see hift_conv.h). */
#include "core/vb.h"
#include "tts/chatterbox/hift.h"
#include "audio/dsp.h"
#include "audio/spectral.h"
#include "core/alloc.h"
#include "core/log.h"
#include "nn/activations.h"
#include "tts/chatterbox/hift_conv.h"
#include "tts/chatterbox/hift_internal.h"

#include <math.h>
#include <stdatomic.h>
#include <time.h>

/* Scratch: a few equally sized activation buffers and two flat ones, grown on demand. */
enum { B_IN, B_XN, B_SI, B_R, B_A, B_B, B_STFT, B_COUNT };
struct cb_hift_work {
    float *buf[B_COUNT];
    size_t cap;  /* floats per activation buffer */
    float *flat; /* convt / im2col scratch */
    size_t flat_cap;
    struct cb_hift_scratch ws; /* per-thread packing for the convolutions */
    struct cb_hift_timings tm; /* accumulated since the last reset */
    float *f0, *src;           /* cb_hift_synthesize: (F) and (F * samples_per_frame) */
    size_t f0_cap, src_cap;
    float *cwav; /* one chunk's samples, with context (cb_hift_decode on long inputs) */
    size_t cwav_cap;
};

/* An activation tensor: c rows of t valid floats at x + row*ld, margins zero. */
struct act {
    float *x;
    int64_t ld, t;
    int c;
};

const struct cb_hift_params *cb_hift_params_of(const struct cb_hift *m)
{
    return &m->p;
}

int cb_hift_samples_per_frame(const struct cb_hift *m)
{
    return m->spf;
}

/* ---- scratch -------------------------------------------------------------------------------- */

struct cb_hift_work *cb_hift_work_new(void)
{
    return vb_try_calloc(1, sizeof(struct cb_hift_work));
}

void cb_hift_work_free(struct cb_hift_work *w)
{
    if (!w)
        return;
    for (int i = 0; i < B_COUNT; i++)
        vb_free(w->buf[i]);
    vb_free(w->flat);
    cb_hift_scratch_release(&w->ws);
    vb_free(w->f0);
    vb_free(w->src);
    vb_free(w->cwav);
    vb_free(w);
}

static int64_t row_ld(const struct cb_hift *m, int64_t t)
{
    return (t + 2 * m->margin + 15) / 16 * 16;
}

/* Floats an activation buffer of c rows x t steps needs: rows plus one spare row of slack. */
static size_t act_floats(const struct cb_hift *m, int c, int64_t t)
{
    return ((size_t)c + 1) * (size_t)row_ld(m, t);
}

static enum vb_err work_reserve(struct cb_hift_work *w, size_t act, size_t flat)
{
    if (act > w->cap) {
        for (int i = 0; i < B_COUNT; i++) {
            vb_free(w->buf[i]);
            w->buf[i] = NULL;
        }
        w->cap = 0;
        for (int i = 0; i < B_COUNT; i++) {
            w->buf[i] = vb_try_malloc(act * sizeof(float));
            if (!w->buf[i])
                return VB_ERR_NOMEM;
        }
        w->cap = act;
    }
    if (flat > w->flat_cap) {
        vb_free(w->flat);
        w->flat_cap = 0;
        w->flat = vb_try_malloc(flat * sizeof(float));
        if (!w->flat)
            return VB_ERR_NOMEM;
        w->flat_cap = flat;
    }
    return VB_OK;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cb_hift_work_timings(struct cb_hift_work *w, struct cb_hift_timings *out, bool reset)
{
    *out = w->tm;
    if (reset)
        memset(&w->tm, 0, sizeof w->tm);
}

/* Lays out c x t in buffer `base` and zeroes every margin (and the slack row). */
static struct act act_view(const struct cb_hift *m, float *base, int c, int64_t t)
{
    struct act a = {.ld = row_ld(m, t), .t = t, .c = c};
    a.x = base + m->margin;
    for (int r = 0; r < c; r++) {
        float *row = base + (int64_t)r * a.ld;
        memset(row, 0, (size_t)m->margin * sizeof *row);
        memset(row + m->margin + t, 0, (size_t)(a.ld - m->margin - t) * sizeof *row);
    }
    memset(base + (int64_t)c * a.ld, 0, (size_t)a.ld * sizeof *base);
    return a;
}

/* ---- element-wise passes over rows, split across the pool --------------------------------- */

enum ew_op { EW_SNAKE, EW_LRELU, EW_ELU, EW_COPY, EW_ADD, EW_DIV };
struct ew_job {
    enum ew_op op;
    float *y;
    const float *x;
    int64_t ldy, ldx, t;
    int c;
    const float *alpha; /* per row (Snake) */
    float s;            /* slope / divisor */
};

static void ew_worker(void *ctx, int ith, int nth)
{
    struct ew_job *j = ctx;
    int r0 = j->c * ith / nth, r1 = j->c * (ith + 1) / nth;
    for (int r = r0; r < r1; r++) {
        float *y = j->y + (int64_t)r * j->ldy;
        const float *x = j->x ? j->x + (int64_t)r * j->ldx : NULL;
        switch (j->op) {
        case EW_SNAKE:
            nn_snake(y, x, j->t, j->alpha[r]);
            break;
        case EW_LRELU:
            nn_leaky_relu(y, j->t, j->s);
            break;
        case EW_ELU:
            nn_elu(y, j->t, j->s);
            break;
        case EW_COPY:
            memcpy(y, x, (size_t)j->t * sizeof *y);
            break;
        case EW_ADD:
            for (int64_t i = 0; i < j->t; i++)
                y[i] += x[i];
            break;
        case EW_DIV:
            for (int64_t i = 0; i < j->t; i++)
                y[i] /= j->s;
            break;
        }
    }
}

static void ew(struct nn_pool *pool, enum ew_op op, const struct act *y, const struct act *x,
               const float *alpha, float s)
{
    struct ew_job j = {.op = op,
                       .y = y->x,
                       .x = x ? x->x : NULL,
                       .ldy = y->ld,
                       .ldx = x ? x->ld : 0,
                       .t = y->t,
                       .c = y->c,
                       .alpha = alpha,
                       .s = s};
    nn_pool_run(pool, ew_worker, &j);
}

/* ResBlock in place on x: for each dilation j: x += c2(snake2(c1(snake1(x)))). */
static enum vb_err resblock_run(struct nn_pool *pool, const struct resblock *rb, struct act *x,
                                struct act *ta, struct act *tb, struct cb_hift_scratch *ws)
{
    enum vb_err err = VB_OK;
    for (int j = 0; j < rb->n && !err; j++) {
        ew(pool, EW_SNAKE, ta, x, rb->d[j].a1, 0);
        err = cb_hift_conv_run(pool, &rb->d[j].c1, ta->x, ta->ld, x->t, tb->x, tb->ld, false, ws);
        if (err)
            break;
        ew(pool, EW_SNAKE, tb, tb, rb->d[j].a2, 0);
        err = cb_hift_conv_run(pool, &rb->d[j].c2, tb->x, tb->ld, x->t, x->x, x->ld, true, ws);
    }
    return err;
}

/* ---- F0 ------------------------------------------------------------------------------------- */

static enum vb_err check_frames(int n_frames)
{
    return n_frames >= 1 && n_frames <= MAX_FRAMES ? VB_OK : VB_ERR_INVALID;
}

enum vb_err cb_hift_f0(const struct cb_hift *m, struct cb_hift_work *w, struct nn_pool *pool,
                       const float *mel, int n_frames, float *f0)
{
    const struct cb_hift_params *p = &m->p;
    enum vb_err err = check_frames(n_frames);
    if (err)
        return err;
    double t_start = now_s();
    int cmax = VB_MAX(p->in_channels, p->f0_channels);
    err = work_reserve(w, act_floats(m, cmax, n_frames), 0);
    if (err)
        return err;
    int64_t t = n_frames;
    struct act x = act_view(m, w->buf[B_IN], p->in_channels, t);
    for (int c = 0; c < p->in_channels; c++)
        memcpy(x.x + c * x.ld, mel + (int64_t)c * t, (size_t)t * sizeof(float));
    struct act h[2] = {act_view(m, w->buf[B_XN], p->f0_channels, t),
                       act_view(m, w->buf[B_SI], p->f0_channels, t)};
    struct act *cur = &x;
    for (int i = 0; i < p->f0_layers; i++) {
        struct act *o = &h[i % 2];
        err =
            cb_hift_conv_run(pool, &m->f0_conv[i], cur->x, cur->ld, t, o->x, o->ld, false, &w->ws);
        if (err)
            return err;
        ew(pool, EW_ELU, o, NULL, NULL, 1.0f);
        cur = o;
    }
    for (int64_t i = 0; i < t; i++) {
        double s = 0.0;
        for (int c = 0; c < p->f0_channels; c++)
            s += (double)m->f0_cls_w[c] * cur->x[(int64_t)c * cur->ld + i];
        f0[i] = fabsf((float)s + m->f0_cls_b);
    }
    w->tm.f0_s += now_s() - t_start;
    return VB_OK;
}

/* ---- source --------------------------------------------------------------------------------- */

#define SRC_BLOCK 4800 /* samples per unit of parallel source work (10 frames) */

struct src_job {
    const struct cb_hift *m;
    const float *f0;
    int64_t L, n_blocks;
    const float *phase;
    const double *cum0; /* (H, n_blocks) phase accumulator at each block start */
    const float *noise; /* injected (H, L) or NULL */
    uint64_t seed;
    float *source;
    atomic_llong next;
};

static void src_worker(void *ctx, int ith, int nth)
{
    struct src_job *j = ctx;
    const struct cb_hift *m = j->m;
    const struct cb_hift_params *p = &m->p;
    const int H = m->n_harm;
    const float sr = (float)p->sample_rate, amp = p->nsf_alpha;
    (void)ith;
    (void)nth;
    for (;;) {
        int64_t blk = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (blk >= j->n_blocks)
            break;
        int64_t i0 = blk * SRC_BLOCK, i1 = VB_MIN(j->L, i0 + SRC_BLOCK);
        float *out = j->source + i0;
        for (int64_t i = i0; i < i1; i++)
            out[i - i0] = 0.0f;
        for (int h = 0; h < H; h++) {
            double cum = j->cum0[(int64_t)h * j->n_blocks + blk];
            /* Noise of this (harmonic, block) from its own stream: independent of threads. */
            struct dsp_rng rng;
            dsp_rng_seed(&rng, j->seed ^ (0x9E3779B97F4A7C15ull *
                                          (uint64_t)((int64_t)h * j->n_blocks + blk + 1)));
            float spare = 0.0f;
            bool have_spare = false;
            for (int64_t i = i0; i < i1; i++) {
                float f = j->f0[i / m->spf];
                float inc = f * (float)(h + 1) / sr;
                cum += inc; /* torch.cumsum on CPU accumulates float32 in double */
                float c = (float)cum;
                float frac = c - floorf(c);
                float theta = 6.28318530717958647692f * frac;
                float sv = amp * sinf(theta + j->phase[h]);
                float uv = f > p->voiced_threshold_hz ? 1.0f : 0.0f;
                float namp = uv * p->nsf_sigma + (1.0f - uv) * amp / 3.0f;
                float z;
                if (j->noise) {
                    z = j->noise[(int64_t)h * j->L + i];
                } else if (have_spare) {
                    z = spare;
                    have_spare = false;
                } else { /* Box-Muller, both outputs used */
                    float u1 = (float)(1.0 - dsp_rng_uniform(&rng));
                    float u2 = (float)dsp_rng_uniform(&rng);
                    float r = sqrtf(-2.0f * logf(u1)), a = 6.28318530717958647692f * u2;
                    z = r * cosf(a);
                    spare = r * sinf(a);
                    have_spare = true;
                }
                float v = sv * uv + namp * z;
                out[i - i0] += m->l_w[h] * v;
            }
        }
        for (int64_t i = i0; i < i1; i++)
            out[i - i0] = tanhf(out[i - i0] + m->l_b);
    }
}

enum vb_err cb_hift_source(const struct cb_hift *m, struct nn_pool *pool, const float *f0,
                           int n_frames, const struct cb_hift_draws *draws, float *source)
{
    const struct cb_hift_params *p = &m->p;
    enum vb_err err = check_frames(n_frames);
    if (err)
        return err;
    const int H = m->n_harm;
    const int64_t L = (int64_t)n_frames * m->spf, n_blocks = (L + SRC_BLOCK - 1) / SRC_BLOCK;
    const float sr = (float)p->sample_rate;
    float phase[MAX_HARMONIC];
    uint64_t seed = draws ? draws->seed : 0;
    struct dsp_rng rng;
    dsp_rng_seed(&rng, seed);
    for (int h = 0; h < H; h++)
        phase[h] =
            draws && draws->phase ? draws->phase[h] : (float)dsp_rng_range(&rng, -M_PI, M_PI);
    phase[0] = 0.0f;
    double *cum0 = vb_try_malloc((size_t)H * (size_t)n_blocks * sizeof *cum0);
    if (!cum0)
        return VB_ERR_NOMEM;
    /* The phase accumulator at every block start, by the same sequential sum as in one piece. */
    for (int h = 0; h < H; h++) {
        double cum = 0.0;
        for (int64_t i = 0; i < L; i++) {
            if (i % SRC_BLOCK == 0)
                cum0[(int64_t)h * n_blocks + i / SRC_BLOCK] = cum;
            cum += f0[i / m->spf] * (float)(h + 1) / sr;
        }
    }
    struct src_job j = {.m = m,
                        .f0 = f0,
                        .L = L,
                        .n_blocks = n_blocks,
                        .phase = phase,
                        .cum0 = cum0,
                        .noise = draws ? draws->noise : NULL,
                        .seed = seed,
                        .source = source};
    atomic_init(&j.next, 0);
    nn_pool_run(pool, src_worker, &j);
    vb_free(cum0);
    return VB_OK;
}

/* ---- STFT / iSTFT: audio/spectral's, with HiFT's window (periodic Hann in float64) -------- */

/* One FFT plan and per-thread scratch for the transforms of one call. */
struct spec {
    struct audio_fft *fft;
    double *work; /* nth blocks of work_n doubles */
    size_t work_n;
    int nth;
};

static enum vb_err spec_init(struct spec *sp, const struct cb_hift *m, struct nn_pool *pool)
{
    *sp = (struct spec){.nth = pool ? nn_pool_threads(pool) : 1};
    enum vb_err err = audio_fft_new(m->p.n_fft, &sp->fft);
    if (err)
        return err;
    sp->work_n = audio_fft_work_size(sp->fft) + 2 * (size_t)m->p.n_fft + 2;
    sp->work = vb_try_malloc((size_t)sp->nth * sp->work_n * sizeof *sp->work);
    return sp->work ? VB_OK : VB_ERR_NOMEM;
}

static void spec_release(struct spec *sp)
{
    audio_fft_free(sp->fft);
    vb_free(sp->work);
}

struct spec_job {
    const struct cb_hift *m;
    const struct spec *sp;
    const float *x; /* stft: padded source; istft: log-magnitude rows */
    const float *ph;
    int64_t ldm, ldp, frames;
    float *re, *im; /* (bins, frames) */
};

static void stft_worker(void *ctx, int ith, int nth)
{
    struct spec_job *j = ctx;
    const int hop = j->m->p.hop;
    int64_t f0 = j->frames * ith / nth, f1 = j->frames * (ith + 1) / nth;
    if (f0 < f1)
        audio_stft(j->sp->fft, j->x + f0 * hop, (f1 - f0 - 1) * hop + j->m->p.n_fft, hop,
                   j->m->window, true, j->re + f0, j->im + f0, f1 - f0, j->frames,
                   j->sp->work + (size_t)ith * j->sp->work_n);
}

enum vb_err cb_hift_source_stft(const struct cb_hift *m, struct nn_pool *pool, const float *source,
                                int64_t n_samples, float *out)
{
    const int half = m->p.n_fft / 2, bins = half + 1;
    if (n_samples <= half)
        return VB_ERR_INVALID;
    struct spec sp;
    enum vb_err err = spec_init(&sp, m, pool);
    float *padded = vb_try_malloc((size_t)(n_samples + 2 * half) * sizeof *padded);
    if (!err && !padded)
        err = VB_ERR_NOMEM;
    if (!err) /* centred: reflect padding of n_fft/2 at both ends */
        err = audio_reflect_pad(source, n_samples, half, half, padded);
    if (!err) {
        int64_t frames = n_samples / m->p.hop + 1;
        struct spec_job j = {
            .m = m, .sp = &sp, .x = padded, .frames = frames, .re = out, .im = out + bins * frames};
        nn_pool_run(pool, stft_worker, &j);
    }
    vb_free(padded);
    spec_release(&sp);
    return err;
}

/* The spectrum of the conv_post rows: magnitude exp(x[:bins]) (clipped at 100), phase
 * sin(x[bins:]). */
static void polar_worker(void *ctx, int ith, int nth)
{
    struct spec_job *j = ctx;
    const int bins = j->m->p.n_fft / 2 + 1;
    int64_t f0 = j->frames * ith / nth, f1 = j->frames * (ith + 1) / nth;
    for (int k = 0; k < bins; k++)
        for (int64_t f = f0; f < f1; f++) {
            float mag = expf(j->x[(int64_t)k * j->ldm + f]);
            mag = mag > 100.0f ? 100.0f : mag;
            float phase = sinf(j->ph[(int64_t)k * j->ldp + f]);
            j->re[(int64_t)k * j->frames + f] = mag * cosf(phase);
            j->im[(int64_t)k * j->frames + f] = mag * sinf(phase);
        }
}

/* torch.istft(center=True) of that spectrum: hop * (frames - 1) samples into wav. */
static enum vb_err istft(struct nn_pool *pool, const struct cb_hift *m, const float *logmag,
                         int64_t ldm, const float *ph, int64_t ldp, int64_t frames, float *wav)
{
    const int bins = m->p.n_fft / 2 + 1;
    struct spec sp;
    enum vb_err err = spec_init(&sp, m, pool);
    float *spec = vb_try_malloc((size_t)(2 * bins * frames) * sizeof *spec);
    float *ola = vb_try_malloc((size_t)(m->p.hop * (frames - 1) + m->p.n_fft) * sizeof *ola);
    if (!err && (!spec || !ola))
        err = VB_ERR_NOMEM;
    if (!err) {
        struct spec_job j = {.m = m,
                             .sp = &sp,
                             .x = logmag,
                             .ph = ph,
                             .ldm = ldm,
                             .ldp = ldp,
                             .frames = frames,
                             .re = spec,
                             .im = spec + bins * frames};
        nn_pool_run(pool, polar_worker, &j);
        audio_istft(sp.fft, j.re, j.im, frames, m->p.hop, m->window, wav, ola, sp.work);
    }
    vb_free(spec);
    vb_free(ola);
    spec_release(&sp);
    return err;
}

/* ---- generator ------------------------------------------------------------------------------ */

/* The generator over one stretch of frames; mel rows have stride ld_mel. */
static enum vb_err decode_range(const struct cb_hift *m, struct cb_hift_work *w,
                                struct nn_pool *pool, const float *mel, int64_t ld_mel,
                                int n_frames, const float *source, float *wav)
{
    const struct cb_hift_params *p = &m->p;
    enum vb_err err = check_frames(n_frames);
    if (err)
        return err;
    const int bins = p->n_fft / 2 + 1;
    const int64_t L = (int64_t)n_frames * m->spf, n_stft = L / p->hop + 1;

    /* Plan: the largest activation (channels x steps) and flat scratch over all stages. */
    size_t act =
        VB_MAX(act_floats(m, p->in_channels, n_frames), act_floats(m, p->base_channels, n_frames));
    act = VB_MAX(act, act_floats(m, 2 * bins, n_stft));
    size_t flat = 0;
    int64_t t = n_frames;
    for (int i = 0; i < p->n_stages; i++) {
        flat = VB_MAX(flat, cb_hift_convt_scratch(&m->ups[i], t));
        t = cb_hift_convt_len(&m->ups[i], t) + (i == p->n_stages - 1);
        act = VB_MAX(act, act_floats(m, p->base_channels >> (i + 1), t));
        flat = VB_MAX(flat, cb_hift_convs_scratch(&m->sdown[i], n_stft));
    }
    if (t != n_stft)
        return VB_ERR_INTERNAL; /* the geometry of the config does not line up */
    err = work_reserve(w, act, flat);
    if (err)
        return err;
    double tp = now_s(), tq;

    /* Source STFT: (2*bins, n_stft) rows. */
    struct act s = act_view(m, w->buf[B_STFT], 2 * bins, n_stft);
    {
        float *tmp = w->buf[B_A]; /* contiguous (2*bins, n_stft) then copied into rows */
        err = cb_hift_source_stft(m, pool, source, L, tmp);
        if (err)
            return err;
        for (int c = 0; c < 2 * bins; c++)
            memcpy(s.x + c * s.ld, tmp + (int64_t)c * n_stft, (size_t)n_stft * sizeof(float));
    }

    tq = now_s();
    w->tm.stft_s += tq - tp;
    tp = tq;
    /* conv_pre */
    struct act mx = act_view(m, w->buf[B_A], p->in_channels, n_frames);
    for (int c = 0; c < p->in_channels; c++)
        memcpy(mx.x + c * mx.ld, mel + (int64_t)c * ld_mel, (size_t)n_frames * sizeof(float));
    struct act x = act_view(m, w->buf[B_IN], p->base_channels, n_frames);
    err = cb_hift_conv_run(pool, &m->conv_pre, mx.x, mx.ld, n_frames, x.x, x.ld, false, &w->ws);
    if (err)
        return err;

    t = n_frames;
    for (int i = 0; i < p->n_stages; i++) {
        int c = p->base_channels >> (i + 1);
        bool last = i == p->n_stages - 1;
        ew(pool, EW_LRELU, &x, NULL, NULL, p->lrelu_slope);
        int64_t tu = cb_hift_convt_len(&m->ups[i], t), tn = tu + last;
        struct act xn = act_view(m, w->buf[B_XN], c, tn);
        err =
            cb_hift_convt_run(pool, &m->ups[i], x.x, x.ld, t, w->flat, xn.x + last, xn.ld, &w->ws);
        if (err)
            return err;
        if (last) /* ReflectionPad1d((1, 0)) */
            for (int r = 0; r < c; r++)
                xn.x[r * xn.ld] = xn.x[r * xn.ld + 2];
        t = tn;
        tq = now_s();
        w->tm.ups_s += tq - tp;
        tp = tq;
        /* source branch */
        struct act si = act_view(m, w->buf[B_SI], c, t);
        if (cb_hift_convs_len(&m->sdown[i], n_stft) != t)
            return VB_ERR_INTERNAL;
        err =
            cb_hift_convs_run(pool, &m->sdown[i], s.x, s.ld, n_stft, w->flat, si.x, si.ld, &w->ws);
        if (err)
            return err;
        struct act ta = act_view(m, w->buf[B_A], c, t), tb = act_view(m, w->buf[B_B], c, t);
        err = resblock_run(pool, &m->sres[i], &si, &ta, &tb, &w->ws);
        if (err)
            return err;
        ew(pool, EW_ADD, &xn, &si, NULL, 0);
        tq = now_s();
        w->tm.source_s += tq - tp;
        tp = tq;
        /* resblocks: mean of n_kernels outputs, accumulated in B_IN */
        struct act sum = act_view(m, w->buf[B_IN], c, t);
        struct act r = act_view(m, w->buf[B_R], c, t);
        for (int j = 0; j < p->n_kernels; j++) {
            struct act *dst = j == 0 ? &sum : &r;
            ew(pool, EW_COPY, dst, &xn, NULL, 0);
            err = resblock_run(pool, &m->res[i * p->n_kernels + j], dst, &ta, &tb, &w->ws);
            if (err)
                return err;
            if (j > 0)
                ew(pool, EW_ADD, &sum, &r, NULL, 0);
        }
        ew(pool, EW_DIV, &sum, NULL, NULL, (float)p->n_kernels);
        x = sum;
        tq = now_s();
        w->tm.resblocks_s += tq - tp;
        tp = tq;
    }
    ew(pool, EW_LRELU, &x, NULL, NULL, 0.01f);
    struct act post = act_view(m, w->buf[B_XN], 2 * bins, t);
    err = cb_hift_conv_run(pool, &m->conv_post, x.x, x.ld, t, post.x, post.ld, false, &w->ws);
    if (err)
        return err;
    err = istft(pool, m, post.x, post.ld, post.x + (int64_t)bins * post.ld, post.ld, t, wav);
    if (err)
        return err;
    for (int64_t i = 0; i < L; i++)
        wav[i] = wav[i] > p->audio_limit    ? p->audio_limit
                 : wav[i] < -p->audio_limit ? -p->audio_limit
                                            : wav[i];
    w->tm.post_s += now_s() - tp;
    return VB_OK;
}

enum vb_err cb_hift_decode(const struct cb_hift *m, struct cb_hift_work *w, struct nn_pool *pool,
                           const float *mel, int n_frames, const float *source, float *wav)
{
    enum vb_err err = check_frames(n_frames);
    if (err)
        return err;
    const int chunk = m->p.chunk_frames, ctx = m->p.context_frames, spf = m->spf;
    if (chunk <= 0 || n_frames <= chunk)
        return decode_range(m, w, pool, mel, n_frames, n_frames, source, wav);
    /* Long inputs: stretches of `chunk` frames, each computed with `ctx` frames of real context
     * on both sides (at least the receptive field) and only its own samples kept, so the result
     * equals the one-piece computation while the scratch stays bounded. */
    size_t need = (size_t)(chunk + 2 * ctx) * (size_t)spf;
    if (w->cwav_cap < need) {
        vb_free(w->cwav);
        w->cwav_cap = 0;
        w->cwav = vb_try_malloc(need * sizeof *w->cwav);
        if (!w->cwav)
            return VB_ERR_NOMEM;
        w->cwav_cap = need;
    }
    for (int a = 0; a < n_frames && !err; a += chunk) {
        int b = VB_MIN(n_frames, a + chunk);
        int lo = VB_MAX(0, a - ctx), hi = VB_MIN(n_frames, b + ctx);
        err = decode_range(m, w, pool, mel + lo, n_frames, hi - lo, source + (int64_t)lo * spf,
                           w->cwav);
        if (!err)
            memcpy(wav + (int64_t)a * spf, w->cwav + (int64_t)(a - lo) * spf,
                   (size_t)(b - a) * (size_t)spf * sizeof *wav);
    }
    return err;
}

enum vb_err cb_hift_synthesize(const struct cb_hift *m, struct cb_hift_work *w,
                               struct nn_pool *pool, const float *mel, int n_frames, uint64_t seed,
                               const float *cache_source, int64_t n_cache, float *wav,
                               float *source_out)
{
    enum vb_err err = check_frames(n_frames);
    if (err)
        return err;
    const int64_t L = (int64_t)n_frames * m->spf;
    if (n_cache < 0 || (n_cache > 0 && !cache_source))
        return VB_ERR_INVALID;
    if (w->f0_cap < (size_t)n_frames) {
        vb_free(w->f0);
        w->f0_cap = 0;
        w->f0 = vb_try_malloc((size_t)n_frames * sizeof *w->f0);
        if (!w->f0)
            return VB_ERR_NOMEM;
        w->f0_cap = (size_t)n_frames;
    }
    if (w->src_cap < (size_t)L) {
        vb_free(w->src);
        w->src_cap = 0;
        w->src = vb_try_malloc((size_t)L * sizeof *w->src);
        if (!w->src)
            return VB_ERR_NOMEM;
        w->src_cap = (size_t)L;
    }
    err = cb_hift_f0(m, w, pool, mel, n_frames, w->f0);
    if (err)
        return err;
    double t0 = now_s();
    struct cb_hift_draws d = {.seed = seed};
    err = cb_hift_source(m, pool, w->f0, n_frames, &d, w->src);
    if (err)
        return err;
    /* HiFTGenerator.inference: s[:, :, :cache_source.shape[2]] = cache_source */
    if (n_cache > 0)
        memcpy(w->src, cache_source, (size_t)VB_MIN(n_cache, L) * sizeof *w->src);
    w->tm.source_gen_s += now_s() - t0;
    err = cb_hift_decode(m, w, pool, mel, n_frames, w->src, wav);
    if (!err && source_out)
        memcpy(source_out, w->src, (size_t)L * sizeof *source_out);
    return err;
}

/* ---- trim fade --------------------------------------------------------------------------------
 */

void cb_hift_trim_fade_table(float gains[CB_HIFT_TRIM_FADE_SAMPLES])
{
    const int n = CB_HIFT_TRIM_FADE_SAMPLES / 2;
    /* torch.linspace(pi, 0, n) in float32: start + step*i for the first half, end - step*(n-1-i)
     * for the second. */
    const float start = (float)M_PI, end = 0.0f, step = (end - start) / (float)(n - 1);
    for (int i = 0; i < n; i++) {
        gains[i] = 0.0f;
        float th = i < n / 2 ? start + step * (float)i : end - step * (float)(n - 1 - i);
        gains[n + i] = (cosf(th) + 1.0f) / 2.0f;
    }
}

void cb_hift_trim_fade(float *wav, int64_t n)
{
    float g[CB_HIFT_TRIM_FADE_SAMPLES];
    cb_hift_trim_fade_table(g);
    for (int64_t i = 0; i < n && i < CB_HIFT_TRIM_FADE_SAMPLES; i++)
        wav[i] *= g[i];
}
