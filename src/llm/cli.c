/* cli.c: `vocero generate` (raw completion or ChatML chat, streamed to stdout) and
 * `vocero tokenize` (prints token ids), the commands the reference tests drive. */
#include "core/vb.h"
#include "llm/cli.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "llm/llm.h"
#include "llm/make_random.h"
#include "nn/kernels.h"

#include <sys/resource.h>
#include <time.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <unistd.h>

static const char generate_usage[] =
    "usage: vocero generate --model FILE (--prompt TEXT | --chat) [options]\n"
    "  --prompt TEXT         raw completion of TEXT (special tokens such as <|im_start|> parsed);\n"
    "                        with --chat: the user message of a one-turn chat\n"
    "  --chat                ChatML chat; without --prompt, each stdin line is a user turn\n"
    "  --system TEXT         system prompt for --chat (default: Qwen's)\n"
    "  --temperature T       0 = greedy (default 0.7)\n"
    "  --top-k N --top-p P --min-p P --repeat-penalty R --presence-penalty P\n"
    "  --frequency-penalty F sampling (defaults: Qwen2.5's 20, 0.8, 0, 1.05, 0, 0)\n"
    "  --max-tokens N        tokens to generate (default 256)\n"
    "  --seed S              sampling seed (default 0)\n"
    "  --threads N           CPU threads (default LLM_THREADS or all cores)\n"
    "  --ctx-size N          context window (default min(4096, model's))\n"
    "  --kv-type f16|f32     KV cache precision (default f16)\n"
    "  --print-ids           also print the generated token ids (line \"ids: ...\")\n"
    "  --ignore-eos          do not stop at end-of-generation tokens\n"
    "  --timings             print prompt and generation speed to stderr\n";

