/* conv.c: 1-D (transposed) convolution: im2col blocks through the packed f32 nn_gemm for
 * groups 1, threaded direct loops for grouped/depthwise kernels, a double-precision
 * reference, and weight loading with weight-norm folding. */
#include "core/vb.h"
#include "core/err.h"
#include "nn/conv.h"
#include "core/alloc.h"
#include "nn/gemm.h"

#include <math.h>

#define TIME_BLOCK 192 /* output (or input, transposed) frames per im2col block */

void nn_conv_ws_release(struct nn_conv_ws *ws)
{
    if (!ws)
        return;
    vb_free(ws->buf);
    memset(ws, 0, sizeof *ws);
}

static bool ws_reserve(struct nn_conv_ws *ws, size_t n)
{
    if (ws->cap >= n)
        return true;
    float *p = vb_try_malloc(n * sizeof *p);
    if (!p)
        return false;
    vb_free(ws->buf);
    ws->buf = p;
    ws->cap = n;
    return true;
}

/* ---- loading ---- */

enum vb_err nn_st_load_f32(const struct nn_safetensors *st, const char *name, int64_t numel,
                           float **out, char *why, size_t why_cap)
{
    *out = NULL;
    const struct nn_st_tensor *t = nn_st_find(st, name);
    if (!t)
        return vb_failf(why, why_cap, VB_ERR_NOT_FOUND, "missing tensor '%s'", name);
    int64_t n = nn_st_numel(t);
    if (numel >= 0 && n != numel)
        return vb_failf(why, why_cap, VB_ERR_FORMAT, "%s: expected %lld elements, got %lld", name,
                        (long long)numel, (long long)n);
    if (t->dtype != NN_ST_F32 && t->dtype != NN_ST_F16 && t->dtype != NN_ST_BF16 &&
        t->dtype != NN_ST_F64)
        return vb_failf(why, why_cap, VB_ERR_FORMAT, "%s: expected a float tensor, got %s", name,
                        nn_st_dtype_name(t->dtype));
    float *p = vb_try_malloc((size_t)(n ? n : 1) * sizeof *p);
    if (!p)
        return vb_failf(why, why_cap, VB_ERR_NOMEM, "%s: out of memory", name);
    if (nn_st_to_f32(t, p, (size_t)n) != VB_OK) {
        vb_free(p);
        return vb_failf(why, why_cap, VB_ERR_FORMAT, "%s: cannot convert", name);
    }
    *out = p;
    return VB_OK;
}

enum vb_err nn_st_load_weight(const struct nn_safetensors *st, const char *prefix, float **out,
                              int64_t shape[NN_ST_MAX_DIMS], int *n_dims, char *why, size_t why_cap)
{
    *out = NULL;
    char name[320], gname[320];
    snprintf(name, sizeof name, "%s.weight", prefix);
    const struct nn_st_tensor *w = nn_st_find(st, name);
    if (w) {
        *n_dims = w->n_dims;
        memcpy(shape, w->shape, sizeof w->shape);
        return nn_st_load_f32(st, name, -1, out, why, why_cap);
    }
    snprintf(gname, sizeof gname, "%s.parametrizations.weight.original0", prefix);
    snprintf(name, sizeof name, "%s.parametrizations.weight.original1", prefix);
    const struct nn_st_tensor *g = nn_st_find(st, gname), *v = nn_st_find(st, name);
    if (!g || !v) {
        snprintf(gname, sizeof gname, "%s.weight_g", prefix);
        snprintf(name, sizeof name, "%s.weight_v", prefix);
        g = nn_st_find(st, gname);
        v = nn_st_find(st, name);
    }
    if (!g || !v)
        return vb_failf(why, why_cap, VB_ERR_NOT_FOUND,
                        "missing tensor '%s.weight' (nor weight-norm g/v parts)", prefix);
    if (v->n_dims < 1 || v->shape[0] < 1 || nn_st_numel(g) != v->shape[0])
        return vb_failf(why, why_cap, VB_ERR_FORMAT,
                        "%s: weight-norm g has %lld elements for v dim 0", gname,
                        (long long)nn_st_numel(g));
    float *gv = NULL, *vv = NULL;
    enum vb_err err = nn_st_load_f32(st, gname, -1, &gv, why, why_cap);
    if (err == VB_OK)
        err = nn_st_load_f32(st, name, -1, &vv, why, why_cap);
    if (err != VB_OK) {
        vb_free(gv);
        vb_free(vv);
        return err;
    }
    int64_t rows = v->shape[0], inner = nn_st_numel(v) / rows;
    for (int64_t r = 0; r < rows; r++) {
        float *row = vv + r * inner;
        double ss = 0;
        for (int64_t i = 0; i < inner; i++)
            ss += (double)row[i] * row[i];
        float norm = (float)sqrt(ss);
        float scale = norm > 0 ? gv[r] / norm : 0.0f;
        for (int64_t i = 0; i < inner; i++)
            row[i] *= scale;
    }
    vb_free(gv);
    *n_dims = v->n_dims;
    memcpy(shape, v->shape, sizeof v->shape);
    *out = vv;
    return VB_OK;
}

