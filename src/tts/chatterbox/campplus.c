/* campplus.c: CAMPPlus x-vector forward pass (3D-Speaker's CAM++ as used by CosyVoice/S3Gen):
 * 2-D convolutions through im2col blocks + nn_gemm, 1-D ones through nn/conv, eval-mode BatchNorm
 * as per-channel scale/shift. The CAM context is constant over each 100-frame segment, so its two
 * pointwise convolutions run once per segment instead of once per frame. */
#include "core/vb.h"
#include "core/err.h"
#include "tts/chatterbox/campplus.h"
#include "core/alloc.h"
#include "nn/conv.h"
#include "nn/gemm.h"
#include "nn/load_table.h"

#include <math.h>

#define MAX_RES    8   /* residual blocks per FCM layer */
#define MAX_LAYERS 64  /* dense layers per CAM block */
#define POS_BLOCK  512 /* 2-D conv output positions per im2col block */

struct bn {
    int c;
    float *scale, *shift; /* y = x * scale + shift */
};

struct conv2d {
    int cin, cout, k, sf, pad; /* square kernel k, stride sf on frequency only */
    float *w;                  /* (cout, cin*k*k) */
};

struct resblock {
    struct conv2d c1, c2, sc;
    struct bn b1, b2, bsc;
    bool has_sc;
};

struct dense_layer {
    struct bn bn1;               /* (c_in) */
    struct nn_conv1d lin1;       /* c_in -> bn_ch, k 1 */
    struct bn bn2;               /* (bn_ch) */
    struct nn_conv1d local;      /* bn_ch -> growth, k 3, dilation d */
    struct nn_conv1d cam1, cam2; /* bn_ch -> bn_ch/2 -> growth, k 1, bias */
};

struct cam_block {
    int n_layers, c0;
    struct dense_layer *layers;
    struct bn tbn;
    struct nn_conv1d transit; /* c -> c/2 */
};

struct cb_campplus {
    struct cb_campplus_config cfg;
    int m_ch, feat, init_ch, growth, bn_ch, embed, out_ch;
    int n_res[2];
    struct conv2d hconv1, hconv2;
    struct bn hbn1, hbn2;
    struct resblock res[2][MAX_RES];
    struct nn_conv1d tdnn;
    struct bn tdnn_bn;
    struct cam_block blocks[CB_CAMPPLUS_BLOCKS];
    struct bn out_bn;
    struct nn_conv1d dense;
    struct bn dense_bn;
};

struct cb_campplus_config cb_campplus_default_config(void)
{
    return (struct cb_campplus_config){.dilation = {1, 2, 2}, .seg_len = 100, .bn_eps = 1e-5f};
}

/* ---- loading ---- */

struct loader {
    const struct nn_safetensors *st;
    const char *prefix;
    float eps;
    char *why;
    size_t cap;
};

static void bn_free(struct bn *b)
{
    vb_free(b->scale);
    vb_free(b->shift);
}

/* BatchNorm `name` with c channels; affine=false when weight/bias are absent */
static enum vb_err load_bn(const struct loader *L, const char *name, int c, struct bn *b)
{
    char n[320];
    float *w = NULL, *bias = NULL, *mean = NULL, *var = NULL;
    enum vb_err err;
    snprintf(n, sizeof n, "%s%s.running_mean", L->prefix, name);
    err = nn_st_load_f32(L->st, n, c, &mean, L->why, L->cap);
    if (err == VB_OK) {
        snprintf(n, sizeof n, "%s%s.running_var", L->prefix, name);
        err = nn_st_load_f32(L->st, n, c, &var, L->why, L->cap);
    }
    snprintf(n, sizeof n, "%s%s.weight", L->prefix, name);
    if (err == VB_OK && nn_st_find(L->st, n)) {
        err = nn_st_load_f32(L->st, n, c, &w, L->why, L->cap);
        snprintf(n, sizeof n, "%s%s.bias", L->prefix, name);
        if (err == VB_OK)
            err = nn_st_load_f32(L->st, n, c, &bias, L->why, L->cap);
    }
    if (err == VB_OK) {
        b->c = c;
        b->scale = vb_try_malloc((size_t)c * sizeof *b->scale);
        b->shift = vb_try_malloc((size_t)c * sizeof *b->shift);
        if (!b->scale || !b->shift)
            err = vb_failf(L->why, L->cap, VB_ERR_NOMEM, "out of memory");
    }
    if (err == VB_OK)
        for (int i = 0; i < c; i++) {
            float inv = 1.0f / sqrtf(var[i] + L->eps);
            float g = w ? w[i] : 1.0f, be = bias ? bias[i] : 0.0f;
            b->scale[i] = g * inv;
            b->shift[i] = be - mean[i] * g * inv;
        }
    vb_free(w);
    vb_free(bias);
    vb_free(mean);
    vb_free(var);
    return err;
}

static enum vb_err load_conv2d(const struct loader *L, const char *name, int cin, int cout, int k,
                               int sf, struct conv2d *c)
{
    char n[320];
    snprintf(n, sizeof n, "%s%s.weight", L->prefix, name);
    const struct nn_st_tensor *t = nn_st_find(L->st, n);
    if (!t)
        return vb_failf(L->why, L->cap, VB_ERR_NOT_FOUND, "missing tensor '%s'", n);
    int64_t shape[4] = {cout, cin, k, k};
    enum vb_err err = nn_st_expect(t, NN_ST_F32, 4, shape, L->why, L->cap);
    if (err != VB_OK)
        return err;
    err = nn_st_load_f32(L->st, n, -1, &c->w, L->why, L->cap);
    if (err != VB_OK)
        return err;
    c->cin = cin;
    c->cout = cout;
    c->k = k;
    c->sf = sf;
    c->pad = k / 2;
    return VB_OK;
}

