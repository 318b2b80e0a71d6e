/* hift_load.c: the HiFT vocoder's weights from a safetensors file (weight-normed
 * convolutions folded at load time, Snake alphas, F0 predictor, source module) and the sizes
 * derived from them (zero margins, receptive field). */
#include "core/vb.h"
#include "tts/chatterbox/hift.h"

#include <math.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "nn/load_table.h"
#include "tts/chatterbox/hift_internal.h"

struct cb_hift_params cb_hift_default_params(void)
{
    struct cb_hift_params p = {
        .in_channels = 80,
        .base_channels = 0,
        .nb_harmonics = 8,
        .sample_rate = CB_HIFT_SAMPLE_RATE_HZ,
        .nsf_alpha = 0.1f,
        .nsf_sigma = 0.003f,
        .voiced_threshold_hz = 10.0f,
        .n_stages = 3,
        .upsample_rates = {8, 5, 3},
        .upsample_kernels = {16, 11, 7},
        .n_kernels = 3,
        .resblock_kernels = {3, 7, 11},
        .n_dilations = 3,
        .resblock_dilations = {1, 3, 5},
        .source_resblock_kernels = {7, 7, 11},
        .source_dilations = {1, 3, 5},
        .n_fft = 16,
        .hop = 4,
        .lrelu_slope = 0.1f,
        .audio_limit = 0.99f,
        .f0_layers = 5,
        .f0_channels = 0,
        .chunk_frames = 256,
        .context_frames = 0,
    };
    return p;
}

/* ---- loading ------------------------------------------------------------------------------ */

struct loader {
    struct nn_lt lt; /* first member: put casts back; the loop for the tables below */
    const struct nn_safetensors *st;
    const char *prefix;
    char *why;
    size_t why_cap;
    size_t used;  /* tensors consumed, to report leftovers */
    int dilation; /* of the HF_CONV_WN_DILATED rows being loaded */
};

static const struct nn_st_tensor *find(struct loader *ld, const char *name)
{
    char full[256];
    snprintf(full, sizeof full, "%s%s", ld->prefix, name);
    return nn_st_find(ld->st, full);
}

/* Reads tensor `name` (F32/F16/BF16) with the exact shape into a new array (caller frees). */
static enum vb_err load_f32(struct loader *ld, const char *name, int n_dims, const int64_t *shape,
                            float **out)
{
    *out = NULL;
    const struct nn_st_tensor *t = find(ld, name);
    if (!t) {
        return vb_failf(ld->why, ld->why_cap, VB_ERR_FORMAT, "missing tensor %s%s", ld->prefix,
                        name);
    }
    enum nn_st_dtype dt = t->dtype == NN_ST_F16 || t->dtype == NN_ST_BF16 ? t->dtype : NN_ST_F32;
    enum vb_err err = nn_st_expect(t, dt, n_dims, shape, ld->why, ld->why_cap);
    if (err)
        return err;
    size_t n = (size_t)nn_st_numel(t);
    float *a = vb_try_malloc(n * sizeof *a);
    if (!a)
        return VB_ERR_NOMEM;
    err = nn_st_to_f32(t, a, n);
    if (err) {
        vb_failf(ld->why, ld->why_cap, err, "%s%s: cannot convert to f32", ld->prefix, name);
        vb_free(a);
        return err;
    }
    ld->used++;
    *out = a;
    return VB_OK;
}

/* Weight-normed weight of module `mod` with v shape `shape` (dim 0 = the norm axis):
 * W = v * (g / ||v||), norm over all dims but 0. Accepts parametrizations.weight.original0/1
 * and the legacy weight_g/weight_v. */
