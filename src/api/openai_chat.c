/* openai_chat.c: OpenAI-compatible chat: POST /v1/chat/completions (plain and streamed as
 * chat.completion.chunk events ending with [DONE]) and GET /v1/models, so OpenAI client
 * libraries work unchanged against the local model. Nothing is stored but the reply kept
 * for an Idempotency-Key (a streamed reply is kept as the events sent). */
#include "core/vb.h"
#include "api/handlers.h"
#include "api/idempotency.h"
#include "api/llm_params.h"
#include "api/request.h"
#include "api/sse.h"
#include "core/alloc.h"
#include "core/crypto.h"
#include "core/time_fmt.h"
#include "llm/service.h"

#include <stdio.h>

#define MESSAGES_MAX      256
#define MESSAGE_MAX_BYTES 65536

struct completion {
    struct http_request *req;
    struct api_app *app;
    struct api_llm_params params;
    struct llm_chat_msg *msgs;
    size_t n_msgs;
    const char *system;
    char id[40];
    int64_t created;
    struct http_stream *stream;
    struct llm_chat_reply reply;
    struct api_idem idem;     /* Idempotency-Key */
    struct vb_buf transcript; /* the events sent, kept for a replay when idem.held */
    bool transcript_lost;     /* ... but it outgrew its ceiling */
};

static const char *const roles[] = {"system", "user", "assistant", "developer"};

/* messages: [{role, content}] with string content or [{type:"text", text}] parts. */
static enum vb_err parse_message(struct completion *c, const struct vb_json *m, size_t i)
{
    const struct vb_json *content = vb_json_get(m, "content");
    const char *role = vb_json_get_str(m, "role");
    bool known = false;
    for (size_t k = 0; role && k < VB_ARRAY_LEN(roles); k++)
        known |= strcmp(role, roles[k]) == 0;
    if (m->type != VB_JSON_OBJECT || !known) {
        http_req_set_error(c->req, "messages",
                           "messages[%zu].role: must be system, user or "
                           "assistant",
                           i);
        return VB_ERR_UNPROCESSABLE;
    }
    const char *text = content && content->type == VB_JSON_STRING ? content->string : NULL;
    if (content && content->type == VB_JSON_ARRAY && content->count == 1 &&
        content->child->type == VB_JSON_OBJECT)
        text = vb_json_get_str(content->child, "text");
    if (!text || strlen(text) > MESSAGE_MAX_BYTES) {
        http_req_set_error(c->req, "messages",
                           "messages[%zu].content: must be text of at most "
                           "%d bytes",
                           i, MESSAGE_MAX_BYTES);
        return VB_ERR_UNPROCESSABLE;
    }
    c->msgs[c->n_msgs].role = strcmp(role, "developer") == 0 ? "system" : role;
    c->msgs[c->n_msgs].content = text;
    c->n_msgs++;
    return VB_OK;
}

static enum vb_err parse(struct completion *c, const struct vb_json *body)
{
    const struct vb_json *msgs = vb_json_get(body, "messages");
    const struct vb_json *n = vb_json_get(body, "n");
    if (!msgs || msgs->type != VB_JSON_ARRAY || msgs->count == 0 || msgs->count > MESSAGES_MAX) {
        http_req_set_error(c->req, "messages", "messages: must be a list of 1 to %d messages",
                           MESSAGES_MAX);
        return VB_ERR_UNPROCESSABLE;
    }
    if (n && !(n->type == VB_JSON_NUMBER && n->number == 1)) {
        http_req_set_error(c->req, "n", "n: only 1 choice is supported");
        return VB_ERR_UNPROCESSABLE;
    }
    enum vb_err err = api_llm_params_parse(c->req, body, &c->params);
    if (err)
        return err;
    c->msgs = vb_try_calloc(msgs->count, sizeof *c->msgs);
    if (!c->msgs)
        return VB_ERR_NOMEM;
    size_t i = 0;
    for (const struct vb_json *m = msgs->child; m && !err; m = m->next, i++)
        err = parse_message(c, m, i);
    return err;
}