static bool parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool parse_float(const char *s, float lo, float hi, float *out)
{
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

static bool print_text(void *ud, int32_t id, const char *text, size_t len)
{
    (void)ud;
    (void)id;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return true;
}

static void print_result(const struct llm_gen_result *r, bool ids, bool timings)
{
    if (ids) {
        printf("\nids:");
        for (size_t i = 0; i < r->n_gen; i++)
            printf(" %d", r->ids[i]);
    }
    printf("\n");
    fflush(stdout);
    if (timings)
        fprintf(stderr,
                "prompt: %zu tokens (%zu evaluated) in %.1f ms (%.2f tok/s); generation: %zu "
                "tokens in %.1f ms (%.2f tok/s)\n",
                r->n_prompt, r->n_prompt_eval, r->prompt_ms,
                r->prompt_ms > 0 ? 1e3 * (double)r->n_prompt_eval / r->prompt_ms : 0.0, r->n_gen,
                r->gen_ms,
                r->gen_ms > 0 && r->n_gen > 1 ? 1e3 * (double)(r->n_gen - 1) / r->gen_ms : 0.0);
}

int llm_cli_generate(int argc, char **argv)
{
    enum {
        O_MODEL = 256,
        O_PROMPT,
        O_CHAT,
        O_SYSTEM,
        O_TEMP,
        O_TOPK,
        O_TOPP,
        O_MINP,
        O_REP,
        O_PRES,
        O_FREQ,
        O_MAX,
        O_SEED,
        O_THREADS,
        O_CTX,
        O_IDS,
        O_IGNORE_EOS,
        O_TIMINGS,
        O_HELP,
        O_KV,
    };
    static const struct option opts[] = {
        {"model", required_argument, 0, O_MODEL},
        {"prompt", required_argument, 0, O_PROMPT},
        {"chat", no_argument, 0, O_CHAT},
        {"system", required_argument, 0, O_SYSTEM},
        {"temperature", required_argument, 0, O_TEMP},
        {"temp", required_argument, 0, O_TEMP},
        {"top-k", required_argument, 0, O_TOPK},
        {"top-p", required_argument, 0, O_TOPP},
        {"min-p", required_argument, 0, O_MINP},
        {"repeat-penalty", required_argument, 0, O_REP},
        {"presence-penalty", required_argument, 0, O_PRES},
        {"frequency-penalty", required_argument, 0, O_FREQ},
        {"max-tokens", required_argument, 0, O_MAX},
        {"seed", required_argument, 0, O_SEED},
        {"threads", required_argument, 0, O_THREADS},
        {"ctx-size", required_argument, 0, O_CTX},
        {"kv-type", required_argument, 0, O_KV},
        {"print-ids", no_argument, 0, O_IDS},
        {"ignore-eos", no_argument, 0, O_IGNORE_EOS},
        {"timings", no_argument, 0, O_TIMINGS},
        {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0},
    };
    const char *model_path = NULL, *prompt = NULL, *system = NULL;
    bool chat = false, print_ids = false, timings = false, kv_f16 = true;
    long threads = 0, n_ctx = 0, max_tokens = 256, seed = 0, top_k;
    struct llm_gen_params gp = llm_gen_default_params();
    optind = 1;
    opterr = 0;
    int c, li = -1;
    while ((c = getopt_long(argc, argv, "", opts, &li)) != -1) {
        bool ok = true;
        switch (c) {
        case O_MODEL:
            model_path = optarg;
            break;
        case O_PROMPT:
            prompt = optarg;
            break;
        case O_CHAT:
            chat = true;
            break;
        case O_SYSTEM:
            system = optarg;
            break;
        case O_TEMP:
            ok = parse_float(optarg, 0, 100, &gp.sampling.temperature);
            break;
        case O_TOPK:
            ok = parse_long(optarg, 0, INT32_MAX, &top_k);
            gp.sampling.top_k = (int)top_k;
            break;
        case O_TOPP:
            ok = parse_float(optarg, 0, 1, &gp.sampling.top_p);
            break;
        case O_MINP:
            ok = parse_float(optarg, 0, 1, &gp.sampling.min_p);
            break;
        case O_REP:
            ok = parse_float(optarg, 0.01f, 100, &gp.sampling.repeat_penalty);
            break;
        case O_PRES:
            ok = parse_float(optarg, -100, 100, &gp.sampling.presence_penalty);
            break;
        case O_FREQ:
            ok = parse_float(optarg, -100, 100, &gp.sampling.frequency_penalty);
            break;
        case O_MAX:
            ok = parse_long(optarg, 1, 1 << 20, &max_tokens);
            break;
        case O_SEED:
            ok = parse_long(optarg, 0, LONG_MAX, &seed);
            break;
        case O_THREADS:
            ok = parse_long(optarg, 1, 256, &threads);
            break;
        case O_CTX:
            ok = parse_long(optarg, 16, 1 << 20, &n_ctx);
            break;
        case O_KV:
            ok = strcmp(optarg, "f16") == 0 || strcmp(optarg, "f32") == 0;
            kv_f16 = strcmp(optarg, "f16") == 0;
            break;
        case O_IDS:
            print_ids = true;
            break;
        case O_IGNORE_EOS:
            gp.stop_at_eog = false;
            break;
        case O_TIMINGS:
            timings = true;
            break;
        case O_HELP:
            fputs(generate_usage, stdout);
            return 0;
        default:
            fprintf(stderr, "generate: unknown or incomplete option '%s'\n%s",
                    argv[optind - 1] ? argv[optind - 1] : "?", generate_usage);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "generate: bad value '%s' for --%s\n", optarg,
                    li >= 0 ? opts[li].name : "option");
            return 2;
        }
    }
    if (!model_path || (!prompt && !chat) || optind < argc) {
        fputs(generate_usage, stderr);
        return 2;
    }
    gp.max_tokens = (int)max_tokens;
    gp.sampling.seed = (uint64_t)seed;
    char why[512] = "";
    struct llm_model *m = NULL;
    struct llm_session *s = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0, cap = 0;
    struct llm_chat_msg *hist = NULL;
    size_t n_hist = 0;
    char *line = NULL;
    size_t line_cap = 0;
    int rc = 1;
    enum vb_err err = llm_model_load(model_path, &m, why, sizeof why);
    if (err != VB_OK) {
        fprintf(stderr, "generate: cannot load %s: %s\n", model_path, why);
        goto out;
    }
    err = llm_session_new_kv(m, (int)n_ctx, (int)threads, kv_f16, &s);
    if (err != VB_OK) {
        fprintf(stderr, "generate: cannot create a context: %s\n", vb_err_message(err));
        goto out;
    }
    struct llm_gen_result r;
    if (!chat) {
        err = llm_tokenize(m->tok, prompt, strlen(prompt), true, &ids, &n_ids, &cap);
        if (err == VB_OK && n_ids == 0)
            err = VB_ERR_INVALID;
        if (err == VB_OK)
            err = llm_session_generate(s, ids, n_ids, &gp, print_text, NULL, &r);
        if (err != VB_OK) {
            fprintf(stderr, "generate: %s\n", vb_err_message(err));
            goto out;
        }
        print_result(&r, print_ids, timings);
        vb_free(r.ids);
        rc = 0;
        goto out;
    }
    /* chat: one turn from --prompt, or one turn per stdin line; history kept in memory */
    size_t hist_cap = 16;
    hist = vb_xcalloc(hist_cap, sizeof *hist);
    if (system)
        hist[n_hist++] = (struct llm_chat_msg){"system", vb_xstrdup(system)};
    for (;;) {
        const char *user = prompt;
        if (!prompt) {
            if (isatty(0))
                fprintf(stderr, "> ");
            ssize_t got = getline(&line, &line_cap, stdin);
            if (got < 0)
                break;
            while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
                line[--got] = 0;
            if (got == 0)
                continue;
            user = line;
        }
        if (n_hist + 2 > hist_cap) {
            hist_cap *= 2;
            hist = vb_xrealloc(hist, hist_cap * sizeof *hist);
        }
        hist[n_hist++] = (struct llm_chat_msg){"user", vb_xstrdup(user)};
        size_t dropped;
        n_ids = 0;
        size_t budget = (size_t)llm_session_n_ctx(s) > (size_t)gp.max_tokens + 1
                            ? (size_t)llm_session_n_ctx(s) - (size_t)gp.max_tokens - 1
                            : 1;
        err = llm_chat_prompt(m, hist, n_hist, NULL, budget, &ids, &n_ids, &cap, &dropped);
        if (err == VB_OK)
            err = llm_session_generate(s, ids, n_ids, &gp, print_text, NULL, &r);
        if (err != VB_OK) {
            fprintf(stderr, "generate: %s\n", vb_err_message(err));
            goto out;
        }
        print_result(&r, print_ids, timings);
        struct vb_buf reply;
        vb_buf_init(&reply, SIZE_MAX / 2);
        size_t n_text = r.n_gen;
        if (r.stop == LLM_STOP_EOG && n_text > 0)
            n_text--;
        if (llm_detokenize(m->tok, r.ids, n_text, false, &reply) != VB_OK) {
            vb_free(r.ids);
            goto out;
        }
        vb_free(r.ids);
        hist[n_hist++] = (struct llm_chat_msg){"assistant", vb_buf_take(&reply)};
        if (prompt)
            break;
    }
    rc = 0;
out:
    for (size_t i = 0; i < n_hist; i++)
        vb_free((void *)hist[i].content);
    vb_free(hist);
    vb_free(line);
    vb_free(ids);
    llm_session_free(s);
    llm_model_free(m);
    return rc;
}

