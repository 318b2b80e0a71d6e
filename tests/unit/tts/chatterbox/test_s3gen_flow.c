/* test_s3gen_flow.c: S3Gen flow (encoder, meanflow estimator, 2-step Euler) against the
 * PyTorch reference vectors (chatterbox-ref/s3gen_flow: spks, encoder_out, mu, both
 * estimator steps' dxdt, final mel), plus input and loader errors. */
#include "core/vb.h"

#include <stdlib.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "nn/safetensors_write.h"
#include "nn/safetensors.h"
#include "nn/ops.h"
#include "nn/threadpool.h"
#include "tts/chatterbox/s3_ops.h"
#include "tts/chatterbox/s3gen_flow.h"
#include "unit/test.h"
#include "unit/tts/chatterbox/checkpoint_mutants.h"
#include "unit/tts/chatterbox/refcase.h"

static bool ref_dir(void)
{
    return ref_case("s3gen_flow");
}

/* Whole tensor as f32 (caller frees), checking the element count. */
static float *get_f32(struct nn_safetensors *st, const char *name, int64_t want)
{
    const struct nn_st_tensor *t = nn_st_find(st, name);
    if (!t || nn_st_numel(t) != want) {
        fprintf(stderr, "  io tensor %s missing or wrong size\n", name);
        return NULL;
    }
    float *p = vb_xmalloc((size_t)want * sizeof *p);
    if (nn_st_to_f32(t, p, (size_t)want) != VB_OK) {
        vb_free(p);
        return NULL;
    }
    return p;
}

static double max_abs(const float *a, const float *b, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m))
            m = isnan(d) ? INFINITY : d;
    }
    return m;
}

static double max_abs_ref(const float *a, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++)
        m = VB_MAX(m, fabs((double)a[i]));
    return m;
}

enum { P = 20, N = 30, T = 100, TP = 40, D = 512, M = 80 };

static struct cb_flow *load_ref(struct nn_safetensors *w, int mode)
{
    struct cb_flow_config cfg;
    cb_flow_default_config(&cfg);
    cfg.est_heads = 2; /* the reference's shrunk estimator: 2 heads x 32 */
    cfg.weights_f16 = mode == 1;
    cfg.weights_bf16 = mode == 2;
    struct cb_flow *f = NULL;
    char why[256];
    enum vb_err err = cb_flow_load(w, "flow.", &cfg, &f, why, sizeof why);
    CHECK_MSG(err == VB_OK, "%s", why);
    return f;
}

static void report(const char *name, const float *got, const float *ref, int64_t n, double tol)
{
    double e = max_abs(got, ref, n);
    fprintf(stderr, "  %-12s max abs err %.3g (max |ref| %.3g, tol %g)\n", name, e,
            max_abs_ref(ref, n), tol);
    CHECK_MSG(e <= tol, "%s: %g > %g", name, e, tol);
}

