/* status.c: the HTTP status of each enum vb_err; a switch so the compiler reports a
 * missing case. */
#include "core/vb.h"
#include "http/http.h"

int http_status_of(enum vb_err err)
{
    switch (err) {
    case VB_OK:
        return 200;
    case VB_ERR_NOMEM:
        return 503;
    case VB_ERR_INVALID:
        return 400;
    case VB_ERR_UNAUTHORIZED:
        return 401;
    case VB_ERR_FORBIDDEN:
        return 403;
    case VB_ERR_NOT_FOUND:
        return 404;
    case VB_ERR_METHOD:
        return 405;
    case VB_ERR_CONFLICT:
        return 409;
    case VB_ERR_TOO_LARGE:
        return 413;
    case VB_ERR_MEDIA_TYPE:
        return 415;
    case VB_ERR_UNPROCESSABLE:
        return 422;
    case VB_ERR_RATE_LIMITED:
        return 429;
    case VB_ERR_UNAVAILABLE:
        return 503;
    case VB_ERR_IO:
        return 500;
    case VB_ERR_DB:
        return 500;
    case VB_ERR_INTERNAL:
        return 500;
    case VB_ERR_FORMAT:
        return 422;
    case VB_ERR_CANCELLED:
        return 499;
    case VB_ERR_TIMEOUT:
        return 504;
    case VB_ERR_RANGE:
        return 416;
    case VB_ERR_DB_DOWN:
        return 503;
    case VB_ERR_QUOTA:
        return 403;
    case VB_ERR_NO_SPACE:
        return 507;
    case VB_ERR_WOULD_BLOCK:
        return 503;
    }
    return 500;
}
