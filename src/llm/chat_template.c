/* chat_template.c: ChatML rendering and injection-safe tokenisation of a conversation. */
#include "core/vb.h"
#include "llm/chat_template.h"
#include "core/alloc.h"

#define IM_START "<|im_start|>"
#define IM_END   "<|im_end|>"

static bool has_system(const struct llm_chat_msg *msgs, size_t n)
{
    return n > 0 && msgs[0].role && strcmp(msgs[0].role, "system") == 0;
}

enum vb_err llm_chat_format(const struct llm_chat_msg *msgs, size_t n, bool add_generation,
                            const char *default_system, struct vb_buf *out)
{
    enum vb_err err = VB_OK;
    if (!default_system)
        default_system = LLM_QWEN_DEFAULT_SYSTEM;
    if (!has_system(msgs, n) && *default_system)
        err = vb_buf_printf(out, IM_START "system\n%s" IM_END "\n", default_system);
    for (size_t i = 0; i < n && err == VB_OK; i++)
        err = vb_buf_printf(out, IM_START "%s\n%s" IM_END "\n", msgs[i].role ? msgs[i].role : "",
                            msgs[i].content ? msgs[i].content : "");
    if (err == VB_OK && add_generation)
        err = vb_buf_puts(out, IM_START "assistant\n");
    return err;
}

static enum vb_err push(int32_t **ids, size_t *n, size_t *cap, int32_t id)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        int32_t *v = vb_try_realloc(*ids, nc * sizeof *v);
        if (!v)
            return VB_ERR_NOMEM;
        *ids = v;
        *cap = nc;
    }
    (*ids)[(*n)++] = id;
    return VB_OK;
}

static enum vb_err one_msg(const struct llm_tokenizer *tk, int32_t start, int32_t end,
                           const char *role, const char *content, int32_t **ids, size_t *n,
                           size_t *cap)
{
    struct vb_buf b;
    vb_buf_init(&b, SIZE_MAX / 2);
    enum vb_err err = push(ids, n, cap, start);
    if (err == VB_OK)
        err = vb_buf_printf(&b, "%s\n%s", role ? role : "", content ? content : "");
    if (err == VB_OK)
        err = llm_tokenize(tk, vb_buf_str(&b), b.len, false, ids, n, cap);
    if (err == VB_OK && end >= 0)
        err = push(ids, n, cap, end);
    if (err == VB_OK && end >= 0)
        err = llm_tokenize(tk, "\n", 1, false, ids, n, cap);
    vb_buf_release(&b);
    return err;
}

enum vb_err llm_chat_tokenize(const struct llm_tokenizer *tk, const struct llm_chat_msg *msgs,
                              size_t n, bool add_generation, const char *default_system,
                              int32_t **ids, size_t *n_ids, size_t *cap)
{
    int32_t start = llm_token_lookup(tk, IM_START, strlen(IM_START));
    int32_t end = llm_token_lookup(tk, IM_END, strlen(IM_END));
    if (start < 0 || end < 0)
        return VB_ERR_UNPROCESSABLE;
    if (!default_system)
        default_system = LLM_QWEN_DEFAULT_SYSTEM;
    enum vb_err err = VB_OK;
    if (!has_system(msgs, n) && *default_system)
        err = one_msg(tk, start, end, "system", default_system, ids, n_ids, cap);
    for (size_t i = 0; i < n && err == VB_OK; i++)
        err = one_msg(tk, start, end, msgs[i].role, msgs[i].content, ids, n_ids, cap);
    if (err == VB_OK && add_generation)
        err = one_msg(tk, start, -1, "assistant", "", ids, n_ids, cap);
    return err;
}
