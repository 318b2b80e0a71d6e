/* voice_encoder.c: VoiceEncoder forward pass: all partials run as one batch through each LSTM
 * layer (input projections for every step at once, then the recurrence step by step). */
#include "core/vb.h"
#include "core/err.h"
#include "tts/chatterbox/voice_encoder.h"
#include "core/alloc.h"
#include "nn/load_table.h"
#include "nn/conv.h"
#include "nn/gemm.h"

#include <math.h>

struct ve_layer {
    int n_in;
    float *w_ih;        /* (4H, n_in) */
    float *w_hh;        /* (4H, H) */
    float *bias;        /* (4H) = b_ih + b_hh */
    float *bias_hh;     /* (4H) while loading, then added into bias and freed */
    float *p_ih, *p_hh; /* the two matrices packed for nn_gemm */
};

struct cb_ve {
    struct cb_ve_config cfg;
    int n_mels, hidden, n_layers, embed;
    int frame_step;
    struct ve_layer layers[CB_VE_MAX_LAYERS];
    float *proj_w; /* (embed, hidden) */
    float *proj_b; /* (embed) */
    float *p_proj; /* proj_w packed for nn_gemm */
};

struct cb_ve_config cb_ve_default_config(void)
{
    return (struct cb_ve_config){
        .partial_frames = 160, .rate = 1.3, .min_coverage = 0.8, .trim_top_db = 20};
}

/* packed copy of w (n_out rows of n_in) for nn_gemm, or NULL on OOM */
static float *pack(const float *w, int n_in, int n_out)
{
    float *p = vb_try_malloc(nn_gemm_packed_floats(n_in, n_out) * sizeof *p);
    if (p)
        nn_gemm_pack(p, w, n_in, n_out, n_in);
    return p;
}

/* tensor `name` must exist with the given 1-D/2-D shape; loads it as a new f32 array */
/* Load-table rows (nn/load_table): LSTM layer l under "lstm.", then the projection. */
enum { SZ_G, SZ_IN, SZ_H, SZ_EMBED };
static const struct nn_lt_row layer_rows[] = {
    NN_LT_ROW(struct ve_layer, w_ih, "weight_ih_l%d", NN_LT_F32, 0, 2, NN_LT_DIM(SZ_G),
              NN_LT_DIM(SZ_IN)),
    NN_LT_ROW(struct ve_layer, w_hh, "weight_hh_l%d", NN_LT_F32, 0, 2, NN_LT_DIM(SZ_G),
              NN_LT_DIM(SZ_H)),
    NN_LT_ROW(struct ve_layer, bias, "bias_ih_l%d", NN_LT_F32, 0, 1, NN_LT_DIM(SZ_G)),
    NN_LT_ROW(struct ve_layer, bias_hh, "bias_hh_l%d", NN_LT_F32, 0, 1, NN_LT_DIM(SZ_G)),
};
static const struct nn_lt_row proj_rows[] = {
    NN_LT_ROW(struct cb_ve, proj_w, "proj.weight", NN_LT_F32, 0, 2, NN_LT_DIM(SZ_EMBED),
              NN_LT_DIM(SZ_H)),
    NN_LT_ROW(struct cb_ve, proj_b, "proj.bias", NN_LT_F32, 0, 1, NN_LT_DIM(SZ_EMBED)),
};

