/* attention.c: whole-sequence multi-head attention (bidirectional/causal, optional ESPnet
 * relative-position term): per head, keys/values are packed once and scores, the relative
 * term and the weighted values are F32 GEMMs over blocks of queries; the row softmax is
 * threaded over rows. */
#include "core/vb.h"
#include "nn/attention.h"
#include "nn/gemm.h"
#include "nn/kernels.h"

#include <math.h>

#define Q_BLOCK 128 /* queries per block: bounds the score matrix to Q_BLOCK x n_kv */

/* s[k] = softmax_k(scale * (s[k] + b[k])) over n values (b may be NULL); plain C. */
void nn_softmax_row_ref(float *s, const float *b, int n, float scale)
{
    float mx = -INFINITY;
    for (int k = 0; k < n; k++) {
        s[k] = (s[k] + (b ? b[k] : 0.0f)) * scale;
        mx = s[k] > mx ? s[k] : mx;
    }
    double sum = 0;
    for (int k = 0; k < n; k++) {
        s[k] = expf(s[k] - mx);
        sum += s[k];
    }
    const float inv = (float)(1.0 / sum);
    for (int k = 0; k < n; k++)
        s[k] *= inv;
}

typedef nn_softmax_row_fn softmax_fn;

struct rows_job {
    const struct nn_mha *a;
    softmax_fn softmax;
    float *s;        /* nb rows of n_kv scores */
    const float *bd; /* nb rows of 2*n_kv-1 relative terms, or NULL */
    int i0, nb;
};

/* scores += gathered relative term, scale, causal mask, softmax; rows split over threads */
static void rows_worker(void *ctx, int ith, int nth)
{
    const struct rows_job *j = ctx;
    const struct nn_mha *a = j->a;
    const int L = a->n_kv, W = 2 * a->n_kv - 1;
    for (int r = ith; r < j->nb; r += nth) {
        const int i = j->i0 + r;
        float *s = j->s + (size_t)r * (size_t)L;
        const float *b = j->bd ? j->bd + (size_t)r * (size_t)W + (L - 1 - i) : NULL;
        int n_keys = L;
        if (a->causal)
            n_keys = (int)VB_MAX(0, VB_MIN((int64_t)L, a->q_pos0 + i + 1));
        if (n_keys > 0)
            j->softmax(s, b, n_keys, a->scale);
        for (int k = n_keys; k < L; k++)
            s[k] = 0;
    }
}

static size_t block_rows(const struct nn_mha *a)
{
    return (size_t)VB_MIN(a->n_q, Q_BLOCK);
}

static bool use_amx(const struct nn_mha *a)
{
    return a->bf16 && nn_gemm_amx_available();
}

/* Floats for a packed (n_out x n_in) operand in the chosen format. */
static size_t packed_floats(bool amx, int n_in, int n_out)
{
    return amx ? (nn_gemm_packed_bf16_elems(n_in, n_out) + 1) / 2
               : nn_gemm_packed_floats(n_in, n_out);
}

static size_t per_thread_floats(const struct nn_mha *a)
{
    const bool amx = use_amx(a);
    const int L = a->n_kv, D = a->head_dim, B = (int)block_rows(a);
    size_t n = packed_floats(amx, D, L) + packed_floats(amx, L, D) + 2 * (size_t)B * (size_t)D +
               (size_t)B * (size_t)L;
    if (a->rel)
        n += packed_floats(amx, D, 2 * L - 1) + (size_t)B * (size_t)(2 * L - 1);
    if (amx) /* bf16 copies of the GEMM activations */
        n += (VB_MAX(nn_gemm_bf16_scratch_bytes(D, B), nn_gemm_bf16_scratch_bytes(L, B)) + 3) / 4;
    return n;
}

/* y (n rows, stride ldy) = x (n rows, stride ldx) W^T with W packed for the format */
static void mm(struct nn_pool *pool, bool amx, const float *packed, int n_in, int n_out,
               const float *x, int64_t ldx, int n, float *y, int64_t ldy, float *scratch)
{
    if (amx)
        nn_gemm_bf16(pool, (const uint16_t *)packed, n_in, n_out, x, ldx, n, NULL, y, ldy, scratch);
    else
        nn_gemm(pool, packed, n_in, n_out, x, ldx, n, NULL, y, ldy);
}

size_t nn_mha_work_floats(const struct nn_mha *a, int n_threads)
{
    return per_thread_floats(a) * (size_t)VB_MAX(n_threads, 1);
}

static void add_bias(float *dst, const float *q, int64_t ldq, int nb, int D, const float *bias)
{
    for (int r = 0; r < nb; r++) {
        const float *src = q + (int64_t)r * ldq;
        float *d = dst + (size_t)r * (size_t)D;
        for (int c = 0; c < D; c++)
            d[c] = src[c] + bias[c];
    }
}

/* One head over all queries, with `work` of per_thread_floats. pool NULL: this thread only
 * (head-parallel mode); otherwise the GEMMs and softmax rows use the pool. */
