/* authn.c: the authentication middleware: Bearer JWT or HTTP Basic. Basic credentials
 * that verified recently are remembered (keyed by an HMAC, see auth/basic.h) so bcrypt
 * does not run on every request; failures count towards the login throttle. */
#include "core/vb.h"
#include "api/app.h"
#include "api/users.h"
#include "auth/basic.h"
#include "auth/header.h"
#include "auth/jwt.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/time_fmt.h"
#include "db/store.h"

/* Tokens we issue carry a tag of the password hash they were issued under, so a password
 * change revokes them at once. A token without the tag (made by other tooling holding the
 * secret) must at least be newer than the last password change. */
static bool bound_to_current_password(const struct api_app *app,
                                      const struct auth_jwt_claims *claims,
                                      const struct db_user *user)
{
    if (!claims->pwd[0])
        return claims->iat >= user->password_changed_at;
    char tag[AUTH_JWT_PWD_TAG_LEN + 1];
    api_users_password_tag(app, user->password_hash, tag);
    return vb_ct_equal(tag, claims->pwd, AUTH_JWT_PWD_TAG_LEN);
}

static enum vb_err bearer(struct api_app *app, struct http_request *req, const char *tok,
                          size_t len)
{
    struct auth_jwt_claims claims;
    const char *why = NULL;
    enum vb_err err = auth_jwt_verify(app->cfg->secret_key, tok, len, vb_now_unix(), &claims, &why);
    if (err == VB_ERR_NOMEM)
        return err;
    if (err) {
        vb_debug("bearer token refused: %s", why ? why : "?");
        http_req_set_error(req, NULL, "invalid or expired access token");
        return VB_ERR_UNAUTHORIZED;
    }
    struct db_user user = {0};
    err = db_user_get(app->store, claims.user_id, &user);
    if (err == VB_ERR_NOT_FOUND || (!err && !bound_to_current_password(app, &claims, &user))) {
        db_user_release(&user);
        http_req_set_error(req, NULL, "access token is no longer valid");
        return VB_ERR_UNAUTHORIZED;
    }
    if (!err)
        http_req_set_user(req, user.id, user.username);
    db_user_release(&user);
    return err;
}

static enum vb_err basic(struct api_app *app, struct http_request *req, const char *b64, size_t len)
{
    struct auth_basic_cred cred = {0};
    enum vb_err err = auth_basic_parse(b64, len, &cred, NULL);
    if (err) {
        if (err == VB_ERR_UNAUTHORIZED)
            http_req_set_error(req, NULL, "malformed Basic credentials");
        goto out;
    }
    int64_t now = vb_now_unix();
    int64_t uid = 0;
    if (auth_basic_cache_lookup(app->basic, &cred, now, &uid)) {
        http_req_set_user(req, uid, cred.username);
        goto out;
    }
    uint64_t gen = auth_basic_cache_generation(app->basic);
    struct db_user user = {0};
    err =
        api_users_check_password(app, req, cred.username, cred.password, cred.password_len, &user);
    if (!err) {
        auth_basic_cache_insert(app->basic, &cred, user.id, now, gen);
        http_req_set_user(req, user.id, user.username);
    }
    db_user_release(&user);
out:
    auth_basic_cred_release(&cred);
    return err;
}

enum vb_err api_authenticate(void *ctx, struct http_request *req)
{
    struct api_app *app = ctx;
    const char *h = http_req_header(req, "Authorization");
    const char *cred = NULL;
    size_t len = 0;
    switch (auth_header_parse(h, h ? strlen(h) : 0, &cred, &len)) {
    case AUTH_SCHEME_BEARER:
        return bearer(app, req, cred, len);
    case AUTH_SCHEME_BASIC:
        return basic(app, req, cred, len);
    case AUTH_SCHEME_NONE:
        http_req_set_error(req, NULL,
                           "authentication required: send a Bearer token or Basic "
                           "credentials");
        return VB_ERR_UNAUTHORIZED;
    case AUTH_SCHEME_OTHER:
        break;
    }
    http_req_set_error(req, NULL, "unsupported or malformed Authorization header");
    return VB_ERR_UNAUTHORIZED;
}
