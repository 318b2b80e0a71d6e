/* models.c: the `vocero models` sub-commands: list, pull (with a progress bar on a terminal
 * and plain lines otherwise; Ctrl-C keeps the partial file), verify, rm, path; make-random
 * goes to cli_make_random. */
#include "core/vb.h"
#include "cli/cli.h"
#include "cli/settings.h"
#include "models/download.h"
#include "models/local.h"
#include "models/registry.h"

#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#define BAR_WIDTH          24
#define PLAIN_EVERY_S      10.0
#define PLAIN_EVERY_PERMIL 250 /* also a line at every quarter */

static atomic_int interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    atomic_store(&interrupted, 1);
}

static void more_help(FILE *out)
{
    fprintf(out,
            "commands:\n"
            "  list              known models, their installed state and sizes\n"
            "  pull NAME...      download (resumes partial files; checks size and SHA-256)\n"
            "  verify [NAME...]  recompute the checksums of installed files (default: all)\n"
            "  rm NAME...        delete a model's files\n"
            "  path NAME         print the path of the model's first file\n"
            "  make-random MODEL ...\n"
            "                    random weights (vocero models make-random MODEL --help)\n\n"
            "MODELS_DIR and HF_TOKEN come from .env and the environment (any setting of\n"
            "`vocero serve --help` is also a flag); HF_ENDPOINT (default %s)\n"
            "selects a mirror.\n",
            MODELS_DEFAULT_ENDPOINT);
}

