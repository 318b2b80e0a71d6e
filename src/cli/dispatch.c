/* dispatch.c: `vocero COMMAND ...`: the table of sub-commands, --help and --version. */
#include "core/vb.h"
#include "cli/cli.h"

#include <stdio.h>

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"serve", cli_serve, "run the HTTP API (vocero serve --help for every setting)"},
    {"user", cli_user, "user add NAME: create an account (password on stdin)"},
    {"routes", cli_routes, "print the HTTP route table"},
    {"models", cli_models,
     "list | pull NAME | verify [NAME] | rm NAME | make-random qwen2 OUT.gguf | make-random "
     "chatterbox-turbo DIR [--tiny]: model files"},
    {"tts", cli_tts, "--text TEXT|--text-file F [...] -o OUT: synthesise speech"},
    {"generate", cli_generate, "--model FILE (--prompt TEXT | --chat): run the chat LLM"},
    {"tokenize", cli_tokenize, "--model FILE TEXT: print token ids"},
    {"llm-bench", cli_llm_bench, "--model FILE: prompt and decode tokens/s"},
};

static void usage(FILE *out)
{
    fprintf(out, "vocero %s: self-hosted voice backend\n\nusage: vocero COMMAND [ARGS]\n\n",
            VB_VERSION);
    for (size_t i = 0; i < VB_ARRAY_LEN(commands); i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(out, "\n  --help     this text\n  --version  print the version\n\n"
                 "`vocero COMMAND --help` describes a command's options. Configuration comes\n"
                 "from .env and the environment; `vocero serve --help` lists every setting\n"
                 "(SECRET_KEY, DATABASE_URL, PORT, ...).\n");
}

int cli_main(int argc, char **argv)
{
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