static enum vb_err load_wn(struct loader *ld, const char *mod, int n_dims, const int64_t *shape,
                           float **out)
{
    char gname[200], vname[200];
    float *g = NULL, *v = NULL;
    enum vb_err err;
    int64_t gshape[NN_ST_MAX_DIMS];
    gshape[0] = shape[0];
    for (int i = 1; i < n_dims; i++)
        gshape[i] = 1;
    *out = NULL;
    snprintf(gname, sizeof gname, "%s.parametrizations.weight.original0", mod);
    snprintf(vname, sizeof vname, "%s.parametrizations.weight.original1", mod);
    if (!find(ld, gname)) {
        snprintf(gname, sizeof gname, "%s.weight_g", mod);
        snprintf(vname, sizeof vname, "%s.weight_v", mod);
        if (!find(ld, gname)) {
            return vb_failf(ld->why, ld->why_cap, VB_ERR_FORMAT,
                            "missing tensor %s%s.parametrizations.weight.original0 (or .weight_g)",
                            ld->prefix, mod);
        }
    }
    err = load_f32(ld, gname, n_dims, gshape, &g);
    if (!err)
        err = load_f32(ld, vname, n_dims, shape, &v);
    if (err)
        goto out;
    size_t per = 1;
    for (int i = 1; i < n_dims; i++)
        per *= (size_t)shape[i];
    for (int64_t o = 0; o < shape[0]; o++) {
        float *vr = v + (size_t)o * per;
        double ss = 0;
        for (size_t i = 0; i < per; i++)
            ss += (double)vr[i] * vr[i];
        float scale = g[o] / (float)sqrt(ss);
        for (size_t i = 0; i < per; i++)
            vr[i] *= scale;
    }
    *out = v;
    v = NULL;
out:
    vb_free(g);
    vb_free(v);
    return err;
}

static enum vb_err load_bias(struct loader *ld, const char *mod, int64_t n, float **out)
{
    char name[256];
    if (snprintf(name, sizeof name, "%s.bias", mod) >= (int)sizeof name) {
        return vb_failf(ld->why, ld->why_cap, VB_ERR_INVALID, "hift: tensor name too long");
    }
    return load_f32(ld, name, 1, &n, out);
}

/* Weight-normed Conv1d mod: (c_out, c_in, k) + bias, stride 1. */
static enum vb_err load_conv_wn(struct loader *ld, const char *mod, struct cb_hift_conv *c,
                                int c_out, int c_in, int k, int dil, int pad)
{
    float *w = NULL, *b = NULL;
    int64_t shape[3] = {c_out, c_in, k};
    enum vb_err err = load_wn(ld, mod, 3, shape, &w);
    if (!err)
        err = load_bias(ld, mod, c_out, &b);
    if (!err) {
        err = cb_hift_conv_init(c, w, b, c_out, c_in, k, dil, pad);
        if (err)
            vb_failf(ld->why, ld->why_cap, err, "%s%s: cannot pack weights", ld->prefix, mod);
    }
    vb_free(w);
    vb_free(b);
    return err;
}

/* Load-table rows (nn/load_table) of one ResBlock dilation, under "<module>.". */
enum { HF_CONV_WN = 1, HF_ALPHA };
enum { HF_DILATED = 1 }; /* HF_CONV_WN arg: dilation ld->dilation (else 1) */
enum { SZ_C, SZ_K };
static const struct nn_lt_row dilation_rows[] = {
    NN_LT_ROW(struct snake_pair, c1, "convs1.%d", HF_CONV_WN, HF_DILATED, 3, NN_LT_DIM(SZ_C),
              NN_LT_DIM(SZ_C), NN_LT_DIM(SZ_K)),
    NN_LT_ROW(struct snake_pair, c2, "convs2.%d", HF_CONV_WN, 0, 3, NN_LT_DIM(SZ_C),
              NN_LT_DIM(SZ_C), NN_LT_DIM(SZ_K)),
    NN_LT_ROW(struct snake_pair, a1, "activations1.%d.alpha", HF_ALPHA, 0, 1, NN_LT_DIM(SZ_C)),
    NN_LT_ROW(struct snake_pair, a2, "activations2.%d.alpha", HF_ALPHA, 0, 1, NN_LT_DIM(SZ_C)),
};

/* The load-table hook: names come without the prefix (find adds it). */
static bool put(struct nn_lt *lt, const struct nn_lt_row *row, const char *name, int64_t *shape,
                void *dst)
{
    struct loader *ld = (struct loader *)lt;
    int d = row->arg == HF_DILATED ? ld->dilation : 1, k = (int)shape[2];
    enum vb_err err = row->kind == HF_ALPHA ? load_f32(ld, name, 1, shape, dst)
                                            : load_conv_wn(ld, name, dst, (int)shape[0],
                                                           (int)shape[1], k, d, d * (k - 1) / 2);
    if (err)
        lt->err = err;
    return !err;
}

