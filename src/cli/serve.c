/* serve.c: `vocero serve` (the HTTP API until a signal, then a drain) and `vocero routes`. */
#include "core/vb.h"
#include "api/app.h"
#include "api/storage.h"
#include "cli/cli.h"
#include "cli/settings.h"
#include "core/log.h"
#include "http/http.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#define DRAIN_SECONDS 30

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

/* Runs the server on a loaded configuration until SIGTERM/SIGINT; the exit status. */
static int serve(struct vb_config *cfg)
{
    struct api_app app = {0};
    char why[512];
    int rc = 1, lock_fd = -1;
    /* before anything is written: folders apart, and no other server on this DATA_DIR */
    if (api_storage_claim(cfg, &lock_fd, why, sizeof why) != VB_OK ||
        vb_config_ensure_secret(cfg, why, sizeof why) != VB_OK) {
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
    if (api_app_init(&app, cfg, why, sizeof why) != VB_OK) {
        fprintf(stderr, "vocero: %s\n", why);
        goto out;
    }
    api_storage_sweep(&app);
    api_app_start_downloads(&app);
    struct http_server *s = start_http(&app, cfg);
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
    return rc;
}

int cli_serve(int argc, char **argv)
{
    struct cli_settings s;
    struct vb_config cfg = {0};
    cli_settings_init(&s, NULL, 0);
    const struct cli_command cmd = {
        .name = "serve",
        .synopsis = "[--env-file FILE] [--SETTING VALUE]...",
        .about = "Runs the HTTP API. Settings come from defaults, then the .env file, then the\n"
                 "environment, then flags (--max-upload-mb 10 sets MAX_UPLOAD_MB).",
        .opts = s.opts,
        .n_opts = s.n_opts,
        .more_help = vb_config_print_help,
    };
    int first, rc = cli_parse(&cmd, argc, argv, &first);
    if (rc == CLI_CONTINUE)
        rc = cli_settings_load(&s, cmd.name, &cfg);
    if (rc == CLI_CONTINUE)
        rc = serve(&cfg);
    vb_config_release(&cfg);
    cli_settings_release(&s);
    return rc;
}

int cli_routes(int argc, char **argv)
{
    const struct cli_command cmd = {.name = "routes",
                                    .synopsis = "",
                                    .about = "Prints \"METHOD PATTERN summary\" for every route "
                                             "of the HTTP API."};
    int first, rc = cli_parse(&cmd, argc, argv, &first);
    if (rc != CLI_CONTINUE)
        return rc;
    size_t n;
    const struct http_route *r = api_routes(&n);
    for (size_t i = 0; i < n; i++)
        printf("%s %s %s\n", r[i].method, r[i].pattern, r[i].summary);
    return 0;
}