static void params_norm(struct nn_conv1d_params *p)
{
    if (p->stride < 1)
        p->stride = 1;
    if (p->dilation < 1)
        p->dilation = 1;
    if (p->groups < 1)
        p->groups = 1;
}

enum vb_err nn_conv1d_init(struct nn_conv1d *c, bool transposed, int c_in, int c_out, int k,
                           const struct nn_conv1d_params *p, float *w, float *b)
{
    memset(c, 0, sizeof *c);
    c->p = *p;
    params_norm(&c->p);
    c->transposed = transposed;
    c->c_in = c_in;
    c->c_out = c_out;
    c->k = k;
    c->w = w;
    c->b = b;
    int g = c->p.groups;
    if (c_in < 1 || c_out < 1 || k < 1 || c_in % g || c_out % g || c->p.pad_left < 0 ||
        c->p.pad_right < 0 || c->p.output_padding < 0 || !w) {
        nn_conv1d_release(c);
        return VB_ERR_INVALID;
    }
    if (g == 1 && transposed) {
        /* rows (co, j) over ci: the stored (c_in, c_out*k) read transposed */
        int64_t n_in = c_in, n_out = (int64_t)c_out * k;
        if (n_in > INT32_MAX || n_out > INT32_MAX) {
            nn_conv1d_release(c);
            return VB_ERR_INVALID;
        }
        c->wp = vb_try_malloc(nn_gemm_packed_floats((int)n_in, (int)n_out) * sizeof *c->wp);
        if (!c->wp) {
            nn_conv1d_release(c);
            return VB_ERR_NOMEM;
        }
        nn_gemm_pack_t(c->wp, w, (int)n_in, (int)n_out, n_out);
    }
    return VB_OK;
}