static enum vb_err load_resblock(struct loader *ld, const char *mod, struct resblock *r, int c,
                                 int k, int n_dil, const int *dil)
{
    char group[200];
    int64_t sz[NN_LT_MAX_SIZES] = {[SZ_C] = c, [SZ_K] = k};
    snprintf(group, sizeof group, "%s.", mod);
    r->c = c;
    r->n = n_dil;
    for (int j = 0; j < n_dil && !ld->lt.err; j++) {
        ld->dilation = dil[j];
        nn_lt_load(&ld->lt, dilation_rows, VB_ARRAY_LEN(dilation_rows), &r->d[j], sz, group, j);
    }
    return ld->lt.err;
}

static void resblock_release(struct resblock *r)
{
    for (int j = 0; j < CB_HIFT_MAX_DILATIONS; j++) {
        cb_hift_conv_release(&r->d[j].c1);
        cb_hift_conv_release(&r->d[j].c2);
        vb_free(r->d[j].a1);
        vb_free(r->d[j].a2);
    }
    memset(r, 0, sizeof *r);
}

void cb_hift_free(struct cb_hift *m)
{
    if (!m)
        return;
    for (int i = 0; i < F0_MAX_LAYERS; i++)
        cb_hift_conv_release(&m->f0_conv[i]);
    vb_free(m->f0_cls_w);
    cb_hift_conv_release(&m->conv_pre);
    for (int i = 0; i < CB_HIFT_MAX_STAGES; i++) {
        cb_hift_convt_release(&m->ups[i]);
        cb_hift_convs_release(&m->sdown[i]);
        resblock_release(&m->sres[i]);
    }
    for (int i = 0; i < CB_HIFT_MAX_STAGES * CB_HIFT_MAX_KERNELS; i++)
        resblock_release(&m->res[i]);
    cb_hift_conv_release(&m->conv_post);
    vb_free(m);
}

static enum vb_err check_params(const struct cb_hift_params *p, char *why, size_t cap)
{
    const char *bad = NULL;
    if (p->in_channels <= 0)
        bad = "in_channels";
    else if (p->nb_harmonics < 0 || p->nb_harmonics + 1 > MAX_HARMONIC)
        bad = "nb_harmonics";
    else if (p->sample_rate <= 0)
        bad = "sample_rate";
    else if (p->n_stages < 1 || p->n_stages > CB_HIFT_MAX_STAGES)
        bad = "n_stages";
    else if (p->n_kernels < 1 || p->n_kernels > CB_HIFT_MAX_KERNELS)
        bad = "n_kernels";
    else if (p->n_dilations < 1 || p->n_dilations > CB_HIFT_MAX_DILATIONS)
        bad = "n_dilations";
    else if (p->n_fft < 2 || p->n_fft > MAX_FFT || p->n_fft % 2 || p->hop < 1 || p->hop > p->n_fft)
        bad = "n_fft/hop";
    else if (p->f0_layers < 1 || p->f0_layers > F0_MAX_LAYERS)
        bad = "f0_layers";
    for (int i = 0; !bad && i < p->n_stages; i++)
        if (p->upsample_rates[i] < 1 || p->upsample_kernels[i] < p->upsample_rates[i] ||
            (p->upsample_kernels[i] - p->upsample_rates[i]) % 2 ||
            p->source_resblock_kernels[i] < 1 || p->source_resblock_kernels[i] % 2 == 0)
            bad = "upsample_rates/kernels or source_resblock_kernels";
    for (int i = 0; !bad && i < p->n_kernels; i++)
        if (p->resblock_kernels[i] < 1 || p->resblock_kernels[i] % 2 == 0)
            bad = "resblock_kernels";
    for (int i = 0; !bad && i < p->n_dilations; i++)
        if (p->resblock_dilations[i] < 1 || p->source_dilations[i] < 1)
            bad = "dilations";
    if (bad) {
        return vb_failf(why, cap, VB_ERR_INVALID, "hift: invalid parameter %s", bad);
    }
    return VB_OK;
}

