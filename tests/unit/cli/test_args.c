/* test_args.c: the command-line parser every sub-command uses: each kind of value with its
 * range, short and long forms, --opt=value, positional arguments moved after the options,
 * --help and every usage error with its exit status; the setting flags of serve/user/models;
 * the top-level dispatch. */
#include "core/vb.h"
#include "cli/cli.h"
#include "cli/settings.h"
#include "core/alloc.h"
#include "unit/cli/capture.h"
#include "unit/test.h"

#include <stdint.h>

struct values {
    bool flag;
    const char *text;
    long n;
    float f;
    double d;
    uint64_t u;
};

static struct values v;

static const struct cli_opt opts[] = {
    {"flag", 0, CLI_FLAG, &v.flag, 0, 0, NULL, "a flag"},
    {"text", 't', CLI_TEXT, &v.text, 0, 0, "TEXT", "some text"},
    {"n", 0, CLI_LONG, &v.n, -5, 10, "N", "-5..10"},
    {"f", 0, CLI_FLOAT, &v.f, 0.01, 1, "F", "0.01..1"},
    {"d", 0, CLI_DOUBLE, &v.d, 0, 0, "D", "any finite number"},
    {"u", 0, CLI_U64, &v.u, 0, 384000, "U", "0..384000"},
    {"alias", 0, CLI_LONG, &v.n, -5, 10, "N", NULL},
};

static const struct cli_command cmd = {
    .name = "demo",
    .synopsis = "[options] A [B]",
    .opts = opts,
    .n_opts = VB_ARRAY_LEN(opts),
    .min_args = 1,
    .max_args = 2,
};

/* The status of fn, its stdout and stderr in out. */
static char out[8192];
static int quiet(int (*fn)(int, char **), int argc, char **argv)
{
    char *text = NULL;
    int rc = capture(fn, argc, argv, true, &text);
    snprintf(out, sizeof out, "%s", text ? text : "");
    vb_free(text);
    return rc;
}

static int first_arg;
static int parse_demo(int argc, char **argv)
{
    memset(&v, 0, sizeof v);
    return cli_parse(&cmd, argc, argv, &first_arg);
}

#define ARGC(a) ((int)VB_ARRAY_LEN(a) - 1)

TEST(values_of_every_kind)
{
    char *a[] = {"demo", "--flag", "-t",     "hi",  "A",      "--n=-5", "--f",
                 "0.01", "--d",    "-2.5e3", "--u", "384000", "B",      NULL};
    CHECK_EQ_INT(quiet(parse_demo, ARGC(a), a), CLI_CONTINUE);
    CHECK(v.flag);
    CHECK_EQ_STR(v.text, "hi");
    CHECK_EQ_INT(v.n, -5);
    CHECK(v.f == 0.01f);
    CHECK(v.d == -2500.0);
    CHECK_EQ_INT(v.u, 384000);
    /* the positional arguments come after the options, in their order */
    CHECK_EQ_INT(first_arg, ARGC(a) - 2);
    CHECK_EQ_STR(a[first_arg], "A");
    CHECK_EQ_STR(a[first_arg + 1], "B");
    /* the long form of a short option, a value that starts with '-', an alias */
    char *b[] = {"demo", "--text", "-x", "--alias", "10", "A", NULL};
    CHECK_EQ_INT(quiet(parse_demo, ARGC(b), b), CLI_CONTINUE);
    CHECK_EQ_STR(v.text, "-x");
    CHECK_EQ_INT(v.n, 10);
    CHECK(!v.flag);
    /* an option left out keeps its default */
    char *c[] = {"demo", "A", NULL};
    CHECK_EQ_INT(quiet(parse_demo, ARGC(c), c), CLI_CONTINUE);
    CHECK(v.text == NULL && v.n == 0);
}

TEST(usage_errors_exit_2)
{
    static const char *const bad[][6] = {
        {"demo", "A", "--n", "11"},                      /* above the range */
        {"demo", "A", "--n", "-6"},                      /* below */
        {"demo", "A", "--n", "1x"},                      /* not a number */
        {"demo", "A", "--n", ""},                        /* empty */
        {"demo", "A", "--f", "0.009"},                   /* float range */
        {"demo", "A", "--f", "nan"},                     /* NaN is in no range */
        {"demo", "A", "--d", "inf"},                     /* not finite */
        {"demo", "A", "--u", "-1"},                      /* no sign */
        {"demo", "A", "--u", "384001"},                  /* above */
        {"demo", "A", "--u", "99999999999999999999999"}, /* overflow */
        {"demo", "A", "--bogus"},                        /* unknown long option */
        {"demo", "A", "-q"},                             /* unknown short option */
        {"demo", "A", "--text"},                         /* missing value */
        {"demo", "A", "-t"},                             /* missing value, short */
        {"demo", "A", "--flag=1"},                       /* a flag takes no value */
        {"demo"},                                        /* too few arguments */
        {"demo", "A", "B", "C"},                         /* too many */
    };
    for (size_t i = 0; i < VB_ARRAY_LEN(bad); i++) {
        char *argv[7] = {0};
        int argc = 0;
        while (argc < 6 && bad[i][argc])
            argv[argc] = (char *)bad[i][argc], argc++;
        CHECK_MSG(quiet(parse_demo, argc, argv) == CLI_EXIT_USAGE, "case %zu", i);
        CHECK_MSG(strstr(out, "vocero demo: ") && strstr(out, "see vocero demo --help"),
                  "case %zu: %s", i, out);
    }
}

