/* hift_conv.c: register-tiled direct 1-D convolutions for HiFT (see hift_conv.h). */
#include "core/vb.h"
#include "tts/chatterbox/hift_conv.h"
#include "core/alloc.h"
#include "nn/fp16.h"
#include "nn/gemm.h"
#include "nn/conv_tile.h"
#include "nn/kernels.h"

#include <stdatomic.h>

#define MR     CB_HIFT_CONV_MR
#define NR     CB_HIFT_CONV_NR
#define TBLOCK (8 * NR) /* time steps per unit of threaded work */

enum vb_err cb_hift_conv_init(struct cb_hift_conv *c, const float *w, const float *b, int c_out,
                              int c_in, int k, int dilation, int pad)
{
    memset(c, 0, sizeof *c);
    if (c_out <= 0 || c_in <= 0 || k <= 0 || dilation <= 0 || pad < 0)
        return VB_ERR_INVALID;
    c->c_in = c_in;
    c->c_out = c_out;
    c->k = k;
    c->dilation = dilation;
    c->pad = pad;
    c->n_blk = (c_out + MR - 1) / MR;
    size_t n = (size_t)c->n_blk * (size_t)k * (size_t)c_in * MR;
    c->w = vb_try_calloc(n, sizeof *c->w);
    if (!c->w)
        return VB_ERR_NOMEM;
    if (b) {
        c->b = vb_try_malloc((size_t)c_out * sizeof *c->b);
        if (!c->b) {
            cb_hift_conv_release(c);
            return VB_ERR_NOMEM;
        }
        memcpy(c->b, b, (size_t)c_out * sizeof *c->b);
    }
    for (int co = 0; co < c_out; co++) {
        int blk = co / MR, r = co % MR;
        for (int ci = 0; ci < c_in; ci++)
            for (int j = 0; j < k; j++)
                c->w[(((size_t)blk * k + j) * c_in + ci) * MR + r] =
                    w[((size_t)co * c_in + ci) * k + j];
    }
    return VB_OK;
}

void cb_hift_conv_release(struct cb_hift_conv *c)
{
    if (!c)
        return;
    vb_free(c->w);
    vb_free(c->b);
    vb_free(c->wb);
    memset(c, 0, sizeof *c);
}

struct conv_job {
    const struct cb_hift_conv *c;
    const float *x;
    int64_t ldx, t_out;
    float *y;
    int64_t ldy;
    bool accumulate;
    int64_t n_tblk;
    int n_split; /* channel-block ranges per time block */
    float *pack; /* per-thread packed input blocks, pack_stride floats each; NULL = direct */
    size_t pack_stride;
    int64_t pld; /* row stride of a packed block */
    struct nn_conv_tile_shape shape;
    nn_conv_tile_fn tile;
    atomic_llong next; /* next unit to take: threads that run late take fewer */
};

static int64_t pack_ld(const struct cb_hift_conv *c)
{
    return (TBLOCK + (int64_t)(c->k - 1) * c->dilation + NR + 15) / 16 * 16;
}

static void conv_worker(void *ctx, int ith, int nth)
{
    struct conv_job *j = ctx;
    const struct cb_hift_conv *c = j->c;
    (void)nth;
    int64_t units = j->n_tblk * j->n_split, packed_tb = -1;
    float *pack = j->pack ? j->pack + (size_t)ith * j->pack_stride : NULL;
    for (;;) {
        int64_t u = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (u >= units)
            break;
        int64_t tb = u / j->n_split;
        int part = (int)(u % j->n_split);
        int b0 = c->n_blk * part / j->n_split, b1 = c->n_blk * (part + 1) / j->n_split;
        int64_t t_beg = tb * TBLOCK, t_end = VB_MIN(j->t_out, (tb + 1) * TBLOCK);
        const float *xs = j->x + t_beg - c->pad; /* input of step t_beg, channel 0 */
        int64_t ldx = j->ldx;
        if (pack) {
            /* Copy the block's input window (rows ci, steps t_beg - pad ..) contiguously: short
             * row strides keep the tile's loads prefetchable and within a few pages. */
            int64_t len = (t_end - t_beg) + (int64_t)(c->k - 1) * c->dilation + NR;
            if (packed_tb != tb) {
                for (int ci = 0; ci < c->c_in; ci++)
                    memcpy(pack + (int64_t)ci * j->pld, xs + (int64_t)ci * j->ldx,
                           (size_t)len * sizeof *pack);
                packed_tb = tb;
            }
            xs = pack;
            ldx = j->pld;
        }
        for (int blk = b0; blk < b1; blk++) {
            int rows = VB_MIN(MR, c->c_out - blk * MR);
            const float *wp = c->w + (size_t)blk * c->k * c->c_in * MR;
            const float *bias = c->b ? c->b + blk * MR : NULL;
            float *yb = j->y + (int64_t)blk * MR * j->ldy;
            for (int64_t t0 = t_beg; t0 < t_end; t0 += NR) {
                int cols = (int)VB_MIN(NR, t_end - t0);
                j->tile(&j->shape, wp, xs + (t0 - t_beg), ldx, yb + t0, j->ldy, rows, cols,
                        j->accumulate, bias);
            }
        }
    }
}