static void chunk_begin(struct vb_jw *w, const struct completion *c)
{
    vb_jw_obj_begin(w);
    vb_jw_kstr(w, "id", c->id);
    vb_jw_kstr(w, "object", "chat.completion.chunk");
    vb_jw_kint(w, "created", c->created);
    vb_jw_kstr(w, "model", c->app->cfg->llm_model);
    vb_jw_key(w, "choices");
    vb_jw_arr_begin(w);
    vb_jw_obj_begin(w);
    vb_jw_kint(w, "index", 0);
    vb_jw_key(w, "delta");
    vb_jw_obj_begin(w);
}

/* Sends one unnamed event and, when a replay may be asked for, remembers it. */
static enum vb_err send_event(struct completion *c, const char *data, size_t len)
{
    enum vb_err err = api_sse_send(c->stream, NULL, data, len);
    if (!err && c->idem.held && api_sse_frame(&c->transcript, NULL, data, len) != VB_OK)
        c->transcript_lost = true; /* too long to keep: a retry generates again */
    return err;
}

static bool send_chunk(struct completion *c, const char *text, size_t len, const char *finish)
{
    struct vb_buf b;
    struct vb_jw w;
    api_json_begin(&w, &b);
    chunk_begin(&w, c);
    if (text) {
        vb_jw_key(&w, "content");
        vb_jw_strn(&w, text, len);
    } else if (!finish) {
        vb_jw_kstr(&w, "role", "assistant");
    }
    vb_jw_obj_end(&w);
    vb_jw_key(&w, "finish_reason");
    vb_jw_str(&w, finish);
    vb_jw_obj_end(&w);
    vb_jw_arr_end(&w);
    vb_jw_obj_end(&w);
    bool ok = vb_jw_finish(&w) == VB_OK && send_event(c, b.data, b.len) == VB_OK;
    vb_buf_release(&b);
    return ok;
}

static bool on_text(void *ud, int32_t id, const char *text, size_t len)
{
    struct completion *c = ud;
    (void)id;
    return !c->stream || send_chunk(c, text, len, NULL);
}

static bool cancelled(void *ud)
{
    return http_req_cancelled(((struct completion *)ud)->req);
}

static void write_usage(struct vb_jw *w, const struct llm_chat_reply *r)
{
    vb_jw_key(w, "usage");
    vb_jw_obj_begin(w);
    vb_jw_kint(w, "prompt_tokens", (int64_t)r->n_prompt);
    vb_jw_kint(w, "completion_tokens", (int64_t)r->n_gen);
    vb_jw_kint(w, "total_tokens", (int64_t)(r->n_prompt + r->n_gen));
    vb_jw_obj_end(w);
}

static enum vb_err reply_json(struct completion *c)
{
    struct vb_buf b;
    struct vb_jw w;
    api_json_begin(&w, &b);
    vb_jw_obj_begin(&w);
    vb_jw_kstr(&w, "id", c->id);
    vb_jw_kstr(&w, "object", "chat.completion");
    vb_jw_kint(&w, "created", c->created);
    vb_jw_kstr(&w, "model", c->app->cfg->llm_model);
    vb_jw_key(&w, "choices");
    vb_jw_arr_begin(&w);
    vb_jw_obj_begin(&w);
    vb_jw_kint(&w, "index", 0);
    vb_jw_key(&w, "message");
    vb_jw_obj_begin(&w);
    vb_jw_kstr(&w, "role", "assistant");
    vb_jw_kstr(&w, "content", c->reply.text);
    vb_jw_obj_end(&w);
    vb_jw_kstr(&w, "finish_reason", api_llm_finish_reason(c->reply.stop));
    vb_jw_obj_end(&w);
    vb_jw_arr_end(&w);
    write_usage(&w, &c->reply);
    vb_jw_obj_end(&w);
    enum vb_err err = vb_jw_finish(&w);
    if (err) {
        vb_buf_release(&b);
        return err;
    }
    api_idem_keep(&c->idem, 200, "application/json", DB_IDEM_BODY_TEXT, b.data, b.len);
    return http_reply_json(c->req, 200, &b);
}

