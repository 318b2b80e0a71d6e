/* err.c: messages and codes of enum vb_err (a switch so the compiler reports a missing
 * case), and vb_failf, the error-detail helper. The HTTP status of each lives in
 * http/status.c. */
#include "core/vb.h"
#include "core/err.h"

const char *vb_err_message(enum vb_err err)
{
    switch (err) {
    case VB_OK:
        return "success";
    case VB_ERR_NOMEM:
        return "out of memory";
    case VB_ERR_INVALID:
        return "invalid request";
    case VB_ERR_UNAUTHORIZED:
        return "authentication required";
    case VB_ERR_FORBIDDEN:
        return "forbidden";
    case VB_ERR_NOT_FOUND:
        return "not found";
    case VB_ERR_METHOD:
        return "method not allowed";
    case VB_ERR_CONFLICT:
        return "already exists";
    case VB_ERR_TOO_LARGE:
        return "too large";
    case VB_ERR_MEDIA_TYPE:
        return "unsupported media type";
    case VB_ERR_UNPROCESSABLE:
        return "unprocessable input";
    case VB_ERR_RATE_LIMITED:
        return "too many requests";
    case VB_ERR_UNAVAILABLE:
        return "service unavailable";
    case VB_ERR_IO:
        return "input/output error";
    case VB_ERR_DB:
        return "database error";
    case VB_ERR_INTERNAL:
        return "internal error";
    case VB_ERR_FORMAT:
        return "corrupt or unsupported format";
    case VB_ERR_CANCELLED:
        return "cancelled";
    case VB_ERR_TIMEOUT:
        return "timed out";
    case VB_ERR_RANGE:
        return "range not satisfiable";
    case VB_ERR_DB_DOWN:
        return "the database is unavailable, retry soon";
    case VB_ERR_QUOTA:
        return "quota exceeded";
    case VB_ERR_NO_SPACE:
        return "the server has no space left to store this";
    case VB_ERR_WOULD_BLOCK:
        return "busy, retry soon";
    }
    return "unknown error";
}

const char *vb_err_code(enum vb_err err)
{
    switch (err) {
    case VB_OK:
        return "ok";
    case VB_ERR_NOMEM:
        return "out_of_memory";
    case VB_ERR_INVALID:
        return "bad_request";
    case VB_ERR_UNAUTHORIZED:
        return "unauthorized";
    case VB_ERR_FORBIDDEN:
        return "forbidden";
    case VB_ERR_NOT_FOUND:
        return "not_found";
    case VB_ERR_METHOD:
        return "method_not_allowed";
    case VB_ERR_CONFLICT:
        return "conflict";
    case VB_ERR_TOO_LARGE:
        return "payload_too_large";
    case VB_ERR_MEDIA_TYPE:
        return "unsupported_media_type";
    case VB_ERR_UNPROCESSABLE:
        return "validation_error";
    case VB_ERR_RATE_LIMITED:
        return "rate_limited";
    case VB_ERR_UNAVAILABLE:
        return "unavailable";
    case VB_ERR_IO:
        return "io_error";
    case VB_ERR_DB:
        return "database_error";
    case VB_ERR_INTERNAL:
        return "internal_error";
    case VB_ERR_FORMAT:
        return "bad_format";
    case VB_ERR_CANCELLED:
        return "cancelled";
    case VB_ERR_TIMEOUT:
        return "timeout";
    case VB_ERR_RANGE:
        return "range_not_satisfiable";
    case VB_ERR_DB_DOWN:
        return "database_unavailable";
    case VB_ERR_QUOTA:
        return "quota_exceeded";
    case VB_ERR_NO_SPACE:
        return "insufficient_storage";
    case VB_ERR_WOULD_BLOCK:
        return "unavailable";
    }
    return "unknown";
}

enum vb_err vb_vfailf(char *why, size_t cap, enum vb_err err, const char *fmt, va_list ap)
{
    if (why && cap)
        vsnprintf(why, cap, fmt, ap);
    return err;
}

enum vb_err vb_failf(char *why, size_t cap, enum vb_err err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vb_vfailf(why, cap, err, fmt, ap);
    va_end(ap);
    return err;
}
