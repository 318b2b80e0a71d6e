/* tokenizer.c: GGUF vocabulary -> string maps; special-token partitioning; the Qwen2
 * pre-tokenizer regex as a hand-written scanner over code points; BPE merges by rank (one at
 * a time, leftmost first: nn/bpe.c); detokenisation through the GPT-2 byte alphabet. */
#include "core/vb.h"
#include "core/err.h"
#include "llm/tokenizer.h"
#include "core/alloc.h"
#include "core/strmap.h"
#include "core/unicode.h"
#include "nn/bpe.h"

struct str {
    const char *p;
    size_t len;
};

struct llm_tokenizer {
    int32_t n_vocab;
    struct str *tokens;
    uint8_t *types;
    struct vb_strmap token_map; /* text -> id */
    int32_t n_merges;
    struct vb_strmap merge_map; /* "left right" -> rank */
    int32_t *specials;          /* CONTROL/USER_DEFINED/UNKNOWN ids, longest text first */
    int32_t n_specials;
    uint8_t *eog; /* n_vocab flags */
    int32_t eos;
};

/* Longest token text first (ties by id). */
static int cmp_special_r(const void *a, const void *b, void *ctx)
{
    const struct llm_tokenizer *tk = ctx;
    size_t la = tk->tokens[*(const int32_t *)a].len;
    size_t lb = tk->tokens[*(const int32_t *)b].len;
    if (la != lb)
        return la > lb ? -1 : 1;
    return *(const int32_t *)a - *(const int32_t *)b;
}

enum vb_err llm_tokenizer_load(const struct gguf_file *g, struct llm_tokenizer **out, char *why,
                               size_t cap)
{
    *out = NULL;
    enum vb_err err = VB_ERR_FORMAT;
    struct llm_tokenizer *tk = vb_xcalloc(1, sizeof *tk);
    size_t len;
    const char *model = gguf_get_str(g, "tokenizer.ggml.model", &len);
    if (!model) {
        vb_failf(why, cap, VB_ERR_FORMAT, "missing metadata key 'tokenizer.ggml.model'");
        goto out;
    }
    if (len != 4 || memcmp(model, "gpt2", 4) != 0) {
        vb_failf(why, cap, VB_ERR_FORMAT, "unsupported tokenizer model '%.*s' (expected gpt2)",
                 (int)VB_MIN(len, 64), model);
        goto out;
    }
    const char *pre = gguf_get_str(g, "tokenizer.ggml.pre", &len);
    if (!pre || len != 5 || memcmp(pre, "qwen2", 5) != 0) {
        vb_failf(why, cap, VB_ERR_FORMAT,
                 "unsupported or missing tokenizer.ggml.pre (expected qwen2)");
        goto out;
    }
    enum gguf_type at;
    uint64_t n;
    const struct gguf_kv *kv_tok, *kv_type = NULL, *kv_merges;
    if (!gguf_get_arr(g, "tokenizer.ggml.tokens", &at, &n, &kv_tok) || at != GGUF_TYPE_STRING ||
        n == 0 || n > (1u << 24)) {
        vb_failf(why, cap, VB_ERR_FORMAT, "missing or bad metadata key 'tokenizer.ggml.tokens'");
        goto out;
    }
    tk->n_vocab = (int32_t)n;
    if (!gguf_get_arr(g, "tokenizer.ggml.merges", &at, &n, &kv_merges) || at != GGUF_TYPE_STRING ||
        n > (1u << 24)) {
        vb_failf(why, cap, VB_ERR_FORMAT, "missing or bad metadata key 'tokenizer.ggml.merges'");
        goto out;
    }
    tk->n_merges = (int32_t)n;
    if (gguf_get_arr(g, "tokenizer.ggml.token_type", &at, &n, &kv_type) &&
        n != (uint64_t)tk->n_vocab) {
        vb_failf(why, cap, VB_ERR_FORMAT,
                 "tokenizer.ggml.token_type has %llu entries for %d tokens", (unsigned long long)n,
                 tk->n_vocab);
        goto out;
    }
    uint32_t eos;
    if (!gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &eos) || eos >= (uint32_t)tk->n_vocab) {
        vb_failf(why, cap, VB_ERR_FORMAT,
                 "missing or out-of-range metadata key 'tokenizer.ggml.eos_token_id'");
        goto out;
    }
    tk->eos = (int32_t)eos;
    err = VB_ERR_NOMEM;
    size_t nv = (size_t)tk->n_vocab;
    tk->tokens = vb_try_calloc(nv, sizeof *tk->tokens);
    tk->types = vb_try_calloc(nv, 1);
    tk->eog = vb_try_calloc(nv, 1);
    tk->specials = vb_try_calloc(nv, sizeof *tk->specials);
    if (!tk->tokens || !tk->types || !tk->eog || !tk->specials ||
        !vb_strmap_init(&tk->token_map, nv) ||
        !vb_strmap_init(&tk->merge_map, (size_t)tk->n_merges))
        goto out;
    for (int32_t i = 0; i < tk->n_vocab; i++) {
        tk->tokens[i].p = gguf_arr_str(kv_tok, (uint64_t)i, &tk->tokens[i].len);
        int64_t t = LLM_TOKEN_NORMAL;
        if (kv_type && (!gguf_arr_int(kv_type, (uint64_t)i, &t) || t < 0 || t > 6)) {
            err = vb_failf(why, cap, VB_ERR_FORMAT,
                           "tokenizer.ggml.token_type[%d] is not a token type", i);
            goto out;
        }
        tk->types[i] = (uint8_t)t;
        vb_strmap_put(&tk->token_map, tk->tokens[i].p, tk->tokens[i].len, i);
        if ((t == LLM_TOKEN_CONTROL || t == LLM_TOKEN_USER_DEFINED || t == LLM_TOKEN_UNKNOWN) &&
            tk->tokens[i].len > 0)
            tk->specials[tk->n_specials++] = i;
    }
    for (int32_t i = 0; i < tk->n_merges; i++) {
        size_t ml;
        const char *m = gguf_arr_str(kv_merges, (uint64_t)i, &ml);
        vb_strmap_put(&tk->merge_map, m, ml, i);
    }
    qsort_r(tk->specials, (size_t)tk->n_specials, sizeof *tk->specials, cmp_special_r, tk);
    static const char *const eog_texts[] = {
        "<|endoftext|>", "<|im_end|>", "<|fim_pad|>", "<|repo_name|>",
        "<|file_sep|>",  "<|eot_id|>", "<|end|>",     "<end_of_turn>",
    };
    tk->eog[tk->eos] = 1;
    for (size_t i = 0; i < VB_ARRAY_LEN(eog_texts); i++) {
        int32_t id = llm_token_lookup(tk, eog_texts[i], strlen(eog_texts[i]));
        if (id >= 0)
            tk->eog[id] = 1;
    }
    err = VB_OK;
    *out = tk;
