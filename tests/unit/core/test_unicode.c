/* test_unicode.c: strict UTF-8 checking (the rule JSON and PostgreSQL apply) and the repair of
 * arbitrary bytes into well-formed text, with an incomplete tail held back for more bytes. */
#include "core/vb.h"
#include "core/unicode.h"
#include "unit/test.h"

#define FFFD "\xEF\xBF\xBD"

static size_t valid_len(const char *s)
{
    return vb_utf8_valid_len((const unsigned char *)s, strlen(s));
}

TEST(valid_len_is_strict)
{
    CHECK_EQ_INT(valid_len("a"), 1);
    CHECK_EQ_INT(valid_len("\xC3\xA9"), 2);
    CHECK_EQ_INT(valid_len("\xE2\x82\xAC"), 3);
    CHECK_EQ_INT(valid_len("\xF0\x9F\x98\x80"), 4);
    CHECK_EQ_INT(valid_len("\x80"), 0);             /* a lone continuation byte */
    CHECK_EQ_INT(valid_len("\xC0\xAF"), 0);         /* overlong */
    CHECK_EQ_INT(valid_len("\xE0\x80\xAF"), 0);     /* overlong */
    CHECK_EQ_INT(valid_len("\xED\xA0\x80"), 0);     /* surrogate */
    CHECK_EQ_INT(valid_len("\xF4\x90\x80\x80"), 0); /* above U+10FFFF */
    CHECK_EQ_INT(valid_len("\xE5\x80 "), 0);        /* cut short by a space */
    CHECK_EQ_INT(valid_len("\xE5\x80"), 0);         /* truncated */
}

struct sanitize_case {
    const char *in;
    bool final;
    const char *out;
    size_t used;
};

TEST(sanitize_replaces_bad_bytes_and_holds_back_an_incomplete_tail)
{
    static const struct sanitize_case cases[] = {
        {"plain \xC3\xA9t\xC3\xA9", false, "plain \xC3\xA9t\xC3\xA9", 11},
        {"\xE5\x80 x", false, FFFD FFFD " x", 4}, /* what a model produced for PostgreSQL */
        {"ab\xE5\x80", false, "ab", 2},           /* may still become a character */
        {"ab\xE5\x80", true, "ab" FFFD FFFD, 4},  /* the end: it will not */
        {"ab\xF0\x9F\x98", false, "ab", 2},
        {"ab\xE0", false, "ab", 2},
        {"ab\xE0\x80", false, "ab" FFFD FFFD, 4}, /* no byte makes an overlong form valid */
        {"ab\xED\xA0", false, "ab" FFFD FFFD, 4}, /* nor a surrogate */
        {"ab\xF4\x90", false, "ab" FFFD FFFD, 4},
        {"ab\xFF", false, "ab" FFFD, 3},
        {"\x80\xBF", false, FFFD FFFD, 2},
    };
    for (size_t i = 0; i < VB_ARRAY_LEN(cases); i++) {
        const struct sanitize_case *c = &cases[i];
        struct vb_buf out;
        vb_buf_init(&out, 1024);
        size_t used = 99;
        CHECK(vb_utf8_sanitize(c->in, strlen(c->in), c->final, &out, &used) == VB_OK);
        CHECK_MSG(strcmp(vb_buf_str(&out), c->out) == 0, "case %zu", i);
        CHECK_MSG(used == c->used, "case %zu: used %zu", i, used);
        vb_buf_release(&out);
    }
    /* NUL would end the text wherever it is used as a C string */
    struct vb_buf out;
    vb_buf_init(&out, 1024);
    size_t used = 0;
    CHECK(vb_utf8_sanitize("a\0b", 3, false, &out, &used) == VB_OK);
    CHECK(used == 3 && out.len == 5 && memcmp(out.data, "a" FFFD "b", 5) == 0);
    vb_buf_release(&out);
    /* the buffer's ceiling is reported, not overrun */
    vb_buf_init(&out, 4);
    CHECK(vb_utf8_sanitize("\xFF\xFF", 2, true, &out, &used) == VB_ERR_TOO_LARGE);
    vb_buf_release(&out);
}

int main(void)
{
    RUN(valid_len_is_strict);
    RUN(sanitize_replaces_bad_bytes_and_holds_back_an_incomplete_tail);
    return test_summary();
}