/* mode 0: f32 weights, 1: binary16 weights, 2: bf16 on AMX (binary16 without AMX) */
static void run_reference(int n_threads, int mode)
{
    const bool f16 = mode != 0;
    /* binary16 weights (2^-11 relative rounding of every weight) get looser tolerances.
     * f32, measured (worst of generic, avx2, avx512): spks 3.0e-8, encoder_out 5.3e-6, mu
     * 3.8e-6, dxdt and mel 4.8e-7; f16: 2.0e-3, 1.3e-3, 2.9e-4. (The conformer LayerNorm eps
     * is below what these can see: test_conformer_layernorm_scale.) */
    const double t_spk = f16 ? 1e-4 : 3e-7,
                 t_enc = mode == 2 ? 5e-2
                         : f16     ? 5e-3
                                   : 3e-5,
                 t_dx = mode == 2 ? 1e-2
                        : f16     ? 2e-3
                                  : 3e-6;
    struct nn_safetensors *w = open_st("weights.safetensors"), *io = open_st("io.safetensors");
    struct cb_flow *f = NULL;
    struct cb_flow_state *s = NULL;
    struct nn_pool *pool = NULL;
    float *emb = NULL, *pf = NULL, *z = NULL, *spks_ref = NULL, *enc_ref = NULL, *mu_ref = NULL;
    float *x0 = NULL, *x1 = NULL, *d0_ref = NULL, *d1_ref = NULL, *mel_ref = NULL, *cond = NULL;
    float *t0 = NULL, *r0 = NULL, *t1 = NULL, *r1 = NULL;
    CHECK(w && io);
    if (!w || !io)
        goto done;
    f = load_ref(w, mode);
    if (!f)
        goto done;
    struct cb_flow_info info;
    cb_flow_get_info(f, &info);
    CHECK_EQ_INT(info.d_model, 512);
    CHECK_EQ_INT(info.enc_heads, 8);
    CHECK_EQ_INT(info.enc_ffn, 256);
    CHECK_EQ_INT(info.n_enc, 1);
    CHECK_EQ_INT(info.n_up, 4);
    CHECK_EQ_INT(info.est_ch, 64);
    CHECK_EQ_INT(info.est_inner, 64);
    CHECK_EQ_INT(info.est_blocks, 1);
    CHECK_EQ_INT(info.est_mid, 2);
    CHECK_EQ_INT(info.time_dim, 256);
    CHECK(info.meanflow);
    if (n_threads > 1)
        CHECK(nn_pool_new(n_threads, &pool) == VB_OK);
    CHECK(cb_flow_state_new(f, pool, &s) == VB_OK);

    int64_t ptok[P], stok[N];
    CHECK(nn_st_to_i64(nn_st_find(io, "prompt_token"), ptok, P) == VB_OK);
    CHECK(nn_st_to_i64(nn_st_find(io, "speech_tokens"), stok, N) == VB_OK);
    emb = get_f32(io, "embedding", 192);
    pf = get_f32(io, "prompt_feat", TP * M);
    z = get_f32(io, "z_full", M * T);
    spks_ref = get_f32(io, "spks", M);
    enc_ref = get_f32(io, "encoder_out", T * D);
    mu_ref = get_f32(io, "mu", M * T);
    cond = get_f32(io, "cond", M * T);
    x0 = get_f32(io, "step0.x", M * T);
    x1 = get_f32(io, "step1.x", M * T);
    d0_ref = get_f32(io, "step0.dxdt", M * T);
    d1_ref = get_f32(io, "step1.dxdt", M * T);
    mel_ref = get_f32(io, "mel", M * (T - TP));
    t0 = get_f32(io, "step0.t", 1);
    r0 = get_f32(io, "step0.r", 1);
    t1 = get_f32(io, "step1.t", 1);
    r1 = get_f32(io, "step1.r", 1);
    if (!emb || !pf || !z || !spks_ref || !enc_ref || !mu_ref || !cond || !x0 || !x1 || !d0_ref ||
        !d1_ref || !mel_ref || !t0 || !r0 || !t1 || !r1 || !s) {
        CHECK(!"reference tensors");
        goto done;
    }
    CHECK(max_abs(z, x0, M * T) == 0); /* the solver starts from z_full */

    /* full pipeline with intermediates */
    struct cb_flow_input in = {
        .prompt_tokens = ptok,
        .n_prompt = P,
        .tokens = stok,
        .n_tokens = N,
        .prompt_feat = pf,
        .n_prompt_feat = TP,
        .xvec = emb,
        .noise = z,
        .n_steps = 2,
        .finalize = true,
    };
    CHECK_EQ_INT(cb_flow_total_frames(&in), T);
    CHECK_EQ_INT(cb_flow_out_frames(&in), T - TP);
    float *spks = vb_xmalloc(M * sizeof *spks), *enc = vb_xmalloc((size_t)T * D * sizeof *enc);
    float *mu = vb_xmalloc((size_t)M * T * sizeof *mu), *mel = vb_xmalloc((size_t)M * (T - TP) * 4);
    float *d0 = vb_xmalloc((size_t)M * T * 4), *d1 = vb_xmalloc((size_t)M * T * 4);
    struct cb_flow_debug dbg = {.spks = spks, .encoder_out = enc, .mu = mu, .dxdt = {d0, d1}};
    fprintf(stderr, "  [%d thr%s]\n", n_threads,
            mode == 2 ? ", bf16/AMX"
            : f16     ? ", f16 weights"
                      : "");
    enum vb_err err = cb_flow_inference(f, s, &in, mel, &dbg);
    CHECK_EQ_INT(err, VB_OK);
    if (err == VB_OK) {
        report("spks", spks, spks_ref, M, t_spk);
        report("encoder_out", enc, enc_ref, (int64_t)T * D, t_enc);
        report("mu", mu, mu_ref, (int64_t)M * T, t_enc);
        report("step0.dxdt", d0, d0_ref, (int64_t)M * T, t_dx);
        report("step1.dxdt", d1, d1_ref, (int64_t)M * T, t_dx);
        report("mel", mel, mel_ref, (int64_t)M * (T - TP), t_dx);
    }
    /* each estimator step alone from the reference's own inputs */
    err = cb_flow_estimate(f, s, x0, mu_ref, spks_ref, cond, T, t0[0], r0[0], d0);
    CHECK_EQ_INT(err, VB_OK);
    report("est(step0)", d0, d0_ref, (int64_t)M * T, t_dx);
    err = cb_flow_estimate(f, s, x1, mu_ref, spks_ref, cond, T, t1[0], r1[0], d1);
    CHECK_EQ_INT(err, VB_OK);
    report("est(step1)", d1, d1_ref, (int64_t)M * T, t_dx);
    /* encoder alone */
    int64_t all[P + N];
    memcpy(all, ptok, sizeof ptok);
    memcpy(all + P, stok, sizeof stok);
    err = cb_flow_encode(f, s, all, P + N, mu, NULL);
    CHECK_EQ_INT(err, VB_OK);
    report("encode mu", mu, mu_ref, (int64_t)M * T, t_enc);

    /* streaming (finalize=false): 6 fewer frames, same prefix region of the encoder */
    in.finalize = false;
    CHECK_EQ_INT(cb_flow_total_frames(&in), T - 6);
    err = cb_flow_inference(f, s, &in, mel, NULL);
    CHECK_EQ_INT(err, VB_OK);

    /* input errors */
    in.finalize = true;
    int64_t bad = stok[3];
    stok[3] = 6561;
    CHECK_EQ_INT(cb_flow_inference(f, s, &in, mel, NULL), VB_ERR_INVALID);
    stok[3] = -1;
    CHECK_EQ_INT(cb_flow_inference(f, s, &in, mel, NULL), VB_ERR_INVALID);
    stok[3] = bad;
    in.n_prompt_feat = T;
    CHECK_EQ_INT(cb_flow_inference(f, s, &in, mel, NULL), VB_ERR_INVALID);
    in.n_prompt_feat = TP;
    in.noise = NULL;
    CHECK_EQ_INT(cb_flow_inference(f, s, &in, mel, NULL), VB_ERR_INVALID);
    CHECK_EQ_INT(cb_flow_encode(f, s, all, 0, mu, NULL), VB_ERR_INVALID);
    CHECK_EQ_INT(cb_flow_estimate(f, s, x0, mu_ref, spks_ref, cond, 0, 0, 1, d0), VB_ERR_INVALID);

    vb_free(spks);
    vb_free(enc);
    vb_free(mu);
    vb_free(mel);
    vb_free(d0);
    vb_free(d1);
done:
    vb_free(emb);
    vb_free(pf);
    vb_free(z);
    vb_free(spks_ref);
    vb_free(enc_ref);
    vb_free(mu_ref);
    vb_free(cond);
    vb_free(x0);
    vb_free(x1);
    vb_free(d0_ref);
    vb_free(d1_ref);
    vb_free(mel_ref);
    vb_free(t0);
    vb_free(r0);
    vb_free(t1);
    vb_free(r1);
    cb_flow_state_free(s);
    cb_flow_free(f);
    nn_pool_free(pool);
    nn_st_close(w);
    nn_st_close(io);
}

