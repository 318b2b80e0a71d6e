/* text.c: sentence splitting into bounded chunks, expressive tags, UTF-8 helpers. Everything
 * here must be safe on arbitrary bytes (it is fuzzed): invalid sequences count as one
 * character of one byte. */
#include "core/vb.h"
#include "tts/text.h"
#include "core/alloc.h"
#include "core/unicode.h"

#include <ctype.h>
#include <strings.h>

#define TAG_MAX_LEN 16 /* longest tag, "[advertisement]", is 15 bytes */

/* Chatterbox-Turbo's added tokens, in id order (spec §2.2). */
static const char *const tags[] = {
    "[angry]",        "[fear]",      "[surprised]", "[whispering]", "[advertisement]",
    "[dramatic]",     "[narration]", "[crying]",    "[happy]",      "[sarcastic]",
    "[clear throat]", "[sigh]",      "[shush]",     "[cough]",      "[groan]",
    "[sniff]",        "[gasp]",      "[chuckle]",   "[laugh]",
};

/* Abbreviations after which a '.' does not end a sentence (lower case, without the dot). */
static const char *const abbreviations[] = {
    "mr",  "mrs", "ms",     "dr",  "prof", "sr",   "jr",  "st",  "vs",   "etc", "e.g",
    "i.e", "fig", "approx", "inc", "ltd",  "co",   "mt",  "sgt", "capt", "gen", "col",
    "lt",  "rev", "hon",    "cf",  "al",   "dept", "est", "ave", "no",
};

/* ===== UTF-8 ===== */

/* Decodes the character at s; *len gets its length (1 for an invalid byte, whose code
 * point is reported as 0xFFFD so it is treated as an ordinary letter-like character). */
static uint32_t decode(const char *str, size_t n, size_t *len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t l = vb_utf8_valid_len(s, n);
    if (l == 0) {
        *len = 1;
        return 0xFFFD;
    }
    *len = l;
    switch (l) {
    case 1:
        return s[0];
    case 2:
        return ((uint32_t)(s[0] & 0x1f) << 6) | (s[1] & 0x3f);
    case 3:
        return ((uint32_t)(s[0] & 0x0f) << 12) | ((uint32_t)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
    default:
        return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3f) << 12) |
               ((uint32_t)(s[2] & 0x3f) << 6) | (s[3] & 0x3f);
    }
}

bool tts_text_valid_utf8(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t l = vb_utf8_valid_len((const unsigned char *)s + i, n - i);
        if (l == 0)
            return false;
        i += l;
    }
    return true;
}

size_t tts_text_count_chars(const char *s, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            count++;
    return count;
}

/* ===== character classes ===== */

static bool is_space(uint32_t c)
{
    return c <= 0x20 || c == 0x7f || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
           c == 0x205f || c == 0x3000;
}

/* Newlines a white-space character stands for (paragraph separator counts twice). */
static int newlines(uint32_t c)
{
    return c == '\n' || c == 0x2028 ? 1 : c == 0x2029 ? 2 : 0;
}

/* Sentence terminators; *wide: ends a sentence without a following space (CJK). */
static bool is_terminator(uint32_t c, bool *wide)
{
    *wide = c == 0x3002 || c == 0xff01 || c == 0xff1f || c == 0xff0e;
    return *wide || c == '.' || c == '!' || c == '?' || c == 0x2026 || c == 0x061f || c == 0x0964 ||
           c == 0x0965 || c == 0x06d4 || c == 0x203c || c == 0x2047 || c == 0x2048 || c == 0x2049;
}

static bool is_closer(uint32_t c)
{
    return c == '"' || c == '\'' || c == ')' || c == ']' || c == '}' || c == 0x201d ||
           c == 0x2019 || c == 0xbb || c == 0x300d || c == 0x300f || c == 0xff09;
}

/* Clause punctuation; *wide: a cut may follow it without a space (CJK, dashes). */
static bool is_clause(uint32_t c, bool *wide)
{
    *wide = c == 0xff0c || c == 0x3001 || c == 0xff1b || c == 0xff1a || c == 0x2014 || c == 0x2013;
    return *wide || c == ',' || c == ';' || c == ':' || c == 0x060c;
}

static bool is_speakable(uint32_t c)
{
    return c >= 0x80 ? !is_space(c) : isalnum((int)c) != 0;
}

