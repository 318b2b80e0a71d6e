/* tokenizer.c: GGUF vocabulary -> hash maps; special-token partitioning; the Qwen2
 * pre-tokenizer regex as a hand-written scanner over code points; BPE merges by rank with a
 * binary heap; detokenisation through the GPT-2 byte alphabet. */
#include "core/vb.h"
#include "core/err.h"
#include "llm/tokenizer.h"
#include "core/alloc.h"
#include "core/unicode.h"

struct str {
    const char *p;
    size_t len;
};

struct strmap { /* open addressing: slot holds index+1, 0 = empty */
    uint32_t *slots;
    size_t mask;
};

struct llm_tokenizer {
    int32_t n_vocab;
    struct str *tokens;
    uint8_t *types;
    struct strmap token_map;
    struct str *merges;
    int32_t n_merges;
    struct strmap merge_map;
    int32_t *specials; /* CONTROL/USER_DEFINED/UNKNOWN ids, longest text first */
    int32_t n_specials;
    uint8_t *eog; /* n_vocab flags */
    int32_t eos;
};

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static bool strmap_init(struct strmap *m, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap <<= 1;
    m->slots = vb_try_calloc(cap, sizeof *m->slots);
    m->mask = cap - 1;
    return m->slots != NULL;
}

/* Inserts index i for key s unless the key exists (first one wins). */
static void strmap_put(struct strmap *m, const struct str *keys, uint32_t i)
{
    size_t h = (size_t)hash_bytes(keys[i].p, keys[i].len) & m->mask;
    while (m->slots[h]) {
        const struct str *k = &keys[m->slots[h] - 1];
        if (k->len == keys[i].len && memcmp(k->p, keys[i].p, k->len) == 0)
            return;
        h = (h + 1) & m->mask;
    }
    m->slots[h] = i + 1;
}

static int64_t strmap_get(const struct strmap *m, const struct str *keys, const char *p, size_t len)
{
    size_t h = (size_t)hash_bytes(p, len) & m->mask;
    while (m->slots[h]) {
        const struct str *k = &keys[m->slots[h] - 1];
        if (k->len == len && memcmp(k->p, p, len) == 0)
            return (int64_t)m->slots[h] - 1;
        h = (h + 1) & m->mask;
    }
    return -1;
}

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
    tk->merges = vb_try_calloc(tk->n_merges ? (size_t)tk->n_merges : 1, sizeof *tk->merges);
    if (!tk->tokens || !tk->types || !tk->eog || !tk->specials || !tk->merges ||
        !strmap_init(&tk->token_map, nv) || !strmap_init(&tk->merge_map, (size_t)tk->n_merges))
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
        strmap_put(&tk->token_map, tk->tokens, (uint32_t)i);
        if ((t == LLM_TOKEN_CONTROL || t == LLM_TOKEN_USER_DEFINED || t == LLM_TOKEN_UNKNOWN) &&
            tk->tokens[i].len > 0)
            tk->specials[tk->n_specials++] = i;
    }
    for (int32_t i = 0; i < tk->n_merges; i++) {
        tk->merges[i].p = gguf_arr_str(kv_merges, (uint64_t)i, &tk->merges[i].len);
        strmap_put(&tk->merge_map, tk->merges, (uint32_t)i);
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
    vb_free(tk->merges);
    vb_free(tk->token_map.slots);
    vb_free(tk->merge_map.slots);
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
    return (int32_t)strmap_get(&tk->token_map, tk->tokens, text, len);
}

/* ===== output vector ===== */

struct ids {
    int32_t **v;
    size_t *n, *cap;
};

static bool push_id(struct ids *o, int32_t id)
{
    if (*o->n == *o->cap) {
        size_t nc = *o->cap ? *o->cap * 2 : 64;
        int32_t *nv = vb_try_realloc(*o->v, nc * sizeof *nv);
        if (!nv)
            return false;
        *o->v = nv;
        *o->cap = nc;
    }
    (*o->v)[(*o->n)++] = id;
    return true;
}

/* ===== BPE on one pre-token (already in the byte alphabet) ===== */

struct sym {
    int32_t start, len, prev, next;
};

struct bigram {
    int32_t rank, left, right, size;
};

