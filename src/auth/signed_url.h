/* signed_url.h: download links that work without credentials until they expire:
 * sig = hex HMAC-SHA256(SECRET_KEY, "download:" + filename + ":" + exp), exp in unix
 * seconds written in canonical decimal. The URL is
 * "/download/<filename>?exp=<exp>&sig=<sig>". */
#ifndef VB_AUTH_SIGNED_URL_H
#define VB_AUTH_SIGNED_URL_H

#include "core/vb.h"
#include "core/err.h"

#define AUTH_SIG_HEX_LEN 64 /* hex digits of a signature (65 bytes with the NUL) */

/* Writes the lowercase hex signature for (filename, exp >= 0) into out_hex.
 * VB_ERR_INVALID on NULL/empty secret or filename or exp < 0; VB_ERR_INTERNAL. */
VB_WUR enum vb_err auth_sign_download(const char *secret, const char *filename, int64_t exp,
                                      char out_hex[AUTH_SIG_HEX_LEN + 1]);

/* Checks the query parameters of a download at time `now`. exp_str must be canonical
 * decimal digits only (no sign, spaces or leading zeros, fits int64); sig_hex exactly the
 * 64 lowercase hex digits auth_sign_download writes (upper case is refused: one canonical
 * form). VB_OK when valid and now <= exp; VB_ERR_FORBIDDEN for anything else (missing,
 * malformed, expired, wrong signature). Constant-time compare. */
VB_WUR enum vb_err auth_verify_download(const char *secret, const char *filename,
                                        const char *exp_str, const char *sig_hex, int64_t now);

#endif
