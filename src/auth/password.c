/* password.c: bcrypt ($2b$) hashing and verification through libxcrypt's reentrant crypt_rn /
 * crypt_gensalt_rn, with pre-hashing of passwords longer than 72 bytes. */
#include "core/vb.h"
#include "auth/password.h"

#include "core/crypto.h"
#include "core/alloc.h"
#include "core/log.h"

#include <crypt.h>
#include <errno.h>

/*
 * bcrypt only reads the first 72 bytes of its input, so two long passwords sharing a 72-byte prefix
 * would be interchangeable. Passwords longer than AUTH_BCRYPT_INPUT_MAX are therefore replaced by
 * base64(HMAC-SHA256(PREHASH_KEY, password)) (44 ASCII bytes, no NUL, which raw digests could
 * contain and bcrypt would stop at) before bcrypt sees them. Passwords of up to 72 bytes go to
 * bcrypt unchanged so that hashes stay plain, standard bcrypt (interoperable with other tools). The
 * fixed key only separates this use of SHA-256 from others; it is deliberately not SECRET_KEY, so
 * rotating the server secret does not lock everyone out. A user could in theory log in with the
 * 44-character pre-hash instead of the long password, but computing it requires the long password.
 */
#define PREHASH_KEY     "vocero-bcrypt-prehash-v1"
#define PREHASH_B64_LEN 44                          /* base64 of 32 bytes, with one '=' */
#define EFFECTIVE_MAX   (AUTH_BCRYPT_INPUT_MAX + 1) /* >= PREHASH_B64_LEN + 1 */
#define BCRYPT_HASH_LEN 60 /* "$2b$" + 2 cost digits + "$" + 22 salt + 31 hash */
#define SALT_BYTES      16

/* Writes the NUL-terminated password bcrypt actually sees into tmp: `pw` itself (copied, since pw
 * need not be terminated at pw_len) or its pre-hash. NULL on failure. */
static const char *effective_password(const char *pw, size_t pw_len, char tmp[EFFECTIVE_MAX])
{
    uint8_t mac[VB_SHA256_LEN];

    if (pw_len <= AUTH_BCRYPT_INPUT_MAX) {
        memcpy(tmp, pw, pw_len);
        tmp[pw_len] = '\0';
        return tmp;
    }
    vb_hmac_sha256(PREHASH_KEY, strlen(PREHASH_KEY), pw, pw_len, mac);
    enum vb_err err = vb_base64_encode(mac, sizeof mac, tmp, EFFECTIVE_MAX);
    explicit_bzero(mac, sizeof mac);
    return err || strlen(tmp) != PREHASH_B64_LEN ? NULL : tmp;
}

bool auth_password_acceptable(const char *pw, size_t pw_len)
{
    return pw && pw_len >= 1 && pw_len <= AUTH_PASSWORD_MAX && !memchr(pw, '\0', pw_len);
}

int auth_password_hash_cost(const char *hash)
{
    if (!hash || strlen(hash) != BCRYPT_HASH_LEN)
        return -1;
    if (hash[0] != '$' || hash[1] != '2' || (hash[2] != 'a' && hash[2] != 'b' && hash[2] != 'y') ||
        hash[3] != '$' || hash[6] != '$')
        return -1;
    if (hash[4] < '0' || hash[4] > '9' || hash[5] < '0' || hash[5] > '9')
        return -1;
    int cost = (hash[4] - '0') * 10 + (hash[5] - '0');
    if (cost < AUTH_BCRYPT_COST_MIN || cost > AUTH_BCRYPT_COST_MAX)
        return -1;
    return cost;
}

bool auth_password_needs_rehash(const char *hash, int cost)
{
    return auth_password_hash_cost(hash) != cost || hash[2] != 'b';
}

enum vb_err auth_password_hash(const char *pw, size_t pw_len, int cost, char out[AUTH_HASH_MAX])
{
    enum vb_err err = VB_OK;
    uint8_t salt_bytes[SALT_BYTES];
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    char tmp[EFFECTIVE_MAX];
    struct crypt_data *data = NULL;

