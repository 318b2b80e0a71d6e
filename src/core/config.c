/* config.c: one table of settings drives defaults, .env parsing, environment overrides,
 * validation, --help and the development secret key. */
#include "core/vb.h"
#include "core/config.h"
#include "core/err.h"
#include "core/alloc.h"
#include "core/crypto.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define ENV_FILE_MAX_BYTES (1u << 20)
#define SECRET_MIN_LEN     32
#define SECRET_RAW_BYTES   32
#define SECRET_FILE_NAME   "secret_key"
#define SECRET_HINT        "generate one with: openssl rand -hex 32"

enum opt_type {
    OPT_STRING,
    OPT_INT,
    OPT_BOOL,
    OPT_ENUM, /* stored as int-sized enum: index into `choices` */
};

enum opt_flags {
    OPT_NULLABLE = 1 << 0, /* string: empty value means unset (NULL) */
    OPT_NONEMPTY = 1 << 1, /* string: must not be empty */
    OPT_SECRET = 1 << 2,   /* never shown in logs */
};

struct opt {
    const char *name;
    enum opt_type type;
    const char *def; /* default as text; NULL = unset (strings only) */
    long min, max;   /* OPT_INT range, inclusive */
    unsigned flags;
    const char *const *choices; /* OPT_ENUM names, NULL-terminated; index = stored value */
    /* Extra check for strings; returns a reason or NULL when the value is fine. */
    const char *(*check)(const char *value);
    size_t offset;
    const char *help;
};

static const char *const env_names[] = {"development", "production", NULL};

static bool in_list(const char *v, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(v, *list) == 0)
            return true;
    return false;
}

static const char *check_t3_weights(const char *v)
{
    static const char *const ok[] = {"f32",  "f16",  "bf16", "q8_0", "q6_k", "q5_k",
                                     "q4_k", "q5_1", "q5_0", "q4_1", "q4_0", NULL};
    return in_list(v, ok) ? NULL
                          : "use f32, f16, bf16, q8_0, q6_k, q5_k, q4_k, q5_1, q5_0, q4_1 or q4_0";
}

static const char *check_s3gen_weights(const char *v)
{
    static const char *const ok[] = {"f32", "f16", "bf16", NULL};
    return in_list(v, ok) ? NULL : "use f32, f16 or bf16";
}

static const char *check_database_url(const char *v)
{
    if (strncmp(v, "sqlite://", 9) == 0) {
        return v[9] ? NULL : "sqlite:// needs a file path, e.g. sqlite://data/vocero.db";
    }
    if (strncmp(v, "postgres://", 11) == 0 || strncmp(v, "postgresql://", 13) == 0)
        return NULL;
    return "must start with sqlite://, postgres:// or postgresql://";
}

static const char *check_log_level(const char *v)
{
    enum vb_log_level level;
    return vb_log_level_parse(v, &level) ? NULL : "must be one of debug, info, warn, error";
}

#define OFF(field) offsetof(struct vb_config, field)

