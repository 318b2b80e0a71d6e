/* users.c: account policy and password checks shared by handlers, middleware and CLI. */
#include "core/vb.h"
#include "api/users.h"
#include "auth/password.h"
#include "auth/login_guard.h"
#include "auth/proxies.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/time_fmt.h"

#include <stdio.h>

const char *api_username_problem(const char *u)
{
    size_t n = strlen(u);
    if (n < API_USERNAME_MIN || n > API_USERNAME_MAX)
        return "must be 3 to 32 characters long";
    for (size_t i = 0; i < n; i++) {
        char c = u[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '-';
        if (!ok)
            return "may only contain letters, digits, '_', '.' and '-'";
    }
    return NULL;
}

const char *api_password_problem(const char *pw, size_t len)
{
    if (len < API_PASSWORD_MIN)
        return "must be at least 8 characters long";
    if (len > AUTH_PASSWORD_MAX)
        return "must be at most 256 bytes long";
    if (!auth_password_acceptable(pw, len))
        return "must not contain NUL bytes";
    return NULL;
}

const char *api_email_problem(const char *e)
{
    size_t n = strlen(e);
    const char *at = strchr(e, '@');
    if (n > API_EMAIL_MAX)
        return "must be at most 254 characters long";
    if (!at || at == e || !at[1] || strchr(at + 1, '@') || strchr(e, ' '))
        return "must be an address like name@example.com";
    return NULL;
}

static enum vb_err throttled(struct http_request *req, int retry_after)
{
    char v[16];
    snprintf(v, sizeof v, "%d", retry_after > 0 ? retry_after : 1);
    http_reply_header(req, "Retry-After", v);
    http_req_set_error(req, NULL, "too many failed logins; retry in %s seconds", v);
    return VB_ERR_RATE_LIMITED;
}

enum vb_err api_users_check_password(struct api_app *app, struct http_request *req,
                                     const char *username, const char *password,
                                     size_t password_len, struct db_user *user)
{
    int64_t now = vb_now_unix();
    /* The TCP peer, or the client a trusted proxy names (TRUSTED_PROXIES). */
    char client[AUTH_ADDR_MAX];
    const char *addr = NULL;
    if (req) {
        auth_proxies_client(app->proxies, http_req_client_ip(req),
                            http_req_header(req, "X-Forwarded-For"), client);
        addr = client;
    }
    int retry_after = 0;
    if (auth_login_guard_check(app->logins, username, addr, now, &retry_after))
        return req ? throttled(req, retry_after) : VB_ERR_RATE_LIMITED;

    enum vb_err err = db_user_get_by_name(app->store, username, user);
    if (err && err != VB_ERR_NOT_FOUND)
        return err;
    bool ok = err ? auth_password_dummy_verify(password, password_len, app->cfg->bcrypt_cost)
                  : auth_password_verify(password, password_len, user->password_hash);
    if (ok) {
        auth_login_guard_succeeded(app->logins, username, addr);
        return VB_OK;
    }
    db_user_release(user);
    auth_login_guard_failed(app->logins, username, addr, now);
    if (req)
        http_req_set_error(req, NULL, "invalid username or password");
    return VB_ERR_UNAUTHORIZED;
}

enum vb_err api_users_create(struct api_app *app, const char *username, const char *email,
                             const char *password, struct db_user *user)
{
    char hash[AUTH_HASH_MAX];
    enum vb_err err = auth_password_hash(password, strlen(password), app->cfg->bcrypt_cost, hash);
    if (!err)
        err = db_user_create(app->store, username, email, hash, user);
    explicit_bzero(hash, sizeof hash);
    return err;
}

enum vb_err api_users_ensure_admin(struct api_app *app, char *why, size_t why_cap)
{
    const char *name = app->cfg->admin_username, *pw = app->cfg->admin_password;
    if (!name || !*name)
        return VB_OK;
    const char *which = "USERNAME", *problem = api_username_problem(name);
    if (!problem) {
        which = "PASSWORD";
        problem = !pw || !*pw ? "is required when ADMIN_USERNAME is set"
                              : api_password_problem(pw, strlen(pw));
    }
    if (problem) {
        snprintf(why, why_cap, "ADMIN_%s: %s", which, problem);
        return VB_ERR_INVALID;
    }
    struct db_user user = {0};
    enum vb_err err = db_user_get_by_name(app->store, name, &user);
    bool current = !err && auth_password_verify(pw, strlen(pw), user.password_hash);
    db_user_release(&user);
    if (current)
        return VB_OK;
    if (err && err != VB_ERR_NOT_FOUND)
        goto fail;
    char hash[AUTH_HASH_MAX];
    bool created = false;
    err = auth_password_hash(pw, strlen(pw), app->cfg->bcrypt_cost, hash);
    if (!err)
        err = db_user_upsert(app->store, name, hash, &created, NULL);
    explicit_bzero(hash, sizeof hash);
    if (!err) {
        vb_info("admin account '%s' %s", name, created ? "created" : "password updated");
        return VB_OK;
    }
fail:
    snprintf(why, why_cap, "ADMIN_USERNAME: could not create or update the account: %s",
             vb_err_message(err));
    return err;
}

void api_users_password_tag(const struct api_app *app, const char *password_hash,
                            char out[AUTH_JWT_PWD_TAG_LEN + 1])
{
    uint8_t mac[VB_SHA256_LEN];
    struct vb_buf msg;
    vb_buf_init(&msg, 4096);
    if (vb_buf_printf(&msg, "pwd:%s", password_hash ? password_hash : "") != VB_OK)
        vb_buf_reset(&msg);
    const char *key = app->cfg->secret_key;
    vb_hmac_sha256(key, strlen(key), vb_buf_str(&msg), msg.len, mac);
    vb_hex_encode(mac, AUTH_JWT_PWD_TAG_LEN / 2, out);
    vb_buf_release(&msg);
}
