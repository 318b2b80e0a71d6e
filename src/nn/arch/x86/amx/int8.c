/* int8.c: the AMX matmul for Q8_0, Q4_0 and Q5_0 weights on INT8 tiles (TDPBSSD) with the
 * kernels' own activation quantisation (see matmul_internal.h). */
#include "nn/arch/x86/amx/matmul_internal.h"

#ifdef MM_AMX

/* ===== INT8 tiles (TDPBSSD) with the kernels' activation quantisation =====
 * For Q8_0, Q4_0, Q5_0 (activations Q8_0; the K-quants take the super-block path below) the
 * integer block sums are those of the dot-product kernels: the activations go through the
 * same quantiser and each block of 32 is one TDPBSSD into a fresh INT32 tile, scaled into F32
 * sums: sum += C * (d_w * d_x). Results then differ from the kernels' only in F32 rounding.
 * Weight panels: int8 codes [block][PR][32], scales [block][PR]; activations: B tiles
 * [token block][block][8][TT][4] with their scales [token block][block][TT]. */

/* Unpacks nb consecutive blocks (from src) into steps q, q + QSTEP, ...; sw: the F32 scale of
 * each block, PR floats apart. */
typedef void (*unpack_fn)(const uint8_t *src, int nb, int8_t *q, float *sw);

#    define KQ    32        /* K per step: one block */
#    define QSTEP (PR * KQ) /* bytes per step of a panel */

AVX_TGT static void i8_q8_0(const uint8_t *src, int nb, int8_t *q, float *sw)
{
    const struct nn_block_q8_0 *b = (const void *)src;
    for (int i = 0; i < nb; i++, q += QSTEP, sw += PR) {
        _mm256_store_si256((__m256i *)q, _mm256_loadu_si256((const __m256i *)b[i].qs));
        *sw = f16_at(&b[i].d);
    }
}

AVX_TGT static void i8_q4_0(const uint8_t *src, int nb, int8_t *q, float *sw)
{
    const struct nn_block_q4_0 *b = (const void *)src;
    const __m128i m4 = _mm_set1_epi8(15), o8 = _mm_set1_epi8(8);
    for (int i = 0; i < nb; i++, q += QSTEP, sw += PR) {
        const __m128i v = _mm_loadu_si128((const __m128i *)b[i].qs);
        _mm_store_si128((__m128i *)q, _mm_sub_epi8(_mm_and_si128(v, m4), o8));
        _mm_store_si128((__m128i *)(q + 16),
                        _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), m4), o8));
        *sw = f16_at(&b[i].d);
    }
}

AVX_TGT static void i8_q5_0(const uint8_t *src, int nb, int8_t *q, float *sw)
{
    const struct nn_block_q5_0 *b = (const void *)src;
    const __m128i m4 = _mm_set1_epi8(15), b4 = _mm_set1_epi8(16);
    for (int i = 0; i < nb; i++, q += QSTEP, sw += PR) {
        uint32_t qh;
        memcpy(&qh, b[i].qh, 4);
        const __m128i v = _mm_loadu_si128((const __m128i *)b[i].qs);
        __m128i lo = _mm_and_si128(v, m4), hi = _mm_and_si128(_mm_srli_epi16(v, 4), m4);
        lo = _mm_mask_add_epi8(lo, (__mmask16)(qh & 0xffff), lo, b4);
        hi = _mm_mask_add_epi8(hi, (__mmask16)(qh >> 16), hi, b4);
        _mm_store_si128((__m128i *)q, _mm_sub_epi8(lo, b4));
        _mm_store_si128((__m128i *)(q + 16), _mm_sub_epi8(hi, b4));
        *sw = f16_at(&b[i].d);
    }
}

/* The panel unpacker of a type on this path, or NULL. */
static unpack_fn i8_unpack_for(enum nn_type t)
{
    switch (t) {
    case NN_TYPE_Q8_0:
        return i8_q8_0;
    case NN_TYPE_Q4_0:
        return i8_q4_0;
    case NN_TYPE_Q5_0:
        return i8_q5_0;
    default:
        return NULL;
    }
}

struct i8_job {
    unpack_fn unpack;
    nn_from_float_fn quantise; /* the kernels' Q8_0 activation quantiser */
    const uint8_t *w;
    size_t row_bytes, block_bytes; /* weight row and block */
    int n_in, n_steps;             /* n_steps: blocks per row */
    int64_t r0, r1;
    const float *x;
    int n_tok, n_tb;
    int8_t *xq;        /* B tiles [n_tb][n_steps][KQ/4][TT][4] */
    float *da;         /* [n_tb][n_steps][TT]: activation scales */
    uint8_t *qrow;     /* one quantised activation row per thread */
    size_t qrow_bytes; /* its stride */
    uint8_t *panels;   /* per thread: int8 [chunk][PR][KQ], then sw [chunk][PR] */
    size_t panel_bytes;
    float *y;
    int64_t ldy;
    int s0, s1;
    atomic_llong next;
};