static enum vb_err load_common(struct nn_conv1d *c, bool transposed,
                               const struct nn_safetensors *st, const char *prefix,
                               const struct nn_conv1d_params *p, char *why, size_t why_cap)
{
    memset(c, 0, sizeof *c);
    struct nn_conv1d_params pp = *p;
    params_norm(&pp);
    float *w = NULL, *b = NULL;
    int64_t shape[NN_ST_MAX_DIMS];
    int nd = 0;
    enum vb_err err = nn_st_load_weight(st, prefix, &w, shape, &nd, why, why_cap);
    if (err != VB_OK)
        return err;
    if (nd != 3 || shape[0] < 1 || shape[1] < 1 || shape[2] < 1 || shape[0] > INT32_MAX ||
        shape[1] > INT32_MAX / pp.groups || shape[2] > INT32_MAX) {
        vb_free(w);
        return vb_failf(why, why_cap, VB_ERR_FORMAT, "%s.weight: expected 3 dims (%s), got %d",
                        prefix, transposed ? "in, out/groups, k" : "out, in/groups, k", nd);
    }
    int c_in, c_out, k = (int)shape[2];
    if (transposed) {
        c_in = (int)shape[0];
        c_out = (int)shape[1] * pp.groups;
    } else {
        c_out = (int)shape[0];
        c_in = (int)shape[1] * pp.groups;
    }
    if ((transposed ? c_in : c_out) % pp.groups) {
        vb_free(w);
        return vb_failf(why, why_cap, VB_ERR_FORMAT,
                        "%s.weight: dim 0 (%lld) not divisible by %d groups", prefix,
                        (long long)shape[0], pp.groups);
    }
    char name[320];
    snprintf(name, sizeof name, "%s.bias", prefix);
    if (nn_st_find(st, name)) {
        err = nn_st_load_f32(st, name, c_out, &b, why, why_cap);
        if (err != VB_OK) {
            vb_free(w);
            return err;
        }
    }
    err = nn_conv1d_init(c, transposed, c_in, c_out, k, &pp, w, b);
    if (err != VB_OK)
        return vb_failf(why, why_cap, err, "%s: bad convolution parameters", prefix);
    return VB_OK;
}

enum vb_err nn_conv1d_load(struct nn_conv1d *c, const struct nn_safetensors *st, const char *prefix,
                           const struct nn_conv1d_params *p, char *why, size_t why_cap)
{
    return load_common(c, false, st, prefix, p, why, why_cap);
}

enum vb_err nn_convt1d_load(struct nn_conv1d *c, const struct nn_safetensors *st,
                            const char *prefix, const struct nn_conv1d_params *p, char *why,
                            size_t why_cap)
{
    return load_common(c, true, st, prefix, p, why, why_cap);
}

void nn_conv1d_release(struct nn_conv1d *c)
{
    if (!c)
        return;
    vb_free(c->w);
    vb_free(c->b);
    vb_free(c->wp);
    memset(c, 0, sizeof *c);
}

int64_t nn_conv1d_out_len(const struct nn_conv1d *c, int64_t t_in)
{
    const struct nn_conv1d_params *p = &c->p;
    int64_t span = (int64_t)p->dilation * (c->k - 1);
    if (t_in <= 0)
        return 0;
    if (c->transposed) {
        int64_t n =
            (t_in - 1) * p->stride + span + 1 + p->output_padding - p->pad_left - p->pad_right;
        return n > 0 ? n : 0;
    }
    int64_t padded = t_in + p->pad_left + p->pad_right;
    if (padded < span + 1)
        return 0;
    return (padded - span - 1) / p->stride + 1;
}

/* ---- reference ---- */

void nn_conv1d_forward_ref(const struct nn_conv1d *c, const float *x, int64_t t_in, float *y)
{
    const struct nn_conv1d_params *p = &c->p;
    int64_t t_out = nn_conv1d_out_len(c, t_in);
    int g = p->groups, cig = c->c_in / g, cog = c->c_out / g, k = c->k;
    if (t_out <= 0)
        return;
    if (!c->transposed) {
        for (int co = 0; co < c->c_out; co++) {
            int grp = co / cog;
            for (int64_t t = 0; t < t_out; t++) {
                double s = c->b ? c->b[co] : 0.0;
                for (int cl = 0; cl < cig; cl++) {
                    const float *xr = x + (int64_t)(grp * cig + cl) * t_in;
                    const float *wr = c->w + ((int64_t)co * cig + cl) * k;
                    for (int j = 0; j < k; j++) {
                        int64_t ti = t * p->stride + (int64_t)j * p->dilation - p->pad_left;
                        if (ti >= 0 && ti < t_in)
                            s += (double)wr[j] * xr[ti];
                    }
                }
                y[(int64_t)co * t_out + t] = (float)s;
            }
        }
        return;
    }
    double *acc = vb_xmalloc((size_t)t_out * sizeof *acc);
    for (int co = 0; co < c->c_out; co++) {
        int grp = co / cog, col = co % cog;
        for (int64_t t = 0; t < t_out; t++)
            acc[t] = c->b ? c->b[co] : 0.0;
        for (int cl = 0; cl < cig; cl++) {
            int ci = grp * cig + cl;
            const float *xr = x + (int64_t)ci * t_in;
            const float *wr = c->w + ((int64_t)ci * cog + col) * k;
            for (int64_t ti = 0; ti < t_in; ti++)
                for (int j = 0; j < k; j++) {
                    int64_t o = ti * p->stride + (int64_t)j * p->dilation - p->pad_left;
                    if (o >= 0 && o < t_out)
                        acc[o] += (double)xr[ti] * wr[j];
                }
        }
        for (int64_t t = 0; t < t_out; t++)
            y[(int64_t)co * t_out + t] = (float)acc[t];
    }
    vb_free(acc);
}