void cb_hift_scratch_release(struct cb_hift_scratch *s)
{
    if (!s)
        return;
    vb_free(s->data);
    s->data = NULL;
    s->cap = 0;
    vb_free(s->bf);
    s->bf = NULL;
    s->bf_cap = 0;
}

/* Grows *buf (old contents dropped) to hold need elements of es bytes; *cap counts elements.
 * false on OOM (*buf unchanged). */
static bool grow(void **buf, size_t *cap, size_t need, size_t es)
{
    if (*cap >= need)
        return true;
    void *p = vb_try_malloc(need * es);
    if (!p)
        return false;
    vb_free(*buf);
    *buf = p;
    *cap = need;
    return true;
}

/* ---- BF16 on AMX (the units: nn/conv_tile.h) ------------------------------------------ */

#define BM NN_CONV_BF16_BM /* output channels per unit (two A tiles) */
#define BT NN_CONV_BF16_BT /* steps per unit (two B tiles) */
#define BK NN_CONV_BF16_BK /* input channels per K step */

static int ceil_to(int v, int m)
{
    return (v + m - 1) / m * m;
}

/* Weight (co, ci, tap j) from the F32 packing, or from the BF16 tiles once only they remain. */
static float w_at(const struct cb_hift_conv *c, int co, int ci, int j)
{
    if (c->w)
        return c->w[(((size_t)(co / MR) * c->k + j) * c->c_in + ci) * MR + co % MR];
    const int n_kb = ceil_to(c->c_in, BK) / BK;
    const size_t blk = ((size_t)(co / BM) * c->k + j) * n_kb + (size_t)(ci / BK);
    return nn_bf16_to_fp32(c->wb[blk * BM * BK + (size_t)(co % BM) * BK + ci % BK]);
}

enum vb_err cb_hift_conv_use_bf16(struct cb_hift_conv *c)
{
    if (c->wb || !nn_gemm_amx_available() || c->c_in < BK || c->c_out < BM)
        return VB_OK;
    const int n_cb = ceil_to(c->c_out, BM) / BM, n_kb = ceil_to(c->c_in, BK) / BK;
    uint16_t *wb = vb_try_malloc((size_t)n_cb * c->k * n_kb * BM * BK * sizeof *wb);
    if (!wb)
        return VB_ERR_NOMEM;
    uint16_t *d = wb;
    for (int cb = 0; cb < n_cb; cb++)
        for (int j = 0; j < c->k; j++)
            for (int kb = 0; kb < n_kb; kb++)
                for (int r = 0; r < BM; r++) /* tile rows: output channels */
                    for (int kk = 0; kk < BK; kk++) {
                        const int co = cb * BM + r, ci = kb * BK + kk;
                        *d++ =
                            co < c->c_out && ci < c->c_in ? nn_fp32_to_bf16(w_at(c, co, ci, j)) : 0;
                    }
    c->wb = wb;
    vb_free(c->w); /* BF16 from now on: the F32 copy would only cost memory */
    c->w = NULL;
    return VB_OK;
}

/* The BF16 path; false when it does not apply (no copy, no AMX). */
static bool conv_run_bf16(struct nn_pool *pool, const struct cb_hift_conv *c, const float *x,
                          int64_t ldx, int64_t t_out, float *y, int64_t ldy, bool accumulate,
                          struct cb_hift_scratch *ws, enum vb_err *err)
{
    if (!c->wb || !nn_gemm_amx_available())
        return false;
    if (!ws) { /* a one-off scratch (the F32 weights are gone) */
        struct cb_hift_scratch tmp = {0};
        conv_run_bf16(pool, c, x, ldx, t_out, y, ldy, accumulate, &tmp, err);
        cb_hift_scratch_release(&tmp);
        return true;
    }
    const struct nn_conv_bf16 cv = {.c_in = c->c_in,
                                    .c_out = c->c_out,
                                    .k = c->k,
                                    .dilation = c->dilation,
                                    .pad = c->pad,
                                    .wb = c->wb,
                                    .b = c->b};
    struct nn_conv_bf16_job j = {.c = &cv,
                                 .x = x,
                                 .ldx = ldx,
                                 .t_out = t_out,
                                 .y = y,
                                 .ldy = ldy,
                                 .accumulate = accumulate,
                                 .n_cb = ceil_to(c->c_out, BM) / BM,
                                 .n_tb = (int)((t_out + BT - 1) / BT),
                                 .n_kb = ceil_to(c->c_in, BK) / BK};
    /* steps a unit's B tiles reach: the last unit's end plus the taps, rounded for alignment */
    j.ldp = ((int64_t)j.n_tb * BT + (int64_t)(c->k - 1) * c->dilation + 15) / 16 * 16;
    const size_t need = (size_t)j.n_kb * (BK / 2) * (size_t)j.ldp * sizeof(uint32_t);
    if (!grow(&ws->bf, &ws->bf_cap, need, 1)) {
        *err = VB_ERR_NOMEM;
        return true;
    }
    j.xp = ws->bf;
    nn_conv_bf16_run(pool, &j);
    *err = VB_OK;
    return true;
}