static enum vb_err load_conv1d(const struct loader *L, const char *name, int cin, int cout, int k,
                               const struct nn_conv1d_params *p, bool bias, struct nn_conv1d *c)
{
    char n[320];
    snprintf(n, sizeof n, "%s%s", L->prefix, name);
    enum vb_err err = nn_conv1d_load(c, L->st, n, p, L->why, L->cap);
    if (err != VB_OK)
        return err;
    if (c->c_in != cin || c->c_out != cout || c->k != k || (c->b != NULL) != bias) {
        vb_failf(L->why, L->cap, VB_ERR_FORMAT,
                 "%s.weight: expected [%d, %d, %d]%s, got [%d, %d, %d]%s", n, cout, cin, k,
                 bias ? " with bias" : "", c->c_out, c->c_in, c->k, c->b ? " with bias" : "");
        nn_conv1d_release(c);
        return VB_ERR_FORMAT;
    }
    return VB_OK;
}

/* first dimension of tensor prefix+name, or -1 */
static int64_t dim0(const struct loader *L, const char *name, int idx)
{
    char n[320];
    snprintf(n, sizeof n, "%s%s", L->prefix, name);
    const struct nn_st_tensor *t = nn_st_find(L->st, n);
    return t && t->n_dims > idx && t->shape[idx] > 0 && t->shape[idx] < (1 << 20) ? t->shape[idx]
                                                                                  : -1;
}

static bool has(const struct loader *L, const char *name)
{
    char n[320];
    snprintf(n, sizeof n, "%s%s", L->prefix, name);
    return nn_st_find(L->st, n) != NULL;
}

/* Load-table rows of a CAM dense layer (nn/load_table; names after the layer's group). */
enum { CP_BN = 1, CP_CONV1D, CP_CONV2D };
enum { CP_BIAS = 1, CP_DILATED = 2 }; /* CP_CONV1D args */
enum { CP_STRIDED = 1 };              /* CP_CONV2D arg: the loader's stride (else 1) */
enum { SZ_CIN, SZ_B, SZ_B2, SZ_G, SZ_M };
#define BN(T, f, name, c)            NN_LT_ROW(T, f, name, CP_BN, 0, 1, c)
#define CONV(T, f, name, o, i, k, a) NN_LT_ROW(T, f, name, CP_CONV1D, a, 3, o, i, k)
#define CONV2(T, f, name, k, a)                                                                    \
    NN_LT_ROW(T, f, name, CP_CONV2D, a, 4, NN_LT_DIM(SZ_M), NN_LT_DIM(SZ_M), k, k)
static const struct nn_lt_row dense_rows[] = {
    BN(struct dense_layer, bn1, "nonlinear1.batchnorm", NN_LT_DIM(SZ_CIN)),
    CONV(struct dense_layer, lin1, "linear1", NN_LT_DIM(SZ_B), NN_LT_DIM(SZ_CIN), 1, 0),
    BN(struct dense_layer, bn2, "nonlinear2.batchnorm", NN_LT_DIM(SZ_B)),
    CONV(struct dense_layer, local, "cam_layer.linear_local", NN_LT_DIM(SZ_G), NN_LT_DIM(SZ_B), 3,
         CP_DILATED),
    CONV(struct dense_layer, cam1, "cam_layer.linear1", NN_LT_DIM(SZ_B2), NN_LT_DIM(SZ_B), 1,
         CP_BIAS),
    CONV(struct dense_layer, cam2, "cam_layer.linear2", NN_LT_DIM(SZ_G), NN_LT_DIM(SZ_B2), 1,
         CP_BIAS),
};
/* A head residual block "head.layerL.R." (M channels); its shortcut when it has one. */
static const struct nn_lt_row head_rows[] = {
    CONV2(struct resblock, c1, "conv1", 3, CP_STRIDED),
    CONV2(struct resblock, c2, "conv2", 3, 0),
    BN(struct resblock, b1, "bn1", NN_LT_DIM(SZ_M)),
    BN(struct resblock, b2, "bn2", NN_LT_DIM(SZ_M)),
};
static const struct nn_lt_row shortcut_rows[] = {
    CONV2(struct resblock, sc, "shortcut.0", 1, CP_STRIDED),
    BN(struct resblock, bsc, "shortcut.1", NN_LT_DIM(SZ_M)),
};
#undef BN
#undef CONV
#undef CONV2

struct table_loader {
    struct nn_lt lt; /* first member: put casts back; no prefix (load_bn/load_conv1d add it) */
    const struct loader *L;
    struct nn_conv1d_params dilated; /* the block's linear_local padding and dilation */
    int stride;                      /* of CP_STRIDED rows */
};

static bool put(struct nn_lt *lt, const struct nn_lt_row *row, const char *name, int64_t *shape,
                void *dst)
{
    struct table_loader *T = (struct table_loader *)lt;
    struct nn_conv1d_params p1 = {0};
    enum vb_err err;
    if (row->kind == CP_BN)
        err = load_bn(T->L, name, (int)shape[0], dst);
    else if (row->kind == CP_CONV2D)
        err = load_conv2d(T->L, name, (int)shape[1], (int)shape[0], (int)shape[2],
                          row->arg == CP_STRIDED ? T->stride : 1, dst);
    else
        err = load_conv1d(T->L, name, (int)shape[1], (int)shape[0], (int)shape[2],
                          row->arg & CP_DILATED ? &T->dilated : &p1, row->arg & CP_BIAS, dst);
    if (err)
        lt->err = err;
    return !err;
}