/* ===== tags ===== */

const char *const *tts_tag_list(size_t *n)
{
    *n = VB_ARRAY_LEN(tags);
    return tags;
}

size_t tts_tag_match(const char *s, size_t n, bool exact)
{
    if (n < 3 || s[0] != '[')
        return 0;
    for (size_t i = 0; i < VB_ARRAY_LEN(tags); i++) {
        size_t l = strlen(tags[i]);
        if (l <= n && (exact ? memcmp(s, tags[i], l) == 0 : strncasecmp(s, tags[i], l) == 0))
            return l;
    }
    return 0;
}

bool tts_text_has_tags(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (text[i] == '[' && tts_tag_match(text + i, len - i, false))
            return true;
    return false;
}

bool tts_text_speakable(const char *text, size_t len)
{
    for (size_t i = 0; i < len;) {
        size_t t = text[i] == '[' ? tts_tag_match(text + i, len - i, false) : 0;
        if (t) {
            i += t;
            continue;
        }
        size_t l;
        uint32_t c = decode(text + i, len - i, &l);
        if (is_speakable(c))
            return true;
        i += l;
    }
    return false;
}

static bool is_ascii_punct_after_tag(char c)
{
    return c == '.' || c == ',' || c == '!' || c == '?' || c == ';' || c == ':';
}

static enum vb_err strip_once(const char *text, size_t len, char **out, size_t *out_len)
{
    *out = NULL;
    char *o = vb_try_malloc(len + 1);
    if (!o)
        return VB_ERR_NOMEM;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t t = text[i] == '[' ? tts_tag_match(text + i, len - i, false) : 0;
        if (!t) {
            o[n++] = text[i++];
            continue;
        }
        i += t;
        /* Tidy the spaces the tag leaves behind: none before punctuation or the end, one
         * at most between words. */
        size_t j = i;
        while (j < len && (text[j] == ' ' || text[j] == '\t'))
            j++;
        bool next_punct = j == len || is_ascii_punct_after_tag(text[j]);
        if (next_punct || n == 0 || o[n - 1] == ' ')
            i = j;
        if (next_punct)
            while (n > 0 && (o[n - 1] == ' ' || o[n - 1] == '\t'))
                n--;
    }
    o[n] = '\0';
    *out = o;
    *out_len = n;
    return VB_OK;
}

enum vb_err tts_text_strip_tags(const char *text, size_t len, char **out, size_t *out_len)
{
    size_t n = 0;
    enum vb_err err = strip_once(text, len, out, &n);
    /* Removing "[laugh]" from "[la[laugh]ugh]" leaves a tag: repeat until none is left
     * (each pass removes at least 3 bytes). */
    while (!err && tts_text_has_tags(*out, n)) {
        char *again = NULL;
        err = strip_once(*out, n, &again, &n);
        vb_free(*out);
        *out = again;
    }
    if (out_len)
        *out_len = err ? 0 : n;
    return err;
}

/* ===== splitting ===== */

struct tts_split_params tts_split_default_params(void)
{
    return (struct tts_split_params){.max_bytes = TTS_CHUNK_MAX_BYTES,
                                     .min_bytes = TTS_CHUNK_MIN_BYTES};
}

struct splitter {
    struct tts_chunks *out;
    size_t cap;
    size_t max_bytes;
    char *norm; /* scratch: one normalised sentence */
};

static enum vb_err push(struct splitter *sp, const char *s, size_t len, enum tts_break brk)
{
    struct tts_chunks *c = sp->out;
    if (c->n == sp->cap) {
        size_t cap = sp->cap ? sp->cap * 2 : 16;
        struct tts_chunk *p = vb_try_realloc(c->items, cap * sizeof *p);
        if (!p)
            return VB_ERR_NOMEM;
        c->items = p;
        sp->cap = cap;
    }
    char *t = vb_try_malloc(len + 1);
    if (!t)
        return VB_ERR_NOMEM;
    memcpy(t, s, len);
    t[len] = '\0';
    c->items[c->n++] = (struct tts_chunk){.text = t, .len = len, .brk = brk};
    return VB_OK;
}

