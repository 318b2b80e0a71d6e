/* test_generate.c: the `generate` / `tokenize` / `make-random` entry points as the reference
 * checks drive them: stdout captured, ids compared with llama.cpp's (f32 tiny model, greedy,
 * f32 KV cache) and with the real-vocabulary tokenizer; usage errors exit with 2. */
#include "core/vb.h"
#include "core/alloc.h"
#include "cli/cli.h"
#include "unit/cli/capture.h"
#include "unit/refdata.h"
#include "unit/test.h"

#include <unistd.h>

TEST(tokenize_prints_llama_cpp_ids)
{
    char path[1024];
    refdata_path(path, sizeof path, "qwen2-ref/tokenizer/qwen2.5-vocab.gguf");
    if (!refdata_exists(path)) {
        SKIP_MISSING_DATA(tokenize_prints_llama_cpp_ids, "qwen2.5-vocab.gguf not found");
        return;
    }
    char *argv[] = {"tokenize", "--model", path, "Hello, world!", NULL};
    char *out = NULL;
    CHECK_EQ_INT(capture(cli_tokenize, 4, argv, false, &out), 0);
    CHECK_EQ_STR(out, "9707 11 1879 0\n");
    vb_free(out);
    char *argv2[] = {"tokenize", "--model", path, "--no-parse-special", "<|im_end|>", NULL};
    CHECK_EQ_INT(capture(cli_tokenize, 5, argv2, false, &out), 0);
    CHECK_EQ_STR(out, "27 91 318 6213 91 29\n");
    vb_free(out);
    char *argv3[] = {"tokenize", "--model", path, NULL};
    CHECK_EQ_INT(capture(cli_tokenize, 3, argv3, false, &out), 2);
    vb_free(out);
}

TEST(generate_greedy_ids_match_llama_cpp)
{
    char path[1024], meta_path[1024], why[256];
    refdata_path(path, sizeof path, "qwen2-ref/models/qwen2-tiny-tied-f32.gguf");
    refdata_path(meta_path, sizeof meta_path, "qwen2-ref/refs/qwen2-tiny-tied-f32/meta.json");
    if (!refdata_exists(path) || !refdata_exists(meta_path)) {
        SKIP_MISSING_DATA(generate_greedy_ids_match_llama_cpp, "reference data not found");
        return;
    }
    size_t len;
    char *text = refdata_read(meta_path, &len);
    struct vb_json *meta = NULL;
    CHECK(text && vb_json_parse(text, len, &meta, why, sizeof why) == VB_OK);
    int ng = 0;
    int32_t *gen =
        meta ? refdata_json_ints(
                   vb_json_get(vb_json_get(vb_json_get(meta, "cases"), "p1"), "gen_ids"), &ng)
             : NULL;
    CHECK(gen && ng == 32);
    /* p1 is the single token " the" (id 279 of the fake vocabulary) */
    char *argv[] = {
        "generate", "--model",      path, "--prompt",    " the",         "--temperature",
        "0",        "--max-tokens", "32", "--print-ids", "--ignore-eos", "--kv-type",
        "f32",      "--threads",    "2",  NULL};
    char *out = NULL;
    CHECK_EQ_INT(capture(cli_generate, 15, argv, false, &out), 0);
    const char *ids = out ? strstr(out, "\nids:") : NULL;
    CHECK(ids != NULL);
    if (ids && gen) {
        struct vb_buf want;
        vb_buf_init(&want, 4096);
        CHECK(vb_buf_puts(&want, "\nids:") == VB_OK);
        for (int i = 0; i < ng; i++)
            CHECK(vb_buf_printf(&want, " %d", gen[i]) == VB_OK);
        CHECK(vb_buf_puts(&want, "\n") == VB_OK);
        CHECK_EQ_STR(ids, vb_buf_str(&want));
        vb_buf_release(&want);
    }
    vb_free(out);
    vb_free(gen);
    vb_json_free(meta);
    vb_free(text);
    /* usage errors */
    char *bad[] = {"generate", "--model", path, "--temperature", "x", "--prompt", "a", NULL};
    CHECK_EQ_INT(capture(cli_generate, 7, bad, false, &out), 2);
    vb_free(out);
    char *none[] = {"generate", "--prompt", "a", NULL};
    CHECK_EQ_INT(capture(cli_generate, 3, none, false, &out), 2);
    vb_free(out);
    char *missing[] = {"generate", "--model", "/nonexistent.gguf", "--prompt", "a", NULL};
    CHECK_EQ_INT(capture(cli_generate, 5, missing, false, &out), 1);
    vb_free(out);
}

TEST(make_random_writes_a_runnable_model)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/vocero-test-cli-%d.gguf", (int)getpid());
    char *argv[] = {"make-random", "qwen2", path, "--shape", "micro", "--type", "q4_k_m", NULL};
    char *out = NULL;
    CHECK_EQ_INT(capture(cli_make_random, 7, argv, false, &out), 0);
    vb_free(out);
    char *gen[] = {"generate",     "--model", path,          "--prompt", "the",
                   "--max-tokens", "4",       "--print-ids", NULL};
    CHECK_EQ_INT(capture(cli_generate, 8, gen, false, &out), 0);
    CHECK(out && strstr(out, "ids:") != NULL);
    vb_free(out);
    char *bad[] = {"make-random", "qwen2", path, "--shape", "70b", NULL};
    CHECK_EQ_INT(capture(cli_make_random, 5, bad, false, &out), 1);
    vb_free(out);
    char *bad2[] = {"make-random", "llama", path, NULL};
    CHECK_EQ_INT(capture(cli_make_random, 3, bad2, false, &out), 2);
    vb_free(out);
    unlink(path);
}

int main(void)
{
    RUN(tokenize_prints_llama_cpp_ids);
    RUN(generate_greedy_ids_match_llama_cpp);
    RUN(make_random_writes_a_runnable_model);
    return test_summary();
}