enum vb_err cb_hift_conv_run(struct nn_pool *pool, const struct cb_hift_conv *c, const float *x,
                             int64_t ldx, int64_t t_out, float *y, int64_t ldy, bool accumulate,
                             struct cb_hift_scratch *ws)
{
    if (t_out <= 0)
        return VB_OK;
    enum vb_err bf_err;
    if (conv_run_bf16(pool, c, x, ldx, t_out, y, ldy, accumulate, ws, &bf_err))
        return bf_err;
    int nth = nn_pool_threads(pool);
    struct conv_job j = {
        .c = c,
        .x = x,
        .ldx = ldx,
        .t_out = t_out,
        .y = y,
        .ldy = ldy,
        .accumulate = accumulate,
        .n_tblk = (t_out + TBLOCK - 1) / TBLOCK,
        .shape = {.c_in = c->c_in, .k = c->k, .dilation = c->dilation},
        .tile = nn_op_kernels()->conv_tile,
    };
    atomic_init(&j.next, 0);
    /* Enough units for every thread: split the channel blocks when time blocks are few. */
    j.n_split = 1;
    if (nth > 1)
        while (j.n_tblk * j.n_split < 8 * nth && j.n_split < c->n_blk)
            j.n_split++;
    if (ws) {
        j.pld = pack_ld(c);
        j.pack_stride = (size_t)c->c_in * (size_t)j.pld;
        size_t need = j.pack_stride * (size_t)nth;
        void *data = ws->data;
        if (!grow(&data, &ws->cap, need, sizeof(float)))
            return VB_ERR_NOMEM;
        ws->data = data;
        j.pack = ws->data;
    }
    nn_pool_run(pool, conv_worker, &j);
    return VB_OK;
}

void cb_hift_conv_run_ref(const struct cb_hift_conv *c, const float *x, int64_t ldx, int64_t t_out,
                          float *y, int64_t ldy, bool accumulate)
{
    for (int co = 0; co < c->c_out; co++) {
        for (int64_t t = 0; t < t_out; t++) {
            double s = c->b ? c->b[co] : 0.0;
            for (int ci = 0; ci < c->c_in; ci++)
                for (int j = 0; j < c->k; j++)
                    s += (double)w_at(c, co, ci, j) *
                         x[(int64_t)ci * ldx + t - c->pad + (int64_t)j * c->dilation];
            float *yo = &y[(int64_t)co * ldy + t];
            *yo = (accumulate ? *yo : 0.0f) + (float)s;
        }
    }
}

/* ---- transposed ------------------------------------------------------------------------- */

enum vb_err cb_hift_convt_init(struct cb_hift_convt *c, const float *w, const float *b, int c_in,
                               int c_out, int k, int stride, int pad)
{
    enum vb_err err = VB_OK;
    float *wt = NULL;
    memset(c, 0, sizeof *c);
    if (c_in <= 0 || c_out <= 0 || k <= 0 || stride <= 0 || pad < 0)
        return VB_ERR_INVALID;
    c->c_in = c_in;
    c->c_out = c_out;
    c->k = k;
    c->stride = stride;
    c->pad = pad;
    /* GEMM weights: row (o*k + j), column i = w[i][o][j]. */
    wt = vb_try_malloc((size_t)c_out * k * c_in * sizeof *wt);
    c->b = vb_try_calloc((size_t)c_out, sizeof *c->b);
    if (!wt || !c->b) {
        err = VB_ERR_NOMEM;
        goto out;
    }
    if (b)
        memcpy(c->b, b, (size_t)c_out * sizeof *c->b);
    for (int i = 0; i < c_in; i++)
        for (int o = 0; o < c_out; o++)
            for (int j = 0; j < k; j++)
                wt[((size_t)o * k + j) * c_in + i] = w[((size_t)i * c_out + o) * k + j];
    err = cb_hift_conv_init(&c->gemm, wt, NULL, c_out * k, c_in, 1, 1, 0);
out:
    vb_free(wt);
    if (err)
        cb_hift_convt_release(c);
    return err;
}