TEST(help_lists_the_options)
{
    char *a[] = {"demo", "--n", "3", "--help", NULL};
    CHECK_EQ_INT(quiet(parse_demo, ARGC(a), a), 0);
    CHECK(strstr(out, "usage: vocero demo [options] A [B]\n") == out);
    CHECK(strstr(out, "  -t, --text TEXT") && strstr(out, "some text"));
    CHECK(strstr(out, "      --flag ") && strstr(out, "      --u U "));
    CHECK(!strstr(out, "--alias")); /* no help line: not listed */
    char *b[] = {"demo", "-h", NULL};
    CHECK_EQ_INT(quiet(parse_demo, ARGC(b), b), 0);
    CHECK(strstr(out, "-h, --help") != NULL);
}

static struct cli_settings settings;
static struct vb_config cfg;
static bool own;
static int parse_settings(int argc, char **argv)
{
    const struct cli_opt mine[] = {{"own", 0, CLI_FLAG, &own, 0, 0, NULL, "own"}};
    cli_settings_init(&settings, mine, VB_ARRAY_LEN(mine));
    const struct cli_command c = {"settings", "", NULL, settings.opts, settings.n_opts, 0, 0, NULL};
    int first, rc = cli_parse(&c, argc, argv, &first);
    if (rc == CLI_CONTINUE)
        rc = cli_settings_load(&settings, c.name, &cfg);
    cli_settings_release(&settings);
    return rc;
}

TEST(every_setting_is_a_flag)
{
    unsetenv("PORT");
    unsetenv("MAX_UPLOAD_MB");
    char *a[] = {"settings", "--port", "1234", "--own", "--max-upload-mb=7", "--port", "99", NULL};
    CHECK_EQ_INT(quiet(parse_settings, ARGC(a), a), CLI_CONTINUE);
    CHECK(own);
    CHECK_EQ_INT(cfg.port, 99); /* the last one wins */
    CHECK_EQ_INT(cfg.max_upload_mb, 7);
    vb_config_release(&cfg);
    char *b[] = {"settings", "--port", "abc", NULL};
    CHECK_EQ_INT(quiet(parse_settings, ARGC(b), b), CLI_EXIT_USAGE);
    CHECK(strstr(out, "PORT") != NULL);
    char *c[] = {"settings", "--no-such-setting", "1", NULL};
    CHECK_EQ_INT(quiet(parse_settings, ARGC(c), c), CLI_EXIT_USAGE);
    char *d[] = {"settings", "--env-file", "/nonexistent/vocero.env", NULL};
    CHECK_EQ_INT(quiet(parse_settings, ARGC(d), d), CLI_EXIT_USAGE);
    CHECK(strstr(out, "configuration error") != NULL);
}

TEST(dispatch)
{
    char *version[] = {"vocero", "--version", NULL};
    CHECK_EQ_INT(quiet(cli_main, 2, version), 0);
    CHECK(strncmp(out, "vocero ", 7) == 0);
    char *help[] = {"vocero", "--help", NULL};
    CHECK_EQ_INT(quiet(cli_main, 2, help), 0);
    CHECK(strstr(out, "  serve ") && strstr(out, "  models ") && strstr(out, "  llm-bench "));
    char *none[] = {"vocero", NULL};
    CHECK_EQ_INT(quiet(cli_main, 1, none), 2);
    char *unknown[] = {"vocero", "frobnicate", NULL};
    CHECK_EQ_INT(quiet(cli_main, 2, unknown), 2);
    char *routes[] = {"vocero", "routes", NULL};
    CHECK_EQ_INT(quiet(cli_main, 2, routes), 0);
    CHECK(strstr(out, "POST /generate-tts ") != NULL);
    /* a sub-command's own help, through the dispatch */
    char *serve_help[] = {"vocero", "serve", "--help", NULL};
    CHECK_EQ_INT(quiet(cli_main, 3, serve_help), 0);
    CHECK(strstr(out, "--env-file FILE") && strstr(out, "SECRET_KEY"));
    char *models_help[] = {"vocero", "models", "--help", NULL};
    CHECK_EQ_INT(quiet(cli_main, 3, models_help), 0);
    CHECK(strstr(out, "--models-dir DIR") && strstr(out, "  pull NAME..."));
    char *mr[] = {"vocero", "models", "make-random", "nope", NULL};
    CHECK_EQ_INT(quiet(cli_main, 4, mr), 2);
    char *user[] = {"vocero", "user", "remove", "bob", NULL};
    CHECK_EQ_INT(quiet(cli_main, 4, user), 2);
}

int main(void)
{
    RUN(values_of_every_kind);
    RUN(usage_errors_exit_2);
    RUN(help_lists_the_options);
    RUN(every_setting_is_a_flag);
    RUN(dispatch);
    return test_summary();
}
