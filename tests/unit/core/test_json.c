/* test_json.c: the JSON parser (accept/reject tables, values, offsets in errors) and the
 * writer (escaping, numbers, commas, sticky errors, round trips). */
#include "core/vb.h"
#include "core/json.h"
#include "core/alloc.h"
#include "unit/test.h"

#include <locale.h>
#include <math.h>

static enum vb_err parse_str(const char *s, struct vb_json **out, char *why, size_t cap)
{
    return vb_json_parse(s, strlen(s), out, why, cap);
}

TEST(test_accept_table)
{
    static const char *const ok[] = {"null",
                                     "true",
                                     "false",
                                     "0",
                                     "-0",
                                     "1",
                                     "-1",
                                     "1.5",
                                     "1e5",
                                     "1E+5",
                                     "1e-5",
                                     "-0.0e0",
                                     "123456789012345678901234567890",
                                     "\"\"",
                                     "\"abc\"",
                                     "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
                                     "\"\\u0041\\u00e9\\u20ac\"",
                                     "\"\\ud83d\\ude00\"",
                                     "\"\\uD83D\\uDE00\"",
                                     "\"\\u0000\"",
                                     "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
                                     "[]",
                                     "{}",
                                     "[1,2,3]",
                                     " \t\r\n[ 1 , 2 ] \n",
                                     "{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"e\"}}",
                                     "{\"a\":1,\"a\":2}",
                                     "\"\x7f\"",
                                     "1e-400",
                                     "[[[[[[[[[[]]]]]]]]]]"};
    for (size_t i = 0; i < VB_ARRAY_LEN(ok); i++) {
        struct vb_json *j = NULL;
        char why[128] = "";
        enum vb_err err = parse_str(ok[i], &j, why, sizeof why);
        CHECK_MSG(err == VB_OK && j, "case %zu %s: %s", i, ok[i], why);
        vb_json_free(j);
    }
}

TEST(test_reject_table)
{
    static const struct {
        const char *text;
        const char *why_prefix;
    } bad[] = {
        {"", "unexpected end of input at offset 0"},
        {"   ", "unexpected end of input at offset 3"},
        {"nul", "invalid literal at offset 0"},
        {"True", "unexpected character at offset 0"},
        {"01", "leading zero in number at offset 1"},
        {"-", "invalid number at offset 1"},
        {"+1", "unexpected character at offset 0"},
        {".5", "unexpected character at offset 0"},
        {"1.", "digit expected after decimal point at offset 2"},
        {"1e", "digit expected in exponent at offset 2"},
        {"1e+", "digit expected in exponent at offset 3"},
        {"0x10", "trailing characters after JSON value at offset 1"},
        {"NaN", "unexpected character"},
        {"Infinity", "unexpected character"},
        {"1e400", "number out of range at offset 0"},
        {"-1e400", "number out of range"},
        {"[1,]", "unexpected character at offset 3"},
        {"[,1]", "unexpected character at offset 1"},
        {"[1 2]", "',' or ']' expected at offset 3"},
        {"[1", "unterminated array at offset 2"},
        {"{\"a\":1,}", "member name expected at offset 7"},
        {"{\"a\" 1}", "':' expected at offset 5"},
        {"{a:1}", "member name expected at offset 1"},
        {"{\"a\":1", "unterminated object"},
        {"{'a':1}", "member name expected"},
        {"\"abc", "unterminated string at offset 0"},
        {"\"a\\\"", "unterminated string"},
        {"\"\\x\"", "invalid escape in string at offset 1"},
        {"\"\\u12\"", "truncated \\u escape at offset 3"},
        {"\"\\u12g4\"", "invalid hex digit in \\u escape at offset 5"},
        {"\"\\ud800\"", "lone high surrogate in \\u escape at offset 1"},
        {"\"\\ud800\\u0041\"", "lone high surrogate"},
        {"\"\\udc00\"", "lone low surrogate in \\u escape at offset 1"},
        {"\"a\tb\"", "control character in string at offset 2"},
        {"\"a\nb\"", "control character in string at offset 2"},
        {"\"\xff\"", "invalid UTF-8 in string at offset 1"},
        {"\"\xc0\xaf\"", "invalid UTF-8"},                       /* overlong '/' */
        {"\"\xe0\x80\xaf\"", "invalid UTF-8"},                   /* overlong */
        {"\"\xed\xa0\x80\"", "invalid UTF-8"},                   /* UTF-8 encoded surrogate */
        {"\"\xf4\x90\x80\x80\"", "invalid UTF-8"},               /* above U+10FFFF */
        {"\"\xe2\x82\"", "invalid UTF-8 in string at offset 1"}, /* truncated */
        {"{\"a\\u0000b\":1}", "NUL character in member name at offset 1"},
        {"1 2", "trailing characters after JSON value at offset 2"},
        {"{} x", "trailing characters after JSON value at offset 3"},
        {"[]]", "trailing characters"},
        {"\xef\xbb\xbf[]", "unexpected character at offset 0"}, /* BOM */
        {"/* c */ 1", "unexpected character"},
    };
    for (size_t i = 0; i < VB_ARRAY_LEN(bad); i++) {
        struct vb_json *j = (struct vb_json *)1;
        char why[128] = "";
        enum vb_err err = parse_str(bad[i].text, &j, why, sizeof why);
        CHECK_MSG(err == VB_ERR_INVALID, "case %zu should fail", i);
        CHECK_MSG(j == NULL, "case %zu: out not cleared", i);
        CHECK_MSG(strncmp(why, bad[i].why_prefix, strlen(bad[i].why_prefix)) == 0,
                  "case %zu: why \"%s\", want \"%s\"", i, why, bad[i].why_prefix);
    }
}

