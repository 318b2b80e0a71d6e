/* tokenizer.h: byte-level BPE tokenizer ("gpt2" model, "qwen2" pre-tokenizer) built from a
 * GGUF vocabulary (tokenizer.ggml.tokens / token_type / merges), with special-token
 * splitting and detokenisation as llama.cpp does it (specs/gguf-qwen2.md §4). */
#ifndef LLM_TOKENIZER_H
#define LLM_TOKENIZER_H

#include "core/vb.h"
#include "core/buf.h"
#include "core/err.h"
#include "nn/gguf.h"

enum llm_token_type {
    LLM_TOKEN_UNDEFINED = 0,
    LLM_TOKEN_NORMAL = 1,
    LLM_TOKEN_UNKNOWN = 2,
    LLM_TOKEN_CONTROL = 3,
    LLM_TOKEN_USER_DEFINED = 4,
    LLM_TOKEN_UNUSED = 5,
    LLM_TOKEN_BYTE = 6,
};

struct llm_tokenizer;

/* Builds the tokenizer from `g`, which is borrowed (token texts point into its mapping) and
 * must outlive the tokenizer. Errors name the missing/bad key. Caller frees with
 * llm_tokenizer_free. */
VB_WUR enum vb_err llm_tokenizer_load(const struct gguf_file *g, struct llm_tokenizer **out,
                                      char *why, size_t why_cap);
void llm_tokenizer_free(struct llm_tokenizer *tk);

int32_t llm_tokenizer_n_vocab(const struct llm_tokenizer *tk);
/* tokenizer.ggml.eos_token_id (the end-of-turn token for chat). */
int32_t llm_tokenizer_eos(const struct llm_tokenizer *tk);
/* End of generation: eos plus <|endoftext|>, <|im_end|> and the FIM pad/repo/file tokens. */
bool llm_token_is_eog(const struct llm_tokenizer *tk, int32_t id);
enum llm_token_type llm_token_type(const struct llm_tokenizer *tk, int32_t id);
/* Id of the token whose text is exactly `text`, or -1. */
int32_t llm_token_lookup(const struct llm_tokenizer *tk, const char *text, size_t len);

/* Tokenises len bytes of text (any bytes; invalid UTF-8 becomes U+FFFD per byte). With
 * parse_special, CONTROL token texts in the input become those tokens; USER_DEFINED ones
 * always do. Appends to *ids / *n / *cap (a vb_try_realloc'd array the caller frees with
 * vb_free). VB_ERR_NOMEM on OOM. */
VB_WUR enum vb_err llm_tokenize(const struct llm_tokenizer *tk, const char *text, size_t len,
                                bool parse_special, int32_t **ids, size_t *n, size_t *cap);

/* Appends the bytes of token `id` to out (may be a partial UTF-8 sequence). CONTROL tokens
 * render their text only when `special`; UNUSED tokens render nothing. */
VB_WUR enum vb_err llm_token_piece(const struct llm_tokenizer *tk, int32_t id, bool special,
                                   struct vb_buf *out);
/* Concatenated pieces of n ids. */
VB_WUR enum vb_err llm_detokenize(const struct llm_tokenizer *tk, const int32_t *ids, size_t n,
                                  bool special, struct vb_buf *out);

#endif
