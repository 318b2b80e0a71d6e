/* args.h: the one command-line parser of every sub-command. A command is a table of options
 * (long name, optional short letter, kind of value and its range, destination, help line)
 * read with getopt_long; `--help`/`-h` and the usage text come from the same table.
 *
 *   long max = 256;
 *   const char *model = NULL;
 *   const struct cli_opt opts[] = {
 *       {"model", 0, CLI_TEXT, &model, 0, 0, "FILE", "the GGUF file"},
 *       {"max-tokens", 0, CLI_LONG, &max, 1, 1 << 20, "N", "tokens to generate (256)"},
 *   };
 *   const struct cli_command cmd = {"generate", "--model FILE [options]", NULL, opts,
 *                                   VB_ARRAY_LEN(opts), 0, 0, NULL};
 *   int first, rc = cli_parse(&cmd, argc, argv, &first);
 *   if (rc != CLI_CONTINUE)
 *       return rc;      (0 after --help, 2 after a usage error, already reported)
 *   ...positional arguments are argv[first..argc)
 */
#ifndef VB_CLI_ARGS_H
#define VB_CLI_ARGS_H

#include "core/vb.h"

#include <stdio.h>

#define CLI_CONTINUE    (-1) /* cli_parse: go on with the command */
#define CLI_EXIT_USAGE  2    /* exit status of a usage error */
#define CLI_EXIT_FAILED 1    /* exit status of a command that ran and failed */

enum cli_kind {
    CLI_FLAG,   /* no value; dest: bool *, set to true */
    CLI_TEXT,   /* dest: const char **, borrowed from argv */
    CLI_LONG,   /* dest: long *, base 10, within [lo, hi] */
    CLI_FLOAT,  /* dest: float *, within [lo, hi] */
    CLI_DOUBLE, /* dest: double *, finite (range unchecked when lo == hi) */
    CLI_U64,    /* dest: uint64_t *, base 10, no sign (range unchecked when lo == hi) */
};

struct cli_opt {
    const char *name; /* long name without the dashes: "max-tokens" */
    char short_name;  /* 'o' for -o; 0 = none */
    enum cli_kind kind;
    void *dest;        /* see enum cli_kind; written only when the option is given */
    double lo, hi;     /* accepted range of a number, inclusive */
    const char *value; /* placeholder in the usage text ("FILE"); NULL for flags */
    const char *help;  /* one line for the usage text; NULL = not listed (an alias) */
};

struct cli_command {
    const char *name;     /* "generate", or "models pull": prefixes every message */
    const char *synopsis; /* what follows "usage: vocero NAME " */
    const char *about;    /* text between the synopsis and the options, or NULL */
    const struct cli_opt *opts;
    size_t n_opts;
    int min_args, max_args;       /* positional arguments accepted; max_args < 0 = any number */
    void (*more_help)(FILE *out); /* printed after the options, or NULL */
};

/* Parses argv (argv[0] = the sub-command's name) into the options' destinations; getopt_long
 * moves the positional arguments to the end, from *first_arg on. Returns CLI_CONTINUE, or
 * the exit status after printing: 0 for --help (usage on stdout), CLI_EXIT_USAGE for an
 * unknown option, a missing or bad value or a wrong number of arguments (message and
 * "see --help" on stderr). */
VB_WUR int cli_parse(const struct cli_command *cmd, int argc, char **argv, int *first_arg);
/* Writes "usage: vocero NAME SYNOPSIS", the about text, one line per listed option, then
 * more_help. */
void cli_usage(const struct cli_command *cmd, FILE *out);
/* Reports a usage error "vocero NAME: MESSAGE (see vocero NAME --help)" on stderr and
 * returns CLI_EXIT_USAGE, for the checks a command makes after cli_parse. */
int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...) VB_PRINTF(2, 3);

#endif
