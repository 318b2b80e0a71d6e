/* quota.h: the per-user quotas (QUOTA_* settings, 0 = unlimited), checked before a handler
 * creates something: chat threads, voices, stored bytes (voices + generated audio) and
 * stored generations per hour. */
#ifndef VB_API_QUOTA_H
#define VB_API_QUOTA_H

#include "core/vb.h"
#include "http/http.h"

enum api_quota {
    API_QUOTA_CHAT_THREADS,         /* one more thread: QUOTA_CHAT_THREADS */
    API_QUOTA_VOICES,               /* one more voice: QUOTA_VOICES */
    API_QUOTA_STORAGE,              /* `adding_bytes` more stored: QUOTA_STORAGE_MB */
    API_QUOTA_GENERATIONS_PER_HOUR, /* one more generation: QUOTA_GENERATIONS_PER_HOUR */
};

/* Whether the request's user may create one more thing counted by `quota` (`adding_bytes`
 * is the size about to be stored, for API_QUOTA_STORAGE; pass at least 1). VB_OK, or
 * VB_ERR_QUOTA (403) for a count or size, VB_ERR_RATE_LIMITED (429, Retry-After set) for
 * the hourly rate, with a message naming the quota, its setting and limit set on req;
 * store errors pass through. */
VB_WUR enum vb_err api_quota_check(struct http_request *req, enum api_quota quota,
                                   int64_t adding_bytes);

/* The quotas every stored speech generation is checked against: the hourly rate, then
 * storage (one byte at least; the size is not known before generating). */
VB_WUR enum vb_err api_quota_check_generation(struct http_request *req);

#endif
