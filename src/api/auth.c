/* auth.c: /auth routes: register, login, me, password change. */
#include "core/vb.h"
#include "api/handlers.h"
#include "api/request.h"
#include "api/users.h"
#include "auth/basic_cache.h"
#include "core/alloc.h"
#include "auth/jwt.h"
#include "auth/password.h"
#include "core/time_fmt.h"

static void write_user(struct vb_jw *w, const struct db_user *u)
{
    vb_jw_obj_begin(w);
    vb_jw_kint(w, "id", u->id);
    vb_jw_kstr(w, "username", u->username);
    vb_jw_kstr(w, "email", u->email);
    api_json_time(w, "created_at", u->created_at);
    vb_jw_obj_end(w);
}

static enum vb_err reply_user(struct http_request *req, int status, const struct db_user *u)
{
    struct vb_buf b;
    struct vb_jw w;
    api_json_begin(&w, &b);
    write_user(&w, u);
    return api_json_send(req, status, &w, &b);
}

static enum vb_err field_problem(struct http_request *req, const char *field, const char *problem)
{
    http_req_set_error(req, field, "%s: %s", field, problem);
    return VB_ERR_UNPROCESSABLE;
}

enum vb_err api_auth_register(struct http_request *req)
{
    struct api_app *app = http_req_app(req);
    struct vb_json *body = NULL;
    struct db_user user = {0};
    const char *username, *password, *email, *problem;
    enum vb_err err;
    if (!app->cfg->allow_registration) {
        http_req_set_error(req, NULL, "registration is closed on this server");
        return VB_ERR_FORBIDDEN;
    }
    if ((err = api_json_body(req, &body)))
        return err;
    if ((err = api_json_string(req, body, "username", true, 0, 1024, &username)) ||
        (err = api_json_string(req, body, "password", true, 0, 4096, &password)) ||
        (err = api_json_string(req, body, "email", false, 0, 4096, &email)))
        goto out;
    if ((problem = api_username_problem(username))) {
        err = field_problem(req, "username", problem);
        goto out;
    }
    if ((problem = api_password_problem(password, strlen(password)))) {
        err = field_problem(req, "password", problem);
        goto out;
    }
    if (email && (problem = api_email_problem(email))) {
        err = field_problem(req, "email", problem);
        goto out;
    }
    err = api_users_create(app, username, email, password, &user);
    if (err == VB_ERR_CONFLICT)
        http_req_set_error(req, "username", "username: '%s' is already taken", username);
    if (!err)
        err = reply_user(req, 201, &user);
out:
    db_user_release(&user);
    vb_json_free(body);
    return err;
}

enum vb_err api_auth_login(struct http_request *req)
{
    struct api_app *app = http_req_app(req);
    struct vb_json *body = NULL;
    struct db_user user = {0};
    char *token = NULL;
    const char *username, *password;
    enum vb_err err;
    if ((err = api_json_body(req, &body)))
        return err;
    if ((err = api_json_string(req, body, "username", true, 1, 1024, &username)) ||
        (err = api_json_string(req, body, "password", true, 1, 4096, &password)))
        goto out;
    err = api_users_check_password(app, req, username, password, strlen(password), &user);
    if (err)
        goto out;
    char tag[AUTH_JWT_PWD_TAG_LEN + 1];
    api_users_password_tag(app, user.password_hash, tag);
    err = auth_jwt_issue_bound(app->cfg->secret_key, user.id, user.username, tag, vb_now_unix(),
                               app->cfg->jwt_ttl_s, &token);
    if (err)
        goto out;
    struct vb_buf b;
    struct vb_jw w;
    api_json_begin(&w, &b);
    vb_jw_obj_begin(&w);
    vb_jw_kstr(&w, "access_token", token);
    vb_jw_kstr(&w, "token_type", "bearer");
    vb_jw_kint(&w, "expires_in", app->cfg->jwt_ttl_s);
    vb_jw_obj_end(&w);
    err = api_json_send(req, 200, &w, &b);
out:
    vb_free(token);
    db_user_release(&user);
    vb_json_free(body);
    return err;
}

enum vb_err api_auth_me(struct http_request *req)
{
    struct api_app *app = http_req_app(req);
    struct db_user user = {0};
    enum vb_err err = db_user_get(app->store, http_req_user_id(req), &user);
    if (!err)
        err = reply_user(req, 200, &user);
    db_user_release(&user);
    return err;
}

enum vb_err api_auth_password(struct http_request *req)
{
    struct api_app *app = http_req_app(req);
    struct vb_json *body = NULL;
    struct db_user user = {0};
    const char *current, *next, *problem;
    char hash[AUTH_HASH_MAX] = "";
    enum vb_err err;
    if ((err = api_json_body(req, &body)))
        return err;
    if ((err = api_json_string(req, body, "current_password", true, 1, 4096, &current)) ||
        (err = api_json_string(req, body, "new_password", true, 0, 4096, &next)))
        goto out;
    /* The current password is checked like a login (throttled), so a stolen token cannot
     * be used to guess it. */
    err =
        api_users_check_password(app, req, http_req_username(req), current, strlen(current), &user);
    if (err == VB_ERR_UNAUTHORIZED)
        http_req_set_error(req, "current_password", "current_password: is not correct");
    if (err)
        goto out;
    if ((problem = api_password_problem(next, strlen(next)))) {
        err = field_problem(req, "new_password", problem);
        goto out;
    }
    if ((err = auth_password_hash(next, strlen(next), app->cfg->bcrypt_cost, hash)) ||
        (err = db_user_set_password(app->store, user.id, hash, NULL)))
        goto out;
    auth_basic_cache_invalidate_user(app->basic, user.id);
    err = api_no_content(req);
out:
    explicit_bzero(hash, sizeof hash);
    db_user_release(&user);
    vb_json_free(body);
    return err;
}