static const struct opt opts[] = {
    {"SECRET_KEY", OPT_STRING, NULL, 0, 0, OPT_NULLABLE | OPT_SECRET, NULL, NULL, OFF(secret_key),
     "key for JWT and signed URLs (>= 32 chars; required in production)"},
    {"DATABASE_URL", OPT_STRING, "sqlite://data/vocero.db", 0, 0, OPT_NONEMPTY | OPT_SECRET, NULL,
     check_database_url, OFF(database_url), "sqlite://PATH or postgres(ql)://USER:PASS@HOST/DB"},
    {"STORAGE_DIR", OPT_STRING, "outputs", 0, 0, OPT_NONEMPTY, NULL, NULL, OFF(storage_dir),
     "directory for generated audio"},
    {"VOICES_DIR", OPT_STRING, "voices", 0, 0, OPT_NONEMPTY, NULL, NULL, OFF(voices_dir),
     "directory for uploaded reference voices"},
    {"MODELS_DIR", OPT_STRING, "models", 0, 0, OPT_NONEMPTY, NULL, NULL, OFF(models_dir),
     "directory for model files"},
    {"DATA_DIR", OPT_STRING, "data", 0, 0, OPT_NONEMPTY, NULL, NULL, OFF(data_dir),
     "directory for the SQLite database and the development secret key"},
    {"SWEEP_INTERVAL_SECONDS", OPT_INT, "3600", 0, 31536000, 0, NULL, NULL, OFF(sweep_interval_s),
     "seconds between sweeps of orphan files in STORAGE_DIR and VOICES_DIR (0 = at start-up "
     "only)"},
    {"HF_TOKEN", OPT_STRING, NULL, 0, 0, OPT_NULLABLE | OPT_SECRET, NULL, NULL, OFF(hf_token),
     "Hugging Face token for model downloads"},
    {"ALLOWED_HOSTS", OPT_STRING, "*", 0, 0, OPT_NONEMPTY, NULL, NULL, OFF(allowed_hosts),
     "comma-separated Host header values accepted, or *"},
    {"HOST", OPT_STRING, "0.0.0.0", 0, 0, OPT_NONEMPTY, NULL, NULL, OFF(host), "bind address"},
    {"PORT", OPT_INT, "8000", 0, 65535, 0, NULL, NULL, OFF(port), "TCP port (0 = any free port)"},
    {"CORS_ORIGINS", OPT_STRING, "", 0, 0, 0, NULL, NULL, OFF(cors_origins),
     "comma-separated allowed CORS origins, or *; empty = CORS off"},
    {"MAX_UPLOAD_MB", OPT_INT, "50", 1, 4096, 0, NULL, NULL, OFF(max_upload_mb),
     "largest accepted upload in MiB"},
    {"MAX_JSON_KB", OPT_INT, "256", 64, 1048576, 0, NULL, NULL, OFF(max_json_kb),
     "largest accepted JSON (and other non-upload) request body in KiB"},
    {"MAX_CONNECTIONS_PER_IP", OPT_INT, "128", 0, 1000000, 0, NULL, NULL, OFF(max_conns_per_ip),
     "open connections allowed from one client address (0 = no limit)"},
    {"HEADER_TIMEOUT_SECONDS", OPT_INT, "10", 1, 3600, 0, NULL, NULL, OFF(header_timeout_s),
     "time a client has to send a whole request head (line and headers)"},
    {"LOG_LEVEL", OPT_STRING, "info", 0, 0, OPT_NONEMPTY, NULL, check_log_level, OFF(log_level),
     "debug, info, warn or error"},
    {"VOCERO_ENV", OPT_ENUM, "development", 0, 0, 0, env_names, NULL, OFF(env),
     "development or production"},
    {"ADMIN_USERNAME", OPT_STRING, NULL, 0, 0, OPT_NULLABLE, NULL, NULL, OFF(admin_username),
     "admin account created or updated at start-up"},
    {"ADMIN_PASSWORD", OPT_STRING, NULL, 0, 0, OPT_NULLABLE | OPT_SECRET, NULL, NULL,
     OFF(admin_password), "password of the admin account"},
    {"ALLOW_REGISTRATION", OPT_BOOL, "true", 0, 0, 0, NULL, NULL, OFF(allow_registration),
     "allow POST /auth/register"},
    {"JWT_TTL_SECONDS", OPT_INT, "86400", 60, 31536000, 0, NULL, NULL, OFF(jwt_ttl_s),
     "access token lifetime in seconds"},
    {"WORKERS", OPT_INT, "8", 1, 1024, 0, NULL, NULL, OFF(workers), "request worker threads"},
    {"IO_THREADS", OPT_INT, "4", 1, 256, 0, NULL, NULL, OFF(io_threads), "HTTP I/O threads"},
    {"QUEUE_MAX", OPT_INT, "256", 1, 1000000, 0, NULL, NULL, OFF(queue_max),
     "queued requests before answering 503"},
    {"REQUEST_TIMEOUT_SECONDS", OPT_INT, "60", 1, 86400, 0, NULL, NULL, OFF(request_timeout_s),
     "per-request time limit in seconds"},
    {"BCRYPT_COST", OPT_INT, "12", 4, 31, 0, NULL, NULL, OFF(bcrypt_cost),
     "bcrypt work factor for new password hashes"},
    {"TRUSTED_PROXIES", OPT_STRING, "", 0, 0, 0, NULL, NULL, OFF(trusted_proxies),
     "reverse proxies (IP addresses or CIDR networks, comma-separated) whose X-Forwarded-For "
     "names the client for the failed-login limits; empty = the TCP peer is the client"},
    {"AUTH_WORKERS", OPT_INT, "2", 1, 64, 0, NULL, NULL, OFF(auth_workers),
     "threads that check passwords (bcrypt), apart from WORKERS"},
    {"BASIC_AUTH_CACHE_SECONDS", OPT_INT, "60", 1, 3600, 0, NULL, NULL, OFF(basic_auth_cache_s),
     "how long verified Basic credentials are remembered (refreshed before they expire)"},
    {"SIGNED_URL_TTL_SECONDS", OPT_INT, "3600", 1, 31536000, 0, NULL, NULL, OFF(signed_url_ttl_s),
     "lifetime of signed download URLs in seconds"},
    {"SWAGGER_UI_DIR", OPT_STRING, "node_modules/swagger-ui-dist", 0, 0, OPT_NONEMPTY, NULL, NULL,
     OFF(swagger_ui_dir), "directory with swagger-ui-dist files served under /docs"},
    {"LLM_THREADS", OPT_INT, "0", 0, 1024, 0, NULL, NULL, OFF(llm_threads),
     "CPU threads for the chat LLM (0 = auto)"},
    {"LLM_MODEL", OPT_STRING, "qwen2.5-3b-instruct", 0, 0, OPT_NONEMPTY, NULL, NULL, OFF(llm_model),
     "chat model: a registry name (vocero models list) or a GGUF file path"},
    {"LLM_CONTEXT", OPT_INT, "4096", 256, 131072, 0, NULL, NULL, OFF(llm_context),
     "chat context window in tokens (capped by the model's training context)"},
    {"LLM_QUEUE_MAX", OPT_INT, "4", 1, 1024, 0, NULL, NULL, OFF(llm_queue_max),
     "chat requests waiting for the model before 503"},
    {"LLM_CACHE_THREADS", OPT_INT, "2", 1, 16, 0, NULL, NULL, OFF(llm_cache_threads),
     "chat threads whose KV cache is kept between turns (LRU)"},
    {"TTS_ENGINE", OPT_STRING, "auto", 0, 0, OPT_NONEMPTY, NULL, NULL, OFF(tts_engine),
     "default text-to-speech engine: espeak-ng, chatterbox-turbo, or auto (chatterbox-turbo "
     "when its files are installed, else espeak-ng)"},
    {"MODELS_AUTO_DOWNLOAD", OPT_BOOL, "true", 0, 0, 0, NULL, NULL, OFF(models_auto_download),
     "download missing model files on demand"},
    {"WORKERS_TTS", OPT_INT, "2", 1, 64, 0, NULL, NULL, OFF(tts_workers),
     "speech generations run at the same time"},
    {"TTS_QUEUE_MAX", OPT_INT, "4", 1, 100000, 0, NULL, NULL, OFF(tts_queue_max),
     "speech generations waiting before answering 503"},
    {"TTS_THREADS", OPT_INT, "0", 0, 1024, 0, NULL, NULL, OFF(tts_threads),
     "CPU threads of each Chatterbox-Turbo generation (0 = all)"},
    {"CHATTERBOX_T3_WEIGHTS", OPT_STRING, "q8_0", 0, 0, OPT_NONEMPTY, NULL, check_t3_weights,
     OFF(cb_t3_weights),
     "T3 weights converted at load (f32 exact ... q4_0 fastest): speed against fidelity"},
    {"CHATTERBOX_S3GEN_WEIGHTS", OPT_STRING, "bf16", 0, 0, OPT_NONEMPTY, NULL, check_s3gen_weights,
     OFF(cb_s3gen_weights), "S3Gen weights: f32, f16 or bf16 (Intel AMX; f16 without it)"},
    {"CHATTERBOX_KEEP_ENCODERS", OPT_BOOL, "false", 0, 0, 0, NULL, NULL, OFF(cb_keep_encoders),
     "keep the speech tokenizer and CAMPPlus (~270 MB) loaded between new voices"},
    {"CHATTERBOX_STREAM_FIRST_TOKENS", OPT_INT, "10", 1, 1000, 0, NULL, NULL,
     OFF(cb_stream_first_tokens),
     "stream=true: speech tokens (25 per second) of audio in the first streamed piece"},
    {"CHATTERBOX_STREAM_PROMPT_TOKENS", OPT_INT, "75", 0, 1000, 0, NULL, NULL,
     OFF(cb_stream_prompt_tokens),
     "stream=true: prompt tokens the streamed pieces are rendered with (0 = the whole prompt)"},
    {"QUOTA_CHAT_THREADS", OPT_INT, "10000", 0, 1000000000, 0, NULL, NULL, OFF(quota_chat_threads),
     "chat threads per user (0 = unlimited)"},
    {"QUOTA_VOICES", OPT_INT, "1000", 0, 1000000000, 0, NULL, NULL, OFF(quota_voices),
     "voices per user (0 = unlimited)"},
    {"QUOTA_STORAGE_MB", OPT_INT, "0", 0, 1000000000, 0, NULL, NULL, OFF(quota_storage_mb),
     "MiB of voices and generated audio stored per user (0 = unlimited)"},
    {"QUOTA_GENERATIONS_PER_HOUR", OPT_INT, "0", 0, 1000000000, 0, NULL, NULL,
     OFF(quota_generations_per_hour),
     "stored speech generations per user per hour (0 = unlimited)"},
};