TEST(test_embedded_nul_and_null_args)
{
    struct vb_json *j = NULL;
    char why[64];
    CHECK(vb_json_parse("[1]\0", 4, &j, why, sizeof why) == VB_ERR_INVALID);
    CHECK(vb_json_parse("\"a\0b\"", 5, &j, why, sizeof why) == VB_ERR_INVALID);
    CHECK(vb_json_parse(NULL, 0, &j, why, sizeof why) == VB_ERR_INVALID);
    CHECK(vb_json_parse(NULL, 10, &j, why, sizeof why) == VB_ERR_INVALID);
    CHECK(vb_json_parse("1", 1, NULL, why, sizeof why) == VB_ERR_INVALID);
    CHECK(vb_json_parse("[", 1, &j, NULL, 0) == VB_ERR_INVALID); /* no why buffer */
    char tiny[8];
    CHECK(vb_json_parse("[", 1, &j, tiny, sizeof tiny) == VB_ERR_INVALID);
    CHECK(strlen(tiny) == sizeof tiny - 1);
    /* Only `len` bytes are read: "12" of "123". */
    CHECK(vb_json_parse("123", 2, &j, why, sizeof why) == VB_OK);
    CHECK(j && j->integer == 12);
    vb_json_free(j);
    vb_json_free(NULL);
}

TEST(test_values)
{
    const char *text = "{\"s\":\"h\\u00e9\\n\",\"i\":-42,\"big\":9223372036854775807,"
                       "\"over\":9223372036854775808,\"neg\":-9223372036854775808,"
                       "\"f\":0.5,\"e\":1e2,\"t\":true,\"n\":null,\"a\":[1,\"x\"],"
                       "\"dup\":1,\"dup\":\"last\",\"z\":\"a\\u0000b\"}";
    struct vb_json *j = NULL;
    char why[128];
    CHECK(parse_str(text, &j, why, sizeof why) == VB_OK);
    if (!j)
        return;
    CHECK(j->type == VB_JSON_OBJECT);
    CHECK_EQ_INT(j->count, 13);
    CHECK_EQ_STR(vb_json_get_str(j, "s"), "h\xc3\xa9\n");
    const struct vb_json *v = vb_json_get(j, "i");
    CHECK(v && v->type == VB_JSON_NUMBER && v->is_integer && v->integer == -42 && v->number == -42);
    v = vb_json_get(j, "big");
    CHECK(v && v->is_integer && v->integer == INT64_MAX);
    v = vb_json_get(j, "over");
    CHECK(v && !v->is_integer && v->number == 9223372036854775808.0);
    v = vb_json_get(j, "neg");
    CHECK(v && v->is_integer && v->integer == INT64_MIN);
    v = vb_json_get(j, "f");
    CHECK(v && !v->is_integer && v->number == 0.5);
    v = vb_json_get(j, "e");
    CHECK(v && !v->is_integer && v->number == 100.0);
    int64_t iv = 0;
    CHECK(vb_json_get_int(j, "i", &iv) && iv == -42);
    CHECK(!vb_json_get_int(j, "f", &iv) && iv == -42);
    CHECK(!vb_json_get_int(j, "s", &iv));
    bool b = false;
    CHECK(vb_json_get_bool(j, "t", &b) && b);
    CHECK(!vb_json_get_bool(j, "n", &b));
    v = vb_json_get(j, "n");
    CHECK(v && v->type == VB_JSON_NULL);
    CHECK(vb_json_get_str(j, "n") == NULL);
    v = vb_json_get(j, "a");
    CHECK(v && v->type == VB_JSON_ARRAY && v->count == 2 && v->child &&
          v->child->type == VB_JSON_NUMBER && v->child->key == NULL && v->child->next &&
          v->child->next->type == VB_JSON_STRING && v->child->next->next == NULL);
    CHECK_EQ_STR(vb_json_get_str(j, "dup"), "last");
    v = vb_json_get(j, "z");
    CHECK(v && v->string_len == 3 && memcmp(v->string, "a\0b", 4) == 0);
    CHECK(vb_json_get(j, "missing") == NULL);
    CHECK(vb_json_get(j, NULL) == NULL);
    CHECK(vb_json_get(NULL, "s") == NULL);
    CHECK(vb_json_get(v, "s") == NULL); /* not an object */
    CHECK_EQ_STR(vb_json_type_name(VB_JSON_OBJECT), "object");
    vb_json_free(j);
}

