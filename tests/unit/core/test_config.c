/* test_config.c: configuration defaults, .env parsing (quotes, comments, export, errors
 * with line numbers), environment precedence, validation, --help and the secret key. Runs
 * in a fresh temporary directory with every setting removed from the environment. */
#include "core/vb.h"
#include "core/config.h"
#include "core/log.h"
#include "unit/test.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const all_names[] = {
    "SECRET_KEY",
    "DATABASE_URL",
    "STORAGE_DIR",
    "VOICES_DIR",
    "MODELS_DIR",
    "DATA_DIR",
    "HF_TOKEN",
    "ALLOWED_HOSTS",
    "HOST",
    "PORT",
    "CORS_ORIGINS",
    "MAX_UPLOAD_MB",
    "MAX_JSON_KB",
    "MAX_CONNECTIONS_PER_IP",
    "HEADER_TIMEOUT_SECONDS",
    "LOG_LEVEL",
    "VOCERO_ENV",
    "ADMIN_USERNAME",
    "ADMIN_PASSWORD",
    "ALLOW_REGISTRATION",
    "JWT_TTL_SECONDS",
    "WORKERS",
    "IO_THREADS",
    "QUEUE_MAX",
    "REQUEST_TIMEOUT_SECONDS",
    "BCRYPT_COST",
    "SIGNED_URL_TTL_SECONDS",
    "SWAGGER_UI_DIR",
    "LLM_THREADS",
    "TTS_ENGINE",
    "MODELS_AUTO_DOWNLOAD",
    "TTS_THREADS",
    "CHATTERBOX_T3_WEIGHTS",
    "CHATTERBOX_S3GEN_WEIGHTS",
    "CHATTERBOX_KEEP_ENCODERS",
    "CHATTERBOX_STREAM_FIRST_TOKENS",
    "CHATTERBOX_STREAM_PROMPT_TOKENS",
};

static void clear_env(void)
{
    for (size_t i = 0; i < VB_ARRAY_LEN(all_names); i++)
        unsetenv(all_names[i]);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        abort();
    }
    fputs(text, f);
    fclose(f);
}

TEST(test_defaults)
{
    struct vb_config c;
    char why[256] = "";
    clear_env();
    unlink(".env");
    CHECK(vb_config_load(&c, NULL, why, sizeof why) == VB_OK);
    CHECK(c.secret_key == NULL);
    CHECK_EQ_STR(c.database_url, "sqlite://data/vocero.db");
    CHECK_EQ_STR(c.storage_dir, "outputs");
    CHECK_EQ_STR(c.voices_dir, "voices");
    CHECK_EQ_STR(c.models_dir, "models");
    CHECK_EQ_STR(c.data_dir, "data");
    CHECK(c.hf_token == NULL);
    CHECK_EQ_STR(c.allowed_hosts, "*");
    CHECK_EQ_STR(c.host, "0.0.0.0");
    CHECK_EQ_INT(c.port, 8000);
    CHECK_EQ_STR(c.cors_origins, "");
    CHECK_EQ_INT(c.max_upload_mb, 50);
    CHECK_EQ_INT(c.max_json_kb, 256);
    CHECK_EQ_INT(c.max_conns_per_ip, 128);
    CHECK_EQ_INT(c.header_timeout_s, 10);
    CHECK_EQ_STR(c.log_level, "info");
    CHECK(c.env == VB_ENV_DEVELOPMENT);
    CHECK(c.admin_username == NULL && c.admin_password == NULL);
    CHECK(c.allow_registration);
    CHECK_EQ_INT(c.jwt_ttl_s, 86400);
    CHECK_EQ_INT(c.workers, 8);
    CHECK_EQ_INT(c.io_threads, 4);
    CHECK_EQ_INT(c.queue_max, 256);
    CHECK_EQ_INT(c.request_timeout_s, 60);
    CHECK_EQ_INT(c.bcrypt_cost, 12);
    CHECK_EQ_INT(c.signed_url_ttl_s, 3600);
    CHECK_EQ_STR(c.swagger_ui_dir, "node_modules/swagger-ui-dist");
    CHECK_EQ_INT(c.llm_threads, 0);
    CHECK_EQ_STR(c.tts_engine, "auto");
    CHECK(c.models_auto_download);
    CHECK(!c.secret_generated);
    vb_config_release(&c);
    vb_config_release(&c); /* twice is fine */
    vb_config_release(NULL);
}

