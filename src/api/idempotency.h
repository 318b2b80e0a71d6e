/* idempotency.h: the Idempotency-Key header on the routes that generate (chat messages,
 * speech). A retry carrying the key of an earlier request by the same user gets that
 * request's reply again instead of a second generation or row; 409 while the first still
 * runs; 422 when the key comes with a different request (another route or body). Keys live
 * in the database for API_IDEM_TTL_S.
 *
 *   struct api_idem idem = {0};
 *   if ((err = api_idem_begin(req, &idem))) return err;       // 409 / 422 described on req
 *   if (idem.replay.status) return api_idem_replay(req, &idem); // seen before: same reply
 *   ... generate, build the reply ...
 *   api_idem_keep(&idem, 201, "application/json", DB_IDEM_BODY_TEXT, json, len);
 *   ... send it ...
 *   api_idem_end(&idem);  // always: drops a key whose reply was not kept (failed request)
 */
#ifndef VB_API_IDEMPOTENCY_H
#define VB_API_IDEMPOTENCY_H

#include "core/vb.h"
#include "db/store.h"
#include "http/http.h"

#define API_IDEM_HEADER        "Idempotency-Key"
#define API_IDEM_KEY_MAX       255                /* bytes of printable ASCII */
#define API_IDEM_TTL_S         (24 * 3600)        /* a finished key's reply is kept this long */
#define API_IDEM_RUNNING_TTL_S 3600               /* a claim whose request never ended (crash) */
#define API_IDEM_BODY_MAX      ((size_t)32 << 20) /* largest binary reply kept for a replay */

struct api_idem {
    struct db_store *store;  /* borrowed */
    const char *storage_dir; /* borrowed: where DB_IDEM_BODY_FILE names live */
    int64_t user_id;
    const char *key;             /* borrowed header value; NULL = none given */
    bool held;                   /* the key is claimed by this request */
    bool kept;                   /* its reply is stored */
    struct db_idem_entry replay; /* status != 0: the key's first reply */
};

/* Reads the header and claims a new key, or loads the reply of a used one into
 * idem->replay. Without the header: VB_OK and nothing held. A key still running -> 409
 * (VB_ERR_CONFLICT); a key of a different request or a malformed key -> 422. */
VB_WUR enum vb_err api_idem_begin(struct http_request *req, struct api_idem *idem);
/* Sends idem->replay as it was first sent (status, Content-Type, body). */
VB_WUR enum vb_err api_idem_replay(struct http_request *req, const struct api_idem *idem);
/* Stores the reply of a held key (nothing without one): `len` bytes of `body` kept as `kind`
 * (DB_IDEM_BODY_FILE: body is the file name). A failure is logged; the key is then dropped
 * at api_idem_end, so a retry generates again. */
void api_idem_keep(struct api_idem *idem, int status, const char *content_type,
                   enum db_idem_body kind, const void *body, size_t len);
/* Drops a held key whose reply was not kept and frees idem->replay. */
void api_idem_end(struct api_idem *idem);

#endif
