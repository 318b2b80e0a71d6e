/* matmul.c: threaded matrix x activation-batch products over the per-type kernels. */
#include "core/vb.h"
#include "nn/matmul.h"
#include "core/alloc.h"
#include "nn/kernels.h"
#include "nn/matmul_amx.h"

#include <stdatomic.h>

#define GEMV_MIN_CHUNK       8          /* rows: smaller matrices run on the caller alone */
#define GEMV_MIN_CHUNK_BYTES (16 << 10) /* weight bytes per unit of decode work */
#define ROW_CHUNK                                                                                  \
    16 /* output rows per unit of work: the weight rows stay in cache across tokens                \
        */

struct mm_job {
    atomic_llong next; /* next row chunk to claim */
    const struct nn_kernel *k;
    const struct nn_tensor *w;
    const float *x;
    int64_t n_in;
    int n_tok;
    const uint8_t *act; /* converted activations, row stride act_stride */
    size_t act_stride;
    uint8_t *act_out;
    float *y;
    int64_t ldy, r0, r1;
};

static void convert_rows(void *ctx, int ith, int nth)
{
    struct mm_job *j = ctx;
    for (int t = ith; t < j->n_tok; t += nth)
        j->k->from_float(j->x + (int64_t)t * j->n_in, j->act_out + (size_t)t * j->act_stride,
                         j->n_in);
}

static void mm_worker(void *ctx, int ith, int nth)
{
    struct mm_job *j = ctx;
    (void)ith;
    (void)nth;
    int64_t rows = j->r1 - j->r0;
    int64_t n_chunks = (rows + ROW_CHUNK - 1) / ROW_CHUNK;
    const uint8_t *wbase = j->w->data;
    int n = (int)j->n_in;
    /* chunks are claimed dynamically: a thread the OS delays does not hold the others up */
    for (;;) {
        int64_t c = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (c >= n_chunks)
            break;
        int64_t ra = j->r0 + c * ROW_CHUNK, rb = VB_MIN(ra + ROW_CHUNK, j->r1);
        if (j->k->vec_dot_multi) {
            /* each weight row once per group of up to NN_MULTI_MAX tokens */
            for (int t0 = 0; t0 < j->n_tok; t0 += NN_MULTI_MAX) {
                int nt = VB_MIN(NN_MULTI_MAX, j->n_tok - t0);
                const uint8_t *a = j->act + (size_t)t0 * j->act_stride;
                float *yo = j->y + (int64_t)t0 * j->ldy - j->r0;
                for (int64_t r = ra; r < rb; r++)
                    j->k->vec_dot_multi(n, wbase + (size_t)r * j->w->row_bytes, a, j->act_stride,
                                        nt, &yo[r], (size_t)j->ldy);
            }
            continue;
        }
        for (int t = 0; t < j->n_tok; t++) {
            const uint8_t *a = j->act + (size_t)t * j->act_stride;
            float *yo = j->y + (int64_t)t * j->ldy - j->r0;
            for (int64_t r = ra; r < rb; r++)
                j->k->vec_dot(n, &yo[r], wbase + (size_t)r * j->w->row_bytes, a);
        }
    }
}

/* One activation row (decode): the rows are claimed in chunks by the threads, each chunk one
 * call of the type's gemv kernel on the activation converted once. */
struct gemv_job {
    atomic_llong next; /* next chunk to claim */
    const struct nn_gemv *g;
    const struct nn_tensor *w;
    const void *act;
    float *y;
    int64_t r0, r1, chunk;
};

static void gemv_worker(void *ctx, int ith, int nth)
{
    struct gemv_job *j = ctx;
    (void)ith;
    (void)nth;
    const int64_t n_chunks = (j->r1 - j->r0 + j->chunk - 1) / j->chunk;
    const uint8_t *wbase = j->w->data;
    for (;;) {
        int64_t c = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (c >= n_chunks)
            break;
        int64_t ra = j->r0 + c * j->chunk, rb = VB_MIN(ra + j->chunk, j->r1);
        j->g->run((int)j->w->ne[0], wbase + (size_t)ra * j->w->row_bytes, j->w->row_bytes, rb - ra,
                  j->act, j->y + (ra - j->r0));
    }
}

