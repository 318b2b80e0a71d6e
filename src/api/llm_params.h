/* llm_params.h: the generation parameters chat routes accept (ours and OpenAI's names),
 * validated with 422s naming the field. */
#ifndef VB_API_LLM_PARAMS_H
#define VB_API_LLM_PARAMS_H

#include "core/vb.h"
#include "core/json.h"
#include "http/http.h"
#include "llm/llm.h"

#define API_LLM_MAX_TOKENS_DEFAULT 512
#define API_LLM_MAX_TOKENS_MAX     8192
#define API_LLM_RETRY_AFTER_S      "2" /* Retry-After when the chat model is busy */

struct api_llm_params {
    struct llm_gen_params gen; /* sampling + max_tokens */
    bool stream;               /* reply as Server-Sent Events */
};

/* Reads temperature (0–2), top_p (0–1], top_k (0–1000), min_p [0–1), repeat_penalty (0.5–2),
 * presence_penalty and frequency_penalty (−2–2), seed (integer ≥ 0), max_tokens (or
 * OpenAI's max_completion_tokens, 1–8192) and stream from `body`. Defaults are Qwen2.5's
 * generation settings. */
VB_WUR enum vb_err api_llm_params_parse(struct http_request *req, const struct vb_json *body,
                                        struct api_llm_params *out);
/* "stop", "length", "cancelled" for a stop reason (OpenAI's finish_reason names). */
const char *api_llm_finish_reason(enum llm_stop stop);

#endif
