/* password.h: bcrypt ($2b$) password hashing via libxcrypt, with a timing-safe verify and
 * a dummy verify for unknown users.
 *
 *   char hash[AUTH_HASH_MAX];
 *   if (auth_password_hash(pw, pw_len, cfg->bcrypt_cost, hash)) -> 500 / 422
 *   bool ok = user ? auth_password_verify(pw, pw_len, user->hash)
 *                  : auth_password_dummy_verify(pw, pw_len, cfg->bcrypt_cost);
 */
#ifndef VB_AUTH_PASSWORD_H
#define VB_AUTH_PASSWORD_H

#include "core/vb.h"
#include "core/err.h"

#define AUTH_HASH_MAX         128 /* bytes for a stored hash incl. NUL (bcrypt uses 61) */
#define AUTH_PASSWORD_MAX     256 /* longest accepted password, bytes */
#define AUTH_BCRYPT_COST_MIN  4
#define AUTH_BCRYPT_COST_MAX  31
#define AUTH_BCRYPT_INPUT_MAX 72 /* bcrypt ignores bytes after this; longer input is pre-hashed */

/* Checks the byte rules shared by hash and verify: 1..AUTH_PASSWORD_MAX bytes, no NUL.
 * Policy such as a minimum length of 8 is the caller's (API validation). */
bool auth_password_acceptable(const char *pw, size_t pw_len);

/* Hashes pw (pw_len bytes) with bcrypt at `cost` (4..31) and a fresh 16-byte salt into out
 * ("$2b$12$..."). VB_ERR_INVALID: unacceptable password or cost; VB_ERR_NOMEM;
 * VB_ERR_INTERNAL: randomness or libcrypt failure. out is "" on error. */
VB_WUR enum vb_err auth_password_hash(const char *pw, size_t pw_len, int cost,
                                      char out[AUTH_HASH_MAX]);

/* true when pw matches `hash` (a bcrypt $2a$/$2b$/$2y$ string). Compares in constant time.
 * false for an unacceptable password, a malformed hash or any internal failure. */
VB_WUR bool auth_password_verify(const char *pw, size_t pw_len, const char *hash);

/* Runs one bcrypt computation at `cost` against a fixed dummy hash and returns false, so
 * that a login for an unknown user costs as much time as one for a known user. */
bool auth_password_dummy_verify(const char *pw, size_t pw_len, int cost);

/* The cost of a bcrypt hash string, or -1 if it is not one. */
int auth_password_hash_cost(const char *hash);
/* true when `hash` should be re-hashed after a successful login: not $2b$ or other cost. */
bool auth_password_needs_rehash(const char *hash, int cost);

#endif
