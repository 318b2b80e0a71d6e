/* json.c: strict RFC 8259 parser into a tree of struct vb_json, and the streaming writer
 * (vb_jw_*). Numbers are parsed and printed in the "C" locale whatever the process locale. */
#include "core/vb.h"
#include "core/json.h"
#include "core/unicode.h"
#include "core/alloc.h"
#include "core/crypto.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>

/* ===== "C" locale for strtod/snprintf ===== */

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void)
{
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* The "C" locale, or (locale_t)0 if it could not be created (then the global one is used). */
static locale_t get_c_locale(void)
{
    pthread_once(&c_locale_once, c_locale_init);
    return c_locale;
}

static double strtod_c(const char *s, char **end)
{
    locale_t loc = get_c_locale();
    return loc ? strtod_l(s, end, loc) : strtod(s, end);
}

/* ===== Parser ===== */

struct parser {
    const unsigned char *s;
    size_t len;
    size_t pos;
    enum vb_err err;
    char *why;
    size_t why_cap;
    int max_depth;
    size_t max_values; /* 0 = no cap */
    size_t n_values;
};

/* Records the first error with its offset; returns the error for convenience. */
static enum vb_err fail(struct parser *p, enum vb_err err, size_t at, const char *reason)
{
    if (p->err)
        return p->err;
    p->err = err;
    if (p->why && p->why_cap)
        snprintf(p->why, p->why_cap, "%s at offset %zu", reason, at);
    return err;
}

static void skip_ws(struct parser *p)
{
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

static struct vb_json *node_new(struct parser *p, enum vb_json_type type)
{
    if (p->max_values && p->n_values >= p->max_values) {
        char reason[64];
        snprintf(reason, sizeof reason, "more than %zu values", p->max_values);
        fail(p, VB_ERR_INVALID, p->pos, reason);
        return NULL;
    }
    p->n_values++;
    struct vb_json *j = vb_try_calloc(1, sizeof *j);
    if (!j) {
        fail(p, VB_ERR_NOMEM, p->pos, "out of memory");
        return NULL;
    }
    j->type = type;
    return j;
}

/* Reads the 4 hex digits after "\u" at p->pos; advances past them. */
static bool read_hex4(struct parser *p, uint32_t *out)
{
    if (p->len - p->pos < 4) {
        fail(p, VB_ERR_INVALID, p->pos, "truncated \\u escape");
        return false;
    }
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = vb_hex_digit(p->s[p->pos + (size_t)i]);
        if (h < 0) {
            fail(p, VB_ERR_INVALID, p->pos + (size_t)i, "invalid hex digit in \\u escape");
            return false;
        }
        v = (v << 4) | (uint32_t)h;
    }
    p->pos += 4;
    *out = v;
    return true;
}

/* Parses a string starting at the opening quote. On success *out is a new NUL-terminated
 * buffer (caller frees with vb_free) of *out_len bytes. */
static enum vb_err parse_string(struct parser *p, char **out, size_t *out_len)
{
    size_t start = p->pos;
    p->pos++; /* opening quote */
    /* First pass: find the closing quote to bound the output size (escapes only shrink). */
    size_t end = p->pos;
    while (end < p->len && p->s[end] != '"') {
        if (p->s[end] == '\\')
            end++;
        end++;
    }
    if (end >= p->len)
        return fail(p, VB_ERR_INVALID, start, "unterminated string");
    char *dst = vb_try_malloc(end - p->pos + 1);
    if (!dst)
        return fail(p, VB_ERR_NOMEM, start, "out of memory");
    size_t n = 0;
    while (p->pos < end) {
        unsigned char c = p->s[p->pos];
        if (c < 0x20) {
            fail(p, VB_ERR_INVALID, p->pos, "control character in string");
            goto bad;
        }
        if (c == '\\') {
            size_t esc_at = p->pos;
            p->pos++;
            unsigned char e = p->s[p->pos++];
            switch (e) {
            case '"':
                dst[n++] = '"';
                break;
            case '\\':
                dst[n++] = '\\';
                break;
            case '/':
                dst[n++] = '/';
                break;
            case 'b':
                dst[n++] = '\b';
                break;
            case 'f':
                dst[n++] = '\f';
                break;
            case 'n':
                dst[n++] = '\n';
                break;
            case 'r':
                dst[n++] = '\r';
                break;
            case 't':
                dst[n++] = '\t';
                break;
            case 'u': {
                uint32_t cp;
                if (!read_hex4(p, &cp))
                    goto bad;
                if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    fail(p, VB_ERR_INVALID, esc_at, "lone low surrogate in \\u escape");
                    goto bad;
                }
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    uint32_t lo;
                    if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
                        fail(p, VB_ERR_INVALID, esc_at, "lone high surrogate in \\u escape");
                        goto bad;
                    }
                    p->pos += 2;
                    if (!read_hex4(p, &lo))
                        goto bad;
                    if (lo < 0xDC00 || lo > 0xDFFF) {
                        fail(p, VB_ERR_INVALID, esc_at, "lone high surrogate in \\u escape");
                        goto bad;
                    }
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                /* 6 or 12 input bytes always cover the <= 4 output bytes. */
                n += (size_t)vb_utf8_encode(cp, dst + n);
                break;
            }
            default:
                fail(p, VB_ERR_INVALID, esc_at, "invalid escape in string");
                goto bad;
            }
            if (p->pos > end) { /* a \u escape ran over the closing quote */
                fail(p, VB_ERR_INVALID, esc_at, "invalid escape in string");
                goto bad;
            }
            continue;
        }
        size_t k = vb_utf8_valid_len(p->s + p->pos, end - p->pos);
        if (k == 0) {
            fail(p, VB_ERR_INVALID, p->pos, "invalid UTF-8 in string");
            goto bad;
        }
        memcpy(dst + n, p->s + p->pos, k);
        n += k;
        p->pos += k;
    }
    p->pos = end + 1; /* closing quote */
    dst[n] = '\0';
    *out = dst;
    *out_len = n;
    return VB_OK;