static bool gemv_rows(struct nn_pool *pool, struct nn_scratch *scratch, const struct nn_gemv *g,
                      const struct nn_tensor *w, int64_t r0, int64_t r1, const float *x, float *y)
{
    if (!nn_scratch_reserve(scratch, g->act_bytes(w->ne[0])))
        return false;
    g->prep(x, scratch->data, w->ne[0]);
    const int nth = nn_pool_threads(pool);
    /* ~16 chunks per thread, so the last one claimed costs little waiting, each at least
     * GEMV_MIN_CHUNK_BYTES of sequential reading */
    const int64_t rows = r1 - r0;
    int64_t chunk = (rows + 16 * nth - 1) / (16 * nth);
    chunk = VB_MAX(chunk, (int64_t)(GEMV_MIN_CHUNK_BYTES / w->row_bytes));
    chunk = VB_MAX(chunk, (int64_t)GEMV_MIN_CHUNK);
    struct gemv_job j = {
        .g = g, .w = w, .act = scratch->data, .y = y, .r0 = r0, .r1 = r1, .chunk = chunk};
    atomic_init(&j.next, 0);
    if (rows <= chunk)
        gemv_worker(&j, 0, 1);
    else
        nn_pool_run(pool, gemv_worker, &j);
    return true;
}

bool nn_matmul_rows(struct nn_pool *pool, struct nn_scratch *scratch, const struct nn_tensor *w,
                    int64_t r0, int64_t r1, const float *x, int n_tok, float *y, int64_t ldy)
{
    bool amx_ok;
    if (nn_matmul_amx_try(pool, scratch, w, r0, r1, x, n_tok, y, ldy, &amx_ok))
        return amx_ok; /* token batches on AMX tiles */
    const struct nn_kernel *k = nn_kernel_for(w->type);
    if (!k)
        return false;
    if (n_tok == 1 && k->gemv.run)
        return gemv_rows(pool, scratch, &k->gemv, w, r0, r1, x, y);
    struct mm_job j = {
        .k = k,
        .w = w,
        .x = x,
        .n_in = w->ne[0],
        .n_tok = n_tok,
        .y = y,
        .ldy = ldy,
        .r0 = r0,
        .r1 = r1,
    };
    if (k->from_float) {
        j.act_stride = nn_row_bytes((int)k->vec_dot_type, w->ne[0]);
        if (!nn_scratch_reserve(scratch, j.act_stride * (size_t)n_tok))
            return false;
        j.act_out = scratch->data;
        j.act = scratch->data;
        if (n_tok > 1)
            nn_pool_run(pool, convert_rows, &j);
        else
            convert_rows(&j, 0, 1);
    } else {
        j.act = (const uint8_t *)x;
        j.act_stride = (size_t)w->ne[0] * sizeof(float);
    }
    atomic_init(&j.next, 0);
    nn_pool_run(pool, mm_worker, &j);
    return true;
}

bool nn_matmul(struct nn_pool *pool, struct nn_scratch *scratch, const struct nn_tensor *w,
               const float *x, int n_tok, float *y, int64_t ldy)
{
    return nn_matmul_rows(pool, scratch, w, 0, nn_tensor_rows(w), x, n_tok, y, ldy);
}

void nn_matmul_ref(const struct nn_tensor *w, const float *x, int n_tok, float *y, int64_t ldy)
{
    int64_t n_in = w->ne[0], n_out = nn_tensor_rows(w);
    float *row = vb_xmalloc((size_t)n_in * sizeof *row);
    for (int64_t r = 0; r < n_out; r++) {
        if (!nn_dequantize_row(w->type, (const uint8_t *)w->data + (size_t)r * w->row_bytes, row,
                               n_in))
            memset(row, 0, (size_t)n_in * sizeof *row);
        for (int t = 0; t < n_tok; t++) {
            double s = 0;
            for (int64_t i = 0; i < n_in; i++)
                s += (double)row[i] * x[(int64_t)t * n_in + i];
            y[(int64_t)t * ldy + r] = (float)s;
        }
    }
    vb_free(row);
}
