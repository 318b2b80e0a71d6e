/* users.h: account rules shared by the HTTP handlers, the middleware and the command line:
 * username/password policy, password checks with throttling, account creation. */
#ifndef VB_API_USERS_H
#define VB_API_USERS_H

#include "core/vb.h"
#include "api/app.h"
#include "auth/jwt.h"
#include "db/store.h"

#define API_USERNAME_MIN 3
#define API_USERNAME_MAX 32
#define API_PASSWORD_MIN 8
#define API_EMAIL_MAX    254

/* NULL when acceptable, else the reason (static). */
const char *api_username_problem(const char *username);
const char *api_password_problem(const char *password, size_t len);
const char *api_email_problem(const char *email);

/* Verifies username/password, with the failed-login limits of auth/login_guard.h (per
 * username and client address, per address, per username; the address is the socket
 * peer of req or, from a TRUSTED_PROXIES peer, the client its X-Forwarded-For names;
 * "local" when req is NULL). VB_OK fills *user (caller releases); VB_ERR_UNAUTHORIZED
 * or VB_ERR_RATE_LIMITED (Retry-After set on req) with the error message set on req. */
VB_WUR enum vb_err api_users_check_password(struct api_app *app, struct http_request *req,
                                            const char *username, const char *password,
                                            size_t password_len, struct db_user *user);

/* Hashes the password and creates the account; VB_ERR_CONFLICT when the name is taken.
 * *user (may be NULL) gets the row. */
VB_WUR enum vb_err api_users_create(struct api_app *app, const char *username, const char *email,
                                    const char *password, struct db_user *user);

/* The tag that binds access tokens to the current password hash: 16 hex digits of
 * HMAC-SHA256(SECRET_KEY, "pwd:" + hash). Any password change gives a new tag. */
void api_users_password_tag(const struct api_app *app, const char *password_hash,
                            char out[AUTH_JWT_PWD_TAG_LEN + 1]);

/* Creates ADMIN_USERNAME or updates its password when it no longer verifies. */
VB_WUR enum vb_err api_users_ensure_admin(struct api_app *app, char *why, size_t why_cap);

#endif
