/* make_random_qwen2.c: random qwen2 models: shapes table, llama-quantize's Q4_K_M/Q5_K_M type
 * rules, a byte-level vocabulary (or one copied from a vocabulary GGUF), and deterministic
 * per-row random weights quantised in parallel while the file is written. */
#include "core/vb.h"
#include "tools/make_random_qwen2.h"
#include "core/alloc.h"
#include "nn/gguf_write.h"
#include "nn/quant.h"
#include "nn/threadpool.h"
#include "core/unicode.h"

#include <math.h>

struct shape {
    const char *name;
    int64_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab;
};

static const struct shape shapes[] = {
    {"micro", 64, 2, 4, 2, 128, 600},       {"tiny", 256, 2, 4, 2, 512, 151936},
    {"0.5b", 896, 24, 14, 2, 4864, 151936}, {"1.5b", 1536, 28, 12, 2, 8960, 151936},
    {"3b", 2048, 36, 16, 2, 11008, 151936},
};

bool llm_ftype_parse(const char *s, enum llm_ftype *out)
{
    static const struct {
        const char *name;
        enum llm_ftype ft;
    } t[] = {{"f32", LLM_FTYPE_F32},
             {"f16", LLM_FTYPE_F16},
             {"q8_0", LLM_FTYPE_Q8_0},
             {"q4_k_m", LLM_FTYPE_Q4_K_M},
             {"q5_k_m", LLM_FTYPE_Q5_K_M}};
    for (size_t i = 0; i < VB_ARRAY_LEN(t); i++)
        if (strcmp(s, t[i].name) == 0) {
            *out = t[i].ft;
            return true;
        }
    return false;
}

/* Layer i of n gets more bits (attn_v, ffn_down) in the _M mixes. */
static bool more_bits(int64_t i, int64_t n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static enum nn_type fallback(enum nn_type t, int64_t ne0)
{
    if (ne0 % NN_QK_K == 0)
        return t;
    switch (t) {
    case NN_TYPE_Q4_K:
        return NN_TYPE_Q5_0;
    case NN_TYPE_Q5_K:
        return NN_TYPE_Q5_1;
    case NN_TYPE_Q6_K:
        return NN_TYPE_Q8_0;
    default:
        return t;
    }
}

/* kind: 0 output/tied embedding, 1 attn_v, 2 ffn_down, 3 other matrix, 4 untied embedding */
static enum nn_type matrix_type(enum llm_ftype ft, int kind, int64_t layer, int64_t n_layer,
                                int64_t ne0)
{
    switch (ft) {
    case LLM_FTYPE_F32:
        return NN_TYPE_F32;
    case LLM_FTYPE_F16:
        return NN_TYPE_F16;
    case LLM_FTYPE_Q8_0:
        return NN_TYPE_Q8_0;
    case LLM_FTYPE_Q4_K_M:
    case LLM_FTYPE_Q5_K_M: {
        enum nn_type base = ft == LLM_FTYPE_Q4_K_M ? NN_TYPE_Q4_K : NN_TYPE_Q5_K;
        enum nn_type t = base;
        if (kind == 0 || ((kind == 1 || kind == 2) && more_bits(layer, n_layer)))
            t = NN_TYPE_Q6_K;
        return fallback(t, ne0);
    }
    }
    return NN_TYPE_F32;
}

struct gen_tensor {
    enum nn_type type;
    int64_t ne0, ne1;
    float std; /* uniform weights with this standard deviation; 0 = constant `value` */
    float value;
    uint64_t seed;
};

struct gen_ctx {
    struct gen_tensor *t;
    struct nn_pool *pool;
    /* current job */
    const struct gen_tensor *cur;
    uint8_t *dst;
    bool ok;
};

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void gen_rows(void *ctx, int ith, int nth)
{
    struct gen_ctx *g = ctx;
    const struct gen_tensor *t = g->cur;
    size_t rb = nn_row_bytes((int)t->type, t->ne0);
    float *row = vb_try_malloc((size_t)t->ne0 * sizeof *row);
    if (!row) {
        g->ok = false;
        return;
    }
    const float a = t->std * 1.7320508f; /* uniform [-a, a] has std a / sqrt(3) */
    for (int64_t r = ith; r < t->ne1; r += nth) {
        uint64_t s = mix(t->seed ^ mix((uint64_t)r));
        for (int64_t i = 0; i < t->ne0; i++) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            float u = (float)(s >> 40) / 16777216.0f * 2.0f - 1.0f;
            row[i] = t->std > 0 ? a * u : t->value;
        }
        if (!nn_quantize_row(t->type, row, g->dst + (size_t)r * rb, t->ne0))
            g->ok = false;
    }
    vb_free(row);
}

