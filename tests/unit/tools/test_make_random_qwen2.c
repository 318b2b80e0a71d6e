/* test_make_random_qwen2.c: the random qwen2 writer: llama.cpp's per-tensor type rules on the
 * micro shape, the same file again for the same seed and another for another seed, and an
 * unknown shape refused. */
#include "core/vb.h"
#include "core/alloc.h"
#include "nn/gguf.h"
#include "tools/make_random_qwen2.h"
#include "unit/refdata.h"
#include "unit/test.h"

#include <unistd.h>

TEST(make_random_types_follow_llama_rules)
{
    char model_path[256];
    snprintf(model_path, sizeof model_path, "/tmp/vocero-test-mkrand-%d.gguf", (int)getpid());
    struct llm_random_params p = {.shape = "micro", .ftype = LLM_FTYPE_Q4_K_M, .seed = 7};
    char why0[256] = "";
    CHECK_MSG(llm_make_random(&p, model_path, why0, sizeof why0) == VB_OK, "%s", why0);
    struct gguf_file *g = NULL;
    char why[256] = "";
    CHECK_MSG(gguf_open(model_path, &g, why, sizeof why) == VB_OK, "%s", why);
    if (g) {
        /* micro: rows of 64 / 128 elements cannot be K-quantised: Q4_K -> Q5_0, Q6_K -> Q8_0 */
        const struct nn_tensor *t = gguf_find_tensor(g, "token_embd.weight");
        CHECK(t && t->type == NN_TYPE_Q8_0 && t->ne[0] == 64 && t->ne[1] == 600);
        t = gguf_find_tensor(g, "blk.0.attn_q.weight");
        CHECK(t && t->type == NN_TYPE_Q5_0);
        t = gguf_find_tensor(g, "blk.0.attn_v.weight"); /* layer 0 of 2: default bits */
        CHECK(t && t->type == NN_TYPE_Q5_0 && t->ne[1] == 32);
        t = gguf_find_tensor(g, "blk.1.attn_v.weight"); /* layer 1 of 2: more bits (Q6_K) */
        CHECK(t && t->type == NN_TYPE_Q8_0);
        t = gguf_find_tensor(g, "blk.1.ffn_down.weight");
        CHECK(t && t->type == NN_TYPE_Q8_0 && t->ne[0] == 128);
        t = gguf_find_tensor(g, "blk.1.attn_q.bias");
        CHECK(t && t->type == NN_TYPE_F32);
        CHECK(!gguf_find_tensor(g, "output.weight"));
        CHECK_EQ_INT(gguf_tensor_count(g), 2 + 12 * 2);
    }
    gguf_close(g);
    struct llm_random_params bad = {.shape = "7b", .ftype = LLM_FTYPE_F16};
    CHECK(llm_make_random(&bad, model_path, why, sizeof why) == VB_ERR_INVALID &&
          strstr(why, "unknown shape"));
    unlink(model_path);
}

/* Writes the micro shape with `seed` into path; the file's bytes (caller frees). */
static char *write_micro(const char *path, uint64_t seed, size_t *len)
{
    struct llm_random_params p = {.shape = "micro", .ftype = LLM_FTYPE_Q8_0, .seed = seed};
    char why[256] = "";
    CHECK_MSG(llm_make_random(&p, path, why, sizeof why) == VB_OK, "%s", why);
    char *bytes = refdata_read(path, len);
    unlink(path);
    return bytes;
}

TEST(same_seed_same_file)
{
    char path[256];
    size_t a_len = 0, b_len = 0, c_len = 0;
    snprintf(path, sizeof path, "/tmp/vocero-test-mkrand-seed-%d.gguf", (int)getpid());
    char *a = write_micro(path, 7, &a_len), *b = write_micro(path, 7, &b_len);
    char *c = write_micro(path, 8, &c_len);
    CHECK(a && b && c && a_len > 1000);
    CHECK(a && b && a_len == b_len && memcmp(a, b, a_len) == 0);
    CHECK(a && c && (a_len != c_len || memcmp(a, c, a_len) != 0));
    vb_free(a);
    vb_free(b);
    vb_free(c);
}

int main(void)
{
    RUN(make_random_types_follow_llama_rules);
    RUN(same_seed_same_file);
    return test_summary();
}