TEST(test_reference_1thread)
{
    run_reference(1, 0);
}

TEST(test_reference_2threads)
{
    run_reference(2, 0);
}

TEST(test_reference_f16)
{
    run_reference(2, 1);
}

TEST(test_reference_bf16)
{
    run_reference(2, 2);
}

/* Factor applied to a tensor by test_conformer_layernorm_scale: the encoder's residual
 * stream up to up_embed scaled by 2^-10, up_embed's linear by 2^10 to undo it. */
static float conformer_scale(const char *name)
{
    static const char *const down[] = {
        "flow.encoder.embed.out.1.weight",
        "flow.encoder.embed.out.1.bias",
        "flow.encoder.pre_lookahead_layer.conv1.bias",
        "flow.encoder.pre_lookahead_layer.conv2.bias",
        "flow.encoder.up_layer.conv.bias",
    };
    for (size_t i = 0; i < VB_ARRAY_LEN(down); i++)
        if (strcmp(name, down[i]) == 0)
            return 0x1p-10f;
    if (strncmp(name, "flow.encoder.encoders.", 22) == 0 &&
        (strstr(name, ".self_attn.linear_out.") || strstr(name, ".feed_forward.w_2.")))
        return 0x1p-10f;
    return strcmp(name, "flow.encoder.up_embed.out.0.weight") == 0 ? 0x1p10f : 1.0f;
}

