/* test_hift.c: HiFT vocoder against the PyTorch reference vectors (chatterbox-ref/hift: F0,
 * source with injected SineGen draws, source STFT, waveform from the saved source, trim
 * fade), plus the tiled convolutions and Snake against plain references, and bad input. */
#include "core/vb.h"
#include "unit/test.h"
#include "unit/refdata.h"

#include "core/alloc.h"
#include "nn/activations.h"
#include "nn/safetensors.h"
#include "nn/fp16.h"
#include "nn/gemm.h"
#include "nn/threadpool.h"
#include "tts/chatterbox/hift.h"
#include "tts/chatterbox/hift_conv.h"
#include "unit/tts/chatterbox/checkpoint_mutants.h"

#include <math.h>

static char g_dir[512];
static struct nn_safetensors *g_w, *g_io;
static struct nn_pool *g_pool;
static char g_self[1024];

static bool ref_open(void)
{
    char path[600];
    snprintf(g_dir, sizeof g_dir, "%s/chatterbox-ref/hift", refdata_root());
    snprintf(path, sizeof path, "%s/weights.safetensors", g_dir);
    if (!(g_w = refdata_open_st("hift_reference", path)))
        return false;
    snprintf(path, sizeof path, "%s/io.safetensors", g_dir);
    if (!(g_io = refdata_open_st("hift_reference", path))) {
        nn_st_close(g_w);
        g_w = NULL;
        return false;
    }
    return true;
}

/* Tensor `name` of io.safetensors as a new f32 array; n receives the element count. */
static float *io_get(const char *name, size_t *n)
{
    const struct nn_st_tensor *t = nn_st_find(g_io, name);
    CHECK_MSG(t != NULL, "io tensor %s", name);
    if (!t)
        return NULL;
    *n = (size_t)nn_st_numel(t);
    float *a = vb_xmalloc(*n * sizeof *a);
    CHECK(nn_st_to_f32(t, a, *n) == VB_OK);
    return a;
}

static double max_abs(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) /* NaN propagates as failure */
            m = isnan(d) ? INFINITY : d;
    }
    return m;
}

static double max_abs_of(const float *a, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(a[i]));
    return m;
}

/* ---- kernels vs plain references ---------------------------------------------------------- */

