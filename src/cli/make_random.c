/* make_random.c: `vocero models make-random qwen2 OUT.gguf [...]` and `vocero models
 * make-random chatterbox-turbo DIR [--tiny] [--seed N]`: models with random weights in the
 * real layouts, for tests and benchmarks without downloads. */
#include "core/vb.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "tools/make_random_qwen2.h"
#include "tools/make_random_chatterbox.h"

#include <limits.h>

static int qwen2(int argc, char **argv)
{
    const char *shape = "tiny", *type = "q8_0", *vocab = NULL;
    long vocab_size = 0, seed = 0, threads = 0;
    const struct cli_opt opts[] = {
        {"shape", 0, CLI_TEXT, &shape, 0, 0, "SHAPE", "micro|tiny|0.5b|1.5b|3b (default tiny)"},
        {"type", 0, CLI_TEXT, &type, 0, 0, "TYPE",
         "f32|f16|q8_0|q4_k_m|q5_k_m, with llama.cpp's per-tensor\ntypes (default q8_0)"},
        {"vocab-size", 0, CLI_LONG, &vocab_size, 264, 1 << 24, "N",
         "vocabulary size (default: the shape's)"},
        {"vocab", 0, CLI_TEXT, &vocab, 0, 0, "VOCAB.gguf", "copy the tokenizer of this GGUF"},
        {"seed", 0, CLI_LONG, &seed, 0, (double)LONG_MAX, "S", "random seed (default 0)"},
        {"threads", 0, CLI_LONG, &threads, 1, 256, "N", "CPU threads (default all)"},
    };
    const struct cli_command cmd = {
        .name = "models make-random qwen2",
        .synopsis = "OUT.gguf [options]",
        .about = "Writes a qwen2 model with random weights in the exact tensor shapes.",
        .opts = opts,
        .n_opts = VB_ARRAY_LEN(opts),
        .min_args = 1,
        .max_args = 1,
    };
    int first, rc = cli_parse(&cmd, argc, argv, &first);
    if (rc != CLI_CONTINUE)
        return rc;
    struct llm_random_params p = {.shape = shape,
                                  .n_vocab = vocab_size,
                                  .vocab_path = vocab,
                                  .seed = (uint64_t)seed,
                                  .n_threads = (int)threads};
    if (!llm_ftype_parse(type, &p.ftype))
        return cli_usage_error(&cmd, "bad value '%s' for --type", type);
    char why[512] = "";
    if (llm_make_random(&p, argv[first], why, sizeof why) != VB_OK) {
        fprintf(stderr, "make-random: %s\n", why);
        return CLI_EXIT_FAILED;
    }
    return 0;
}

static int chatterbox_turbo(int argc, char **argv)
{
    bool tiny = false;
    uint64_t seed = 1;
    const struct cli_opt opts[] = {
        {"tiny", 0, CLI_FLAG, &tiny, 0, 0, NULL, "small shapes for tests (default: the real ones)"},
        {"seed", 0, CLI_U64, &seed, 0, 0, "N", "random seed (default 1)"},
    };
    const struct cli_command cmd = {
        .name = "models make-random chatterbox-turbo",
        .synopsis = "DIR [--tiny] [--seed N]",
        .about = "Writes a Chatterbox-Turbo model directory with random weights in the official\n"
                 "file layout (full size: about 3 GB).",
        .opts = opts,
        .n_opts = VB_ARRAY_LEN(opts),
        .min_args = 1,
        .max_args = 1,
    };
    int first, rc = cli_parse(&cmd, argc, argv, &first);
    if (rc != CLI_CONTINUE)
        return rc;
    const char *dir = argv[first];
    char why[512] = "";
    if (cb_make_random(dir, tiny, seed, why, sizeof why) != VB_OK) {
        fprintf(stderr, "make-random: %s\n", why);
        return CLI_EXIT_FAILED;
    }
    printf("wrote a random %s chatterbox-turbo model to %s\n", tiny ? "tiny" : "full-size", dir);
    return 0;
}

int cli_make_random(int argc, char **argv)
{
    static const char usage[] =
        "usage: vocero models make-random qwen2 OUT.gguf [options]\n"
        "       vocero models make-random chatterbox-turbo DIR [--tiny] [--seed N]\n"
        "  writes a model with random weights (vocero models make-random MODEL --help)\n";
    if (argc > 1 && strcmp(argv[1], "qwen2") == 0)
        return qwen2(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "chatterbox-turbo") == 0)
        return chatterbox_turbo(argc - 1, argv + 1);
    bool help = argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
    fputs(usage, help ? stdout : stderr);
    return help ? 0 : CLI_EXIT_USAGE;
}
