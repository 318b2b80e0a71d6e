/* chat_service.h: the service layer between the chat handler (api/chat_turn.c) and storage:
 * a turn's user message stored with the thread read back as the model's context, and the
 * assistant's reply stored; each insert hands back the stored row. Layering: api handlers ->
 * api/chat_service -> {db, llm}; nothing here includes a handler. */
#ifndef VB_API_CHAT_SERVICE_H
#define VB_API_CHAT_SERVICE_H

#include "core/vb.h"
#include "api/app.h"
#include "db/store.h"
#include "llm/service.h"

/* Stores `content` as the user's message in one of uid's threads (*stored: the row) and
 * reads the thread, the new message last, into *context (the model's input). Release both. */
VB_WUR enum vb_err chat_service_add_user_message(struct api_app *app, int64_t uid,
                                                 int64_t thread_id, const char *content,
                                                 struct db_chat_message *stored,
                                                 struct db_chat_message_list *context);
/* Stores the model's reply (its counts and timings; generation_id 0 = not spoken; cut off
 * when the client went away) and hands back the stored row in *stored. */
VB_WUR enum vb_err chat_service_add_reply(struct api_app *app, int64_t uid, int64_t thread_id,
                                          const struct llm_chat_reply *reply, int64_t generation_id,
                                          struct db_chat_message *stored);

#endif
