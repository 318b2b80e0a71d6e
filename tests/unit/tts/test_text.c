/* test_text.c: sentence splitting, tags and UTF-8 helpers of src/tts/text.c. */
#include "core/vb.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "unit/test.h"
#include "tts/text.h"

/* Every chunk: non-empty, within max, valid UTF-8 when the input was, no leading/trailing
 * or double spaces. Returns the chunks joined by single spaces (caller frees). */
static char *check_chunks(const struct tts_chunks *c, size_t max, bool utf8)
{
    size_t total = 0;
    for (size_t i = 0; i < c->n; i++)
        total += c->items[i].len + 1;
    char *joined = vb_xmalloc(total + 1), *p = joined;
    for (size_t i = 0; i < c->n; i++) {
        const struct tts_chunk *k = &c->items[i];
        CHECK(k->len > 0 && k->len <= max);
        CHECK(strlen(k->text) == k->len);
        CHECK(k->text[0] != ' ' && k->text[k->len - 1] != ' ');
        CHECK(!strstr(k->text, "  "));
        if (utf8)
            CHECK_MSG(tts_text_valid_utf8(k->text, k->len), "chunk %zu: %s", i, k->text);
        if (i)
            *p++ = ' ';
        memcpy(p, k->text, k->len);
        p += k->len;
    }
    *p = '\0';
    return joined;
}

struct split_case {
    const char *text;
    size_t max, min;
    size_t n;
    const char *chunks[6];
};

static const struct split_case cases[] = {
    {"", 300, 0, 0, {NULL}},
    {"   \n\t  ", 300, 0, 0, {NULL}},
    {"Hello world.", 300, 0, 1, {"Hello world."}},
    {"Hello world. How are you? Fine!", 300, 0, 3, {"Hello world.", "How are you?", "Fine!"}},
    {"  Lots   of\n\nspace  ", 300, 0, 2, {"Lots of", "space"}},
    {"One line\nnext line", 300, 0, 1, {"One line next line"}},
    {"Dr. Smith met Mr. Jones. They talked.",
     300,
     0,
     2,
     {"Dr. Smith met Mr. Jones.", "They talked."}},
    {"Pi is 3.14 today. Yes.", 300, 0, 2, {"Pi is 3.14 today.", "Yes."}},
    {"See e.g. this one. Next.", 300, 0, 2, {"See e.g. this one.", "Next."}},
    {"J. R. R. Tolkien wrote it. Yes.", 300, 0, 2, {"J. R. R. Tolkien wrote it.", "Yes."}},
    {"Wait... what?! No.", 300, 0, 3, {"Wait...", "what?!", "No."}},
    {"He said \"Stop.\" Then left.", 300, 0, 2, {"He said \"Stop.\"", "Then left."}},
    {"你好。今天天气很好！是吗？", 300, 0, 3, {"你好。", "今天天气很好！", "是吗？"}},
    {"Hi. Yes. No. This is a longer sentence here.",
     300,
     20,
     1,
     {"Hi. Yes. No. This is a longer sentence here."}},
    {"Hi. Yes.", 300, 40, 1, {"Hi. Yes."}},
    /* long sentence: clause, then word, then hard cuts */
    {"alpha beta gamma, delta epsilon zeta", 20, 0, 2, {"alpha beta gamma,", "delta epsilon zeta"}},
    {"aaaaaaaaaabbbbbbbbbbcc", 10, 0, 3, {"aaaaaaaaaa", "bbbbbbbbbb", "cc"}},
    {"ééééééééé", 9, 0, 3, {"éééé", "éééé", "é"}},
    /* a tag longer than max_bytes has to be cut */
    {"Ha [clear throat] ha", 12, 0, 3, {"Ha", "[clear throa", "t] ha"}},
    {"Ha [clear throat] ha", 16, 0, 3, {"Ha", "[clear throat]", "ha"}},
    {"Ha [clear throat] ha", 20, 8, 1, {"Ha [clear throat] ha"}},
};

TEST(split_table)
{
    for (size_t i = 0; i < VB_ARRAY_LEN(cases); i++) {
        const struct split_case *c = &cases[i];
        struct tts_split_params p = {.max_bytes = c->max, .min_bytes = c->min};
        struct tts_chunks out;
        CHECK(tts_text_split(c->text, strlen(c->text), &p, &out) == VB_OK);
        CHECK_MSG(out.n == c->n, "case %zu: %zu chunks, expected %zu", i, out.n, c->n);
        for (size_t k = 0; k < out.n && k < c->n; k++)
            CHECK_MSG(strcmp(out.items[k].text, c->chunks[k]) == 0, "case %zu chunk %zu: '%s'", i,
                      k, out.items[k].text);
        vb_free(check_chunks(&out, c->max, true));
        tts_chunks_release(&out);
    }
}

TEST(split_breaks)
{
    struct tts_split_params p = {.max_bytes = 20, .min_bytes = 0};
    struct tts_chunks out;
    const char *t = "alpha beta gamma, delta epsilon zeta eta theta. End";
    CHECK(tts_text_split(t, strlen(t), &p, &out) == VB_OK);
    CHECK(out.n >= 3);
    CHECK_EQ_INT(out.items[0].brk, TTS_BREAK_CLAUSE);
    CHECK_EQ_INT(out.items[out.n - 1].brk, TTS_BREAK_SENTENCE);
    tts_chunks_release(&out);
}

TEST(split_bad_params)
{
    struct tts_split_params p = {.max_bytes = 4};
    struct tts_chunks out;
    CHECK(tts_text_split("abc", 3, &p, &out) == VB_ERR_INVALID);
    CHECK(out.n == 0 && out.items == NULL);
    CHECK(tts_text_split(NULL, 0, NULL, &out) == VB_OK && out.n == 0);
    CHECK(tts_text_split(NULL, 5, NULL, &out) == VB_ERR_INVALID);
    tts_chunks_release(NULL);
}