bad:
    vb_free(dst);
    return p->err;
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static enum vb_err parse_number(struct parser *p, struct vb_json *j)
{
    size_t start = p->pos, i = p->pos;
    bool integral = true;
    if (i < p->len && p->s[i] == '-')
        i++;
    if (i >= p->len || !is_digit(p->s[i]))
        return fail(p, VB_ERR_INVALID, i, "invalid number");
    if (p->s[i] == '0') {
        i++;
        if (i < p->len && is_digit(p->s[i]))
            return fail(p, VB_ERR_INVALID, i, "leading zero in number");
    } else {
        while (i < p->len && is_digit(p->s[i]))
            i++;
    }
    if (i < p->len && p->s[i] == '.') {
        integral = false;
        i++;
        if (i >= p->len || !is_digit(p->s[i]))
            return fail(p, VB_ERR_INVALID, i, "digit expected after decimal point");
        while (i < p->len && is_digit(p->s[i]))
            i++;
    }
    if (i < p->len && (p->s[i] == 'e' || p->s[i] == 'E')) {
        integral = false;
        i++;
        if (i < p->len && (p->s[i] == '+' || p->s[i] == '-'))
            i++;
        if (i >= p->len || !is_digit(p->s[i]))
            return fail(p, VB_ERR_INVALID, i, "digit expected in exponent");
        while (i < p->len && is_digit(p->s[i]))
            i++;
    }
    /* The grammar is checked; copy to a NUL-terminated buffer for strtod/strtoll. */
    size_t n = i - start;
    char small[64];
    char *tmp = small;
    if (n >= sizeof small) {
        tmp = vb_try_malloc(n + 1);
        if (!tmp)
            return fail(p, VB_ERR_NOMEM, start, "out of memory");
    }
    memcpy(tmp, p->s + start, n);
    tmp[n] = '\0';
    errno = 0;
    double d = strtod_c(tmp, NULL);
    if (isinf(d)) {
        if (tmp != small)
            vb_free(tmp);
        return fail(p, VB_ERR_INVALID, start, "number out of range");
    }
    j->number = d;
    if (integral) {
        errno = 0;
        long long v = strtoll(tmp, NULL, 10);
        if (errno == 0) {
            j->is_integer = true;
            j->integer = (int64_t)v;
        }
    }
    if (tmp != small)
        vb_free(tmp);
    p->pos = i;
    return VB_OK;
}

