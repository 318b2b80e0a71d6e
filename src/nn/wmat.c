/* wmat.c: weight matrices packed or quantised at load, and the choice of product per call
 * (see wmat.h). */
#include "core/vb.h"
#include "nn/wmat.h"
#include "core/alloc.h"
#include "nn/gemm.h"
#include "nn/matmul_amx.h"
#include "nn/ops.h"
#include "nn/quant.h"

#include <stdatomic.h>

#define TILE 32 /* output rows transposed together at load */

enum vb_err nn_wmat_init(struct nn_wmat *w, const char *name, const float *src, int64_t n_in,
                         int64_t n_out, bool input_major, enum nn_type type)
{
    const size_t n = (size_t)(n_in * n_out);
    const size_t row_bytes = nn_row_bytes((int)type, n_in);
    const size_t n_pk = nn_gemm_packed_floats((int)n_in, (int)n_out);
    float *tr = NULL;
    *w = (struct nn_wmat){
        .t = {.name = name,
              .type = type,
              .n_dims = 2,
              .ne = {n_in, n_out, 1, 1},
              .row_bytes = row_bytes,
              .nbytes = row_bytes * (size_t)n_out},
    };
    enum vb_err err = VB_ERR_NOMEM;
    if (type == NN_TYPE_F32) {
        if (!(w->pk = vb_try_malloc(n_pk * sizeof(float))))
            goto out;
        if (input_major)
            nn_gemm_pack_t(w->pk, src, (int)n_in, (int)n_out, n_out);
        else
            nn_gemm_pack(w->pk, src, (int)n_in, (int)n_out, n_in);
    } else {
        /* output-major rows: transposed TILE rows at a time so reads use whole cache lines */
        const float *rows = src;
        if (input_major) {
            if (!(tr = vb_try_malloc(n * sizeof *tr)))
                goto out;
            for (int64_t r0 = 0; r0 < n_out; r0 += TILE) {
                const int64_t nr = VB_MIN((int64_t)TILE, n_out - r0);
                for (int64_t i = 0; i < n_in; i++)
                    for (int64_t k = 0; k < nr; k++)
                        tr[(r0 + k) * n_in + i] = src[i * n_out + r0 + k];
            }
            rows = tr;
        }
        if (type == NN_TYPE_F16) {
            if (!(w->pk16 = vb_try_malloc(n_pk * sizeof(uint16_t))))
                goto out;
            nn_gemm_pack_f16(w->pk16, rows, (int)n_in, (int)n_out, n_in);
        } else {
            uint8_t *dst = vb_try_malloc(row_bytes * (size_t)n_out);
            if (!dst)
                goto out;
            w->t.data = dst;
            for (int64_t r = 0; r < n_out; r++)
                if (!nn_quantize_row(type, rows + r * n_in, dst + (size_t)r * row_bytes, n_in)) {
                    err = VB_ERR_FORMAT;
                    goto out;
                }
        }
    }
    err = VB_OK;
out:
    vb_free(tr);
    if (err != VB_OK)
        nn_wmat_release(w);
    return err;
}

size_t nn_wmat_bytes(const struct nn_wmat *w)
{
    const size_t n_pk = nn_gemm_packed_floats((int)w->t.ne[0], (int)w->t.ne[1]);
    if (w->pk)
        return n_pk * sizeof(float);
    if (w->pk16)
        return n_pk * sizeof(uint16_t);
    return w->t.data ? w->t.nbytes : 0;
}

void nn_wmat_release(struct nn_wmat *w)
{
    vb_free((void *)w->t.data);
    vb_free(w->pk);
    vb_free(w->pk16);
    *w = (struct nn_wmat){0};
}

bool nn_wmat_work_wanted(enum nn_type type)
{
    return type != NN_TYPE_F32 && type != NN_TYPE_F16 && !nn_matmul_amx_supported(type);
}

