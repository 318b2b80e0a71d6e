/* cli.h: the sub-commands of `vocero`, one function each, called by cli_main with argv[0] =
 * the sub-command's name. Each parses its arguments with cli/args.h, calls the library's
 * service functions and returns the process exit status: 0 ok, 1 failed, 2 usage error. */
#ifndef VB_CLI_CLI_H
#define VB_CLI_CLI_H

/* `vocero COMMAND ...`: --help, --version, or the sub-command's function. */
int cli_main(int argc, char **argv);

/* `vocero serve [--env-file F] [--SETTING VALUE]...`: the HTTP API until SIGTERM/SIGINT. */
int cli_serve(int argc, char **argv);
/* `vocero user add NAME [--env-file F] [--SETTING VALUE]...`: an account; password on stdin. */
int cli_user(int argc, char **argv);
/* `vocero routes`: "METHOD PATTERN summary" for every route. */
int cli_routes(int argc, char **argv);
/* `vocero models list | pull NAME... | verify [NAME...] | rm NAME... | path NAME |
 * make-random MODEL ...` with --env-file F and every setting flag (--models-dir DIR). */
int cli_models(int argc, char **argv);
/* `vocero models make-random qwen2 OUT.gguf [...]` and `... chatterbox-turbo DIR [--tiny]`
 * (argv[0] = "make-random"). */
int cli_make_random(int argc, char **argv);
/* `vocero tts --text TEXT|--text-file F [...] -o OUT`: the generation pipeline, no server. */
int cli_tts(int argc, char **argv);
/* `vocero generate --model FILE (--prompt TEXT | --chat) [...]`: the chat LLM on stdout. */
int cli_generate(int argc, char **argv);
/* `vocero tokenize --model FILE [--no-parse-special] [--show-pieces] TEXT`: token ids. */
int cli_tokenize(int argc, char **argv);
/* `vocero llm-bench --model FILE [...]`: prompt and decode tokens/s. */
int cli_llm_bench(int argc, char **argv);

#endif
