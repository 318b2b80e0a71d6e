/* err.h: the one project-wide error enum (append only), its messages, and vb_failf, the one
 * helper that fills an error-detail buffer. The HTTP status of each error is http/http.h's
 * http_status_of (the core knows nothing of HTTP); the statuses below say what it answers. */
#ifndef VB_ERR_H
#define VB_ERR_H

#include <stdarg.h>
#include <stddef.h>

enum vb_err {
    VB_OK = 0,
    VB_ERR_NOMEM,         /* out of memory (503) */
    VB_ERR_INVALID,       /* malformed request or argument (400) */
    VB_ERR_UNAUTHORIZED,  /* missing or bad credentials (401) */
    VB_ERR_FORBIDDEN,     /* authenticated but not allowed (403) */
    VB_ERR_NOT_FOUND,     /* no such resource (404) */
    VB_ERR_METHOD,        /* method not allowed on this path (405) */
    VB_ERR_CONFLICT,      /* already exists (409) */
    VB_ERR_TOO_LARGE,     /* body or input over a limit (413) */
    VB_ERR_MEDIA_TYPE,    /* unsupported Content-Type (415) */
    VB_ERR_UNPROCESSABLE, /* well-formed but semantically wrong input (422) */
    VB_ERR_RATE_LIMITED,  /* too many attempts (429) */
    VB_ERR_UNAVAILABLE,   /* busy or missing dependency (503) */
    VB_ERR_IO,            /* file system error (500) */
    VB_ERR_DB,            /* database error (500) */
    VB_ERR_INTERNAL,      /* our own bug or an unexpected library failure (500) */
    VB_ERR_FORMAT,        /* corrupt or unsupported file format (422) */
    VB_ERR_CANCELLED,     /* the work was cancelled by its caller (499) */
    VB_ERR_TIMEOUT,       /* took longer than allowed (504) */
    VB_ERR_RANGE,         /* unsatisfiable byte range (416) */
    VB_ERR_DB_DOWN,       /* database unreachable or restarting (503 + Retry-After) */
    VB_ERR_QUOTA,         /* a per-user quota is used up (403) */
    VB_ERR_NO_SPACE,      /* a disk (or its disk quota) is full (507) */
    VB_ERR_WOULD_BLOCK,   /* must wait: retry where waiting is allowed (internal; 503) */
};

/* Human-readable sentence for `err`; static storage. */
const char *vb_err_message(enum vb_err err);
/* Stable machine code for `err` as used in JSON error bodies, e.g. "not_found". */
const char *vb_err_code(enum vb_err err);

/* The one way to report an error with detail: writes the printf-style message into
 * why[cap] (when why is non-NULL and cap > 0) and returns err, so a failing path reads
 * `return vb_failf(why, cap, VB_ERR_FORMAT, "%s: tensor %s missing", file, name);`. */
enum vb_err vb_failf(char *why, size_t cap, enum vb_err err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* vb_failf with a va_list, for helpers that take their own format arguments. */
enum vb_err vb_vfailf(char *why, size_t cap, enum vb_err err, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

#endif