/* Quantises each token row as the kernels do and scatters it into B tiles. */
static void i8_convert(void *ctx, int ith, int nth)
{
    const struct i8_job *j = ctx;
    uint8_t *qr = j->qrow + (size_t)ith * j->qrow_bytes;
    const struct nn_block_q8_0 *qb = (const void *)qr;
    for (int b = ith; b < j->n_tb; b += nth) {
        int8_t *tiles = j->xq + (size_t)b * j->n_steps * TT * KQ;
        float *da = j->da + (size_t)b * j->n_steps * TT;
        for (int tt = 0; tt < TT; tt++) {
            const int t = b * TT + tt;
            const bool pad = t >= j->n_tok; /* rows past the last token: zeros */
            if (!pad)
                j->quantise(j->x + (int64_t)t * j->n_in, qr, j->n_in);
            for (int s = 0; s < j->n_steps; s++) {
                b_tile_column(tiles + (size_t)s * TT * KQ, tt, pad ? NULL : qb[s].qs, KQ / 4);
                da[(size_t)s * TT + tt] = pad ? 0 : nn_load_fp16(&qb[s].d);
            }
        }
    }
}

/* Unpacks rows [ra, ra + nr) of the current chunk into panel buffer pb (rows past r1: 0). */
static void i8_unpack_panel(const struct i8_job *j, uint8_t *pb, int64_t ra, int nr)
{
    const int ns = j->s1 - j->s0;
    int8_t *q = (int8_t *)pb;
    float *sw = (float *)(pb + (size_t)ns * QSTEP);
    const int band = 8; /* blocks per band: the rows of a band share lines */
    for (int bb = 0; bb < ns; bb += band) {
        const int n = VB_MIN(band, ns - bb);
        for (int r = 0; r < nr; r++)
            j->unpack(j->w + (size_t)(ra + r) * j->row_bytes +
                          (size_t)(j->s0 + bb) * j->block_bytes,
                      n, q + ((size_t)bb * PR + (size_t)r) * KQ, sw + (size_t)bb * PR + r);
    }
    for (int r = nr; r < PR; r++)
        for (int s = 0; s < ns; s++) {
            memset(q + ((size_t)s * PR + r) * KQ, 0, KQ);
            sw[(size_t)s * PR + r] = 0;
        }
}

AMX_TGT static void i8_worker(void *ctx, int ith, int nth)
{
    struct i8_job *j = ctx;
    (void)nth;
    const int64_t n_panels = (j->r1 - j->r0 + PR - 1) / PR;
    const int ns = j->s1 - j->s0;
    struct nn_amx_cfg cfg;
    nn_amx_cfg_full(&cfg);
    cfg.colsb[4] = KQ;    /* A: 16 rows of KQ codes */
    cfg.rows[6] = KQ / 4; /* B: KQ/4 rows of TT x 4 codes */
    bool configured = false;
    int32_t c[2][256] __attribute__((aligned(ALIGN))); /* one tile's sums, double-buffered */
    uint8_t *pb = j->panels + (size_t)ith * j->panel_bytes;
    const int8_t *q = (const int8_t *)pb;
    const float *sw = (const float *)(pb + (size_t)ns * QSTEP);
    const size_t bstride = (size_t)j->n_steps * TT * KQ; /* bytes per token block */
    int64_t p;
    while (nn_amx_claim_panel(&j->next, n_panels, &cfg, &configured, &p)) {
        const int64_t ra = j->r0 + p * PR;
        const int nr = (int)VB_MIN((int64_t)PR, j->r1 - ra);
        i8_unpack_panel(j, pb, ra, nr);
        /* one 16-row half and one token block at a time, its 16 x 16 sums in registers over
         * the whole K chunk; the epilogue of step s - 1 runs while the tile of s does */
        for (int tb = 0; tb < j->n_tb; tb++) {
            const int8_t *bt = j->xq + (size_t)tb * bstride;
            const float *da = j->da + (size_t)tb * j->n_steps * TT;
            for (int half = 0; half < 2; half++) {
                __m512 acc[16];
#    pragma GCC unroll 16
                for (int r = 0; r < 16; r++)
                    acc[r] = _mm512_setzero_ps();
                for (int s = j->s0; s <= j->s1; s++) {
                    const int par = s & 1;
                    if (s < j->s1) {
                        _tile_zero(0);
                        _tile_loadd(4, q + (size_t)(s - j->s0) * QSTEP + half * 16 * KQ, KQ);
                        _tile_loadd(6, bt + (size_t)s * TT * KQ, 64);
                        _tile_dpbssd(0, 4, 6);
                    }
                    if (s > j->s0) {
                        const int32_t *cp = c[par ^ 1];
                        const float *swp = sw + (size_t)(s - 1 - j->s0) * PR + half * 16;
                        const __m512 vda = _mm512_loadu_ps(da + (size_t)(s - 1) * TT);
#    pragma GCC unroll 16
                        for (int r = 0; r < 16; r++)
                            acc[r] = _mm512_fmadd_ps(
                                _mm512_cvtepi32_ps(_mm512_load_si512((const void *)(cp + 16 * r))),
                                _mm512_mul_ps(_mm512_set1_ps(swp[r]), vda), acc[r]);
                    }
                    if (s < j->s1)
                        _tile_stored(0, c[par], 64);
                }
                float out[256] __attribute__((aligned(ALIGN)));
#    pragma GCC unroll 16
                for (int r = 0; r < 16; r++)
                    _mm512_store_ps(out + 16 * r, acc[r]);
                nn_amx_store_tile_y(j->y, j->ldy, out, tb * TT, VB_MIN(TT, j->n_tok - tb * TT),
                                    (ra - j->r0) + half * 16, nr - half * 16, j->s0 > 0);
            }
        }
    }
    if (configured)
        _tile_release();
}