TEST(test_env_file_syntax)
{
    clear_env();
    write_file("t.env", "# a comment\n"
                        "\n"
                        "   \t\n"
                        "PORT=9001\n"
                        "export HOST=127.0.0.1\n"
                        "  STORAGE_DIR = spaced out  \n"
                        "VOICES_DIR='single # not a comment'  # a comment\n"
                        "MODELS_DIR=\"dq \\\"esc\\\" \\\\ $x\"\n"
                        "DATA_DIR=plain#hash\n"
                        "CORS_ORIGINS=a,b # trailing comment\n"
                        "HF_TOKEN=\n"
                        "ADMIN_USERNAME=''\n"
                        "ADMIN_PASSWORD=\"p=w d\"\r\n"
                        "ALLOW_REGISTRATION=no\n"
                        "MODELS_AUTO_DOWNLOAD=0\n"
                        "VOCERO_ENV=Production\n"
                        "LOG_LEVEL=debug\n"
                        "UNKNOWN_THING=whatever\n"
                        "TTS_ENGINE=\"chatterbox\" # engine\n"
                        "SECRET_KEY=\"line1\\nline2\"\n"
                        "CORS_ORIGINS= #only a comment\n"
                        "export\tWORKERS=3");
    struct vb_config c;
    char why[256] = "";
    enum vb_err err = vb_config_load(&c, "t.env", why, sizeof why);
    CHECK_MSG(err == VB_OK, "%s", why);
    if (err)
        return;
    CHECK_EQ_INT(c.port, 9001);
    CHECK_EQ_STR(c.host, "127.0.0.1");
    CHECK_EQ_STR(c.storage_dir, "spaced out");
    CHECK_EQ_STR(c.voices_dir, "single # not a comment");
    CHECK_EQ_STR(c.models_dir, "dq \"esc\" \\ $x");
    CHECK_EQ_STR(c.data_dir, "plain#hash");
    CHECK_EQ_STR(c.cors_origins, ""); /* the later line wins; it is only a comment */
    CHECK(c.hf_token == NULL);        /* empty = unset */
    CHECK(c.admin_username == NULL);  /* '' = unset */
    CHECK_EQ_STR(c.admin_password, "p=w d");
    CHECK(!c.allow_registration);
    CHECK(!c.models_auto_download);
    CHECK(c.env == VB_ENV_PRODUCTION);
    CHECK_EQ_STR(c.log_level, "debug");
    CHECK_EQ_STR(c.tts_engine, "chatterbox");
    CHECK_EQ_STR(c.secret_key, "line1\nline2");
    CHECK_EQ_INT(c.workers, 3);
    vb_config_release(&c);
    unlink("t.env");
}

TEST(test_env_file_errors)
{
    static const struct {
        const char *text;
        const char *why; /* expected prefix after "t.env:" */
    } v[] = {
        {"PORT=1\nnot a line\n", "t.env:2: expected '=' after the name"},
        {"# c\n\n=value\n", "t.env:3: expected KEY=VALUE"},
        {"1PORT=2\n", "t.env:1: expected KEY=VALUE"},
        {"PORT\n", "t.env:1: expected '=' after the name"},
        {"HOST='abc\n", "t.env:1: unterminated single quote"},
        {"HOST=\"abc\n", "t.env:1: unterminated double quote"},
        {"HOST=\"abc\" junk\n", "t.env:1: unexpected text after the closing quote"},
        {"HOST='abc'junk\n", "t.env:1: unexpected text after the closing quote"},
        {"export\n", "t.env:1: expected '=' after the name"},
        {"PORT=abc\n", "t.env:1: PORT: \"abc\" is not an integer"},
        {"PORT=70000\n", "t.env:1: PORT: 70000 is out of range 0..65535"},
        {"\n\nBCRYPT_COST=3\n", "t.env:3: BCRYPT_COST: 3 is out of range 4..31"},
        {"ALLOW_REGISTRATION=maybe\n", "t.env:1: ALLOW_REGISTRATION: \"maybe\" is not a boolean"},
        {"VOCERO_ENV=staging\n", "t.env:1: VOCERO_ENV: \"staging\" is not one of"},
        {"LOG_LEVEL=loud\n", "t.env:1: LOG_LEVEL: must be one of"},
        {"DATABASE_URL=mysql://x\n", "t.env:1: DATABASE_URL: must start with sqlite://"},
        {"DATA_DIR=\n", "t.env:1: DATA_DIR: must not be empty"},
        {"ALLOWED_HOSTS= # just a comment\n", "t.env:1: ALLOWED_HOSTS: must not be empty"},
    };
    for (size_t i = 0; i < VB_ARRAY_LEN(v); i++) {
        clear_env();
        write_file("t.env", v[i].text);
        struct vb_config c;
        char why[256] = "";
        CHECK_MSG(vb_config_load(&c, "t.env", why, sizeof why) == VB_ERR_INVALID, "case %zu", i);
        CHECK_MSG(strncmp(why, v[i].why, strlen(v[i].why)) == 0, "case %zu: \"%s\"", i, why);
        CHECK(c.database_url == NULL); /* released on error */
        vb_config_release(&c);
    }
    /* NUL byte in the file. */
    FILE *f = fopen("t.env", "wb");
    fwrite("PORT=1\0\n", 1, 8, f);
    fclose(f);
    struct vb_config c;
    char why[256] = "";
    CHECK(vb_config_load(&c, "t.env", why, sizeof why) == VB_ERR_INVALID);
    /* A named file must exist; the default .env may be missing. */
    CHECK(vb_config_load(&c, "no-such.env", why, sizeof why) == VB_ERR_NOT_FOUND);
    CHECK(strstr(why, "no-such.env: no such file") != NULL);
    unlink(".env");
    CHECK(vb_config_load(&c, NULL, why, sizeof why) == VB_OK);
    vb_config_release(&c);
    /* Larger than 1 MiB. */
    f = fopen("t.env", "wb");
    for (int i = 0; i < (1 << 20) / 8 + 1; i++)
        fputs("# xxxxx\n", f);
    fclose(f);
    CHECK(vb_config_load(&c, "t.env", why, sizeof why) == VB_ERR_TOO_LARGE);
    CHECK(strstr(why, "larger than 1 MiB") != NULL);
    unlink("t.env");
}