/* Largest zero margin any stride-1 convolution of the model reads. */
static int conv_margin_of(const struct cb_hift_conv *c)
{
    if (!c->w && !c->wb)
        return 0;
    return VB_MAX(c->pad, (c->k - 1) * c->dilation - c->pad);
}

/* One-sided reach of a resblock, in steps of its rate. */
static int resblock_reach(const struct resblock *r)
{
    int s = 0;
    for (int j = 0; j < r->n; j++)
        s += conv_margin_of(&r->d[j].c1) + conv_margin_of(&r->d[j].c2);
    return s;
}

/* A conservative one-sided receptive field of the generator (mel and source -> samples), in
 * mel frames: every path's reach added up, plus two frames of margin. */
static int receptive_frames(const struct cb_hift *m)
{
    const struct cb_hift_params *p = &m->p;
    double r = conv_margin_of(&m->conv_pre), rate = 1.0;
    for (int i = 0; i < p->n_stages; i++) {
        const struct cb_hift_convt *u = &m->ups[i];
        r += (double)(VB_MAX(u->k - 1 - u->pad, u->pad) + u->stride) / (rate * u->stride);
        rate *= u->stride;
        r += 1.0 / rate; /* reflection pad */
        int res = 0;
        for (int j = 0; j < p->n_kernels; j++)
            res = VB_MAX(res, resblock_reach(&m->res[i * p->n_kernels + j]));
        r += (double)(res + resblock_reach(&m->sres[i])) / rate;
        r += (double)(m->sdown[i].k + m->sdown[i].pad) / (m->up); /* STFT frames: up per frame */
    }
    r += (double)conv_margin_of(&m->conv_post) / m->up;
    r += (double)(p->n_fft / p->hop + 1) / m->up + (double)p->n_fft / m->spf; /* (i)STFT */
    return (int)ceil(r) + 2;
}

/* Output channels of weight-normed module `mod` (its v tensor's dim 0), or -1. */
static int wn_out_channels(struct loader *ld, const char *mod)
{
    char name[200];
    snprintf(name, sizeof name, "%s.parametrizations.weight.original1", mod);
    const struct nn_st_tensor *t = find(ld, name);
    if (!t) {
        snprintf(name, sizeof name, "%s.weight_v", mod);
        t = find(ld, name);
    }
    return t && t->n_dims == 3 && t->shape[0] >= 1 && t->shape[0] <= 65536 ? (int)t->shape[0] : -1;
}

/* The widths the checkpoint decides (unless the params set them). */
static enum vb_err read_sizes(struct loader *ld, struct cb_hift_params *p)
{
    if (p->base_channels <= 0 && (p->base_channels = wn_out_channels(ld, "conv_pre")) < 0)
        return vb_failf(ld->why, ld->why_cap, VB_ERR_FORMAT,
                        "missing or malformed tensor %sconv_pre weight", ld->prefix);
    if (p->f0_channels <= 0 && (p->f0_channels = wn_out_channels(ld, "f0_predictor.condnet.0")) < 0)
        return vb_failf(ld->why, ld->why_cap, VB_ERR_FORMAT,
                        "missing or malformed tensor %sf0_predictor.condnet.0 weight", ld->prefix);
    if (p->base_channels % (1 << p->n_stages))
        return vb_failf(ld->why, ld->why_cap, VB_ERR_FORMAT,
                        "hift: base_channels %d not divisible by 2^%d", p->base_channels,
                        p->n_stages);
    return VB_OK;
}

/* A one-element tensor's value. */
static enum vb_err load_scalar(struct loader *ld, const char *name, float *out)
{
    int64_t one = 1;
    float *v = NULL;
    enum vb_err err = load_f32(ld, name, 1, &one, &v);
    if (!err)
        *out = v[0];
    vb_free(v);
    return err;
}

/* F0 predictor: condnet.{0,2,4,..} Conv1d k3 pad1 + ELU, classifier Linear(C -> 1); source
 * module: l_linear Linear(harmonics -> 1). */
