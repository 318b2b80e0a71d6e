/* test_llm.c: random models written by make-random loaded and run: session generation with KV-cache
 * prefix reuse equal to a fresh session, UTF-8-safe streaming (whole, well-formed characters
 * whatever bytes are sampled), context truncation of chat history,
 * and loader error messages. */
#include "core/vb.h"
#include "core/alloc.h"
#include "core/unicode.h"
#include "llm/llm.h"
#include "tools/make_random_qwen2.h"
#include "nn/gguf_write.h"
#include "unit/test.h"

#include <unistd.h>

static char model_path[256];

static void make_model(enum llm_ftype ft)
{
    snprintf(model_path, sizeof model_path, "/tmp/vocero-test-llm-%d-%d.gguf", (int)getpid(),
             (int)ft);
    struct llm_random_params p = {.shape = "micro", .ftype = ft, .seed = 7, .n_threads = 2};
    char why[256] = "";
    CHECK_MSG(llm_make_random(&p, model_path, why, sizeof why) == VB_OK, "%s", why);
}

struct collect {
    struct vb_buf text;
    int calls;
    bool bad_utf8;
};

/* Whether s[0..len) is well-formed UTF-8 without NUL (what PostgreSQL stores as text). */
static bool well_formed(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0, k; i < len; i += k)
        if (!u[i] || !(k = vb_utf8_valid_len(u + i, len - i)))
            return false;
    return true;
}

static bool on_text(void *ud, int32_t id, const char *text, size_t len)
{
    struct collect *c = ud;
    (void)id;
    c->calls++;
    /* every piece handed out is whole characters, the final flush included */
    if (!well_formed(text, len))
        c->bad_utf8 = true;
    return vb_buf_append(&c->text, text, len) == VB_OK;
}

TEST(session_prefix_reuse_equals_fresh_session)
{
    enum llm_ftype fts[] = {LLM_FTYPE_F32, LLM_FTYPE_Q8_0, LLM_FTYPE_Q4_K_M};
    for (size_t f = 0; f < VB_ARRAY_LEN(fts); f++) {
        make_model(fts[f]);
        struct llm_model *m = NULL;
        char why[256] = "";
        CHECK_MSG(llm_model_load(model_path, &m, why, sizeof why) == VB_OK, "%s", why);
        if (!m)
            continue;
        struct llm_session *a = NULL, *b = NULL;
        CHECK(llm_session_new(m, 256, 2, &a) == VB_OK);
        CHECK(llm_session_new(m, 256, 1, &b) == VB_OK);
        struct llm_gen_params gp = llm_gen_default_params();
        gp.max_tokens = 12;
        gp.sampling.temperature = 0;
        gp.stop_at_eog = false;
        struct llm_chat_msg turn1[] = {{"user", "Hello the in"}};
        int32_t *ids = NULL;
        size_t n = 0, cap = 0, dropped;
        CHECK(llm_chat_prompt(m, turn1, 1, NULL, 200, &ids, &n, &cap, &dropped) == VB_OK);
        struct llm_gen_result r1, r2, r3;
        struct collect c = {0};
        vb_buf_init(&c.text, 1 << 16);
        CHECK(llm_session_generate(a, ids, n, &gp, on_text, &c, &r1) == VB_OK);
        CHECK_EQ_INT(r1.n_prompt_eval, n);
        CHECK_EQ_INT(r1.n_gen, 12);
        CHECK(!c.bad_utf8);
        /* second turn in the same session reuses the cached prefix */
        struct vb_buf reply;
        vb_buf_init(&reply, 1 << 16);
        CHECK(llm_detokenize(m->tok, r1.ids, r1.n_gen, false, &reply) == VB_OK);
        struct llm_chat_msg turn2[] = {
            {"user", "Hello the in"}, {"assistant", vb_buf_str(&reply)}, {"user", "the a"}};
        n = 0;
        CHECK(llm_chat_prompt(m, turn2, 3, NULL, 200, &ids, &n, &cap, &dropped) == VB_OK);
        CHECK(llm_session_generate(a, ids, n, &gp, NULL, NULL, &r2) == VB_OK);
        CHECK(r2.n_prompt_eval < n); /* only the new tokens were evaluated */
        CHECK(llm_session_generate(b, ids, n, &gp, NULL, NULL, &r3) == VB_OK);
        CHECK_EQ_INT(r3.n_prompt_eval, n);
        CHECK_EQ_INT(r2.n_gen, r3.n_gen);
        CHECK(r2.n_gen == r3.n_gen && memcmp(r2.ids, r3.ids, r2.n_gen * sizeof *r2.ids) == 0);
        /* too long for the context */
        int32_t big[300] = {0};
        struct llm_gen_result r4;
        CHECK(llm_session_generate(a, big, 300, &gp, NULL, NULL, &r4) == VB_ERR_TOO_LARGE);
        vb_free(r1.ids);
        vb_free(r2.ids);
        vb_free(r3.ids);
        vb_free(ids);
        vb_buf_release(&reply);
        vb_buf_release(&c.text);
        llm_session_free(a);
        llm_session_free(b);
        llm_model_free(m);
        unlink(model_path);
    }
}