/* 5000 characters of mixed scripts: every chunk within bounds and valid UTF-8, nothing lost
 * but white space. */
TEST(split_long_multibyte)
{
    static const char *words[] = {
        "Grüße",   "naïve", "日本語", "😀",
        "word,",   "end.",  "Ω",      "supercalifragilisticexpialidocious",
        "[laugh]", "и"};
    struct vb_buf b;
    vb_buf_init(&b, 1 << 20);
    size_t chars = 0;
    for (unsigned i = 0; chars < 5000; i++) {
        const char *w = words[(i * 7 + i / 3) % VB_ARRAY_LEN(words)];
        size_t wc = tts_text_count_chars(w, strlen(w));
        if (chars + wc + 1 > 5000)
            break;
        CHECK(vb_buf_puts(&b, w) == VB_OK && vb_buf_putc(&b, ' ') == VB_OK);
        chars += wc + 1;
    }
    const char *text = vb_buf_str(&b);
    CHECK(tts_text_count_chars(text, b.len) <= 5000);
    CHECK(tts_text_count_chars(text, b.len) > 4900);
    size_t maxes[] = {8, 9, 10, 13, 50, 300};
    for (size_t m = 0; m < VB_ARRAY_LEN(maxes); m++) {
        struct tts_split_params p = {.max_bytes = maxes[m], .min_bytes = maxes[m] / 3};
        struct tts_chunks out;
        CHECK(tts_text_split(text, b.len, &p, &out) == VB_OK);
        CHECK(out.n > 0);
        char *joined = check_chunks(&out, maxes[m], true);
        /* Nothing is lost: the text without spaces equals the chunks without spaces. */
        size_t a = 0, k = 0;
        for (; text[a] || joined[k];) {
            if (text[a] == ' ') {
                a++;
                continue;
            }
            if (joined[k] == ' ') {
                k++;
                continue;
            }
            if (text[a] != joined[k])
                break;
            a++, k++;
        }
        CHECK_MSG(!text[a] && !joined[k], "max %zu: text differs at %zu", maxes[m], a);
        vb_free(joined);
        tts_chunks_release(&out);
    }
    vb_buf_release(&b);
}

TEST(split_invalid_utf8)
{
    const char bad[] = "ab\xff\xfe cd\xc3. \xe2\x82 ef";
    struct tts_split_params p = {.max_bytes = 8};
    struct tts_chunks out;
    CHECK(tts_text_split(bad, sizeof bad - 1, &p, &out) == VB_OK);
    vb_free(check_chunks(&out, 8, false));
    tts_chunks_release(&out);
}

TEST(tags)
{
    size_t n;
    const char *const *list = tts_tag_list(&n);
    CHECK(n == 19);
    CHECK_EQ_STR(list[n - 1], "[laugh]");
    CHECK(tts_tag_match("[laugh] x", 9, true) == 7);
    CHECK(tts_tag_match("[Laugh]", 7, true) == 0);
    CHECK(tts_tag_match("[Laugh]", 7, false) == 7);
    CHECK(tts_tag_match("[laug", 5, false) == 0);
    CHECK(tts_tag_match("[clear throat]", 14, true) == 14);
    CHECK(tts_tag_match("[nope]", 6, false) == 0);
    CHECK(tts_text_has_tags("so [sigh] ok", 12));
    CHECK(!tts_text_has_tags("so [note] ok", 12));
}

TEST(strip_tags)
{
    static const struct {
        const char *in, *out;
    } t[] = {
        {"Ha [laugh], ok", "Ha, ok"},
        {"[sigh] Fine.", "Fine."},
        {"Well [SIGH] fine", "Well fine"},
        {"End [laugh]", "End"},
        {"End [laugh].", "End."},
        {"a[cough]b", "ab"},
        {"[clear throat][cough]", ""},
        {"keep [note] this", "keep [note] this"},
        {"", ""},
        {"[laugh", "[laugh"},
        {"[la[laugh]ugh] x", "x"},
    };
    for (size_t i = 0; i < VB_ARRAY_LEN(t); i++) {
        char *o = NULL;
        size_t n = 99;
        CHECK(tts_text_strip_tags(t[i].in, strlen(t[i].in), &o, &n) == VB_OK);
        CHECK_MSG(o && strcmp(o, t[i].out) == 0, "'%s' -> '%s'", t[i].in, o ? o : "(null)");
        CHECK(o && n == strlen(o));
        vb_free(o);
    }
}

TEST(utf8_helpers)
{
    CHECK(tts_text_count_chars("héllo 日本 😀", strlen("héllo 日本 😀")) == 10);
    CHECK(tts_text_valid_utf8("héllo", 6));
    CHECK(!tts_text_valid_utf8("\xc3", 1));
    CHECK(!tts_text_valid_utf8("\xc0\xaf", 2));         /* overlong */
    CHECK(!tts_text_valid_utf8("\xed\xa0\x80", 3));     /* surrogate */
    CHECK(!tts_text_valid_utf8("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    CHECK(tts_text_speakable("... ok", 6));
    CHECK(tts_text_speakable("日本", 6));
    CHECK(!tts_text_speakable("... !? [laugh] ", 15));
    CHECK(!tts_text_speakable("", 0));
}

int main(void)
{
    RUN(split_table);
    RUN(split_breaks);
    RUN(split_bad_params);
    RUN(split_long_multibyte);
    RUN(split_invalid_utf8);
    RUN(tags);
    RUN(strip_tags);
    RUN(utf8_helpers);
    return test_summary();
}
