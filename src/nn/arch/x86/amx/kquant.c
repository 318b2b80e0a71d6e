/* kquant.c: the AMX matmul for Q4_K, Q5_K and Q6_K weights on INT8 tiles with integer sums
 * over whole super-blocks (see matmul_internal.h). */
#include "nn/arch/x86/amx/matmul_internal.h"

#ifdef MM_AMX

/* Q6_K codes (0..63, not yet minus 32) of the half g of a 128-element group (ql, qh at the
 * group): v[j] holds elements 32j + 16g .. + 15. */
AVX_TGT static inline void q6_codes(const uint8_t *ql, const uint8_t *qh, int g, __m128i v[4])
{
    const __m128i m4 = _mm_set1_epi8(15), m30 = _mm_set1_epi8(0x30);
    const __m128i a = _mm_loadu_si128((const __m128i *)(ql + 16 * g));
    const __m128i c = _mm_loadu_si128((const __m128i *)(ql + 32 + 16 * g));
    const __m128i hb = _mm_loadu_si128((const __m128i *)(qh + 16 * g));
    v[0] = _mm_or_si128(_mm_and_si128(a, m4), _mm_and_si128(_mm_slli_epi16(hb, 4), m30));
    v[1] = _mm_or_si128(_mm_and_si128(c, m4), _mm_and_si128(_mm_slli_epi16(hb, 2), m30));
    v[2] = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(a, 4), m4), _mm_and_si128(hb, m30));
    v[3] = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(c, 4), m4),
                        _mm_and_si128(_mm_srli_epi16(hb, 2), m30));
}

/* ===== Q4_K / Q5_K / Q6_K on INT8 tiles with integer sums over whole super-blocks =====
 * Each weight w' = sc[j] * q (sub-block scale times code, 0..945) is split into
 * h = w' >> 7 (0..7) and l = w' & 127, both int8: sum_k w' x = 128 * (h . x) + (l . x) is the
 * kernels' integer super-block sum, so the tiles run K = 64 steps and accumulate a whole
 * super-block (4 steps) before one F32 epilogue: acc += S * (d * d_x) - sum_j (dmin mn[j]) *
 * (d_x bsum_j) (Q6_K has no min terms). Panels: h, l [step][PR][64], then d [sb][PR] and
 * dmin * mn [sb][PR][8] (F32); activations: B tiles [block][step][16][TT][4], d_x
 * [block][sb][TT], d_x times the 32-element sums [block][sb][8][TT]. Q4_K codes go through
 * per-scale tables of h and l (one byte shuffle per 64 weights). */

#    define K4_STEP (PR * 64) /* bytes per K = 64 step of a panel (h or l) */

/* k4_lut[sc][0]: (sc * q) >> 7 for q = 0..15, twice (a 256-bit lane pair); [sc][1]: & 127 */
static uint8_t k4_lut[64][2][32] __attribute__((aligned(32)));
static pthread_once_t k4_lut_once = PTHREAD_ONCE_INIT;

static void k4_lut_init(void)
{
    for (int sc = 0; sc < 64; sc++)
        for (int q = 0; q < 32; q++) {
            k4_lut[sc][0][q] = (uint8_t)((sc * (q & 15)) >> 7);
            k4_lut[sc][1][q] = (uint8_t)((sc * (q & 15)) & 127);
        }
}

/* The h or l table (hl) of scales a (bytes 0..31 of a step) and b (bytes 32..63). */
AVX_TGT static inline __m512i k4_lut_pair(int hl, uint8_t a, uint8_t b)
{
    return _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_load_si256((const __m256i *)k4_lut[a][hl])),
        _mm256_load_si256((const __m256i *)k4_lut[b][hl]), 1);
}

/* Q6_K super-block b: element 128g + 32j + 16u + e (code v - 32, scale sc[8g + 2j + u]) goes
 * to step 2g + j / 2, byte 32 (j % 2) + 16u + e; no min terms. */