/* The conformer layers' LayerNorms have eps 1e-12 (ESPnet's), so they are scale-invariant.
 * Scaling the residual stream of the first encoder stage by 2^-10 (the embed LayerNorm's
 * affine, the attention and feed-forward output projections, the pre-lookahead and upsampling
 * conv biases; leaky ReLU is homogeneous) and up_embed's linear by 2^10 scales every value of
 * that stage exactly, so mu must not move. With eps 1e-5 the LayerNorms would see a variance of
 * ~3e-6 and mu would move by O(1). (At the reference's own scale, variance ~3.5, that eps
 * shifts encoder_out by only 1.4e-6 rms.) */
TEST(test_conformer_layernorm_scale)
{
    struct nn_safetensors *w = open_st("weights.safetensors"), *io = open_st("io.safetensors");
    struct nn_safetensors *ws = NULL;
    struct nn_st_writer *wr = NULL;
    struct vb_buf img = {0};
    const size_t count = w ? nn_st_count(w) : 0;
    float **bufs = vb_xcalloc(count + 1, sizeof *bufs);
    CHECK(w && io && nn_st_writer_new(&wr) == VB_OK);
    int scaled = 0;
    for (size_t i = 0; wr && i < count; i++) {
        const struct nn_st_tensor *t = nn_st_at(w, i);
        const float k = conformer_scale(t->name);
        const void *data = t->data;
        enum nn_st_dtype dt = t->dtype;
        if (k != 1.0f) {
            const size_t n = (size_t)nn_st_numel(t);
            bufs[i] = vb_xmalloc(n * sizeof(float));
            CHECK(nn_st_to_f32(t, bufs[i], n) == VB_OK);
            for (size_t j = 0; j < n; j++)
                bufs[i][j] *= k;
            data = bufs[i];
            dt = NN_ST_F32;
            scaled++;
        }
        CHECK(nn_st_writer_add(wr, t->name, dt, t->n_dims, t->shape, data) == VB_OK);
    }
    CHECK_EQ_INT(scaled, 10); /* one conformer block in the reference's encoder */
    if (wr)
        ws = st_from_writer(wr, &img);
    CHECK(ws != NULL);
    struct cb_flow *fa = w ? load_ref(w, 0) : NULL, *fb = ws ? load_ref(ws, 0) : NULL;
    struct cb_flow_state *sa = NULL, *sb = NULL;
    int64_t all[P + N];
    float *mu_a = vb_xmalloc((size_t)M * T * sizeof *mu_a), *mu_b = vb_xmalloc((size_t)M * T * 4);
    if (fa && fb && io && cb_flow_state_new(fa, NULL, &sa) == VB_OK &&
        cb_flow_state_new(fb, NULL, &sb) == VB_OK &&
        nn_st_to_i64(nn_st_find(io, "prompt_token"), all, P) == VB_OK &&
        nn_st_to_i64(nn_st_find(io, "speech_tokens"), all + P, N) == VB_OK) {
        CHECK(cb_flow_encode(fa, sa, all, P + N, mu_a, NULL) == VB_OK);
        CHECK(cb_flow_encode(fb, sb, all, P + N, mu_b, NULL) == VB_OK);
        const double e = max_abs(mu_a, mu_b, (int64_t)M * T), mx = max_abs_ref(mu_a, M * T);
        fprintf(stderr,
                "  stream scaled by 2^-10 through the conformer block: mu moves by %.3g "
                "(max |mu| %.3g)\n",
                e, mx);
        CHECK(mx > 0.5 && e <= 1e-5 * mx); /* measured 1.2e-6 * mx at every ISA level */
    } else
        CHECK(!"flow states and tokens");
    cb_flow_state_free(sa);
    cb_flow_state_free(sb);
    cb_flow_free(fa);
    cb_flow_free(fb);
    vb_free(mu_a);
    vb_free(mu_b);
    for (size_t i = 0; i < count; i++)
        vb_free(bufs[i]);
    vb_free(bufs);
    nn_st_close(ws);
    nn_st_writer_free(wr);
    vb_buf_release(&img);
    nn_st_close(w);
    nn_st_close(io);
}