/* FCM head: conv1/bn1, the residual blocks of layer1 and layer2 (shortcut where the stride
 * is 2 or the file has one), conv2/bn2; M channels. */
static enum vb_err load_head(struct cb_campplus *m, const struct loader *L)
{
    enum vb_err err;
    char n[256];
    int M = m->m_ch;
    if ((err = load_conv2d(L, "head.conv1", 1, M, 3, 1, &m->hconv1)) ||
        (err = load_bn(L, "head.bn1", M, &m->hbn1)))
        return err;
    struct table_loader H = {.lt = {.put = put, .why = L->why, .why_cap = L->cap}, .L = L};
    int64_t hsz[NN_LT_MAX_SIZES] = {[SZ_M] = M};
    for (int l = 0; l < 2; l++) {
        for (int r = 0; r < MAX_RES; r++) {
            snprintf(n, sizeof n, "head.layer%d.%d.conv1.weight", l + 1, r);
            if (!has(L, n))
                break;
            struct resblock *rb = &m->res[l][r];
            char p[128];
            snprintf(p, sizeof p, "head.layer%d.%d.", l + 1, r);
            H.stride = r == 0 ? 2 : 1;
            if (!nn_lt_load(&H.lt, head_rows, VB_ARRAY_LEN(head_rows), rb, hsz, p, 0))
                return H.lt.err;
            snprintf(n, sizeof n, "%sshortcut.0.weight", p);
            rb->has_sc = has(L, n);
            if (H.stride != 1 && !rb->has_sc)
                return vb_failf(L->why, L->cap, VB_ERR_FORMAT, "missing tensor '%s%s'", L->prefix,
                                n);
            if (rb->has_sc &&
                !nn_lt_load(&H.lt, shortcut_rows, VB_ARRAY_LEN(shortcut_rows), rb, hsz, p, 0))
                return H.lt.err;
            m->n_res[l] = r + 1;
        }
        if (m->n_res[l] == 0)
            return vb_failf(L->why, L->cap, VB_ERR_FORMAT,
                            "missing tensor '%shead.layer%d.0.conv1.weight'", L->prefix, l + 1);
    }
    if ((err = load_conv2d(L, "head.conv2", M, M, 3, 2, &m->hconv2)) ||
        (err = load_bn(L, "head.bn2", M, &m->hbn2)))
        return err;
    return VB_OK;
}

/* CAM block b (1-based names) over *c input channels: its dense layers, then the transit
 * layer halving the channels; *c becomes the block's output width. */
static enum vb_err load_block(struct cb_campplus *m, const struct loader *L, int b, int *c)
{
    enum vb_err err;
    char n[256];
    struct cam_block *blk = &m->blocks[b];
    int C = *c, G = m->growth, B = m->bn_ch, nl = 0;
    for (; nl < MAX_LAYERS; nl++) {
        snprintf(n, sizeof n, "xvector.block%d.tdnnd%d.linear1.weight", b + 1, nl + 1);
        if (!has(L, n))
            break;
    }
    if (nl == 0)
        return vb_failf(L->why, L->cap, VB_ERR_FORMAT, "missing tensor '%s%s'", L->prefix, n);
    blk->layers = vb_try_calloc((size_t)nl, sizeof *blk->layers);
    if (!blk->layers)
        return vb_failf(L->why, L->cap, VB_ERR_NOMEM, "out of memory");
    blk->n_layers = nl;
    blk->c0 = C;
    int d = m->cfg.dilation[b];
    struct table_loader T = {
        .lt = {.put = put, .why = L->why, .why_cap = L->cap},
        .L = L,
        .dilated = {.pad_left = d, .pad_right = d, .dilation = d},
    };
    char group[96];
    snprintf(group, sizeof group, "xvector.block%d.tdnnd%%d.", b + 1);
    for (int l = 0; l < nl && !T.lt.err; l++) {
        int64_t sz[NN_LT_MAX_SIZES] = {
            [SZ_CIN] = C + l * G, [SZ_B] = B, [SZ_B2] = B / 2, [SZ_G] = G};
        nn_lt_load(&T.lt, dense_rows, VB_ARRAY_LEN(dense_rows), &blk->layers[l], sz, group, l + 1);
    }
    if (T.lt.err)
        return T.lt.err;
    C += nl * G;
    snprintf(n, sizeof n, "xvector.transit%d.nonlinear.batchnorm", b + 1);
    if ((err = load_bn(L, n, C, &blk->tbn)))
        return err;
    snprintf(n, sizeof n, "xvector.transit%d.linear", b + 1);
    struct nn_conv1d_params p1 = {0};
    if ((err = load_conv1d(L, n, C, C / 2, 1, &p1, false, &blk->transit)))
        return err;
    *c = C / 2;
    return VB_OK;
}