void cb_hift_convt_release(struct cb_hift_convt *c)
{
    if (!c)
        return;
    cb_hift_conv_release(&c->gemm);
    vb_free(c->b);
    memset(c, 0, sizeof *c);
}

int64_t cb_hift_convt_len(const struct cb_hift_convt *c, int64_t t_in)
{
    return (t_in - 1) * c->stride - 2 * c->pad + c->k;
}

size_t cb_hift_convt_scratch(const struct cb_hift_convt *c, int64_t t_in)
{
    return (size_t)c->c_out * c->k * (size_t)t_in;
}

struct ola_job {
    const struct cb_hift_convt *c;
    const float *z;
    int64_t t_in, t_out;
    float *y;
    int64_t ldy;
};

static void ola_worker(void *ctx, int ith, int nth)
{
    struct ola_job *j = ctx;
    const struct cb_hift_convt *c = j->c;
    int o0 = c->c_out * ith / nth, o1 = c->c_out * (ith + 1) / nth;
    for (int o = o0; o < o1; o++) {
        float *yr = j->y + (int64_t)o * j->ldy;
        for (int64_t t = 0; t < j->t_out; t++)
            yr[t] = c->b[o];
        for (int k = 0; k < c->k; k++) {
            const float *zr = j->z + ((int64_t)o * c->k + k) * j->t_in;
            for (int64_t s = 0; s < j->t_in; s++) {
                int64_t t = s * c->stride + k - c->pad;
                if (t >= 0 && t < j->t_out)
                    yr[t] += zr[s];
            }
        }
    }
}

enum vb_err cb_hift_convt_run(struct nn_pool *pool, const struct cb_hift_convt *c, const float *x,
                              int64_t ldx, int64_t t_in, float *z, float *y, int64_t ldy,
                              struct cb_hift_scratch *ws)
{
    enum vb_err err = cb_hift_conv_run(pool, &c->gemm, x, ldx, t_in, z, t_in, false, ws);
    if (err)
        return err;
    struct ola_job j = {
        .c = c, .z = z, .t_in = t_in, .t_out = cb_hift_convt_len(c, t_in), .y = y, .ldy = ldy};
    nn_pool_run(pool, ola_worker, &j);
    return VB_OK;
}

/* ---- strided ---------------------------------------------------------------------------- */

enum vb_err cb_hift_convs_init(struct cb_hift_convs *c, const float *w, const float *b, int c_out,
                               int c_in, int k, int stride, int pad)
{
    memset(c, 0, sizeof *c);
    if (c_in <= 0 || c_out <= 0 || k <= 0 || stride <= 0 || pad < 0)
        return VB_ERR_INVALID;
    c->c_in = c_in;
    c->c_out = c_out;
    c->k = k;
    c->stride = stride;
    c->pad = pad;
    /* (c_out, c_in, k) is already (c_out, c_in*k) row-major. */
    return cb_hift_conv_init(&c->gemm, w, b, c_out, c_in * k, 1, 1, 0);
}

void cb_hift_convs_release(struct cb_hift_convs *c)
{
    if (!c)
        return;
    cb_hift_conv_release(&c->gemm);
    memset(c, 0, sizeof *c);
}

int64_t cb_hift_convs_len(const struct cb_hift_convs *c, int64_t t_in)
{
    return (t_in + 2 * c->pad - c->k) / c->stride + 1;
}

static int64_t col_ld(int64_t t_out)
{
    return t_out + NR;
}

size_t cb_hift_convs_scratch(const struct cb_hift_convs *c, int64_t t_in)
{
    return ((size_t)c->c_in * c->k + 1) * (size_t)col_ld(cb_hift_convs_len(c, t_in));
}

enum vb_err cb_hift_convs_run(struct nn_pool *pool, const struct cb_hift_convs *c, const float *x,
                              int64_t ldx, int64_t t_in, float *col, float *y, int64_t ldy,
                              struct cb_hift_scratch *ws)
{
    int64_t t_out = cb_hift_convs_len(c, t_in), ld = col_ld(t_out);
    for (int ci = 0; ci < c->c_in; ci++)
        for (int j = 0; j < c->k; j++) {
            float *cr = col + ((int64_t)ci * c->k + j) * ld;
            const float *xr = x + (int64_t)ci * ldx;
            for (int64_t t = 0; t < t_out; t++) {
                int64_t s = t * c->stride + j - c->pad;
                cr[t] = s >= 0 && s < t_in ? xr[s] : 0.0f;
            }
            memset(cr + t_out, 0, (size_t)(ld - t_out) * sizeof *cr);
        }
    memset(col + (int64_t)c->c_in * c->k * ld, 0, (size_t)ld * sizeof *col);
    return cb_hift_conv_run(pool, &c->gemm, col, ld, t_out, y, ldy, false, ws);
}