AVX_TGT static void k6_unpack_block(const struct nn_block_q6_k *b, int8_t *h, int8_t *l)
{
    const __m128i o32 = _mm_set1_epi8(32);
    const __m256i m127 = _mm256_set1_epi16(127);
    for (int g = 0; g < 2; g++) {
        const uint8_t *ql = b->ql + 64 * g, *qh = b->qh + 32 * g;
        for (int u = 0; u < 2; u++) {
            __m128i v[4];
            q6_codes(ql, qh, u, v);
            for (int jj = 0; jj < 4; jj++) {
                const __m256i w =
                    _mm256_mullo_epi16(_mm256_cvtepi8_epi16(_mm_sub_epi8(v[jj], o32)),
                                       _mm256_set1_epi16((short)b->scales[8 * g + 2 * jj + u]));
                const size_t off = (size_t)(2 * g + jj / 2) * K4_STEP + 32 * (jj % 2) + 16 * u;
                _mm_store_si128((__m128i *)(h + off),
                                _mm256_cvtepi16_epi8(_mm256_srai_epi16(w, 7)));
                _mm_store_si128((__m128i *)(l + off),
                                _mm256_cvtepi16_epi8(_mm256_and_si256(w, m127)));
            }
        }
    }
}

/* The 6-bit scales (bytes 0..7) and mins (bytes 8..15) of a Q4_K/Q5_K super-block from its
 * 12 scale bytes at s (reads 16 bytes: the next 4 are the block's codes). */
AVX_TGT static inline __m128i k4_scales_mins(const uint8_t *s)
{
    const __m128i v = _mm_loadu_si128((const __m128i *)s);
    /* a: s0-3, s8-11, s4-7, s8-11; b (upper bits of the second four): -, s0-3, -, s4-7 */
    const __m128i a =
        _mm_shuffle_epi8(v, _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11));
    const __m128i b =
        _mm_shuffle_epi8(v, _mm_setr_epi8(-1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7));
    const __m128i top = _mm_and_si128(_mm_srli_epi16(b, 2), _mm_set1_epi8(0x30)); /* b>>6<<4 */
    const __m128i m15 = _mm_set1_epi8(15);
    __m128i r = _mm_and_si128(a, _mm_set1_epi8(63));
    r = _mm_mask_mov_epi8(r, 0x00F0, _mm_or_si128(_mm_and_si128(a, m15), top));
    return _mm_mask_mov_epi8(r, 0xF000,
                             _mm_or_si128(_mm_and_si128(_mm_srli_epi16(a, 4), m15), top));
}

/* nb super-blocks of one weight row (from row) into a panel row: h, l at the row's first
 * step, d and dmin * mn at its first super-block (PR and PR * 8 floats per super-block). */