static const struct opt *opt_find(const char *name)
{
    for (size_t i = 0; name && i < VB_ARRAY_LEN(opts); i++)
        if (strcmp(opts[i].name, name) == 0)
            return &opts[i];
    return NULL;
}

static char **field_str(struct vb_config *cfg, const struct opt *o)
{
    return (char **)((char *)cfg + o->offset);
}

static bool parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < VB_ARRAY_LEN(yes); i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* Parses and stores one value; on error cfg is unchanged. */
static enum vb_err opt_apply(struct vb_config *cfg, const struct opt *o, const char *value,
                             char *why, size_t why_cap)
{
    void *field = (char *)cfg + o->offset;
    if (!value) {
        return vb_failf(why, why_cap, VB_ERR_INVALID, "%s: missing value", o->name);
    }
    switch (o->type) {
    case OPT_STRING: {
        if ((o->flags & OPT_NONEMPTY) && !*value) {
            return vb_failf(why, why_cap, VB_ERR_INVALID, "%s: must not be empty", o->name);
        }
        const char *reason = o->check && *value ? o->check(value) : NULL;
        if (reason) {
            return vb_failf(why, why_cap, VB_ERR_INVALID, "%s: %s", o->name, reason);
        }
        char **slot = field_str(cfg, o);
        char *copy = (o->flags & OPT_NULLABLE) && !*value ? NULL : vb_xstrdup(value);
        if (*slot)
            vb_free_secure(*slot, strlen(*slot));
        *slot = copy;
        return VB_OK;
    }
    case OPT_INT: {
        char *end = NULL;
        errno = 0;
        long v = strtol(value, &end, 10);
        bool starts_ok = (*value >= '0' && *value <= '9') || *value == '-';
        if (!starts_ok || *end || errno) {
            return vb_failf(why, why_cap, VB_ERR_INVALID, "%s: \"%.40s\" is not an integer",
                            o->name, value);
        }
        if (v < o->min || v > o->max) {
            return vb_failf(why, why_cap, VB_ERR_INVALID, "%s: %ld is out of range %ld..%ld",
                            o->name, v, o->min, o->max);
        }
        *(int *)field = (int)v;
        return VB_OK;
    }
    case OPT_BOOL: {
        bool b;
        if (!parse_bool(value, &b)) {
            return vb_failf(why, why_cap, VB_ERR_INVALID,
                            "%s: \"%.40s\" is not a boolean (use true/false, 1/0, yes/no)", o->name,
                            value);
        }
        *(bool *)field = b;
        return VB_OK;
    }
    case OPT_ENUM:
        for (int i = 0; o->choices[i]; i++) {
            if (strcasecmp(value, o->choices[i]) == 0) {
                /* Only enum vb_env_kind uses OPT_ENUM; it is int-sized. */
                *(enum vb_env_kind *)field = (enum vb_env_kind)i;
                return VB_OK;
            }
        }
        return vb_failf(why, why_cap, VB_ERR_INVALID, "%s: \"%.40s\" is not one of %s|%s", o->name,
                        value, o->choices[0], o->choices[1]);
    }
    return VB_ERR_INTERNAL;
}

