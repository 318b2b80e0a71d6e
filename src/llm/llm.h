/* llm.h: the chat LLM as the rest of Vocero uses it: a loaded model (weights + tokenizer from
 * one GGUF file) and sessions that generate text, keeping their KV cache between calls so a
 * follow-up turn only evaluates the new tokens.
 *
 *   struct llm_model *m; char why[256];
 *   if (llm_model_load("qwen2.5-3b-instruct-q4_k_m.gguf", &m, why, sizeof why)) -> error
 *   struct llm_session *s; llm_session_new(m, 0, 0, &s);
 *   llm_chat_prompt(m, msgs, n, NULL, budget, &ids, &n_ids, &cap, &dropped);
 *   llm_session_generate(s, ids, n_ids, &gp, on_text, ud, &res);
 */
#ifndef LLM_LLM_H
#define LLM_LLM_H

#include "core/vb.h"
#include "core/err.h"
#include "llm/chat_template.h"
#include "llm/qwen2.h"
#include "nn/sampler.h"
#include "llm/tokenizer.h"

struct llm_model {
    struct qwen2_model *qwen;  /* owned; its gguf holds the mapping */
    struct llm_tokenizer *tok; /* owned; borrows the gguf strings */
    struct nn_pool *pool;      /* owned; LLM_THREADS (or all CPUs) workers shared by sessions */
};

/* Loads weights and tokenizer and starts the shared thread pool; `why` names what is wrong.
 * Caller frees with llm_model_free (after every session). */
VB_WUR enum vb_err llm_model_load(const char *path, struct llm_model **out, char *why,
                                  size_t why_cap);
void llm_model_free(struct llm_model *m);

struct llm_session;

/* n_ctx 0 = min(4096, training context). n_threads 0 = use the model's shared pool
 * (sessions sharing it must not generate at the same time: queue them), > 0 = a private pool
 * of that many threads. `m` is borrowed. Caller frees with llm_session_free. */
VB_WUR enum vb_err llm_session_new(const struct llm_model *m, int n_ctx, int n_threads,
                                   struct llm_session **out);
/* Same with the KV cache type chosen: llm_session_new uses f16 (half the memory, llama.cpp's
 * default); f32 reproduces the reference vectors more closely. */
VB_WUR enum vb_err llm_session_new_kv(const struct llm_model *m, int n_ctx, int n_threads,
                                      bool kv_f16, struct llm_session **out);
void llm_session_free(struct llm_session *s);
int llm_session_n_ctx(const struct llm_session *s);
/* Drops the cached tokens (e.g. when the conversation changed). */
void llm_session_reset(struct llm_session *s);

struct llm_gen_params {
    int max_tokens; /* > 0 */
    struct nn_sampler_params sampling;
    bool stop_at_eog; /* stop at <|im_end|>/<|endoftext|>... (not emitted as text) */
};
struct llm_gen_params llm_gen_default_params(void);

enum llm_stop {
    LLM_STOP_EOG = 0,   /* end-of-generation token */
    LLM_STOP_LENGTH,    /* max_tokens reached */
    LLM_STOP_CONTEXT,   /* context window full */
    LLM_STOP_CANCELLED, /* callback returned false */
};

struct llm_gen_result {
    size_t n_prompt;      /* prompt tokens */
    size_t n_prompt_eval; /* prompt tokens actually evaluated (the rest came from the cache) */
    size_t n_gen;         /* generated tokens (incl. a final EOG token) */
    double prompt_ms, gen_ms;
    enum llm_stop stop;
    int32_t *ids; /* generated ids (caller frees with vb_free) */
};

/* Called with each complete UTF-8 text piece (incomplete sequences are held back until the
 * next token completes them) and the token id that produced it; return false to cancel. */
typedef bool (*llm_text_fn)(void *ud, int32_t id, const char *text, size_t len);

/* Evaluates the prompt (reusing the longest cached prefix) and samples up to max_tokens.
 * VB_ERR_TOO_LARGE if the prompt does not fit the context. */
VB_WUR enum vb_err llm_session_generate(struct llm_session *s, const int32_t *prompt, size_t n,
                                        const struct llm_gen_params *p, llm_text_fn fn, void *ud,
                                        struct llm_gen_result *res);

/* Tokenises a ChatML conversation (generation prompt appended), dropping the oldest
 * non-system messages until it has at most max_tokens tokens; *dropped says how many went.
 * VB_ERR_TOO_LARGE if even the system message plus the last message do not fit. */
VB_WUR enum vb_err llm_chat_prompt(const struct llm_model *m, const struct llm_chat_msg *msgs,
                                   size_t n, const char *default_system, size_t max_tokens,
                                   int32_t **ids, size_t *n_ids, size_t *cap, size_t *dropped);

#endif