static bool match_word(struct parser *p, const char *word)
{
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return false;
    p->pos += n;
    return true;
}

static struct vb_json *parse_value(struct parser *p, int depth);

/* Parses an array or object; p->pos is at '[' or '{'. */
static struct vb_json *parse_container(struct parser *p, int depth, bool is_object)
{
    size_t open_at = p->pos;
    if (depth >= p->max_depth) {
        fail(p, VB_ERR_INVALID, open_at, "nesting too deep");
        return NULL;
    }
    struct vb_json *j = node_new(p, is_object ? VB_JSON_OBJECT : VB_JSON_ARRAY);
    if (!j)
        return NULL;
    char close = is_object ? '}' : ']';
    struct vb_json **tail = &j->child;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        return j;
    }
    for (;;) {
        char *key = NULL;
        if (is_object) {
            size_t key_len = 0;
            if (p->pos >= p->len || p->s[p->pos] != '"') {
                fail(p, VB_ERR_INVALID, p->pos, "member name expected");
                goto bad;
            }
            size_t key_at = p->pos;
            if (parse_string(p, &key, &key_len))
                goto bad;
            if (strlen(key) != key_len) {
                vb_free(key);
                fail(p, VB_ERR_INVALID, key_at, "NUL character in member name");
                goto bad;
            }
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') {
                vb_free(key);
                fail(p, VB_ERR_INVALID, p->pos, "':' expected");
                goto bad;
            }
            p->pos++;
            skip_ws(p);
        }
        struct vb_json *v = parse_value(p, depth + 1);
        if (!v) {
            vb_free(key);
            goto bad;
        }
        v->key = key;
        *tail = v;
        tail = &v->next;
        j->count++;
        skip_ws(p);
        if (p->pos >= p->len) {
            fail(p, VB_ERR_INVALID, p->pos,
                 is_object ? "unterminated object" : "unterminated array");
            goto bad;
        }
        if (p->s[p->pos] == ',') {
            p->pos++;
            skip_ws(p);
            continue;
        }
        if (p->s[p->pos] == close) {
            p->pos++;
            return j;
        }
        fail(p, VB_ERR_INVALID, p->pos, is_object ? "',' or '}' expected" : "',' or ']' expected");
        goto bad;
    }
bad:
    vb_json_free(j);
    return NULL;
}

static struct vb_json *parse_value(struct parser *p, int depth)
{
    struct vb_json *j = NULL;
    if (p->pos >= p->len) {
        fail(p, VB_ERR_INVALID, p->pos, "unexpected end of input");
        return NULL;
    }
    unsigned char c = p->s[p->pos];
    switch (c) {
    case '{':
        return parse_container(p, depth, true);
    case '[':
        return parse_container(p, depth, false);
    case '"':
        j = node_new(p, VB_JSON_STRING);
        if (j && parse_string(p, &j->string, &j->string_len)) {
            vb_free(j);
            return NULL;
        }
        return j;
    case 't':
    case 'f':
    case 'n': {
        size_t at = p->pos;
        if (match_word(p, "true") || match_word(p, "false")) {
            j = node_new(p, VB_JSON_BOOL);
            if (j)
                j->boolean = c == 't';
            return j;
        }
        if (match_word(p, "null"))
            return node_new(p, VB_JSON_NULL);
        fail(p, VB_ERR_INVALID, at, "invalid literal");
        return NULL;
    }
    default:
        if (c == '-' || is_digit(c)) {
            j = node_new(p, VB_JSON_NUMBER);
            if (j && parse_number(p, j)) {
                vb_free(j);
                return NULL;
            }
            return j;
        }
        fail(p, VB_ERR_INVALID, p->pos, "unexpected character");
        return NULL;
    }
}

