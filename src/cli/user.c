/* user.c: `vocero user add NAME`: creates an account, the password read from stdin. */
#include "core/vb.h"
#include "api/app.h"
#include "api/storage.h"
#include "api/users.h"
#include "cli/cli.h"
#include "cli/settings.h"

#include <unistd.h>

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

/* Creates the account NAME on a loaded configuration; the exit status. */
static int user_add(struct vb_config *cfg, const char *name)
{
    struct api_app app = {0};
    char pw[1024] = "", why[512];
    int rc = 1, lock_fd = -1;
    const char *problem;
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
    bool sqlite = cfg->database_url && strncmp(cfg->database_url, "sqlite", 6) == 0;
    if (sqlite && api_storage_claim(cfg, &lock_fd, why, sizeof why) != VB_OK) {
        fprintf(stderr,
                "vocero: %s\n(with SQLite, accounts are added while the server is stopped; while "
                "it runs, use POST /auth/register or ADMIN_USERNAME/ADMIN_PASSWORD)\n",
                why);
        goto out;
    }
    if (api_app_init(&app, cfg, why, sizeof why) != VB_OK) {
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
    return rc;
}

int cli_user(int argc, char **argv)
{
    struct cli_settings s;
    struct vb_config cfg = {0};
    cli_settings_init(&s, NULL, 0);
    const struct cli_command cmd = {
        .name = "user",
        .synopsis = "add NAME [--env-file FILE] [--SETTING VALUE]...",
        .about = "Creates the account NAME; the password is read from stdin (one line).\n"
                 "The settings are those of `vocero serve --help` (DATABASE_URL, ...).",
        .opts = s.opts,
        .n_opts = s.n_opts,
        .min_args = 2,
        .max_args = 2,
    };
    int first, rc = cli_parse(&cmd, argc, argv, &first);
    if (rc == CLI_CONTINUE && strcmp(argv[first], "add") != 0)
        rc = cli_usage_error(&cmd, "unknown command '%s'", argv[first]);
    if (rc == CLI_CONTINUE)
        rc = cli_settings_load(&s, cmd.name, &cfg);
    if (rc == CLI_CONTINUE)
        rc = user_add(&cfg, argv[first + 1]);
    vb_config_release(&cfg);
    cli_settings_release(&s);
    return rc;
}