static enum vb_err load_all(struct cb_campplus *m, const struct loader *L)
{
    enum vb_err err;
    m->m_ch = (int)dim0(L, "head.conv1.weight", 0);
    m->init_ch = (int)dim0(L, "xvector.tdnn.linear.weight", 0);
    int64_t tdnn_in = dim0(L, "xvector.tdnn.linear.weight", 1);
    m->growth = (int)dim0(L, "xvector.block1.tdnnd1.cam_layer.linear_local.weight", 0);
    m->bn_ch = (int)dim0(L, "xvector.block1.tdnnd1.linear1.weight", 0);
    m->embed = (int)dim0(L, "xvector.dense.linear.weight", 0);
    if (m->m_ch < 1 || m->init_ch < 1 || tdnn_in < 1 || m->growth < 1 || m->bn_ch < 2 ||
        m->embed < 1 || tdnn_in % m->m_ch)
        return vb_failf(
            L->why, L->cap, VB_ERR_FORMAT,
            "%s: missing or malformed CAMPPlus tensors (head.conv1, xvector.tdnn.linear, "
            "block1.tdnnd1, dense.linear)",
            L->prefix);
    /* three stride-2 frequency reductions: feat/8 rows per channel feed the TDNN */
    m->feat = (int)(tdnn_in / m->m_ch) * 8;
    if ((err = load_head(m, L)))
        return err;
    struct nn_conv1d_params ptdnn = {.stride = 2, .pad_left = 2, .pad_right = 2};
    if ((err = load_conv1d(L, "xvector.tdnn.linear", (int)tdnn_in, m->init_ch, 5, &ptdnn, false,
                           &m->tdnn)) ||
        (err = load_bn(L, "xvector.tdnn.nonlinear.batchnorm", m->init_ch, &m->tdnn_bn)))
        return err;
    int C = m->init_ch;
    for (int b = 0; b < CB_CAMPPLUS_BLOCKS; b++)
        if ((err = load_block(m, L, b, &C)))
            return err;
    m->out_ch = C;
    struct nn_conv1d_params p1 = {0};
    if ((err = load_bn(L, "xvector.out_nonlinear.batchnorm", C, &m->out_bn)) ||
        (err = load_conv1d(L, "xvector.dense.linear", 2 * C, m->embed, 1, &p1, false, &m->dense)) ||
        (err = load_bn(L, "xvector.dense.nonlinear.batchnorm", m->embed, &m->dense_bn)))
        return err;
    return VB_OK;
}

enum vb_err cb_campplus_load(const struct nn_safetensors *st, const char *prefix,
                             const struct cb_campplus_config *cfg, struct cb_campplus **out,
                             char *why, size_t why_cap)
{
    *out = NULL;
    struct cb_campplus *m = vb_try_calloc(1, sizeof *m);
    if (!m)
        return VB_ERR_NOMEM;
    m->cfg = cfg ? *cfg : cb_campplus_default_config();
    if (m->cfg.seg_len < 1) {
        cb_campplus_free(m);
        return vb_failf(why, why_cap, VB_ERR_INVALID, "campplus: seg_len must be >= 1");
    }
    for (int b = 0; b < CB_CAMPPLUS_BLOCKS; b++)
        if (m->cfg.dilation[b] < 1) {
            cb_campplus_free(m);
            return vb_failf(why, why_cap, VB_ERR_INVALID, "campplus: dilation must be >= 1");
        }
    struct loader L = {
        .st = st, .prefix = prefix ? prefix : "", .eps = m->cfg.bn_eps, .why = why, .cap = why_cap};
    enum vb_err err = load_all(m, &L);
    if (err != VB_OK) {
        cb_campplus_free(m);
        return err;
    }
    *out = m;
    return VB_OK;
}

void cb_campplus_free(struct cb_campplus *m)
{
    if (!m)
        return;
    vb_free(m->hconv1.w);
    vb_free(m->hconv2.w);
    bn_free(&m->hbn1);
    bn_free(&m->hbn2);
    for (int l = 0; l < 2; l++)
        for (int r = 0; r < MAX_RES; r++) {
            struct resblock *rb = &m->res[l][r];
            vb_free(rb->c1.w);
            vb_free(rb->c2.w);
            vb_free(rb->sc.w);
            bn_free(&rb->b1);
            bn_free(&rb->b2);
            bn_free(&rb->bsc);
        }
    nn_conv1d_release(&m->tdnn);
    bn_free(&m->tdnn_bn);
    for (int b = 0; b < CB_CAMPPLUS_BLOCKS; b++) {
        struct cam_block *blk = &m->blocks[b];
        for (int l = 0; l < blk->n_layers; l++) {
            struct dense_layer *dl = &blk->layers[l];
            bn_free(&dl->bn1);
            bn_free(&dl->bn2);
            nn_conv1d_release(&dl->lin1);
            nn_conv1d_release(&dl->local);
            nn_conv1d_release(&dl->cam1);
            nn_conv1d_release(&dl->cam2);
        }
        vb_free(blk->layers);
        bn_free(&blk->tbn);
        nn_conv1d_release(&blk->transit);
    }
    bn_free(&m->out_bn);
    nn_conv1d_release(&m->dense);
    bn_free(&m->dense_bn);
    vb_free(m);
}

int cb_campplus_embed_dim(const struct cb_campplus *m)
{
    return m->embed;
}

int cb_campplus_feat_dim(const struct cb_campplus *m)
{
    return m->feat;
}

/* ---- forward ---- */

/* y = x * scale + shift per channel (rows of len), optional ReLU; y may equal x */
struct bn_job {
    const struct bn *b;
    const float *x;
    float *y;
    int64_t len;
    bool relu;
};