TEST(test_load_errors)
{
    struct nn_safetensors *w = open_st("weights.safetensors");
    CHECK(w != NULL);
    if (!w)
        return;
    struct cb_flow *f = NULL;
    char why[256];
    /* wrong prefix */
    enum vb_err err = cb_flow_load(w, "mel2wav.", NULL, &f, why, sizeof why);
    CHECK_EQ_INT(err, VB_ERR_FORMAT);
    CHECK(f == NULL);
    CHECK(strstr(why, "mel2wav.input_embedding.weight") != NULL);
    fprintf(stderr, "  (expected) %s\n", why);
    /* a head count that does not divide the estimator's attention width */
    struct cb_flow_config cfg = {.est_heads = 3};
    err = cb_flow_load(w, "flow.", &cfg, &f, why, sizeof why);
    CHECK_EQ_INT(err, VB_ERR_FORMAT);
    CHECK(f == NULL);
    fprintf(stderr, "  (expected) %s\n", why);
    nn_st_close(w);
}

/* ---- random checkpoints (make-random) ---- */

static const struct cb_flow_shape k_tiny = {.d_model = 64,
                                            .enc_heads = 2,
                                            .enc_ffn = 96,
                                            .n_enc = 1,
                                            .n_up = 2,
                                            .est_ch = 32,
                                            .est_heads = 2,
                                            .est_head_dim = 16,
                                            .est_blocks = 1,
                                            .est_mid = 2};

static struct cb_flow *load_tiny(struct nn_safetensors *st, char *why, size_t cap, enum vb_err *err)
{
    struct cb_flow_config cfg;
    cb_flow_default_config(&cfg);
    cfg.est_heads = k_tiny.est_heads;
    struct cb_flow *f = NULL;
    *err = cb_flow_load(st, "flow.", &cfg, &f, why, cap);
    return f;
}

