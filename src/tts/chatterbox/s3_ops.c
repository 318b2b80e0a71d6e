/* s3_ops.c: checked weight loading, Linear/Conv1d on time-major activations, row LayerNorm
 * and small activations for the S3Tokenizer and the S3Gen flow. */
#include "core/vb.h"
#include "core/err.h"
#include "tts/chatterbox/s3_ops.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "core/alloc.h"
#include "nn/gemm.h"
#include "nn/kernels.h"
#include "nn/ops.h"
#include "nn/activations.h"

void s3_wstore_release(struct s3_wstore *ws)
{
    if (!ws)
        return;
    for (size_t i = 0; i < ws->n; i++)
        vb_free(ws->ptrs[i]);
    vb_free(ws->ptrs);
    ws->ptrs = NULL;
    ws->n = ws->cap = 0;
}

static bool wstore_add(struct s3_wstore *ws, void *p)
{
    if (ws->n == ws->cap) {
        size_t cap = ws->cap ? ws->cap * 2 : 64;
        void **np = vb_try_realloc(ws->ptrs, cap * sizeof *np);
        if (!np)
            return false;
        ws->ptrs = np;
        ws->cap = cap;
    }
    ws->ptrs[ws->n++] = p;
    return true;
}

#define loader_fail(L, ...) nn_lt_fail(&(L)->lt, __VA_ARGS__)

static bool keep(struct nn_lt *lt, void *p)
{
    return wstore_add(((struct s3_loader *)lt)->ws, p);
}

/* prefix + printf(fmt, ap) into name[cap]; false when it does not fit. */
static bool name_v(struct s3_loader *L, char *name, size_t cap, const char *fmt, va_list ap)
{
    int n = snprintf(name, cap, "%s", L->lt.prefix);
    if (n < 0 || (size_t)n >= cap)
        return false;
    int m = vsnprintf(name + n, cap - (size_t)n, fmt, ap);
    return m >= 0 && (size_t)(n + m) < cap;
}

const struct nn_st_tensor *s3_find(struct s3_loader *L, const char *fmt, ...)
{
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    bool ok = name_v(L, name, sizeof name, fmt, ap);
    va_end(ap);
    return ok ? nn_st_find(L->lt.st, name) : NULL;
}

float *s3_load(struct s3_loader *L, int n_dims, int64_t *shape, const char *fmt, ...)
{
    char name[256];
    if (L->lt.err)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    bool ok = name_v(L, name, sizeof name, fmt, ap);
    va_end(ap);
    if (!ok) {
        loader_fail(L, VB_ERR_FORMAT, "missing tensor %s", name);
        return NULL;
    }
    return nn_lt_f32(&L->lt, name, n_dims, shape);
}

bool s3_shape(struct s3_loader *L, int n_dims, int64_t *shape, const char *name)
{
    char full[256];
    return nn_lt_name(&L->lt, full, sizeof full, "%s", name) &&
           nn_lt_tensor(&L->lt, full, n_dims, shape) != NULL;
}

int s3_count_indexed(struct s3_loader *L, const char *group, int max)
{
    const char *pre = L->lt.prefix;
    size_t lp = strlen(pre), lg = strlen(group);
    int n = 0;
    for (size_t i = 0; i < nn_st_count(L->lt.st); i++) {
        const char *name = nn_st_at(L->lt.st, i)->name;
        if (strncmp(name, pre, lp) != 0 || strncmp(name + lp, group, lg) != 0)
            continue;
        const char *d = name + lp + lg;
        long v = 0;
        int digits = 0;
        while (*d >= '0' && *d <= '9' && digits < 6)
            v = v * 10 + (*d++ - '0'), digits++;
        if (digits == 0 || *d != '.')
            continue;
        if (v + 1 > n)
            n = (int)VB_MIN(v + 1, (long)max + 1);
    }
    return n;
}

/* Replaces the just-loaded row-major weight `w` (the store's last entry) by its nn_gemm
 * packing. */
