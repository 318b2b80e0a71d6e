/* cli.c: serve, user and routes sub-commands. Flags `--name-with-dashes VALUE` set the
 * setting NAME_WITH_DASHES, so every configuration setting is also a flag. */
#include "core/vb.h"
#include "api/cli.h"
#include "api/app.h"
#include "api/storage.h"
#include "api/tts_jobs.h"
#include "api/users.h"
#include "core/config.h"
#include "core/log.h"
#include "http/http.h"

#include <ctype.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#define DRAIN_SECONDS 30

static void serve_usage(FILE *out)
{
    fprintf(out, "usage: vocero serve [--env-file FILE] [--SETTING VALUE]...\n\n"
                 "Runs the HTTP API. Settings come from defaults, then the .env file, then the\n"
                 "environment, then flags (--max-upload-mb 10 sets MAX_UPLOAD_MB).\n\n");
    vb_config_print_help(out);
}

/* Loads the configuration and applies the command-line flags after argv[0]. */
static int load_config(struct vb_config *cfg, int argc, char **argv, bool *help)
{
    const char *env_file = NULL;
    char why[512];
    *help = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            *help = true;
        else if (strcmp(argv[i], "--env-file") == 0 && i + 1 < argc)
            env_file = argv[++i];
    }
    if (*help)
        return 0;
    if (vb_config_load(cfg, env_file, why, sizeof why) != VB_OK) {
        fprintf(stderr, "vocero: configuration error: %s\n", why);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--env-file") == 0) {
            i++;
            continue;
        }
        if (strncmp(argv[i], "--", 2) != 0 || i + 1 >= argc) {
            fprintf(stderr, "vocero: unexpected argument '%s' (see --help)\n", argv[i]);
            return 2;
        }
        char name[64];
        size_t n = 0;
        for (const char *p = argv[i] + 2; *p && n + 1 < sizeof name; p++)
            name[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
        name[n] = '\0';
        if (vb_config_set(cfg, name, argv[++i], why, sizeof why) != VB_OK) {
            fprintf(stderr, "vocero: %s\n", why);
            return 2;
        }
    }
    enum vb_log_level level = VB_LOG_INFO;
    if (vb_log_level_parse(cfg->log_level, &level))
        vb_log_set_level(level);
    return 0;
}

static bool is_sqlite(const struct vb_config *cfg)
{
    return cfg->database_url && strncmp(cfg->database_url, "sqlite", 6) == 0;
}

static struct http_server *start_http(struct api_app *app, const struct vb_config *cfg)
{
    struct http_server_params p = {0};
    char why[512];
    p.host = cfg->host;
    p.port = cfg->port;
    p.io_threads = cfg->io_threads;
    p.workers = cfg->workers;
    p.long_workers = api_long_workers(cfg);
    p.auth_workers = cfg->auth_workers;
    p.queue_max = cfg->queue_max;
    p.body_max = (size_t)cfg->max_json_kb << 10;
    p.upload_max = (size_t)cfg->max_upload_mb << 20;
    p.request_timeout_s = cfg->request_timeout_s;
    p.header_timeout_s = cfg->header_timeout_s;
    p.max_conns_per_ip = cfg->max_conns_per_ip;
    p.allowed_hosts = cfg->allowed_hosts;
    p.cors_origins = cfg->cors_origins;
    p.routes = api_routes(&p.n_routes);
    p.app = app;
    p.auth = api_authenticate;
    struct http_server *s = http_server_start(&p, why, sizeof why);
    if (!s)
        fprintf(stderr, "vocero: cannot start the HTTP server: %s\n", why);
    else
        vb_info("vocero %s listening on http://%s:%d (database: %s)", VB_VERSION,
                cfg->host && *cfg->host ? cfg->host : "0.0.0.0", http_server_port(s),
                is_sqlite(cfg) ? "sqlite" : "postgresql");
    return s;
}