enum vb_err cb_ve_load(const struct nn_safetensors *st, const char *prefix,
                       const struct cb_ve_config *cfg, struct cb_ve **out, char *why,
                       size_t why_cap)
{
    *out = NULL;
    if (!prefix)
        prefix = "";
    struct cb_ve *ve = vb_try_calloc(1, sizeof *ve);
    if (!ve)
        return VB_ERR_NOMEM;
    ve->cfg = cfg ? *cfg : cb_ve_default_config();
    enum vb_err err = VB_OK;
    char name[256];
    if (ve->cfg.partial_frames < 1 || !(ve->cfg.rate > 0)) {
        err = vb_failf(why, why_cap, VB_ERR_INVALID, "voice encoder: bad partial configuration");
        goto out;
    }
    /* get_frame_step: round((sample_rate / rate) / partial_frames), rate 1.3 in double */
    ve->frame_step = (int)lround((16000.0 / ve->cfg.rate) / ve->cfg.partial_frames);
    if (ve->frame_step < 1 || ve->frame_step > ve->cfg.partial_frames) {
        err = vb_failf(why, why_cap, VB_ERR_INVALID, "voice encoder: frame step %d out of range",
                       ve->frame_step);
        goto out;
    }
    /* sizes from layer 0 */
    snprintf(name, sizeof name, "%slstm.weight_hh_l0", prefix);
    const struct nn_st_tensor *hh = nn_st_find(st, name);
    snprintf(name, sizeof name, "%slstm.weight_ih_l0", prefix);
    const struct nn_st_tensor *ih = nn_st_find(st, name);
    if (!hh || !ih || hh->n_dims != 2 || ih->n_dims != 2 || hh->shape[1] < 1 ||
        hh->shape[1] > 65536 || hh->shape[0] != 4 * hh->shape[1] || ih->shape[1] < 1 ||
        ih->shape[1] > 65536) {
        err = vb_failf(why, why_cap, VB_ERR_FORMAT,
                       "%slstm.weight_ih_l0/weight_hh_l0: missing or not (4H, in)/(4H, H)", prefix);
        goto out;
    }
    ve->hidden = (int)hh->shape[1];
    ve->n_mels = (int)ih->shape[1];
    int H = ve->hidden, G = 4 * H;
    struct nn_lt lt = {.st = st, .prefix = prefix, .why = why, .why_cap = why_cap};
    int64_t sz[NN_LT_MAX_SIZES] = {[SZ_G] = G, [SZ_H] = H};
    for (int l = 0; l < CB_VE_MAX_LAYERS; l++) {
        snprintf(name, sizeof name, "%slstm.weight_ih_l%d", prefix, l);
        if (!nn_st_find(st, name))
            break;
        struct ve_layer *ly = &ve->layers[l];
        ly->n_in = l == 0 ? ve->n_mels : H;
        sz[SZ_IN] = ly->n_in;
        if (!nn_lt_load(&lt, layer_rows, VB_ARRAY_LEN(layer_rows), ly, sz, "lstm.", l)) {
            err = lt.err;
            goto out;
        }
        for (int i = 0; i < G; i++)
            ly->bias[i] += ly->bias_hh[i];
        vb_free(ly->bias_hh);
        ly->bias_hh = NULL;
        ly->p_ih = pack(ly->w_ih, ly->n_in, G);
        ly->p_hh = pack(ly->w_hh, H, G);
        if (!ly->p_ih || !ly->p_hh) {
            err = vb_failf(why, why_cap, VB_ERR_NOMEM, "voice encoder: out of memory");
            goto out;
        }
        ve->n_layers = l + 1;
    }
    snprintf(name, sizeof name, "%sproj.weight", prefix);
    const struct nn_st_tensor *pw = nn_st_find(st, name);
    if (!pw || pw->n_dims != 2 || pw->shape[0] < 1 || pw->shape[0] > 65536) {
        err = vb_failf(why, why_cap, VB_ERR_FORMAT, "%s: missing or not 2-D", name);
        goto out;
    }
    ve->embed = (int)pw->shape[0];
    sz[SZ_EMBED] = ve->embed;
    if (!nn_lt_load(&lt, proj_rows, VB_ARRAY_LEN(proj_rows), ve, sz, NULL, 0)) {
        err = lt.err;
        goto out;
    }
    ve->p_proj = pack(ve->proj_w, H, ve->embed);
    if (!ve->p_proj)
        err = vb_failf(why, why_cap, VB_ERR_NOMEM, "voice encoder: out of memory");
out:
    if (err != VB_OK) {
        cb_ve_free(ve);
        return err;
    }
    *out = ve;
    return VB_OK;
}

void cb_ve_free(struct cb_ve *ve)
{
    if (!ve)
        return;
    for (int l = 0; l < CB_VE_MAX_LAYERS; l++) {
        vb_free(ve->layers[l].w_ih);
        vb_free(ve->layers[l].w_hh);
        vb_free(ve->layers[l].bias);
        vb_free(ve->layers[l].bias_hh);
        vb_free(ve->layers[l].p_ih);
        vb_free(ve->layers[l].p_hh);
    }
    vb_free(ve->p_proj);
    vb_free(ve->proj_w);
    vb_free(ve->proj_b);
    vb_free(ve);
}

int cb_ve_embed_dim(const struct cb_ve *ve)
{
    return ve->embed;
}