static enum vb_err load_f0_source(struct loader *ld, struct cb_hift *m)
{
    const struct cb_hift_params *p = &m->p;
    char name[200];
    enum vb_err err = VB_OK;
    for (int i = 0; i < p->f0_layers && !err; i++) {
        snprintf(name, sizeof name, "f0_predictor.condnet.%d", 2 * i);
        err = load_conv_wn(ld, name, &m->f0_conv[i], p->f0_channels,
                           i == 0 ? p->in_channels : p->f0_channels, 3, 1, 1);
    }
    int64_t shape[2] = {1, p->f0_channels}, lshape[2] = {1, m->n_harm};
    float *w = NULL;
    if (!err)
        err = load_f32(ld, "f0_predictor.classifier.weight", 2, shape, &m->f0_cls_w);
    if (!err)
        err = load_scalar(ld, "f0_predictor.classifier.bias", &m->f0_cls_b);
    if (!err)
        err = load_f32(ld, "m_source.l_linear.weight", 2, lshape, &w);
    if (!err)
        err = load_scalar(ld, "m_source.l_linear.bias", &m->l_b);
    if (!err)
        memcpy(m->l_w, w, (size_t)m->n_harm * sizeof *w);
    vb_free(w);
    return err;
}

/* Stage i: ups (transposed, weight-normed), source_downs (source STFT down by d), the source
 * ResBlock and the n_kernels ResBlocks; BF16 copies when asked. */
static enum vb_err load_stage(struct loader *ld, struct cb_hift *m, int i, int d)
{
    const struct cb_hift_params *p = &m->p;
    char name[200];
    float *w = NULL, *b = NULL;
    int cin = p->base_channels >> i, cout = p->base_channels >> (i + 1), n_bins = p->n_fft / 2 + 1;
    int u = p->upsample_rates[i], k = p->upsample_kernels[i];
    int64_t shape[3] = {cin, cout, k};
    snprintf(name, sizeof name, "ups.%d", i);
    enum vb_err err = load_wn(ld, name, 3, shape, &w);
    if (!err)
        err = load_bias(ld, name, cout, &b);
    if (!err)
        err = cb_hift_convt_init(&m->ups[i], w, b, cin, cout, k, u, (k - u) / 2);
    vb_free(w);
    vb_free(b);
    w = b = NULL;
    if (err)
        return err;

    int dk = d == 1 ? 1 : 2 * d, dpad = d == 1 ? 0 : d / 2;
    int64_t dshape[3] = {cout, 2 * n_bins, dk};
    snprintf(name, sizeof name, "source_downs.%d.weight", i);
    err = load_f32(ld, name, 3, dshape, &w);
    if (!err) {
        snprintf(name, sizeof name, "source_downs.%d", i);
        err = load_bias(ld, name, cout, &b);
    }
    if (!err)
        err = cb_hift_convs_init(&m->sdown[i], w, b, cout, 2 * n_bins, dk, d, dpad);
    vb_free(w);
    vb_free(b);
    if (err)
        return err;

    snprintf(name, sizeof name, "source_resblocks.%d", i);
    err = load_resblock(ld, name, &m->sres[i], cout, p->source_resblock_kernels[i], p->n_dilations,
                        p->source_dilations);
    for (int j = 0; j < p->n_kernels && !err; j++) {
        snprintf(name, sizeof name, "resblocks.%d", i * p->n_kernels + j);
        err = load_resblock(ld, name, &m->res[i * p->n_kernels + j], cout, p->resblock_kernels[j],
                            p->n_dilations, p->resblock_dilations);
    }
    if (err)
        return err;
    if (p->bf16 && !(err = cb_hift_conv_use_bf16(&m->ups[i].gemm)))
        err = cb_hift_conv_use_bf16(&m->sdown[i].gemm);
    for (int j = -1; j < p->n_kernels && p->bf16 && !err; j++) {
        struct resblock *rb = j < 0 ? &m->sres[i] : &m->res[i * p->n_kernels + j];
        for (int q = 0; q < p->n_dilations && !err; q++)
            if (!(err = cb_hift_conv_use_bf16(&rb->d[q].c1)))
                err = cb_hift_conv_use_bf16(&rb->d[q].c2);
    }
    if (err)
        vb_failf(ld->why, ld->why_cap, err, "hift: out of memory for the BF16 weights");
    return err;
}

