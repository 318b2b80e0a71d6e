/* cli.h: command-line entry points of the LLM, called from main.c's dispatcher with
 * argv[0] = the sub-command name:
 *   vocero generate --model FILE (--prompt TEXT | --chat) [options]
 *   vocero tokenize --model FILE [--no-parse-special] [--show-pieces] TEXT
 *   vocero models make-random qwen2 OUT.gguf --shape SHAPE --type TYPE   (argv[0] = "make-random")
 *   vocero llm-bench --model FILE [--threads N] [--prompt-tokens N] [--gen-tokens N]
 * All return a process exit status (0 ok, 1 runtime error, 2 usage error). */
#ifndef LLM_CLI_H
#define LLM_CLI_H

int llm_cli_generate(int argc, char **argv);
int llm_cli_tokenize(int argc, char **argv);
int llm_cli_make_random(int argc, char **argv);
int llm_cli_bench(int argc, char **argv);

#endif