int api_cli_serve(int argc, char **argv)
{
    struct vb_config cfg = {0};
    struct api_app app = {0};
    char why[512];
    bool help;
    int lock_fd = -1;
    int rc = load_config(&cfg, argc, argv, &help);
    if (help) {
        serve_usage(stdout);
        return 0;
    }
    if (rc)
        goto out;
    rc = 1;
    /* before anything is written: folders apart, and no other server on this DATA_DIR */
    if (api_storage_claim(&cfg, &lock_fd, why, sizeof why) != VB_OK ||
        vb_config_ensure_secret(&cfg, why, sizeof why) != VB_OK) {
        fprintf(stderr, "vocero: %s\n", why);
        goto out;
    }
    /* Signals are taken synchronously by this thread; every thread started later inherits
     * the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (api_app_init(&app, &cfg, why, sizeof why) != VB_OK) {
        fprintf(stderr, "vocero: %s\n", why);
        goto out;
    }
    api_storage_sweep(&app);
    api_app_start_downloads(&app);
    struct http_server *s = start_http(&app, &cfg);
    if (!s)
        goto out;
    app.sweeper = api_storage_sweeper_start(&app);
    int sig = 0;
    sigwait(&set, &sig);
    vb_info("received %s: finishing in-flight requests", sig == SIGINT ? "SIGINT" : "SIGTERM");
    http_server_stop(s, DRAIN_SECONDS);
    rc = 0;
out:
    api_app_release(&app);
    if (rc == 0)
        vb_info("stopped");
    if (lock_fd >= 0)
        close(lock_fd);
    vb_config_release(&cfg);
    return rc;
}

/* Reads one line (the password) from stdin without its newline. */
static bool read_password(char *out, size_t cap)
{
    if (!fgets(out, (int)cap, stdin))
        return false;
    size_t n = strlen(out);
    while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
    return true;
}

int api_cli_user(int argc, char **argv)
{
    struct vb_config cfg = {0};
    struct api_app app = {0};
    char pw[1024] = "", why[512];
    bool help;
    int rc = 2, lock_fd = -1;
    if (argc < 3 || strcmp(argv[1], "add") != 0 || argv[2][0] == '-') {
        fprintf(stderr, "usage: vocero user add NAME   (reads the password from stdin)\n");
        return argc > 1 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    const char *name = argv[2], *problem;
    if ((rc = load_config(&cfg, argc - 2, argv + 2, &help)) != 0)
        goto out;
    rc = 1;
    if ((problem = api_username_problem(name))) {
        fprintf(stderr, "vocero: username: %s\n", problem);
        goto out;
    }
    if (isatty(STDIN_FILENO))
        fprintf(stderr, "Password for %s: ", name);
    if (!read_password(pw, sizeof pw) || (problem = api_password_problem(pw, strlen(pw)))) {
        fprintf(stderr, "vocero: password: %s\n", problem ? problem : "none given on stdin");
        goto out;
    }
    /* A running server holds its SQLite database alone (db/sqlite.c): say so at once. */
    if (is_sqlite(&cfg) && api_storage_claim(&cfg, &lock_fd, why, sizeof why) != VB_OK) {
        fprintf(stderr,
                "vocero: %s\n(with SQLite, accounts are added while the server is stopped; while "
                "it runs, use POST /auth/register or ADMIN_USERNAME/ADMIN_PASSWORD)\n",
                why);
        goto out;
    }
    if (api_app_init(&app, &cfg, why, sizeof why) != VB_OK) {
        fprintf(stderr, "vocero: %s\n", why);
        goto out;
    }
    enum vb_err err = api_users_create(&app, name, NULL, pw, NULL);
    if (err) {
        fprintf(stderr, "vocero: cannot create user '%s': %s\n", name,
                err == VB_ERR_CONFLICT ? "the name is taken" : vb_err_message(err));
        goto out;
    }
    printf("created user %s\n", name);
    rc = 0;
out:
    explicit_bzero(pw, sizeof pw);
    api_app_release(&app);
    if (lock_fd >= 0)
        close(lock_fd);
    vb_config_release(&cfg);
    return rc;
}

int api_cli_routes(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    size_t n;
    const struct http_route *r = api_routes(&n);
    for (size_t i = 0; i < n; i++)
        printf("%s %s %s\n", r[i].method, r[i].pattern, r[i].summary);
    return 0;
}
