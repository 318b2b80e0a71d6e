/* idempotency.c: Idempotency-Key claims, replays and stored replies. */
#include "core/vb.h"
#include "api/idempotency.h"
#include "api/app.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/time_fmt.h"

#include <stdio.h>

/* Fingerprint of the request: method, path and body. */
static enum vb_err request_hash(struct http_request *req, char out[VB_SHA256_LEN * 2 + 1])
{
    uint8_t digest[VB_SHA256_LEN];
    char body_hex[VB_SHA256_LEN * 2 + 1];
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    vb_sha256(body, len, digest);
    vb_hex_encode(digest, sizeof digest, body_hex);
    struct vb_buf line;
    vb_buf_init(&line, 64 * 1024);
    enum vb_err err =
        vb_buf_printf(&line, "%s %s\n%s", http_req_method(req), http_req_path(req), body_hex);
    if (!err) {
        vb_sha256(line.data, line.len, digest);
        vb_hex_encode(digest, sizeof digest, out);
    }
    vb_buf_release(&line);
    return err;
}

static bool key_sane(const char *k)
{
    size_t n = strlen(k);
    for (size_t i = 0; i < n; i++)
        if (k[i] < 0x21 || k[i] > 0x7e)
            return false;
    return n >= 1 && n <= API_IDEM_KEY_MAX;
}

enum vb_err api_idem_begin(struct http_request *req, struct api_idem *idem)
{
    struct api_app *app = http_req_app(req);
    char hash[VB_SHA256_LEN * 2 + 1];
    bool claimed = false;
    memset(idem, 0, sizeof *idem);
    idem->store = app->store;
    idem->storage_dir = app->cfg->storage_dir;
    idem->user_id = http_req_user_id(req);
    idem->key = http_req_header(req, API_IDEM_HEADER);
    if (!idem->key)
        return VB_OK;
    if (!key_sane(idem->key)) {
        http_req_set_error(req, API_IDEM_HEADER,
                           "Idempotency-Key: must be 1 to %d printable ASCII characters",
                           API_IDEM_KEY_MAX);
        return VB_ERR_UNPROCESSABLE;
    }
    request_hash(req, hash);
    enum vb_err err =
        db_idem_claim(idem->store, idem->user_id, idem->key, hash,
                      vb_now_unix() + API_IDEM_RUNNING_TTL_S, &claimed, &idem->replay);
    if (err == VB_ERR_NOT_FOUND) /* the first request failed and let go of it meanwhile */
        err = VB_ERR_CONFLICT;
    if (err == VB_ERR_CONFLICT)
        http_req_set_error(req, API_IDEM_HEADER, "Idempotency-Key: retry in a moment");
    if (err)
        return err;
    idem->held = claimed;
    if (claimed)
        return VB_OK;
    if (strcmp(idem->replay.request_hash, hash) != 0) {
        err = VB_ERR_UNPROCESSABLE;
        http_req_set_error(req, API_IDEM_HEADER,
                           "Idempotency-Key: this key was used for a different request");
    } else if (idem->replay.status == 0) {
        err = VB_ERR_CONFLICT;
        http_req_set_error(req, API_IDEM_HEADER,
                           "Idempotency-Key: the first request with this key is still running");
    }
    if (err)
        db_idem_entry_release(&idem->replay);
    return err;
}

enum vb_err api_idem_replay(struct http_request *req, const struct api_idem *idem)
{
    const struct db_idem_entry *e = &idem->replay;
    const char *body = e->body ? e->body : "";
    http_reply_header(req, "Idempotent-Replayed", "true");
    if (e->body_kind == DB_IDEM_BODY_FILE) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", idem->storage_dir, body);
        return http_reply_file(req, path, e->content_type, NULL);
    }
    if (e->body_kind == DB_IDEM_BODY_BASE64) {
        size_t cap = strlen(body) / 4 * 3 + 3, n = 0;
        uint8_t *bytes = vb_try_malloc(cap);
        if (!bytes)
            return VB_ERR_NOMEM;
        enum vb_err err = vb_base64_decode(body, strlen(body), bytes, cap, &n);
        if (!err)
            err = http_reply_bytes(req, e->status, e->content_type, bytes, n);
        vb_free(bytes);
        return err;
    }
    return http_reply_bytes(req, e->status, e->content_type, body, strlen(body));
}

void api_idem_keep(struct api_idem *idem, int status, const char *content_type,
                   enum db_idem_body kind, const void *body, size_t len)
{
    if (!idem->held || idem->kept)
        return;
    char *text = NULL;
    if (kind == DB_IDEM_BODY_BASE64 && len <= API_IDEM_BODY_MAX) {
        text = vb_try_malloc(VB_BASE64_LEN(len) + 1);
        if (text && vb_base64_encode(body, len, text, VB_BASE64_LEN(len) + 1) != VB_OK) {
            vb_free(text);
            text = NULL;
        }
    } else if (kind != DB_IDEM_BODY_BASE64) {
        text = vb_try_malloc(len + 1);
        if (text) {
            memcpy(text, body, len);
            text[len] = '\0';
        }
    }
    enum vb_err err = text
                          ? db_idem_finish(idem->store, idem->user_id, idem->key, status,
                                           content_type, kind, text, vb_now_unix() + API_IDEM_TTL_S)
                          : VB_ERR_TOO_LARGE;
    if (err)
        vb_warn("idempotency: the reply (%zu bytes) could not be kept for a replay: %s; a retry "
                "will generate again",
                len, vb_err_message(err));
    else
        idem->kept = true;
    vb_free(text);
}

void api_idem_end(struct api_idem *idem)
{
    if (idem->held && !idem->kept && db_idem_drop(idem->store, idem->user_id, idem->key) != VB_OK)
        vb_warn("idempotency: a key could not be dropped; it expires on its own");
    db_idem_entry_release(&idem->replay);
    memset(idem, 0, sizeof *idem);
}