static void bn_worker(void *ctx, int ith, int nth)
{
    const struct bn_job *j = ctx;
    int c0 = (int)((int64_t)j->b->c * ith / nth), c1 = (int)((int64_t)j->b->c * (ith + 1) / nth);
    for (int c = c0; c < c1; c++) {
        const float *xr = j->x + (int64_t)c * j->len;
        float *yr = j->y + (int64_t)c * j->len;
        float s = j->b->scale[c], h = j->b->shift[c];
        if (j->relu)
            for (int64_t i = 0; i < j->len; i++) {
                float v = xr[i] * s + h;
                yr[i] = v < 0 ? 0.0f : v;
            }
        else
            for (int64_t i = 0; i < j->len; i++)
                yr[i] = xr[i] * s + h;
    }
}

/* y = x * scale + shift per channel (rows of len), optional ReLU; y may equal x */
static void bn_apply(struct nn_pool *pool, const struct bn *b, const float *x, float *y,
                     int64_t len, bool relu)
{
    struct bn_job j = {.b = b, .x = x, .y = y, .len = len, .relu = relu};
    if (pool && (int64_t)b->c * len >= 65536)
        nn_pool_run(pool, bn_worker, &j);
    else
        bn_worker(&j, 0, 1);
}

struct work {
    struct nn_conv_ws ws;
    float *col; /* (K, POS_BLOCK) im2col block, K = cin*k*k at most M*9 */
    float *pk;  /* the same block packed for nn_gemm */
};

/* x (cin, F, T) -> y (cout, F_out, T). The im2col block X (K, positions) is packed as the
 * GEMM's "weight" operand and the kernel weights (cout, K) play the activations, so the
 * product lands channel-major in y directly: y[co][pos] = sum_k W[co][k] X[k][pos]. */
struct col2d_job {
    const struct conv2d *c;
    const float *x;
    int F;
    int64_t T, p0;
    int n;
    float *col;
};

/* im2col rows r = (ci, kh, kw) of this thread's share for positions [p0, p0 + n) */
static void col2d_worker(void *ctx, int ith, int nth)
{
    const struct col2d_job *j = ctx;
    const struct conv2d *c = j->c;
    int k = c->k, K = c->cin * k * k, F = j->F, n = j->n;
    int64_t T = j->T, p0 = j->p0;
    int r0 = K * ith / nth, r1 = K * (ith + 1) / nth;
    for (int r = r0; r < r1; r++) {
        int ci = r / (k * k), kh = (r / k) % k, kw = r % k;
        float *dst = j->col + (int64_t)r * n;
        int64_t shift = kw - c->pad;
        /* walk the block one frequency row (fo) at a time */
        for (int64_t pos = p0; pos < p0 + n;) {
            int fo = (int)(pos / T);
            int64_t t = pos % T, t_end = VB_MIN(T, t + (p0 + n - pos));
            int fi = fo * c->sf + kh - c->pad;
            float *d = dst + (pos - p0);
            if (fi < 0 || fi >= F) {
                memset(d, 0, (size_t)(t_end - t) * sizeof *d);
            } else {
                const float *xr = j->x + ((int64_t)ci * F + fi) * T;
                int64_t lo = VB_MAX(t, -shift), hi = VB_MIN(t_end, T - shift);
                if (hi < lo)
                    hi = lo = t_end;
                for (int64_t tt = t; tt < lo; tt++)
                    d[tt - t] = 0.0f;
                memcpy(d + (lo - t), xr + lo + shift, (size_t)(hi - lo) * sizeof *d);
                for (int64_t tt = hi; tt < t_end; tt++)
                    d[tt - t] = 0.0f;
            }
            pos += t_end - t;
        }
    }
}

/* x (cin, F, T) -> y (cout, F_out, T). The im2col block X (K, positions) is packed as the
 * GEMM's "weight" operand and the kernel weights (cout, K) play the activations, so the
 * product lands channel-major in y directly: y[co][pos] = sum_k W[co][k] X[k][pos]. */
static void conv2d_forward(const struct conv2d *c, struct nn_pool *pool, struct work *w,
                           const float *x, int F, int64_t T, float *y, int *f_out)
{
    int Fo = (F + 2 * c->pad - c->k) / c->sf + 1, k = c->k;
    int K = c->cin * k * k;
    int64_t npos = (int64_t)Fo * T;
    for (int64_t p0 = 0; p0 < npos; p0 += POS_BLOCK) {
        int n = (int)VB_MIN((int64_t)POS_BLOCK, npos - p0);
        struct col2d_job j = {.c = c, .x = x, .F = F, .T = T, .p0 = p0, .n = n, .col = w->col};
        if (pool && K >= 8)
            nn_pool_run(pool, col2d_worker, &j);
        else
            col2d_worker(&j, 0, 1);
        nn_gemm_pack_t_pool(pool, w->pk, w->col, K, n, n);
        nn_gemm(pool, w->pk, K, n, c->w, K, c->cout, NULL, y + p0, npos);
    }
    *f_out = Fo;
}

static float sigmoidf(float v)
{
    return 1.0f / (1.0f + expf(-v));
}