/* Copies s with white-space runs collapsed to one space and both ends trimmed. */
static size_t normalise(const char *s, size_t len, char *out)
{
    size_t n = 0;
    bool pending_space = false;
    for (size_t i = 0; i < len;) {
        size_t l;
        uint32_t c = decode(s + i, len - i, &l);
        if (is_space(c)) {
            pending_space = n > 0;
        } else {
            if (pending_space)
                out[n++] = ' ';
            pending_space = false;
            memcpy(out + n, s + i, l);
            n += l;
        }
        i += l;
    }
    return n;
}

/* true when a cut at byte b of s would fall inside a known tag. */
static bool inside_tag(const char *s, size_t len, size_t b)
{
    for (size_t k = b; k > 0 && b - k < TAG_MAX_LEN;) {
        k--;
        if (s[k] == ']')
            return false;
        if (s[k] == '[') {
            size_t t = tts_tag_match(s + k, len - k, false);
            return t && k + t > b;
        }
    }
    return false;
}

/* Splits one normalised sentence longer than max_bytes at clause punctuation, then spaces,
 * then character boundaries. */
static enum vb_err split_long(struct splitter *sp, const char *s, size_t len)
{
    size_t pos = 0, max = sp->max_bytes;
    while (len - pos > max) {
        size_t clause = 0, space = 0, hard = 0;
        for (size_t i = pos; i < pos + max;) {
            size_t l;
            uint32_t c = decode(s + i, len - i, &l);
            if (i + l > pos + max)
                break;
            bool wide;
            size_t b = i + l; /* boundary after this character */
            if (!inside_tag(s, len, b)) {
                hard = b;
                if (is_clause(c, &wide) && (wide || (b < len && s[b] == ' ')))
                    clause = b;
                if (c == ' ' && i > pos && !inside_tag(s, len, i))
                    space = i;
            }
            i = b;
        }
        size_t cut;
        enum tts_break brk;
        if (clause && clause - pos >= max / 3)
            cut = clause, brk = TTS_BREAK_CLAUSE;
        else if (space)
            cut = space, brk = TTS_BREAK_WORD;
        else if (clause)
            cut = clause, brk = TTS_BREAK_CLAUSE;
        else if (hard)
            cut = hard, brk = TTS_BREAK_HARD;
        else {
            /* Only inside-tag boundaries in the window (max_bytes below a tag's length):
             * cut at the last character boundary anyway. */
            size_t i = pos, l;
            while (i < pos + max) {
                (void)decode(s + i, len - i, &l);
                if (i + l > pos + max)
                    break;
                i += l;
            }
            cut = i > pos ? i : pos + 1, brk = TTS_BREAK_HARD;
        }
        size_t end = cut;
        while (end > pos && s[end - 1] == ' ')
            end--;
        if (end > pos) {
            enum vb_err err = push(sp, s + pos, end - pos, brk);
            if (err)
                return err;
        }
        pos = cut;
        while (pos < len && s[pos] == ' ')
            pos++;
    }
    return pos < len ? push(sp, s + pos, len - pos, TTS_BREAK_SENTENCE) : VB_OK;
}

static enum vb_err emit_sentence(struct splitter *sp, const char *s, size_t len)
{
    size_t n = normalise(s, len, sp->norm);
    if (n == 0)
        return VB_OK;
    if (n <= sp->max_bytes)
        return push(sp, sp->norm, n, TTS_BREAK_SENTENCE);
    return split_long(sp, sp->norm, n);
}

/* For a lone '.' at byte `dot`: true when it rather ends an abbreviation or an initial,
 * or the next word starts in lower case or with a digit. */
static bool dot_continues(const char *s, size_t len, size_t dot, size_t after)
{
    size_t w = dot;
    while (w > 0 && (isalpha((unsigned char)s[w - 1]) || s[w - 1] == '.') && dot - w < 8)
        w--;
    size_t wl = dot - w;
    if (wl == 1 && isalpha((unsigned char)s[w]))
        return true;
    for (size_t i = 0; wl > 0 && i < VB_ARRAY_LEN(abbreviations); i++)
        if (strlen(abbreviations[i]) == wl && strncasecmp(s + w, abbreviations[i], wl) == 0)
            return true;
    size_t j = after;
    while (j < len && (s[j] == ' ' || s[j] == '\t'))
        j++;
    return j < len && (islower((unsigned char)s[j]) || isdigit((unsigned char)s[j]));
}

