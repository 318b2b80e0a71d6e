/* chat_template.h: ChatML, the Qwen2.5 chat format: every message is
 * "<|im_start|>ROLE\nCONTENT<|im_end|>\n", a default system message first when the caller
 * gives none, and "<|im_start|>assistant\n" appended to ask for a reply (specs §4.7). */
#ifndef LLM_CHAT_TEMPLATE_H
#define LLM_CHAT_TEMPLATE_H

#include "core/vb.h"
#include "core/buf.h"
#include "core/err.h"
#include "llm/tokenizer.h"

#define LLM_QWEN_DEFAULT_SYSTEM                                                                    \
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."

struct llm_chat_msg {
    const char *role;    /* "system", "user", "assistant" (borrowed) */
    const char *content; /* UTF-8 (borrowed) */
};

/* Renders the conversation as text. default_system: used when msgs[0] is not a system
 * message (NULL = LLM_QWEN_DEFAULT_SYSTEM, "" = insert none). */
VB_WUR enum vb_err llm_chat_format(const struct llm_chat_msg *msgs, size_t n, bool add_generation,
                                   const char *default_system, struct vb_buf *out);

/* Tokenises the same conversation without letting message text produce control tokens:
 * the <|im_start|>/<|im_end|> markers are inserted as ids and each role header plus content
 * is tokenised with parse_special off (identical to tokenising llm_chat_format's text with
 * parse_special on when the contents hold no special-token text). Appends to *ids (caller
 * frees with vb_free). VB_ERR_UNPROCESSABLE if the vocabulary lacks the ChatML tokens. */
VB_WUR enum vb_err llm_chat_tokenize(const struct llm_tokenizer *tk,
                                     const struct llm_chat_msg *msgs, size_t n, bool add_generation,
                                     const char *default_system, int32_t **ids, size_t *n_ids,
                                     size_t *cap);

#endif
