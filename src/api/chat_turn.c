/* chat_turn.c: POST /chat/threads/{id}/messages: store the user's message, generate the
 * assistant's reply from the thread's history with the local LLM, store it; as one JSON
 * reply or as Server-Sent Events (token events, then the stored message). */
#include "core/vb.h"
#include "api/chat_service.h"
#include "api/generations.h"
#include "api/handlers.h"
#include "api/idempotency.h"
#include "api/quota.h"
#include "api/llm_params.h"
#include "api/request.h"
#include "api/speech_service.h"
#include "api/sse.h"
#include "core/alloc.h"
#include "core/json.h"
#include "llm/service.h"

#include <stdio.h>

#define CONTENT_MAX_BYTES 32768

struct turn {
    struct http_request *req;
    struct api_app *app;
    int64_t uid, thread_id;
    const char *content;
    struct api_llm_params params;
    struct db_chat_thread thread;
    struct db_chat_message_list history;
    struct db_chat_message user_msg, reply_msg;
    struct llm_chat_reply reply;
    struct http_stream *stream; /* when streaming */
    bool admitted;              /* holds a place in the chat model's queue */
    struct api_idem idem;       /* Idempotency-Key */
    bool speak;                 /* also synthesise the reply and attach the audio */
    struct speech_job *speech;
    int64_t generation_id;  /* the spoken reply, when speak */
    char speech_error[300]; /* why the reply could not be spoken ("" = fine) */
};

static bool cancelled(void *ud)
{
    struct turn *t = ud;
    return http_req_cancelled(t->req);
}

static bool on_text(void *ud, int32_t id, const char *text, size_t len)
{
    struct turn *t = ud;
    (void)id;
    if (!t->stream)
        return true;
    struct vb_buf b;
    struct vb_jw w;
    api_json_begin(&w, &b);
    vb_jw_obj_begin(&w);
    vb_jw_key(&w, "text");
    vb_jw_strn(&w, text, len);
    vb_jw_obj_end(&w);
    bool ok = vb_jw_finish(&w) == VB_OK && api_sse_send(t->stream, "token", b.data, b.len) == VB_OK;
    vb_buf_release(&b);
    return ok;
}

/* Runs the model over the thread's history plus the new message. */
static enum vb_err run_model(struct turn *t, char *why, size_t cap)
{
    size_t n = t->history.n;
    struct llm_chat_msg *msgs = vb_try_calloc(n + 1, sizeof *msgs);
    if (!msgs)
        return VB_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        msgs[i].role = t->history.items[i].role;
        msgs[i].content = t->history.items[i].content;
    }
    struct llm_chat_request r = {
        .session_key = t->thread_id,
        .msgs = msgs,
        .n_msgs = n,
        .default_system = t->thread.system_prompt,
        .gen = t->params.gen,
        .on_text = on_text,
        .cancelled = cancelled,
        .ud = t,
    };
    t->admitted = false; /* the chat gives the place back */
    enum vb_err err = llm_service_chat(t->app->llm, &r, &t->reply, why, cap);
    vb_free(msgs);
    return err;
}

/* Synthesises the reply with the TTS engine and stores it as a generation. A failure here
 * does not lose the reply: it is stored without audio and the reason is reported. */
static void speak_reply(struct turn *t)
{
    if (!t->speak || !t->reply.text || !t->reply.text[0])
        return;
    enum vb_err err = speech_job_run(t->req, t->speech, t->reply.text, &t->generation_id);
    if (err)
        snprintf(t->speech_error, sizeof t->speech_error, "the reply could not be spoken: %s",
                 http_req_error_message(t->req) ? http_req_error_message(t->req)
                                                : vb_err_message(err));
}

static enum vb_err store_reply(struct turn *t)
{
    return chat_service_add_reply(t->app, t->uid, t->thread_id, &t->reply, t->generation_id,
                                  &t->reply_msg);
}

static void write_result(struct vb_jw *w, const struct turn *t)
{
    vb_jw_obj_begin(w);
    vb_jw_key(w, "user_message");
    api_write_chat_message(w, &t->user_msg);
    vb_jw_key(w, "assistant_message");
    api_write_chat_message(w, &t->reply_msg);
    if (t->speak) {
        struct db_generation g = {0};
        vb_jw_key(w, "generation");
        if (t->generation_id &&
            db_generation_get(t->app->store, t->uid, t->generation_id, &g) == VB_OK)
            api_write_generation(w, t->app, &g);
        else
            vb_jw_null(w);
        db_generation_release(&g);
        vb_jw_key(w, "speech_error");
        vb_jw_str(w, t->speech_error[0] ? t->speech_error : NULL);
    }
    vb_jw_kstr(w, "model", llm_service_model_name(t->app->llm));
    vb_jw_kstr(w, "finish_reason", api_llm_finish_reason(t->reply.stop));
    vb_jw_key(w, "usage");
    vb_jw_obj_begin(w);
    vb_jw_kint(w, "prompt_tokens", (int64_t)t->reply.n_prompt);
    vb_jw_kint(w, "prompt_tokens_cached", (int64_t)(t->reply.n_prompt - t->reply.n_prompt_eval));
    vb_jw_kint(w, "completion_tokens", (int64_t)t->reply.n_gen);
    vb_jw_kint(w, "messages_dropped", (int64_t)t->reply.n_dropped);
    vb_jw_obj_end(w);
    vb_jw_key(w, "timings");
    vb_jw_obj_begin(w);
    vb_jw_kdouble(w, "prompt_ms", t->reply.prompt_ms);
    vb_jw_kdouble(w, "generation_ms", t->reply.gen_ms);
    vb_jw_kdouble(w, "tokens_per_s",
                  t->reply.gen_ms > 0 ? (double)t->reply.n_gen * 1000.0 / t->reply.gen_ms : 0);
    vb_jw_obj_end(w);
    vb_jw_obj_end(w);
}