TEST(test_env_precedence)
{
    clear_env();
    write_file(".env", "PORT=8001\nHOST=10.0.0.1\n");
    setenv("PORT", "9000", 1);
    setenv("WORKERS", "2", 1);
    setenv("HF_TOKEN", "", 1);
    struct vb_config c;
    char why[256] = "";
    CHECK(vb_config_load(&c, NULL, why, sizeof why) == VB_OK);
    CHECK_EQ_INT(c.port, 9000);       /* environment wins */
    CHECK_EQ_STR(c.host, "10.0.0.1"); /* from .env */
    CHECK_EQ_INT(c.workers, 2);
    CHECK(c.hf_token == NULL);
    vb_config_release(&c);
    /* engine settings come from .env too, and the engines get them from the configuration */
    write_file(".env", "CHATTERBOX_T3_WEIGHTS=q4_0\nCHATTERBOX_STREAM_FIRST_TOKENS=16\n");
    CHECK(vb_config_load(&c, NULL, why, sizeof why) == VB_OK);
    CHECK_EQ_STR(c.cb_t3_weights, "q4_0");
    CHECK_EQ_INT(c.cb_stream_first_tokens, 16);
    CHECK_EQ_STR(c.cb_s3gen_weights, "bf16");
    vb_config_release(&c);
    write_file(".env", "CHATTERBOX_S3GEN_WEIGHTS=int8\n");
    CHECK(vb_config_load(&c, NULL, why, sizeof why) == VB_ERR_INVALID);
    CHECK_MSG(strstr(why, "CHATTERBOX_S3GEN_WEIGHTS") && strstr(why, "f32, f16 or bf16"), "%s",
              why);
    write_file(".env", "PORT=8001\nHOST=10.0.0.1\n");
    setenv("IO_THREADS", "0", 1);
    CHECK(vb_config_load(&c, NULL, why, sizeof why) == VB_ERR_INVALID);
    CHECK(strstr(why, "IO_THREADS: 0 is out of range 1..256 (from the environment)") != NULL);
    clear_env();
    unlink(".env");
}