static const char tokenize_usage[] =
    "usage: vocero tokenize --model FILE [--no-parse-special] [--show-pieces] TEXT\n"
    "  prints the token ids of TEXT, space-separated (FILE may be a vocabulary-only GGUF)\n";

int llm_cli_tokenize(int argc, char **argv)
{
    enum { O_MODEL = 256, O_NOSPECIAL, O_PIECES, O_HELP };
    static const struct option opts[] = {
        {"model", required_argument, 0, O_MODEL},
        {"no-parse-special", no_argument, 0, O_NOSPECIAL},
        {"show-pieces", no_argument, 0, O_PIECES},
        {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0},
    };
    const char *model_path = NULL;
    bool special = true, pieces = false;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_MODEL:
            model_path = optarg;
            break;
        case O_NOSPECIAL:
            special = false;
            break;
        case O_PIECES:
            pieces = true;
            break;
        case O_HELP:
            fputs(tokenize_usage, stdout);
            return 0;
        default:
            fputs(tokenize_usage, stderr);
            return 2;
        }
    }
    if (!model_path || optind != argc - 1) {
        fputs(tokenize_usage, stderr);
        return 2;
    }
    const char *text = argv[optind];
    char why[512] = "";
    struct gguf_file *g = NULL;
    struct llm_tokenizer *tk = NULL;
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    int rc = 1;
    enum vb_err err = gguf_open(model_path, &g, why, sizeof why);
    if (err == VB_OK)
        err = llm_tokenizer_load(g, &tk, why, sizeof why);
    if (err != VB_OK) {
        fprintf(stderr, "tokenize: cannot load %s: %s\n", model_path, why);
        goto out;
    }
    err = llm_tokenize(tk, text, strlen(text), special, &ids, &n, &cap);
    if (err != VB_OK) {
        fprintf(stderr, "tokenize: %s\n", vb_err_message(err));
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        printf(i ? " %d" : "%d", ids[i]);
        if (pieces) {
            struct vb_buf b;
            vb_buf_init(&b, 1 << 16);
            if (llm_token_piece(tk, ids[i], true, &b) == VB_OK) {
                printf(" '");
                for (size_t k = 0; k < b.len; k++) {
                    unsigned char ch = (unsigned char)b.data[k];
                    if (ch >= 0x20 && ch != 0x7f && ch != '\'' && ch != '\\')
                        putchar(ch);
                    else
                        printf("\\x%02x", ch);
                }
                printf("'\n");
            }
            vb_buf_release(&b);
        }
    }
    if (!pieces)
        printf("\n");
    rc = 0;
out:
    vb_free(ids);
    llm_tokenizer_free(tk);
    gguf_close(g);
    return rc;
}

