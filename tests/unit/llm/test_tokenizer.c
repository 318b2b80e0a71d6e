/* test_tokenizer.c: the BPE tokenizer against llama.cpp on the real Qwen2.5 vocabulary
 * (qwen2-ref/tokenizer: 236 cases, ids and detokenised bytes must be identical), the spec's
 * table of §4.6, the byte alphabet, and the tiny models' fake vocabulary. */
#include "core/vb.h"
#include "llm/tokenizer.h"
#include "core/unicode.h"
#include "unit/test.h"
#include "unit/refdata.h"

static size_t unhex(const char *h, char *out)
{
    size_t n = strlen(h) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        out[i] = (char)v;
    }
    return n;
}

static void hex(const char *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", (uint8_t)p[i]);
    out[2 * n] = 0;
}

TEST(byte_alphabet)
{
    CHECK_EQ_INT(vb_byte_to_cp(' '), 0x120);
    CHECK_EQ_INT(vb_byte_to_cp('\n'), 0x10A);
    CHECK_EQ_INT(vb_byte_to_cp('\t'), 0x109);
    CHECK_EQ_INT(vb_byte_to_cp(0), 0x100);
    CHECK_EQ_INT(vb_byte_to_cp(0x7F), 0x121);
    CHECK_EQ_INT(vb_byte_to_cp(0xA0), 0x142);
    CHECK_EQ_INT(vb_byte_to_cp(0xAD), 0x143);
    CHECK_EQ_INT(vb_byte_to_cp('A'), 'A');
    for (int b = 0; b < 256; b++)
        CHECK_EQ_INT(vb_cp_to_byte(vb_byte_to_cp((uint8_t)b)), b);
    CHECK_EQ_INT(vb_cp_to_byte(0x200), -1);
}

TEST(utf8_decode_is_lenient_like_llama_cpp)
{
    uint32_t cp[8];
    CHECK_EQ_INT(vb_utf8_decode("\xff", 1, cp), 1);
    CHECK_EQ_INT(cp[0], 0xFFFD);
    CHECK_EQ_INT(vb_utf8_decode("\xe4\xbd", 2, cp), 2);
    CHECK_EQ_INT(cp[0], 0xFFFD);
    CHECK_EQ_INT(cp[1], 0xFFFD);
    CHECK_EQ_INT(vb_utf8_decode("\xc0\xaf", 2, cp), 1);
    CHECK_EQ_INT(cp[0], '/');
    CHECK_EQ_INT(vb_utf8_decode("\xed\xa0\x80", 3, cp), 1);
    CHECK_EQ_INT(cp[0], 0xD800);
    CHECK(vb_unicode_is_letter(0x4F60));  /* 你 */
    CHECK(vb_unicode_is_number(0x0663));  /* Arabic-Indic 3 */
    CHECK(!vb_unicode_is_letter(0x0301)); /* combining acute: a mark, not a letter */
    CHECK(vb_unicode_is_space(0x3000));
    CHECK(!vb_unicode_is_space(0x1C));
}

static struct gguf_file *open_vocab(void)
{
    char path[1024], why[256];
    refdata_path(path, sizeof path, "qwen2-ref/tokenizer/qwen2.5-vocab.gguf");
    if (!refdata_exists(path))
        return NULL;
    struct gguf_file *g = NULL;
    if (gguf_open(path, &g, why, sizeof why) != VB_OK)
        fprintf(stderr, "  %s\n", why);
    return g;
}