enum vb_err cb_campplus_forward(const struct cb_campplus *m, struct nn_pool *pool,
                                const float *feats, int64_t T, float *xvector)
{
    if (T < 2 || T > (int64_t)1 << 22)
        return VB_ERR_INVALID;
    const int M = m->m_ch, F = m->feat, G = m->growth, B = m->bn_ch;
    struct work w = {0};
    enum vb_err err = VB_ERR_NOMEM;
    /* FCM buffers: (M, F, T) at most (first conv is at full frequency resolution) */
    size_t big = (size_t)M * (size_t)F * (size_t)T;
    float *a = vb_try_malloc(big * sizeof *a), *b = vb_try_malloc(big * sizeof *b),
          *c = vb_try_malloc(big * sizeof *c), *s = vb_try_malloc(big * sizeof *s);
    int64_t T2 = nn_conv1d_out_len(&m->tdnn, T);
    int cmax = 0;
    for (int k = 0; k < CB_CAMPPLUS_BLOCKS; k++)
        cmax = VB_MAX(cmax, m->blocks[k].c0 + m->blocks[k].n_layers * G);
    int64_t n_seg = (T2 + m->cfg.seg_len - 1) / m->cfg.seg_len;
    float *X = vb_try_malloc((size_t)cmax * (size_t)T2 * sizeof *X);
    float *h = vb_try_malloc((size_t)cmax * (size_t)T2 * sizeof *h);
    float *z = vb_try_malloc((size_t)B * (size_t)T2 * sizeof *z);
    float *y = vb_try_malloc((size_t)G * (size_t)T2 * sizeof *y);
    float *ctx = vb_try_malloc((size_t)B * (size_t)n_seg * sizeof *ctx);
    float *ctx2 = vb_try_malloc((size_t)B * (size_t)n_seg * sizeof *ctx2);
    float *gate = vb_try_malloc((size_t)G * (size_t)n_seg * sizeof *gate);
    float *stats = vb_try_malloc((size_t)2 * m->out_ch * sizeof *stats);
    int kmax = M * 9;
    w.col = vb_try_malloc((size_t)POS_BLOCK * (size_t)kmax * sizeof *w.col);
    w.pk = vb_try_malloc(nn_gemm_packed_floats(kmax, POS_BLOCK) * sizeof *w.pk);
    if (!a || !b || !c || !s || !X || !h || !z || !y || !ctx || !ctx2 || !gate || !stats ||
        !w.col || !w.pk || T2 < 2)
        goto out;

    /* 1. FCM head on the (1, F, T) image: features (T, F) transposed */
    for (int64_t t = 0; t < T; t++)
        for (int f = 0; f < F; f++)
            a[(int64_t)f * T + t] = feats[t * F + f];
    int Fc = F, Fn;
    conv2d_forward(&m->hconv1, pool, &w, a, Fc, T, b, &Fn);
    bn_apply(pool, &m->hbn1, b, b, (int64_t)Fn * T, true);
    Fc = Fn;
    float *cur = b, *t1 = a;
    for (int l = 0; l < 2; l++)
        for (int r = 0; r < m->n_res[l]; r++) {
            const struct resblock *rb = &m->res[l][r];
            int Fo;
            conv2d_forward(&rb->c1, pool, &w, cur, Fc, T, t1, &Fo);
            bn_apply(pool, &rb->b1, t1, t1, (int64_t)Fo * T, true);
            conv2d_forward(&rb->c2, pool, &w, t1, Fo, T, c, &Fn);
            bn_apply(pool, &rb->b2, c, c, (int64_t)Fo * T, false);
            const float *sc = cur;
            if (rb->has_sc) {
                conv2d_forward(&rb->sc, pool, &w, cur, Fc, T, s, &Fn);
                bn_apply(pool, &rb->bsc, s, s, (int64_t)Fo * T, false);
                sc = s;
            }
            int64_t len = (int64_t)M * Fo * T;
            for (int64_t i = 0; i < len; i++) {
                float v = c[i] + sc[i];
                t1[i] = v > 0 ? v : 0.0f;
            }
            float *tmp = cur;
            cur = t1;
            t1 = tmp;
            Fc = Fo;
        }
    conv2d_forward(&m->hconv2, pool, &w, cur, Fc, T, t1, &Fn);
    bn_apply(pool, &m->hbn2, t1, t1, (int64_t)Fn * T, true);
    if ((int64_t)Fn * M != m->tdnn.c_in) {
        err = VB_ERR_INVALID;
        goto out;
    }
    /* (M, F/8, T) is already the (M*F/8, T) sequence, channel = c*F/8 + f */

    /* 2. TDNN: conv k5 stride 2 -> BN -> ReLU, into X[0 .. init_ch) */
    if (!nn_conv1d_forward(&m->tdnn, pool, &w.ws, t1, T, X))
        goto out;
    bn_apply(pool, &m->tdnn_bn, X, X, T2, true);

    /* 3. CAM dense blocks, each followed by its transit layer */
    int C = m->init_ch;
    for (int k = 0; k < CB_CAMPPLUS_BLOCKS; k++) {
        const struct cam_block *blk = &m->blocks[k];
        for (int l = 0; l < blk->n_layers; l++) {
            const struct dense_layer *dl = &blk->layers[l];
            int cin = C + l * G;
            bn_apply(pool, &dl->bn1, X, h, T2, true);
            if (!nn_conv1d_forward(&dl->lin1, pool, &w.ws, h, T2, z))
                goto out;
            bn_apply(pool, &dl->bn2, z, z, T2, true);
            if (!nn_conv1d_forward(&dl->local, pool, &w.ws, z, T2, y))
                goto out;
            /* context per segment: mean over all frames + mean over the segment */
            int64_t SL = m->cfg.seg_len;
            for (int ch = 0; ch < B; ch++) {
                const float *zr = z + (int64_t)ch * T2;
                double tot = 0;
                for (int64_t t = 0; t < T2; t++)
                    tot += zr[t];
                float gmean = (float)(tot / (double)T2);
                for (int64_t sg = 0; sg < n_seg; sg++) {
                    int64_t t0 = sg * SL, t1e = VB_MIN(t0 + SL, T2);
                    double ss = 0;
                    for (int64_t t = t0; t < t1e; t++)
                        ss += zr[t];
                    ctx[(int64_t)ch * n_seg + sg] = gmean + (float)(ss / (double)(t1e - t0));
                }
            }
            if (!nn_conv1d_forward(&dl->cam1, pool, &w.ws, ctx, n_seg, ctx2))
                goto out;
            for (int64_t i = 0; i < (int64_t)(B / 2) * n_seg; i++)
                ctx2[i] = ctx2[i] > 0 ? ctx2[i] : 0.0f;
            if (!nn_conv1d_forward(&dl->cam2, pool, &w.ws, ctx2, n_seg, gate))
                goto out;
            for (int64_t i = 0; i < (int64_t)G * n_seg; i++)
                gate[i] = sigmoidf(gate[i]);
            float *o = X + (int64_t)cin * T2;
            for (int g = 0; g < G; g++)
                for (int64_t sg = 0; sg < n_seg; sg++) {
                    float gv = gate[(int64_t)g * n_seg + sg];
                    int64_t t1e = VB_MIN((sg + 1) * SL, T2);
                    for (int64_t t = sg * SL; t < t1e; t++)
                        o[(int64_t)g * T2 + t] = y[(int64_t)g * T2 + t] * gv;
                }
        }
        C += blk->n_layers * G;
        bn_apply(pool, &blk->tbn, X, h, T2, true);
        if (!nn_conv1d_forward(&blk->transit, pool, &w.ws, h, T2, X))
            goto out;
        C /= 2;
    }

    /* 4. out_nonlinear, 5. statistics pooling (mean, unbiased std) */
    bn_apply(pool, &m->out_bn, X, X, T2, true);
    for (int ch = 0; ch < C; ch++) {
        const float *xr = X + (int64_t)ch * T2;
        double sum = 0;
        for (int64_t t = 0; t < T2; t++)
            sum += xr[t];
        double mean = sum / (double)T2, var = 0;
        for (int64_t t = 0; t < T2; t++)
            var += ((double)xr[t] - mean) * ((double)xr[t] - mean);
        stats[ch] = (float)mean;
        stats[C + ch] = (float)sqrt(var / (double)(T2 - 1));
    }
    /* 6. dense (k1 conv on one frame) + BatchNorm without affine */
    if (!nn_conv1d_forward(&m->dense, pool, &w.ws, stats, 1, xvector))
        goto out;
    bn_apply(pool, &m->dense_bn, xvector, xvector, 1, false);
    err = VB_OK;
out:
    nn_conv_ws_release(&w.ws);
    vb_free(w.col);
    vb_free(w.pk);
    vb_free(a);
    vb_free(b);
    vb_free(c);
    vb_free(s);
    vb_free(X);
    vb_free(h);
    vb_free(z);
    vb_free(y);
    vb_free(ctx);
    vb_free(ctx2);
    vb_free(gate);
    vb_free(stats);
    return err;
}

