/* llm_bench.c: `vocero llm-bench`: prompt processing and decode speed of a GGUF model in
 * tokens/s, measured like llama-bench, and the latency of a chat's second turn. */
#include "core/vb.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "llm/llm.h"
#include "nn/kernels.h"

#include <sys/resource.h>
#include <time.h>

#include <math.h>

/* Builds a user message of about `words` words (random byte-level text). */
static char *bench_words(int words, uint64_t seed)
{
    static const char *const w[] = {"the",  "voice",   "in",   "a",  "station", "Madrid", "hello",
                                    "time", "weather", "tell", "me", "about",   "train",  "today"};
    struct vb_buf b;
    vb_buf_init(&b, 1 << 20);
    for (int i = 0; i < words; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        if (vb_buf_printf(&b, "%s%s", i ? " " : "", w[(seed >> 33) % VB_ARRAY_LEN(w)]) != VB_OK)
            break;
    }
    return vb_buf_take(&b);
}

/* Turn 1 (system + ~pp-token user message + tg generated), then turn 2 (a short new user
 * message): prompt latency of turn 2 in the same session (cached prefix) and in a fresh one. */
static int bench_second_turn(const char *path, int threads, int pp, int tg)
{
    char why[512] = "";
    struct llm_model *m = NULL;
    struct llm_session *a = NULL, *b = NULL;
    int32_t *ids = NULL;
    size_t n = 0, cap = 0, dropped;
    char *u1 = bench_words(pp / 2, 1), *u2 = bench_words(12, 2), *reply = NULL;
    int rc = 1;
    if (llm_model_load(path, &m, why, sizeof why) != VB_OK) {
        fprintf(stderr, "llm-bench: %s\n", why);
        goto out;
    }
    int n_ctx = pp * 4 + tg * 2 + 256;
    if (llm_session_new(m, n_ctx, threads, &a) != VB_OK ||
        llm_session_new(m, n_ctx, threads, &b) != VB_OK)
        goto out;
    struct llm_gen_params gp = llm_gen_default_params();
    gp.max_tokens = tg;
    gp.sampling.temperature = 0;
    gp.stop_at_eog = false;
    struct llm_chat_msg t1[] = {{"user", u1}};
    struct llm_gen_result r1, r2, r3;
    if (llm_chat_prompt(m, t1, 1, NULL, (size_t)n_ctx, &ids, &n, &cap, &dropped) != VB_OK ||
        llm_session_generate(a, ids, n, &gp, NULL, NULL, &r1) != VB_OK)
        goto out;
    struct vb_buf rb;
    vb_buf_init(&rb, 1 << 20);
    if (llm_detokenize(m->tok, r1.ids, r1.n_gen, false, &rb) != VB_OK) {
        vb_free(r1.ids);
        goto out;
    }
    reply = vb_buf_take(&rb);
    printf("turn 1: %zu prompt tokens in %.1f ms, %zu generated in %.1f ms\n", r1.n_prompt,
           r1.prompt_ms, r1.n_gen, r1.gen_ms);
    vb_free(r1.ids);
    struct llm_chat_msg t2[] = {{"user", u1}, {"assistant", reply}, {"user", u2}};
    n = 0;
    gp.max_tokens = 1;
    if (llm_chat_prompt(m, t2, 3, NULL, (size_t)n_ctx, &ids, &n, &cap, &dropped) != VB_OK ||
        llm_session_generate(a, ids, n, &gp, NULL, NULL, &r2) != VB_OK ||
        llm_session_generate(b, ids, n, &gp, NULL, NULL, &r3) != VB_OK)
        goto out;
    printf("turn 2 with the KV cache: %zu of %zu prompt tokens evaluated, first token after "
           "%.1f ms\n",
           r2.n_prompt_eval, r2.n_prompt, r2.prompt_ms);
    printf("turn 2 without it:       %zu of %zu prompt tokens evaluated, first token after "
           "%.1f ms\n",
           r3.n_prompt_eval, r3.n_prompt, r3.prompt_ms);
    vb_free(r2.ids);
    vb_free(r3.ids);
    rc = 0;
out:
    vb_free(u1);
    vb_free(u2);
    vb_free(reply);
    vb_free(ids);
    llm_session_free(a);
    llm_session_free(b);
    llm_model_free(m);
    return rc;
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* "NAME: N tokens in M ms = R +- SD tokens/s (K runs)": mean and standard deviation of the
 * per-run rates, as llama-bench reports them. */
static void print_rate(const char *name, long n, const double *ms, long runs)
{
    double sum = 0, sum2 = 0, ms_sum = 0;
    for (long i = 0; i < runs; i++) {
        double rate = 1e3 * (double)n / ms[i];
        sum += rate;
        sum2 += rate * rate;
        ms_sum += ms[i];
    }
    double mean = sum / (double)runs;
    double var = runs > 1 ? (sum2 - sum * mean) / (double)(runs - 1) : 0;
    printf("%s: %ld tokens in %.1f ms = %.2f +- %.2f tokens/s (%ld runs)\n", name, n,
           ms_sum / (double)runs, mean, var > 0 ? sqrt(var) : 0.0, runs);
}

int cli_llm_bench(int argc, char **argv)
{
    const char *path = NULL;
    long threads = 0, pp = 128, tg = 32, repeat = 3;
    bool second_turn = false;
    const struct cli_opt opts[] = {
        {"model", 0, CLI_TEXT, &path, 0, 0, "FILE", "the GGUF model"},
        {"threads", 0, CLI_LONG, &threads, 1, 256, "N", "CPU threads (default all cores)"},
        {"prompt-tokens", 0, CLI_LONG, &pp, 1, 8192, "N", "prompt length (default 128)"},
        {"gen-tokens", 0, CLI_LONG, &tg, 1, 8192, "N", "tokens decoded (default 32)"},
        {"second-turn", 0, CLI_FLAG, &second_turn, 0, 0, NULL,
         "latency of a chat's second turn with and without the KV cache"},
        {"repeat", 0, CLI_LONG, &repeat, 1, 100, "N", "timed runs (default 3)"},
    };
    const struct cli_command cmd = {
        .name = "llm-bench",
        .synopsis = "--model FILE [--threads N] [--prompt-tokens N] [--gen-tokens N]\n"
                    "         [--repeat N] [--second-turn]",
        .about = "Prompt processing (one batch) and decode speed in tokens/s, measured like\n"
                 "llama-bench: one untimed warm-up pass (weights paged in), then --repeat timed\n"
                 "runs on an empty cache, mean +- standard deviation; the first cold prompt is\n"
                 "reported too; peak RSS.",
        .opts = opts,
        .n_opts = VB_ARRAY_LEN(opts),
    };
    int first, rc = cli_parse(&cmd, argc, argv, &first);
    if (rc != CLI_CONTINUE)
        return rc;
    if (!path)
        return cli_usage_error(&cmd, "give --model FILE");
    if (second_turn)
        return bench_second_turn(path, (int)threads, (int)pp, (int)tg);
    char why[512] = "";
    struct qwen2_model *m = NULL;
    struct qwen2_ctx *ctx = NULL;
    int32_t *toks = NULL;
    float *logits = NULL;
    rc = 1;
    if (qwen2_load(path, &m, why, sizeof why) != VB_OK) {
        fprintf(stderr, "llm-bench: %s\n", why);
        goto out;
    }
    struct qwen2_ctx_params cp = qwen2_ctx_default_params();
    cp.n_ctx = (int)(pp + tg + 1);
    cp.n_batch = (int)pp;
    cp.n_threads = (int)threads;
    if (qwen2_ctx_new(m, &cp, &ctx) != VB_OK) {
        fprintf(stderr, "llm-bench: cannot allocate the context\n");
        goto out;
    }
    toks = vb_xmalloc((size_t)pp * sizeof *toks);
    logits = vb_xmalloc((size_t)m->hp.n_vocab * sizeof *logits);
    uint64_t r = 42;
    for (long i = 0; i < pp; i++) {
        r = r * 6364136223846793005ull + 1;
        toks[i] = (int32_t)((r >> 33) % 256); /* byte tokens exist in every vocabulary */
    }
    /* run 0 is the warm-up (its prompt is the cold figure); runs 1..repeat are timed */
    double pp_ms[101], tg_ms[101];
    for (long run = 0; run <= repeat; run++) {
        qwen2_ctx_truncate(ctx, 0);
        double t0 = mono_ms();
        if (qwen2_eval(ctx, toks, (int)pp, logits, false) != VB_OK)
            goto out;
        double t1 = mono_ms();
        for (long i = 0; i < tg; i++) {
            int32_t id = nn_argmax(logits, (int32_t)m->hp.n_vocab);
            if (qwen2_eval(ctx, &id, 1, logits, false) != VB_OK)
                goto out;
        }
        pp_ms[run] = t1 - t0;
        tg_ms[run] = mono_ms() - t1;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("model %s: n_embd %lld, n_layer %lld, file %.1f MiB, isa %s, threads %d\n", path,
           (long long)m->hp.n_embd, (long long)m->hp.n_layer,
           (double)gguf_file_size(m->gguf) / 1048576.0, nn_isa_name(nn_kernels_isa()),
           nn_threads_default((int)threads));
    printf("prompt (cold, first pass): %ld tokens in %.1f ms = %.2f tokens/s\n", pp, pp_ms[0],
           1e3 * (double)pp / pp_ms[0]);
    print_rate("prompt", pp, pp_ms + 1, repeat);
    print_rate("decode", tg, tg_ms + 1, repeat);
    printf("peak RSS: %.1f MiB\n", (double)ru.ru_maxrss / 1024.0);
    rc = 0;
out:
    vb_free(toks);
    vb_free(logits);
    qwen2_ctx_free(ctx);
    qwen2_free(m);
    return rc;
}
