/* matmul_amx.c: nn_matmul for token batches on Intel AMX (see matmul_amx.h). Activations go
 * once per call into BF16 B tiles; each thread then takes panels of 32 weight rows,
 * dequantises them into BF16 A tiles and runs 2x2 TDPBF16PS tiles per 32 tokens. */
#include "nn/arch/x86/amx/matmul_internal.h"

static atomic_ullong taken;

uint64_t nn_matmul_amx_taken(void)
{
    return atomic_load(&taken);
}

#ifdef MM_AMX

/* ===== activations and output ===== */

/* In-register transpose of 16 rows of 16 lanes: r[i][j] -> r[j][i]. */
AVX_TGT static inline void transpose16(__m512 r[16])
{
    __m512 a[16], b[16];
    for (int k = 0; k < 8; k++) {
        a[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
        a[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
    }
    for (int q = 0; q < 4; q++) { /* b[4q + c]: column 4L + c of rows 4q..4q+3, lane L */
        const __m512d a0 = _mm512_castps_pd(a[4 * q]), a1 = _mm512_castps_pd(a[4 * q + 1]);
        const __m512d a2 = _mm512_castps_pd(a[4 * q + 2]), a3 = _mm512_castps_pd(a[4 * q + 3]);
        b[4 * q] = _mm512_castpd_ps(_mm512_unpacklo_pd(a0, a2));
        b[4 * q + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a0, a2));
        b[4 * q + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(a1, a3));
        b[4 * q + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(a1, a3));
    }
    for (int c = 0; c < 4; c++) { /* 4x4 transpose of 128-bit lanes */
        const __m512 p0 = _mm512_shuffle_f32x4(b[c], b[4 + c], 0x44);
        const __m512 p1 = _mm512_shuffle_f32x4(b[c], b[4 + c], 0xee);
        const __m512 p2 = _mm512_shuffle_f32x4(b[8 + c], b[12 + c], 0x44);
        const __m512 p3 = _mm512_shuffle_f32x4(b[8 + c], b[12 + c], 0xee);
        r[c] = _mm512_shuffle_f32x4(p0, p2, 0x88);
        r[4 + c] = _mm512_shuffle_f32x4(p0, p2, 0xdd);
        r[8 + c] = _mm512_shuffle_f32x4(p1, p3, 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(p1, p3, 0xdd);
    }
}

struct amx_job {
    deq_fn deq;
    const uint8_t *w; /* weight rows, row_bytes apart */
    size_t row_bytes;
    int n_in, n_steps; /* K steps of KS (n_in rounded up) */
    int gsz, gbytes;   /* elements and weight bytes per dequantiser group */
    int64_t r0, r1;
    const float *x; /* (n_tok, n_in) */
    int n_tok, n_tb;
    uint16_t *xa;     /* n_tb blocks of n_steps B tiles */
    uint16_t *panels; /* two [chunk steps][PR][KS] panels per thread */
    float *y;
    int64_t ldy;
    int s0, s1;        /* current K chunk: steps [s0, s1) */
    atomic_llong next; /* next panel to claim */
};

/* Token blocks of 16 -> B tiles: one 16x16 transpose of BF16 pairs per K step. */
AVX_TGT static void convert_worker(void *ctx, int ith, int nth)
{
    const struct amx_job *j = ctx;
    for (int b = ith; b < j->n_tb; b += nth) {
        const int t0 = b * TT, nt = VB_MIN(TT, j->n_tok - t0);
        uint16_t *dst = j->xa + (size_t)b * j->n_steps * BT;
        for (int s = 0; s < j->n_steps; s++, dst += BT) {
            const int k = s * KS, nk = VB_MIN(KS, j->n_in - k);
            const __mmask16 ml = (__mmask16)(nk >= 16 ? 0xffff : (1u << nk) - 1u);
            const __mmask16 mh = (__mmask16)(nk >= 32  ? 0xffff
                                             : nk > 16 ? (1u << (nk - 16)) - 1u
                                                       : 0);
            __m512 r[16];
            for (int t = 0; t < TT; t++) {
                if (t >= nt) {
                    r[t] = _mm512_setzero_ps();
                    continue;
                }
                const float *src = j->x + (int64_t)(t0 + t) * j->n_in + k;
                const __m512 lo = _mm512_maskz_loadu_ps(ml, src);
                const __m512 hi = _mm512_maskz_loadu_ps(mh, src + 16);
                r[t] = _mm512_castsi512_ps((__m512i)_mm512_cvtne2ps_pbh(hi, lo));
            }
            transpose16(r);
            for (int p = 0; p < TT; p++)
                _mm512_store_ps((float *)(dst + (size_t)p * 2 * TT), r[p]);
        }
    }
}

/* Writes (add: adds) a 16 (weight rows) x 16 (tokens) tile c, row stride 16, into y
 * transposed: rows of y are tokens t0.., columns col.. (nr valid weight rows, nt valid
 * tokens). K chunks after the first add their partial products. */
AVX_TGT void nn_amx_store_tile_y(float *y, int64_t ldy, const float *c, int t0, int nt, int64_t col,
                                 int nr, bool add)
{
    if (nr <= 0 || nt <= 0)
        return;
    __m512 r[16];
    for (int i = 0; i < 16; i++)
        r[i] = _mm512_load_ps(c + 16 * i);
    transpose16(r);
    const __mmask16 m = (__mmask16)(nr >= 16 ? 0xffff : (1u << nr) - 1u);
    for (int t = 0; t < nt; t++) {
        float *yt = y + (int64_t)(t0 + t) * ldy + col;
        _mm512_mask_storeu_ps(yt, m,
                              add ? _mm512_add_ps(r[t], _mm512_maskz_loadu_ps(m, yt)) : r[t]);
    }
}

/* The four 16 x 16 sums acc of a panel (nr valid rows from column col) and a token pair
 * (tokens t0.. of n_tok; the second block when two) into y. */
void nn_amx_store_pair_y(float *y, int64_t ldy, const float *acc, int t0, int n_tok, int col,
                         int nr, bool two, bool add)
{
    const int nt0 = VB_MIN(TT, n_tok - t0);
    nn_amx_store_tile_y(y, ldy, acc, t0, nt0, col, nr, add);
    nn_amx_store_tile_y(y, ldy, acc + 256, t0, nt0, col + 16, nr - 16, add);
    if (two) {
        const int nt1 = VB_MIN(TT, n_tok - t0 - TT);
        nn_amx_store_tile_y(y, ldy, acc + 512, t0 + TT, nt1, col, nr, add);
        nn_amx_store_tile_y(y, ldy, acc + 768, t0 + TT, nt1, col + 16, nr - 16, add);
    }
}

AVX_TGT static void store_tile(const struct amx_job *j, const float *c, int t0, int nt, int64_t col,
                               int nr)
{
    nn_amx_store_tile_y(j->y, j->ldy, c, t0, nt, col, nr, j->s0 > 0);
}

/* A panel chunk being dequantised while the tiles of the previous one run: rows
 * [ra, ra + nr), steps [j->s0, j->s1). Work item q = band * nr + row, a band being BAND
 * steps of one row, done up to q < q_end (K-major: the writes stay in a small region). */
#    define BAND 8
struct pending {
    uint16_t *wp;
    int64_t p, ra;
    int nr;
    int64_t q, q_end;
};

static void pending_start(const struct amx_job *j, struct pending *pd, uint16_t *wp, int64_t p)
{
    pd->wp = wp;
    pd->p = p;
    pd->ra = j->r0 + p * PR;
    pd->nr = (int)VB_MIN((int64_t)PR, j->r1 - pd->ra);
    pd->q = 0;
    pd->q_end = (int64_t)pd->nr * ((j->s1 - j->s0 + BAND - 1) / BAND);
    for (int r = pd->nr; r < PR; r++) /* rows past r1 (last panel): zeros */
        for (int s = 0; s < j->s1 - j->s0; s++)
            memset(wp + (size_t)s * CS + r * KS, 0, KS * sizeof *wp);
}

/* Dequantises the pending panel's work items up to `until` (clamped to its end). */
static void pending_pump(const struct amx_job *j, struct pending *pd, int64_t until)
{
    until = VB_MIN(until, pd->q_end);
    const int gsteps = j->gsz / KS; /* steps per group: 1 or 8 */
    for (; pd->q < until; pd->q++) {
        const int band = (int)(pd->q / pd->nr), r = (int)(pd->q % pd->nr);
        const int sa = j->s0 + band * BAND, sb = VB_MIN(sa + BAND, j->s1);
        const int g0 = sa / gsteps, g1 = (sb + gsteps - 1) / gsteps;
        /* the row from group g0 on, written at the band's place in the chunk */
        j->deq(j->w + (size_t)(pd->ra + r) * j->row_bytes + (size_t)g0 * j->gbytes,
               pd->wp + (size_t)(sa - j->s0) * CS + r * KS, j->n_in - g0 * j->gsz, 0, g1 - g0);
    }
}

/* Runs panel chunk cur (dequantised in full) against every token; dequantises `next` (if
 * any) between the tile steps so the vector units work while the tile unit does. */
AMX_TGT static void panel_run(const struct amx_job *j, const struct pending *cur,
                              struct pending *next, float c[4][256])
{
    const uint16_t *wp = cur->wp;
    const size_t bstride = (size_t)j->n_steps * BT; /* elements per token block */
    const int64_t col = cur->ra - j->r0;
    const int nr = cur->nr, ns = j->s1 - j->s0, n_pairs = (j->n_tb + 1) / 2;
    /* work items of `next` per tile step */
    const int64_t per_step =
        next ? (next->q_end + (int64_t)n_pairs * ns - 1) / ((int64_t)n_pairs * ns) : 0;
    int64_t target = 0;
    for (int b = 0; b < j->n_tb; b += 2) {
        const uint16_t *xb = j->xa + (size_t)b * bstride + (size_t)j->s0 * BT;
        const int t0 = b * TT;
        const bool two = b + 1 < j->n_tb;
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        if (two) {
            for (int s = 0; s < ns; s++) {
                const uint16_t *a = wp + (size_t)s * CS, *bs = xb + (size_t)s * BT;
                _tile_loadd(4, a, 64);
                _tile_loadd(5, a + 16 * KS, 64);
                _tile_loadd(6, bs, 64);
                _tile_loadd(7, bs + bstride, 64);
                _tile_dpbf16ps(0, 4, 6);
                _tile_dpbf16ps(1, 5, 6);
                _tile_dpbf16ps(2, 4, 7);
                _tile_dpbf16ps(3, 5, 7);
                if (next)
                    pending_pump(j, next, target += per_step);
            }
        } else {
            for (int s = 0; s < ns; s++) {
                const uint16_t *a = wp + (size_t)s * CS;
                _tile_loadd(4, a, 64);
                _tile_loadd(5, a + 16 * KS, 64);
                _tile_loadd(6, xb + (size_t)s * BT, 64);
                _tile_dpbf16ps(0, 4, 6);
                _tile_dpbf16ps(1, 5, 6);
                if (next)
                    pending_pump(j, next, target += per_step);
            }
        }
        _tile_stored(0, c[0], 64);
        _tile_stored(1, c[1], 64);
        _tile_stored(2, c[2], 64);
        _tile_stored(3, c[3], 64);
        const int nt0 = VB_MIN(TT, j->n_tok - t0);
        store_tile(j, c[0], t0, nt0, col, nr);
        store_tile(j, c[1], t0, nt0, col + 16, nr - 16);
        if (two) {
            const int nt1 = VB_MIN(TT, j->n_tok - t0 - TT);
            store_tile(j, c[2], t0 + TT, nt1, col, nr);
            store_tile(j, c[3], t0 + TT, nt1, col + 16, nr - 16);
        }
    }
    if (next)
        pending_pump(j, next, next->q_end);
}

/* Claims panels one at a time for the current K chunk; two panel buffers per thread (the
 * one in the tiles and the next one being dequantised). */
AMX_TGT static void panel_worker(void *ctx, int ith, int nth)
{
    struct amx_job *j = ctx;
    (void)nth;
    const int64_t n_panels = (j->r1 - j->r0 + PR - 1) / PR;
    int64_t p = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
    if (p >= n_panels)
        return;
    struct nn_amx_cfg cfg;
    nn_amx_cfg_full(&cfg);
    _tile_loadconfig(&cfg);
    float c[4][256] __attribute__((aligned(ALIGN)));
    const size_t pe = (size_t)(j->s1 - j->s0) * CS;
    uint16_t *buf[2] = {j->panels + (size_t)(2 * ith) * pe, j->panels + (size_t)(2 * ith + 1) * pe};
    struct pending pd[2];
    int cur = 0;
    pending_start(j, &pd[cur], buf[cur], p);
    pending_pump(j, &pd[cur], pd[cur].q_end);
    for (;;) {
        const int64_t pn = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        struct pending *next = NULL;
        if (pn < n_panels) {
            next = &pd[1 - cur];
            pending_start(j, next, buf[1 - cur], pn);
        }
        panel_run(j, &pd[cur], next, c);
        if (!next)
            break;
        cur = 1 - cur;
    }
    _tile_release();
}

bool nn_amx_reserve_aligned(struct nn_scratch *s, size_t n, void **out)
{
    if (!nn_scratch_reserve(s, n + ALIGN))
        return false;
    *out = (void *)(((uintptr_t)s->data + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1));
    return true;
}

/* Claims the next panel *p of n_panels; loads the tile config at the first claim. */
AMX_TGT bool nn_amx_claim_panel(atomic_llong *next, int64_t n_panels, const struct nn_amx_cfg *cfg,
                                bool *configured, int64_t *p)
{
    *p = atomic_fetch_add_explicit(next, 1, memory_order_relaxed);
    if (*p >= n_panels)
        return false;
    if (!*configured) {
        _tile_loadconfig(cfg);
        *configured = true;
    }
    return true;
}

static atomic_int mode = -1; /* enum nn_amx_mode; -1: not read from the environment yet */

static enum nn_amx_mode mode_get(void)
{
    int m = atomic_load(&mode);
    if (m < 0) {
        const char *e = getenv("NN_AMX");
        m = !e                                             ? NN_AMX_EXACT
            : strcmp(e, "0") == 0 || strcmp(e, "off") == 0 ? NN_AMX_OFF
            : strcmp(e, "all") == 0 || strcmp(e, "1") == 0 ? NN_AMX_ALL
                                                           : NN_AMX_EXACT;
        int expect = -1;
        atomic_compare_exchange_strong(&mode, &expect, m);
        m = atomic_load(&mode);
    }
    return (enum nn_amx_mode)m;
}

void nn_matmul_amx_set_mode(enum nn_amx_mode m)
{
    atomic_store(&mode, (int)m);
}

enum nn_amx_mode nn_matmul_amx_mode(void)
{
    return mode_get();
}

bool nn_matmul_amx_supported(enum nn_type t)
{
    return nn_amx_deq_for(t) && nn_gemm_amx_available();
}

bool nn_matmul_amx_rows(struct nn_pool *pool, struct nn_scratch *scratch, const struct nn_tensor *w,
                        int64_t r0, int64_t r1, const float *x, int n_tok, float *y, int64_t ldy)
{
    return nn_matmul_amx_rows_mode(pool, scratch, w, mode_get(), r0, r1, x, n_tok, y, ldy);
}

bool nn_matmul_amx_rows_mode(struct nn_pool *pool, struct nn_scratch *scratch,
                             const struct nn_tensor *w, enum nn_amx_mode m, int64_t r0, int64_t r1,
                             const float *x, int n_tok, float *y, int64_t ldy)
{
    if (!nn_matmul_amx_supported(w->type) || w->ne[0] <= 0 || w->ne[0] > INT_MAX - KS)
        return false;
    if (n_tok <= 0 || r1 <= r0)
        return true;
    nn_fp16_table_init();
    if (m != NN_AMX_ALL && nn_amx_i8_exact(w->type))
        return nn_amx_i8_rows(pool, scratch, w, r0, r1, x, n_tok, y, ldy);
    const int nth = pool ? nn_pool_threads(pool) : 1;
    struct amx_job j = {
        .deq = nn_amx_deq_for(w->type),
        .w = w->data,
        .row_bytes = w->row_bytes,
        .n_in = (int)w->ne[0],
        .n_steps = (int)((w->ne[0] + KS - 1) / KS),
        .r0 = r0,
        .r1 = r1,
        .x = x,
        .n_tok = n_tok,
        .n_tb = (n_tok + TT - 1) / TT,
        .y = y,
        .ldy = ldy,
    };
    const size_t xa_elems = (size_t)j.n_tb * j.n_steps * BT;
    const struct nn_type_info *ti = nn_type_info(w->type);
    j.gsz = ti->block > 1 ? ti->block : KS;
    j.gbytes = (int)((size_t)(j.gsz / ti->block) * ti->block_bytes);
    /* K chunks: the activations of one chunk (all tokens) stay in L2 while the threads run
     * every panel against them; a multiple of 8 steps (a K-quant group) */
    const int chunk = VB_MAX(8, (int)(CHUNK_BYTES / ((size_t)j.n_tb * BT * 2)) / 8 * 8);
    const int n_chunks = (j.n_steps + chunk - 1) / chunk;
    const int csteps = VB_MIN(chunk, j.n_steps);
    const int64_t n_panels = (r1 - r0 + PR - 1) / PR;
    const size_t panel_elems = 2 * (size_t)csteps * CS;
    void *buf;
    if (!nn_amx_reserve_aligned(scratch, (xa_elems + (size_t)nth * panel_elems) * sizeof(uint16_t),
                                &buf))
        return false;
    j.xa = buf;
    j.panels = j.xa + xa_elems;
    if (j.n_tb > 1)
        nn_pool_run(pool, convert_worker, &j);
    else
        convert_worker(&j, 0, 1);
    for (int k = 0; k < n_chunks; k++) {
        j.s0 = k * chunk;
        j.s1 = VB_MIN(j.n_steps, j.s0 + chunk);
        atomic_init(&j.next, 0);
        if (n_panels > 1)
            nn_pool_run(pool, panel_worker, &j);
        else
            panel_worker(&j, 0, 1);
    }
    return true;
}

bool nn_matmul_amx_try(struct nn_pool *pool, struct nn_scratch *scratch, const struct nn_tensor *w,
                       int64_t r0, int64_t r1, const float *x, int n_tok, float *y, int64_t ldy,
                       bool *ok)
{
    if (n_tok < NN_AMX_MIN_TOKENS)
        return false;
    const enum nn_amx_mode m = mode_get();
    /* EXACT: BF16 weights (the kernels round the activations to BF16 too) and the INT8 types
     * (the kernels' activation quantisation): only F32 summation order differs */
    if (m == NN_AMX_OFF ||
        (m == NN_AMX_EXACT && w->type != NN_TYPE_BF16 && !nn_amx_i8_exact(w->type)) ||
        !nn_matmul_amx_supported(w->type))
        return false;
    *ok = nn_matmul_amx_rows(pool, scratch, w, r0, r1, x, n_tok, y, ldy);
    atomic_fetch_add(&taken, 1);
    return true;
}

#else /* no AMX on this target */

void nn_matmul_amx_set_mode(enum nn_amx_mode m)
{
    (void)m;
}

enum nn_amx_mode nn_matmul_amx_mode(void)
{
    return NN_AMX_OFF;
}

bool nn_matmul_amx_supported(enum nn_type t)
{
    (void)t;
    return false;
}

bool nn_matmul_amx_rows(struct nn_pool *pool, struct nn_scratch *scratch, const struct nn_tensor *w,
                        int64_t r0, int64_t r1, const float *x, int n_tok, float *y, int64_t ldy)
{
    (void)pool, (void)scratch, (void)w, (void)r0, (void)r1, (void)x, (void)n_tok, (void)y;
    (void)ldy;
    return false;
}

bool nn_matmul_amx_rows_mode(struct nn_pool *pool, struct nn_scratch *scratch,
                             const struct nn_tensor *w, enum nn_amx_mode m, int64_t r0, int64_t r1,
                             const float *x, int n_tok, float *y, int64_t ldy)
{
    (void)pool, (void)scratch, (void)w, (void)m, (void)r0, (void)r1, (void)x, (void)n_tok;
    (void)y, (void)ldy;
    return false;
}

bool nn_matmul_amx_try(struct nn_pool *pool, struct nn_scratch *scratch, const struct nn_tensor *w,
                       int64_t r0, int64_t r1, const float *x, int n_tok, float *y, int64_t ldy,
                       bool *ok)
{
    (void)pool, (void)scratch, (void)w, (void)r0, (void)r1, (void)x, (void)n_tok, (void)y;
    (void)ldy, (void)ok;
    return false;
}

#endif