    out[0] = '\0';
    if (!auth_password_acceptable(pw, pw_len) || cost < AUTH_BCRYPT_COST_MIN ||
        cost > AUTH_BCRYPT_COST_MAX)
        return VB_ERR_INVALID;

    err = vb_random_bytes(salt_bytes, sizeof salt_bytes);
    if (err)
        goto out;
    if (!crypt_gensalt_rn("$2b$", (unsigned long)cost, (const char *)salt_bytes,
                          (int)sizeof salt_bytes, setting, (int)sizeof setting)) {
        vb_error("auth: crypt_gensalt_rn failed: %s", strerror(errno));
        err = VB_ERR_INTERNAL;
        goto out;
    }
    const char *eff = effective_password(pw, pw_len, tmp);
    if (!eff) {
        err = VB_ERR_INTERNAL;
        goto out;
    }
    data = vb_try_calloc(1, sizeof *data); /* ~32 KiB: too big for worker stacks */
    if (!data) {
        err = VB_ERR_NOMEM;
        goto out;
    }
    const char *h = crypt_rn(eff, setting, data, (int)sizeof *data);
    if (!h || h[0] == '*' || strlen(h) != BCRYPT_HASH_LEN) {
        vb_error("auth: bcrypt failed: %s", strerror(errno));
        err = VB_ERR_INTERNAL;
        goto out;
    }
    memcpy(out, h, BCRYPT_HASH_LEN + 1);
out:
    vb_free_secure(data, sizeof *data);
    explicit_bzero(tmp, sizeof tmp);
    explicit_bzero(salt_bytes, sizeof salt_bytes);
    return err;
}

/* Runs bcrypt on pw with `setting` (a full hash or just its setting prefix) and compares the result
 * with `expect` in constant time. */
static bool bcrypt_matches(const char *pw, size_t pw_len, const char *setting, const char *expect)
{
    bool ok = false;
    char tmp[EFFECTIVE_MAX];
    struct crypt_data *data = NULL;

    const char *eff = effective_password(pw, pw_len, tmp);
    if (!eff)
        goto out;
    data = vb_try_calloc(1, sizeof *data);
    if (!data) {
        vb_error("auth: out of memory verifying a password");
        goto out;
    }
    const char *h = crypt_rn(eff, setting, data, (int)sizeof *data);
    if (!h || h[0] == '*' || strlen(h) != BCRYPT_HASH_LEN)
        goto out;
    ok = vb_ct_equal(h, expect, BCRYPT_HASH_LEN);
out:
    vb_free_secure(data, sizeof *data);
    explicit_bzero(tmp, sizeof tmp);
    return ok;
}

bool auth_password_verify(const char *pw, size_t pw_len, const char *hash)
{
    if (!auth_password_acceptable(pw, pw_len))
        return false;
    if (auth_password_hash_cost(hash) < 0) {
        vb_warn("auth: stored password hash is not a bcrypt hash");
        return false;
    }
    return bcrypt_matches(pw, pw_len, hash, hash);
}

bool auth_password_dummy_verify(const char *pw, size_t pw_len, int cost)
{
    /* A syntactically valid bcrypt hash (all-zero salt and digest) that no password produces;
     * bcrypt does the full work for it, then the comparison fails. */
    char dummy[BCRYPT_HASH_LEN + 1];

    if (cost < AUTH_BCRYPT_COST_MIN || cost > AUTH_BCRYPT_COST_MAX)
        cost = 12;
    snprintf(dummy, sizeof dummy, "$2b$%02d$%s", cost,
             "....................................................."); /* 53 */
    if (!auth_password_acceptable(pw, pw_len)) {
        pw = "x";
        pw_len = 1;
    }
    (void)bcrypt_matches(pw, pw_len, dummy, dummy);
    return false;
}