AVX_TGT static void k4_unpack_row(const uint8_t *row, enum nn_type t, size_t block_bytes, int nb,
                                  int8_t *h, int8_t *l, float *fd, float *mn)
{
    const __m256i m4 = _mm256_set1_epi8(15), b4 = _mm256_set1_epi8(16);
    const __m512i m127 = _mm512_set1_epi16(127);
    for (int i = 0; i < nb; i++) {
        const uint8_t *blk = row + (size_t)i * block_bytes;
        const uint8_t *scales, *qs, *qh = NULL;
        float d, dmin;
        if (t == NN_TYPE_Q6_K) {
            fd[(size_t)i * PR] = f16_at(&((const struct nn_block_q6_k *)blk)->d);
            k6_unpack_block((const void *)blk, h + (size_t)i * 4 * K4_STEP,
                            l + (size_t)i * 4 * K4_STEP);
            continue;
        }
        if (t == NN_TYPE_Q5_K) {
            const struct nn_block_q5_k *b = (const void *)blk;
            d = f16_at(&b->d), dmin = f16_at(&b->dmin);
            scales = b->scales, qs = b->qs, qh = b->qh;
        } else {
            const struct nn_block_q4_k *b = (const void *)blk;
            d = f16_at(&b->d), dmin = f16_at(&b->dmin);
            scales = b->scales, qs = b->qs;
        }
        const __m128i scm = k4_scales_mins(scales);
        uint8_t sc[8];
        _mm_storel_epi64((__m128i *)sc, scm);
        fd[(size_t)i * PR] = d;
        _mm256_storeu_ps(
            mn + (size_t)i * PR * 8,
            _mm256_mul_ps(_mm256_set1_ps(dmin),
                          _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(scm, 8)))));
        if (!qh) {
            for (int c = 0; c < 4; c++) {
                /* sub-block 2c: low nibbles, bytes 0..31 of step c; 2c + 1: high nibbles */
                const __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
                const __m512i q =
                    _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(v, m4)),
                                       _mm256_and_si256(_mm256_srli_epi16(v, 4), m4), 1);
                const size_t off = ((size_t)i * 4 + c) * K4_STEP;
                _mm512_store_si512(
                    (void *)(h + off),
                    _mm512_shuffle_epi8(k4_lut_pair(0, sc[2 * c], sc[2 * c + 1]), q));
                _mm512_store_si512(
                    (void *)(l + off),
                    _mm512_shuffle_epi8(k4_lut_pair(1, sc[2 * c], sc[2 * c + 1]), q));
            }
            continue;
        }
        const __m256i hb = _mm256_loadu_si256((const __m256i *)qh);
        for (int c = 0; c < 4; c++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
            __m256i q2[2] = {_mm256_and_si256(v, m4),
                             _mm256_and_si256(_mm256_srli_epi16(v, 4), m4)};
            q2[0] = _mm256_mask_add_epi8(
                q2[0], _mm256_test_epi8_mask(hb, _mm256_set1_epi8((char)(1 << (2 * c)))), q2[0],
                b4);
            q2[1] = _mm256_mask_add_epi8(
                q2[1], _mm256_test_epi8_mask(hb, _mm256_set1_epi8((char)(2 << (2 * c)))), q2[1],
                b4);
            /* sub-blocks 2c, 2c + 1: step i * 4 + c, bytes 0..31 and 32..63 */
            const size_t off = ((size_t)i * 4 + c) * K4_STEP;
            for (int s = 0; s < 2; s++) {
                const __m512i w = _mm512_mullo_epi16(_mm512_cvtepu8_epi16(q2[s]),
                                                     _mm512_set1_epi16((short)sc[2 * c + s]));
                _mm256_store_si256((__m256i *)(h + off + 32 * s),
                                   _mm512_cvtepi16_epi8(_mm512_srli_epi16(w, 7)));
                _mm256_store_si256((__m256i *)(l + off + 32 * s),
                                   _mm512_cvtepi16_epi8(_mm512_and_si512(w, m127)));
            }
        }
    }
}

struct k4_job {
    enum nn_type type;
    nn_from_float_fn quantise;
    const uint8_t *w;
    size_t row_bytes, block_bytes;
    int n_in, n_sb;
    int64_t r0, r1;
    const float *x;
    int n_tok, n_tb, n_pairs;
    int8_t *xq;     /* [n_tb][n_sb * 4][16][TT][4] */
    float *dx, *bs; /* [n_tb][n_sb][TT], [n_tb][n_sb][8][TT]: d_x and d_x * bsum */
    uint8_t *qrow;
    size_t qrow_bytes;
    uint8_t *panels; /* per thread: h, l [csb * 4][PR][64]; d [csb][PR]; dmin mn [csb][PR][8] */
    size_t panel_bytes;
    int csb;    /* super-blocks per chunk */
    float *acc; /* per thread: [pair][4][256] */
    float *y;
    int64_t ldy;
    int s0, s1; /* super-blocks of the current chunk */
    atomic_llong next;
};

