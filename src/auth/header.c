/* header.c: classify an Authorization header value as Basic, Bearer or other. */
#include "core/vb.h"
#include "auth/header.h"

#include <strings.h>

static bool is_ws(char c)
{
    return c == ' ' || c == '\t';
}

enum auth_scheme auth_header_parse(const char *value, size_t value_len, const char **cred,
                                   size_t *cred_len)
{
    static const struct {
        const char *name;
        size_t len;
        enum auth_scheme scheme;
    } schemes[] = {
        {"Basic", 5, AUTH_SCHEME_BASIC},
        {"Bearer", 6, AUTH_SCHEME_BEARER},
    };
    const char *dummy_cred;
    size_t dummy_len;

    if (!cred)
        cred = &dummy_cred;
    if (!cred_len)
        cred_len = &dummy_len;
    *cred = NULL;
    *cred_len = 0;
    if (!value)
        return AUTH_SCHEME_NONE;

    size_t b = 0, e = value_len;
    while (b < e && is_ws(value[b]))
        b++;
    while (e > b && is_ws(value[e - 1]))
        e--;
    if (b == e)
        return AUTH_SCHEME_NONE;

    for (size_t i = 0; i < VB_ARRAY_LEN(schemes); i++) {
        size_t n = schemes[i].len;
        if (e - b <= n || strncasecmp(value + b, schemes[i].name, n) != 0 || value[b + n] != ' ')
            continue;
        size_t c = b + n;
        while (c < e && value[c] == ' ')
            c++;
        if (c == e)
            return AUTH_SCHEME_OTHER;
        for (size_t k = c; k < e; k++) {
            /* token68 never contains spaces, controls or non-ASCII */
            unsigned char ch = (unsigned char)value[k];
            if (ch <= 0x20 || ch >= 0x7f)
                return AUTH_SCHEME_OTHER;
        }
        *cred = value + c;
        *cred_len = e - c;
        return schemes[i].scheme;
    }
    return AUTH_SCHEME_OTHER;
}
