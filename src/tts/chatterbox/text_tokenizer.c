/* text_tokenizer.c: Chatterbox-Turbo punc_norm and the GPT-2 byte-level BPE tokenizer with
 * the added paralinguistic tags (spec §2). */
#include "core/vb.h"
#include "core/err.h"
#include "tts/chatterbox/text_tokenizer.h"
#include "core/alloc.h"
#include "core/fsutil.h"
#include "core/json.h"
#include "core/strmap.h"
#include "core/unicode.h"
#include "nn/bpe.h"

/* ===== tokenizer ===== */

struct tag {
    const char *s;
    size_t len;
    int32_t id;
};

struct cb_text_tokenizer {
    char *arena; /* NUL-separated copies of every token/merge string */
    size_t arena_len, arena_cap;
    struct vb_strmap vocab;  /* token text -> id */
    struct vb_strmap merges; /* "left right" -> rank */
    const char **id_str;     /* id -> text (NULL for holes) */
    int32_t n_vocab;
    struct tag *tags;
    size_t n_tags;
};

/* Copies s into the arena; offsets stay valid because the arena is sized before filling. */
static const char *arena_add(struct cb_text_tokenizer *tk, const char *s, size_t len)
{
    if (tk->arena_len + len + 1 > tk->arena_cap)
        return NULL;
    char *p = tk->arena + tk->arena_len;
    memcpy(p, s, len);
    p[len] = '\0';
    tk->arena_len += len + 1;
    return p;
}

void cb_text_tokenizer_free(struct cb_text_tokenizer *tk)
{
    if (!tk)
        return;
    vb_free(tk->arena);
    vb_strmap_release(&tk->vocab);
    vb_strmap_release(&tk->merges);
    vb_free(tk->id_str);
    vb_free(tk->tags);
    vb_free(tk);
}

/* Adds every member {"text": id} of a JSON object to the vocabulary. */
static enum vb_err add_vocab_object(struct cb_text_tokenizer *tk, const struct vb_json *obj,
                                    const char *what, bool tags, char *why, size_t cap)
{
    if (!obj || obj->type != VB_JSON_OBJECT)
        return vb_failf(why, cap, VB_ERR_FORMAT, "%s: not a JSON object", what);
    for (const struct vb_json *e = obj->child; e; e = e->next) {
        size_t klen = strlen(e->key);
        if (e->type != VB_JSON_NUMBER || !e->is_integer || e->integer < 0 ||
            e->integer >= INT32_MAX / 2)
            return vb_failf(why, cap, VB_ERR_FORMAT, "%s: bad id for \"%.40s\"", what, e->key);
        if (klen == 0)
            return vb_failf(why, cap, VB_ERR_FORMAT, "%s: empty token", what);
        const char *s = arena_add(tk, e->key, klen);
        if (!s)
            return VB_ERR_NOMEM;
        if (!vb_strmap_put(&tk->vocab, s, klen, (int32_t)e->integer)) {
            int32_t old = vb_strmap_get(&tk->vocab, s, klen);
            if (old != (int32_t)e->integer)
                return vb_failf(why, cap, VB_ERR_FORMAT, "%s: token \"%.40s\" has two ids", what,
                                e->key);
        }
        if (tags) {
            tk->tags[tk->n_tags++] = (struct tag){s, klen, (int32_t)e->integer};
        }
    }
    return VB_OK;
}