enum vb_err cb_campplus_embed_wav(const struct cb_campplus *m, const struct cb_frontend *fe,
                                  struct nn_pool *pool, const float *wav, int64_t n, float *xvector)
{
    if (m->feat != CB_FBANK_N_MELS)
        return VB_ERR_INVALID;
    int64_t T = cb_fe_fbank_frames(n);
    if (T < 2)
        return VB_ERR_INVALID;
    float *fb = vb_try_malloc((size_t)T * CB_FBANK_N_MELS * sizeof *fb);
    if (!fb)
        return VB_ERR_NOMEM;
    enum vb_err err = cb_fe_fbank(fe, wav, n, true, fb);
    if (err == VB_OK)
        err = cb_campplus_forward(m, pool, fb, T, xvector);
    vb_free(fb);
    return err;
}

/* ---- random checkpoints ---- */

struct rnd {
    struct nn_st_writer *w;
    const char *prefix;
    uint64_t seed;
    enum vb_err err;
};

static const int64_t zero_i64 = 0;

static void r_add(struct rnd *r, const char *name, int n_dims, const int64_t *shape, float lo,
                  float hi)
{
    if (r->err != VB_OK)
        return;
    char n[320];
    snprintf(n, sizeof n, "%s%s", r->prefix, name);
    r->err = nn_st_writer_add_uniform(r->w, n, n_dims, shape, lo, hi, r->seed++);
}

static void r_conv(struct rnd *r, const char *name, int n_dims, const int64_t *shape, bool bias)
{
    int64_t fan_in = 1;
    for (int i = 1; i < n_dims; i++)
        fan_in *= shape[i];
    float a = 1.0f / sqrtf((float)fan_in);
    char n[320];
    snprintf(n, sizeof n, "%s.weight", name);
    r_add(r, n, n_dims, shape, -a, a);
    if (bias) {
        snprintf(n, sizeof n, "%s.bias", name);
        r_add(r, n, 1, shape, -a, a);
    }
}