static void k4_convert(void *ctx, int ith, int nth)
{
    const struct k4_job *j = ctx;
    uint8_t *qr = j->qrow + (size_t)ith * j->qrow_bytes;
    const size_t tile = 16 * TT * 4; /* bytes per B tile */
    for (int b = ith; b < j->n_tb; b += nth) {
        int8_t *tiles = j->xq + (size_t)b * j->n_sb * 4 * tile;
        float *dx = j->dx + (size_t)b * j->n_sb * TT, *bs = j->bs + (size_t)b * j->n_sb * 8 * TT;
        for (int tt = 0; tt < TT; tt++) {
            const int t = b * TT + tt;
            const bool pad = t >= j->n_tok;
            if (!pad)
                j->quantise(j->x + (int64_t)t * j->n_in, qr, j->n_in);
            for (int s = 0; s < j->n_sb; s++) {
                const struct nn_block_q8_k *bk = (const void *)(qr + (size_t)s * sizeof *bk);
                dx[(size_t)s * TT + tt] = pad ? 0 : bk->d;
                for (int jj = 0; jj < 8; jj++)
                    bs[((size_t)s * 8 + jj) * TT + tt] =
                        pad ? 0 : bk->d * (float)(bk->bsums[2 * jj] + bk->bsums[2 * jj + 1]);
                for (int st = 0; st < 4; st++)
                    b_tile_column(tiles + ((size_t)s * 4 + st) * tile, tt,
                                  pad ? NULL : bk->qs + st * 64, 16);
            }
        }
    }
}

/* acc[16 x 16] += (128 Ch + Cl) * d[r] d_x[t] - sum_j mn[j][r] bs[j][t] (mins: false for
 * Q6_K, which has no min terms; a constant where inlined); mn: dmin * mn, bs: d_x * bsum */
AVX_TGT static inline void k4_epilogue(float *acc, const int32_t *ch, const int32_t *cl,
                                       const float *d, const float *mn, const float *dx,
                                       const float *bs, const bool mins)
{
    const __m512 vdx = _mm512_loadu_ps(dx);
    __m512 vb[8];
    for (int jj = 0; mins && jj < 8; jj++)
        vb[jj] = _mm512_loadu_ps(bs + (size_t)jj * TT);
    for (int r = 0; r < 16; r++) {
        const __m512i s =
            _mm512_add_epi32(_mm512_slli_epi32(_mm512_load_si512((const void *)(ch + 16 * r)), 7),
                             _mm512_load_si512((const void *)(cl + 16 * r)));
        __m512 a = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(_mm512_set1_ps(d[r]), vdx),
                                   _mm512_load_ps(acc + 16 * r));
        for (int jj = 0; mins && jj < 8; jj++)
            a = _mm512_fnmadd_ps(_mm512_set1_ps(mn[(size_t)r * 8 + jj]), vb[jj], a);
        _mm512_store_ps(acc + 16 * r, a);
    }
}