enum vb_err vb_config_set(struct vb_config *cfg, const char *name, const char *value, char *why,
                          size_t why_cap)
{
    const struct opt *o = opt_find(name);
    if (!cfg || !o) {
        return vb_failf(why, why_cap, VB_ERR_INVALID, "%s: unknown setting",
                        name ? name : "(null)");
    }
    return opt_apply(cfg, o, value, why, why_cap);
}

void vb_config_release(struct vb_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < VB_ARRAY_LEN(opts); i++) {
        if (opts[i].type != OPT_STRING)
            continue;
        char **slot = field_str(cfg, &opts[i]);
        if (*slot)
            vb_free_secure(*slot, strlen(*slot));
        *slot = NULL;
    }
    memset(cfg, 0, sizeof *cfg);
}

/* ===== .env files ===== */

/* Reads a whole file (at most ENV_FILE_MAX_BYTES) into *out (caller frees with vb_free). */
static enum vb_err read_file(const char *path, char **out, size_t *out_len)
{
    enum vb_err err = VB_OK;
    char *data = NULL;
    size_t len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT || errno == ENOTDIR ? VB_ERR_NOT_FOUND : VB_ERR_IO;
    data = vb_try_malloc(ENV_FILE_MAX_BYTES + 1);
    if (!data) {
        err = VB_ERR_NOMEM;
        goto out;
    }
    len = fread(data, 1, ENV_FILE_MAX_BYTES + 1, f);
    if (ferror(f)) {
        err = VB_ERR_IO;
        goto out;
    }
    if (len > ENV_FILE_MAX_BYTES) {
        err = VB_ERR_TOO_LARGE;
        goto out;
    }
    data[len] = '\0';
out:
    fclose(f);
    if (err) {
        vb_free_secure(data, ENV_FILE_MAX_BYTES + 1);
        return err;
    }
    *out = data;
    *out_len = len;
    return VB_OK;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_key_char(char c, bool first)
{
    return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (!first && c >= '0' && c <= '9');
}

/* After a closing quote only blanks and a `#` comment may follow. */
static bool rest_is_comment(const char *p)
{
    while (is_blank(*p))
        p++;
    return *p == '\0' || *p == '#';
}

/* Parses one line in place (NUL-terminated, no newline). Sets *key and *value to NULL
 * for blank and comment lines. Returns a reason on a syntax error, else NULL. */
static const char *parse_env_line(char *line, char **key, char **value)
{
    *key = *value = NULL;
    char *p = line;
    while (is_blank(*p))
        p++;
    if (*p == '\0' || *p == '#')
        return NULL;
    if (strncmp(p, "export", 6) == 0 && is_blank(p[6])) {
        p += 6;
        while (is_blank(*p))
            p++;
    }
    if (!is_key_char(*p, true))
        return "expected KEY=VALUE";
    char *k = p;
    while (is_key_char(*p, false))
        p++;
    char *key_end = p;
    while (is_blank(*p))
        p++;
    if (*p != '=')
        return "expected '=' after the name";
    *key_end = '\0';
    p++;
    while (is_blank(*p))
        p++;
    char *v = p;
    if (*p == '\'') {
        v = ++p;
        char *close = strchr(p, '\'');
        if (!close)
            return "unterminated single quote";
        *close = '\0';
        if (!rest_is_comment(close + 1))
            return "unexpected text after the closing quote";
    } else if (*p == '"') {
        char *dst = ++p;
        v = dst;
        for (;;) {
            if (*p == '\0')
                return "unterminated double quote";
            if (*p == '"')
                break;
            if (*p == '\\' && p[1]) {
                p++;
                switch (*p) {
                case 'n':
                    *dst++ = '\n';
                    break;
                case 't':
                    *dst++ = '\t';
                    break;
                case 'r':
                    *dst++ = '\r';
                    break;
                case '"':
                case '\\':
                case '$':
                    *dst++ = *p;
                    break;
                default:
                    *dst++ = '\\';
                    *dst++ = *p;
                }
                p++;
                continue;
            }
            *dst++ = *p++;
        }
        char *after = p + 1;
        *dst = '\0';
        if (!rest_is_comment(after))
            return "unexpected text after the closing quote";
    } else {
        /* Unquoted: ends at a `#` that follows a blank (v[-1] is '=' or a blank), trailing
         * blanks dropped. */
        char *end = p;
        while (*end && !(*end == '#' && is_blank(end[-1])))
            end++;
        while (end > v && is_blank(end[-1]))
            end--;
        *end = '\0';
    }
    *key = k;
    *value = v;
    return NULL;
}

static enum vb_err load_env_file(struct vb_config *cfg, const char *path, bool must_exist,
                                 char *why, size_t why_cap)
{
    char *data = NULL;
    size_t len = 0;
    enum vb_err err = read_file(path, &data, &len);
    if (err == VB_ERR_NOT_FOUND && !must_exist)
        return VB_OK;
    if (err) {
        vb_failf(why, why_cap, err, "%s: %s", path,
                 err == VB_ERR_NOT_FOUND   ? "no such file"
                 : err == VB_ERR_TOO_LARGE ? "larger than 1 MiB"
                                           : vb_err_message(err));
        return err;
    }
    if (memchr(data, '\0', len)) {
        err = vb_failf(why, why_cap, VB_ERR_INVALID, "%s: contains a NUL byte", path);
        goto out;
    }
    char *line = data;
    for (int lineno = 1; line && *line; lineno++) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        size_t n = strlen(line);
        if (n && line[n - 1] == '\r')
            line[n - 1] = '\0';
        char *key, *value;
        const char *reason = parse_env_line(line, &key, &value);
        if (reason) {
            err = vb_failf(why, why_cap, VB_ERR_INVALID, "%s:%d: %s", path, lineno, reason);
            goto out;
        }
        const struct opt *o = key ? opt_find(key) : NULL;
        if (key && !o)
            vb_debug("%s:%d: ignoring unknown setting %s", path, lineno, key);
        if (o) {
            char inner[192];
            err = opt_apply(cfg, o, value, inner, sizeof inner);
            if (err) {
                vb_failf(why, why_cap, err, "%s:%d: %s", path, lineno, inner);
                goto out;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
out:
    vb_free_secure(data, len);
    return err;
}

enum vb_err vb_config_load(struct vb_config *cfg, const char *env_file, char *why, size_t why_cap)
{
    enum vb_err err = VB_OK;
    memset(cfg, 0, sizeof *cfg);
    if (why && why_cap)
        why[0] = '\0';
    for (size_t i = 0; i < VB_ARRAY_LEN(opts); i++) {
        if (!opts[i].def)
            continue;
        err = opt_apply(cfg, &opts[i], opts[i].def, why, why_cap);
        if (err)
            goto out; /* a bad default is our bug; the unit test catches it */
    }
    err = load_env_file(cfg, env_file ? env_file : ".env", env_file != NULL, why, why_cap);
    if (err)
        goto out;
    for (size_t i = 0; i < VB_ARRAY_LEN(opts); i++) {
        const char *v = getenv(opts[i].name);
        if (!v)
            continue;
        char inner[192];
        err = opt_apply(cfg, &opts[i], v, inner, sizeof inner);
        if (err) {
            vb_failf(why, why_cap, err, "%s (from the environment)", inner);
            goto out;
        }
    }
out:
    if (err)
        vb_config_release(cfg);
    return err;
}

/* ===== Secret key ===== */

/* mkdir -p with mode 0700 for the directories it creates. */
static enum vb_err mkdir_p(const char *path)
{
    char tmp[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof tmp)
        return VB_ERR_INVALID;
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        char saved = tmp[i];
        tmp[i] = '\0';
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
            return VB_ERR_IO;
        tmp[i] = saved;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return VB_ERR_IO;
    return VB_OK;
}

/* Reads the key file; the key is its first line without surrounding blanks. */
static enum vb_err read_secret_file(const char *path, char **key)
{
    char *data = NULL;
    size_t len = 0;
    enum vb_err err = read_file(path, &data, &len);
    if (err)
        return err;
    char *start = data;
    while (*start == ' ' || *start == '\t')
        start++;
    size_t k = strcspn(start, "\r\n");
    while (k > 0 && is_blank(start[k - 1]))
        k--;
    *key = vb_xstrndup(start, k);
    vb_free_secure(data, len);
    return VB_OK;
}

/* Writes a new random key to `path` atomically: a temporary file, then link(2), so a
 * concurrent start never overwrites a key another process already wrote. */
static enum vb_err create_secret_file(const char *dir, const char *path, char *why, size_t why_cap)
{
    enum vb_err err = VB_OK;
    uint8_t raw[SECRET_RAW_BYTES];
    char hex[VB_HEX_LEN(SECRET_RAW_BYTES) + 2];
    char tmp[PATH_MAX];
    int fd = -1;
    bool tmp_made = false;
    if (snprintf(tmp, sizeof tmp, "%s/.secret_key.XXXXXX", dir) >= (int)sizeof tmp) {
        return vb_failf(why, why_cap, VB_ERR_INVALID, "DATA_DIR: path too long");
    }
    err = vb_random_bytes(raw, sizeof raw);
    if (err) {
        vb_failf(why, why_cap, err, "SECRET_KEY: could not get random bytes");
        goto out;
    }
    vb_hex_encode(raw, sizeof raw, hex);
    size_t hex_len = strlen(hex);
    hex[hex_len++] = '\n';
    fd = mkstemp(tmp); /* mode 0600 */
    if (fd < 0) {
        err = vb_failf(why, why_cap, VB_ERR_IO, "DATA_DIR: cannot create a file in %s: %s", dir,
                       strerror(errno));
        goto out;
    }
    tmp_made = true;
    if (fchmod(fd, 0600) != 0 || write(fd, hex, hex_len) != (ssize_t)hex_len || fsync(fd) != 0) {
        err = vb_failf(why, why_cap, VB_ERR_IO, "DATA_DIR: cannot write %s: %s", tmp,
                       strerror(errno));
        goto out;
    }
    if (link(tmp, path) != 0 && errno != EEXIST) {
        err = vb_failf(why, why_cap, VB_ERR_IO, "DATA_DIR: cannot create %s: %s", path,
                       strerror(errno));
        goto out;
    }
out:
    if (fd >= 0)
        close(fd);
    if (tmp_made)
        unlink(tmp);
    explicit_bzero(raw, sizeof raw);
    explicit_bzero(hex, sizeof hex);
    return err;
}

enum vb_err vb_config_ensure_secret(struct vb_config *cfg, char *why, size_t why_cap)
{
    enum vb_err err = VB_OK;
    char path[PATH_MAX];
    char *key = NULL;
    const char *have = cfg->secret_key;
    if (have && *have) {
        size_t n = strlen(have);
        if (n >= SECRET_MIN_LEN)
            return VB_OK;
        if (cfg->env == VB_ENV_PRODUCTION) {
            return vb_failf(why, why_cap, VB_ERR_INVALID,
                            "SECRET_KEY: must be at least %d characters in production (it has "
                            "%zu); " SECRET_HINT,
                            SECRET_MIN_LEN, n);
        }
        vb_warn("SECRET_KEY is only %zu characters; use at least %d (%s)", n, SECRET_MIN_LEN,
                SECRET_HINT);
        return VB_OK;
    }
    if (cfg->env == VB_ENV_PRODUCTION) {
        return vb_failf(why, why_cap, VB_ERR_INVALID,
                        "SECRET_KEY: required when VOCERO_ENV=production; " SECRET_HINT);
    }
    const char *dir = cfg->data_dir && *cfg->data_dir ? cfg->data_dir : "data";
    if (snprintf(path, sizeof path, "%s/%s", dir, SECRET_FILE_NAME) >= (int)sizeof path) {
        return vb_failf(why, why_cap, VB_ERR_INVALID, "DATA_DIR: path too long");
    }
    bool created = false;
    err = read_secret_file(path, &key);
    if (err == VB_ERR_NOT_FOUND) {
        if (mkdir_p(dir) != VB_OK) {
            err = vb_failf(why, why_cap, VB_ERR_IO, "DATA_DIR: cannot create directory %s: %s", dir,
                           strerror(errno));
            goto out;
        }
        err = create_secret_file(dir, path, why, why_cap);
        if (err)
            goto out;
        created = true;
        err = read_secret_file(path, &key);
    }
    if (err) {
        vb_failf(why, why_cap, err, "SECRET_KEY: cannot read %s: %s", path, vb_err_message(err));
        goto out;
    }
    if (strlen(key) < SECRET_MIN_LEN) {
        err = vb_failf(
            why, why_cap, VB_ERR_INVALID,
            "SECRET_KEY: %s holds fewer than %d characters; delete it to generate a new key "
            "or set SECRET_KEY",
            path, SECRET_MIN_LEN);
        goto out;
    }
    vb_free(cfg->secret_key);
    cfg->secret_key = key;
    key = NULL;
    cfg->secret_generated = true;
    if (created)
        vb_warn("SECRET_KEY is not set: generated a development key in %s (set SECRET_KEY in "
                "production; %s)",
                path, SECRET_HINT);
    else
        vb_warn("SECRET_KEY is not set: using the development key in %s", path);
out:
    if (key)
        vb_free_secure(key, strlen(key));
    return err;
}

/* ===== Help ===== */

size_t vb_config_setting_count(void)
{
    return VB_ARRAY_LEN(opts);
}

const char *vb_config_setting_name(size_t i)
{
    return i < VB_ARRAY_LEN(opts) ? opts[i].name : NULL;
}

void vb_config_print_help(FILE *out)
{
    fprintf(out, "Settings (environment variables or .env lines NAME=VALUE; the environment "
                 "wins):\n");
    for (size_t i = 0; i < VB_ARRAY_LEN(opts); i++) {
        const struct opt *o = &opts[i];
        char extra[96] = "";
        if (o->type == OPT_INT)
            snprintf(extra, sizeof extra, " (%ld..%ld)", o->min, o->max);
        else if (o->type == OPT_BOOL)
            snprintf(extra, sizeof extra, " (true/false)");
        fprintf(out, "  %-24s %s%s\n", o->name, o->help, extra);
        if (o->def)
            fprintf(out, "  %-24s default: \"%s\"\n", "", o->def);
        else
            fprintf(out, "  %-24s default: unset\n", "");
    }
}

void vb_config_log(const struct vb_config *cfg)
{
    for (size_t i = 0; i < VB_ARRAY_LEN(opts); i++) {
        const struct opt *o = &opts[i];
        const void *field = (const char *)cfg + o->offset;
        switch (o->type) {
        case OPT_STRING: {
            const char *v = *(char *const *)field;
            if (o->flags & OPT_SECRET)
                vb_info("config %s=%s", o->name, v ? "(set)" : "(unset)");
            else
                vb_info("config %s=%s", o->name, v ? v : "(unset)");
            break;
        }
        case OPT_INT:
            vb_info("config %s=%d", o->name, *(const int *)field);
            break;
        case OPT_BOOL:
            vb_info("config %s=%s", o->name, *(const bool *)field ? "true" : "false");
            break;
        case OPT_ENUM:
            vb_info("config %s=%s", o->name, o->choices[*(const enum vb_env_kind *)field]);
            break;
        }
    }
}