static bool ids_equal(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

static void check_text(const struct llm_tokenizer *tk, const char *text, bool special,
                       const int32_t *want, size_t n_want)
{
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    CHECK(llm_tokenize(tk, text, strlen(text), special, &ids, &n, &cap) == VB_OK);
    CHECK_MSG(ids_equal(ids, n, want, n_want), "tokenizing \"%s\"", text);
    vb_free(ids);
}

TEST(spec_table)
{
    struct gguf_file *g = open_vocab();
    if (!g) {
        SKIP_MISSING_DATA(spec_table, "qwen2.5-vocab.gguf not found (set VOCERO_REFDATA)");
        return;
    }
    struct llm_tokenizer *tk = NULL;
    char why[256] = "";
    CHECK_MSG(llm_tokenizer_load(g, &tk, why, sizeof why) == VB_OK, "%s", why);
    if (tk) {
        check_text(tk, "Hello world", true, (const int32_t[]){9707, 1879}, 2);
        check_text(tk, " Hello world", true, (const int32_t[]){21927, 1879}, 2);
        check_text(tk, "Hello, world!", true, (const int32_t[]){9707, 11, 1879, 0}, 4);
        check_text(tk, "\n\n", true, (const int32_t[]){271}, 1);
        check_text(tk, "<|im_end|>", false, (const int32_t[]){27, 91, 318, 6213, 91, 29}, 6);
        check_text(tk, "<|im_end|>", true, (const int32_t[]){151645}, 1);
        check_text(tk, "It's   a test  \n\n  end 2024!! (ok) don't", true,
                   (const int32_t[]){2132, 594, 256, 264, 1273, 18611, 220, 835, 220, 17, 15, 17,
                                     19, 2928, 320, 562, 8, 1513, 944},
                   19);
        CHECK_EQ_INT(llm_tokenizer_eos(tk), 151645);
        CHECK(llm_token_is_eog(tk, 151643));
        CHECK(llm_token_is_eog(tk, 151645));
        CHECK(llm_token_is_eog(tk, 151662));
        CHECK(llm_token_is_eog(tk, 151663));
        CHECK(llm_token_is_eog(tk, 151664));
        CHECK(!llm_token_is_eog(tk, 151644));
        CHECK(!llm_token_is_eog(tk, 198));
    }
    llm_tokenizer_free(tk);
    gguf_close(g);
}

TEST(llama_cpp_cases)
{
    struct gguf_file *g = open_vocab();
    if (!g) {
        SKIP_MISSING_DATA(llama_cpp_cases, "qwen2.5-vocab.gguf not found (set VOCERO_REFDATA)");
        return;
    }
    struct llm_tokenizer *tk = NULL;
    char why[256] = "", path[1024];
    CHECK_MSG(llm_tokenizer_load(g, &tk, why, sizeof why) == VB_OK, "%s", why);
    refdata_path(path, sizeof path, "qwen2-ref/tokenizer/cases.jsonl");
    size_t len;
    char *all = refdata_read(path, &len);
    CHECK(all != NULL);
    int n_cases = 0, n_ok = 0;
    for (char *line = all; tk && line && *line;) {
        char *nl = strchr(line, '\n');
        size_t ll = nl ? (size_t)(nl - line) : strlen(line);
        struct vb_json *j = NULL;
        if (ll == 0 || vb_json_parse(line, ll, &j, why, sizeof why) != VB_OK) {
            CHECK(ll == 0);
            line = nl ? nl + 1 : NULL;
            continue;
        }
        n_cases++;
        const char *th = vb_json_get_str(j, "text_hex");
        const struct vb_json *ps = vb_json_get(j, "parse_special");
        int n_want = 0;
        int32_t *want = refdata_json_ints(vb_json_get(j, "ids"), &n_want);
        const char *dh = vb_json_get_str(j, "detok_hex");
        const char *dnh = vb_json_get_str(j, "detok_no_special_hex");
        const struct vb_json *id = vb_json_get(j, "id");
        bool ok = th && ps && want && dh && dnh;
        CHECK(ok);
        if (ok) {
            char *text = vb_xmalloc(strlen(th) / 2 + 1);
            size_t tl = unhex(th, text);
            int32_t *ids = NULL;
            size_t n = 0, cap = 0;
            CHECK(llm_tokenize(tk, text, tl, ps->boolean, &ids, &n, &cap) == VB_OK);
            bool same = ids_equal(ids, n, want, (size_t)n_want);
            struct vb_buf d, dn;
            vb_buf_init(&d, 1 << 20);
            vb_buf_init(&dn, 1 << 20);
            CHECK(llm_detokenize(tk, want, (size_t)n_want, true, &d) == VB_OK);
            CHECK(llm_detokenize(tk, want, (size_t)n_want, false, &dn) == VB_OK);
            char *dhex = vb_xmalloc(2 * d.len + 1), *dnhex = vb_xmalloc(2 * dn.len + 1);
            hex(vb_buf_str(&d), d.len, dhex);
            hex(vb_buf_str(&dn), dn.len, dnhex);
            bool dsame = strcmp(dhex, dh) == 0 && strcmp(dnhex, dnh) == 0;
            CHECK_MSG(same, "case %d (parse_special %d): token ids differ (got %zu ids, want %d)",
                      id ? (int)id->number : -1, ps->boolean, n, n_want);
            CHECK_MSG(dsame, "case %d: detokenised bytes differ", id ? (int)id->number : -1);
            if (!same) {
                fprintf(stderr, "    got :");
                for (size_t i = 0; i < n && i < 40; i++)
                    fprintf(stderr, " %d", ids[i]);
                fprintf(stderr, "\n    want:");
                for (int i = 0; i < n_want && i < 40; i++)
                    fprintf(stderr, " %d", want[i]);
                fprintf(stderr, "\n");
            }
            n_ok += same && dsame;
            vb_free(dhex);
            vb_free(dnhex);
            vb_buf_release(&d);
            vb_buf_release(&dn);
            vb_free(ids);
            vb_free(text);
        }
        vb_free(want);
        vb_json_free(j);
        line = nl ? nl + 1 : NULL;
    }
    fprintf(stderr, "  tokenizer cases: %d/%d identical\n", n_ok, n_cases);
    CHECK(n_cases >= 200);
    vb_free(all);
    llm_tokenizer_free(tk);
    gguf_close(g);
}

/* Property: for any valid UTF-8 text, detokenize(tokenize(text)) == text (parse_special off,
 * so special-token text stays text). Random mixes of ASCII, Latin, CJK, emoji and spaces. */
TEST(random_text_round_trips)
{
    struct gguf_file *g = open_vocab();
    if (!g) {
        SKIP_MISSING_DATA(random_text_round_trips, "qwen2.5-vocab.gguf not found");
        return;
    }
    struct llm_tokenizer *tk = NULL;
    char why[256];
    CHECK(llm_tokenizer_load(g, &tk, why, sizeof why) == VB_OK);
    static const char *const atoms[] = {
        "a",
        "Z",
        " ",
        "  ",
        "\n",
        "\r\n",
        "\t",
        "7",
        "42",
        "'s",
        "'LL",
        "!",
        "...",
        "<|im_end|>",
        "\xc3\xa9",
        "\xc3\xb1",
        "\xe4\xbd\xa0",
        "\xe5\xa5\xbd",
        "\xf0\x9f\x98\x8a",
        "\xe2\x80\x83",
        "\xd9\xa3",
        "\xcc\x81",
        "\xe0\xa4\xb9\xe0\xa4\xbf",
        "\xc2\xa0",
        "\x01",
        "{",
        "\"",
        "<tool_call>",
    };
    uint64_t r = 99;
    int fails = 0;
    for (int it = 0; tk && it < 400; it++) {
        char text[512];
        size_t len = 0;
        int parts = 1 + it % 40;
        for (int k = 0; k < parts; k++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            const char *a = atoms[(r >> 33) % VB_ARRAY_LEN(atoms)];
            size_t al = strlen(a);
            if (len + al >= sizeof text)
                break;
            memcpy(text + len, a, al);
            len += al;
        }
        int32_t *ids = NULL;
        size_t n = 0, cap = 0;
        CHECK(llm_tokenize(tk, text, len, false, &ids, &n, &cap) == VB_OK);
        struct vb_buf d;
        vb_buf_init(&d, 1 << 16);
        CHECK(llm_detokenize(tk, ids, n, true, &d) == VB_OK);
        if (d.len != len || memcmp(vb_buf_str(&d), text, len) != 0)
            fails++;
        for (size_t i = 0; i < n; i++) /* only <tool_call> may come out as a special token */
            CHECK(ids[i] < 151643 || ids[i] == 151657);
        vb_buf_release(&d);
        vb_free(ids);
    }
    CHECK_EQ_INT(fails, 0);
    llm_tokenizer_free(tk);
    gguf_close(g);
}

int main(void)
{
    RUN(random_text_round_trips);
    RUN(byte_alphabet);
    RUN(utf8_decode_is_lenient_like_llama_cpp);
    RUN(spec_table);
    RUN(llama_cpp_cases);
    return test_summary();
}