static char *nested(int depth, char open, char close)
{
    char *s = vb_xmalloc((size_t)depth * 2 + 1);
    for (int i = 0; i < depth; i++) {
        s[i] = open;
        s[depth * 2 - 1 - i] = close;
    }
    s[depth * 2] = '\0';
    return s;
}

TEST(test_depth_limit)
{
    struct vb_json *j = NULL;
    char why[128];
    char *ok = nested(VB_JSON_MAX_DEPTH, '[', ']');
    CHECK(parse_str(ok, &j, why, sizeof why) == VB_OK);
    vb_json_free(j);
    char *deep = nested(VB_JSON_MAX_DEPTH + 1, '[', ']');
    CHECK(parse_str(deep, &j, why, sizeof why) == VB_ERR_INVALID);
    CHECK(strcmp(why, "nesting too deep at offset 64") == 0);
    vb_free(ok);
    vb_free(deep);
    /* Very deep input: must fail cleanly without recursing 100000 levels. */
    char *huge = nested(100000, '[', ']');
    CHECK(parse_str(huge, &j, why, sizeof why) == VB_ERR_INVALID);
    vb_free(huge);
    /* Deep objects too. */
    struct vb_buf b;
    vb_buf_init(&b, 1 << 20);
    for (int i = 0; i < VB_JSON_MAX_DEPTH + 1; i++)
        CHECK(vb_buf_puts(&b, "{\"k\":") == VB_OK);
    CHECK(vb_buf_puts(&b, "1") == VB_OK);
    for (int i = 0; i < VB_JSON_MAX_DEPTH + 1; i++)
        CHECK(vb_buf_putc(&b, '}') == VB_OK);
    CHECK(vb_json_parse(b.data, b.len, &j, why, sizeof why) == VB_ERR_INVALID);
    vb_buf_release(&b);
}