enum vb_err cb_text_tokenizer_load_memory(const char *vocab_json, size_t vocab_len,
                                          const char *merges, size_t merges_len,
                                          const char *added_json, size_t added_len,
                                          struct cb_text_tokenizer **out, char *why, size_t why_cap)
{
    *out = NULL;
    struct vb_json *vj = NULL, *aj = NULL;
    struct cb_text_tokenizer *tk = vb_xcalloc(1, sizeof *tk);
    char jwhy[128] = "";
    enum vb_err err;
    if (vb_json_parse(vocab_json, vocab_len, &vj, jwhy, sizeof jwhy) != VB_OK) {
        err = vb_failf(why, why_cap, VB_ERR_FORMAT, "vocab.json: %s", jwhy);
        goto out;
    }
    if (added_json && vb_json_parse(added_json, added_len, &aj, jwhy, sizeof jwhy) != VB_OK) {
        err = vb_failf(why, why_cap, VB_ERR_FORMAT, "added_tokens.json: %s", jwhy);
        goto out;
    }
    size_t n_vocab = vj->count, n_added = aj ? aj->count : 0, n_lines = 0;
    for (size_t i = 0; i < merges_len; i++)
        n_lines += merges[i] == '\n';
    n_lines++;
    /* arena: every key once plus every merge line, with terminators */
    tk->arena_cap = vocab_len + added_len + merges_len + n_lines + 16;
    tk->arena = vb_try_malloc(tk->arena_cap);
    tk->tags = vb_try_calloc(n_added + 1, sizeof *tk->tags);
    if (!tk->arena || !tk->tags || !vb_strmap_init(&tk->vocab, n_vocab + n_added) ||
        !vb_strmap_init(&tk->merges, n_lines)) {
        err = vb_failf(why, why_cap, VB_ERR_NOMEM, "tokenizer: out of memory");
        goto out;
    }
    if ((err = add_vocab_object(tk, vj, "vocab.json", false, why, why_cap)) != VB_OK ||
        (aj && (err = add_vocab_object(tk, aj, "added_tokens.json", true, why, why_cap)) != VB_OK))
        goto out;
    /* id -> text */
    int32_t max_id = -1;
    for (size_t i = 0; i < tk->vocab.cap; i++)
        if (tk->vocab.e[i].s && tk->vocab.e[i].val > max_id)
            max_id = tk->vocab.e[i].val;
    tk->n_vocab = max_id + 1;
    tk->id_str = vb_try_calloc((size_t)tk->n_vocab + 1, sizeof *tk->id_str);
    if (!tk->id_str) {
        err = vb_failf(why, why_cap, VB_ERR_NOMEM, "tokenizer: out of memory");
        goto out;
    }
    for (size_t i = 0; i < tk->vocab.cap; i++) {
        const struct vb_strmap_entry *e = &tk->vocab.e[i];
        if (!e->s)
            continue;
        if (tk->id_str[e->val]) {
            err = vb_failf(why, why_cap, VB_ERR_FORMAT, "tokenizer: id %d used twice", (int)e->val);
            goto out;
        }
        tk->id_str[e->val] = e->s;
    }
    /* byte-level alphabet: every byte's symbol must be a token */
    for (int b = 0; b < 256; b++) {
        char c = (char)b, u[2];
        size_t l = bpe_to_alphabet(&c, 1, u);
        if (vb_strmap_get(&tk->vocab, u, l) < 0) {
            err = vb_failf(why, why_cap, VB_ERR_FORMAT, "vocab.json: no token for byte 0x%02x", b);
            goto out;
        }
    }
    /* merges: "#version" header, then "left right" per line; rank = order; every merge
     * result must be a token (so BPE never produces an unknown symbol) */
    int32_t rank = 0;
    size_t line_no = 0;
    for (size_t i = 0; i < merges_len;) {
        size_t j = i;
        while (j < merges_len && merges[j] != '\n')
            j++;
        size_t end = j;
        if (end > i && merges[end - 1] == '\r')
            end--;
        line_no++;
        const char *line = merges + i;
        size_t len = end - i;
        i = j + 1;
        if (len == 0 || (line_no == 1 && line[0] == '#'))
            continue;
        const char *sp = memchr(line, ' ', len);
        if (!sp || sp == line || sp == line + len - 1 ||
            memchr(sp + 1, ' ', len - (size_t)(sp + 1 - line))) {
            err = vb_failf(why, why_cap, VB_ERR_FORMAT, "merges.txt: line %zu is not \"a b\"",
                           line_no);
            goto out;
        }
        char joined[512];
        size_t ll = (size_t)(sp - line), rl = len - ll - 1;
        if (ll + rl >= sizeof joined) {
            err = vb_failf(why, why_cap, VB_ERR_FORMAT, "merges.txt: line %zu too long", line_no);
            goto out;
        }
        memcpy(joined, line, ll);
        memcpy(joined + ll, sp + 1, rl);
        if (vb_strmap_get(&tk->vocab, joined, ll + rl) < 0) {
            err = vb_failf(why, why_cap, VB_ERR_FORMAT,
                           "merges.txt: line %zu merges into a token missing from vocab.json",
                           line_no);
            goto out;
        }
        const char *s = arena_add(tk, line, len);
        if (!s) {
            err = VB_ERR_NOMEM;
            goto out;
        }
        vb_strmap_put(&tk->merges, s, len, rank++); /* a repeated merge keeps its first rank */
    }
    err = VB_OK;
    *out = tk;
out:
    vb_json_free(vj);
    vb_json_free(aj);
    if (err != VB_OK)
        cb_text_tokenizer_free(tk);
    return err;
}