TEST(test_set_validation)
{
    static const struct {
        const char *name, *value;
        bool ok;
    } v[] = {
        {"PORT", "0", true},
        {"PORT", "65535", true},
        {"PORT", "-1", false},
        {"PORT", "65536", false},
        {"PORT", "", false},
        {"PORT", " 80", false},
        {"PORT", "80 ", false},
        {"PORT", "0x50", false},
        {"PORT", "99999999999999999999", false},
        {"MAX_UPLOAD_MB", "0", false},
        {"MAX_JSON_KB", "63", false},
        {"MAX_JSON_KB", "64", true},
        {"MAX_CONNECTIONS_PER_IP", "0", true},
        {"MAX_CONNECTIONS_PER_IP", "-1", false},
        {"HEADER_TIMEOUT_SECONDS", "0", false},
        {"BCRYPT_COST", "31", true},
        {"LLM_THREADS", "0", true},
        {"JWT_TTL_SECONDS", "59", false},
        {"ALLOW_REGISTRATION", "TRUE", true},
        {"ALLOW_REGISTRATION", "yes", true},
        {"ALLOW_REGISTRATION", "1", true},
        {"ALLOW_REGISTRATION", "0", true},
        {"ALLOW_REGISTRATION", "", false},
        {"ALLOW_REGISTRATION", "2", false},
        {"VOCERO_ENV", "development", true},
        {"VOCERO_ENV", "production", true},
        {"VOCERO_ENV", "prod", false},
        {"CHATTERBOX_T3_WEIGHTS", "q4_0", true},
        {"CHATTERBOX_T3_WEIGHTS", "q3_k", false},
        {"CHATTERBOX_T3_WEIGHTS", "", false},
        {"CHATTERBOX_S3GEN_WEIGHTS", "f16", true},
        {"CHATTERBOX_S3GEN_WEIGHTS", "q8_0", false},
        {"CHATTERBOX_STREAM_FIRST_TOKENS", "0", false},
        {"CHATTERBOX_STREAM_PROMPT_TOKENS", "0", true},
        {"CHATTERBOX_KEEP_ENCODERS", "1", true},
        {"TTS_THREADS", "-1", false},
        {"LOG_LEVEL", "warning", true},
        {"LOG_LEVEL", "ERROR", true},
        {"LOG_LEVEL", "trace", false},
        {"LOG_LEVEL", "", false},
        {"DATABASE_URL", "sqlite://x.db", true},
        {"DATABASE_URL", "sqlite:///abs/x.db", true},
        {"DATABASE_URL", "postgres://u:p@h/db", true},
        {"DATABASE_URL", "postgresql://u@h:5432/db", true},
        {"DATABASE_URL", "sqlite://", false},
        {"DATABASE_URL", "sqlite:x.db", false},
        {"DATABASE_URL", "x", false},
        {"DATABASE_URL", "", false},
        {"HOST", "", false},
        {"CORS_ORIGINS", "", true},
        {"NOT_A_SETTING", "1", false},
        {NULL, "1", false},
        {"PORT", NULL, false},
    };
    struct vb_config c;
    char why[256];
    clear_env();
    CHECK(vb_config_load(&c, NULL, why, sizeof why) == VB_OK);
    for (size_t i = 0; i < VB_ARRAY_LEN(v); i++) {
        int before = c.port;
        why[0] = '\0';
        enum vb_err err = vb_config_set(&c, v[i].name, v[i].value, why, sizeof why);
        CHECK_MSG((err == VB_OK) == v[i].ok, "case %zu %s=%s: %s", i, v[i].name,
                  v[i].value ? v[i].value : "(null)", why);
        if (!v[i].ok) {
            CHECK_MSG(why[0] != '\0', "case %zu: no reason", i);
            if (v[i].name && strcmp(v[i].name, "PORT") == 0)
                CHECK(c.port == before); /* unchanged on error */
        }
    }
    CHECK(vb_config_set(&c, "PORT", "1234", why, sizeof why) == VB_OK && c.port == 1234);
    CHECK(vb_config_set(&c, "HOST", "::1", why, sizeof why) == VB_OK);
    CHECK_EQ_STR(c.host, "::1");
    CHECK(vb_config_set(&c, "NOPE", "1", why, sizeof why) == VB_ERR_INVALID);
    CHECK(strcmp(why, "NOPE: unknown setting") == 0);
    CHECK(vb_config_set(&c, "PORT", "x", NULL, 0) == VB_ERR_INVALID); /* no why buffer */
    vb_config_release(&c);
}

static int file_mode(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int)(st.st_mode & 0777) : -1;
}

TEST(test_secret_production)
{
    struct vb_config c;
    char why[256];
    clear_env();
    setenv("VOCERO_ENV", "production", 1);
    setenv("DATA_DIR", "prod-data", 1);
    CHECK(vb_config_load(&c, NULL, why, sizeof why) == VB_OK);
    CHECK(vb_config_ensure_secret(&c, why, sizeof why) == VB_ERR_INVALID);
    CHECK(strstr(why, "SECRET_KEY") && strstr(why, "production") &&
          strstr(why, "openssl rand -hex 32"));
    CHECK(access("prod-data/secret_key", F_OK) != 0); /* nothing generated in production */
    vb_config_release(&c);

    setenv("SECRET_KEY", "too-short-0123456789", 1);
    CHECK(vb_config_load(&c, NULL, why, sizeof why) == VB_OK);
    CHECK(vb_config_ensure_secret(&c, why, sizeof why) == VB_ERR_INVALID);
    CHECK(strstr(why, "at least 32") && strstr(why, "openssl rand -hex 32"));
    vb_config_release(&c);

    setenv("SECRET_KEY", "0123456789abcdef0123456789abcdef", 1);
    CHECK(vb_config_load(&c, NULL, why, sizeof why) == VB_OK);
    CHECK(vb_config_ensure_secret(&c, why, sizeof why) == VB_OK);
    CHECK_EQ_STR(c.secret_key, "0123456789abcdef0123456789abcdef");
    CHECK(!c.secret_generated);
    vb_config_release(&c);
    clear_env();
}