out:
    if (err != VB_OK)
        llm_tokenizer_free(tk);
    return err;
}

void llm_tokenizer_free(struct llm_tokenizer *tk)
{
    if (!tk)
        return;
    vb_free(tk->tokens);
    vb_free(tk->types);
    vb_free(tk->eog);
    vb_free(tk->specials);
    vb_strmap_release(&tk->token_map);
    vb_strmap_release(&tk->merge_map);
    vb_free(tk);
}

int32_t llm_tokenizer_n_vocab(const struct llm_tokenizer *tk)
{
    return tk->n_vocab;
}

int32_t llm_tokenizer_eos(const struct llm_tokenizer *tk)
{
    return tk->eos;
}

bool llm_token_is_eog(const struct llm_tokenizer *tk, int32_t id)
{
    return id >= 0 && id < tk->n_vocab && tk->eog[id];
}

enum llm_token_type llm_token_type(const struct llm_tokenizer *tk, int32_t id)
{
    return id >= 0 && id < tk->n_vocab ? (enum llm_token_type)tk->types[id] : LLM_TOKEN_UNDEFINED;
}

int32_t llm_token_lookup(const struct llm_tokenizer *tk, const char *text, size_t len)
{
    return vb_strmap_get(&tk->token_map, text, len);
}

/* ===== output vector ===== */

struct ids {
    int32_t **v;
    size_t *n, *cap;
};

static bool push_id(struct ids *o, int32_t id)
{
    if (!vb_try_grow((void **)o->v, o->cap, *o->n + 1, sizeof **o->v))
        return false;
    (*o->v)[(*o->n)++] = id;
    return true;
}

/* ===== BPE on one pre-token (already in the byte alphabet) ===== */

static bool bpe_word(const struct llm_tokenizer *tk, struct bpe_work *st, const char *w,
                     size_t wlen, struct ids *o)
{
    if (!bpe_merge(st, &tk->merge_map, BPE_LOWEST_LEFTMOST, w, wlen))
        return false;
    if (wlen == 0)
        return true;
    for (int32_t i = 0; i >= 0; i = st->syms[i].next) {
        const struct bpe_sym *s = &st->syms[i];
        int32_t id = llm_token_lookup(tk, w + s->start, (size_t)s->len);
        if (id >= 0) {
            if (!push_id(o, id))
                return false;
            continue;
        }
        for (int32_t k = 0; k < s->len; k++) { /* llama.cpp's fallback: single bytes */
            int32_t bid = llm_token_lookup(tk, w + s->start + k, 1);
            if (bid >= 0 && !push_id(o, bid))
                return false;
        }
    }
    return true;
}

