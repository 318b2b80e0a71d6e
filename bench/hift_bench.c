/* hift_bench.c: HiFT vocoder speed at the real size (base_channels 512, F0 predictor 512) on
 * random weights, built in memory in the official tensor layout (mel2wav.* with weight-norm
 * parametrizations) and loaded through the real loader. Times F0, source, decode.
 *   hift_bench [--seconds S] [--threads N] [--reps R] [--base C] [--bf16 0|1]
 * --bf16 1: resblock convolutions in BF16 on AMX (cb_hift_params.bf16); prints the largest
 * sample difference to the F32 model on the same input. */
#include "core/vb.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "nn/safetensors.h"
#include "nn/threadpool.h"
#include "tts/chatterbox/hift.h"

#include <math.h>
#include <sys/resource.h>
#include <time.h>

struct spec {
    char name[160];
    int n_dims;
    int64_t shape[3];
    int kind; /* 0 plain, 1 wn g, 2 wn v, 3 alpha, 4 bias */
};

static struct spec *g_specs;
static size_t g_n, g_cap;

static void add(const char *name, int kind, int n_dims, int64_t a, int64_t b, int64_t c)
{
    if (g_n == g_cap) {
        g_cap = g_cap ? 2 * g_cap : 256;
        g_specs = vb_xrealloc(g_specs, g_cap * sizeof *g_specs);
    }
    struct spec *s = &g_specs[g_n++];
    snprintf(s->name, sizeof s->name, "mel2wav.%s", name);
    s->kind = kind;
    s->n_dims = n_dims;
    s->shape[0] = a;
    s->shape[1] = b;
    s->shape[2] = c;
}

static void add_wn(const char *mod, int64_t o, int64_t i, int64_t k, int64_t n_bias)
{
    char n[160];
    snprintf(n, sizeof n, "%s.parametrizations.weight.original0", mod);
    add(n, 1, 3, o, 1, 1);
    snprintf(n, sizeof n, "%s.parametrizations.weight.original1", mod);
    add(n, 2, 3, o, i, k);
    snprintf(n, sizeof n, "%s.bias", mod);
    add(n, 4, 1, n_bias, 0, 0);
}

static void add_resblock(const char *mod, int64_t c, int k)
{
    char n[160];
    for (int j = 0; j < 3; j++) {
        snprintf(n, sizeof n, "%s.convs1.%d", mod, j);
        add_wn(n, c, c, k, c);
        snprintf(n, sizeof n, "%s.convs2.%d", mod, j);
        add_wn(n, c, c, k, c);
        snprintf(n, sizeof n, "%s.activations1.%d.alpha", mod, j);
        add(n, 3, 1, c, 0, 0);
        snprintf(n, sizeof n, "%s.activations2.%d.alpha", mod, j);
        add(n, 3, 1, c, 0, 0);
    }
}

static void build_specs(int base, int f0c)
{
    char n[160];
    for (int i = 0; i < 5; i++) {
        snprintf(n, sizeof n, "f0_predictor.condnet.%d", 2 * i);
        add_wn(n, f0c, i ? f0c : 80, 3, f0c);
    }
    add("f0_predictor.classifier.weight", 0, 2, 1, f0c, 0);
    add("f0_predictor.classifier.bias", 4, 1, 1, 0, 0);
    add("m_source.l_linear.weight", 0, 2, 1, 9, 0);
    add("m_source.l_linear.bias", 4, 1, 1, 0, 0);
    add_wn("conv_pre", base, 80, 7, base);
    const int ks[3] = {16, 11, 7}, dk[3] = {30, 6, 1}, sk[3] = {7, 7, 11}, rk[3] = {3, 7, 11};
    for (int i = 0; i < 3; i++) {
        int cin = base >> i, cout = base >> (i + 1);
        snprintf(n, sizeof n, "ups.%d", i);
        add_wn(n, cin, cout, ks[i], cout);
        snprintf(n, sizeof n, "source_downs.%d.weight", i);
        add(n, 0, 3, cout, 18, dk[i]);
        snprintf(n, sizeof n, "source_downs.%d.bias", i);
        add(n, 4, 1, cout, 0, 0);
        snprintf(n, sizeof n, "source_resblocks.%d", i);
        add_resblock(n, cout, sk[i]);
        for (int j = 0; j < 3; j++) {
            snprintf(n, sizeof n, "resblocks.%d", 3 * i + j);
            add_resblock(n, cout, rk[j]);
        }
    }
    add_wn("conv_post", 18, base >> 3, 7, 18);
}

