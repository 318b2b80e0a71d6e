/* settings.c: the setting flags, made from the configuration table. */
#include "core/vb.h"
#include "cli/settings.h"
#include "core/alloc.h"
#include "core/log.h"

#include <ctype.h>

#define FLAG_NAME_CAP 64

void cli_settings_init(struct cli_settings *s, const struct cli_opt *own, size_t n_own)
{
    size_t n_set = vb_config_setting_count();
    memset(s, 0, sizeof *s);
    s->opts = vb_xcalloc(n_own + 1 + n_set, sizeof *s->opts);
    s->values = vb_xcalloc(n_set, sizeof *s->values);
    s->names = vb_xcalloc(n_set, FLAG_NAME_CAP);
    if (n_own)
        memcpy(s->opts, own, n_own * sizeof *own);
    s->n_opts = n_own;
    s->opts[s->n_opts++] =
        (struct cli_opt){"env-file", 0, CLI_TEXT, &s->env_file,
                         0,          0, "FILE",   "read settings from FILE instead of .env"};
    for (size_t i = 0; i < n_set; i++) {
        /* MAX_UPLOAD_MB -> max-upload-mb */
        const char *env = vb_config_setting_name(i);
        char *name = s->names + i * FLAG_NAME_CAP;
        size_t k = 0;
        for (; env[k] && k + 1 < FLAG_NAME_CAP; k++)
            name[k] = env[k] == '_' ? '-' : (char)tolower((unsigned char)env[k]);
        s->opts[s->n_opts++] = (struct cli_opt){name, 0, CLI_TEXT, &s->values[i], 0, 0, NULL, NULL};
    }
}

void cli_settings_describe(struct cli_settings *s, const char *name, const char *value,
                           const char *help)
{
    for (size_t i = 0; i < s->n_opts; i++) {
        if (strcmp(s->opts[i].name, name) == 0) {
            s->opts[i].value = value;
            s->opts[i].help = help;
        }
    }
}

int cli_settings_load(const struct cli_settings *s, const char *cmd_name, struct vb_config *cfg)
{
    char why[512];
    if (vb_config_load(cfg, s->env_file, why, sizeof why) != VB_OK) {
        fprintf(stderr, "vocero %s: configuration error: %s\n", cmd_name, why);
        return CLI_EXIT_USAGE;
    }
    for (size_t i = 0; i < vb_config_setting_count(); i++) {
        if (s->values[i] &&
            vb_config_set(cfg, vb_config_setting_name(i), s->values[i], why, sizeof why) != VB_OK) {
            fprintf(stderr, "vocero %s: %s\n", cmd_name, why);
            vb_config_release(cfg);
            return CLI_EXIT_USAGE;
        }
    }
    enum vb_log_level level = VB_LOG_INFO;
    if (vb_log_level_parse(cfg->log_level, &level))
        vb_log_set_level(level);
    return CLI_CONTINUE;
}

void cli_settings_release(struct cli_settings *s)
{
    vb_free(s->opts);
    vb_free((void *)s->values);
    vb_free(s->names);
    memset(s, 0, sizeof *s);
}