/* "1.23 GB" style, decimal units. */
static void human(uint64_t bytes, char *out, size_t cap)
{
    static const char *unit[] = {"B", "kB", "MB", "GB", "TB"};
    double v = (double)bytes;
    size_t u = 0;
    while (v >= 1000.0 && u + 1 < VB_ARRAY_LEN(unit)) {
        v /= 1000.0;
        u++;
    }
    if (u == 0)
        snprintf(out, cap, "%llu B", (unsigned long long)bytes);
    else
        snprintf(out, cap, "%.*f %s", v < 10 ? 2 : v < 100 ? 1 : 0, v, unit[u]);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct progress_state {
    bool tty;
    size_t last_file; /* index + 1 of the last file shown; 0 = none */
    double last_line_s;
    int last_permil;
};

static void on_progress(const struct models_progress *p, void *user)
{
    struct progress_state *ps = user;
    char done[32], total[32], rate[32];
    human(p->done, done, sizeof done);
    human(p->total, total, sizeof total);
    human((uint64_t)p->bytes_per_s, rate, sizeof rate);
    int permil = p->total ? (int)(p->done * 1000 / p->total) : -1;
    if (ps->tty) {
        char bar[BAR_WIDTH + 1];
        int fill = permil < 0 ? 0 : permil * BAR_WIDTH / 1000;
        for (int i = 0; i < BAR_WIDTH; i++)
            bar[i] = i < fill ? '#' : '-';
        bar[BAR_WIDTH] = '\0';
        char eta[32] = "";
        if (permil >= 0 && p->bytes_per_s > 0 && p->total > p->done && !p->finished) {
            uint64_t left = (uint64_t)((double)(p->total - p->done) / p->bytes_per_s);
            if (left >= 3600)
                snprintf(eta, sizeof eta, "  ETA %lluh%02llum", (unsigned long long)(left / 3600),
                         (unsigned long long)(left % 3600 / 60));
            else
                snprintf(eta, sizeof eta, "  ETA %llum%02llus", (unsigned long long)(left / 60),
                         (unsigned long long)(left % 60));
        }
        if (permil >= 0)
            fprintf(stderr, "\r\033[K[%zu/%zu] %-28.28s [%s] %5.1f%%  %s / %s  %s/s%s",
                    p->file_index + 1, p->n_files, p->file, bar, permil / 10.0, done, total, rate,
                    eta);
        else
            fprintf(stderr, "\r\033[K[%zu/%zu] %-28.28s %s  %s/s", p->file_index + 1, p->n_files,
                    p->file, done, rate);
        if (p->finished)
            fputc('\n', stderr);
        fflush(stderr);
        return;
    }
    double now = mono_s();
    bool new_file = ps->last_file != p->file_index + 1;
    if (new_file) {
        ps->last_file = p->file_index + 1;
        ps->last_permil = -1;
        ps->last_line_s = 0;
    }
    bool quarter =
        permil >= 0 && permil / PLAIN_EVERY_PERMIL != ps->last_permil / PLAIN_EVERY_PERMIL;
    if (!p->finished && !new_file && !quarter && now - ps->last_line_s < PLAIN_EVERY_S)
        return;
    ps->last_line_s = now;
    ps->last_permil = permil;
    if (p->finished)
        fprintf(stderr, "models: [%zu/%zu] %s: done (%s)\n", p->file_index + 1, p->n_files, p->file,
                done);
    else if (permil >= 0)
        fprintf(stderr, "models: [%zu/%zu] %s: %s of %s (%d%%), %s/s\n", p->file_index + 1,
                p->n_files, p->file, done, total, permil / 10, rate);
    else
        fprintf(stderr, "models: [%zu/%zu] %s: %s, %s/s\n", p->file_index + 1, p->n_files, p->file,
                done, rate);
}

static const struct models_entry *find_or_complain(const char *name)
{
    const struct models_entry *m = models_find(name);
    if (!m)
        fprintf(stderr, "vocero models: unknown model '%s' (see `vocero models list`)\n", name);
    return m;
}

static int cmd_list(const struct vb_config *cfg)
{
    size_t n = 0;
    const struct models_entry *reg = models_registry(&n);
    printf("MODELS_DIR: %s\n\n%-30s %-4s %-10s %s\n", cfg->models_dir, "NAME", "KIND", "SIZE",
           "STATE");
    for (size_t i = 0; i < n; i++) {
        const struct models_entry *m = &reg[i];
        uint64_t on_disk = 0, expected = 0, part = 0;
        bool exact = true, any = false, bad = false;
        for (size_t k = 0; k < m->n_files; k++) {
            uint64_t sz = 0;
            enum models_file_state s = models_file_state(cfg->models_dir, m, &m->files[k], &sz);
            uint64_t want = models_file_expected_size(cfg->models_dir, m, &m->files[k]);
            if (!want) {
                want = s != MODELS_FILE_MISSING ? sz : m->files[k].approx_size;
                exact = exact && s != MODELS_FILE_MISSING;
            }
            expected += want;
            on_disk += sz;
            any = any || s != MODELS_FILE_MISSING;
            bad = bad || s == MODELS_FILE_BAD_SIZE;
            if (s == MODELS_FILE_MISSING)
                part += models_file_part_size(cfg->models_dir, m, &m->files[k]);
        }
        char size[32], state[96], name[64];
        human(expected, size + 1, sizeof size - 1);
        size[0] = '~';
        const char *shown = exact ? size + 1 : size;
        if (models_is_installed(cfg->models_dir, m))
            snprintf(state, sizeof state, "installed");
        else if (bad)
            snprintf(state, sizeof state, "damaged (wrong size): pull again");
        else if (any || part)
            snprintf(state, sizeof state, "partial (%d%%)",
                     expected ? (int)((on_disk + part) * 100 / expected) : 0);
        else
            snprintf(state, sizeof state, "missing");
        snprintf(name, sizeof name, "%s%s", m->name, m->is_default ? " *" : "");
        printf("%-30s %-4s %-10s %s\n", name, models_kind_name(m->kind), shown, state);
    }
    printf("\n* default model, pulled at server start when MODELS_AUTO_DOWNLOAD is true\n");
    return 0;
}

static int cmd_pull(const struct vb_config *cfg, char **names, int n)
{
    if (n == 0) {
        fprintf(stderr, "vocero models pull: which model? (see `vocero models list`)\n");
        return 2;
    }
    for (int i = 0; i < n; i++)
        if (!find_or_complain(names[i]))
            return 2;
    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    int status = 0;
    for (int i = 0; i < n && !atomic_load(&interrupted); i++) {
        const struct models_entry *m = models_find(names[i]);
        struct progress_state ps = {.tty = isatty(STDERR_FILENO) == 1};
        struct models_download_params p;
        char why[512] = "", dir[4096] = "";
        models_download_default_params(&p);
        p.token = cfg->hf_token;
        p.progress = on_progress;
        p.progress_user = &ps;
        p.cancel = &interrupted;
        if (models_is_installed(cfg->models_dir, m)) {
            printf("%s: already installed\n", m->name);
            continue;
        }
        fprintf(stderr, "models: pulling %s from %s (%zu file%s)\n", m->name, m->repo, m->n_files,
                m->n_files == 1 ? "" : "s");
        enum vb_err err = models_pull(cfg->models_dir, m, &p, why, sizeof why);
        if (ps.tty && err)
            fputc('\n', stderr);
        if (err) {
            fprintf(stderr, "vocero models pull %s: %s\n", m->name, why);
            status = 1;
            continue;
        }
        if (models_dir_path(cfg->models_dir, m, dir, sizeof dir) != VB_OK)
            dir[0] = '\0';
        printf("%s: installed in %s\n", m->name, dir);
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return status;
}

/* Verifies m; returns the number of problems. *present gets whether any file exists. */
static int verify_model(const struct vb_config *cfg, const struct models_entry *m, bool *present)
{
    int problems = 0;
    *present = false;
    for (size_t k = 0; k < m->n_files; k++)
        if (models_file_state(cfg->models_dir, m, &m->files[k], NULL) != MODELS_FILE_MISSING)
            *present = true;
    if (!*present)
        return 0;
    printf("%s:\n", m->name);
    for (size_t k = 0; k < m->n_files; k++) {
        enum models_verify_result r;
        char sha[65], why[512] = "";
        enum vb_err err = models_verify_file(cfg->models_dir, m, &m->files[k], &interrupted, &r,
                                             sha, why, sizeof why);
        if (err) {
            printf("  %-18s %s: %s\n", "error", m->files[k].local_name, why);
            problems++;
            continue;
        }
        printf("  %-18s %s%s%s\n", models_verify_result_name(r), m->files[k].local_name,
               sha[0] ? "  " : "", sha);
        if (r != MODELS_VERIFY_OK && r != MODELS_VERIFY_OK_RECORDED && r != MODELS_VERIFY_UNCHECKED)
            problems++;
    }
    return problems;
}

static int cmd_verify(const struct vb_config *cfg, char **names, int n)
{
    int problems = 0, checked = 0;
    bool present = false;
    struct sigaction sa = {0}, old_int;
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, &old_int);
    if (n > 0) {
        for (int i = 0; i < n; i++) {
            const struct models_entry *m = find_or_complain(names[i]);
            if (!m) {
                problems++;
                continue;
            }
            problems += verify_model(cfg, m, &present);
            if (!present) {
                printf("%s: not installed\n", m->name);
                problems++;
            }
            checked++;
        }
    } else {
        size_t count = 0;
        const struct models_entry *reg = models_registry(&count);
        for (size_t i = 0; i < count; i++) {
            problems += verify_model(cfg, &reg[i], &present);
            checked += present;
        }
        if (!checked)
            printf("no models installed in %s\n", cfg->models_dir);
    }
    sigaction(SIGINT, &old_int, NULL);
    if (problems)
        printf("%d problem%s found; `vocero models pull NAME` repairs a model\n", problems,
               problems == 1 ? "" : "s");
    return problems ? 1 : 0;
}

static int cmd_rm(const struct vb_config *cfg, char **names, int n)
{
    int status = 0;
    if (n == 0) {
        fprintf(stderr, "vocero models rm: which model?\n");
        return 2;
    }
    for (int i = 0; i < n; i++) {
        const struct models_entry *m = find_or_complain(names[i]);
        size_t removed = 0;
        char why[512] = "";
        if (!m) {
            status = 2;
            continue;
        }
        if (models_remove(cfg->models_dir, m, &removed, why, sizeof why) != VB_OK) {
            fprintf(stderr, "vocero models rm %s: %s\n", m->name, why);
            status = 1;
            continue;
        }
        printf("%s: removed %zu file%s\n", m->name, removed, removed == 1 ? "" : "s");
    }
    return status;
}

static int cmd_path(const struct vb_config *cfg, char **names, int n)
{
    char path[4096];
    if (n != 1) {
        fprintf(stderr, "vocero models path: give one model name\n");
        return 2;
    }
    const struct models_entry *m = find_or_complain(names[0]);
    if (!m)
        return 2;
    enum vb_err err = m->n_files == 1
                          ? models_file_path(cfg->models_dir, m, &m->files[0], path, sizeof path)
                          : models_dir_path(cfg->models_dir, m, path, sizeof path);
    if (err) {
        fprintf(stderr, "vocero models path: MODELS_DIR too long\n");
        return 1;
    }
    printf("%s\n", path);
    return 0;
}

int cli_models(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "make-random") == 0)
        return cli_make_random(argc - 1, argv + 1);
    struct cli_settings s;
    struct vb_config cfg = {0};
    cli_settings_init(&s, NULL, 0);
    cli_settings_describe(&s, "models-dir", "DIR", "where the model files are (MODELS_DIR)");
    const struct cli_command cmd = {
        .name = "models",
        .synopsis = "COMMAND [NAME...] [--env-file FILE] [--models-dir DIR]",
        .opts = s.opts,
        .n_opts = s.n_opts,
        .min_args = 1,
        .max_args = -1,
        .more_help = more_help,
    };
    int first, status = cli_parse(&cmd, argc, argv, &first);
    const char *sub = status == CLI_CONTINUE ? argv[first] : NULL;
    char **names = argv + first + 1;
    int n = argc - first - 1;
    if (sub && strcmp(sub, "help") == 0) {
        cli_usage(&cmd, stdout);
        status = 0;
    } else if (sub && strcmp(sub, "list") != 0 && strcmp(sub, "pull") != 0 &&
               strcmp(sub, "verify") != 0 && strcmp(sub, "rm") != 0 && strcmp(sub, "path") != 0) {
        status = cli_usage_error(&cmd, "unknown command '%s'", sub);
    }
    if (status == CLI_CONTINUE)
        status = cli_settings_load(&s, cmd.name, &cfg);
    if (status != CLI_CONTINUE)
        goto out;
    atomic_store(&interrupted, 0);
    if (strcmp(sub, "list") == 0)
        status = n ? cli_usage_error(&cmd, "list takes no names") : cmd_list(&cfg);
    else if (strcmp(sub, "pull") == 0)
        status = cmd_pull(&cfg, names, n);
    else if (strcmp(sub, "verify") == 0)
        status = cmd_verify(&cfg, names, n);
    else if (strcmp(sub, "rm") == 0)
        status = cmd_rm(&cfg, names, n);
    else
        status = cmd_path(&cfg, names, n);
    if (atomic_load(&interrupted))
        fprintf(stderr, "vocero models: interrupted; partial downloads are kept and resume on "
                        "the next pull\n");
out:
    vb_config_release(&cfg);
    cli_settings_release(&s);
    return status;
}