static void mha_head(struct nn_pool *pool, const struct nn_mha *a, int h, float *work,
                     softmax_fn sm)
{
    const int L = a->n_kv, D = a->head_dim, B = (int)block_rows(a), W = 2 * L - 1;
    const bool amx = use_amx(a);
    float *kp = work;                          /* keys of the head, packed */
    float *vp = kp + packed_floats(amx, D, L); /* values of the head, packed */
    float *qu = vp + packed_floats(amx, L, D); /* (B, D) queries + bias_u */
    float *qv = qu + (size_t)B * (size_t)D;    /* (B, D) queries + bias_v */
    float *sc = qv + (size_t)B * (size_t)D;    /* (B, L) scores / probabilities */
    float *rp = sc + (size_t)B * (size_t)L;    /* relative rows of the head, packed */
    float *bd = rp + (a->rel ? packed_floats(amx, D, W) : 0); /* (B, 2L-1) */
    float *scr = bd + (a->rel ? (size_t)B * (size_t)W : 0);   /* bf16 activation copies */
    const int64_t ho = (int64_t)h * D;
    if (amx) {
        nn_gemm_pack_bf16((uint16_t *)kp, a->k + ho, D, L, a->ldk);
        nn_gemm_pack_bf16_t((uint16_t *)vp, a->v + ho, L, D, a->ldv);
        if (a->rel)
            nn_gemm_pack_bf16((uint16_t *)rp, a->rel + ho, D, W, a->ld_rel);
    } else {
        nn_gemm_pack(kp, a->k + ho, D, L, a->ldk);
        nn_gemm_pack_t(vp, a->v + ho, L, D, a->ldv);
        if (a->rel)
            nn_gemm_pack(rp, a->rel + ho, D, W, a->ld_rel);
    }
    for (int i0 = 0; i0 < a->n_q; i0 += B) {
        const int nb = VB_MIN(B, a->n_q - i0);
        const float *qh = a->q + (int64_t)i0 * a->ldq + ho;
        /* content scores (nb, L) = (q + u) . k_j */
        const float *qc = qh;
        int64_t ldqc = a->ldq;
        if (a->bias_u) {
            add_bias(qu, qh, a->ldq, nb, D, a->bias_u + ho);
            qc = qu;
            ldqc = D;
        }
        mm(pool, amx, kp, D, L, qc, ldqc, nb, sc, L, scr);
        struct rows_job rj = {.a = a, .softmax = sm, .s = sc, .i0 = i0, .nb = nb};
        if (a->rel) {
            const float *qp = qh;
            int64_t ldqp = a->ldq;
            if (a->bias_v) {
                add_bias(qv, qh, a->ldq, nb, D, a->bias_v + ho);
                qp = qv;
                ldqp = D;
            }
            mm(pool, amx, rp, D, W, qp, ldqp, nb, bd, W, scr);
            rj.bd = bd;
        }
        if (pool)
            nn_pool_run(pool, rows_worker, &rj);
        else
            rows_worker(&rj, 0, 1);
        /* out rows (nb, D) = probabilities . V */
        mm(pool, amx, vp, L, D, sc, L, nb, a->out + (int64_t)i0 * a->ldo + ho, a->ldo, scr);
    }
}

struct heads_job {
    const struct nn_mha *a;
    float *work;
    size_t per;
    softmax_fn sm;
};

static void heads_worker(void *ctx, int ith, int nth)
{
    const struct heads_job *j = ctx;
    for (int h = ith; h < j->a->n_head; h += nth)
        mha_head(NULL, j->a, h, j->work + (size_t)ith * j->per, j->sm);
}

static softmax_fn pick_softmax(void)
{
    return nn_op_kernels()->softmax_row;
}

void nn_softmax_scaled(float *s, int n, float scale)
{
    if (n > 0)
        pick_softmax()(s, NULL, n, scale);
}

void nn_mha(struct nn_pool *pool, const struct nn_mha *a, float *work)
{
    if (a->n_q <= 0 || a->n_kv <= 0)
        return;
    softmax_fn sm = pick_softmax();
    const int nth = nn_pool_threads(pool);
    if (nth > 1 && a->n_head % nth == 0) {
        /* whole heads per thread: no per-GEMM synchronisation, packing in parallel */
        struct heads_job j = {.a = a, .work = work, .per = per_thread_floats(a), .sm = sm};
        nn_pool_run(pool, heads_worker, &j);
        return;
    }
    for (int h = 0; h < a->n_head; h++)
        mha_head(pool, a, h, work, sm);
}

void nn_rotary_half(float *x, int n_head, int head_dim, const float *cos, const float *sin)
{
    const int half = head_dim / 2;
    for (int h = 0; h < n_head; h++) {
        float *v = x + (int64_t)h * head_dim;
        for (int j = 0; j < half; j++) {
            float x0 = v[j], x1 = v[j + half];
            v[j] = x0 * cos[j] - x1 * sin[j];
            v[j + half] = x1 * cos[j + half] + x0 * sin[j + half];
        }
    }
}