int cb_ve_n_mels(const struct cb_ve *ve)
{
    return ve->n_mels;
}

void cb_ve_trim(const float *wav, int64_t n, int top_db, int64_t *start, int64_t *end)
{
    const int frame = 2048, hop = 512, half = frame / 2;
    *start = 0;
    *end = 0;
    if (n <= 0)
        return;
    /* frames of the zero-padded signal: 1 + floor(n / hop) */
    int64_t F = 1 + n / hop;
    double *mse = vb_try_malloc((size_t)F * sizeof *mse);
    if (!mse) {
        *end = n; /* no trim rather than failure */
        return;
    }
    double mx = 0;
    for (int64_t f = 0; f < F; f++) {
        int64_t a = f * hop - half, b = a + frame;
        double s = 0;
        for (int64_t i = a < 0 ? 0 : a; i < b && i < n; i++)
            s += (double)wav[i] * wav[i];
        /* librosa: rms = sqrt(mean(x^2)) in float32, squared again */
        float rms = sqrtf((float)(s / frame));
        mse[f] = (double)rms * rms;
        mx = fmax(mx, mse[f]);
    }
    double ref_db = 10.0 * log10(fmax(1e-10, mx));
    int64_t first = -1, last = -1;
    for (int64_t f = 0; f < F; f++) {
        double db = 10.0 * log10(fmax(1e-10, mse[f])) - ref_db;
        if (db > -top_db) {
            if (first < 0)
                first = f;
            last = f;
        }
    }
    vb_free(mse);
    if (first < 0)
        return;
    *start = first * hop;
    *end = (last + 1) * hop < n ? (last + 1) * hop : n;
}

int cb_ve_num_partials(const struct cb_ve *ve, int64_t T, int64_t *target)
{
    int64_t win = ve->cfg.partial_frames, step = ve->frame_step;
    int64_t v = T - win + step;
    if (v < 0)
        v = 0;
    int64_t n = v / step, rem = v % step;
    if (n == 0 || (double)(rem + (win - step)) / (double)win >= ve->cfg.min_coverage)
        n++;
    if (target)
        *target = win + step * (n - 1);
    return (int)n;
}