/* ---- direct threaded path (groups > 1) ---- */

struct direct_job {
    const struct nn_conv1d *c;
    const float *x;
    int64_t t_in, t_out;
    float *y;
};

static void direct_worker(void *ctx, int ith, int nth)
{
    struct direct_job *jb = ctx;
    const struct nn_conv1d *c = jb->c;
    const struct nn_conv1d_params *p = &c->p;
    int g = p->groups, cig = c->c_in / g, cog = c->c_out / g, k = c->k;
    int64_t t_in = jb->t_in, t_out = jb->t_out;
    int co0 = (int)((int64_t)c->c_out * ith / nth),
        co1 = (int)((int64_t)c->c_out * (ith + 1) / nth);
    for (int co = co0; co < co1; co++) {
        float *yr = jb->y + (int64_t)co * t_out;
        float bias = c->b ? c->b[co] : 0.0f;
        for (int64_t t = 0; t < t_out; t++)
            yr[t] = bias;
        int grp = co / cog;
        if (!c->transposed) {
            for (int cl = 0; cl < cig; cl++) {
                const float *xr = jb->x + (int64_t)(grp * cig + cl) * t_in;
                const float *wr = c->w + ((int64_t)co * cig + cl) * k;
                for (int j = 0; j < k; j++) {
                    float wj = wr[j];
                    int64_t off = (int64_t)j * p->dilation - p->pad_left;
                    /* t range with 0 <= t*stride + off < t_in */
                    int64_t lo = off >= 0 ? 0 : (-off + p->stride - 1) / p->stride;
                    int64_t hi = t_in - off <= 0 ? 0 : (t_in - off - 1) / p->stride + 1;
                    if (hi > t_out)
                        hi = t_out;
                    if (p->stride == 1)
                        for (int64_t t = lo; t < hi; t++)
                            yr[t] += wj * xr[t + off];
                    else
                        for (int64_t t = lo; t < hi; t++)
                            yr[t] += wj * xr[t * p->stride + off];
                }
            }
        } else {
            int col = co % cog;
            for (int cl = 0; cl < cig; cl++) {
                int ci = grp * cig + cl;
                const float *xr = jb->x + (int64_t)ci * t_in;
                const float *wr = c->w + ((int64_t)ci * cog + col) * k;
                for (int64_t ti = 0; ti < t_in; ti++) {
                    float xv = xr[ti];
                    for (int j = 0; j < k; j++) {
                        int64_t o = ti * p->stride + (int64_t)j * p->dilation - p->pad_left;
                        if (o >= 0 && o < t_out)
                            yr[o] += xv * wr[j];
                    }
                }
            }
        }
    }
}

/* ---- GEMM path (groups 1) ---- */

/* y (c_out, t) = W (c_out, K) X (K, t) with X the im2col block (row (ci, j) = x[ci] shifted):
 * the block is packed as the GEMM's panel operand and W's rows play the activations, so the
 * result lands channel-major in y without a transpose, and stride-1 rows are plain copies. */
struct pack_job {
    float *dst;
    const float *src;
    int K, n;
    int64_t ld;
};