static enum vb_err split_sentences(struct splitter *sp, const char *s, size_t len)
{
    size_t start = 0;
    enum vb_err err = VB_OK;
    for (size_t i = 0; i < len && !err;) {
        size_t l;
        uint32_t c = decode(s + i, len - i, &l);
        bool wide;
        if (is_space(c)) {
            /* A run of white space with two newlines is a paragraph break. */
            size_t j = i;
            int nl = 0;
            while (j < len) {
                uint32_t d = decode(s + j, len - j, &l);
                if (!is_space(d))
                    break;
                nl += newlines(d);
                j += l;
            }
            if (nl >= 2) {
                err = emit_sentence(sp, s + start, i - start);
                start = j;
            }
            i = j;
            continue;
        }
        if (!is_terminator(c, &wide)) {
            i += l;
            continue;
        }
        /* A run of terminators ("?!", "..."), then closing quotes and brackets. */
        size_t j = i + l, dots = c == '.';
        bool any_wide = wide;
        while (j < len) {
            uint32_t d = decode(s + j, len - j, &l);
            if (!is_terminator(d, &wide))
                break;
            any_wide |= wide;
            dots += d == '.';
            j += l;
        }
        size_t run_end = j;
        while (j < len) {
            uint32_t d = decode(s + j, len - j, &l);
            if (!is_closer(d))
                break;
            j += l;
        }
        bool at_gap = j == len || is_space(decode(s + j, len - j, &l));
        bool lone_dot = c == '.' && run_end == i + 1;
        if ((at_gap || any_wide) && !(lone_dot && dots == 1 && dot_continues(s, len, i, j))) {
            err = emit_sentence(sp, s + start, j - start);
            start = j;
        }
        i = j;
    }
    if (!err && start < len)
        err = emit_sentence(sp, s + start, len - start);
    return err;
}

/* Merges sentences shorter than min_bytes into the next one while the result fits. */
static enum vb_err merge_short(struct tts_chunks *c, size_t min_bytes, size_t max_bytes)
{
    size_t w = 0;
    for (size_t i = 0; i < c->n; i++) {
        struct tts_chunk cur = c->items[i];
        while (cur.len < min_bytes && i + 1 < c->n &&
               cur.len + 1 + c->items[i + 1].len <= max_bytes) {
            struct tts_chunk *nx = &c->items[i + 1];
            char *t = vb_try_realloc(cur.text, cur.len + 1 + nx->len + 1);
            if (!t) {
                c->items[i] = cur;
                /* compact what was merged so far so release frees everything once */
                for (size_t k = i; k < c->n; k++)
                    c->items[w++] = c->items[k];
                c->n = w;
                return VB_ERR_NOMEM;
            }
            t[cur.len] = ' ';
            memcpy(t + cur.len + 1, nx->text, nx->len + 1);
            cur.text = t;
            cur.len += 1 + nx->len;
            cur.brk = nx->brk;
            vb_free(nx->text);
            nx->text = NULL;
            i++;
        }
        c->items[w++] = cur;
    }
    c->n = w;
    return VB_OK;
}

enum vb_err tts_text_split(const char *text, size_t len, const struct tts_split_params *p,
                           struct tts_chunks *out)
{
    struct tts_split_params dp = tts_split_default_params();
    memset(out, 0, sizeof *out);
    if (!p)
        p = &dp;
    size_t max = p->max_bytes ? p->max_bytes : TTS_CHUNK_MAX_BYTES;
    if (max < TTS_CHUNK_MAX_BYTES_LO || (!text && len))
        return VB_ERR_INVALID;
    struct splitter sp = {.out = out, .max_bytes = max};
    enum vb_err err = VB_OK;
    if (len == 0)
        return VB_OK;
    sp.norm = vb_try_malloc(len + 1);
    if (!sp.norm)
        return VB_ERR_NOMEM;
    err = split_sentences(&sp, text, len);
    if (!err && p->min_bytes)
        err = merge_short(out, p->min_bytes, max);
    vb_free(sp.norm);
    if (err)
        tts_chunks_release(out);
    return err;
}

void tts_chunks_release(struct tts_chunks *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        vb_free(c->items[i].text);
    vb_free(c->items);
    memset(c, 0, sizeof *c);
}