enum vb_err nn_wmat_work_init(struct nn_wmat_work *w, int64_t max_in, int n_threads)
{
    *w = (struct nn_wmat_work){.max_in = max_in};
    w->pk = vb_try_malloc((size_t)n_threads * nn_gemm_packed_floats((int)max_in, NN_WMAT_Q_GROUP) *
                          sizeof(float));
    w->rows = vb_try_malloc((size_t)n_threads * NN_WMAT_Q_GROUP * (size_t)max_in * sizeof(float));
    if (!w->pk || !w->rows) {
        nn_wmat_work_release(w);
        return VB_ERR_NOMEM;
    }
    return VB_OK;
}

void nn_wmat_work_release(struct nn_wmat_work *w)
{
    vb_free(w->pk);
    vb_free(w->rows);
    *w = (struct nn_wmat_work){0};
}

struct qmm_job {
    const struct nn_wmat_work *work;
    const struct nn_tensor *w;
    const float *x; /* n rows of n_in */
    const float *b; /* bias or NULL */
    float *y;
    int64_t ldy;
    int n;
    atomic_int next; /* next group of NN_WMAT_Q_GROUP weight rows */
};

/* Each claimed group of NN_WMAT_Q_GROUP weight rows is dequantised into this thread's panels
 * and multiplied with all n activation rows (the panels stay in cache). */
static void qmm_worker(void *ctx, int ith, int nth)
{
    struct qmm_job *j = ctx;
    const struct nn_tensor *w = j->w;
    const int n_in = (int)w->ne[0], n_out = (int)w->ne[1];
    const int groups = (n_out + NN_WMAT_Q_GROUP - 1) / NN_WMAT_Q_GROUP;
    const size_t F = (size_t)j->work->max_in;
    float *rows = j->work->rows + (size_t)ith * NN_WMAT_Q_GROUP * F;
    float *pk = j->work->pk + (size_t)ith * nn_gemm_packed_floats((int)F, NN_WMAT_Q_GROUP);
    (void)nth;
    for (;;) {
        const int g = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (g >= groups)
            break;
        const int r0 = g * NN_WMAT_Q_GROUP, nr = VB_MIN(NN_WMAT_Q_GROUP, n_out - r0);
        const uint8_t *src = (const uint8_t *)w->data + (size_t)r0 * w->row_bytes;
        for (int k = 0; k < nr; k++)
            (void)nn_dequantize_row(w->type, src + (size_t)k * w->row_bytes,
                                    rows + (size_t)k * (size_t)n_in, n_in);
        nn_gemm_pack(pk, rows, n_in, nr, n_in);
        nn_gemm(NULL, pk, n_in, nr, j->x, n_in, j->n, j->b ? j->b + r0 : NULL, j->y + r0, j->ldy);
    }
}

bool nn_wmat_mul(struct nn_pool *pool, struct nn_scratch *scratch, const struct nn_wmat_work *work,
                 const struct nn_wmat *w, const float *x, int n, const float *b, float *y,
                 int64_t ldy)
{
    const int n_in = (int)w->t.ne[0], n_out = (int)w->t.ne[1];
    if (w->pk) {
        nn_gemm(pool, w->pk, n_in, n_out, x, n_in, n, b, y, ldy);
        return true;
    }
    if (n >= NN_WMAT_GEMM_MIN_ROWS && w->t.data && nn_matmul_amx_supported(w->t.type)) {
        if (!nn_matmul_amx_rows_mode(pool, scratch, &w->t, NN_AMX_ALL, 0, n_out, x, n, y, ldy))
            return false;
        for (int t = 0; b && t < n; t++)
            nn_add(y + (int64_t)t * ldy, b, n_out);
        return true;
    }
    if (n >= NN_WMAT_GEMM_MIN_ROWS && work && work->pk && w->t.data && n_in <= work->max_in) {
        struct qmm_job j = {.work = work, .w = &w->t, .x = x, .b = b, .y = y, .ldy = ldy, .n = n};
        atomic_init(&j.next, 0);
        nn_pool_run(pool, qmm_worker, &j);
        return true;
    }
    if (w->pk16) {
        nn_gemm_f16(pool, w->pk16, n_in, n_out, x, n_in, n, b, y, ldy);
        return true;
    }
    if (!nn_matmul(pool, scratch, &w->t, x, n, y, ldy))
        return false;
    for (int t = 0; b && t < n; t++)
        nn_add(y + (int64_t)t * ldy, b, n_out);
    return true;
}