static enum vb_err read_file(const char *path, char **data, size_t *len, char *why, size_t cap)
{
    enum vb_err err = vb_file_read_all(path, CB_TEXT_FILE_MAX, data, len);
    if (err == VB_ERR_TOO_LARGE)
        return vb_failf(why, cap, err, "%s: larger than %zu bytes", path, CB_TEXT_FILE_MAX);
    if (err != VB_OK)
        return vb_failf(why, cap, err, "%s: %s", path,
                        err == VB_ERR_NOT_FOUND ? "no such file" : vb_err_message(err));
    return VB_OK;
}

enum vb_err cb_text_tokenizer_load_files(const char *vocab_path, const char *merges_path,
                                         const char *added_path, struct cb_text_tokenizer **out,
                                         char *why, size_t why_cap)
{
    *out = NULL;
    char *v = NULL, *m = NULL, *a = NULL;
    size_t vl = 0, ml = 0, al = 0;
    enum vb_err err = read_file(vocab_path, &v, &vl, why, why_cap);
    if (err == VB_OK)
        err = read_file(merges_path, &m, &ml, why, why_cap);
    if (err == VB_OK && added_path)
        err = read_file(added_path, &a, &al, why, why_cap);
    if (err == VB_OK)
        err = cb_text_tokenizer_load_memory(v, vl, m, ml, a, al, out, why, why_cap);
    vb_free(v);
    vb_free(m);
    vb_free(a);
    return err;
}

enum vb_err cb_text_tokenizer_load(const char *dir, struct cb_text_tokenizer **out, char *why,
                                   size_t why_cap)
{
    char v[4096], m[4096], a[4096];
    snprintf(v, sizeof v, "%s/vocab.json", dir);
    snprintf(m, sizeof m, "%s/merges.txt", dir);
    snprintf(a, sizeof a, "%s/added_tokens.json", dir);
    return cb_text_tokenizer_load_files(v, m, a, out, why, why_cap);
}

int32_t cb_text_tokenizer_n_vocab(const struct cb_text_tokenizer *tk)
{
    return tk->n_vocab;
}

int32_t cb_text_token_id(const struct cb_text_tokenizer *tk, const char *s, size_t len)
{
    return vb_strmap_get(&tk->vocab, s, len);
}

const char *cb_text_token_str(const struct cb_text_tokenizer *tk, int32_t id)
{
    return id >= 0 && id < tk->n_vocab ? tk->id_str[id] : NULL;
}

/* The paralinguistic tags of added_tokens.json (spec §2.2): ids 50257 + index. */
static const char *const k_tags[] = {
    "[angry]",        "[fear]",      "[surprised]", "[whispering]", "[advertisement]",
    "[dramatic]",     "[narration]", "[crying]",    "[happy]",      "[sarcastic]",
    "[clear throat]", "[sigh]",      "[shush]",     "[cough]",      "[groan]",
    "[sniff]",        "[gasp]",      "[chuckle]",   "[laugh]",
};

static enum vb_err write_one(const char *dir, const char *name, const struct vb_buf *b, char *why,
                             size_t cap)
{
    (void)vb_file_remove(dir, name);
    enum vb_err err = vb_file_write_atomic(dir, name, vb_buf_str(b), b->len);
    if (err != VB_OK)
        return vb_failf(why, cap, err, "%s/%s: cannot write", dir, name);
    return VB_OK;
}

