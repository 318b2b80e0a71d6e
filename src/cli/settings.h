/* settings.h: the configuration flags shared by serve, user and models: `--env-file FILE` and
 * one `--name-with-dashes VALUE` per setting NAME_WITH_DASHES (core/config.h), so every
 * setting is also a flag. The command's own options come first in the table built here. */
#ifndef VB_CLI_SETTINGS_H
#define VB_CLI_SETTINGS_H

#include "cli/args.h"
#include "core/config.h"

struct cli_settings {
    struct cli_opt *opts; /* the command's options, --env-file, then one per setting */
    size_t n_opts;
    const char *env_file;
    const char **values; /* (vb_config_setting_count()) the flag's value, or NULL */
    char *names;         /* the flags' names, one after the other */
};

/* Builds the table: own[0..n_own) first; the setting flags are not listed by cli_usage (the
 * settings table is: vb_config_print_help). Release with cli_settings_release. */
void cli_settings_init(struct cli_settings *s, const struct cli_opt *own, size_t n_own);
/* Lists the setting flag `name` ("models-dir") in the usage text with this placeholder and help
 * line (a command's main settings); a name that is not a setting is ignored. */
void cli_settings_describe(struct cli_settings *s, const char *name, const char *value,
                           const char *help);
/* After cli_parse: loads the configuration (defaults, .env or --env-file, environment), then
 * applies the flags, and sets the log level. Returns CLI_CONTINUE, or CLI_EXIT_USAGE after
 * printing why (cfg left released). */
VB_WUR int cli_settings_load(const struct cli_settings *s, const char *cmd_name,
                             struct vb_config *cfg);
void cli_settings_release(struct cli_settings *s);

#endif
