/* quota.c: per-user quota checks against the store's usage figures. A check and the insert
 * that follows it are not one transaction: concurrent requests of one user may overshoot a
 * limit by the number in flight, which is what a quota against abuse can afford. */
#include "core/vb.h"
#include "api/quota.h"
#include "api/app.h"
#include "core/config.h"
#include "core/time_fmt.h"
#include "db/store.h"

#define HOUR_S 3600

static enum vb_err over_count(struct http_request *req, const char *what, const char *setting,
                              int limit)
{
    http_req_set_error(req, NULL, "quota exceeded: at most %d %s per user (%s); delete some first",
                       limit, what, setting);
    return VB_ERR_QUOTA;
}

static enum vb_err check_count(struct http_request *req, enum db_usage_kind kind, int limit,
                               const char *what, const char *setting)
{
    struct api_app *app = http_req_app(req);
    int64_t used = 0;
    enum vb_err err = db_user_usage(app->store, http_req_user_id(req), kind, &used);
    if (err)
        return err;
    return used + 1 > limit ? over_count(req, what, setting, limit) : VB_OK;
}

static enum vb_err check_storage(struct http_request *req, int limit_mb, int64_t adding_bytes)
{
    struct api_app *app = http_req_app(req);
    int64_t used = 0;
    enum vb_err err =
        db_user_usage(app->store, http_req_user_id(req), DB_USAGE_STORED_BYTES, &used);
    if (err)
        return err;
    if (used + adding_bytes <= (int64_t)limit_mb << 20)
        return VB_OK;
    http_req_set_error(req, NULL,
                       "quota exceeded: at most %d MiB of voices and generated audio per user "
                       "(QUOTA_STORAGE_MB), %.1f MiB used; delete some first",
                       limit_mb, (double)used / (1 << 20));
    return VB_ERR_QUOTA;
}

static enum vb_err check_rate(struct http_request *req, int limit)
{
    struct api_app *app = http_req_app(req);
    int64_t now = vb_now_unix(), count = 0, oldest = 0;
    enum vb_err err = db_user_generations_since(app->store, http_req_user_id(req), now - HOUR_S + 1,
                                                &count, &oldest);
    if (err)
        return err;
    if (count < limit)
        return VB_OK;
    /* The oldest generation in the window leaves it at oldest + HOUR_S. */
    int64_t wait = VB_MAX(oldest + HOUR_S - now, (int64_t)1);
    char v[24];
    snprintf(v, sizeof v, "%lld", (long long)wait);
    http_reply_header(req, "Retry-After", v);
    http_req_set_error(req, NULL,
                       "quota exceeded: at most %d generations per user per hour "
                       "(QUOTA_GENERATIONS_PER_HOUR); retry in %lld s",
                       limit, (long long)wait);
    return VB_ERR_RATE_LIMITED;
}

enum vb_err api_quota_check(struct http_request *req, enum api_quota quota, int64_t adding_bytes)
{
    struct api_app *app = http_req_app(req);
    const struct vb_config *cfg = app->cfg;
    switch (quota) {
    case API_QUOTA_CHAT_THREADS:
        return cfg->quota_chat_threads
                   ? check_count(req, DB_USAGE_CHAT_THREADS, cfg->quota_chat_threads,
                                 "chat threads", "QUOTA_CHAT_THREADS")
                   : VB_OK;
    case API_QUOTA_VOICES:
        return cfg->quota_voices
                   ? check_count(req, DB_USAGE_VOICES, cfg->quota_voices, "voices", "QUOTA_VOICES")
                   : VB_OK;
    case API_QUOTA_STORAGE:
        return cfg->quota_storage_mb ? check_storage(req, cfg->quota_storage_mb, adding_bytes)
                                     : VB_OK;
    case API_QUOTA_GENERATIONS_PER_HOUR:
        return cfg->quota_generations_per_hour ? check_rate(req, cfg->quota_generations_per_hour)
                                               : VB_OK;
    }
    return VB_ERR_INTERNAL;
}

enum vb_err api_quota_check_generation(struct http_request *req)
{
    enum vb_err err = api_quota_check(req, API_QUOTA_GENERATIONS_PER_HOUR, 0);
    return err ? err : api_quota_check(req, API_QUOTA_STORAGE, 1);
}