static const char make_random_usage[] =
    "usage: vocero models make-random qwen2 OUT.gguf [--shape micro|tiny|0.5b|1.5b|3b]\n"
    "         [--type f32|f16|q8_0|q4_k_m|q5_k_m] [--vocab-size N] [--vocab VOCAB.gguf]\n"
    "         [--seed S] [--threads N]\n"
    "  writes a qwen2 model with random weights in the exact tensor shapes and llama.cpp's\n"
    "  per-tensor quantisation types (defaults: --shape tiny --type q8_0)\n";

int llm_cli_make_random(int argc, char **argv)
{
    enum { O_SHAPE = 256, O_TYPE, O_VSIZE, O_VOCAB, O_SEED, O_THREADS, O_HELP };
    static const struct option opts[] = {
        {"shape", required_argument, 0, O_SHAPE},
        {"type", required_argument, 0, O_TYPE},
        {"vocab-size", required_argument, 0, O_VSIZE},
        {"vocab", required_argument, 0, O_VOCAB},
        {"seed", required_argument, 0, O_SEED},
        {"threads", required_argument, 0, O_THREADS},
        {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0},
    };
    struct llm_random_params p = {.shape = "tiny", .ftype = LLM_FTYPE_Q8_0};
    long v;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case O_SHAPE:
            p.shape = optarg;
            break;
        case O_TYPE:
            ok = llm_ftype_parse(optarg, &p.ftype);
            break;
        case O_VSIZE:
            ok = parse_long(optarg, 264, 1 << 24, &v);
            p.n_vocab = v;
            break;
        case O_VOCAB:
            p.vocab_path = optarg;
            break;
        case O_SEED:
            ok = parse_long(optarg, 0, LONG_MAX, &v);
            p.seed = (uint64_t)v;
            break;
        case O_THREADS:
            ok = parse_long(optarg, 1, 256, &v);
            p.n_threads = (int)v;
            break;
        case O_HELP:
            fputs(make_random_usage, stdout);
            return 0;
        default:
            fputs(make_random_usage, stderr);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "make-random: bad value '%s'\n%s", optarg, make_random_usage);
            return 2;
        }
    }
    if (argc - optind != 2 || strcmp(argv[optind], "qwen2") != 0) {
        fputs(make_random_usage, stderr);
        return 2;
    }
    char why[512] = "";
    if (llm_make_random(&p, argv[optind + 1], why, sizeof why) != VB_OK) {
        fprintf(stderr, "make-random: %s\n", why);
        return 1;
    }
    return 0;
}

static const char bench_usage[] =
    "usage: vocero llm-bench --model FILE [--threads N] [--prompt-tokens N] [--gen-tokens N]\n"
    "         [--repeat N] [--second-turn]\n"
    "  prompt processing (one batch) and decode speed in tokens/s, measured like llama-bench:\n"
    "  one untimed warm-up pass (weights paged in), then --repeat (default 3) timed runs on an\n"
    "  empty cache, mean +- standard deviation; the first cold prompt is reported too;\n"
    "  peak RSS. --second-turn: latency of a chat's second turn with and without the KV cache\n";

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

int llm_cli_bench(int argc, char **argv)
{
    enum { O_MODEL = 256, O_THREADS, O_PP, O_TG, O_HELP, O_TURN, O_REPEAT };
    static const struct option opts[] = {
        {"model", required_argument, 0, O_MODEL},
        {"threads", required_argument, 0, O_THREADS},
        {"prompt-tokens", required_argument, 0, O_PP},
        {"gen-tokens", required_argument, 0, O_TG},
        {"second-turn", no_argument, 0, O_TURN},
        {"repeat", required_argument, 0, O_REPEAT},
        {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0},
    };
    const char *path = NULL;
    long threads = 0, pp = 128, tg = 32, repeat = 3;
    bool second_turn = false;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case O_MODEL:
            path = optarg;
            break;
        case O_THREADS:
            ok = parse_long(optarg, 1, 256, &threads);
            break;
        case O_PP:
            ok = parse_long(optarg, 1, 8192, &pp);
            break;
        case O_TG:
            ok = parse_long(optarg, 1, 8192, &tg);
            break;
        case O_TURN:
            second_turn = true;
            break;
        case O_REPEAT:
            ok = parse_long(optarg, 1, 100, &repeat);
            break;
        case O_HELP:
            fputs(bench_usage, stdout);
            return 0;
        default:
            fputs(bench_usage, stderr);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "llm-bench: bad value '%s'\n", optarg);
            return 2;
        }
    }
    if (!path || optind != argc) {
        fputs(bench_usage, stderr);
        return 2;
    }
    if (second_turn)
        return bench_second_turn(path, (int)threads, (int)pp, (int)tg);
    char why[512] = "";
    struct qwen2_model *m = NULL;
    struct qwen2_ctx *ctx = NULL;
    int32_t *toks = NULL;
    float *logits = NULL;
    int rc = 1;
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
            int32_t id = llm_argmax(logits, (int32_t)m->hp.n_vocab);
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