static void pack_worker(void *ctx, int ith, int nth)
{
    const struct pack_job *j = ctx;
    int panels = (j->n + NN_GEMM_NR - 1) / NN_GEMM_NR;
    int p0 = panels * ith / nth, p1 = panels * (ith + 1) / nth;
    if (p1 <= p0)
        return;
    int c0 = p0 * NN_GEMM_NR, c1 = VB_MIN(j->n, p1 * NN_GEMM_NR);
    /* panel p of the packed operand starts at p * K * NR floats */
    nn_gemm_pack_t(j->dst + (size_t)p0 * (size_t)j->K * NN_GEMM_NR, j->src + c0, j->K, c1 - c0,
                   j->ld);
}

void nn_gemm_pack_t_pool(struct nn_pool *pool, float *dst, const float *src, int K, int n,
                         int64_t ld)
{
    struct pack_job j = {.dst = dst, .src = src, .K = K, .n = n, .ld = ld};
    if (pool && (int64_t)K * n >= 32768 && n > NN_GEMM_NR)
        nn_pool_run(pool, pack_worker, &j);
    else
        pack_worker(&j, 0, 1);
}

struct im2col_job {
    const struct nn_conv1d *c;
    const float *x;
    int64_t t_in, t0;
    int n;
    float *xb;
};

/* rows (ci, j) of the block for ci in this thread's share */
static void im2col_worker(void *ctx, int ith, int nth)
{
    const struct im2col_job *jb = ctx;
    const struct nn_conv1d *c = jb->c;
    const struct nn_conv1d_params *p = &c->p;
    int k = c->k, n = jb->n;
    int64_t t0 = jb->t0, t_in = jb->t_in;
    int ci0 = (int)((int64_t)c->c_in * ith / nth), ci1 = (int)((int64_t)c->c_in * (ith + 1) / nth);
    for (int ci = ci0; ci < ci1; ci++) {
        const float *xr = jb->x + (int64_t)ci * t_in;
        for (int j = 0; j < k; j++) {
            float *row = jb->xb + ((int64_t)ci * k + j) * n;
            /* output t reads input t * stride + off */
            int64_t off = (int64_t)j * p->dilation - p->pad_left;
            if (p->stride == 1) {
                int64_t lo = VB_MAX((int64_t)0, -(t0 + off));
                int64_t hi = VB_MIN((int64_t)n, t_in - (t0 + off));
                if (hi < lo)
                    lo = hi = n;
                for (int64_t i = 0; i < lo; i++)
                    row[i] = 0.0f;
                if (hi > lo)
                    memcpy(row + lo, xr + t0 + off + lo, (size_t)(hi - lo) * sizeof *row);
                for (int64_t i = hi; i < n; i++)
                    row[i] = 0.0f;
            } else {
                for (int i = 0; i < n; i++) {
                    int64_t ti = (t0 + i) * p->stride + off;
                    row[i] = ti >= 0 && ti < t_in ? xr[ti] : 0.0f;
                }
            }
        }
    }
}

/* y (c_out, t) = W (c_out, K) X (K, t) with X the im2col block (row (ci, j) = x[ci] shifted):
 * the block is packed as the GEMM's panel operand and W's rows play the activations, so the
 * result lands channel-major in y without a transpose, and stride-1 rows are plain copies. */
