/* t3_bench.c: Chatterbox-Turbo T3 speed at the real GPT-2-medium shapes with random weights:
 * writes a random t3_turbo_v1-layout safetensors file once, then per weight type loads it
 * (conversion at load), prefills a realistic prefix and decodes with the turbo sampler, and
 * prints load time, prefill time, decode tokens/s, T3 real-time factor and peak RSS.
 *
 * The file is written once (1.8 GiB, cb_t3_add_random) and reused by later runs.
 * Build and run from the repository root: bench/t3_bench.sh [args] (THREADS=2 by default), or
 *   build/bench/t3_bench [--types f32,q8_0,q4_0] [--threads 2] [--prompt 375] [--text 48]
 *                  [--steps 64] [--kv f16|f32] [--file /tmp/vocero-t3-random.safetensors]
 */
#include "core/vb.h"
#include "core/alloc.h"
#include "nn/kernels.h"
#include "nn/safetensors_write.h"
#include "tts/chatterbox/t3.h"

#include <errno.h>
#include <math.h>
#include <sys/stat.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* VmHWM / VmRSS of this process in MiB (-1 if unknown). */
static double proc_status_mib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    double v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            char *end;
            long long kb = strtoll(line + kl + 1, &end, 10);
            v = (double)kb / 1024.0;
            break;
        }
    fclose(f);
    return v;
}

/* Resets VmHWM to the current RSS (Linux >= 4.0); false when not permitted. */
static bool reset_peak_rss(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f)
        return false;
    bool ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

static uint64_t g_rng = 0x5eed;