enum vb_err vb_json_parse(const char *text, size_t len, struct vb_json **out, char *why,
                          size_t why_cap)
{
    return vb_json_parse_limited(text, len, NULL, out, why, why_cap);
}

enum vb_err vb_json_parse_limited(const char *text, size_t len, const struct vb_json_limits *lim,
                                  struct vb_json **out, char *why, size_t why_cap)
{
    struct parser p = {.s = (const unsigned char *)text,
                       .len = text ? len : 0,
                       .why = why,
                       .why_cap = why_cap,
                       .max_depth = VB_JSON_MAX_DEPTH};
    if (lim && lim->max_depth > 0 && lim->max_depth < VB_JSON_MAX_DEPTH)
        p.max_depth = lim->max_depth;
    if (lim)
        p.max_values = lim->max_values;
    if (why && why_cap)
        why[0] = '\0';
    if (out)
        *out = NULL;
    if (!out)
        return fail(&p, VB_ERR_INVALID, 0, "no output");
    skip_ws(&p);
    struct vb_json *j = parse_value(&p, 0);
    if (!j)
        return p.err ? p.err : VB_ERR_INVALID;
    skip_ws(&p);
    if (p.pos != p.len) {
        vb_json_free(j);
        return fail(&p, VB_ERR_INVALID, p.pos, "trailing characters after JSON value");
    }
    *out = j;
    return VB_OK;
}

void vb_json_free(struct vb_json *j)
{
    while (j) {
        struct vb_json *next = j->next;
        vb_json_free(j->child); /* recursion bounded by VB_JSON_MAX_DEPTH */
        vb_free(j->string);
        vb_free(j->key);
        vb_free(j);
        j = next;
    }
}

const struct vb_json *vb_json_get(const struct vb_json *j, const char *key)
{
    const struct vb_json *found = NULL;
    if (!j || !key || j->type != VB_JSON_OBJECT)
        return NULL;
    for (const struct vb_json *c = j->child; c; c = c->next)
        if (c->key && strcmp(c->key, key) == 0)
            found = c;
    return found;
}

const char *vb_json_get_str(const struct vb_json *j, const char *key)
{
    const struct vb_json *v = vb_json_get(j, key);
    return v && v->type == VB_JSON_STRING ? v->string : NULL;
}

bool vb_json_get_int(const struct vb_json *j, const char *key, int64_t *out)
{
    const struct vb_json *v = vb_json_get(j, key);
    if (!v || v->type != VB_JSON_NUMBER || !v->is_integer)
        return false;
    *out = v->integer;
    return true;
}

bool vb_json_get_bool(const struct vb_json *j, const char *key, bool *out)
{
    const struct vb_json *v = vb_json_get(j, key);
    if (!v || v->type != VB_JSON_BOOL)
        return false;
    *out = v->boolean;
    return true;
}

const char *vb_json_type_name(enum vb_json_type t)
{
    switch (t) {
    case VB_JSON_NULL:
        return "null";
    case VB_JSON_BOOL:
        return "boolean";
    case VB_JSON_NUMBER:
        return "number";
    case VB_JSON_STRING:
        return "string";
    case VB_JSON_ARRAY:
        return "array";
    case VB_JSON_OBJECT:
        return "object";
    }
    return "unknown";
}

/* ===== Writer ===== */