/* k4_worker's body, compiled once with and once without the min terms (Q6_K) */
AMX_TGT static inline __attribute__((always_inline)) void k4_work(struct k4_job *j, int ith,
                                                                  const bool mins)
{
    const int64_t n_panels = (j->r1 - j->r0 + PR - 1) / PR;
    const int ns = j->s1 - j->s0;
    struct nn_amx_cfg cfg;
    nn_amx_cfg_full(&cfg); /* C 0-3, A 4-5 (h, l), B 6-7: all 16 x 64 bytes */
    bool configured = false;
    int32_t c[2][4][256] __attribute__((aligned(ALIGN)));
    uint8_t *pb = j->panels + (size_t)ith * j->panel_bytes;
    int8_t *h = (int8_t *)pb, *l = h + (size_t)ns * 4 * K4_STEP;
    float *fd = (float *)(l + (size_t)ns * 4 * K4_STEP), *mn = fd + (size_t)ns * PR;
    const uint8_t *chunk = j->w + (size_t)j->s0 * j->block_bytes; /* row 0 of this K chunk */
    const size_t tile = 16 * TT * 4, bstride = (size_t)j->n_sb * 4 * tile;
    int64_t p;
    while (nn_amx_claim_panel(&j->next, n_panels, &cfg, &configured, &p)) {
        const int64_t ra = j->r0 + p * PR;
        const int nr = (int)VB_MIN((int64_t)PR, j->r1 - ra);
        for (int r = 0; r < nr; r++)
            k4_unpack_row(chunk + (size_t)(ra + r) * j->row_bytes, j->type, j->block_bytes, ns,
                          h + (size_t)r * 64, l + (size_t)r * 64, fd + r, mn + (size_t)r * 8);
        for (int r = nr; r < PR; r++) {
            for (int s = 0; s < ns * 4; s++) {
                memset(h + (size_t)s * K4_STEP + (size_t)r * 64, 0, 64);
                memset(l + (size_t)s * K4_STEP + (size_t)r * 64, 0, 64);
            }
            for (int s = 0; s < ns; s++) {
                fd[(size_t)s * PR + r] = 0;
                for (int jj = 0; jj < 8; jj++)
                    mn[((size_t)s * PR + r) * 8 + jj] = 0;
            }
        }
        for (int b = 0; b < j->n_tb; b += 2) {
            const bool two = b + 1 < j->n_tb;
            float *acc = j->acc + ((size_t)ith * j->n_pairs + b / 2) * 4 * 256;
            memset(acc, 0, 4 * 256 * sizeof *acc);
            for (int half = 0; half < 2; half++) {
                const size_t ro = (size_t)half * 16 * 64;
                /* the epilogue of super-block s - 1 runs while the tiles of s do (its sums
                 * were stored a step earlier, into c[par ^ 1]) */
                for (int s = 0; s <= ns; s++) {
                    const int par = s & 1;
                    if (s < ns) {
                        const int sg = j->s0 + s;
                        _tile_zero(0);
                        _tile_zero(1);
                        _tile_zero(2);
                        _tile_zero(3);
                        for (int st = 0; st < 4; st++) {
                            const size_t po = ((size_t)s * 4 + st) * K4_STEP + ro;
                            const int8_t *bt =
                                j->xq + (size_t)b * bstride + ((size_t)sg * 4 + st) * tile;
                            _tile_loadd(4, h + po, 64);
                            _tile_loadd(5, l + po, 64);
                            _tile_loadd(6, bt, 64);
                            _tile_dpbssd(0, 4, 6);
                            _tile_dpbssd(1, 5, 6);
                            if (two) {
                                _tile_loadd(7, bt + bstride, 64);
                                _tile_dpbssd(2, 4, 7);
                                _tile_dpbssd(3, 5, 7);
                            }
                        }
                    }
                    if (s > 0) {
                        const int ps = s - 1, sg = j->s0 + ps;
                        int32_t(*cp)[256] = c[par ^ 1];
                        const size_t fo = (size_t)ps * PR + (size_t)half * 16;
                        const size_t mo = ((size_t)ps * PR + (size_t)half * 16) * 8;
                        const float *dx = j->dx + ((size_t)b * j->n_sb + sg) * TT;
                        const float *bs = j->bs + ((size_t)b * j->n_sb + sg) * 8 * TT;
                        k4_epilogue(acc + 256 * half, cp[0], cp[1], fd + fo, mn + mo, dx, bs, mins);
                        if (two)
                            k4_epilogue(acc + 512 + 256 * half, cp[2], cp[3], fd + fo, mn + mo,
                                        dx + (size_t)j->n_sb * TT, bs + (size_t)j->n_sb * 8 * TT,
                                        mins);
                    }
                    if (s < ns) {
                        _tile_stored(0, c[par][0], 64);
                        _tile_stored(1, c[par][1], 64);
                        if (two) {
                            _tile_stored(2, c[par][2], 64);
                            _tile_stored(3, c[par][3], 64);
                        }
                    }
                }
            }
            nn_amx_store_pair_y(j->y, j->ldy, acc, b * TT, j->n_tok, (int)(ra - j->r0), nr, two,
                                j->s0 > 0);
        }
    }
    if (configured)
        _tile_release();
}