/* Validates, loads the thread, takes a place in the model's queue and only then stores the
 * user's message (a refused request leaves nothing behind). */
static enum vb_err prepare(struct turn *t, const struct vb_json *body)
{
    char why[512];
    enum vb_err err;
    if ((err = api_path_id(t->req, "id", &t->thread_id)) ||
        (err = api_json_string(t->req, body, "content", true, 1, CONTENT_MAX_BYTES, &t->content)) ||
        (err = api_llm_params_parse(t->req, body, &t->params)) ||
        (err = api_json_bool(t->req, body, "speak", false, &t->speak)))
        return err;
    if (t->speak && (err = api_speech_job_prepare(t->req, &t->speech)))
        return err;
    if ((err = db_chat_thread_get(t->app->store, t->uid, t->thread_id, &t->thread)) ||
        (err = api_idem_begin(t->req, &t->idem)) || t->idem.replay.status)
        return err;
    if (t->speak && (err = api_quota_check_generation(t->req)))
        return err;
    if (llm_service_admit(t->app->llm, why, sizeof why)) {
        http_req_set_error(t->req, NULL, "%s", why);
        http_reply_header(t->req, "Retry-After", API_LLM_RETRY_AFTER_S);
        return VB_ERR_UNAVAILABLE;
    }
    t->admitted = true;
    return chat_service_add_user_message(t->app, t->uid, t->thread_id, t->content, &t->user_msg,
                                         &t->history);
}

static enum vb_err reply_json(struct turn *t)
{
    char why[512] = "";
    enum vb_err err = run_model(t, why, sizeof why);
    if (!err) {
        speak_reply(t);
        err = store_reply(t);
    }
    if (err) {
        if (why[0])
            http_req_set_error(t->req, NULL, "%s", why);
        if (err == VB_ERR_UNAVAILABLE)
            http_reply_header(t->req, "Retry-After", API_LLM_RETRY_AFTER_S);
        return err;
    }
    struct vb_buf b;
    struct vb_jw w;
    api_json_begin(&w, &b);
    write_result(&w, t);
    if ((err = vb_jw_finish(&w))) {
        vb_buf_release(&b);
        return err;
    }
    api_idem_keep(&t->idem, 201, "application/json", DB_IDEM_BODY_TEXT, b.data, b.len);
    return http_reply_json(t->req, 201, &b);
}

static enum vb_err reply_stream(struct turn *t)
{
    char why[512] = "";
    t->stream = api_sse_start(t->req);
    if (!t->stream)
        return VB_ERR_NOMEM;
    enum vb_err err = run_model(t, why, sizeof why);
    if (!err) {
        speak_reply(t);
        err = store_reply(t);
    }
    struct vb_buf b;
    struct vb_jw w;
    api_json_begin(&w, &b);
    if (err) {
        vb_jw_obj_begin(&w);
        vb_jw_kstr(&w, "code", vb_err_code(err));
        vb_jw_kstr(&w, "message", why[0] ? why : vb_err_message(err));
        vb_jw_obj_end(&w);
    } else {
        write_result(&w, t);
    }
    if (vb_jw_finish(&w) == VB_OK) {
        if (!err)
            api_idem_keep(&t->idem, 201, "application/json", DB_IDEM_BODY_TEXT, b.data, b.len);
        (void)api_sse_send(t->stream, err ? "error" : "message", b.data, b.len);
    }
    vb_buf_release(&b);
    http_stream_close(t->stream);
    return VB_OK;
}

/* The key's first result again: as JSON, or as a stream of its one final event. */
static enum vb_err replay(struct turn *t)
{
    if (!t->params.stream || t->idem.replay.body_kind != DB_IDEM_BODY_TEXT)
        return api_idem_replay(t->req, &t->idem);
    http_reply_header(t->req, "Idempotent-Replayed", "true");
    t->stream = api_sse_start(t->req);
    if (!t->stream)
        return VB_ERR_NOMEM;
    const char *body = t->idem.replay.body ? t->idem.replay.body : "{}";
    (void)api_sse_send(t->stream, "message", body, strlen(body));
    http_stream_close(t->stream);
    return VB_OK;
}

enum vb_err api_chat_message_post(struct http_request *req)
{
    struct turn t = {.req = req, .app = http_req_app(req), .uid = http_req_user_id(req)};
    struct vb_json *body = NULL;
    enum vb_err err = api_json_body(req, &body);
    if (!err)
        err = prepare(&t, body);
    if (!err && t.idem.replay.status)
        err = replay(&t);
    else if (!err)
        err = t.params.stream ? reply_stream(&t) : reply_json(&t);
    api_idem_end(&t.idem);
    if (t.admitted)
        llm_service_leave(t.app->llm);
    speech_job_free(t.speech);
    llm_chat_reply_release(&t.reply);
    db_chat_message_release(&t.user_msg);
    db_chat_message_release(&t.reply_msg);
    db_chat_message_list_release(&t.history);
    db_chat_thread_release(&t.thread);
    vb_json_free(body);
    return err;
}