static bool fill(void *ud, size_t i, void *dst, size_t nbytes)
{
    struct gen_ctx *g = ud;
    (void)nbytes;
    g->cur = &g->t[i];
    g->dst = dst;
    g->ok = true;
    nn_pool_run(g->pool, gen_rows, g);
    return g->ok;
}

static enum vb_err add_vocab(struct gguf_writer *w, int64_t n_vocab)
{
    /* bytes, five merges' results, ChatML specials, padding */
    char **toks = vb_try_calloc((size_t)n_vocab, sizeof *toks);
    int32_t *types = vb_try_calloc((size_t)n_vocab, sizeof *types);
    enum vb_err err = VB_ERR_NOMEM;
    if (!toks || !types)
        goto out;
    static const char *const merged[] = {"\304\240t", "he", "\304\240the", "in", "\304\240a"};
    static const char *const merges[] = {"\304\240 t", "h e", "\304\240t he", "i n", "\304\240 a"};
    int64_t special0 = n_vocab >= 151646 ? 151643 : n_vocab - 3;
    static const char *const specials[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
    for (int64_t i = 0; i < n_vocab; i++) {
        char buf[32];
        types[i] = 1;
        if (i < 256) {
            int n = vb_utf8_encode(vb_byte_to_cp((uint8_t)i), buf);
            buf[n] = 0;
        } else if (i < 256 + 5) {
            snprintf(buf, sizeof buf, "%s", merged[i - 256]);
        } else if (i >= special0 && i < special0 + 3) {
            snprintf(buf, sizeof buf, "%s", specials[i - special0]);
            types[i] = 3;
        } else {
            snprintf(buf, sizeof buf, "[PAD%lld]", (long long)i);
            types[i] = 5;
        }
        toks[i] = vb_try_malloc(strlen(buf) + 1);
        if (!toks[i])
            goto out;
        memcpy(toks[i], buf, strlen(buf) + 1);
    }
    err = gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    if (!err)
        err = gguf_writer_set_str(w, "tokenizer.ggml.pre", "qwen2");
    if (!err)
        err = gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)toks,
                                      (size_t)n_vocab);
    if (!err)
        err = gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", types, (size_t)n_vocab);
    if (!err)
        err = gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, VB_ARRAY_LEN(merges));
    if (!err)
        err = gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)special0 + 2);
    if (!err)
        err = gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)special0);
    if (!err)
        err = gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)special0);
    if (!err)
        err = gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", false);
out:
    for (int64_t i = 0; toks && i < n_vocab; i++)
        vb_free(toks[i]);
    vb_free(toks);
    vb_free(types);
    return err;
}

