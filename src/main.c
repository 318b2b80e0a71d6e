/* main.c: wiring only: dispatch the sub-command. */
#include "core/vb.h"
#include "api/cli.h"
#include "core/alloc.h"
#include "llm/cli.h"
#include "models/cli.h"
#include "tts/chatterbox/make_random.h"
#include "tts/cli.h"

#include <stdio.h>

/* `vocero models make-random MODEL ...` goes to the model's own writer; the rest of
 * `vocero models` to the registry CLI. */
static int models_main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "make-random") == 0 && strcmp(argv[2], "qwen2") == 0)
        return llm_cli_make_random(argc - 1, argv + 1);
    if (argc > 2 && strcmp(argv[1], "make-random") == 0 && strcmp(argv[2], "chatterbox-turbo") == 0)
        return cb_cli_make_random(argc - 1, argv + 1);
    return models_cli_main(argc, argv);
}

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"serve", api_cli_serve, "run the HTTP API (vocero serve --help for every setting)"},
    {"user", api_cli_user, "user add NAME: create an account (password on stdin)"},
    {"routes", api_cli_routes, "print the HTTP route table"},
    {"models", models_main,
     "list | pull NAME | verify [NAME] | rm NAME | make-random qwen2 OUT.gguf | make-random "
     "chatterbox-turbo DIR [--tiny]: model files"},
    {"tts", tts_cli_main, "--text TEXT|--text-file F [...] -o OUT: synthesise speech"},
    {"generate", llm_cli_generate, "--model FILE (--prompt TEXT | --chat): run the chat LLM"},
    {"tokenize", llm_cli_tokenize, "--model FILE TEXT: print token ids"},
    {"llm-bench", llm_cli_bench, "--model FILE: prompt and decode tokens/s"},
};

static void usage(FILE *out)
{
    fprintf(out, "vocero %s: self-hosted voice backend\n\nusage: vocero COMMAND [ARGS]\n\n",
            VB_VERSION);
    for (size_t i = 0; i < VB_ARRAY_LEN(commands); i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(out, "\n  --help     this text\n  --version  print the version\n\n"
                 "Configuration comes from .env and the environment; `vocero serve --help`\n"
                 "lists every setting (SECRET_KEY, DATABASE_URL, PORT, ...).\n");
}

int main(int argc, char **argv)
{
    vb_alloc_fault_init();
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("vocero %s\n", VB_VERSION);
        return 0;
    }
    for (size_t i = 0; i < VB_ARRAY_LEN(commands); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "vocero: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