/* Whether type t has an INT8-tile path (the kernels' own integer sums). */
bool nn_amx_i8_exact(enum nn_type t)
{
    return i8_unpack_for(t) || t == NN_TYPE_Q4_K || t == NN_TYPE_Q5_K || t == NN_TYPE_Q6_K;
}

/* nn_matmul_rows on INT8 tiles for a type nn_amx_i8_exact accepts; false on OOM (or a kernel whose
 * activation type differs: nothing written). */
bool nn_amx_i8_rows(struct nn_pool *pool, struct nn_scratch *scratch, const struct nn_tensor *w,
                    int64_t r0, int64_t r1, const float *x, int n_tok, float *y, int64_t ldy)
{
    const struct nn_kernel *k = nn_kernel_for(w->type);
    if (w->type == NN_TYPE_Q4_K || w->type == NN_TYPE_Q5_K || w->type == NN_TYPE_Q6_K)
        return k && k->from_float && k->vec_dot_type == NN_TYPE_Q8_K &&
               nn_amx_k4_rows(pool, scratch, w, k->from_float, r0, r1, x, n_tok, y, ldy);
    if (!k || !k->from_float || k->vec_dot_type != NN_TYPE_Q8_0)
        return false;
    const int nth = pool ? nn_pool_threads(pool) : 1;
    struct i8_job j = {
        .unpack = i8_unpack_for(w->type),
        .quantise = k->from_float,
        .w = w->data,
        .row_bytes = w->row_bytes,
        .block_bytes = nn_type_info(w->type)->block_bytes,
        .n_in = (int)w->ne[0],
        .n_steps = (int)(w->ne[0] / KQ),
        .r0 = r0,
        .r1 = r1,
        .x = x,
        .n_tok = n_tok,
        .n_tb = (n_tok + TT - 1) / TT,
        .y = y,
        .ldy = ldy,
    };
    const size_t tile_bytes = (size_t)TT * KQ;
    int chunk = VB_MAX(1, (int)(CHUNK_BYTES / ((size_t)j.n_tb * tile_bytes)));
    const int csteps = VB_MIN(chunk, j.n_steps);
    const int64_t n_panels = (r1 - r0 + PR - 1) / PR;
    const size_t xq_bytes = (size_t)j.n_tb * j.n_steps * tile_bytes;
    const size_t sc_floats = (size_t)j.n_tb * j.n_steps * TT;
    j.qrow_bytes = (nn_row_bytes(NN_TYPE_Q8_0, j.n_in) + ALIGN - 1) / ALIGN * ALIGN;
    j.panel_bytes =
        ((size_t)csteps * QSTEP + (size_t)csteps * PR * sizeof(float) + ALIGN - 1) / ALIGN * ALIGN;
    void *buf;
    if (!nn_amx_reserve_aligned(scratch,
                                xq_bytes + sc_floats * sizeof(float) +
                                    (size_t)nth * (j.qrow_bytes + j.panel_bytes),
                                &buf))
        return false;
    j.da = buf; /* 64-byte multiples first, so every part stays aligned */
    j.xq = (int8_t *)(j.da + sc_floats);
    j.panels = (uint8_t *)j.xq + xq_bytes;
    j.qrow = j.panels + (size_t)nth * j.panel_bytes;
    if (j.n_tb > 1)
        nn_pool_run(pool, i8_convert, &j);
    else
        i8_convert(&j, 0, 1);
    for (int s0 = 0; s0 < j.n_steps; s0 += chunk) {
        j.s0 = s0;
        j.s1 = VB_MIN(j.n_steps, s0 + chunk);
        atomic_init(&j.next, 0);
        if (n_panels > 1)
            nn_pool_run(pool, i8_worker, &j);
        else
            i8_worker(&j, 0, 1);
    }
    return true;
}

#endif