/* The zero margin every stride-1 convolution needs, rounded to 16 floats. */
static int margin_of(const struct cb_hift *m)
{
    const struct cb_hift_params *p = &m->p;
    int mg = VB_MAX(conv_margin_of(&m->conv_pre), conv_margin_of(&m->conv_post));
    for (int i = 0; i < p->f0_layers; i++)
        mg = VB_MAX(mg, conv_margin_of(&m->f0_conv[i]));
    for (int i = 0; i < p->n_stages; i++)
        for (int j = 0; j < p->n_dilations; j++) {
            mg = VB_MAX(mg, conv_margin_of(&m->sres[i].d[j].c1));
            mg = VB_MAX(mg, conv_margin_of(&m->sres[i].d[j].c2));
            for (int r = 0; r < p->n_kernels; r++) {
                mg = VB_MAX(mg, conv_margin_of(&m->res[i * p->n_kernels + r].d[j].c1));
                mg = VB_MAX(mg, conv_margin_of(&m->res[i * p->n_kernels + r].d[j].c2));
            }
        }
    return (mg + 15) / 16 * 16;
}

/* Leftover tensors under the prefix usually mean a layout mismatch. */
static void warn_unused(const struct loader *ld)
{
    size_t plen = strlen(ld->prefix), n_pref = 0;
    for (size_t i = 0; i < nn_st_count(ld->st); i++)
        if (strncmp(nn_st_at(ld->st, i)->name, ld->prefix, plen) == 0)
            n_pref++;
    if (n_pref != ld->used)
        vb_warn("hift: %zu tensors under '%s' were not used (of %zu)", n_pref - ld->used,
                ld->prefix, n_pref);
}

enum vb_err cb_hift_load(const struct nn_safetensors *st, const char *prefix,
                         const struct cb_hift_params *params, struct cb_hift **out, char *why,
                         size_t why_cap)
{
    struct loader ld = {.lt = {.put = put, .why = why, .why_cap = why_cap},
                        .st = st,
                        .prefix = prefix ? prefix : "",
                        .why = why,
                        .why_cap = why_cap};
    *out = NULL;
    if (why_cap)
        why[0] = '\0';
    struct cb_hift *m = vb_try_calloc(1, sizeof *m);
    if (!m)
        return VB_ERR_NOMEM;
    m->p = params ? *params : cb_hift_default_params();
    struct cb_hift_params *p = &m->p;
    enum vb_err err = check_params(p, why, why_cap);
    if (!err)
        err = read_sizes(&ld, p);
    if (err)
        goto out;
    m->n_harm = p->nb_harmonics + 1;
    m->up = 1;
    for (int i = 0; i < p->n_stages; i++)
        m->up *= p->upsample_rates[i];
    m->spf = m->up * p->hop;

    err = load_f0_source(&ld, m);
    /* conv_pre: Conv1d(80 -> base, k7, pad 3) */
    if (!err)
        err =
            load_conv_wn(&ld, "conv_pre", &m->conv_pre, p->base_channels, p->in_channels, 7, 1, 3);
    if (!err && p->bf16)
        err = cb_hift_conv_use_bf16(&m->conv_pre);
    /* Source down-sampling per stage: downsample_rates = [1] + upsample_rates[::-1][:-1],
     * cumprod, reversed. */
    int cum[CB_HIFT_MAX_STAGES], acc = 1;
    for (int i = 0; i < p->n_stages; i++) {
        acc *= i == 0 ? 1 : p->upsample_rates[p->n_stages - i];
        cum[p->n_stages - 1 - i] = acc;
    }
    for (int i = 0; i < p->n_stages && !err; i++)
        err = load_stage(&ld, m, i, cum[i]);
    if (!err)
        err = load_conv_wn(&ld, "conv_post", &m->conv_post, 2 * (p->n_fft / 2 + 1),
                           p->base_channels >> p->n_stages, 7, 1, 3);
    if (err)
        goto out;

    /* Periodic Hann (scipy get_window('hann', n, fftbins=True) in float64, cast). */
    for (int n = 0; n < p->n_fft; n++)
        m->window[n] = (float)(0.5 - 0.5 * cos(2.0 * M_PI * n / p->n_fft));
    m->margin = margin_of(m);
    if (p->context_frames <= 0)
        p->context_frames = receptive_frames(m);
    warn_unused(&ld);
    *out = m;
    m = NULL;
out:
    cb_hift_free(m);
    return err;
}