/* A byte-level vocabulary samples any byte sequence: broken and cut-off characters, NUL. The
 * text handed out is whole characters all the same (U+FFFD for the bad bytes), so a reply
 * can be stored as text (PostgreSQL refused such replies). */
TEST(sampled_bytes_come_out_as_well_formed_text)
{
    make_model(LLM_FTYPE_Q8_0);
    struct llm_model *m = NULL;
    char why[256] = "";
    CHECK_MSG(llm_model_load(model_path, &m, why, sizeof why) == VB_OK, "%s", why);
    if (!m)
        return;
    struct llm_session *s = NULL;
    CHECK(llm_session_new(m, 256, 1, &s) == VB_OK);
    struct llm_chat_msg turn[] = {{"user", "Hello once"}};
    int32_t *ids = NULL;
    size_t n = 0, cap = 0, dropped;
    CHECK(llm_chat_prompt(m, turn, 1, NULL, 200, &ids, &n, &cap, &dropped) == VB_OK);
    struct llm_gen_params gp = llm_gen_default_params();
    gp.max_tokens = 24;
    gp.sampling.temperature = 1.0f;
    gp.sampling.top_k = 0; /* any token, any byte */
    gp.sampling.top_p = 1.0f;
    gp.stop_at_eog = false;
    size_t replaced = 0;
    for (uint64_t seed = 1; seed <= 16; seed++) {
        gp.sampling.seed = seed;
        struct collect c = {0};
        vb_buf_init(&c.text, 1 << 16);
        struct llm_gen_result r;
        CHECK(llm_session_generate(s, ids, n, &gp, on_text, &c, &r) == VB_OK);
        CHECK_MSG(!c.bad_utf8, "seed %llu", (unsigned long long)seed);
        for (const char *p = vb_buf_str(&c.text); (p = strstr(p, "\xEF\xBF\xBD")); p += 3)
            replaced++;
        vb_free(r.ids);
        vb_buf_release(&c.text);
    }
    CHECK(replaced > 0); /* the model did produce bad bytes: the case above was met */
    vb_free(ids);
    llm_session_free(s);
    llm_model_free(m);
    unlink(model_path);
}

TEST(chat_history_is_truncated_from_the_oldest_turn)
{
    make_model(LLM_FTYPE_Q8_0);
    struct llm_model *m = NULL;
    char why[256] = "";
    CHECK(llm_model_load(model_path, &m, why, sizeof why) == VB_OK);
    if (!m)
        return;
    struct llm_chat_msg msgs[] = {
        {"system", "S"},
        {"user", "first question here"},
        {"assistant", "first answer"},
        {"user", "second question"},
        {"assistant", "second answer"},
        {"user", "third"},
    };
    int32_t *ids = NULL;
    size_t n = 0, cap = 0, dropped = 99, full;
    CHECK(llm_chat_prompt(m, msgs, 6, NULL, 100000, &ids, &n, &cap, &dropped) == VB_OK);
    CHECK_EQ_INT(dropped, 0);
    full = n;
    n = 0;
    CHECK(llm_chat_prompt(m, msgs, 6, NULL, full - 1, &ids, &n, &cap, &dropped) == VB_OK);
    CHECK(dropped >= 1 && n <= full - 1);
    n = 0;
    CHECK(llm_chat_prompt(m, msgs, 6, NULL, 5, &ids, &n, &cap, &dropped) == VB_ERR_TOO_LARGE);
    vb_free(ids);
    llm_model_free(m);
    unlink(model_path);
}

TEST(loader_names_missing_keys_and_tensors)
{
    struct gguf_writer *w = gguf_writer_new();
    CHECK(gguf_writer_set_str(w, "general.architecture", "qwen2") == VB_OK);
    CHECK(gguf_writer_set_u32(w, "qwen2.context_length", 64) == VB_OK);
    snprintf(model_path, sizeof model_path, "/tmp/vocero-test-llm-bad-%d.gguf", (int)getpid());
    char why[256] = "";
    CHECK(gguf_writer_write(w, model_path, why, sizeof why) == VB_OK);
    gguf_writer_free(w);
    struct llm_model *m = NULL;
    CHECK(llm_model_load(model_path, &m, why, sizeof why) == VB_ERR_FORMAT);
    CHECK_MSG(strstr(why, "qwen2.embedding_length") != NULL, "%s", why);
    unlink(model_path);
    w = gguf_writer_new();
    CHECK(gguf_writer_set_str(w, "general.architecture", "llama") == VB_OK);
    CHECK(gguf_writer_write(w, model_path, why, sizeof why) == VB_OK);
    gguf_writer_free(w);
    CHECK(llm_model_load(model_path, &m, why, sizeof why) == VB_ERR_FORMAT);
    CHECK_MSG(strstr(why, "unsupported architecture 'llama'") != NULL, "%s", why);
    unlink(model_path);
    CHECK(llm_model_load("/nonexistent/model.gguf", &m, why, sizeof why) == VB_ERR_NOT_FOUND);
}

int main(void)
{
    RUN(session_prefix_reuse_equals_fresh_session);
    RUN(sampled_bytes_come_out_as_well_formed_text);
    RUN(chat_history_is_truncated_from_the_oldest_turn);
    RUN(loader_names_missing_keys_and_tensors);
    return test_summary();
}