static void r_bn(struct rnd *r, const char *name, int64_t c, bool affine)
{
    char n[320];
    if (affine) {
        snprintf(n, sizeof n, "%s.weight", name);
        r_add(r, n, 1, &c, 0.8f, 1.2f);
        snprintf(n, sizeof n, "%s.bias", name);
        r_add(r, n, 1, &c, -0.1f, 0.1f);
    }
    snprintf(n, sizeof n, "%s.running_mean", name);
    r_add(r, n, 1, &c, -0.1f, 0.1f);
    snprintf(n, sizeof n, "%s.running_var", name);
    r_add(r, n, 1, &c, 0.5f, 1.5f);
    if (r->err != VB_OK)
        return;
    char full[320];
    snprintf(full, sizeof full, "%s%s.num_batches_tracked", r->prefix, name);
    r->err = nn_st_writer_add(r->w, full, NN_ST_I64, 0, NULL, &zero_i64);
}

struct cb_campplus_shape cb_campplus_real_shape(void)
{
    return (struct cb_campplus_shape){.feat_dim = 80,
                                      .m_channels = 32,
                                      .init_channels = 128,
                                      .growth_rate = 32,
                                      .bn_size = 4,
                                      .layers = {12, 24, 16},
                                      .embed = 192};
}

enum vb_err cb_campplus_add_random(struct nn_st_writer *w, const char *prefix,
                                   const struct cb_campplus_shape *s, uint64_t seed)
{
    if (!s || s->feat_dim < 8 || s->feat_dim % 8 || s->m_channels < 1 || s->init_channels < 2 ||
        s->growth_rate < 1 || s->bn_size < 1 || s->embed < 1)
        return VB_ERR_INVALID;
    for (int b = 0; b < CB_CAMPPLUS_BLOCKS; b++)
        if (s->layers[b] < 1 || s->layers[b] > MAX_LAYERS)
            return VB_ERR_INVALID;
    struct rnd r = {.w = w, .prefix = prefix ? prefix : "", .seed = seed};
    int64_t M = s->m_channels, G = s->growth_rate, B = (int64_t)s->bn_size * s->growth_rate;
    char n[160];
    r_conv(&r, "head.conv1", 4, (int64_t[]){M, 1, 3, 3}, false);
    r_bn(&r, "head.bn1", M, true);
    for (int l = 1; l <= 2; l++)
        for (int k = 0; k < 2; k++) {
            snprintf(n, sizeof n, "head.layer%d.%d.conv1", l, k);
            r_conv(&r, n, 4, (int64_t[]){M, M, 3, 3}, false);
            snprintf(n, sizeof n, "head.layer%d.%d.bn1", l, k);
            r_bn(&r, n, M, true);
            snprintf(n, sizeof n, "head.layer%d.%d.conv2", l, k);
            r_conv(&r, n, 4, (int64_t[]){M, M, 3, 3}, false);
            snprintf(n, sizeof n, "head.layer%d.%d.bn2", l, k);
            r_bn(&r, n, M, true);
            if (k == 0) {
                snprintf(n, sizeof n, "head.layer%d.%d.shortcut.0", l, k);
                r_conv(&r, n, 4, (int64_t[]){M, M, 1, 1}, false);
                snprintf(n, sizeof n, "head.layer%d.%d.shortcut.1", l, k);
                r_bn(&r, n, M, true);
            }
        }
    r_conv(&r, "head.conv2", 4, (int64_t[]){M, M, 3, 3}, false);
    r_bn(&r, "head.bn2", M, true);
    int64_t C = s->init_channels;
    r_conv(&r, "xvector.tdnn.linear", 3, (int64_t[]){C, M * (s->feat_dim / 8), 5}, false);
    r_bn(&r, "xvector.tdnn.nonlinear.batchnorm", C, true);
    for (int b = 0; b < CB_CAMPPLUS_BLOCKS; b++) {
        for (int l = 0; l < s->layers[b]; l++) {
            int64_t cin = C + l * G;
            char p[96];
            snprintf(p, sizeof p, "xvector.block%d.tdnnd%d", b + 1, l + 1);
            snprintf(n, sizeof n, "%s.nonlinear1.batchnorm", p);
            r_bn(&r, n, cin, true);
            snprintf(n, sizeof n, "%s.linear1", p);
            r_conv(&r, n, 3, (int64_t[]){B, cin, 1}, false);
            snprintf(n, sizeof n, "%s.nonlinear2.batchnorm", p);
            r_bn(&r, n, B, true);
            snprintf(n, sizeof n, "%s.cam_layer.linear_local", p);
            r_conv(&r, n, 3, (int64_t[]){G, B, 3}, false);
            snprintf(n, sizeof n, "%s.cam_layer.linear1", p);
            r_conv(&r, n, 3, (int64_t[]){B / 2, B, 1}, true);
            snprintf(n, sizeof n, "%s.cam_layer.linear2", p);
            r_conv(&r, n, 3, (int64_t[]){G, B / 2, 1}, true);
        }
        C += s->layers[b] * G;
        snprintf(n, sizeof n, "xvector.transit%d.nonlinear.batchnorm", b + 1);
        r_bn(&r, n, C, true);
        snprintf(n, sizeof n, "xvector.transit%d.linear", b + 1);
        r_conv(&r, n, 3, (int64_t[]){C / 2, C, 1}, false);
        C /= 2;
    }
    r_bn(&r, "xvector.out_nonlinear.batchnorm", C, true);
    r_conv(&r, "xvector.dense.linear", 3, (int64_t[]){s->embed, 2 * C, 1}, false);
    r_bn(&r, "xvector.dense.nonlinear.batchnorm", s->embed, false);
    return r.err;
}