static bool bigram_less(const struct bigram *a, const struct bigram *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

struct heap {
    struct bigram *v;
    size_t n, cap;
};

static bool heap_push(struct heap *h, struct bigram b)
{
    if (h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 64;
        struct bigram *nv = vb_try_realloc(h->v, nc * sizeof *nv);
        if (!nv)
            return false;
        h->v = nv;
        h->cap = nc;
    }
    size_t i = h->n++;
    h->v[i] = b;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!bigram_less(&h->v[i], &h->v[p]))
            break;
        struct bigram t = h->v[i];
        h->v[i] = h->v[p];
        h->v[p] = t;
        i = p;
    }
    return true;
}

static struct bigram heap_pop(struct heap *h)
{
    struct bigram top = h->v[0];
    h->v[0] = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && bigram_less(&h->v[l], &h->v[m]))
            m = l;
        if (r < h->n && bigram_less(&h->v[r], &h->v[m]))
            m = r;
        if (m == i)
            break;
        struct bigram t = h->v[i];
        h->v[i] = h->v[m];
        h->v[m] = t;
        i = m;
    }
    return top;
}

struct bpe_state {
    const struct llm_tokenizer *tk;
    struct sym *syms;
    size_t syms_cap;
    struct heap heap;
    char *key;
    size_t key_cap;
    const char *text;
};

static bool try_pair(struct bpe_state *st, int32_t left, int32_t right)
{
    if (left < 0 || right < 0)
        return true;
    const struct sym *a = &st->syms[left], *b = &st->syms[right];
    size_t need = (size_t)a->len + 1 + (size_t)b->len;
    if (need > st->key_cap) {
        char *nk = vb_try_realloc(st->key, need * 2);
        if (!nk)
            return false;
        st->key = nk;
        st->key_cap = need * 2;
    }
    memcpy(st->key, st->text + a->start, (size_t)a->len);
    st->key[a->len] = ' ';
    memcpy(st->key + a->len + 1, st->text + b->start, (size_t)b->len);
    int64_t rank = strmap_get(&st->tk->merge_map, st->tk->merges, st->key, need);
    if (rank < 0)
        return true;
    struct bigram bg = {(int32_t)rank, left, right, a->len + b->len};
    return heap_push(&st->heap, bg);
}

static bool bpe_word(struct bpe_state *st, const char *w, size_t wlen, struct ids *o)
{
    const struct llm_tokenizer *tk = st->tk;
    /* one symbol per UTF-8 character */
    size_t n = 0;
    if (wlen > st->syms_cap) {
        struct sym *ns = vb_try_realloc(st->syms, wlen * sizeof *ns);
        if (!ns)
            return false;
        st->syms = ns;
        st->syms_cap = wlen;
    }
    st->text = w;
    for (size_t i = 0; i < wlen;) {
        uint8_t b = (uint8_t)w[i];
        size_t cl = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
        if (cl > wlen - i)
            cl = wlen - i;
        st->syms[n] = (struct sym){(int32_t)i, (int32_t)cl, (int32_t)n - 1, (int32_t)n + 1};
        n++;
        i += cl;
    }
    if (n == 0)
        return true;
    st->syms[n - 1].next = -1;
    st->heap.n = 0;
    for (size_t i = 0; i + 1 < n; i++)
        if (!try_pair(st, (int32_t)i, (int32_t)i + 1))
            return false;
    while (st->heap.n > 0) {
        struct bigram bg = heap_pop(&st->heap);
        struct sym *l = &st->syms[bg.left], *r = &st->syms[bg.right];
        if (l->len == 0 || r->len == 0 || l->len + r->len != bg.size || l->next != bg.right)
            continue;
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0)
            st->syms[r->next].prev = bg.left;
        if (!try_pair(st, l->prev, bg.left) || !try_pair(st, bg.left, l->next))
            return false;
    }
    for (int32_t i = 0; i >= 0; i = st->syms[i].next) {
        const struct sym *s = &st->syms[i];
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

static bool tokenize_raw(struct bpe_state *st, const char *text, size_t len, struct ids *o)
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
            for (int j = 0; j < k; j++)
                wl += (size_t)vb_utf8_encode(vb_byte_to_cp((uint8_t)u8[j]), word + wl);
        }
        if (!bpe_word(st, word, wl, o))
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
    struct bpe_state st = {.tk = tk};
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
        } else if (!tokenize_raw(&st, text + fr[i].off, fr[i].len, &o))
            goto out;
    }
    err = VB_OK;
out:
    vb_free(fr);
    vb_free(nfr);
    vb_free(st.syms);
    vb_free(st.heap.v);
    vb_free(st.key);
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
