/* fuzz_gguf.c: libFuzzer target for the GGUF reader, the qwen2 loader's validation and the
 * tokenizer built from the file's vocabulary. Any input must give an error or a usable file. */
#include "core/vb.h"
#include "llm/qwen2.h"
#include "llm/tokenizer.h"
#include "nn/gguf.h"
#include "core/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gguf_file *g = NULL;
    char why[256];
    if (gguf_open_mem(data, size, &g, why, sizeof why) != VB_OK)
        return 0;
    /* touch everything the reader exposes */
    volatile uint64_t sink = 0;
    for (size_t i = 0; i < gguf_kv_count(g); i++) {
        const struct gguf_kv *kv = gguf_kv_at(g, i);
        size_t len;
        int64_t v;
        for (uint64_t j = 0; kv->type == GGUF_TYPE_ARRAY && j < kv->arr_n && j < 1000; j++) {
            const char *s = gguf_arr_str(kv, j, &len);
            if (s && len)
                sink += (uint8_t)s[len - 1];
            if (gguf_arr_int(kv, j, &v))
                sink += (uint64_t)v;
        }
    }
    for (size_t i = 0; i < gguf_tensor_count(g); i++) {
        const struct nn_tensor *t = gguf_tensor_at(g, i);
        if (t->nbytes)
            sink += ((const uint8_t *)t->data)[t->nbytes - 1];
    }
    struct llm_tokenizer *tk = NULL;
    if (llm_tokenizer_load(g, &tk, why, sizeof why) == VB_OK) {
        int32_t *ids = NULL;
        size_t n = 0, cap = 0;
        if (llm_tokenize(tk, "Hello <|im_end|> world 123", 26, true, &ids, &n, &cap) == VB_OK)
            sink += n;
        vb_free(ids);
        llm_tokenizer_free(tk);
    }
    struct qwen2_model *m = NULL;
    if (qwen2_load_gguf(g, &m, why, sizeof why) == VB_OK) /* takes ownership of g */
        qwen2_free(m);
    (void)sink;
    return 0;
}