static bool linear_set(struct s3_loader *L, struct s3_linear *lin, float *w, int n_in, int n_out)
{
    if (L->ws->n == 0 || L->ws->ptrs[L->ws->n - 1] != w) {
        loader_fail(L, VB_ERR_INTERNAL, "weight store out of order");
        return false;
    }
    enum s3_wtype type = S3_W_F32;
    if (L->bf16 && nn_gemm_amx_available())
        type = S3_W_BF16;
    else if (L->f16 || L->bf16) /* without AMX, bf16 would be slow: half memory instead */
        type = S3_W_F16;
    size_t bytes = type == S3_W_BF16 ? nn_gemm_packed_bf16_elems(n_in, n_out) * sizeof(uint16_t)
                                     : nn_gemm_packed_floats(n_in, n_out) *
                                           (type == S3_W_F16 ? sizeof(uint16_t) : sizeof(float));
    void *p = vb_try_malloc(bytes);
    if (!p) {
        loader_fail(L, VB_ERR_NOMEM, "out of memory packing weights");
        return false;
    }
    if (type == S3_W_BF16)
        nn_gemm_pack_bf16(p, w, n_in, n_out, n_in);
    else if (type == S3_W_F16)
        nn_gemm_pack_f16(p, w, n_in, n_out, n_in);
    else
        nn_gemm_pack(p, w, n_in, n_out, n_in);
    vb_free(w);
    L->ws->ptrs[L->ws->n - 1] = p;
    lin->w = p;
    lin->type = type;
    lin->n_in = n_in;
    lin->n_out = n_out;
    return true;
}

/* F32 copy of tensor `full` + `suffix` (full names, prefix included). */
static float *part(struct s3_loader *L, int n_dims, int64_t *shape, const char *full,
                   const char *suffix)
{
    char name[256];
    if (snprintf(name, sizeof name, "%s%s", full, suffix) >= (int)sizeof name) {
        loader_fail(L, VB_ERR_FORMAT, "missing tensor %s", name);
        return NULL;
    }
    return nn_lt_f32(&L->lt, name, n_dims, shape);
}

/* s3_linear_load of module `base`, a full name. */
static bool linear_at(struct s3_loader *L, struct s3_linear *lin, int n_in, int n_out,
                      bool has_bias, const char *base)
{
    memset(lin, 0, sizeof *lin);
    int64_t shape[2] = {n_out, n_in};
    float *w = part(L, 2, shape, base, ".weight");
    if (!w || !linear_set(L, lin, w, (int)shape[1], (int)shape[0]))
        return false;
    if (has_bias) {
        int64_t bs[1] = {shape[0]};
        lin->b = part(L, 1, bs, base, ".bias");
        if (!lin->b)
            return false;
    }
    return true;
}

/* s3_conv_load of module `base`, a full name. */
static bool conv_at(struct s3_loader *L, struct s3_conv *c, int c_in, int c_out, int k, int stride,
                    bool has_bias, const char *base)
{
    memset(c, 0, sizeof *c);
    int64_t shape[3] = {c_out, c_in, k};
    float *w = part(L, 3, shape, base, ".weight");
    if (!w)
        return false;
    c->c_out = (int)shape[0];
    c->c_in = (int)shape[1];
    c->k = (int)shape[2];
    c->stride = stride;
    /* [out][in][k] -> [out][k][in] so that an im2col row (k frames of c_in) is contiguous */
    if (c->k > 1) {
        size_t per = (size_t)c->c_in * (size_t)c->k;
        float *tmp = vb_try_malloc(per * sizeof *tmp);
        if (!tmp) {
            loader_fail(L, VB_ERR_NOMEM, "out of memory loading %s", base);
            return false;
        }
        for (int o = 0; o < c->c_out; o++) {
            float *row = w + (size_t)o * per;
            memcpy(tmp, row, per * sizeof *tmp);
            for (int i = 0; i < c->c_in; i++)
                for (int kk = 0; kk < c->k; kk++)
                    row[(size_t)kk * (size_t)c->c_in + (size_t)i] =
                        tmp[(size_t)i * (size_t)c->k + (size_t)kk];
        }
        vb_free(tmp);
    }
    if (!linear_set(L, &c->lin, w, c->c_in * c->k, c->c_out))
        return false;
    if (has_bias) {
        int64_t bs[1] = {shape[0]};
        c->lin.b = part(L, 1, bs, base, ".bias");
        if (!c->lin.b)
            return false;
    }
    return true;
}

bool s3_linear_load(struct s3_loader *L, struct s3_linear *lin, int n_in, int n_out, bool has_bias,
                    const char *fmt, ...)
{
    char base[256];
    va_list ap;
    va_start(ap, fmt);
    bool ok = name_v(L, base, sizeof base, fmt, ap);
    va_end(ap);
    if (!ok) {
        memset(lin, 0, sizeof *lin);
        loader_fail(L, VB_ERR_INVALID, "tensor name too long");
        return false;
    }
    return linear_at(L, lin, n_in, n_out, has_bias, base);
}