TEST(test_random_checkpoint)
{
    struct nn_st_writer *w = NULL;
    CHECK(nn_st_writer_new(&w) == VB_OK);
    struct cb_flow_shape real = cb_flow_real_shape();
    CHECK(cb_flow_add_random(w, "flow.", &real, 1) == VB_OK);
    CHECK_EQ_INT(nn_st_writer_count(w), 1122); /* the published count for flow.* */
    nn_st_writer_free(w);

    CHECK(nn_st_writer_new(&w) == VB_OK);
    CHECK(cb_flow_add_random(w, "flow.", &k_tiny, 5) == VB_OK);
    struct vb_buf buf;
    struct nn_safetensors *st = st_from_writer(w, &buf);
    CHECK(st != NULL);
    char why[256] = "";
    enum vb_err err = VB_ERR_INTERNAL;
    struct cb_flow *f = st ? load_tiny(st, why, sizeof why, &err) : NULL;
    CHECK_MSG(err == VB_OK, "%s", why);
    struct cb_flow_state *s = NULL;
    if (f) {
        struct cb_flow_info info;
        cb_flow_get_info(f, &info);
        CHECK_EQ_INT(info.n_enc, 1);
        CHECK_EQ_INT(info.n_up, 2);
        CHECK_EQ_INT(info.est_mid, 2);
        CHECK_EQ_INT(info.time_dim, 128);
        CHECK(cb_flow_state_new(f, NULL, &s) == VB_OK);
        int64_t pt[6] = {1, 2, 3, 4, 5, 6}, tk[9] = {7, 8, 9, 10, 11, 4299, 4299, 4299, 6560};
        float pf[12 * 80], x[192], *z = vb_xmalloc(80 * 30 * sizeof *z);
        float *m1 = vb_xmalloc(80 * 18 * sizeof *m1), *m2 = vb_xmalloc(80 * 18 * sizeof *m2);
        for (int i = 0; i < 12 * 80; i++)
            pf[i] = -4.0f + 0.01f * (float)(i % 97);
        for (int i = 0; i < 192; i++)
            x[i] = cosf((float)i);
        cb_flow_noise(z, 80 * 30, 11);
        struct cb_flow_input in = {.prompt_tokens = pt,
                                   .n_prompt = 6,
                                   .tokens = tk,
                                   .n_tokens = 9,
                                   .prompt_feat = pf,
                                   .n_prompt_feat = 12,
                                   .xvec = x,
                                   .noise = z,
                                   .finalize = true};
        CHECK_EQ_INT(cb_flow_out_frames(&in), 18);
        CHECK(cb_flow_inference(f, s, &in, m1, NULL) == VB_OK);
        CHECK(cb_flow_inference(f, s, &in, m2, NULL) == VB_OK);
        CHECK(memcmp(m1, m2, 80 * 18 * sizeof *m1) == 0); /* deterministic for given noise */
        bool finite = true;
        double mag = 0;
        for (int i = 0; i < 80 * 18; i++) {
            finite = finite && isfinite(m1[i]);
            mag += fabs(m1[i]);
        }
        CHECK(finite && mag > 0);
        vb_free(z);
        vb_free(m1);
        vb_free(m2);
    }
    cb_flow_state_free(s);
    cb_flow_free(f);
    nn_st_close(st);
    vb_buf_release(&buf);
    nn_st_writer_free(w);
}

/* Every tensor of a valid checkpoint missing or with a wrong shape: VB_ERR_FORMAT with a
 * reason (the missing tensor's name), never a crash. */
static enum vb_err load_mutant(struct nn_safetensors *st, char *why, size_t cap)
{
    enum vb_err err = VB_ERR_INTERNAL;
    cb_flow_free(load_tiny(st, why, cap, &err));
    return err;
}

/* the time mixer is optional (a non-meanflow checkpoint has none) */
static bool optional_tensor(const char *name)
{
    return strstr(name, "time_embed_mixer") != NULL;
}

