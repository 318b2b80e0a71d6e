/* header.h: split an Authorization header value into its scheme and credentials. */
#ifndef VB_AUTH_HEADER_H
#define VB_AUTH_HEADER_H

#include "core/vb.h"

enum auth_scheme {
    AUTH_SCHEME_NONE,   /* header absent or empty */
    AUTH_SCHEME_BASIC,  /* "Basic <token68>" */
    AUTH_SCHEME_BEARER, /* "Bearer <token68>" */
    AUTH_SCHEME_OTHER,  /* anything else (unknown scheme or malformed) -> 401 */
};

/* Classifies `value` (value_len bytes; NULL = no header). Scheme names match
 * case-insensitively; one or more spaces separate scheme and credentials; surrounding
 * spaces/tabs are ignored. For BASIC and BEARER, *cred / *cred_len (may be NULL) get the
 * credentials, borrowed from `value`: non-empty printable ASCII without spaces, else the
 * result is OTHER. */
enum auth_scheme auth_header_parse(const char *value, size_t value_len, const char **cred,
                                   size_t *cred_len);

#endif
