/* config.h: the server configuration: defaults, then the .env file, then the environment
 * (environment wins), then command-line flags. One table describes every setting (name,
 * type, default, limits, help) so --help, validation and the docs share one source. */
#ifndef VB_CONFIG_H
#define VB_CONFIG_H

#include "core/vb.h"
#include "core/err.h"

#include <stdio.h>

enum vb_env_kind {
    VB_ENV_DEVELOPMENT,
    VB_ENV_PRODUCTION,
};

struct vb_config {
    char *secret_key;        /* SECRET_KEY (>= 32 bytes in production) */
    char *database_url;      /* DATABASE_URL: sqlite://PATH or postgres(ql)://... */
    char *storage_dir;       /* STORAGE_DIR: generated audio (default "outputs") */
    char *voices_dir;        /* VOICES_DIR: uploaded voices (default "voices") */
    char *models_dir;        /* MODELS_DIR: model files (default "models") */
    char *data_dir;          /* DATA_DIR: SQLite db and generated secret (default "data") */
    int sweep_interval_s;    /* SWEEP_INTERVAL_SECONDS: orphan sweeps (default 3600, 0 = off) */
    char *hf_token;          /* HF_TOKEN: Hugging Face token, may be NULL */
    char *allowed_hosts;     /* ALLOWED_HOSTS: comma list or "*" (default "*") */
    char *host;              /* HOST: bind address (default "0.0.0.0") */
    int port;                /* PORT (default 8000; 0 = ephemeral) */
    char *cors_origins;      /* CORS_ORIGINS: comma list or "*"; "" = off (default "") */
    int max_upload_mb;       /* MAX_UPLOAD_MB (default 50) */
    int max_json_kb;         /* MAX_JSON_KB: largest JSON (non-upload) body (default 256) */
    int max_conns_per_ip;    /* MAX_CONNECTIONS_PER_IP: open connections per address (0 = off) */
    int header_timeout_s;    /* HEADER_TIMEOUT_SECONDS: whole request head deadline (10) */
    char *log_level;         /* LOG_LEVEL: debug|info|warn|error (default "info") */
    enum vb_env_kind env;    /* VOCERO_ENV: development|production (default development) */
    char *admin_username;    /* ADMIN_USERNAME: account created/updated at start-up */
    char *admin_password;    /* ADMIN_PASSWORD */
    bool allow_registration; /* ALLOW_REGISTRATION (default true) */
    int jwt_ttl_s;           /* JWT_TTL_SECONDS: access token lifetime (default 86400) */
    int workers;             /* WORKERS: handler worker threads (default 8) */
    int io_threads;          /* IO_THREADS: HTTP I/O threads (default 4) */
    int queue_max;           /* QUEUE_MAX: pending requests before 503 (default 256) */
    int request_timeout_s;   /* REQUEST_TIMEOUT_SECONDS (default 60) */
    int bcrypt_cost;         /* BCRYPT_COST (default 12; 4..31) */
    char *trusted_proxies;   /* TRUSTED_PROXIES: proxies whose X-Forwarded-For counts ("") */
    int auth_workers;        /* AUTH_WORKERS: password-check threads (default 2) */
    int basic_auth_cache_s;  /* BASIC_AUTH_CACHE_SECONDS: Basic credential cache TTL (60) */
    int signed_url_ttl_s;    /* SIGNED_URL_TTL_SECONDS (default 3600) */
    bool secret_generated;   /* true when SECRET_KEY was generated/loaded from DATA_DIR */
    char *swagger_ui_dir;    /* SWAGGER_UI_DIR: swagger-ui-dist files for /docs
                                (default "node_modules/swagger-ui-dist") */
    char *llm_model;       /* LLM_MODEL: registry name or GGUF path (default qwen2.5-3b-instruct) */
    int llm_context;       /* LLM_CONTEXT: context window in tokens (default 4096) */
    int llm_queue_max;     /* LLM_QUEUE_MAX: waiting chat requests before 503 (default 4) */
    int llm_cache_threads; /* LLM_CACHE_THREADS: threads whose KV cache is kept (default 2) */
    int llm_threads;       /* LLM_THREADS: CPU threads for the chat LLM (default 0 = auto) */
    char *tts_engine;      /* TTS_ENGINE: default TTS engine name (default "espeak-ng") */
    bool models_auto_download;   /* MODELS_AUTO_DOWNLOAD: fetch missing models (default true) */
    int tts_workers;             /* WORKERS_TTS: concurrent speech generations (default 2) */
    int tts_queue_max;           /* TTS_QUEUE_MAX: waiting generations before 503 (default 4) */
    int tts_threads;             /* TTS_THREADS: threads per Chatterbox generation (0 = all) */
    char *cb_t3_weights;         /* CHATTERBOX_T3_WEIGHTS: T3 weight type (default q8_0) */
    char *cb_s3gen_weights;      /* CHATTERBOX_S3GEN_WEIGHTS: f32|f16|bf16 (default bf16) */
    bool cb_keep_encoders;       /* CHATTERBOX_KEEP_ENCODERS (default false) */
    int cb_stream_first_tokens;  /* CHATTERBOX_STREAM_FIRST_TOKENS (default 10) */
    int cb_stream_prompt_tokens; /* CHATTERBOX_STREAM_PROMPT_TOKENS (default 75) */
    /* Per-user quotas; 0 = unlimited. */
    int quota_chat_threads;         /* QUOTA_CHAT_THREADS (default 10000) */
    int quota_voices;               /* QUOTA_VOICES (default 1000) */
    int quota_storage_mb;           /* QUOTA_STORAGE_MB: voices + generated audio (default 0) */
    int quota_generations_per_hour; /* QUOTA_GENERATIONS_PER_HOUR (default 0) */
};

/* Fills cfg with defaults, then `env_file` (NULL = ".env", which may be missing; a file
 * named explicitly must exist), then the process environment. Validates ranges; on error
 * writes "NAME: reason" (or "FILE:LINE: reason" for a bad .env line) into why and leaves
 * cfg released. Caller releases with vb_config_release. */
VB_WUR enum vb_err vb_config_load(struct vb_config *cfg, const char *env_file, char *why,
                                  size_t why_cap);
/* Sets one setting by its environment name (used for command-line flags too). On error
 * cfg is unchanged. Strings are copied. */
VB_WUR enum vb_err vb_config_set(struct vb_config *cfg, const char *name, const char *value,
                                 char *why, size_t why_cap);
/* Ensures SECRET_KEY: in production a missing or short key is an error with a clear
 * message; in development a random key is generated once into DATA_DIR/secret_key
 * (mode 0600) and reused, with a warning. */
VB_WUR enum vb_err vb_config_ensure_secret(struct vb_config *cfg, char *why, size_t why_cap);
/* The environment name of setting i ("MAX_UPLOAD_MB"), i < vb_config_setting_count(): the
 * command-line flags are made from them. */
size_t vb_config_setting_count(void);
const char *vb_config_setting_name(size_t i);
/* Writes the table of settings (name, default, description) for --help. */
void vb_config_print_help(FILE *out);
/* Logs every effective setting at info level; secrets show only "(set)"/"(unset)". */
void vb_config_log(const struct vb_config *cfg);
/* Frees the strings (secrets wiped) and zeroes cfg; NULL and a released cfg are fine. */
void vb_config_release(struct vb_config *cfg);

#endif