enum vb_err vb_json_quote(struct vb_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)(s ? s : "");
    if (!s)
        len = 0;
    enum vb_err err = vb_buf_putc(b, '"');
    size_t i = 0;
    while (!err && i < len) {
        /* Copy the longest run that needs no escaping in one append. */
        size_t run = i;
        while (run < len && u[run] >= 0x20 && u[run] < 0x80 && u[run] != '"' && u[run] != '\\')
            run++;
        if (run > i) {
            err = vb_buf_append(b, u + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = u[i];
        if (c >= 0x80) {
            size_t k = vb_utf8_valid_len(u + i, len - i);
            if (k) {
                err = vb_buf_append(b, u + i, k);
                i += k;
            } else {
                err = vb_buf_append(b, "\xEF\xBF\xBD", 3); /* U+FFFD for each bad byte */
                i++;
            }
            continue;
        }
        char esc[7] = {'\\', 0, 0, 0, 0, 0, 0};
        size_t n = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        err = vb_buf_append(b, esc, n);
        i++;
    }
    if (!err)
        err = vb_buf_putc(b, '"');
    return err;
}

void vb_jw_init(struct vb_jw *w, struct vb_buf *buf)
{
    memset(w, 0, sizeof *w);
    w->buf = buf;
    w->err = buf ? VB_OK : VB_ERR_INTERNAL;
    w->first[0] = true;
}

static void set_err(struct vb_jw *w, enum vb_err err)
{
    if (!w->err && err)
        w->err = err;
}

/* Writes the separator before a value; false if the writer is in error. */
static bool before_value(struct vb_jw *w)
{
    if (w->err)
        return false;
    if (w->after_key) {
        w->after_key = false;
        return true;
    }
    if (w->depth == 0) {
        if (!w->first[0]) { /* a second top-level value */
            set_err(w, VB_ERR_INTERNAL);
            return false;
        }
        w->first[0] = false;
        return true;
    }
    if (!w->first[w->depth])
        set_err(w, vb_buf_putc(w->buf, ','));
    w->first[w->depth] = false;
    return !w->err;
}

static void put(struct vb_jw *w, const char *s, size_t n)
{
    if (!w->err)
        set_err(w, vb_buf_append(w->buf, s, n));
}

static void open_container(struct vb_jw *w, char c)
{
    if (!before_value(w))
        return;
    if (w->depth >= VB_JSON_MAX_DEPTH) {
        set_err(w, VB_ERR_TOO_LARGE);
        return;
    }
    put(w, &c, 1);
    w->depth++;
    w->first[w->depth] = true;
}

static void close_container(struct vb_jw *w, char c)
{
    if (w->err)
        return;
    if (w->depth <= 0 || w->after_key) {
        set_err(w, VB_ERR_INTERNAL);
        return;
    }
    put(w, &c, 1);
    w->depth--;
}

void vb_jw_obj_begin(struct vb_jw *w)
{
    open_container(w, '{');
}

void vb_jw_obj_end(struct vb_jw *w)
{
    close_container(w, '}');
}

void vb_jw_arr_begin(struct vb_jw *w)
{
    open_container(w, '[');
}

void vb_jw_arr_end(struct vb_jw *w)
{
    close_container(w, ']');
}

void vb_jw_key(struct vb_jw *w, const char *key)
{
    if (w->err)
        return;
    if (!key || w->depth == 0 || w->after_key) {
        set_err(w, VB_ERR_INTERNAL);
        return;
    }
    if (!w->first[w->depth])
        put(w, ",", 1);
    w->first[w->depth] = false;
    if (!w->err)
        set_err(w, vb_json_quote(w->buf, key, strlen(key)));
    put(w, ":", 1);
    w->after_key = !w->err;
}

void vb_jw_str(struct vb_jw *w, const char *s)
{
    if (!s) {
        vb_jw_null(w);
        return;
    }
    vb_jw_strn(w, s, strlen(s));
}

void vb_jw_strn(struct vb_jw *w, const char *s, size_t len)
{
    if (before_value(w))
        set_err(w, vb_json_quote(w->buf, s, len));
}

void vb_jw_int(struct vb_jw *w, int64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%lld", (long long)v);
    if (before_value(w))
        put(w, tmp, (size_t)n);
}

/* Shortest of %.15g / %.17g that reads back as exactly v, in the "C" locale. */
static int format_double(double v, char *out, size_t cap)
{
    locale_t loc = get_c_locale();
    locale_t old = loc ? uselocale(loc) : (locale_t)0;
    int n = snprintf(out, cap, "%.15g", v);
    if (strtod_c(out, NULL) != v)
        n = snprintf(out, cap, "%.17g", v);
    if (loc)
        uselocale(old);
    return n;
}

void vb_jw_double(struct vb_jw *w, double v)
{
    if (!isfinite(v)) {
        vb_jw_null(w);
        return;
    }
    char tmp[40];
    /* "-0" would read back as the integer 0; "-0.0" keeps the sign through a round trip. */
    int n = v == 0 && signbit(v) ? snprintf(tmp, sizeof tmp, "-0.0")
                                 : format_double(v, tmp, sizeof tmp);
    if (before_value(w)) {
        if (n <= 0 || (size_t)n >= sizeof tmp)
            set_err(w, VB_ERR_INTERNAL);
        else
            put(w, tmp, (size_t)n);
    }
}

void vb_jw_bool(struct vb_jw *w, bool v)
{
    if (before_value(w))
        put(w, v ? "true" : "false", v ? 4 : 5);
}

void vb_jw_null(struct vb_jw *w)
{
    if (before_value(w))
        put(w, "null", 4);
}

void vb_jw_raw(struct vb_jw *w, const char *json, size_t len)
{
    if (!json || !len) {
        set_err(w, VB_ERR_INTERNAL);
        return;
    }
    if (before_value(w))
        put(w, json, len);
}

void vb_jw_kstr(struct vb_jw *w, const char *key, const char *s)
{
    vb_jw_key(w, key);
    vb_jw_str(w, s);
}

void vb_jw_kint(struct vb_jw *w, const char *key, int64_t v)
{
    vb_jw_key(w, key);
    vb_jw_int(w, v);
}

void vb_jw_kdouble(struct vb_jw *w, const char *key, double v)
{
    vb_jw_key(w, key);
    vb_jw_double(w, v);
}

void vb_jw_kbool(struct vb_jw *w, const char *key, bool v)
{
    vb_jw_key(w, key);
    vb_jw_bool(w, v);
}

void vb_jw_value(struct vb_jw *w, const struct vb_json *j)
{
    if (!j) {
        vb_jw_null(w);
        return;
    }
    switch (j->type) {
    case VB_JSON_NULL:
        vb_jw_null(w);
        break;
    case VB_JSON_BOOL:
        vb_jw_bool(w, j->boolean);
        break;
    case VB_JSON_NUMBER:
        if (j->is_integer)
            vb_jw_int(w, j->integer);
        else
            vb_jw_double(w, j->number);
        break;
    case VB_JSON_STRING:
        vb_jw_strn(w, j->string, j->string_len);
        break;
    case VB_JSON_ARRAY:
    case VB_JSON_OBJECT: {
        bool obj = j->type == VB_JSON_OBJECT;
        if (obj)
            vb_jw_obj_begin(w);
        else
            vb_jw_arr_begin(w);
        for (const struct vb_json *c = j->child; c && !w->err; c = c->next) {
            if (obj)
                vb_jw_key(w, c->key ? c->key : "");
            vb_jw_value(w, c);
        }
        if (obj)
            vb_jw_obj_end(w);
        else
            vb_jw_arr_end(w);
        break;
    }
    }
}

enum vb_err vb_jw_finish(struct vb_jw *w)
{
    if (!w->err && (w->depth != 0 || w->after_key))
        w->err = VB_ERR_INTERNAL; /* unbalanced begin/end */
    return w->err;
}