/* ===== Qwen2 pre-tokenizer (regex of specs §4.4 as a scanner) ===== */

enum { CP_LETTER = 1, CP_NUMBER = 2, CP_SPACE = 4 };

static bool is_crlf(uint32_t c)
{
    return c == '\r' || c == '\n';
}

static uint32_t lower_ascii(uint32_t c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Returns the end of the pre-token starting at pos. f[i] are the class flags of cp[i]. */
static size_t next_pretoken(const uint32_t *cp, const uint8_t *f, size_t n, size_t pos)
{
    uint32_t c = cp[pos];
    /* 1. contractions 's 't 'm 'd 're 've 'll, any case */
    if (c == '\'' && pos + 1 < n) {
        uint32_t c1 = lower_ascii(cp[pos + 1]);
        if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd')
            return pos + 2;
        if (pos + 2 < n) {
            uint32_t c2 = lower_ascii(cp[pos + 2]);
            if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l'))
                return pos + 3;
        }
    }
    /* 2. [^\r\n\p{L}\p{N}]?\p{L}+ */
    if (!is_crlf(c) && !(f[pos] & CP_NUMBER)) {
        if ((f[pos] & CP_LETTER) || (pos + 1 < n && (f[pos + 1] & CP_LETTER))) {
            size_t e = pos + 1;
            while (e < n && (f[e] & CP_LETTER))
                e++;
            return e;
        }
    }
    /* 3. \p{N}: one number character */
    if (f[pos] & CP_NUMBER)
        return pos + 1;
    /* 4. ' '?[^\s\p{L}\p{N}]+[\r\n]* */
    size_t s = pos + (c == ' ' ? 1 : 0);
    if (s < n && !f[s]) {
        size_t e = s;
        while (e < n && !f[e])
            e++;
        while (e < n && is_crlf(cp[e]))
            e++;
        return e;
    }
    /* 5-7. whitespace runs */
    size_t k = 0, last_nl = 0;
    while (pos + k < n && (f[pos + k] & CP_SPACE)) {
        if (is_crlf(cp[pos + k]))
            last_nl = pos + k + 1;
        k++;
    }
    if (last_nl)
        return last_nl; /* \s*[\r\n]+ */
    if (k > 1 && pos + k < n)
        return pos + k - 1; /* \s+(?!\S) */
    if (k > 0)
        return pos + k; /* \s+ */
    return pos + 1;
}

static bool tokenize_raw(const struct llm_tokenizer *tk, struct bpe_work *st, const char *text,
                         size_t len, struct ids *o)
{
    bool ok = false;
    uint32_t *cp = vb_try_malloc((len ? len : 1) * sizeof *cp);
    uint8_t *f = vb_try_malloc(len ? len : 1);
    char *word = NULL;
    size_t word_cap = 0;
    if (!cp || !f)
        goto out;
    size_t n = vb_utf8_decode(text, len, cp);
    for (size_t i = 0; i < n; i++)
        f[i] = (uint8_t)((vb_unicode_is_letter(cp[i]) ? CP_LETTER : 0) |
                         (vb_unicode_is_number(cp[i]) ? CP_NUMBER : 0) |
                         (vb_unicode_is_space(cp[i]) ? CP_SPACE : 0));
    for (size_t pos = 0; pos < n;) {
        size_t end = next_pretoken(cp, f, n, pos);
        /* code points -> UTF-8 -> one byte-alphabet character per byte */
        size_t need = (end - pos) * 8;
        if (need > word_cap) {
            char *nw = vb_try_realloc(word, need);
            if (!nw)
                goto out;
            word = nw;
            word_cap = need;
        }
        size_t wl = 0;
        for (size_t i = pos; i < end; i++) {
            char u8[4];
            int k = vb_utf8_encode(cp[i], u8);
            wl += bpe_to_alphabet(u8, (size_t)k, word + wl);
        }
        if (!bpe_word(tk, st, word, wl, o))
            goto out;
        pos = end;
    }
    ok = true;
out:
    vb_free(cp);
    vb_free(f);
    vb_free(word);
    return ok;
}

struct frag {
    int32_t id; /* -1: raw text */
    size_t off, len;
};

enum vb_err llm_tokenize(const struct llm_tokenizer *tk, const char *text, size_t len,
                         bool parse_special, int32_t **idsp, size_t *np, size_t *capp)
{
    enum vb_err err = VB_ERR_NOMEM;
    struct ids o = {idsp, np, capp};
    struct bpe_work st = {0};
    size_t nf = 1, fcap = 16;
    struct frag *fr = vb_try_malloc(fcap * sizeof *fr), *nfr = NULL;
    if (!fr)
        goto out;
    fr[0] = (struct frag){-1, 0, len};
    if (len == 0)
        nf = 0;
    /* split out special tokens, longest text first */
    for (int32_t s = 0; s < tk->n_specials; s++) {
        int32_t id = tk->specials[s];
        if (!parse_special && tk->types[id] != LLM_TOKEN_USER_DEFINED)
            continue;
        const struct str *t = &tk->tokens[id];
        size_t ncap = nf + 16, nn = 0;
        nfr = vb_try_malloc(ncap * sizeof *nfr);
        if (!nfr)
            goto out;
        for (size_t i = 0; i < nf; i++) {
            if (fr[i].id >= 0) {
                nfr[nn++] = fr[i];
            } else {
                size_t off = fr[i].off, end = fr[i].off + fr[i].len;
                while (off < end) {
                    const char *hit = memmem(text + off, end - off, t->p, t->len);
                    size_t hoff = hit ? (size_t)(hit - text) : end;
                    if (nn + 2 >= ncap) {
                        ncap *= 2;
                        struct frag *g = vb_try_realloc(nfr, ncap * sizeof *g);
                        if (!g)
                            goto out;
                        nfr = g;
                    }
                    if (hoff > off)
                        nfr[nn++] = (struct frag){-1, off, hoff - off};
                    if (!hit)
                        break;
                    nfr[nn++] = (struct frag){id, hoff, t->len};
                    off = hoff + t->len;
                }
            }
            if (nn + 2 >= ncap) {
                ncap *= 2;
                struct frag *g = vb_try_realloc(nfr, ncap * sizeof *g);
                if (!g)
                    goto out;
                nfr = g;
            }
        }
        vb_free(fr);
        fr = nfr;
        nfr = NULL;
        nf = nn;
    }
    for (size_t i = 0; i < nf; i++) {
        if (fr[i].id >= 0) {
            if (!push_id(&o, fr[i].id))
                goto out;
        } else if (!tokenize_raw(tk, &st, text + fr[i].off, fr[i].len, &o))
            goto out;
    }
    err = VB_OK;
out:
    vb_free(fr);
    vb_free(nfr);
    bpe_work_release(&st);
    return err;
}

enum vb_err llm_token_piece(const struct llm_tokenizer *tk, int32_t id, bool special,
                            struct vb_buf *out)
{
    if (id < 0 || id >= tk->n_vocab)
        return VB_ERR_INVALID;
    const struct str *t = &tk->tokens[id];
    switch ((enum llm_token_type)tk->types[id]) {
    case LLM_TOKEN_CONTROL:
    case LLM_TOKEN_UNKNOWN:
        return special ? vb_buf_append(out, t->p, t->len) : VB_OK;
    case LLM_TOKEN_USER_DEFINED:
        return vb_buf_append(out, t->p, t->len);
    case LLM_TOKEN_NORMAL:
        break;
    default:
        return VB_OK;
    }
    /* byte-alphabet characters -> bytes */
    uint32_t cps[64];
    const char *p = t->p;
    size_t left = t->len;
    while (left > 0) {
        size_t chunk = left;
        /* decode in pieces; cut at a character boundary */
        if (chunk > 64) {
            chunk = 64;
            while (chunk > 0 && ((uint8_t)p[chunk] & 0xC0) == 0x80)
                chunk--;
            if (chunk == 0)
                chunk = 64;
        }
        size_t n = vb_utf8_decode(p, chunk, cps);
        for (size_t i = 0; i < n; i++) {
            int b = vb_cp_to_byte(cps[i]);
            enum vb_err err;
            if (b >= 0) {
                err = vb_buf_putc(out, (char)b);
            } else {
                char u8[4];
                int k = vb_utf8_encode(cps[i], u8);
                err = vb_buf_append(out, u8, (size_t)k);
            }
            if (err != VB_OK)
                return err;
        }
        p += chunk;
        left -= chunk;
    }
    return VB_OK;
}

enum vb_err llm_detokenize(const struct llm_tokenizer *tk, const int32_t *ids, size_t n,
                           bool special, struct vb_buf *out)
{
    for (size_t i = 0; i < n; i++) {
        enum vb_err err = llm_token_piece(tk, ids[i], special, out);
        if (err != VB_OK)
            return err;
    }
    return VB_OK;
}
