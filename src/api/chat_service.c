/* chat_service.c: storing a chat turn's messages. */
#include "core/vb.h"
#include "api/chat_service.h"

enum vb_err chat_service_add_user_message(struct api_app *app, int64_t uid, int64_t thread_id,
                                          const char *content, struct db_chat_message *stored,
                                          struct db_chat_message_list *context)
{
    struct db_chat_message m = {.thread_id = thread_id, .role = "user", .content = (char *)content};
    enum vb_err err = db_chat_message_add(app->store, uid, &m, stored);
    if (err)
        return err;
    /* the thread so far, the new message last: the model's context */
    return db_chat_message_list(app->store, uid, thread_id, context);
}

enum vb_err chat_service_add_reply(struct api_app *app, int64_t uid, int64_t thread_id,
                                   const struct llm_chat_reply *reply, int64_t generation_id,
                                   struct db_chat_message *stored)
{
    struct db_chat_message m = {
        .thread_id = thread_id,
        .role = "assistant",
        .content = reply->text,
        .prompt_tokens = (int)reply->n_prompt,
        .completion_tokens = (int)reply->n_gen,
        .duration_ms = (int64_t)(reply->prompt_ms + reply->gen_ms),
        .generation_id = generation_id,
        .incomplete = reply->stop == LLM_STOP_CANCELLED,
    };
    /* the stored row as the database returned it: the reply shows what is persisted */
    return db_chat_message_add(app->store, uid, &m, stored);
}