TEST(test_mutated_checkpoints)
{
    struct nn_st_writer *w = NULL;
    CHECK(nn_st_writer_new(&w) == VB_OK);
    CHECK(cb_flow_add_random(w, "flow.", &k_tiny, 3) == VB_OK);
    struct vb_buf buf;
    struct nn_safetensors *good = st_from_writer(w, &buf);
    nn_st_writer_free(w);
    CHECK(good != NULL);
    if (!good)
        return;
    CHECK_EQ_INT(check_mutants(good, load_mutant, optional_tensor), 0);
    nn_st_close(good);
    vb_buf_release(&buf);
}

TEST(test_noise)
{
    float a[4096], b[4096];
    cb_flow_noise(a, 4096, 42);
    cb_flow_noise(b, 4096, 42);
    CHECK(memcmp(a, b, sizeof a) == 0);
    cb_flow_noise(b, 4096, 43);
    CHECK(memcmp(a, b, sizeof a) != 0);
    double m = 0, v = 0;
    for (int i = 0; i < 4096; i++)
        m += a[i];
    m /= 4096;
    for (int i = 0; i < 4096; i++)
        v += (a[i] - m) * (a[i] - m);
    v /= 4095;
    CHECK_NEAR(m, 0, 0.06); /* 4 sigma for n = 4096 */
    CHECK_NEAR(v, 1, 0.1);
}

/* The vectorised activations of s3_act_rows (GELU erf form, Mish) against their plain C
 * definitions over every tail length, saturated inputs included. */
TEST(test_activations)
{
    struct nn_pool *pool = NULL;
    CHECK(nn_pool_new(2, &pool) == VB_OK);
    struct s3_ctx ctx = {.pool = pool};
    uint32_t r = 5;
    for (int rows = 1; rows <= 3; rows++)
        for (int cols = 1; cols < 40; cols += 3) {
            const int n = rows * cols * 40; /* some calls split over the pool */
            float *x = vb_xmalloc((size_t)n * sizeof *x), *a = vb_xmalloc((size_t)n * sizeof *a);
            float *b = vb_xmalloc((size_t)n * sizeof *b);
            for (int i = 0; i < n; i++) {
                r = r * 1664525u + 1013904223u;
                x[i] = ((float)((r >> 8) & 0xffff) / 32768.0f - 1.0f) * (i % 9 == 0 ? 40.0f : 6.0f);
            }
            double eg = 0, em = 0;
            memcpy(a, x, (size_t)n * sizeof *x);
            memcpy(b, x, (size_t)n * sizeof *x);
            s3_act_rows(&ctx, a, rows * 40, cols, S3_ACT_GELU_ERF);
            nn_gelu_erf(b, n);
            for (int i = 0; i < n; i++)
                eg = fmax(eg, fabs((double)a[i] - b[i]) / fmax(1.0, fabs((double)b[i])));
            memcpy(a, x, (size_t)n * sizeof *x);
            memcpy(b, x, (size_t)n * sizeof *x);
            s3_act_rows(&ctx, a, rows * 40, cols, S3_ACT_MISH);
            s3_mish_ref(b, n);
            for (int i = 0; i < n; i++)
                em = fmax(em, fabs((double)a[i] - b[i]) / fmax(1.0, fabs((double)b[i])));
            CHECK_MSG(eg < 1e-6 && em < 1e-6, "%dx%d: gelu err %g, mish err %g", rows * 40, cols,
                      eg, em);
            vb_free(x);
            vb_free(a);
            vb_free(b);
        }
    s3_ctx_release(&ctx);
    nn_pool_free(pool);
}

int main(void)
{
    RUN(test_noise);
    RUN(test_activations);
    RUN(test_random_checkpoint);
    RUN(test_mutated_checkpoints);
    if (!ref_dir()) {
        SKIP_MISSING_DATA(test_s3gen_flow_reference,
                          "chatterbox-ref/s3gen_flow not found (VOCERO_REFDATA)");
        return test_summary();
    }
    RUN(test_reference_1thread);
    RUN(test_reference_2threads);
    RUN(test_reference_f16);
    RUN(test_reference_bf16);
    RUN(test_conformer_layernorm_scale);
    RUN(test_load_errors);
    return test_summary();
}