static uint64_t g_seed = 0x9e3779b97f4a7c15ull;
static float frand(void)
{
    g_seed ^= g_seed << 13;
    g_seed ^= g_seed >> 7;
    g_seed ^= g_seed << 17;
    return (float)((g_seed >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

TEST(test_snake_matches_libm)
{
    enum { N = 4099 };
    static float x[N], y[N], r[N];
    for (int i = 0; i < N; i++)
        x[i] = frand() * (i < 2000 ? 4.0f : 300.0f);
    x[0] = 0.0f;
    const float alphas[] = {0.5f, 1.0f, 1.37f, 0.01f, 2.9f};
    for (size_t a = 0; a < VB_ARRAY_LEN(alphas); a++) {
        nn_snake(y, x, N, alphas[a]);
        nn_snake_ref(r, x, N, alphas[a]);
        double worst = 0;
        for (int i = 0; i < N; i++) {
            double d = fabs((double)y[i] - r[i]) / (1.0 + fabs((double)r[i]));
            worst = fmax(worst, d);
        }
        CHECK_MSG(worst < 2e-6, "alpha %g: rel err %g", alphas[a], worst);
    }
    /* in place, odd tail lengths */
    for (int n = 1; n < 40; n++) {
        float b[40], c[40];
        for (int i = 0; i < n; i++)
            b[i] = c[i] = frand() * 3.0f;
        nn_snake(b, b, n, 0.8f);
        nn_snake_ref(c, c, n, 0.8f);
        CHECK(max_abs(b, c, (size_t)n) < 1e-5);
    }
}

TEST(test_activations_basic)
{
    float v[4] = {-2.0f, -0.5f, 0.0f, 3.0f};
    nn_leaky_relu(v, 4, 0.1f);
    CHECK_NEAR(v[0], -0.2, 1e-7);
    CHECK_NEAR(v[3], 3.0, 0);
    float e[3] = {-1.0f, 0.0f, 2.0f};
    nn_elu(e, 3, 1.0f);
    CHECK_NEAR(e[0], expm1(-1.0), 1e-7);
    CHECK_NEAR(e[2], 2.0, 0);
    float mi[3] = {-1.0f, 0.5f, 30.0f};
    nn_mish(mi, 3);
    CHECK_NEAR(mi[0], -1.0 * tanh(log1p(exp(-1.0))), 1e-6);
    CHECK_NEAR(mi[2], 30.0, 1e-5);
}

/* Buffer of c rows x ld with a margin, random interior, zero margins. */
static float *rand_rows(int c, int64_t t, int margin, int64_t *ld)
{
    *ld = t + 2 * margin + 7;
    float *b = vb_xcalloc((size_t)(c + 1) * (size_t)*ld + 64, sizeof *b);
    for (int r = 0; r < c; r++)
        for (int64_t i = 0; i < t; i++)
            b[margin + r * *ld + i] = frand();
    return b;
}

/* Random (c_out, c_in, k) weights, and a (c_out) bias into *b. */
static float *rand_conv(int co, int cin, int k, float **b)
{
    float *w = vb_xmalloc((size_t)co * cin * k * sizeof *w);
    *b = vb_xmalloc(co * sizeof **b);
    for (int i = 0; i < co * cin * k; i++)
        w[i] = frand();
    for (int i = 0; i < co; i++)
        (*b)[i] = frand();
    return w;
}

TEST(test_conv_tiled_matches_reference)
{
    struct {
        int c_out, c_in, k, d, t;
    } cases[] = {{8, 8, 3, 1, 32},  {18, 64, 7, 1, 101}, {13, 5, 11, 5, 300},
                 {64, 24, 3, 3, 1}, {3, 3, 1, 1, 77},    {40, 17, 7, 3, 600}};
    for (size_t ci = 0; ci < VB_ARRAY_LEN(cases); ci++) {
        int co = cases[ci].c_out, cin = cases[ci].c_in, k = cases[ci].k, d = cases[ci].d;
        int64_t t = cases[ci].t, ld;
        int pad = d * (k - 1) / 2, margin = 64;
        float *b, *w = rand_conv(co, cin, k, &b);
        float *x = rand_rows(cin, t, margin, &ld);
        struct cb_hift_conv c;
        CHECK(cb_hift_conv_init(&c, w, b, co, cin, k, d, pad) == VB_OK);
        int64_t ldy = t + 5;
        float *y = vb_xcalloc((size_t)co * ldy, sizeof *y),
              *r = vb_xcalloc((size_t)co * ldy, sizeof *r);
        struct cb_hift_scratch ws = {0};
        for (int acc = 0; acc < 4; acc++) {
            for (int64_t i = 0; i < co * ldy; i++)
                y[i] = r[i] = (float)i * 1e-3f;
            CHECK(cb_hift_conv_run(g_pool, &c, x + margin, ld, t, y, ldy, acc & 1,
                                   acc & 2 ? &ws : NULL) == VB_OK);
            cb_hift_conv_run_ref(&c, x + margin, ld, t, r, ldy, acc & 1);
            double e = max_abs(y, r, (size_t)co * ldy);
            CHECK_MSG(e < 1e-4, "case %zu mode %d: %g", ci, acc, e);
        }
        cb_hift_scratch_release(&ws);
        /* direct definition for one output */
        double s = b[co - 1];
        int64_t tt = t - 1;
        for (int i = 0; i < cin; i++)
            for (int j = 0; j < k; j++) {
                int64_t idx = tt - pad + (int64_t)j * d;
                if (idx >= 0 && idx < t)
                    s += (double)w[((size_t)(co - 1) * cin + i) * k + j] * x[margin + i * ld + idx];
            }
        CHECK(cb_hift_conv_run(g_pool, &c, x + margin, ld, t, y, ldy, false, NULL) == VB_OK);
        CHECK_NEAR(y[(co - 1) * ldy + tt], s, 1e-4);
        cb_hift_conv_release(&c);
        vb_free(w);
        vb_free(b);
        vb_free(x);
        vb_free(y);
        vb_free(r);
    }
}

/* BF16 convolutions on AMX (where the CPU has them): against a double sum over the same
 * bf16-rounded weights and inputs, with channel counts and lengths off the 32 blocks, taps
 * reaching into the margins, accumulate on/off; too few channels keep the F32 path. */
TEST(test_conv_bf16)
{
    struct {
        int c_out, c_in, k, d, t;
    } cases[] = {{32, 32, 3, 1, 32},
                 {64, 64, 11, 5, 301},
                 {40, 33, 7, 3, 45},
                 {256, 128, 3, 1, 70},
                 {33, 96, 1, 1, 17}};
    const bool amx = nn_gemm_amx_available();
    fprintf(stderr, "  AMX %s\n", amx ? "available: BF16 path tested" : "not available: F32 only");
    for (size_t ci = 0; ci < VB_ARRAY_LEN(cases); ci++) {
        int co = cases[ci].c_out, cin = cases[ci].c_in, k = cases[ci].k, d = cases[ci].d;
        int64_t t = cases[ci].t, ld;
        int pad = d * (k - 1) / 2, margin = 64;
        float *b, *w = rand_conv(co, cin, k, &b);
        float *x = rand_rows(cin, t, margin, &ld);
        struct cb_hift_conv c;
        CHECK(cb_hift_conv_init(&c, w, b, co, cin, k, d, pad) == VB_OK);
        CHECK(cb_hift_conv_use_bf16(&c) == VB_OK);
        CHECK(amx == (c.wb != NULL) && amx == (c.w == NULL)); /* F32 copy freed */
        int64_t ldy = t + 3;
        float *y = vb_xcalloc((size_t)co * ldy, sizeof *y);
        struct cb_hift_scratch ws = {0};
        for (int acc = 0; acc < 4; acc++) { /* 2, 3: no scratch, then the reference */
            for (int64_t i = 0; i < co * ldy; i++)
                y[i] = (float)i * 1e-3f;
            if (acc < 3)
                CHECK(cb_hift_conv_run(g_pool, &c, x + margin, ld, t, y, ldy, acc & 1,
                                       acc < 2 ? &ws : NULL) == VB_OK);
            else
                cb_hift_conv_run_ref(&c, x + margin, ld, t, y, ldy, true);
            double e = 0, mx = 0;
            for (int o = 0; o < co; o++)
                for (int64_t tt = 0; tt < ldy; tt++) {
                    double s = (double)o * ldy * 1e-3 + (double)tt * 1e-3;
                    if (tt < t) {
                        s = (acc & 1 ? s : 0.0) + b[o];
                        for (int i = 0; i < cin; i++)
                            for (int j = 0; j < k; j++) {
                                int64_t idx = tt - pad + (int64_t)j * d;
                                float xv = x[margin + i * ld + idx],
                                      wv = w[((size_t)o * cin + i) * k + j];
                                if (amx) {
                                    if (acc < 3) /* the reference keeps F32 inputs */
                                        xv = nn_bf16_to_fp32(nn_fp32_to_bf16(xv));
                                    wv = nn_bf16_to_fp32(nn_fp32_to_bf16(wv));
                                }
                                s += (double)wv * xv;
                            }
                    } else {
                        s = (float)(o * ldy + tt) * 1e-3f; /* padding columns untouched */
                    }
                    e = fmax(e, fabs(s - y[o * ldy + tt]));
                    mx = fmax(mx, fabs(s));
                }
            CHECK_MSG(e < 1e-4 * mx, "case %zu acc %d: err %g (max %g)", ci, acc, e, mx);
        }
        cb_hift_scratch_release(&ws);
        cb_hift_conv_release(&c);
        vb_free(w);
        vb_free(b);
        vb_free(x);
        vb_free(y);
    }
    /* under 32 channels: no copy */
    struct cb_hift_conv c;
    float w1[16 * 8 * 3] = {0};
    CHECK(cb_hift_conv_init(&c, w1, NULL, 16, 8, 3, 1, 1) == VB_OK);
    CHECK(cb_hift_conv_use_bf16(&c) == VB_OK && c.wb == NULL);
    cb_hift_conv_release(&c);
}

TEST(test_convt_and_strided)
{
    /* transposed: c_in 12, c_out 5, k 11, stride 5, pad 3, t_in 9 */
    int cin = 12, co = 5, k = 11, st = 5, pad = 3;
    int64_t tin = 9, ld;
    float *w = vb_xmalloc((size_t)cin * co * k * sizeof *w), b[10];
    for (int i = 0; i < cin * co * k; i++)
        w[i] = frand();
    for (int i = 0; i < co; i++)
        b[i] = frand();
    float *x = rand_rows(cin, tin, 32, &ld);
    struct cb_hift_convt ct;
    CHECK(cb_hift_convt_init(&ct, w, b, cin, co, k, st, pad) == VB_OK);
    int64_t tout = cb_hift_convt_len(&ct, tin);
    CHECK_EQ_INT(tout, (tin - 1) * st - 2 * pad + k);
    float *z = vb_xmalloc(cb_hift_convt_scratch(&ct, tin) * sizeof *z);
    float *y = vb_xmalloc((size_t)co * tout * sizeof *y);
    struct cb_hift_scratch ws = {0};
    CHECK(cb_hift_convt_run(g_pool, &ct, x + 32, ld, tin, z, y, tout, &ws) == VB_OK);
    double worst = 0;
    for (int o = 0; o < co; o++)
        for (int64_t t = 0; t < tout; t++) {
            double s = b[o];
            for (int i = 0; i < cin; i++)
                for (int j = 0; j < k; j++) {
                    int64_t num = t + pad - j;
                    if (num < 0 || num % st || num / st >= tin)
                        continue;
                    s += (double)x[32 + i * ld + num / st] * w[((size_t)i * co + o) * k + j];
                }
            worst = fmax(worst, fabs(s - y[o * tout + t]));
        }
    CHECK_MSG(worst < 1e-4, "convt err %g", worst);
    cb_hift_convt_release(&ct);
    vb_free(z);
    vb_free(y);
    vb_free(w);
    vb_free(x);

    /* strided: c_in 18, c_out 10, k 30, stride 15, pad 7, t_in 241 */
    cin = 18, co = 10, k = 30, st = 15, pad = 7, tin = 241;
    w = vb_xmalloc((size_t)cin * co * k * sizeof *w);
    for (int i = 0; i < cin * co * k; i++)
        w[i] = frand();
    for (int i = 0; i < co; i++)
        b[i] = frand();
    x = rand_rows(cin, tin, 0, &ld);
    struct cb_hift_convs cs;
    CHECK(cb_hift_convs_init(&cs, w, b, co, cin, k, st, pad) == VB_OK);
    tout = cb_hift_convs_len(&cs, tin);
    CHECK_EQ_INT(tout, 16);
    float *col = vb_xmalloc(cb_hift_convs_scratch(&cs, tin) * sizeof *col);
    y = vb_xmalloc((size_t)co * tout * sizeof *y);
    CHECK(cb_hift_convs_run(g_pool, &cs, x, ld, tin, col, y, tout, &ws) == VB_OK);
    worst = 0;
    for (int o = 0; o < co; o++)
        for (int64_t t = 0; t < tout; t++) {
            double s = b[o];
            for (int i = 0; i < cin; i++)
                for (int j = 0; j < k; j++) {
                    int64_t idx = t * st + j - pad;
                    if (idx >= 0 && idx < tin)
                        s += (double)x[i * ld + idx] * w[((size_t)o * cin + i) * k + j];
                }
            worst = fmax(worst, fabs(s - y[o * tout + t]));
        }
    CHECK_MSG(worst < 1e-4, "convs err %g", worst);
    cb_hift_scratch_release(&ws);
    cb_hift_convs_release(&cs);
    vb_free(col);
    vb_free(y);
    vb_free(w);
    vb_free(x);
}

/* ---- reference vectors ------------------------------------------------------------------ */

static struct cb_hift *g_model;

TEST(test_ref_load)
{
    char why[256];
    CHECK_MSG(cb_hift_load(g_w, "mel2wav.", NULL, &g_model, why, sizeof why) == VB_OK, "%s", why);
    if (!g_model)
        return;
    const struct cb_hift_params *p = cb_hift_params_of(g_model);
    CHECK_EQ_INT(p->base_channels, 256);
    CHECK_EQ_INT(p->f0_channels, 512);
    CHECK_EQ_INT(cb_hift_samples_per_frame(g_model), 480);
}

TEST(test_ref_f0)
{
    size_t n_mel, n_f0;
    float *mel = io_get("mel", &n_mel), *ref = io_get("f0", &n_f0);
    int F = (int)n_f0;
    float *f0 = vb_xmalloc(n_f0 * sizeof *f0);
    struct cb_hift_work *w = cb_hift_work_new();
    CHECK(cb_hift_f0(g_model, w, g_pool, mel, F, f0) == VB_OK);
    double rel = 0;
    for (int i = 0; i < F; i++) {
        double r = fabs((double)f0[i] - ref[i]) / fmax(fabs((double)ref[i]), 1.0);
        if (getenv("HIFT_VERBOSE"))
            fprintf(stderr, "    f0[%d] %.7g ref %.7g rel %.3g\n", i, f0[i], ref[i], r);
        rel = fmax(rel, r);
    }
    fprintf(stderr, "  f0: max rel err %.3g (F %d, f0 up to %.1f Hz)\n", rel, F,
            max_abs_of(ref, n_f0));
    CHECK(rel <= 3e-5); /* measured 7.1e-6 (avx512), 4.7e-6 (generic, avx2) */
    cb_hift_work_free(w);
    vb_free(mel);
    vb_free(ref);
    vb_free(f0);
}

TEST(test_ref_source_and_stft)
{
    size_t n_f0, n_ph, n_noise, n_src, n_stft;
    float *f0 = io_get("f0", &n_f0), *ph = io_get("sine_phase_vec", &n_ph);
    float *noise = io_get("sine_noise_std", &n_noise), *ref = io_get("source", &n_src);
    float *ref_stft = io_get("source_stft", &n_stft);
    CHECK_EQ_INT(n_src, n_f0 * 480);
    CHECK_EQ_INT(n_noise, 9 * n_src);
    float *src = vb_xmalloc(n_src * sizeof *src), *stft = vb_xmalloc(n_stft * sizeof *stft);
    struct cb_hift_draws d = {.phase = ph, .noise = noise};
    CHECK(cb_hift_source(g_model, g_pool, f0, (int)n_f0, &d, src) == VB_OK);
    double e = max_abs(src, ref, n_src);
    fprintf(stderr, "  source (from saved f0 + draws): max abs err %.3g (|source| max %.3f)\n", e,
            max_abs_of(ref, n_src));
    CHECK(e <= 3e-7); /* measured 3.0e-8 at every ISA level */
    CHECK_EQ_INT(n_stft, 18 * (n_src / 4 + 1));
    CHECK(cb_hift_source_stft(g_model, g_pool, ref, (int64_t)n_src, stft) == VB_OK);
    e = max_abs(stft, ref_stft, n_stft);
    fprintf(stderr, "  source_stft (from saved source): max abs err %.3g (max %.3f)\n", e,
            max_abs_of(ref_stft, n_stft));
    CHECK(e <= 6e-7); /* measured 1.2e-7 */
    vb_free(f0);
    vb_free(ph);
    vb_free(noise);
    vb_free(ref);
    vb_free(ref_stft);
    vb_free(src);
    vb_free(stft);
}

TEST(test_ref_wav)
{
    size_t n_mel, n_src, n_wav, n_tf, n_fade;
    float *mel = io_get("mel", &n_mel), *src = io_get("source", &n_src);
    float *ref = io_get("wav", &n_wav), *ref_tf = io_get("wav_trim_faded", &n_tf);
    float *fade = io_get("trim_fade", &n_fade);
    int F = (int)(n_mel / 80);
    CHECK_EQ_INT(n_wav, (size_t)F * 480);
    float *wav = vb_xmalloc(n_wav * sizeof *wav);
    struct cb_hift_work *w = cb_hift_work_new();
    CHECK(cb_hift_decode(g_model, w, g_pool, mel, F, src, wav) == VB_OK);
    double e = max_abs(wav, ref, n_wav);
    fprintf(stderr, "  wav (decode of saved mel + source): max abs err %.3g (|wav| max %.3f)\n", e,
            max_abs_of(ref, n_wav));
    CHECK(e <= 6e-6); /* measured 1.2e-6 (avx512), 1.45e-6 (generic, avx2) */
    /* again with the same scratch (reuse path) and single-threaded */
    float *wav2 = vb_xmalloc(n_wav * sizeof *wav2);
    CHECK(cb_hift_decode(g_model, w, NULL, mel, F, src, wav2) == VB_OK);
    CHECK(max_abs(wav, wav2, n_wav) <= 1e-6);

    float g[CB_HIFT_TRIM_FADE_SAMPLES];
    cb_hift_trim_fade_table(g);
    CHECK_EQ_INT(n_fade, CB_HIFT_TRIM_FADE_SAMPLES);
    e = max_abs(g, fade, n_fade);
    for (size_t i = 0; i < n_fade && getenv("HIFT_VERBOSE"); i++)
        if (g[i] != fade[i])
            fprintf(stderr, "    fade[%zu] %.9g ref %.9g\n", i, g[i], fade[i]);
    fprintf(stderr, "  trim_fade: max abs err %.3g\n", e);
    CHECK(e <= 2.5e-7); /* a couple of float ulps: libm cosf vs PyTorch's */
    cb_hift_trim_fade(wav, (int64_t)n_wav);
    e = max_abs(wav, ref_tf, n_tf);
    fprintf(stderr, "  wav_trim_faded: max abs err %.3g\n", e);
    CHECK(e <= 6e-6);
    /* the BF16 option (AMX): outside the F32 tolerance, reported, loosely bounded */
    {
        struct cb_hift_params p = cb_hift_default_params();
        p.bf16 = true;
        struct cb_hift *mb = NULL;
        char why[256];
        CHECK_MSG(cb_hift_load(g_w, "mel2wav.", &p, &mb, why, sizeof why) == VB_OK, "%s", why);
        if (mb) {
            CHECK(cb_hift_decode(mb, w, g_pool, mel, F, src, wav2) == VB_OK);
            e = max_abs(wav2, ref, n_wav);
            double se = 0, sr = 0;
            for (size_t i = 0; i < n_wav; i++) {
                se += ((double)wav2[i] - ref[i]) * ((double)wav2[i] - ref[i]);
                sr += (double)ref[i] * ref[i];
            }
            fprintf(
                stderr,
                "  wav with bf16 convolutions (%s): max abs err %.3g, signal to error %.1f dB\n",
                nn_gemm_amx_available() ? "AMX" : "no AMX: F32", e,
                10.0 * log10(sr / fmax(se, 1e-30)));
            CHECK(e <= (nn_gemm_amx_available() ? 1e-2 : 6e-6));
            cb_hift_free(mb);
        }
    }
    cb_hift_work_free(w);
    vb_free(mel);
    vb_free(src);
    vb_free(ref);
    vb_free(ref_tf);
    vb_free(fade);
    vb_free(wav);
    vb_free(wav2);
}

TEST(test_ref_chunked_decode)
{
    /* Pieces of 16 frames with the computed context give exactly the one-piece samples; too
     * little context does not (the test can fail). */
    size_t n_mel, n_src;
    float *mel = io_get("mel", &n_mel), *src = io_get("source", &n_src);
    int F = (int)(n_mel / 80);
    float *a = vb_xmalloc(n_src * sizeof *a), *b = vb_xmalloc(n_src * sizeof *b);
    struct cb_hift_work *w = cb_hift_work_new();
    CHECK(cb_hift_decode(g_model, w, g_pool, mel, F, src, a) == VB_OK);
    int ctx = cb_hift_params_of(g_model)->context_frames;
    fprintf(stderr, "  receptive field (context): %d frames each side\n", ctx);
    CHECK(ctx >= 10 && ctx <= 40);
    for (int pass = 0; pass < 2; pass++) {
        struct cb_hift_params p = cb_hift_default_params();
        p.chunk_frames = 16;
        p.context_frames = pass == 0 ? 0 : 2;
        struct cb_hift *m = NULL;
        char why[256];
        CHECK_MSG(cb_hift_load(g_w, "mel2wav.", &p, &m, why, sizeof why) == VB_OK, "%s", why);
        if (!m)
            continue;
        CHECK(cb_hift_decode(m, w, g_pool, mel, F, src, b) == VB_OK);
        double e = max_abs(a, b, n_src);
        fprintf(stderr, "  chunked decode (16-frame pieces, context %d): max abs diff %.3g\n",
                cb_hift_params_of(m)->context_frames, e);
        if (pass == 0)
            CHECK(memcmp(a, b, n_src * sizeof *a) == 0);
        else
            CHECK(e > 1e-6);
        cb_hift_free(m);
    }
    cb_hift_work_free(w);
    vb_free(mel);
    vb_free(src);
    vb_free(a);
    vb_free(b);
}

TEST(test_ref_end_to_end)
{
    /* Whole chain (f0 -> own draws -> decode): deterministic per seed, bounded, and the
     * voiced/unvoiced structure stays; values differ from the reference only by the draws. */
    size_t n_mel;
    float *mel = io_get("mel", &n_mel);
    int F = (int)(n_mel / 80);
    size_t n = (size_t)F * 480;
    float *a = vb_xmalloc(n * sizeof *a), *b = vb_xmalloc(n * sizeof *b);
    struct cb_hift_work *w = cb_hift_work_new();
    float *sa = vb_xmalloc(n * sizeof *sa), *sb = vb_xmalloc(n * sizeof *sb);
    CHECK(cb_hift_synthesize(g_model, w, g_pool, mel, F, 42, NULL, 0, a, sa) == VB_OK);
    CHECK(cb_hift_synthesize(g_model, w, g_pool, mel, F, 42, NULL, 0, b, NULL) == VB_OK);
    CHECK(memcmp(a, b, n * sizeof *a) == 0);
    CHECK(cb_hift_synthesize(g_model, w, g_pool, mel, F, 43, NULL, 0, b, sb) == VB_OK);
    CHECK(memcmp(a, b, n * sizeof *a) != 0);
    CHECK(max_abs_of(a, n) <= 0.99 + 1e-7);
    CHECK(max_abs_of(a, n) > 1e-3);
    /* drawn source: same with one thread or two */
    {
        float f0[200];
        CHECK(F <= 200 && cb_hift_f0(g_model, w, g_pool, mel, F, f0) == VB_OK);
        struct cb_hift_draws d = {.seed = 42};
        float *s1 = vb_xmalloc(n * sizeof *s1);
        CHECK(cb_hift_source(g_model, NULL, f0, F, &d, s1) == VB_OK);
        CHECK(memcmp(sa, s1, n * sizeof *sa) == 0);
        vb_free(s1);
    }
    /* the source it reports is the one decode used */
    float *c = vb_xmalloc(n * sizeof *c);
    CHECK(cb_hift_decode(g_model, w, g_pool, mel, F, sa, c) == VB_OK);
    CHECK(memcmp(a, c, n * sizeof *a) == 0);
    /* cache_source: seed 43 with seed 42's first 9600 source samples = decode of the spliced
     * source */
    memcpy(sb, sa, 9600 * sizeof *sb);
    CHECK(cb_hift_synthesize(g_model, w, g_pool, mel, F, 43, sa, 9600, b, NULL) == VB_OK);
    CHECK(cb_hift_decode(g_model, w, g_pool, mel, F, sb, c) == VB_OK);
    CHECK(memcmp(b, c, n * sizeof *b) == 0);
    CHECK(cb_hift_synthesize(g_model, w, g_pool, mel, F, 43, NULL, 5, b, NULL) == VB_ERR_INVALID);
    vb_free(sa);
    vb_free(sb);
    vb_free(c);
    cb_hift_work_free(w);
    vb_free(mel);
    vb_free(a);
    vb_free(b);
}

/* Replaces every `from` in [s, s+n) by `to` into a new NUL-terminated string. */
static char *replace_all(const char *s, size_t n, const char *from, const char *to, size_t *out_n)
{
    size_t fl = strlen(from), tl = strlen(to), cnt = 0;
    for (size_t i = 0; i + fl <= n; i++)
        if (memcmp(s + i, from, fl) == 0)
            cnt++, i += fl - 1;
    char *r = vb_xmalloc(n + cnt * tl + 1), *o = r;
    for (size_t i = 0; i < n;) {
        if (i + fl <= n && memcmp(s + i, from, fl) == 0) {
            memcpy(o, to, tl);
            o += tl;
            i += fl;
        } else {
            *o++ = s[i++];
        }
    }
    *o = '\0';
    *out_n = (size_t)(o - r);
    return r;
}

TEST(test_ref_legacy_weight_norm_names)
{
    /* The same checkpoint with legacy weight_g / weight_v names loads to the same model. */
    char path[600];
    snprintf(path, sizeof path, "%s/weights.safetensors", g_dir);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    size_t len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *img = vb_xmalloc(len);
    CHECK(fread(img, 1, len, f) == len);
    fclose(f);
    uint64_t hl;
    memcpy(&hl, img, 8);
    size_t n1, n2;
    char *h1 = replace_all((const char *)img + 8, (size_t)hl, ".parametrizations.weight.original0",
                           ".weight_g", &n1);
    char *h2 = replace_all(h1, n1, ".parametrizations.weight.original1", ".weight_v", &n2);
    while (n2 % 8)
        h2[n2++] = ' '; /* the header only shrank: room to pad */
    size_t data = len - 8 - (size_t)hl, nlen = 8 + n2 + data;
    uint8_t *nimg = vb_xmalloc(nlen);
    uint64_t nhl = n2;
    memcpy(nimg, &nhl, 8);
    memcpy(nimg + 8, h2, n2);
    memcpy(nimg + 8 + n2, img + 8 + hl, data);
    struct nn_safetensors *st = NULL;
    struct cb_hift *m = NULL;
    char why[256];
    CHECK_MSG(nn_st_open_memory(nimg, nlen, &st, why, sizeof why) == VB_OK, "%s", why);
    CHECK(st && nn_st_find(st, "mel2wav.conv_pre.weight_g") != NULL);
    if (st)
        CHECK_MSG(cb_hift_load(st, "mel2wav.", NULL, &m, why, sizeof why) == VB_OK, "%s", why);
    if (m) {
        size_t n_mel, n_src;
        float *mel = io_get("mel", &n_mel), *src = io_get("source", &n_src);
        float *a = vb_xmalloc(n_src * sizeof *a), *b = vb_xmalloc(n_src * sizeof *b);
        struct cb_hift_work *w = cb_hift_work_new();
        int F = (int)(n_mel / 80);
        CHECK(cb_hift_decode(m, w, g_pool, mel, F, src, a) == VB_OK);
        CHECK(cb_hift_decode(g_model, w, g_pool, mel, F, src, b) == VB_OK);
        CHECK(memcmp(a, b, n_src * sizeof *a) == 0);
        cb_hift_work_free(w);
        vb_free(mel);
        vb_free(src);
        vb_free(a);
        vb_free(b);
    }
    cb_hift_free(m);
    nn_st_close(st);
    vb_free(h1);
    vb_free(h2);
    vb_free(img);
    vb_free(nimg);
}

TEST(test_ref_bad_input)
{
    struct cb_hift_work *w = cb_hift_work_new();
    float mel[80] = {0}, f0[1], wav[480];
    CHECK(cb_hift_f0(g_model, w, g_pool, mel, 0, f0) == VB_ERR_INVALID);
    CHECK(cb_hift_decode(g_model, w, g_pool, mel, -3, wav, wav) == VB_ERR_INVALID);
    /* a one-frame input works */
    float src[480] = {0};
    CHECK(cb_hift_decode(g_model, w, g_pool, mel, 1, src, wav) == VB_OK);
    cb_hift_work_free(w);

    /* wrong prefix: clear error naming the tensor */
    struct cb_hift *m = NULL;
    char why[256];
    CHECK(cb_hift_load(g_w, "flow.", NULL, &m, why, sizeof why) != VB_OK);
    CHECK(m == NULL);
    CHECK_MSG(strstr(why, "flow.") != NULL, "why: %s", why);
    /* shape mismatch: force a base_channels the file does not have */
    struct cb_hift_params p = cb_hift_default_params();
    p.base_channels = 512;
    CHECK(cb_hift_load(g_w, "mel2wav.", &p, &m, why, sizeof why) == VB_ERR_FORMAT);
    CHECK_MSG(strstr(why, "conv_pre") != NULL, "why: %s", why);
    /* invalid config */
    p = cb_hift_default_params();
    p.n_fft = 15;
    CHECK(cb_hift_load(g_w, "mel2wav.", &p, &m, why, sizeof why) == VB_ERR_INVALID);
}

/* ResBlock tensors (the load table's rows) missing or one channel too wide: refused with
 * VB_ERR_FORMAT and a reason naming the tensor. */
TEST(test_ref_broken_resblock_tensors)
{
    static const struct {
        const char *victim, *named;
    } cases[] = {
        {"mel2wav.resblocks.1.activations2.2.alpha", "mel2wav.resblocks.1.activations2.2.alpha"},
        {"mel2wav.source_resblocks.0.convs1.1.parametrizations.weight.original1",
         "mel2wav.source_resblocks.0.convs1.1.parametrizations.weight.original"},
        {"mel2wav.resblocks.4.convs2.0.bias", "mel2wav.resblocks.4.convs2.0.bias"},
    };
    for (size_t c = 0; c < VB_ARRAY_LEN(cases); c++) {
        size_t victim = tensor_index(g_w, cases[c].victim);
        CHECK_MSG(victim < nn_st_count(g_w), "%s not in the checkpoint", cases[c].victim);
        for (int mode = 0; mode < 2 && victim < nn_st_count(g_w); mode++) {
            struct vb_buf buf;
            char why[256] = "";
            struct cb_hift *m = NULL;
            struct nn_safetensors *st = open_mutant(g_w, victim, mode, &buf);
            CHECK(st != NULL);
            if (st)
                CHECK(cb_hift_load(st, "mel2wav.", NULL, &m, why, sizeof why) == VB_ERR_FORMAT);
            CHECK(m == NULL);
            CHECK_MSG(strstr(why, cases[c].named) != NULL, "%s mode %d: %s", cases[c].victim, mode,
                      why);
            nn_st_close(st);
            vb_buf_release(&buf);
        }
    }
}

/* The kernels again in a child per lower instruction set (NN_ISA is read once per process). */
TEST(test_kernels_other_isas)
{
    const char *isas[] = {"avx2", "generic"};
    for (size_t i = 0; i < VB_ARRAY_LEN(isas); i++) {
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "NN_ISA=%s '%s' --kernels-only >/dev/null 2>&1", isas[i], g_self);
        int rc = system(cmd);
        CHECK_MSG(rc == 0, "kernels under NN_ISA=%s: exit %d", isas[i], rc);
    }
}

int main(int argc, char **argv)
{
    bool kernels_only = argc > 1 && strcmp(argv[1], "--kernels-only") == 0;
    snprintf(g_self, sizeof g_self, "%s", argv[0]);
    if (nn_pool_new(2, &g_pool) != VB_OK)
        return 1;
    RUN(test_snake_matches_libm);
    RUN(test_activations_basic);
    RUN(test_conv_tiled_matches_reference);
    RUN(test_conv_bf16);
    RUN(test_convt_and_strided);
    if (kernels_only) {
        nn_pool_free(g_pool);
        return test_summary();
    }
    if (strchr(g_self, '\'') == NULL)
        RUN(test_kernels_other_isas);
    if (ref_open()) {
        RUN(test_ref_load);
        if (g_model) {
            RUN(test_ref_f0);
            RUN(test_ref_source_and_stft);
            RUN(test_ref_wav);
            RUN(test_ref_chunked_decode);
            RUN(test_ref_end_to_end);
            RUN(test_ref_legacy_weight_norm_names);
            RUN(test_ref_bad_input);
            RUN(test_ref_broken_resblock_tensors);
        }
        cb_hift_free(g_model);
        nn_st_close(g_w);
        nn_st_close(g_io);
    }
    nn_pool_free(g_pool);
    return test_summary();
}