TEST(test_limits)
{
    struct vb_json *j = NULL;
    char why[128];
    /* max_values counts every value: the array itself and its elements. */
    const struct vb_json_limits four = {.max_values = 4};
    CHECK(vb_json_parse_limited("[0,1,2]", 7, &four, &j, why, sizeof why) == VB_OK);
    CHECK(j && j->count == 3);
    vb_json_free(j);
    j = NULL;
    CHECK(vb_json_parse_limited("[0,1,2,3]", 9, &four, &j, why, sizeof why) == VB_ERR_INVALID);
    CHECK(!j);
    CHECK(strcmp(why, "more than 4 values at offset 7") == 0);
    /* Members count as their values; nested containers count too. */
    static const char obj[] = "{\"a\":{\"b\":[true]},\"c\":null}";
    const struct vb_json_limits five = {.max_values = 5};
    CHECK(vb_json_parse_limited(obj, strlen(obj), &five, &j, why, sizeof why) == VB_OK);
    vb_json_free(j);
    const struct vb_json_limits four_obj = {.max_values = 4};
    CHECK(vb_json_parse_limited(obj, strlen(obj), &four_obj, &j, why, sizeof why) ==
          VB_ERR_INVALID);
    CHECK(strstr(why, "more than 4 values") != NULL);
    /* A tighter depth; 0 and values above VB_JSON_MAX_DEPTH mean VB_JSON_MAX_DEPTH. */
    const struct vb_json_limits shallow = {.max_depth = 3};
    CHECK(vb_json_parse_limited("[[[1]]]", 7, &shallow, &j, why, sizeof why) == VB_OK);
    vb_json_free(j);
    CHECK(vb_json_parse_limited("[[[[1]]]]", 9, &shallow, &j, why, sizeof why) == VB_ERR_INVALID);
    CHECK(strcmp(why, "nesting too deep at offset 3") == 0);
    char *deep = nested(VB_JSON_MAX_DEPTH + 1, '[', ']');
    const struct vb_json_limits loose = {.max_depth = 1000};
    CHECK(vb_json_parse_limited(deep, strlen(deep), &loose, &j, why, sizeof why) == VB_ERR_INVALID);
    CHECK(vb_json_parse_limited(deep, strlen(deep), NULL, &j, why, sizeof why) == VB_ERR_INVALID);
    vb_free(deep);
    /* Huge flat input stops at the cap instead of building the whole tree. */
    size_t n = 2u << 20;
    char *flat = vb_xmalloc(n * 2 + 1);
    flat[0] = '[';
    for (size_t i = 0; i < n; i++) {
        flat[1 + 2 * i] = '0';
        flat[2 + 2 * i] = i + 1 < n ? ',' : ']';
    }
    const struct vb_json_limits cap = {.max_values = 1000};
    CHECK(vb_json_parse_limited(flat, n * 2, &cap, &j, why, sizeof why) == VB_ERR_INVALID);
    CHECK(strcmp(why, "more than 1000 values at offset 1999") == 0);
    vb_free(flat);
    /* Empty input and NULL limits behave like vb_json_parse. */
    CHECK(vb_json_parse_limited("", 0, &cap, &j, why, sizeof why) == VB_ERR_INVALID);
    CHECK(vb_json_parse_limited("{}", 2, NULL, &j, why, sizeof why) == VB_OK);
    vb_json_free(j);
}

TEST(test_large_input)
{
    /* 200000 elements and a 1 MB string parse fine. */
    struct vb_buf b;
    vb_buf_init(&b, 8 << 20);
    CHECK(vb_buf_putc(&b, '[') == VB_OK);
    for (int i = 0; i < 200000; i++)
        CHECK(vb_buf_printf(&b, "%s%d", i ? "," : "", i) == VB_OK);
    CHECK(vb_buf_putc(&b, ']') == VB_OK);
    struct vb_json *j = NULL;
    CHECK(vb_json_parse(b.data, b.len, &j, NULL, 0) == VB_OK);
    CHECK(j && j->count == 200000);
    vb_json_free(j);
    vb_buf_reset(&b);
    CHECK(vb_buf_putc(&b, '"') == VB_OK);
    for (int i = 0; i < 1000000; i++)
        CHECK(vb_buf_putc(&b, 'x') == VB_OK);
    CHECK(vb_buf_putc(&b, '"') == VB_OK);
    CHECK(vb_json_parse(b.data, b.len, &j, NULL, 0) == VB_OK);
    CHECK(j && j->string_len == 1000000);
    vb_json_free(j);
    /* A 300-digit number goes through the heap copy. */
    vb_buf_reset(&b);
    for (int i = 0; i < 300; i++)
        CHECK(vb_buf_putc(&b, i ? '0' : '1') == VB_OK);
    CHECK(vb_json_parse(b.data, b.len, &j, NULL, 0) == VB_OK);
    CHECK(j && !j->is_integer && j->number == 1e299);
    vb_json_free(j);
    vb_buf_release(&b);
}

/* Writes with the writer and compares the text. */
static void check_written(void (*write)(struct vb_jw *), const char *want)
{
    struct vb_buf b;
    vb_buf_init(&b, 4096);
    struct vb_jw w;
    vb_jw_init(&w, &b);
    write(&w);
    CHECK(vb_jw_finish(&w) == VB_OK);
    CHECK_EQ_STR(vb_buf_str(&b), want);
    vb_buf_release(&b);
}