static bool conv_mm(const struct nn_conv1d *c, struct nn_pool *pool, struct nn_conv_ws *ws,
                    const float *x, int64_t t_in, int64_t t_out, float *y)
{
    const struct nn_conv1d_params *p = &c->p;
    int k = c->k;
    int64_t K = (int64_t)c->c_in * k;
    int64_t nb = ((int64_t)1 << 18) / K; /* X block of about 1 MB */
    nb = VB_MAX((int64_t)16, VB_MIN((int64_t)1024, nb));
    nb -= nb % 16;
    size_t packed = nn_gemm_packed_floats((int)K, (int)nb);
    if (!ws_reserve(ws, (size_t)(K * nb) + packed))
        return false;
    float *xb = ws->buf, *pk = ws->buf + K * nb;
    /* pointwise, unpadded, stride 1: the input rows are the block rows; pack straight from x */
    bool direct = k == 1 && p->stride == 1 && p->pad_left == 0 && t_out <= t_in;
    for (int64_t t0 = 0; t0 < t_out; t0 += nb) {
        int n = (int)VB_MIN(nb, t_out - t0);
        if (direct) {
            nn_gemm_pack_t_pool(pool, pk, x + t0, (int)K, n, t_in);
        } else {
            struct im2col_job jb = {.c = c, .x = x, .t_in = t_in, .t0 = t0, .n = n, .xb = xb};
            if (pool && K * n >= 32768)
                nn_pool_run(pool, im2col_worker, &jb);
            else
                im2col_worker(&jb, 0, 1);
            nn_gemm_pack_t_pool(pool, pk, xb, (int)K, n, n);
        }
        nn_gemm(pool, pk, (int)K, n, c->w, K, c->c_out, NULL, y + t0, t_out);
    }
    if (c->b)
        for (int co = 0; co < c->c_out; co++) {
            float bias = c->b[co], *yr = y + (int64_t)co * t_out;
            for (int64_t t = 0; t < t_out; t++)
                yr[t] += bias;
        }
    return true;
}

static bool convt_mm(const struct nn_conv1d *c, struct nn_pool *pool, struct nn_conv_ws *ws,
                     const float *x, int64_t t_in, int64_t t_out, float *y)
{
    const struct nn_conv1d_params *p = &c->p;
    int k = c->k;
    int64_t N = (int64_t)c->c_out * k;
    if (!ws_reserve(ws, (size_t)TIME_BLOCK * (size_t)(c->c_in + N)))
        return false;
    float *xt = ws->buf, *z = ws->buf + TIME_BLOCK * c->c_in;
    for (int co = 0; co < c->c_out; co++) {
        float bias = c->b ? c->b[co] : 0.0f;
        float *yr = y + (int64_t)co * t_out;
        for (int64_t t = 0; t < t_out; t++)
            yr[t] = bias;
    }
    for (int64_t t0 = 0; t0 < t_in; t0 += TIME_BLOCK) {
        int n = (int)VB_MIN((int64_t)TIME_BLOCK, t_in - t0);
        for (int ci = 0; ci < c->c_in; ci++) {
            const float *xr = x + (int64_t)ci * t_in + t0;
            for (int tt = 0; tt < n; tt++)
                xt[(int64_t)tt * c->c_in + ci] = xr[tt];
        }
        nn_gemm(pool, c->wp, c->c_in, (int)N, xt, c->c_in, n, NULL, z, N);
        for (int tt = 0; tt < n; tt++) {
            int64_t base = (t0 + tt) * p->stride - p->pad_left;
            const float *zr = z + (int64_t)tt * N;
            for (int co = 0; co < c->c_out; co++) {
                float *yr = y + (int64_t)co * t_out;
                for (int j = 0; j < k; j++) {
                    int64_t o = base + (int64_t)j * p->dilation;
                    if (o >= 0 && o < t_out)
                        yr[o] += zr[co * k + j];
                }
            }
        }
    }
    return true;
}

bool nn_conv1d_forward(const struct nn_conv1d *c, struct nn_pool *pool, struct nn_conv_ws *ws,
                       const float *x, int64_t t_in, float *y)
{
    int64_t t_out = nn_conv1d_out_len(c, t_in);
    if (t_out <= 0)
        return true;
    if (c->p.groups == 1 && !c->transposed) {
        if ((int64_t)c->c_in * c->k > INT32_MAX / 2)
            return false;
        return conv_mm(c, pool, ws, x, t_in, t_out, y);
    }
    if (c->p.groups == 1 && c->transposed)
        return convt_mm(c, pool, ws, x, t_in, t_out, y);
    struct direct_job jb = {.c = c, .x = x, .t_in = t_in, .t_out = t_out, .y = y};
    nn_pool_run(pool, direct_worker, &jb);
    return true;
}
