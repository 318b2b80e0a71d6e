/* service.h: the chat model as a shared service for the server: one model instance loaded
 * on first use, one generation at a time, a bounded number of waiting requests (beyond it
 * VB_ERR_UNAVAILABLE so the caller can answer 503 + Retry-After), and a small LRU of
 * sessions keyed by conversation so a follow-up turn only evaluates its new tokens.
 * Admission comes first, so that a caller can refuse a request before it stores anything.
 *
 *   struct llm_service *svc; llm_service_new(&params, &svc);
 *   if (llm_service_admit(svc, why, cap)) ... answer 503 ...
 *   ... store the user's message (on failure: llm_service_leave(svc)) ...
 *   struct llm_chat_request r = {.session_key = thread_id, .msgs = msgs, .n_msgs = n, ...};
 *   struct llm_chat_reply reply; llm_service_chat(svc, &r, &reply); ... reply.text ...
 *   llm_chat_reply_release(&reply);
 */
#ifndef VB_LLM_SERVICE_H
#define VB_LLM_SERVICE_H

#include "core/vb.h"
#include "core/err.h"
#include "llm/llm.h"

struct llm_service_params {
    const char *model_path;   /* GGUF file (copied); need not exist yet */
    const char *install_hint; /* shell command that installs the model, for messages */
    int n_ctx;                /* 0 = min(4096, training context) */
    int n_threads;            /* 0 = LLM_THREADS or every CPU */
    int queue_max;            /* requests waiting while one generates, before refusing; 0 = 4 */
    int cache_sessions;       /* conversations whose KV cache is kept (LRU); 0 = 2 */
};

struct llm_service;

/* Nothing is loaded yet. Caller frees with llm_service_free (no call may be in flight). */
VB_WUR enum vb_err llm_service_new(const struct llm_service_params *p, struct llm_service **out);
void llm_service_free(struct llm_service *s);

/* VB_OK when the model is loaded or its file exists; else VB_ERR_UNAVAILABLE with a
 * sentence naming the missing file and the install command in why. */
VB_WUR enum vb_err llm_service_check(struct llm_service *s, char *why, size_t why_cap);
/* File name of the model (no directory), e.g. "qwen2.5-3b-instruct-q4_k_m.gguf". */
const char *llm_service_model_name(const struct llm_service *s);

struct llm_chat_request {
    int64_t session_key;             /* conversation id for KV reuse; 0 = none */
    const struct llm_chat_msg *msgs; /* oldest first; borrowed */
    size_t n_msgs;
    const char *default_system; /* NULL = Qwen's default system prompt */
    struct llm_gen_params gen;
    llm_text_fn on_text;         /* each text piece as produced; may be NULL */
    bool (*cancelled)(void *ud); /* polled between tokens; may be NULL */
    void *ud;                    /* for on_text and cancelled */
};

struct llm_chat_reply {
    char *text;           /* the whole reply (caller releases with llm_chat_reply_release) */
    size_t n_prompt;      /* prompt tokens after truncation */
    size_t n_prompt_eval; /* of which evaluated (the rest came from the KV cache) */
    size_t n_gen;         /* generated tokens */
    size_t n_dropped;     /* oldest messages left out to fit the context */
    double prompt_ms, gen_ms;
    enum llm_stop stop;
};

/* Takes a place for one chat turn: VB_OK, or VB_ERR_UNAVAILABLE when the model is not
 * installed or queue_max requests already wait behind the one generating (why says which).
 * An admitted caller then calls llm_service_chat once, or llm_service_leave. */
VB_WUR enum vb_err llm_service_admit(struct llm_service *s, char *why, size_t why_cap);
/* Gives back a place taken by llm_service_admit without chatting. */
void llm_service_leave(struct llm_service *s);

/* Runs one chat turn for an admitted caller and gives its place back. VB_ERR_UNAVAILABLE:
 * the model cannot load; VB_ERR_TOO_LARGE: the last message alone does not fit the
 * context; VB_ERR_CANCELLED: cancelled before any reply was produced. On VB_OK *out is
 * filled even if cancelled mid-way (stop == LLM_STOP_CANCELLED). */
VB_WUR enum vb_err llm_service_chat(struct llm_service *s, const struct llm_chat_request *r,
                                    struct llm_chat_reply *out, char *why, size_t why_cap);
void llm_chat_reply_release(struct llm_chat_reply *r);

#endif