enum vb_err cb_text_tokenizer_write_minimal(const char *dir, char *why, size_t why_cap)
{
    struct vb_buf b;
    vb_buf_init(&b, 1 << 20);
    struct vb_jw w;
    /* GPT-2's ids 0..255 are the byte symbols in bytes_to_unicode order: the printable bytes
     * first (33..126, 161..172, 174..255), then the others */
    vb_jw_init(&w, &b);
    vb_jw_obj_begin(&w);
    int id = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int c = 0; c < 256; c++) {
            bool printable = (c >= 33 && c <= 126) || (c >= 161 && c <= 172) || c >= 174;
            if (printable != (pass == 0))
                continue;
            char u[4], key[8];
            int l = vb_utf8_encode(vb_byte_to_cp((uint8_t)c), u);
            memcpy(key, u, (size_t)l);
            key[l] = '\0';
            vb_jw_kint(&w, key, id++);
        }
    vb_jw_kint(&w, "<|endoftext|>", 50256);
    vb_jw_obj_end(&w);
    enum vb_err err = vb_jw_finish(&w);
    if (err == VB_OK)
        err = write_one(dir, "vocab.json", &b, why, why_cap);
    vb_buf_reset(&b);
    if (err == VB_OK && (err = vb_buf_puts(&b, "#version: 0.2\n")) == VB_OK)
        err = write_one(dir, "merges.txt", &b, why, why_cap);
    vb_buf_reset(&b);
    if (err == VB_OK) {
        vb_jw_init(&w, &b);
        vb_jw_obj_begin(&w);
        for (size_t i = 0; i < VB_ARRAY_LEN(k_tags); i++)
            vb_jw_kint(&w, k_tags[i], 50257 + (int64_t)i);
        vb_jw_obj_end(&w);
        err = vb_jw_finish(&w);
        if (err == VB_OK)
            err = write_one(dir, "added_tokens.json", &b, why, why_cap);
    }
    vb_buf_release(&b);
    return err;
}

/* ===== UTF-8 ===== */

/* Decodes the code point at s[i] (well-formed UTF-8, no overlongs or surrogates); an invalid
 * byte decodes as U+FFFD of length 1. Returns the byte length. */
