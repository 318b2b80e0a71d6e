/* generate.c: `vocero generate` (raw completion or ChatML chat, streamed to stdout) and
 * `vocero tokenize` (prints token ids), the commands the reference tests drive. */
#include "core/vb.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "llm/llm.h"

#include <limits.h>
#include <unistd.h>

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

int cli_generate(int argc, char **argv)
{
    const char *model_path = NULL, *prompt = NULL, *system = NULL, *kv_type = "f16";
    bool chat = false, print_ids = false, timings = false, ignore_eos = false;
    long threads = 0, n_ctx = 0, max_tokens = 256, seed = 0, top_k = -1;
    struct llm_gen_params gp = llm_gen_default_params();
    struct nn_sampler_params *sp = &gp.sampling;
    const struct cli_opt opts[] = {
        {"model", 0, CLI_TEXT, &model_path, 0, 0, "FILE", "the GGUF model"},
        {"prompt", 0, CLI_TEXT, &prompt, 0, 0, "TEXT",
         "raw completion of TEXT (special tokens such as <|im_start|>\n"
         "parsed); with --chat: the user message of a one-turn chat"},
        {"chat", 0, CLI_FLAG, &chat, 0, 0, NULL,
         "ChatML chat; without --prompt, each stdin line is a user turn"},
        {"system", 0, CLI_TEXT, &system, 0, 0, "TEXT",
         "system prompt for --chat (default: Qwen's)"},
        {"temperature", 0, CLI_FLOAT, &sp->temperature, 0, 100, "T", "0 = greedy (default 0.7)"},
        {"temp", 0, CLI_FLOAT, &sp->temperature, 0, 100, "T", NULL},
        {"top-k", 0, CLI_LONG, &top_k, 0, INT32_MAX, "N", "sampling: top k (default 20)"},
        {"top-p", 0, CLI_FLOAT, &sp->top_p, 0, 1, "P", "sampling: top p (default 0.8)"},
        {"min-p", 0, CLI_FLOAT, &sp->min_p, 0, 1, "P", "sampling: min p (default 0)"},
        {"repeat-penalty", 0, CLI_FLOAT, &sp->repeat_penalty, 0.01, 100, "R",
         "sampling: repetition penalty (default 1.05)"},
        {"presence-penalty", 0, CLI_FLOAT, &sp->presence_penalty, -100, 100, "P",
         "sampling: presence penalty (default 0)"},
        {"frequency-penalty", 0, CLI_FLOAT, &sp->frequency_penalty, -100, 100, "F",
         "sampling: frequency penalty (default 0)"},
        {"max-tokens", 0, CLI_LONG, &max_tokens, 1, 1 << 20, "N",
         "tokens to generate (default 256)"},
        {"seed", 0, CLI_LONG, &seed, 0, (double)LONG_MAX, "S", "sampling seed (default 0)"},
        {"threads", 0, CLI_LONG, &threads, 1, 256, "N",
         "CPU threads (default LLM_THREADS or all cores)"},
        {"ctx-size", 0, CLI_LONG, &n_ctx, 16, 1 << 20, "N",
         "context window (default min(4096, model's))"},
        {"kv-type", 0, CLI_TEXT, &kv_type, 0, 0, "f16|f32", "KV cache precision (default f16)"},
        {"print-ids", 0, CLI_FLAG, &print_ids, 0, 0, NULL,
         "also print the generated token ids (line \"ids: ...\")"},
        {"ignore-eos", 0, CLI_FLAG, &ignore_eos, 0, 0, NULL,
         "do not stop at end-of-generation tokens"},
        {"timings", 0, CLI_FLAG, &timings, 0, 0, NULL,
         "print prompt and generation speed to stderr"},
    };
    const struct cli_command cmd = {
        .name = "generate",
        .synopsis = "--model FILE (--prompt TEXT | --chat) [options]",
        .about = "Runs the chat LLM, the text streamed to stdout.",
        .opts = opts,
        .n_opts = VB_ARRAY_LEN(opts),
    };
    int first, rc = cli_parse(&cmd, argc, argv, &first);
    if (rc != CLI_CONTINUE)
        return rc;
    if (!model_path || (!prompt && !chat))
        return cli_usage_error(&cmd, "give --model FILE and --prompt TEXT or --chat");
    if (strcmp(kv_type, "f16") != 0 && strcmp(kv_type, "f32") != 0)
        return cli_usage_error(&cmd, "bad value '%s' for --kv-type", kv_type);
    bool kv_f16 = strcmp(kv_type, "f16") == 0;
    if (top_k >= 0)
        sp->top_k = (int)top_k;
    if (ignore_eos)
        gp.stop_at_eog = false;
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
    rc = 1;
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

int cli_tokenize(int argc, char **argv)
{
    const char *model_path = NULL;
    bool no_special = false, pieces = false;
    const struct cli_opt opts[] = {
        {"model", 0, CLI_TEXT, &model_path, 0, 0, "FILE",
         "the GGUF model (a vocabulary-only GGUF is enough)"},
        {"no-parse-special", 0, CLI_FLAG, &no_special, 0, 0, NULL,
         "special tokens such as <|im_end|> are plain text"},
        {"show-pieces", 0, CLI_FLAG, &pieces, 0, 0, NULL, "one line per token: id and its bytes"},
    };
    const struct cli_command cmd = {
        .name = "tokenize",
        .synopsis = "--model FILE [--no-parse-special] [--show-pieces] TEXT",
        .about = "Prints the token ids of TEXT, space-separated.",
        .opts = opts,
        .n_opts = VB_ARRAY_LEN(opts),
        .min_args = 1,
        .max_args = 1,
    };
    int first, rc = cli_parse(&cmd, argc, argv, &first);
    if (rc != CLI_CONTINUE)
        return rc;
    if (!model_path)
        return cli_usage_error(&cmd, "give --model FILE");
    bool special = !no_special;
    const char *text = argv[first];
    char why[512] = "";
    struct gguf_file *g = NULL;
    struct llm_tokenizer *tk = NULL;
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    rc = 1;
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