enum vb_err llm_make_random(const struct llm_random_params *p, const char *out, char *why,
                            size_t cap)
{
    const struct shape *sh = NULL;
    for (size_t i = 0; i < VB_ARRAY_LEN(shapes); i++)
        if (p->shape && strcmp(p->shape, shapes[i].name) == 0)
            sh = &shapes[i];
    if (!sh) {
        snprintf(why, cap, "unknown shape '%s' (micro, tiny, 0.5b, 1.5b, 3b)",
                 p->shape ? p->shape : "");
        return VB_ERR_INVALID;
    }
    struct gguf_writer *w = gguf_writer_new();
    struct gguf_file *vocab = NULL;
    struct gen_ctx g = {0};
    enum vb_err err = VB_OK;
    int64_t n_vocab = p->n_vocab > 0 ? p->n_vocab : sh->n_vocab;
    if (p->vocab_path) {
        err = gguf_open(p->vocab_path, &vocab, why, cap);
        if (err)
            goto out;
        enum gguf_type at;
        uint64_t n;
        const struct gguf_kv *kv;
        if (!gguf_get_arr(vocab, "tokenizer.ggml.tokens", &at, &n, &kv)) {
            snprintf(why, cap, "%s has no tokenizer.ggml.tokens", p->vocab_path);
            err = VB_ERR_FORMAT;
            goto out;
        }
        n_vocab = (int64_t)n;
    } else if (n_vocab < 264) {
        snprintf(why, cap, "vocabulary size %lld too small (>= 264)", (long long)n_vocab);
        err = VB_ERR_INVALID;
        goto out;
    }
    const int64_t E = sh->n_embd, L = sh->n_layer, F = sh->n_ff;
    const int64_t KV = sh->n_head_kv * (E / sh->n_head);
    char name[64];
    snprintf(name, sizeof name, "random qwen2 %s", sh->name);
#define KV_OK(x)                                                                                   \
    do {                                                                                           \
        if (!err)                                                                                  \
            err = (x);                                                                             \
    } while (0)
    KV_OK(gguf_writer_set_str(w, "general.architecture", "qwen2"));
    KV_OK(gguf_writer_set_str(w, "general.name", name));
    KV_OK(gguf_writer_set_u32(w, "general.file_type", (uint32_t)p->ftype));
    KV_OK(gguf_writer_set_u32(w, "general.quantization_version", 2));
    if (vocab)
        KV_OK(gguf_writer_copy_kv(w, vocab, "tokenizer."));
    KV_OK(gguf_writer_set_u32(w, "qwen2.context_length", 32768));
    KV_OK(gguf_writer_set_u32(w, "qwen2.embedding_length", (uint32_t)E));
    KV_OK(gguf_writer_set_u32(w, "qwen2.block_count", (uint32_t)L));
    KV_OK(gguf_writer_set_u32(w, "qwen2.feed_forward_length", (uint32_t)F));
    KV_OK(gguf_writer_set_u32(w, "qwen2.attention.head_count", (uint32_t)sh->n_head));
    KV_OK(gguf_writer_set_u32(w, "qwen2.attention.head_count_kv", (uint32_t)sh->n_head_kv));
    KV_OK(gguf_writer_set_f32(w, "qwen2.rope.freq_base", 1e6f));
    KV_OK(gguf_writer_set_f32(w, "qwen2.attention.layer_norm_rms_epsilon", 1e-6f));
    if (!vocab)
        KV_OK(add_vocab(w, n_vocab));
    if (err) {
        snprintf(why, cap, "building metadata: %s", vb_err_message(err));
        goto out;
    }
    size_t n_t = 2 + 12 * (size_t)L;
    g.t = vb_xcalloc(n_t, sizeof *g.t);
    size_t k = 0;
    uint64_t seed = mix(p->seed + 1);
#define ADD(nm, type_, ne0_, ne1_, std_, value_)                                                   \
    do {                                                                                           \
        g.t[k] = (struct gen_tensor){type_, ne0_, ne1_, std_, value_, mix(seed + k)};              \
        int64_t ne_[2] = {ne0_, ne1_};                                                             \
        if (!err)                                                                                  \
            err = gguf_writer_add_tensor(w, nm, type_, (ne1_) > 1 ? 2 : 1, ne_, NULL, fill, &g);   \
        k++;                                                                                       \
    } while (0)
    ADD("token_embd.weight", matrix_type(p->ftype, 0, 0, L, E), E, n_vocab, 0.02f, 0);
    ADD("output_norm.weight", NN_TYPE_F32, E, 1, 0, 1.0f);
    for (int64_t l = 0; l < L; l++) {
        char n[64];
#define NM(s) (snprintf(n, sizeof n, "blk.%lld." s, (long long)l), n)
        ADD(NM("attn_norm.weight"), NN_TYPE_F32, E, 1, 0, 1.0f);
        ADD(NM("attn_q.weight"), matrix_type(p->ftype, 3, l, L, E), E, E, 0.02f, 0);
        ADD(NM("attn_q.bias"), NN_TYPE_F32, E, 1, 0.02f, 0);
        ADD(NM("attn_k.weight"), matrix_type(p->ftype, 3, l, L, E), E, KV, 0.02f, 0);
        ADD(NM("attn_k.bias"), NN_TYPE_F32, KV, 1, 0.02f, 0);
        ADD(NM("attn_v.weight"), matrix_type(p->ftype, 1, l, L, E), E, KV, 0.02f, 0);
        ADD(NM("attn_v.bias"), NN_TYPE_F32, KV, 1, 0.02f, 0);
        ADD(NM("attn_output.weight"), matrix_type(p->ftype, 3, l, L, E), E, E, 0.02f, 0);
        ADD(NM("ffn_norm.weight"), NN_TYPE_F32, E, 1, 0, 1.0f);
        ADD(NM("ffn_gate.weight"), matrix_type(p->ftype, 3, l, L, E), E, F, 0.02f, 0);
        ADD(NM("ffn_up.weight"), matrix_type(p->ftype, 3, l, L, E), E, F, 0.02f, 0);
        ADD(NM("ffn_down.weight"), matrix_type(p->ftype, 2, l, L, F), F, E, 0.02f, 0);
#undef NM
    }
#undef ADD
#undef KV_OK
    if (err) {
        snprintf(why, cap, "adding tensors: %s", vb_err_message(err));
        goto out;
    }
    err = nn_pool_new(nn_threads_default(p->n_threads), &g.pool);
    if (!err)
        err = gguf_writer_write(w, out, why, cap);
out:
    nn_pool_free(g.pool);
    vb_free(g.t);
    gguf_writer_free(w);
    gguf_close(vocab);
    return err;
}