AMX_TGT static void k4_worker(void *ctx, int ith, int nth)
{
    struct k4_job *j = ctx;
    (void)nth;
    if (j->type == NN_TYPE_Q6_K)
        k4_work(j, ith, false);
    else
        k4_work(j, ith, true);
}

/* Q4_K / Q5_K products on the super-block path; false on OOM (nothing written). */
bool nn_amx_k4_rows(struct nn_pool *pool, struct nn_scratch *scratch, const struct nn_tensor *w,
                    const nn_from_float_fn quantise, int64_t r0, int64_t r1, const float *x,
                    int n_tok, float *y, int64_t ldy)
{
    const int nth = pool ? nn_pool_threads(pool) : 1;
    pthread_once(&k4_lut_once, k4_lut_init);
    struct k4_job j = {
        .type = w->type,
        .quantise = quantise,
        .w = w->data,
        .row_bytes = w->row_bytes,
        .block_bytes = nn_type_info(w->type)->block_bytes,
        .n_in = (int)w->ne[0],
        .n_sb = (int)(w->ne[0] / 256),
        .r0 = r0,
        .r1 = r1,
        .x = x,
        .n_tok = n_tok,
        .n_tb = (n_tok + TT - 1) / TT,
        .y = y,
        .ldy = ldy,
    };
    j.n_pairs = (j.n_tb + 1) / 2;
    const size_t tile = 16 * TT * 4;
    j.csb = VB_MAX(1, (int)(CHUNK_BYTES / ((size_t)j.n_tb * 4 * tile)));
    j.csb = VB_MIN(j.csb, j.n_sb);
    const int64_t n_panels = (r1 - r0 + PR - 1) / PR;
    const size_t xq_bytes = (size_t)j.n_tb * j.n_sb * 4 * tile;
    const size_t dx_floats = (size_t)j.n_tb * j.n_sb * TT, bs_floats = dx_floats * 8;
    j.qrow_bytes = (nn_row_bytes(NN_TYPE_Q8_K, j.n_in) + ALIGN - 1) / ALIGN * ALIGN;
    j.panel_bytes =
        ((size_t)j.csb * 8 * K4_STEP + (size_t)j.csb * 9 * PR * sizeof(float) + ALIGN - 1) / ALIGN *
        ALIGN;
    const size_t acc_floats = (size_t)nth * (size_t)j.n_pairs * 4 * 256;
    void *buf;
    if (!nn_amx_reserve_aligned(scratch,
                                (acc_floats + dx_floats + bs_floats) * sizeof(float) + xq_bytes +
                                    (size_t)nth * (j.qrow_bytes + j.panel_bytes),
                                &buf))
        return false;
    j.acc = buf;
    j.dx = j.acc + acc_floats;
    j.bs = j.dx + dx_floats;
    j.xq = (int8_t *)(j.bs + bs_floats);
    j.panels = (uint8_t *)j.xq + xq_bytes;
    j.qrow = j.panels + (size_t)nth * j.panel_bytes;
    if (j.n_tb > 1)
        nn_pool_run(pool, k4_convert, &j);
    else
        k4_convert(&j, 0, 1);
    for (int s0 = 0; s0 < j.n_sb; s0 += j.csb) {
        j.s0 = s0;
        j.s1 = VB_MIN(j.n_sb, s0 + j.csb);
        atomic_init(&j.next, 0);
        if (n_panels > 1)
            nn_pool_run(pool, k4_worker, &j);
        else
            k4_worker(&j, 0, 1);
    }
    return true;
}

#endif
