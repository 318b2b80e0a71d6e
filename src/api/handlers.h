/* handlers.h: every route handler, one group per resource file. */
#ifndef VB_API_HANDLERS_H
#define VB_API_HANDLERS_H

#include "core/vb.h"
#include "api/app.h"
#include "core/json.h"
#include "db/store.h"
#include "http/http.h"

/* health.c, docs.c */
enum vb_err api_health(struct http_request *req);
enum vb_err api_docs_page(struct http_request *req);
enum vb_err api_docs_asset(struct http_request *req);
enum vb_err api_openapi(struct http_request *req);
/* auth.c */
enum vb_err api_auth_register(struct http_request *req);
enum vb_err api_auth_login(struct http_request *req);
enum vb_err api_auth_me(struct http_request *req);
enum vb_err api_auth_password(struct http_request *req);
/* voices.c */
enum vb_err api_voices_upload(struct http_request *req);
enum vb_err api_voices_list(struct http_request *req);
enum vb_err api_voices_get(struct http_request *req);
enum vb_err api_voices_audio(struct http_request *req);
enum vb_err api_voices_delete(struct http_request *req);
/* history.c, download.c */
enum vb_err api_history_list(struct http_request *req);
enum vb_err api_history_get(struct http_request *req);
enum vb_err api_history_delete(struct http_request *req);
enum vb_err api_download(struct http_request *req);
/* tts.c, speech_openai.c, engines.c */
enum vb_err api_speech_generate(struct http_request *req);
enum vb_err api_speech_demo(struct http_request *req);
enum vb_err api_speech_openai(struct http_request *req);
enum vb_err api_engines_list(struct http_request *req);
/* ambiences.c */
enum vb_err api_ambiences_list(struct http_request *req);
enum vb_err api_ambiences_preview(struct http_request *req);
enum vb_err api_ambiences_upload(struct http_request *req);
enum vb_err api_ambiences_delete(struct http_request *req);
/* chat.c */
enum vb_err api_chat_thread_create(struct http_request *req);
enum vb_err api_chat_thread_list(struct http_request *req);
enum vb_err api_chat_thread_get(struct http_request *req);
enum vb_err api_chat_thread_rename(struct http_request *req);
enum vb_err api_chat_thread_delete(struct http_request *req);

/* chat_turn.c, openai_chat.c */
enum vb_err api_chat_message_post(struct http_request *req);
enum vb_err api_openai_chat(struct http_request *req);
enum vb_err api_openai_models(struct http_request *req);

/* tts.c: the speech part of a request whose reply is also spoken (chat with speak=true):
 * reads `engine` and `voice_id` from the request body (same rules as /generate-tts; errors
 * described on req). The job then runs through api/speech_service.h (speech_job_run,
 * speech_job_free). */
struct speech_job;
VB_WUR enum vb_err api_speech_job_prepare(struct http_request *req, struct speech_job **out);

/* Writes one chat message object (chat.c). */
void api_write_chat_message(struct vb_jw *w, const struct db_chat_message *m);

#endif