bool s3_conv_load(struct s3_loader *L, struct s3_conv *c, int c_in, int c_out, int k, int stride,
                  bool has_bias, const char *fmt, ...)
{
    char base[256];
    va_list ap;
    va_start(ap, fmt);
    bool ok = name_v(L, base, sizeof base, fmt, ap);
    va_end(ap);
    if (!ok) {
        memset(c, 0, sizeof *c);
        loader_fail(L, VB_ERR_INVALID, "tensor name too long");
        return false;
    }
    return conv_at(L, c, c_in, c_out, k, stride, has_bias, base);
}

/* The load-table hook: S3_ROW_LINEAR and S3_ROW_CONV rows. */
static bool put(struct nn_lt *lt, const struct nn_lt_row *row, const char *name, int64_t *shape,
                void *dst)
{
    struct s3_loader *L = (struct s3_loader *)lt;
    if (row->kind == S3_ROW_LINEAR) {
        struct s3_linear *lin = dst;
        if (!linear_at(L, lin, (int)shape[1], (int)shape[0], row->arg != 0, name))
            return false;
        shape[0] = lin->n_out;
        shape[1] = lin->n_in;
        return true;
    }
    if (row->kind == S3_ROW_CONV) {
        struct s3_conv *c = dst;
        if (!conv_at(L, c, (int)shape[1], (int)shape[0], (int)shape[2], row->arg, true, name))
            return false;
        shape[0] = c->c_out;
        shape[1] = c->c_in;
        shape[2] = c->k;
        return true;
    }
    loader_fail(L, VB_ERR_INTERNAL, "%s: unknown load-table kind %d", name, row->kind);
    return false;
}

void s3_loader_init(struct s3_loader *L, const struct nn_safetensors *st, const char *prefix,
                    struct s3_wstore *ws, char *why, size_t why_cap)
{
    *L = (struct s3_loader){.lt = {.st = st,
                                   .prefix = prefix ? prefix : "",
                                   .keep = keep,
                                   .put = put,
                                   .why = why,
                                   .why_cap = why_cap},
                            .ws = ws};
}

int s3_conv_out_len(const struct s3_conv *c, int t_in, int pad_l, int pad_r)
{
    int span = t_in + pad_l + pad_r - c->k;
    return span < 0 ? 0 : span / c->stride + 1;
}

void s3_ctx_release(struct s3_ctx *c)
{
    if (!c)
        return;
    vb_free(c->col);
    c->col = NULL;
    c->col_cap = 0;
    vb_free(c->bf);
    c->bf = NULL;
    c->bf_cap = 0;
}

bool s3_linear_fwd(struct s3_ctx *c, const struct s3_linear *lin, const float *x, int t, float *y,
                   int64_t ldy)
{
    if (t <= 0)
        return true;
    if (lin->type == S3_W_BF16) {
        size_t need = nn_gemm_bf16_scratch_bytes(lin->n_in, t);
        if (need > c->bf_cap) {
            void *p = vb_try_malloc(need);
            if (!p)
                return false;
            vb_free(c->bf);
            c->bf = p;
            c->bf_cap = need;
        }
        nn_gemm_bf16(c->pool, lin->w, lin->n_in, lin->n_out, x, lin->n_in, t, lin->b, y, ldy,
                     c->bf);
    } else if (lin->type == S3_W_F16)
        nn_gemm_f16(c->pool, lin->w, lin->n_in, lin->n_out, x, lin->n_in, t, lin->b, y, ldy);
    else
        nn_gemm(c->pool, lin->w, lin->n_in, lin->n_out, x, lin->n_in, t, lin->b, y, ldy);
    return true;
}

bool s3_conv_fwd(struct s3_ctx *c, const struct s3_conv *cv, const float *x, int64_t ldx, int t_in,
                 int pad_l, int pad_r, float *y)
{
    int t_out = s3_conv_out_len(cv, t_in, pad_l, pad_r);
    if (t_out <= 0)
        return true;
    if (cv->k == 1 && cv->stride == 1 && pad_l == 0 && pad_r == 0 && ldx == cv->c_in)
        return s3_linear_fwd(c, &cv->lin, x, t_out, y, cv->c_out);
    size_t row = (size_t)cv->k * (size_t)cv->c_in;
    size_t need = row * (size_t)t_out;
    if (need > c->col_cap) {
        float *p = vb_try_malloc(need * sizeof *p);
        if (!p)
            return false;
        vb_free(c->col);
        c->col = p;
        c->col_cap = need;
    }
    size_t cb = (size_t)cv->c_in * sizeof(float);
    for (int t = 0; t < t_out; t++) {
        float *dst = c->col + (size_t)t * row;
        for (int kk = 0; kk < cv->k; kk++) {
            int s = t * cv->stride + kk - pad_l;
            if (s < 0 || s >= t_in)
                memset(dst + (size_t)kk * (size_t)cv->c_in, 0, cb);
            else
                memcpy(dst + (size_t)kk * (size_t)cv->c_in, x + (int64_t)s * ldx, cb);
        }
    }
    return s3_linear_fwd(c, &cv->lin, c->col, t_out, y, cv->c_out);
}