static void write_object(struct vb_jw *w)
{
    vb_jw_obj_begin(w);
    vb_jw_kstr(w, "name", "al\"ice\\");
    vb_jw_kint(w, "id", -7);
    vb_jw_kbool(w, "ok", true);
    vb_jw_kstr(w, "email", NULL);
    vb_jw_key(w, "list");
    vb_jw_arr_begin(w);
    vb_jw_int(w, INT64_MIN);
    vb_jw_double(w, 0.1);
    vb_jw_double(w, NAN);
    vb_jw_double(w, -INFINITY);
    vb_jw_arr_begin(w);
    vb_jw_arr_end(w);
    vb_jw_obj_begin(w);
    vb_jw_obj_end(w);
    vb_jw_raw(w, "{\"r\":1}", 7);
    vb_jw_null(w);
    vb_jw_bool(w, false);
    vb_jw_arr_end(w);
    vb_jw_kdouble(w, "d", 2.5);
    vb_jw_obj_end(w);
}

static void write_escapes(struct vb_jw *w)
{
    vb_jw_strn(w, "a\x01\x1f\n\t\r\b\f/\x7f\0z", 12);
}

static void write_bad_utf8(struct vb_jw *w)
{
    /* valid é, lone continuation byte, truncated 3-byte sequence, surrogate, 0xff */
    vb_jw_strn(w, "\xc3\xa9\x80\xe2\x82\xed\xa0\x80\xff!", 10);
}

static void write_numbers(struct vb_jw *w)
{
    vb_jw_arr_begin(w);
    vb_jw_double(w, 1.0);
    vb_jw_double(w, -0.0);
    vb_jw_double(w, 1e300);
    vb_jw_double(w, 5e-324);
    vb_jw_double(w, 0.1 + 0.2);
    vb_jw_double(w, 123456.789);
    vb_jw_int(w, INT64_MAX);
    vb_jw_arr_end(w);
}

static void write_scalar(struct vb_jw *w)
{
    vb_jw_str(w, "");
}

TEST(test_writer_output)
{
    check_written(write_object, "{\"name\":\"al\\\"ice\\\\\",\"id\":-7,\"ok\":true,\"email\":null,"
                                "\"list\":[-9223372036854775808,0.1,null,null,[],{},{\"r\":1},"
                                "null,false],\"d\":2.5}");
    check_written(write_escapes, "\"a\\u0001\\u001f\\n\\t\\r\\b\\f/\x7f\\u0000z\"");
    check_written(write_bad_utf8,
                  "\"\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef"
                  "\xbf\xbd\xef\xbf\xbd!\"");
    check_written(write_numbers, "[1,-0.0,1e+300,4.94065645841247e-324,0.30000000000000004,"
                                 "123456.789,9223372036854775807]");
    check_written(write_scalar, "\"\"");
}

TEST(test_writer_locale)
{
    /* A locale with a decimal comma must not leak into JSON output or parsing. */
    const char *locs[] = {"de_DE.UTF-8", "fr_FR.UTF-8", "de_DE.utf8"};
    const char *got = NULL;
    for (size_t i = 0; i < VB_ARRAY_LEN(locs) && !got; i++)
        got = setlocale(LC_NUMERIC, locs[i]);
    if (!got) {
        SKIP(test_writer_locale, "no de_DE/fr_FR locale installed");
        return;
    }
    struct vb_buf b;
    vb_buf_init(&b, 256);
    struct vb_jw w;
    vb_jw_init(&w, &b);
    vb_jw_double(&w, 1.25);
    CHECK(vb_jw_finish(&w) == VB_OK);
    CHECK_EQ_STR(vb_buf_str(&b), "1.25");
    struct vb_json *j = NULL;
    CHECK(vb_json_parse("1.25", 4, &j, NULL, 0) == VB_OK);
    CHECK(j && j->number == 1.25);
    vb_json_free(j);
    vb_buf_release(&b);
    setlocale(LC_NUMERIC, "C");
}