static uint64_t g_rng = 88172645463325252ull;
static float frand(void) /* [-1, 1) */
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (float)((g_rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

/* Serialises the specs as a safetensors image with random values: v ~ U(-1,1), g = ||v|| *
 * U(0.5,1.5) / sqrt(fan_in) scaled so activations stay O(1), alphas U(0.5,1.5), biases small. */
static uint8_t *build_file(size_t *len)
{
    struct vb_buf hdr;
    vb_buf_init(&hdr, 64 << 20);
    size_t off = 0;
    bool ok = vb_buf_putc(&hdr, '{') == VB_OK;
    for (size_t i = 0; i < g_n; i++) {
        struct spec *s = &g_specs[i];
        size_t numel = 1;
        char sh[80];
        int p = 0;
        for (int d = 0; d < s->n_dims; d++) {
            numel *= (size_t)s->shape[d];
            p += snprintf(sh + p, sizeof sh - (size_t)p, "%s%lld", d ? "," : "",
                          (long long)s->shape[d]);
        }
        ok = ok && vb_buf_printf(&hdr,
                                 "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%s],"
                                 "\"data_offsets\":[%zu,%zu]}",
                                 i ? "," : "", s->name, sh, off, off + 4 * numel) == VB_OK;
        off += 4 * numel;
    }
    ok = ok && vb_buf_putc(&hdr, '}') == VB_OK;
    while (ok && hdr.len % 8)
        ok = vb_buf_putc(&hdr, ' ') == VB_OK;
    if (!ok) {
        fprintf(stderr, "header too large\n");
        exit(1);
    }
    *len = 8 + hdr.len + off;
    uint8_t *img = vb_xmalloc(*len);
    uint64_t hl = hdr.len;
    memcpy(img, &hl, 8);
    memcpy(img + 8, hdr.data, hdr.len);
    float *data = (float *)(img + 8 + hdr.len);
    size_t pos = 0;
    for (size_t i = 0; i < g_n; i++) {
        struct spec *s = &g_specs[i];
        size_t numel = 1;
        for (int d = 0; d < s->n_dims; d++)
            numel *= (size_t)s->shape[d];
        float *t = data + pos;
        for (size_t e = 0; e < numel; e++) {
            switch (s->kind) {
            case 1: { /* g: row norm of W = gain / sqrt(fan_in) * ||v||, applied via next v */
                int64_t fan = g_specs[i + 1].shape[1] * g_specs[i + 1].shape[2];
                t[e] = (0.5f + 0.5f * (frand() + 1.0f)) * (float)sqrt((double)fan / 3.0) /
                       (float)sqrt((double)fan);
                break;
            }
            case 3:
                t[e] = 1.0f + 0.5f * frand();
                break;
            case 4:
                t[e] = 0.01f * frand();
                break;
            default:
                t[e] = frand() / (float)sqrt((double)(s->n_dims > 1 ? s->shape[1] : 1) *
                                             (s->n_dims > 2 ? (double)s->shape[2] : 1.0));
            }
        }
        pos += numel;
    }
    vb_buf_release(&hdr);
    return img;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    double seconds = 4.0;
    int threads = 2, reps = 3, base = 512, bf16 = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--seconds"))
            seconds = strtod(argv[i + 1], NULL);
        else if (!strcmp(argv[i], "--threads"))
            threads = (int)strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--reps"))
            reps = (int)strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--base"))
            base = (int)strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--bf16"))
            bf16 = (int)strtol(argv[i + 1], NULL, 10);
        else {
            fprintf(stderr, "usage: hift_bench [--seconds S] [--threads N] [--reps R] [--base C] "
                            "[--bf16 0|1]\n");
            return 2;
        }
    }
    if (seconds <= 0 || threads < 1 || reps < 1 || base < 8 || base % 8) {
        fprintf(stderr, "hift_bench: bad arguments\n");
        return 2;
    }
    build_specs(base, 512);
    size_t len;
    uint8_t *img = build_file(&len);
    struct nn_safetensors *st;
    struct cb_hift *m, *m32 = NULL;
    char why[256];
    struct cb_hift_params hp = cb_hift_default_params();
    hp.bf16 = bf16 != 0;
    if (nn_st_open_memory(img, len, &st, why, sizeof why) ||
        cb_hift_load(st, "mel2wav.", &hp, &m, why, sizeof why) ||
        (bf16 && cb_hift_load(st, "mel2wav.", NULL, &m32, why, sizeof why))) {
        fprintf(stderr, "hift_bench: %s\n", why);
        return 1;
    }
    nn_st_close(st);
    vb_free(img);
    struct nn_pool *pool;
    if (nn_pool_new(threads, &pool))
        return 1;
    int F = (int)lround(seconds * 50.0);
    size_t L = (size_t)F * 480;
    float *mel = vb_xmalloc((size_t)80 * F * sizeof *mel), *f0 = vb_xmalloc(F * sizeof *f0);
    float *src = vb_xmalloc(L * sizeof *src), *wav = vb_xmalloc(L * sizeof *wav);
    for (int i = 0; i < 80 * F; i++)
        mel[i] = -5.0f + 3.0f * frand();
    struct cb_hift_work *w = cb_hift_work_new();
    double best[3] = {1e9, 1e9, 1e9};
    struct cb_hift_timings bt = {0}, tm;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        if (cb_hift_f0(m, w, pool, mel, F, f0))
            return 1;
        double t1 = now();
        struct cb_hift_draws d = {.seed = 7};
        if (cb_hift_source(m, pool, f0, F, &d, src))
            return 1;
        double t2 = now();
        if (cb_hift_decode(m, w, pool, mel, F, src, wav))
            return 1;
        double t3 = now();
        cb_hift_work_timings(w, &tm, true);
        if (t3 - t2 < best[2])
            bt = tm;
        best[0] = fmin(best[0], t1 - t0);
        best[1] = fmin(best[1], t2 - t1);
        best[2] = fmin(best[2], t3 - t2);
        printf("rep %d: f0 %.3f s, source %.3f s, decode %.3f s, total %.3f s\n", r, t1 - t0,
               t2 - t1, t3 - t2, t3 - t0);
    }
    double peak = 0;
    for (size_t i = 0; i < L; i++)
        peak = fmax(peak, fabs(wav[i]));
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double total = best[0] + best[1] + best[2];
    printf("HiFT base %d, %.1f s of audio (%d frames), %d threads: best f0 %.3f s, source %.3f s,"
           " decode %.3f s, total %.3f s, RTF %.3f (PyTorch reference: 1.55 s); |wav| max %.3f;"
           " peak RSS %.0f MiB\n",
           base, seconds, F, threads, best[0], best[1], best[2], total, total / seconds, peak,
           ru.ru_maxrss / 1024.0);
    printf("HIFT_BENCH rtf=%.3f total_s=%.3f decode_s=%.3f f0_s=%.3f source_s=%.3f seconds=%.1f "
           "threads=%d base=%d bf16=%d\n",
           total / seconds, total, best[2], best[0], best[1], seconds, threads, base, bf16);
    printf("decode parts (best run): stft %.3f s, conv_pre+ups %.3f s, source branch %.3f s, "
           "resblocks %.3f s, conv_post+istft %.3f s\n",
           bt.stft_s, bt.ups_s, bt.source_s, bt.resblocks_s, bt.post_s);
    if (m32) { /* same f0 and source, decoded by the F32 model */
        float *ref = vb_xmalloc(L * sizeof *ref);
        double e = 0;
        if (cb_hift_decode(m32, w, pool, mel, F, src, ref))
            return 1;
        for (size_t i = 0; i < L; i++)
            e = fmax(e, fabs((double)wav[i] - ref[i]));
        printf("bf16 vs f32 decode: max abs sample difference %.3g (|wav| max %.3f)\n", e, peak);
        vb_free(ref);
        cb_hift_free(m32);
    }
    cb_hift_work_free(w);
    cb_hift_free(m);
    nn_pool_free(pool);
    vb_free(mel);
    vb_free(f0);
    vb_free(src);
    vb_free(wav);
    vb_free(g_specs);
    return 0;
}
