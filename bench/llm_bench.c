/* llm_bench.c: standalone LLM benchmark driver (no HTTP/DB dependencies):
 *   llm_bench make-random qwen2 OUT.gguf --shape 3b --type q4_k_m
 *   llm_bench run --model OUT.gguf --threads 2 --prompt-tokens 64 --gen-tokens 16
 * Build: cc -O2 -Isrc bench/llm_bench.c + src/{core,nn,llm} (see bench/llm_bench.sh). */
#include "core/vb.h"
#include "llm/cli.h"

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "make-random") == 0)
        return llm_cli_make_random(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "run") == 0)
        return llm_cli_bench(argc - 1, argv + 1);
    fprintf(stderr, "usage: llm_bench make-random ... | llm_bench run ...\n");
    return 2;
}