static uint64_t rng_next(void)
{
    uint64_t z = (g_rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* uniform in [-a, a) */
static float rnd(float a)
{
    return (float)((double)(rng_next() >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0) * a;
}

/* Writes the random checkpoint in the official layout (streamed by the writer). */
static bool write_random(const char *path, const struct cb_t3_config *c)
{
    struct nn_st_writer *w = NULL;
    char why[256] = "";
    bool ok = nn_st_writer_new(&w) == VB_OK && cb_t3_add_random(w, "", c, 0x5eed) == VB_OK &&
              nn_st_writer_write(w, path, why, sizeof why) == VB_OK;
    if (!ok)
        fprintf(stderr, "%s\n", why);
    nn_st_writer_free(w);
    return ok;
}

struct timing {
    double t0, first;
    int n;
    float *logits0; /* first-step raw logits (speech_vocab) */
};

static void on_logits(void *user, int step, const float *l, int n)
{
    struct timing *t = user;
    if (step == 0)
        memcpy(t->logits0, l, (size_t)n * sizeof *l);
}

static bool on_token(void *user, int32_t tok)
{
    (void)tok;
    struct timing *t = user;
    if (t->n++ == 0)
        t->first = now_s();
    return true;
}

int main(int argc, char **argv)
{
    const char *types = "f32,q8_0,q4_0";
    const char *file = "/tmp/vocero-t3-random.safetensors";
    int threads = 2, n_prompt = 375, n_text = 48, steps = 64;
    bool kv_f16 = true;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        long x = strtol(v, NULL, 10);
        if (strcmp(k, "--types") == 0)
            types = v;
        else if (strcmp(k, "--file") == 0)
            file = v;
        else if (strcmp(k, "--threads") == 0)
            threads = (int)x;
        else if (strcmp(k, "--prompt") == 0)
            n_prompt = (int)x;
        else if (strcmp(k, "--text") == 0)
            n_text = (int)x;
        else if (strcmp(k, "--steps") == 0)
            steps = (int)x;
        else if (strcmp(k, "--kv") == 0)
            kv_f16 = strcmp(v, "f32") != 0;
        else {
            fprintf(stderr, "unknown option %s\n", k);
            return 2;
        }
    }
    if (threads < 1 || n_prompt < 0 || n_prompt > CB_T3_MAX_PROMPT || n_text < 1 || steps < 1) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    struct cb_t3_config cfg = cb_t3_default_config();
    struct stat sb;
    if (stat(file, &sb) != 0) {
        double t = now_s();
        fprintf(stderr, "writing random checkpoint %s ...\n", file);
        if (!write_random(file, &cfg)) {
            fprintf(stderr, "cannot write %s: %s\n", file, strerror(errno));
            return 1;
        }
        fprintf(stderr, "  written in %.1f s\n", now_s() - t);
    }
    /* inputs: unit-norm speaker embedding, random prompt tokens and text ids */
    float spk[256];
    double norm = 0;
    for (int i = 0; i < 256; i++) {
        spk[i] = rnd(1.0f);
        norm += (double)spk[i] * spk[i];
    }
    for (int i = 0; i < 256; i++)
        spk[i] /= (float)sqrt(norm);
    int32_t prompt[CB_T3_MAX_PROMPT], *text = vb_xmalloc((size_t)n_text * sizeof *text);
    for (int i = 0; i < n_prompt; i++)
        prompt[i] = (int32_t)(rng_next() % CB_T3_SPEECH_CODES);
    for (int i = 0; i < n_text; i++)
        text[i] = (int32_t)(rng_next() % 50257);

    printf("T3 (GPT-2 medium: 24 x 1024, 16 heads), random weights, %d threads, ISA %s\n", threads,
           nn_isa_name(nn_kernels_isa()));
    printf("prefix %d rows (speaker + %d prompt + %d text + START), %d generated tokens, "
           "%s KV cache\n",
           cb_t3_prefix_len(n_prompt, n_text), n_prompt, n_text, steps, kv_f16 ? "f16" : "f32");
    printf("%-6s %9s %9s %9s %9s %10s %10s %8s %9s %9s %9s\n", "type", "weights", "load s",
           "prefill s", "warm s", "tok/s", "ms/token", "RTF(T3)", "peak RSS", "rel.err", "max.err");
    float *base_logits = vb_xmalloc((size_t)cfg.speech_vocab * sizeof(float));
    float *cur_logits = vb_xmalloc((size_t)cfg.speech_vocab * sizeof(float));
    bool have_base = false;
    int status = 0;
    for (const char *p = types; *p;) {
        char name[32];
        size_t len = strcspn(p, ",");
        snprintf(name, sizeof name, "%.*s", (int)VB_MIN(len, sizeof name - 1), p);
        p += len + (p[len] == ',');
        if (!cb_t3_wtype_parse(name, &cfg.wtype)) {
            fprintf(stderr, "unknown weight type %s\n", name);
            status = 2;
            continue;
        }
        bool hwm = reset_peak_rss();
        char why[256];
        struct cb_t3_model *m = NULL;
        struct cb_t3_ctx *c = NULL;
        double t0 = now_s();
        if (cb_t3_load(file, &cfg, &m, why, sizeof why) != VB_OK) {
            fprintf(stderr, "load: %s\n", why);
            status = 1;
            continue;
        }
        double t_load = now_s() - t0;
        struct cb_t3_ctx_params cp = cb_t3_ctx_default_params();
        cp.n_threads = threads;
        cp.kv_f16 = kv_f16;
        cp.n_ctx = cb_t3_prefix_len(n_prompt, n_text) + steps + 1;
        if (cb_t3_ctx_new(m, &cp, &c) != VB_OK) {
            fprintf(stderr, "context: out of memory\n");
            cb_t3_free(m);
            status = 1;
            continue;
        }
        struct cb_t3_gen_params gp = cb_t3_gen_default_params();
        gp.max_gen_len = steps - 1;
        gp.seed = 1;
        struct timing tm = {.t0 = now_s(), .logits0 = cur_logits};
        struct cb_t3_gen_hooks hooks = {.on_token = on_token, .on_logits = on_logits, .user = &tm};
        int32_t *toks = vb_xmalloc((size_t)steps * sizeof *toks);
        int n = 0;
        enum vb_err err =
            cb_t3_generate(c, spk, prompt, n_prompt, text, n_text, &gp, &hooks, toks, steps, &n);
        double t_end = now_s();
        /* same voice, another text: the conditioning rows come from the cache */
        struct timing tw = {.t0 = now_s()};
        struct cb_t3_gen_hooks hw = {.on_token = on_token, .user = &tw};
        struct cb_t3_gen_params gw = gp;
        gw.max_gen_len = 0;
        int nw = 0;
        if (err == VB_OK)
            err = cb_t3_generate(c, spk, prompt, n_prompt, text + 1, n_text - 1, &gw, &hw, toks,
                                 steps, &nw);
        if (err != VB_OK || tm.n < 2) {
            fprintf(stderr, "generate failed (%d) after %d tokens\n", (int)err, tm.n);
            status = 1;
        } else {
            double prefill = tm.first - tm.t0, per_tok = (t_end - tm.first) / (tm.n - 1);
            /* first-step logits against the first type of the list (f32: the exact path) */
            double num = 0, den = 0, mx = 0;
            if (!have_base) {
                memcpy(base_logits, cur_logits, (size_t)cfg.speech_vocab * sizeof(float));
                have_base = true;
            }
            for (int i = 0; i < cfg.speech_vocab; i++) {
                double d = (double)cur_logits[i] - base_logits[i];
                num += d * d;
                den += (double)base_logits[i] * base_logits[i];
                mx = fmax(mx, fabs(d));
            }
            printf("%-6s %7.0f M %9.2f %9.2f %9.2f %10.2f %10.1f %8.2f %7.0f M %9.2g %9.2g%s\n",
                   name, (double)cb_t3_model_weight_bytes(m) / 1048576.0, t_load, prefill,
                   tw.first - tw.t0, 1.0 / per_tok, per_tok * 1e3, per_tok * 25.0,
                   proc_status_mib("VmHWM"), den > 0 ? sqrt(num / den) : 0.0, mx,
                   hwm ? "" : " (peak since start)");
        }
        fflush(stdout);
        vb_free(toks);
        cb_t3_ctx_free(c);
        cb_t3_free(m);
    }
    printf("prefill s: whole prefix; warm s: same voice, new text (conditioning rows cached)\n"
           "RTF(T3) = decode seconds per second of audio (25 tokens/s), prefill excluded\n"
           "rel.err / max.err: first-step logits against the first type listed (RMS relative, "
           "max abs)\n");
    vb_free(base_logits);
    vb_free(cur_logits);
    vb_free(text);
    return status;
}