static inline float sigmoidf(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

/* The LSTM stack over partials [p0, p1). Partial p owns x rows at x + p*W*in_max (row t at
 * + t*in for the layer's input width in) and gx rows at gx + p*W*G, so ranges run
 * independently; h, c (P, H) and gh (P, G) are sliced by partial. */
struct lstm_job {
    const struct cb_ve *ve;
    int P, in_max;
    float *x, *gx, *gh, *h, *c;
};

static void lstm_range(const struct lstm_job *jb, int p0, int p1, struct nn_pool *pool)
{
    const struct cb_ve *ve = jb->ve;
    int W = ve->cfg.partial_frames, H = ve->hidden, G = 4 * H, np = p1 - p0;
    if (np <= 0)
        return;
    float *h = jb->h + (int64_t)p0 * H, *c = jb->c + (int64_t)p0 * H;
    float *gh = jb->gh + (int64_t)p0 * G;
    for (int l = 0; l < ve->n_layers; l++) {
        const struct ve_layer *ly = &ve->layers[l];
        /* input projections of every step at once */
        for (int p = p0; p < p1; p++)
            nn_gemm(pool, ly->p_ih, ly->n_in, G, jb->x + (int64_t)p * W * jb->in_max, ly->n_in, W,
                    NULL, jb->gx + (int64_t)p * W * G, G);
        memset(h, 0, (size_t)np * H * sizeof *h);
        memset(c, 0, (size_t)np * H * sizeof *c);
        for (int t = 0; t < W; t++) {
            if (t > 0)
                nn_gemm(pool, ly->p_hh, H, G, h, H, np, NULL, gh, G);
            for (int q = 0; q < np; q++) {
                int64_t p = p0 + q;
                const float *gxr = jb->gx + (p * W + t) * G;
                const float *ghr = gh + (int64_t)q * G;
                float *hp = h + (int64_t)q * H, *cp = c + (int64_t)q * H;
                float *xo = jb->x + p * W * jb->in_max + (int64_t)t * H; /* next input */
                for (int j = 0; j < H; j++) {
                    float gi = gxr[j] + ly->bias[j], gf = gxr[H + j] + ly->bias[H + j];
                    float gg = gxr[2 * H + j] + ly->bias[2 * H + j];
                    float go = gxr[3 * H + j] + ly->bias[3 * H + j];
                    if (t > 0) {
                        gi += ghr[j];
                        gf += ghr[H + j];
                        gg += ghr[2 * H + j];
                        go += ghr[3 * H + j];
                    }
                    float cn = sigmoidf(gf) * cp[j] + sigmoidf(gi) * tanhf(gg);
                    cp[j] = cn;
                    hp[j] = sigmoidf(go) * tanhf(cn);
                    xo[j] = hp[j];
                }
            }
        }
    }
}

static void lstm_worker(void *ctx, int ith, int nth)
{
    const struct lstm_job *jb = ctx;
    lstm_range(jb, jb->P * ith / nth, jb->P * (ith + 1) / nth, NULL);
}

#define PARTIAL_GROUP 32 /* partials run together (bounds the scratch for long clips) */

enum vb_err cb_ve_embed_mel(const struct cb_ve *ve, struct nn_pool *pool, const float *mel,
                            int64_t T, float *embed, float *partials)
{
    if (T < 1 || T > (int64_t)1 << 24)
        return VB_ERR_INVALID;
    int64_t target;
    int P = cb_ve_num_partials(ve, T, &target);
    int W = ve->cfg.partial_frames, H = ve->hidden, G = 4 * H, M = ve->n_mels, E = ve->embed;
    int PG = VB_MIN(P, PARTIAL_GROUP);
    int64_t rows = (int64_t)PG * W;
    int in_max = VB_MAX(M, H);
    float *x = vb_try_malloc((size_t)rows * (size_t)in_max * sizeof *x);
    float *gx = vb_try_malloc((size_t)rows * (size_t)G * sizeof *gx);
    float *gh = vb_try_malloc((size_t)PG * (size_t)G * sizeof *gh);
    float *h = vb_try_calloc((size_t)PG * (size_t)H, sizeof *h);
    float *c = vb_try_calloc((size_t)PG * (size_t)H, sizeof *c);
    float *pe = vb_try_malloc((size_t)PG * (size_t)E * sizeof *pe);
    double *acc = vb_try_calloc((size_t)E, sizeof *acc);
    enum vb_err err = VB_OK;
    if (!x || !gx || !gh || !h || !c || !pe || !acc) {
        err = VB_ERR_NOMEM;
        goto out;
    }
    for (int g0 = 0; g0 < P; g0 += PG) {
        int np = VB_MIN(PG, P - g0);
        /* partial p = mel frames [p*step, p*step + W), zero beyond T */
        for (int q = 0; q < np; q++)
            for (int t = 0; t < W; t++) {
                int64_t src = (int64_t)(g0 + q) * ve->frame_step + t;
                float *dst = x + (int64_t)q * W * in_max + (int64_t)t * M;
                if (src < T)
                    memcpy(dst, mel + src * M, (size_t)M * sizeof *dst);
                else
                    memset(dst, 0, (size_t)M * sizeof *dst);
            }
        struct lstm_job jb = {
            .ve = ve, .P = np, .in_max = in_max, .x = x, .gx = gx, .gh = gh, .h = h, .c = c};
        /* partials are independent: with several threads each runs its own share end to end
         * (no hand-off per time step); a single partial uses the pool inside the GEMMs */
        if (np >= 2 && pool && nn_pool_threads(pool) > 1)
            nn_pool_run(pool, lstm_worker, &jb);
        else
            lstm_range(&jb, 0, np, pool);
        /* final hidden state of the top layer -> proj -> ReLU -> L2 norm per partial */
        nn_gemm(pool, ve->p_proj, H, E, h, H, np, NULL, pe, E);
        for (int q = 0; q < np; q++) {
            float *e = pe + (int64_t)q * E;
            double ss = 0;
            for (int i = 0; i < E; i++) {
                e[i] += ve->proj_b[i];
                if (e[i] < 0)
                    e[i] = 0;
                ss += (double)e[i] * e[i];
            }
            float inv = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
            for (int i = 0; i < E; i++) {
                e[i] *= inv;
                acc[i] += e[i];
            }
        }
        if (partials)
            memcpy(partials + (int64_t)g0 * E, pe, (size_t)np * E * sizeof *pe);
    }
    double ss = 0;
    for (int i = 0; i < E; i++) {
        acc[i] /= P;
        ss += acc[i] * acc[i];
    }
    for (int i = 0; i < E; i++)
        embed[i] = ss > 0 ? (float)(acc[i] / sqrt(ss)) : 0.0f;
out:
    vb_free(x);
    vb_free(gx);
    vb_free(gh);
    vb_free(h);
    vb_free(c);
    vb_free(pe);
    vb_free(acc);
    return err;
}

enum vb_err cb_ve_embed_wav(const struct cb_ve *ve, const struct cb_frontend *fe,
                            struct nn_pool *pool, const float *wav, int64_t n, float *embed)
{
    if (ve->n_mels != CB_VE_N_MELS)
        return VB_ERR_INVALID;
    int64_t a = 0, b = n;
    if (ve->cfg.trim_top_db > 0)
        cb_ve_trim(wav, n, ve->cfg.trim_top_db, &a, &b);
    if (b - a <= CB_ENC_N_FFT / 2)
        return VB_ERR_INVALID;
    int64_t T = cb_fe_ve_mel_frames(b - a);
    float *mel = vb_try_malloc((size_t)T * CB_VE_N_MELS * sizeof *mel);
    float *tm = vb_try_malloc((size_t)T * CB_VE_N_MELS * sizeof *tm);
    enum vb_err err = VB_ERR_NOMEM;
    if (!mel || !tm)
        goto out;
    err = cb_fe_ve_mel(fe, wav + a, b - a, mel);
    if (err != VB_OK)
        goto out;
    for (int m = 0; m < CB_VE_N_MELS; m++)
        for (int64_t t = 0; t < T; t++)
            tm[t * CB_VE_N_MELS + m] = mel[(int64_t)m * T + t];
    err = cb_ve_embed_mel(ve, pool, tm, T, embed, NULL);
out:
    vb_free(mel);
    vb_free(tm);
    return err;
}

enum vb_err cb_ve_add_random(struct nn_st_writer *w, const char *prefix, int n_mels, int hidden,
                             int n_layers, int embed, uint64_t seed)
{
    if (!prefix)
        prefix = "";
    if (n_mels < 1 || hidden < 1 || n_layers < 1 || n_layers > CB_VE_MAX_LAYERS || embed < 1)
        return VB_ERR_INVALID;
    char name[256];
    float a = 1.0f / sqrtf((float)hidden);
    enum vb_err err = VB_OK;
    for (int l = 0; l < n_layers && err == VB_OK; l++) {
        int64_t g = 4 * (int64_t)hidden, in = l == 0 ? n_mels : hidden;
        snprintf(name, sizeof name, "%slstm.weight_ih_l%d", prefix, l);
        err = nn_st_writer_add_uniform(w, name, 2, (int64_t[]){g, in}, -a, a, seed++);
        snprintf(name, sizeof name, "%slstm.weight_hh_l%d", prefix, l);
        if (err == VB_OK)
            err = nn_st_writer_add_uniform(w, name, 2, (int64_t[]){g, hidden}, -a, a, seed++);
        snprintf(name, sizeof name, "%slstm.bias_ih_l%d", prefix, l);
        if (err == VB_OK)
            err = nn_st_writer_add_uniform(w, name, 1, (int64_t[]){g}, -a, a, seed++);
        snprintf(name, sizeof name, "%slstm.bias_hh_l%d", prefix, l);
        if (err == VB_OK)
            err = nn_st_writer_add_uniform(w, name, 1, (int64_t[]){g}, -a, a, seed++);
    }
    snprintf(name, sizeof name, "%sproj.weight", prefix);
    if (err == VB_OK)
        err = nn_st_writer_add_uniform(w, name, 2, (int64_t[]){embed, hidden}, -a, a, seed++);
    snprintf(name, sizeof name, "%sproj.bias", prefix);
    if (err == VB_OK)
        err = nn_st_writer_add_uniform(w, name, 1, (int64_t[]){embed}, -a, a, seed++);
    snprintf(name, sizeof name, "%ssimilarity_weight", prefix);
    if (err == VB_OK)
        err = nn_st_writer_add_const(w, name, 1, (int64_t[]){1}, 10.0f);
    snprintf(name, sizeof name, "%ssimilarity_bias", prefix);
    if (err == VB_OK)
        err = nn_st_writer_add_const(w, name, 1, (int64_t[]){1}, -5.0f);
    return err;
}
