/* authn.c: the authentication middleware: Bearer JWT or HTTP Basic. Basic credentials
 * that verified recently are remembered (keyed by an HMAC, see auth/basic_cache.h) so
 * bcrypt does not run on every request; bcrypt itself runs only on the HTTP layer's auth
 * workers, never on the request workers that serve Bearer requests; failures count
 * towards the login throttle. */
#include "core/vb.h"
#include "api/app.h"
#include "api/users.h"
#include "auth/basic.h"
#include "auth/basic_cache.h"
#include "auth/password.h"
#include "core/alloc.h"
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

static enum vb_err refused(struct http_request *req)
{
    http_req_set_error(req, NULL, "invalid username or password");
    return VB_ERR_UNAUTHORIZED;
}

/* Checks the password (bcrypt, throttled) and ends the flight with the outcome. */
static enum vb_err verify(struct api_app *app, struct http_request *req,
                          const struct auth_basic_cred *cred, struct auth_basic_flight *flight)
{
    struct db_user user = {0};
    vb_debug("basic: checking the password of '%s'", cred->username);
    enum vb_err err = api_users_check_password(app, req, cred->username, cred->password,
                                               cred->password_len, &user);
    vb_debug("basic: checked the password of '%s': %s", cred->username, vb_err_code(err));
    enum auth_basic_outcome outcome = !err                         ? AUTH_BASIC_VERIFIED
                                      : err == VB_ERR_UNAUTHORIZED ? AUTH_BASIC_WRONG
                                                                   : AUTH_BASIC_UNDECIDED;
    auth_basic_cache_finish(app->basic, flight, outcome, user.id, user.password_hash,
                            vb_now_unix());
    if (!err)
        http_req_set_user(req, user.id, user.username);
    db_user_release(&user);
    return err;
}

struct refresh_job {
    struct api_app *app;
    struct auth_basic_cred cred; /* a private copy */
    struct auth_basic_flight *flight;
};

/* On an auth worker: checks cached credentials again before they expire, so requests
 * keep hitting the cache. Not a login attempt: no throttling, no failure counted. */
static void refresh(void *arg)
{
    struct refresh_job *job = arg;
    struct db_user user = {0};
    enum auth_basic_outcome outcome = AUTH_BASIC_UNDECIDED;
    enum vb_err err = db_user_get_by_name(job->app->store, job->cred.username, &user);
    if (err == VB_ERR_NOT_FOUND)
        outcome = AUTH_BASIC_WRONG;
    else if (!err)
        outcome =
            auth_password_verify(job->cred.password, job->cred.password_len, user.password_hash)
                ? AUTH_BASIC_VERIFIED
                : AUTH_BASIC_WRONG;
    vb_debug("basic: refreshed the cached credentials of '%s'", job->cred.username);
    auth_basic_cache_finish(job->app->basic, job->flight, outcome, user.id, user.password_hash,
                            vb_now_unix());
    db_user_release(&user);
    auth_basic_cred_release(&job->cred);
    vb_free(job);
}

static void start_refresh(struct api_app *app, struct http_request *req,
                          const struct auth_basic_cred *cred, struct auth_basic_flight *flight)
{
    struct refresh_job *job = vb_try_calloc(1, sizeof *job);
    if (job) {
        job->app = app;
        job->flight = flight;
        if (auth_basic_cred_copy(&job->cred, cred) == VB_OK &&
            http_req_run_on_auth_worker(req, refresh, job) == VB_OK)
            return;
        auth_basic_cred_release(&job->cred);
        vb_free(job);
    }
    auth_basic_cache_finish(app->basic, flight, AUTH_BASIC_UNDECIDED, 0, NULL, 0);
}

/* A cache hit stands only while the account is as it was when the password verified: a
 * deleted account or a changed password (by any process) drops it. *changed: look again. */
static enum vb_err cached(struct api_app *app, struct http_request *req,
                          const struct auth_basic_cred *cred, int64_t uid, bool *changed)
{
    struct db_user user = {0};
    *changed = false;
    enum vb_err err = db_user_get(app->store, uid, &user);
    if (err == VB_ERR_NOT_FOUND) {
        (void)auth_basic_cache_confirm(app->basic, cred, uid, NULL);
        err = refused(req);
    } else if (!err && !auth_basic_cache_confirm(app->basic, cred, uid, user.password_hash)) {
        *changed = true;
    } else if (!err) {
        http_req_set_user(req, user.id, user.username);
    }
    db_user_release(&user);
    return err;
}

/* Basic credentials: from the cache on a request worker; a password check (bcrypt) only on
 * an auth worker, one per credentials at a time (VB_ERR_WOULD_BLOCK moves the request). */
static enum vb_err basic(struct api_app *app, struct http_request *req, const char *b64, size_t len)
{
    struct auth_basic_cred cred = {0};
    enum vb_err err = auth_basic_parse(b64, len, &cred, NULL);
    if (err) {
        if (err == VB_ERR_UNAUTHORIZED)
            http_req_set_error(req, NULL, "malformed Basic credentials");
        goto out;
    }
    bool may_block = http_req_on_auth_worker(req);
    for (int look = 0; look < 2; look++) {
        int64_t uid = 0;
        struct auth_basic_flight *flight = NULL;
        bool changed = false;
        switch (
            auth_basic_cache_begin(app->basic, &cred, vb_now_unix(), may_block, &uid, &flight)) {
        case AUTH_BASIC_HIT:
        case AUTH_BASIC_REFRESH:
            err = cached(app, req, &cred, uid, &changed);
            if (flight && !err && !changed)
                start_refresh(app, req, &cred, flight);
            else if (flight)
                auth_basic_cache_finish(app->basic, flight, AUTH_BASIC_UNDECIDED, 0, NULL, 0);
            if (changed)
                continue; /* the entry is gone: check the password */
            goto out;
        case AUTH_BASIC_VERIFY:
            err = verify(app, req, &cred, flight);
            goto out;
        case AUTH_BASIC_REJECTED:
            err = refused(req);
            goto out;
        case AUTH_BASIC_BUSY:
            err = VB_ERR_WOULD_BLOCK;
            goto out;
        }
    }
    err = may_block ? refused(req) : VB_ERR_WOULD_BLOCK;
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