void s3_layer_norm_rows(float *x, int t, int n, int64_t ld, const float *w, const float *b,
                        float eps)
{
    for (int i = 0; i < t; i++)
        nn_layer_norm(x + (int64_t)i * ld, x + (int64_t)i * ld, w, b, n, eps);
}

void s3_mish(float *x, int64_t n)
{
    nn_mish_fast(x, n);
}

void s3_mish_ref(float *x, int64_t n)
{
    nn_mish_fast_ref(x, n);
}

struct rows_job {
    float *x;
    const float *src; /* LayerNorm input (may equal x) */
    int rows, cols;
    int64_t ld;
    enum s3_act act;
    bool ln;
    const float *w, *b;
    float eps;
};

static void rows_worker(void *ctx, int ith, int nth)
{
    const struct rows_job *j = ctx;
    int r0 = (int)((int64_t)j->rows * ith / nth), r1 = (int)((int64_t)j->rows * (ith + 1) / nth);
    if (j->ln) {
        for (int r = r0; r < r1; r++)
            nn_layer_norm_fast(j->x + (int64_t)r * j->ld, j->src + (int64_t)r * j->ld, j->w, j->b,
                               j->cols, j->eps);
        return;
    }
    float *p = j->x + (int64_t)r0 * j->cols;
    int64_t n = (int64_t)(r1 - r0) * j->cols;
    switch (j->act) {
    case S3_ACT_GELU_ERF:
        nn_gelu_erf_fast(p, n);
        break;
    case S3_ACT_SILU:
        nn_silu(p, n);
        break;
    case S3_ACT_MISH:
        s3_mish(p, n);
        break;
    }
}

void s3_act_rows(struct s3_ctx *c, float *x, int rows, int cols, enum s3_act act)
{
    struct rows_job j = {.x = x, .rows = rows, .cols = cols, .ld = cols, .act = act};
    if ((int64_t)rows * cols < 4096)
        rows_worker(&j, 0, 1);
    else
        nn_pool_run(c->pool, rows_worker, &j);
}

void s3_layer_norm_par(struct s3_ctx *c, float *y, const float *x, int t, int n, int64_t ld,
                       const float *w, const float *b, float eps)
{
    struct rows_job j = {
        .x = y, .src = x, .rows = t, .cols = n, .ld = ld, .ln = true, .w = w, .b = b, .eps = eps};
    if ((int64_t)t * n < 4096)
        rows_worker(&j, 0, 1);
    else
        nn_pool_run(c->pool, rows_worker, &j);
}

void s3_leaky_relu(float *x, int64_t n, float slope)
{
    for (int64_t i = 0; i < n; i++)
        if (x[i] < 0)
            x[i] *= slope;
}

void s3_transpose(float *dst, const float *src, int rows, int cols)
{
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            dst[(size_t)c * (size_t)rows + (size_t)r] = src[(size_t)r * (size_t)cols + (size_t)c];
}

void s3_rnd_add(struct s3_rnd *r, int n_dims, const int64_t *shape, float a, const char *fmt, ...)
{
    char name[256];
    if (r->err)
        return;
    int n = snprintf(name, sizeof name, "%s", r->prefix ? r->prefix : "");
    if (n < 0 || (size_t)n >= sizeof name) {
        r->err = VB_ERR_INVALID;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(name + n, sizeof name - (size_t)n, fmt, ap);
    va_end(ap);
    if (m < 0 || (size_t)(n + m) >= sizeof name) {
        r->err = VB_ERR_INVALID;
        return;
    }
    if (a < 0)
        r->err = nn_st_writer_add_const(r->w, name, n_dims, shape, 1.0f);
    else if (a == 0)
        r->err = nn_st_writer_add_const(r->w, name, n_dims, shape, 0.0f);
    else
        r->err = nn_st_writer_add_uniform(r->w, name, n_dims, shape, -a, a, r->seed++);
}