static size_t utf8_next(const char *str, size_t len, size_t i, uint32_t *cp)
{
    const uint8_t *s = (const uint8_t *)str;
    uint8_t c = s[i];
    *cp = LLM_UNICODE_REPLACEMENT;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t n;
    uint32_t v, min;
    if ((c & 0xE0) == 0xC0) {
        n = 2, v = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3, v = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 1;
    }
    if (i + n > len)
        return 1;
    for (size_t k = 1; k < n; k++) {
        if ((s[i + k] & 0xC0) != 0x80)
            return 1;
        v = (v << 6) | (s[i + k] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 1;
    *cp = v;
    return n;
}

/* ===== GPT-2 pre-tokenizer =====
 * 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */

enum cls { CLS_LETTER, CLS_NUMBER, CLS_SPACE, CLS_OTHER };

static enum cls classify(uint32_t cp)
{
    if (vb_unicode_is_space(cp))
        return CLS_SPACE;
    if (vb_unicode_is_letter(cp))
        return CLS_LETTER;
    if (vb_unicode_is_number(cp))
        return CLS_NUMBER;
    return CLS_OTHER;
}

/* Length in bytes of the pre-token starting at s[i] (> 0). */
static size_t pretoken_len(const char *s, size_t len, size_t i)
{
    uint32_t cp;
    utf8_next(s, len, i, &cp);
    enum cls c0 = classify(cp);
    /* contractions */
    if (s[i] == '\'' && i + 1 < len) {
        static const char *const con[] = {"s", "t", "re", "ve", "m", "ll", "d"};
        for (size_t k = 0; k < VB_ARRAY_LEN(con); k++) {
            size_t cl = strlen(con[k]);
            if (i + 1 + cl <= len && memcmp(s + i + 1, con[k], cl) == 0)
                return 1 + cl;
        }
    }
    /* optional leading space, then a run of one class (letters, numbers or other) */
    size_t j = i;
    enum cls want = c0;
    if (s[i] == ' ' && i + 1 < len) {
        uint32_t cp1;
        utf8_next(s, len, i + 1, &cp1);
        enum cls c1 = classify(cp1);
        if (c1 != CLS_SPACE) {
            want = c1;
            j = i + 1;
        }
    }
    if (want != CLS_SPACE) {
        while (j < len) {
            size_t l = utf8_next(s, len, j, &cp);
            if (classify(cp) != want)
                break;
            j += l;
        }
        return j - i;
    }
    /* whitespace: \s+(?!\S) leaves the last space before a non-space; else \s+ */
    size_t last = i; /* start of the last whitespace char of the run */
    j = i;
    while (j < len) {
        size_t l = utf8_next(s, len, j, &cp);
        if (classify(cp) != CLS_SPACE)
            break;
        last = j;
        j += l;
    }
    if (j < len && last > i)
        return last - i;
    return j - i;
}

/* ===== BPE ===== */

struct scratch {
    char *word; /* byte-level mapped UTF-8 of the pre-token */
    size_t word_cap;
    struct bpe_work bpe;
};

struct ids {
    int32_t *v;
    size_t n, cap, max;
    bool truncated;
};

static bool ids_push(struct ids *o, int32_t id)
{
    if (o->max && o->n >= o->max) {
        o->truncated = true;
        return true;
    }
    if (!vb_try_grow((void **)&o->v, &o->cap, o->n + 1, sizeof *o->v))
        return false;
    o->v[o->n++] = id;
    return true;
}

/* Byte-level BPE of one pre-token (the reference merge loop: every occurrence of the
 * lowest-ranked pair, left to right, until no pair has a rank). */
static enum vb_err bpe_word(const struct cb_text_tokenizer *tk, struct scratch *w, const char *s,
                            size_t len, struct ids *o)
{
    if (!vb_try_grow((void **)&w->word, &w->word_cap, len * 2 + 1, 1))
        return VB_ERR_NOMEM;
    size_t wl = bpe_to_alphabet(s, len, w->word);
    if (!bpe_merge(&w->bpe, &tk->merges, BPE_LOWEST_ALL, w->word, wl))
        return VB_ERR_NOMEM;
    for (int32_t i = wl ? 0 : -1; i >= 0; i = w->bpe.syms[i].next) {
        const struct bpe_sym *sym = &w->bpe.syms[i];
        int32_t id = vb_strmap_get(&tk->vocab, w->word + sym->start, (size_t)sym->len);
        if (id < 0)
            return VB_ERR_INTERNAL; /* impossible: load checked bytes and merge results */
        if (!ids_push(o, id))
            return VB_ERR_NOMEM;
    }
    return VB_OK;
}

/* GPT-2 BPE of a text segment without tags. */
static enum vb_err encode_plain(const struct cb_text_tokenizer *tk, struct scratch *w,
                                const char *s, size_t len, struct ids *o)
{
    for (size_t i = 0; i < len && !o->truncated;) {
        size_t l = pretoken_len(s, len, i);
        enum vb_err err = bpe_word(tk, w, s + i, l, o);
        if (err != VB_OK)
            return err;
        i += l;
    }
    return VB_OK;
}

/* Longest tag starting at s[i], or NULL. */
static const struct tag *tag_at(const struct cb_text_tokenizer *tk, const char *s, size_t len,
                                size_t i)
{
    const struct tag *best = NULL;
    for (size_t k = 0; k < tk->n_tags; k++) {
        const struct tag *t = &tk->tags[k];
        if (t->len <= len - i && memcmp(s + i, t->s, t->len) == 0 && (!best || t->len > best->len))
            best = t;
    }
    return best;
}

enum vb_err cb_text_tokenize(const struct cb_text_tokenizer *tk, const char *text, size_t len,
                             size_t max_ids, int32_t **ids, size_t *n, bool *truncated)
{
    *ids = NULL;
    *n = 0;
    if (truncated)
        *truncated = false;
    struct ids o = {.max = max_ids};
    struct scratch w = {0};
    enum vb_err err = VB_OK;
    size_t seg = 0; /* start of the pending plain segment */
    for (size_t i = 0; i < len && !o.truncated;) {
        const struct tag *t = tk->n_tags ? tag_at(tk, text, len, i) : NULL;
        if (!t) {
            i++;
            continue;
        }
        if ((err = encode_plain(tk, &w, text + seg, i - seg, &o)) != VB_OK)
            goto out;
        if (!ids_push(&o, t->id)) {
            err = VB_ERR_NOMEM;
            goto out;
        }
        i += t->len;
        seg = i;
    }
    if (!o.truncated && (err = encode_plain(tk, &w, text + seg, len - seg, &o)) != VB_OK)
        goto out;
    if (!o.v && !vb_try_grow((void **)&o.v, &o.cap, 1, sizeof *o.v)) {
        err = VB_ERR_NOMEM;
        goto out;
    }
    *ids = o.v;
    *n = o.n;
    if (truncated)
        *truncated = o.truncated;
    o.v = NULL;
out:
    vb_free(o.v);
    vb_free(w.word);
    bpe_work_release(&w.bpe);
    return err;
}

enum vb_err cb_text_encode(const struct cb_text_tokenizer *tk, const char *text, size_t len,
                           int32_t **ids, size_t *n, bool *truncated)
{
    *ids = NULL;
    *n = 0;
    char *norm = cb_punc_norm(text, len);
    if (!norm)
        return VB_ERR_NOMEM;
    enum vb_err err =
        cb_text_tokenize(tk, norm, strlen(norm), CB_TEXT_MAX_TOKENS, ids, n, truncated);
    vb_free(norm);
    return err;
}

enum vb_err cb_text_detokenize(const struct cb_text_tokenizer *tk, const int32_t *ids, size_t n,
                               struct vb_buf *out)
{
    for (size_t i = 0; i < n; i++) {
        const char *s = cb_text_token_str(tk, ids[i]);
        if (!s)
            return VB_ERR_INVALID;
        bool is_tag = false;
        for (size_t k = 0; k < tk->n_tags && !is_tag; k++)
            is_tag = tk->tags[k].id == ids[i];
        size_t len = strlen(s);
        if (is_tag) {
            enum vb_err err = vb_buf_append(out, s, len);
            if (err != VB_OK)
                return err;
            continue;
        }
        for (size_t j = 0; j < len;) {
            uint32_t cp;
            j += utf8_next(s, len, j, &cp);
            int b = vb_cp_to_byte(cp);
            if (b < 0)
                return VB_ERR_INVALID;
            enum vb_err err = vb_buf_putc(out, (char)b);
            if (err != VB_OK)
                return err;
        }
    }
    return VB_OK;
}

/* ===== punc_norm ===== */

/* Python's str.isspace: White_Space plus the separators U+001C..U+001F. */
static bool py_isspace(uint32_t cp)
{
    return vb_unicode_is_space(cp) || (cp >= 0x1C && cp <= 0x1F);
}

/* Upper case of a lowercase letter for the scripts an English model meets (ASCII, Latin-1,
 * Latin Extended-A, Greek, Cyrillic); 0 when cp is not such a lowercase letter. */
static uint32_t simple_upper(uint32_t cp)
{
    if (cp >= 'a' && cp <= 'z')
        return cp - 32;
    if ((cp >= 0xE0 && cp <= 0xFE && cp != 0xF7))
        return cp - 32;
    if (cp == 0xFF)
        return 0x178;
    if (cp == 0xB5)
        return 0x39C;
    if (cp >= 0x100 && cp <= 0x17F) {
        /* pairs: even upper / odd lower, except 0x139..0x148 and 0x179..0x17E (odd upper) */
        bool odd_upper = (cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E);
        if (cp == 0x131)
            return 0x49; /* dotless i */
        if (cp == 0x138 || cp == 0x149 || cp == 0x130)
            return 0;
        if (cp == 0x17F)
            return 0x53; /* long s */
        if (odd_upper)
            return (cp % 2 == 0) ? cp - 1 : 0;
        return (cp % 2 == 1) ? cp - 1 : 0;
    }
    if (cp >= 0x3B1 && cp <= 0x3C9)
        return cp == 0x3C2 ? 0x3A3 : cp - 32;
    if (cp >= 0x430 && cp <= 0x44F)
        return cp - 32;
    if (cp >= 0x450 && cp <= 0x45F)
        return cp - 80;
    return 0;
}

/* Replaces every non-overlapping `from` (left to right) by `to`, in place of *s. */
static bool replace_all(struct vb_buf *b, const char *from, const char *to)
{
    const char *s = vb_buf_str(b);
    size_t len = b->len, fl = strlen(from);
    if (!memmem(s, len, from, fl))
        return true;
    struct vb_buf r;
    vb_buf_init(&r, b->max ? b->max : SIZE_MAX);
    for (size_t i = 0; i < len;) {
        const char *p = memmem(s + i, len - i, from, fl);
        size_t upto = p ? (size_t)(p - s) : len;
        if (vb_buf_append(&r, s + i, upto - i) != VB_OK) {
            vb_buf_release(&r);
            return false;
        }
        if (!p)
            break;
        if (vb_buf_puts(&r, to) != VB_OK) {
            vb_buf_release(&r);
            return false;
        }
        i = upto + fl;
    }
    vb_buf_release(b);
    *b = r;
    return true;
}

char *cb_punc_norm(const char *text, size_t len)
{
    static const char *const repl[][2] = {
        {"\xE2\x80\xA6", ", "}, /* … */
        {":", ","},
        {"\xE2\x80\x94", "-"}, /* — em dash */
        {"\xE2\x80\x93", "-"}, /* – en dash */
        {" ,", ","},
        {"\xE2\x80\x9C", "\""}, /* “ */
        {"\xE2\x80\x9D", "\""}, /* ” */
        {"\xE2\x80\x98", "'"},  /* ‘ */
        {"\xE2\x80\x99", "'"},  /* ’ */
    };
    struct vb_buf b;
    vb_buf_init(&b, SIZE_MAX);
    /* 1. empty text */
    if (len == 0) {
        if (vb_buf_puts(&b, "You need to add some text for me to talk.") != VB_OK)
            goto fail;
        return vb_buf_take(&b);
    }
    /* 2. upper-case a lowercase first character (before any whitespace handling) and
     * 3. collapse whitespace runs into single spaces, dropping them at both ends */
    bool pending_space = false, any = false;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t l = utf8_next(text, len, i, &cp);
        if (py_isspace(cp)) {
            pending_space = any;
            i += l;
            continue;
        }
        if (pending_space && vb_buf_putc(&b, ' ') != VB_OK)
            goto fail;
        pending_space = false;
        uint32_t up = i == 0 ? simple_upper(cp) : 0;
        if (i == 0 && cp == 0xDF) { /* ß upper-cases to SS */
            if (vb_buf_puts(&b, "SS") != VB_OK)
                goto fail;
        } else if (up) {
            char u[4];
            int ul = vb_utf8_encode(up, u);
            if (vb_buf_append(&b, u, (size_t)ul) != VB_OK)
                goto fail;
        } else if (vb_buf_append(&b, text + i, l) != VB_OK) {
            goto fail;
        }
        any = true;
        i += l;
    }
    /* 4. fixed replacements, in order, each over the whole string */
    for (size_t k = 0; k < VB_ARRAY_LEN(repl); k++)
        if (!replace_all(&b, repl[k][0], repl[k][1]))
            goto fail;
    /* 5. strip trailing ASCII spaces, 6. end with punctuation */
    while (b.len > 0 && b.data[b.len - 1] == ' ')
        b.data[--b.len] = '\0';
    char last = b.len ? vb_buf_str(&b)[b.len - 1] : '\0';
    if (!(last == '.' || last == '!' || last == '?' || last == '-' || last == ','))
        if (vb_buf_putc(&b, '.') != VB_OK)
            goto fail;
    return vb_buf_take(&b);
fail:
    vb_buf_release(&b);
    return NULL;
}