TEST(test_secret_development)
{
    struct vb_config c;
    char why[256] = "";
    clear_env();
    setenv("DATA_DIR", "dev/nested/data", 1);
    CHECK(vb_config_load(&c, NULL, why, sizeof why) == VB_OK);
    CHECK_MSG(vb_config_ensure_secret(&c, why, sizeof why) == VB_OK, "%s", why);
    CHECK(c.secret_generated);
    CHECK(c.secret_key && strlen(c.secret_key) == 64 &&
          strspn(c.secret_key, "0123456789abcdef") == 64);
    CHECK_EQ_INT(file_mode("dev/nested/data/secret_key"), 0600);
    char first[65] = "";
    if (c.secret_key)
        snprintf(first, sizeof first, "%s", c.secret_key);
    vb_config_release(&c);

    /* Second start: the same key is read back, no temporary files left behind. */
    CHECK(vb_config_load(&c, NULL, why, sizeof why) == VB_OK);
    CHECK(vb_config_ensure_secret(&c, why, sizeof why) == VB_OK);
    CHECK(c.secret_key && strcmp(c.secret_key, first) == 0);
    CHECK(c.secret_generated);
    vb_config_release(&c);
    FILE *ls = popen("ls -A dev/nested/data", "r");
    char line[256], all[1024] = "";
    while (ls && fgets(line, sizeof line, ls))
        strncat(all, line, sizeof all - strlen(all) - 1);
    if (ls)
        pclose(ls);
    CHECK(strcmp(all, "secret_key\n") == 0);

    /* A key set in the environment is used as is, even a short one in development. */
    setenv("SECRET_KEY", "short", 1);
    CHECK(vb_config_load(&c, NULL, why, sizeof why) == VB_OK);
    CHECK(vb_config_ensure_secret(&c, why, sizeof why) == VB_OK);
    CHECK_EQ_STR(c.secret_key, "short");
    CHECK(!c.secret_generated);
    vb_config_release(&c);
    unsetenv("SECRET_KEY");

    /* A corrupt (short) key file is an error that says what to do. */
    write_file("dev/nested/data/secret_key", "abc\n");
    CHECK(vb_config_load(&c, NULL, why, sizeof why) == VB_OK);
    CHECK(vb_config_ensure_secret(&c, why, sizeof why) == VB_ERR_INVALID);
    CHECK(strstr(why, "delete it") != NULL);
    vb_config_release(&c);

    /* A DATA_DIR that cannot be created: a file is in the way. */
    write_file("blocker", "x");
    setenv("DATA_DIR", "blocker/data", 1);
    CHECK(vb_config_load(&c, NULL, why, sizeof why) == VB_OK);
    CHECK(vb_config_ensure_secret(&c, why, sizeof why) == VB_ERR_IO);
    CHECK_MSG(strstr(why, "DATA_DIR") != NULL, "%s", why);
    vb_config_release(&c);
    clear_env();
}

TEST(test_help)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    vb_config_print_help(f);
    fclose(f);
    for (size_t i = 0; i < VB_ARRAY_LEN(all_names); i++)
        CHECK_MSG(strstr(text, all_names[i]) != NULL, "%s missing from help", all_names[i]);
    CHECK(strstr(text, "sqlite://data/vocero.db") != NULL);
    CHECK(strstr(text, "4..31") != NULL);
    free(text);
}

int main(void)
{
    char dir[] = "/tmp/vb_test_config_XXXXXX";
    if (!mkdtemp(dir) || chdir(dir) != 0) {
        perror("mkdtemp");
        return 1;
    }
    vb_log_set_level(VB_LOG_ERROR); /* keep the expected warnings out of the test output */
    RUN(test_defaults);
    RUN(test_env_file_syntax);
    RUN(test_env_file_errors);
    RUN(test_env_precedence);
    RUN(test_set_validation);
    RUN(test_secret_production);
    RUN(test_secret_development);
    RUN(test_help);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return test_summary();
}