TEST(test_writer_errors)
{
    struct vb_buf b;
    struct vb_jw w;
    /* Unbalanced. */
    vb_buf_init(&b, 256);
    vb_jw_init(&w, &b);
    vb_jw_obj_begin(&w);
    CHECK(vb_jw_finish(&w) == VB_ERR_INTERNAL);
    vb_buf_release(&b);
    /* End without begin, key at top level, two top-level values, key without value. */
    vb_jw_init(&w, &b);
    vb_jw_arr_end(&w);
    CHECK(vb_jw_finish(&w) == VB_ERR_INTERNAL);
    vb_buf_release(&b);
    vb_jw_init(&w, &b);
    vb_jw_key(&w, "k");
    CHECK(vb_jw_finish(&w) == VB_ERR_INTERNAL);
    vb_buf_release(&b);
    vb_jw_init(&w, &b);
    vb_jw_int(&w, 1);
    vb_jw_int(&w, 2);
    CHECK(vb_jw_finish(&w) == VB_ERR_INTERNAL);
    vb_buf_release(&b);
    vb_jw_init(&w, &b);
    vb_jw_obj_begin(&w);
    vb_jw_key(&w, "k");
    vb_jw_obj_end(&w);
    CHECK(vb_jw_finish(&w) == VB_ERR_INTERNAL);
    vb_buf_release(&b);
    /* Too deep. */
    vb_jw_init(&w, &b);
    for (int i = 0; i < VB_JSON_MAX_DEPTH + 1; i++)
        vb_jw_arr_begin(&w);
    CHECK(vb_jw_finish(&w) == VB_ERR_TOO_LARGE);
    vb_buf_release(&b);
    /* Exactly the maximum depth is fine. */
    vb_jw_init(&w, &b);
    for (int i = 0; i < VB_JSON_MAX_DEPTH; i++)
        vb_jw_arr_begin(&w);
    for (int i = 0; i < VB_JSON_MAX_DEPTH; i++)
        vb_jw_arr_end(&w);
    CHECK(vb_jw_finish(&w) == VB_OK);
    CHECK_EQ_INT(b.len, 2 * VB_JSON_MAX_DEPTH);
    vb_buf_release(&b);
    /* Over the buffer ceiling: sticky, later calls do nothing. */
    struct vb_buf small;
    vb_buf_init(&small, 8);
    vb_jw_init(&w, &small);
    vb_jw_arr_begin(&w);
    vb_jw_str(&w, "this is longer than eight bytes");
    vb_jw_int(&w, 1);
    vb_jw_arr_end(&w);
    CHECK(vb_jw_finish(&w) == VB_ERR_TOO_LARGE);
    CHECK(small.data == NULL);
    vb_buf_release(&small);
    /* NULL buffer. */
    vb_jw_init(&w, NULL);
    vb_jw_int(&w, 1);
    CHECK(vb_jw_finish(&w) != VB_OK);
    /* vb_json_quote on its own. */
    vb_buf_init(&b, 64);
    CHECK(vb_json_quote(&b, NULL, 5) == VB_OK);
    CHECK_EQ_STR(vb_buf_str(&b), "\"\"");
    vb_buf_release(&b);
}

/* parse -> write -> parse -> write gives the same text the second time. */
TEST(test_round_trip)
{
    static const char *const docs[] = {
        "{\"a\":[1,2.5,-0.001,1e-300,1.7976931348623157e308],\"b\":{\"c\":\"\\u2028\"}}",
        "[\"\\u0000\\u001f\",\"tab\\t\",{\"\":null}]",
        "[0.1,0.2,0.30000000000000004,100,1e21,12345678901234567890]",
        "\"plain\"",
        "[\"\\ud83d\\ude00\"]",
        "-9223372036854775808",
    };
    for (size_t i = 0; i < VB_ARRAY_LEN(docs); i++) {
        char *text[2] = {NULL, NULL};
        const char *in = docs[i];
        for (int pass = 0; pass < 2; pass++) {
            struct vb_json *j = NULL;
            char why[128] = "";
            CHECK_MSG(vb_json_parse(in, strlen(in), &j, why, sizeof why) == VB_OK,
                      "case %zu pass %d: %s", i, pass, why);
            struct vb_buf b;
            vb_buf_init(&b, 1 << 16);
            struct vb_jw w;
            vb_jw_init(&w, &b);
            vb_jw_value(&w, j);
            CHECK(vb_jw_finish(&w) == VB_OK);
            text[pass] = vb_buf_take(&b);
            in = text[pass];
            vb_json_free(j);
        }
        CHECK_EQ_STR(text[0], text[1]);
        vb_free(text[0]);
        vb_free(text[1]);
    }
}

int main(void)
{
    RUN(test_accept_table);
    RUN(test_reject_table);
    RUN(test_embedded_nul_and_null_args);
    RUN(test_values);
    RUN(test_depth_limit);
    RUN(test_limits);
    RUN(test_large_input);
    RUN(test_writer_output);
    RUN(test_writer_locale);
    RUN(test_writer_errors);
    RUN(test_round_trip);
    return test_summary();
}
