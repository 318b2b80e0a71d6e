/* args.c: the option table of a command handed to getopt_long, values checked against their
 * kind and range, and the usage text written from the same table. */
#include "core/vb.h"
#include "cli/args.h"
#include "core/alloc.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>

#define OPT_VAL_BASE 1000 /* getopt_long's value of opts[i] is OPT_VAL_BASE + i */
#define HELP_COLUMN  26   /* where the help lines start */

static int usage_errorv(const struct cli_command *cmd, const char *fmt, va_list ap)
{
    fprintf(stderr, "vocero %s: ", cmd->name);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see vocero %s --help)\n", cmd->name);
    return CLI_EXIT_USAGE;
}

int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = usage_errorv(cmd, fmt, ap);
    va_end(ap);
    return rc;
}

static bool has_short(const struct cli_command *cmd, char c)
{
    for (size_t i = 0; i < cmd->n_opts; i++)
        if (cmd->opts[i].short_name == c)
            return true;
    return false;
}

/* Stores the value s of o in its destination; false if it is not a number of the option's
 * kind within its range. */
static bool store(const struct cli_opt *o, const char *s)
{
    char *end = NULL;
    errno = 0;
    switch (o->kind) {
    case CLI_FLAG:
        *(bool *)o->dest = true;
        return true;
    case CLI_TEXT:
        *(const char **)o->dest = s;
        return true;
    case CLI_LONG: {
        long v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < o->lo || v > o->hi)
            return false;
        *(long *)o->dest = v;
        return true;
    }
    case CLI_FLOAT: {
        float v = strtof(s, &end);
        if (errno || end == s || *end || !(v >= (float)o->lo && v <= (float)o->hi))
            return false;
        *(float *)o->dest = v;
        return true;
    }
    case CLI_DOUBLE: {
        double v = strtod(s, &end);
        if (errno || end == s || *end || !isfinite(v) ||
            (o->lo < o->hi && !(v >= o->lo && v <= o->hi)))
            return false;
        *(double *)o->dest = v;
        return true;
    }
    case CLI_U64: {
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || end == s || *end || *s == '-' || (o->lo < o->hi && (double)v > o->hi))
            return false;
        *(uint64_t *)o->dest = v;
        return true;
    }
    }
    return false;
}

int cli_parse(const struct cli_command *cmd, int argc, char **argv, int *first_arg)
{
    bool help_h = !has_short(cmd, 'h');
    struct option *lopts = vb_xcalloc(cmd->n_opts + 2, sizeof *lopts);
    char *shorts = vb_xcalloc(2 * cmd->n_opts + 3, 1), *sp = shorts;
    int rc = CLI_CONTINUE;
    *sp++ = ':'; /* a missing value is ':', an unknown option '?' */
    for (size_t i = 0; i < cmd->n_opts; i++) {
        const struct cli_opt *o = &cmd->opts[i];
        int has_arg = o->kind == CLI_FLAG ? no_argument : required_argument;
        lopts[i] = (struct option){o->name, has_arg, NULL, OPT_VAL_BASE + (int)i};
        if (o->short_name) {
            *sp++ = o->short_name;
            if (has_arg == required_argument)
                *sp++ = ':';
        }
    }
    lopts[cmd->n_opts] = (struct option){"help", no_argument, NULL, 'h'};
    if (help_h)
        *sp++ = 'h';
    optind = 0; /* glibc: start afresh, as every call parses another argv */
    opterr = 0;
    int c;
    while (rc == CLI_CONTINUE && (c = getopt_long(argc, argv, shorts, lopts, NULL)) != -1) {
        const struct cli_opt *o = NULL;
        if (c >= OPT_VAL_BASE) {
            o = &cmd->opts[c - OPT_VAL_BASE];
        } else {
            for (size_t i = 0; i < cmd->n_opts && !o; i++)
                if (c == cmd->opts[i].short_name)
                    o = &cmd->opts[i];
        }
        if (o) {
            if (!store(o, optarg))
                rc = cli_usage_error(cmd, "bad value '%s' for --%s", optarg, o->name);
        } else if (c == 'h') {
            cli_usage(cmd, stdout);
            rc = 0;
        } else if (c == ':') {
            rc = cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
        } else if (optopt) {
            rc = cli_usage_error(cmd, "unknown option '-%c'", optopt);
        } else {
            rc = cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (rc == CLI_CONTINUE) {
        int n = argc - optind;
        if (n < cmd->min_args) {
            fprintf(stderr, "usage: vocero %s %s\n", cmd->name, cmd->synopsis);
            rc = cli_usage_error(cmd, "missing arguments");
        } else if (cmd->max_args >= 0 && n > cmd->max_args)
            rc = cli_usage_error(cmd, "unexpected argument '%s'", argv[optind + cmd->max_args]);
    }
    *first_arg = optind;
    vb_free(lopts);
    vb_free(shorts);
    return rc;
}

/* "  -o, --output OUT" or "      --model FILE" into buf. */
static void option_column(const struct cli_opt *o, char *buf, size_t cap)
{
    char shortname[8] = "    ";
    if (o->short_name)
        snprintf(shortname, sizeof shortname, "-%c, ", o->short_name);
    snprintf(buf, cap, "  %s--%s%s%s", shortname, o->name, o->value ? " " : "",
             o->value ? o->value : "");
}

/* The help text, its continuation lines indented to the help column. */
static void help_lines(FILE *out, const char *help)
{
    for (const char *p = help; *p; p++) {
        fputc(*p, out);
        if (*p == '\n')
            fprintf(out, "%*s", HELP_COLUMN, "");
    }
    fputc('\n', out);
}

void cli_usage(const struct cli_command *cmd, FILE *out)
{
    char col[128];
    fprintf(out, "usage: vocero %s %s\n", cmd->name, cmd->synopsis);
    if (cmd->about)
        fprintf(out, "\n%s\n", cmd->about);
    fprintf(out, "\n");
    for (size_t i = 0; i < cmd->n_opts; i++) {
        const struct cli_opt *o = &cmd->opts[i];
        if (!o->help)
            continue;
        option_column(o, col, sizeof col);
        if (strlen(col) + 1 > HELP_COLUMN)
            fprintf(out, "%s\n%*s", col, HELP_COLUMN, "");
        else
            fprintf(out, "%-*s", HELP_COLUMN, col);
        help_lines(out, o->help);
    }
    fprintf(out, "%-*s%s\n", HELP_COLUMN, has_short(cmd, 'h') ? "      --help" : "  -h, --help",
            "this text");
    if (cmd->more_help) {
        fprintf(out, "\n");
        cmd->more_help(out);
    }
}