static enum vb_err run(struct completion *c)
{
    char why[512] = "";
    uint8_t rnd[12];
    char hex[25];
    if (vb_random_bytes(rnd, sizeof rnd) != VB_OK)
        return VB_ERR_INTERNAL;
    vb_hex_encode(rnd, sizeof rnd, hex);
    snprintf(c->id, sizeof c->id, "chatcmpl-%s", hex);
    c->created = vb_now_unix();
    enum vb_err err = api_idem_begin(c->req, &c->idem);
    if (err || c->idem.replay.status)
        return err ? err : api_idem_replay(c->req, &c->idem);
    if (llm_service_admit(c->app->llm, why, sizeof why)) {
        http_req_set_error(c->req, "model", "%s", why);
        http_reply_header(c->req, "Retry-After", API_LLM_RETRY_AFTER_S);
        return VB_ERR_UNAVAILABLE;
    }
    if (c->params.stream && !(c->stream = api_sse_start(c->req))) {
        llm_service_leave(c->app->llm);
        return VB_ERR_NOMEM;
    }
    if (c->stream)
        send_chunk(c, NULL, 0, NULL);
    struct llm_chat_request r = {.msgs = c->msgs,
                                 .n_msgs = c->n_msgs,
                                 .default_system = NULL,
                                 .gen = c->params.gen,
                                 .on_text = on_text,
                                 .cancelled = cancelled,
                                 .ud = c};
    err = llm_service_chat(c->app->llm, &r, &c->reply, why, sizeof why);
    if (!c->stream) {
        if (err && why[0])
            http_req_set_error(c->req, NULL, "%s", why);
        if (err == VB_ERR_UNAVAILABLE)
            http_reply_header(c->req, "Retry-After", API_LLM_RETRY_AFTER_S);
        return err ? err : reply_json(c);
    }
    if (err) {
        struct vb_buf b;
        struct vb_jw w;
        api_json_begin(&w, &b);
        vb_jw_obj_begin(&w);
        vb_jw_key(&w, "error");
        vb_jw_obj_begin(&w);
        vb_jw_kstr(&w, "code", vb_err_code(err));
        vb_jw_kstr(&w, "message", why[0] ? why : vb_err_message(err));
        vb_jw_obj_end(&w);
        vb_jw_obj_end(&w);
        if (vb_jw_finish(&w) == VB_OK)
            (void)send_event(c, b.data, b.len);
        vb_buf_release(&b);
    } else {
        send_chunk(c, NULL, 0, api_llm_finish_reason(c->reply.stop));
    }
    if (send_event(c, "[DONE]", 6) == VB_OK && !err && !c->transcript_lost)
        api_idem_keep(&c->idem, 200, "text/event-stream; charset=utf-8", DB_IDEM_BODY_TEXT,
                      c->transcript.data, c->transcript.len);
    http_stream_close(c->stream);
    return VB_OK;
}

enum vb_err api_openai_chat(struct http_request *req)
{
    struct completion c = {.req = req, .app = http_req_app(req)};
    struct vb_json *body = NULL;
    vb_buf_init(&c.transcript, API_IDEM_BODY_MAX);
    enum vb_err err = api_json_body(req, &body);
    if (!err)
        err = parse(&c, body);
    if (!err)
        err = run(&c);
    api_idem_end(&c.idem);
    vb_buf_release(&c.transcript);
    llm_chat_reply_release(&c.reply);
    vb_free(c.msgs);
    vb_json_free(body);
    return err;
}

enum vb_err api_openai_models(struct http_request *req)
{
    struct api_app *app = http_req_app(req);
    char why[512];
    bool installed = llm_service_check(app->llm, why, sizeof why) == VB_OK;
    struct vb_buf b;
    struct vb_jw w;
    api_json_begin(&w, &b);
    vb_jw_obj_begin(&w);
    vb_jw_kstr(&w, "object", "list");
    vb_jw_key(&w, "data");
    vb_jw_arr_begin(&w);
    vb_jw_obj_begin(&w);
    vb_jw_kstr(&w, "id", app->cfg->llm_model);
    vb_jw_kstr(&w, "object", "model");
    vb_jw_kint(&w, "created", app->started_unix);
    vb_jw_kstr(&w, "owned_by", "vocero");
    vb_jw_kbool(&w, "installed", installed);
    vb_jw_obj_end(&w);
    vb_jw_arr_end(&w);
    vb_jw_obj_end(&w);
    return api_json_send(req, 200, &w, &b);
}
