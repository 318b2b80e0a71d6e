/* torch_zip.c: PyTorch zip checkpoint reader: zip central directory (stored entries, zip64
 * aware), then an iterative pickle machine with bounded stack/memo that only knows data
 * opcodes and three whitelisted callables. */
#include "core/vb.h"
#include "core/err.h"
#include "nn/torch_zip.h"
#include "nn/mapfile.h"
#include "core/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_NODES   (1 << 20)
#define MAX_STACK   (1 << 16)
#define MAX_MEMO    (1 << 20)
#define MAX_ITEMS   (1 << 20)
#define MAX_ENTRIES (1 << 16)

enum { G_REBUILD_TENSOR = 1, G_ORDERED_DICT, G_STORAGE };

struct zent {
    const char *name; /* not NUL-terminated */
    size_t name_len;
    const uint8_t *data; /* NULL when compressed (unsupported) */
    size_t size;
};

struct nn_tz {
    const uint8_t *base;
    size_t size;
    bool mapped;
    struct nn_pk **nodes;
    size_t n_nodes, cap_nodes;
    struct nn_pk *root;
    struct zent *ents;
    size_t n_ents;
    const char *prefix; /* "<archive>/" of data.pkl */
    size_t prefix_len;
};

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* ---- zip ---- */

static enum vb_err zip_parse(struct nn_tz *tz, char *why, size_t cap)
{
    const uint8_t *b = tz->base;
    size_t n = tz->size;
    if (n < 22)
        return vb_failf(why, cap, VB_ERR_FORMAT, "not a zip archive (too short)");
    size_t lo = n - 22 > 65535 ? n - 22 - 65535 : 0, eocd = SIZE_MAX;
    for (size_t i = n - 22 + 1; i-- > lo;)
        if (rd32(b + i) == 0x06054b50) {
            eocd = i;
            break;
        }
    if (eocd == SIZE_MAX)
        return vb_failf(why, cap, VB_ERR_FORMAT, "not a zip archive (no end of central directory)");
    uint64_t count = rd16(b + eocd + 10), cd_size = rd32(b + eocd + 12),
             cd_off = rd32(b + eocd + 16);
    if (count == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_off == 0xFFFFFFFFu) {
        /* zip64: locator right before the EOCD */
        if (eocd < 20 || rd32(b + eocd - 20) != 0x07064b50)
            return vb_failf(why, cap, VB_ERR_FORMAT, "zip64 locator missing");
        uint64_t z = rd64(b + eocd - 20 + 8);
        if (z > n || n - z < 56 || rd32(b + z) != 0x06064b50)
            return vb_failf(why, cap, VB_ERR_FORMAT, "zip64 end of central directory out of range");
        count = rd64(b + z + 32);
        cd_size = rd64(b + z + 40);
        cd_off = rd64(b + z + 48);
    }
    if (count > MAX_ENTRIES || cd_off > n || cd_size > n - cd_off)
        return vb_failf(why, cap, VB_ERR_FORMAT, "zip central directory out of range");
    tz->ents = vb_try_calloc(count ? count : 1, sizeof *tz->ents);
    if (!tz->ents)
        return VB_ERR_NOMEM;
    size_t p = (size_t)cd_off, end = (size_t)(cd_off + cd_size);
    for (uint64_t e = 0; e < count; e++) {
        if (end - p < 46 || rd32(b + p) != 0x02014b50)
            return vb_failf(why, cap, VB_ERR_FORMAT, "zip central directory entry %llu malformed",
                            (unsigned long long)e);
        uint16_t method = rd16(b + p + 10), nl = rd16(b + p + 28), el = rd16(b + p + 30),
                 cl = rd16(b + p + 32);
        uint64_t csize = rd32(b + p + 20), usize = rd32(b + p + 24), loff = rd32(b + p + 42);
        if ((size_t)46 + nl + el + cl > end - p)
            return vb_failf(why, cap, VB_ERR_FORMAT, "zip central directory entry %llu truncated",
                            (unsigned long long)e);
        const uint8_t *ex = b + p + 46 + nl;
        for (size_t q = 0; q + 4 <= el;) { /* zip64 extended information */
            uint16_t id = rd16(ex + q), sz = rd16(ex + q + 2);
            if (q + 4 + sz > el)
                break;
            if (id == 0x0001) {
                const uint8_t *f = ex + q + 4;
                size_t left = sz;
                if (usize == 0xFFFFFFFFu && left >= 8)
                    usize = rd64(f), f += 8, left -= 8;
                if (csize == 0xFFFFFFFFu && left >= 8)
                    csize = rd64(f), f += 8, left -= 8;
                if (loff == 0xFFFFFFFFu && left >= 8)
                    loff = rd64(f);
            }
            q += 4 + (size_t)sz;
        }
        struct zent *z = &tz->ents[tz->n_ents++];
        z->name = (const char *)(b + p + 46);
        z->name_len = nl;
        if (method == 0 && csize == usize && loff <= n && n - loff >= 30 &&
            rd32(b + loff) == 0x04034b50) {
            uint64_t data = loff + 30 + (uint64_t)rd16(b + loff + 26) + rd16(b + loff + 28);
            if (data <= n && usize <= n - data) {
                z->data = b + data;
                z->size = (size_t)usize;
            }
        }
        p += 46 + (size_t)nl + el + cl;
    }
    return VB_OK;
}

static const struct zent *zip_find(const struct nn_tz *tz, const char *prefix, size_t plen,
                                   const char *name, size_t nlen)
{
    for (size_t i = 0; i < tz->n_ents; i++) {
        const struct zent *z = &tz->ents[i];
        if (z->name_len == plen + nlen && memcmp(z->name, prefix, plen) == 0 &&
            memcmp(z->name + plen, name, nlen) == 0)
            return z;
    }
    return NULL;
}

/* ---- values ---- */

static struct nn_pk *node(struct nn_tz *tz, enum nn_pk_type type)
{
    if (tz->n_nodes >= MAX_NODES)
        return NULL;
    if (tz->n_nodes == tz->cap_nodes) {
        size_t nc = tz->cap_nodes ? 2 * tz->cap_nodes : 256;
        struct nn_pk **p = vb_try_realloc(tz->nodes, nc * sizeof *p);
        if (!p)
            return NULL;
        tz->nodes = p;
        tz->cap_nodes = nc;
    }
    struct nn_pk *k = vb_try_calloc(1, sizeof *k);
    if (!k)
        return NULL;
    k->type = type;
    tz->nodes[tz->n_nodes++] = k;
    return k;
}

static bool push_item(struct nn_pk *c, struct nn_pk *v)
{
    if (c->n >= MAX_ITEMS)
        return false;
    if (c->n == c->cap) {
        size_t nc = c->cap ? 2 * c->cap : 4;
        struct nn_pk **p = vb_try_realloc(c->items, nc * sizeof *p);
        if (!p)
            return false;
        c->items = p;
        c->cap = nc;
    }
    c->items[c->n++] = v;
    return true;
}

const struct nn_pk *nn_pk_get(const struct nn_pk *d, const char *key)
{
    if (!d || d->type != NN_PK_DICT || !key)
        return NULL;
    size_t kl = strlen(key);
    const struct nn_pk *found = NULL;
    for (size_t i = 0; i + 1 < d->n; i += 2) {
        const struct nn_pk *k = d->items[i];
        if (k->type == NN_PK_STR && k->len == kl && memcmp(k->s, key, kl) == 0)
            found = d->items[i + 1]; /* last one wins, as in Python */
    }
    return found;
}

int64_t nn_pk_numel(const struct nn_pk *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->n_dims; i++)
        n *= t->shape[i];
    return n;
}

/* ---- pickle machine ---- */

struct vm {
    struct nn_tz *tz;
    const uint8_t *p, *end;
    struct nn_pk **stack;
    size_t sp, scap;
    size_t *marks;
    size_t nm, mcap;
    struct nn_pk **memo;
    size_t memo_cap, memo_count; /* count: distinct slots set (len(memo) for MEMOIZE) */
    char *why;
    size_t cap;
};

static enum vb_err vm_push(struct vm *m, struct nn_pk *v)
{
    if (!v)
        return VB_ERR_NOMEM;
    if (m->sp >= MAX_STACK)
        return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle stack too deep");
    if (m->sp == m->scap) {
        size_t nc = m->scap ? 2 * m->scap : 64;
        struct nn_pk **p = vb_try_realloc(m->stack, nc * sizeof *p);
        if (!p)
            return VB_ERR_NOMEM;
        m->stack = p;
        m->scap = nc;
    }
    m->stack[m->sp++] = v;
    return VB_OK;
}

static struct nn_pk *vm_pop(struct vm *m)
{
    if (m->sp == 0 || (m->nm && m->sp <= m->marks[m->nm - 1]))
        return NULL;
    return m->stack[--m->sp];
}

static bool need(struct vm *m, size_t k)
{
    return (size_t)(m->end - m->p) >= k;
}

static enum vb_err memo_put(struct vm *m, uint64_t idx)
{
    if (idx >= MAX_MEMO || m->sp == 0)
        return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle memo index %llu out of range",
                        (unsigned long long)idx);
    if (idx >= m->memo_cap) {
        size_t nc = m->memo_cap ? m->memo_cap : 64;
        while (nc <= idx)
            nc *= 2;
        struct nn_pk **p = vb_try_realloc(m->memo, nc * sizeof *p);
        if (!p)
            return VB_ERR_NOMEM;
        memset(p + m->memo_cap, 0, (nc - m->memo_cap) * sizeof *p);
        m->memo = p;
        m->memo_cap = nc;
    }
    if (!m->memo[idx])
        m->memo_count++;
    m->memo[idx] = m->stack[m->sp - 1];
    return VB_OK;
}

static enum vb_err memo_get(struct vm *m, uint64_t idx)
{
    if (idx >= m->memo_cap || !m->memo[idx])
        return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle memo %llu unset",
                        (unsigned long long)idx);
    return vm_push(m, m->memo[idx]);
}

static struct nn_pk *new_str(struct vm *m, const uint8_t *s, size_t len)
{
    struct nn_pk *k = node(m->tz, NN_PK_STR);
    if (!k)
        return NULL;
    char *c = vb_try_malloc(len + 1);
    if (!c)
        return NULL;
    memcpy(c, s, len);
    c[len] = 0;
    k->s = c;
    k->len = len;
    return k;
}

static struct nn_pk *new_int(struct vm *m, int64_t v)
{
    struct nn_pk *k = node(m->tz, NN_PK_INT);
    if (k)
        k->i = v;
    return k;
}

static const struct {
    const char *name;
    enum nn_st_dtype dtype;
} storages[] = {
    {"FloatStorage", NN_ST_F32},     {"DoubleStorage", NN_ST_F64}, {"HalfStorage", NN_ST_F16},
    {"BFloat16Storage", NN_ST_BF16}, {"LongStorage", NN_ST_I64},   {"IntStorage", NN_ST_I32},
    {"ShortStorage", NN_ST_I16},     {"CharStorage", NN_ST_I8},    {"ByteStorage", NN_ST_U8},
    {"BoolStorage", NN_ST_BOOL},
};

static enum vb_err make_global(struct vm *m, const char *mod, size_t ml, const char *name,
                               size_t nl)
{
    struct nn_pk *g = node(m->tz, NN_PK_GLOBAL);
    if (!g)
        return VB_ERR_NOMEM;
#define IS(a, l, lit) ((l) == sizeof(lit) - 1 && memcmp((a), (lit), (l)) == 0)
    if (IS(mod, ml, "torch._utils") && IS(name, nl, "_rebuild_tensor_v2"))
        g->i = G_REBUILD_TENSOR;
    else if (IS(mod, ml, "collections") && IS(name, nl, "OrderedDict"))
        g->i = G_ORDERED_DICT;
    else if (IS(mod, ml, "torch")) {
        for (size_t i = 0; i < VB_ARRAY_LEN(storages); i++)
            if (nl == strlen(storages[i].name) && memcmp(name, storages[i].name, nl) == 0) {
                g->i = G_STORAGE;
                g->dtype = storages[i].dtype;
            }
    }
#undef IS
    if (!g->i)
        return vb_failf(m->why, m->cap, VB_ERR_FORMAT,
                        "pickle refers to %.*s.%.*s, which is not allowed",
                        (int)VB_MIN(ml, (size_t)64), mod, (int)VB_MIN(nl, (size_t)64), name);
    return vm_push(m, g);
}

static bool is_int(const struct nn_pk *k)
{
    return k && (k->type == NN_PK_INT || k->type == NN_PK_BOOL);
}

/* ('storage', <Storage global>, key, location, numel) */
static enum vb_err persistent_load(struct vm *m, const struct nn_pk *pid)
{
    if (!pid || pid->type != NN_PK_TUPLE || pid->n != 5 || pid->items[0]->type != NN_PK_STR ||
        strcmp(pid->items[0]->s, "storage") != 0 || pid->items[1]->type != NN_PK_GLOBAL ||
        pid->items[1]->i != G_STORAGE || pid->items[2]->type != NN_PK_STR ||
        !is_int(pid->items[4]) || pid->items[4]->i < 0)
        return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "unsupported persistent id in pickle");
    const struct nn_pk *key = pid->items[2];
    char rel[320];
    int rl = snprintf(rel, sizeof rel, "data/%.*s", (int)VB_MIN(key->len, (size_t)256), key->s);
    const struct zent *z = zip_find(m->tz, m->tz->prefix, m->tz->prefix_len, rel, (size_t)rl);
    if (!z || !z->data)
        return vb_failf(m->why, m->cap, VB_ERR_FORMAT,
                        "storage '%s' missing or compressed in the archive", rel);
    enum nn_st_dtype dt = pid->items[1]->dtype;
    uint64_t numel = (uint64_t)pid->items[4]->i, es = nn_st_dtype_size(dt);
    if (numel > z->size / es)
        return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "storage '%s': %llu elements in %zu bytes",
                        rel, (unsigned long long)numel, z->size);
    struct nn_pk *s = node(m->tz, NN_PK_STORAGE);
    if (!s)
        return VB_ERR_NOMEM;
    s->dtype = dt;
    s->data = z->data;
    s->nbytes = (size_t)(numel * es);
    return vm_push(m, s);
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]) */
static enum vb_err rebuild_tensor(struct vm *m, const struct nn_pk *a)
{
    if (!a || a->type != NN_PK_TUPLE || a->n < 4 || a->items[0]->type != NN_PK_STORAGE ||
        !is_int(a->items[1]) || a->items[1]->i < 0 || a->items[2]->type != NN_PK_TUPLE ||
        a->items[3]->type != NN_PK_TUPLE || a->items[2]->n != a->items[3]->n ||
        a->items[2]->n > NN_ST_MAX_DIMS)
        return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "malformed tensor in pickle");
    const struct nn_pk *st = a->items[0], *size = a->items[2], *stride = a->items[3];
    struct nn_pk *t = node(m->tz, NN_PK_TENSOR);
    if (!t)
        return VB_ERR_NOMEM;
    t->dtype = st->dtype;
    t->n_dims = (int)size->n;
    uint64_t numel = 1;
    for (int i = 0; i < t->n_dims; i++) {
        if (!is_int(size->items[i]) || size->items[i]->i < 0 || size->items[i]->i > INT32_MAX)
            return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "bad tensor size in pickle");
        t->shape[i] = size->items[i]->i;
        numel *= (uint64_t)t->shape[i];
        if (numel > ((uint64_t)1 << 40))
            return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "tensor too large in pickle");
    }
    /* contiguous row-major only */
    int64_t want = 1;
    for (int i = t->n_dims - 1; i >= 0; i--) {
        if (!is_int(stride->items[i]))
            return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "bad tensor stride in pickle");
        if (t->shape[i] > 1 && stride->items[i]->i != want)
            return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "non-contiguous tensor in pickle");
        want *= t->shape[i];
    }
    uint64_t es = nn_st_dtype_size(t->dtype), off = (uint64_t)a->items[1]->i;
    if (off > st->nbytes / es || numel > st->nbytes / es - off)
        return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "tensor exceeds its storage");
    t->data = (const uint8_t *)st->data + off * es;
    t->nbytes = (size_t)(numel * es);
    return vm_push(m, t);
}

static enum vb_err collect(struct vm *m, enum nn_pk_type type, size_t from)
{
    struct nn_pk *c = node(m->tz, type);
    if (!c)
        return VB_ERR_NOMEM;
    for (size_t i = from; i < m->sp; i++)
        if (!push_item(c, m->stack[i]))
            return VB_ERR_NOMEM;
    m->sp = from;
    return vm_push(m, c);
}

static enum vb_err pop_mark(struct vm *m, size_t *at)
{
    if (m->nm == 0)
        return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle: no mark");
    *at = m->marks[--m->nm];
    return VB_OK;
}

static enum vb_err add_pairs(struct vm *m, struct nn_pk *d, size_t from)
{
    if (!d || d->type != NN_PK_DICT || (m->sp - from) % 2)
        return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle: SETITEMS on a non-dict");
    for (size_t i = from; i < m->sp; i++)
        if (!push_item(d, m->stack[i]))
            return VB_ERR_NOMEM;
    m->sp = from;
    return VB_OK;
}

static enum vb_err run(struct vm *m)
{
    enum vb_err err = VB_OK;
    while (err == VB_OK) {
        if (!need(m, 1))
            return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle truncated");
        uint8_t op = *m->p++;
        size_t at = 0;
        struct nn_pk *a, *b, *c;
        switch (op) {
        case 0x80: /* PROTO */
            if (!need(m, 1))
                return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle truncated");
            m->p++;
            break;
        case 0x95: /* FRAME */
            if (!need(m, 8))
                return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle truncated");
            m->p += 8;
            break;
        case '.': /* STOP */
            m->tz->root = vm_pop(m);
            return m->tz->root
                       ? VB_OK
                       : vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle: empty stack at STOP");
        case '(': /* MARK */
            if (m->nm == m->mcap) {
                size_t nc = m->mcap ? 2 * m->mcap : 16;
                if (nc > MAX_STACK)
                    return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle: too many marks");
                size_t *p = vb_try_realloc(m->marks, nc * sizeof *p);
                if (!p)
                    return VB_ERR_NOMEM;
                m->marks = p;
                m->mcap = nc;
            }
            m->marks[m->nm++] = m->sp;
            break;
        case '}':
            err = vm_push(m, node(m->tz, NN_PK_DICT));
            break;
        case ']':
            err = vm_push(m, node(m->tz, NN_PK_LIST));
            break;
        case ')':
            err = vm_push(m, node(m->tz, NN_PK_TUPLE));
            break;
        case 'N':
            err = vm_push(m, node(m->tz, NN_PK_NONE));
            break;
        case 0x88:
        case 0x89:
            a = node(m->tz, NN_PK_BOOL);
            if (a)
                a->i = op == 0x88;
            err = vm_push(m, a);
            break;
        case 'K':
            if (!need(m, 1))
                return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle truncated");
            err = vm_push(m, new_int(m, m->p[0]));
            m->p += 1;
            break;
        case 'M':
            if (!need(m, 2))
                return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle truncated");
            err = vm_push(m, new_int(m, rd16(m->p)));
            m->p += 2;
            break;
        case 'J':
            if (!need(m, 4))
                return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle truncated");
            err = vm_push(m, new_int(m, (int32_t)rd32(m->p)));
            m->p += 4;
            break;
        case 0x8a: { /* LONG1 */
            if (!need(m, 1) || !need(m, (size_t)1 + m->p[0]))
                return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle truncated");
            size_t nb = m->p[0];
            if (nb > 8)
                return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle integer too large");
            uint64_t v = 0;
            for (size_t i = 0; i < nb; i++)
                v |= (uint64_t)m->p[1 + i] << (8 * i);
            if (nb && nb < 8 && (m->p[nb] & 0x80))
                v |= ~(uint64_t)0 << (8 * nb); /* sign-extend */
            err = vm_push(m, new_int(m, (int64_t)v));
            m->p += 1 + nb;
            break;
        }
        case 'G': { /* BINFLOAT, big-endian */
            if (!need(m, 8))
                return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle truncated");
            uint64_t v = 0;
            for (int i = 0; i < 8; i++)
                v = v << 8 | m->p[i];
            double d;
            memcpy(&d, &v, 8);
            a = node(m->tz, NN_PK_FLOAT);
            if (a)
                a->f = d;
            err = vm_push(m, a);
            m->p += 8;
            break;
        }
        case 'X':    /* BINUNICODE */
        case 'B':    /* BINBYTES */
        case 'T':    /* BINSTRING */
        case 0x8c:   /* SHORT_BINUNICODE */
        case 'C':    /* SHORT_BINBYTES */
        case 'U':    /* SHORT_BINSTRING */
        case 0x8d:   /* BINUNICODE8 */
        case 0x8e: { /* BINBYTES8 */
            size_t hl = (op == 0x8c || op == 'C' || op == 'U') ? 1
                        : (op == 0x8d || op == 0x8e)           ? 8
                                                               : 4;
            if (!need(m, hl))
                return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle truncated");
            uint64_t len = hl == 1 ? m->p[0] : hl == 4 ? rd32(m->p) : rd64(m->p);
            m->p += hl;
            if ((uint64_t)(m->end - m->p) < len)
                return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle string truncated");
            err = vm_push(m, new_str(m, m->p, (size_t)len));
            m->p += len;
            break;
        }
        case 'c': { /* GLOBAL "module\nname\n" */
            const uint8_t *s1 = m->p, *nl1 = memchr(s1, '\n', (size_t)(m->end - s1));
            if (!nl1)
                return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle truncated");
            const uint8_t *s2 = nl1 + 1, *nl2 = memchr(s2, '\n', (size_t)(m->end - s2));
            if (!nl2)
                return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle truncated");
            err = make_global(m, (const char *)s1, (size_t)(nl1 - s1), (const char *)s2,
                              (size_t)(nl2 - s2));
            m->p = nl2 + 1;
            break;
        }
        case 0x93: /* STACK_GLOBAL */
            b = vm_pop(m);
            a = vm_pop(m);
            if (!a || !b || a->type != NN_PK_STR || b->type != NN_PK_STR)
                return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle: bad STACK_GLOBAL");
            err = make_global(m, a->s, a->len, b->s, b->len);
            break;
        case 'q':
            if (!need(m, 1))
                return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle truncated");
            err = memo_put(m, m->p[0]);
            m->p += 1;
            break;
        case 'r':
            if (!need(m, 4))
                return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle truncated");
            err = memo_put(m, rd32(m->p));
            m->p += 4;
            break;
        case 0x94: /* MEMOIZE */
            err = memo_put(m, m->memo_count);
            break;
        case 'h':
            if (!need(m, 1))
                return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle truncated");
            err = memo_get(m, m->p[0]);
            m->p += 1;
            break;
        case 'j':
            if (!need(m, 4))
                return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle truncated");
            err = memo_get(m, rd32(m->p));
            m->p += 4;
            break;
        case 't': /* TUPLE */
        case 'l': /* LIST */
            if ((err = pop_mark(m, &at)) == VB_OK)
                err = collect(m, op == 't' ? NN_PK_TUPLE : NN_PK_LIST, at);
            break;
        case 'd': /* DICT */
            if ((err = pop_mark(m, &at)) == VB_OK) {
                if ((m->sp - at) % 2)
                    return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle: odd DICT");
                err = collect(m, NN_PK_DICT, at);
            }
            break;
        case 0x85:
        case 0x86:
        case 0x87: { /* TUPLE1..3 */
            size_t k = (size_t)(op - 0x84);
            if (m->sp < k || (m->nm && m->sp - k < m->marks[m->nm - 1]))
                return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle stack underflow");
            err = collect(m, NN_PK_TUPLE, m->sp - k);
            break;
        }
        case '0': /* POP */
            if (!vm_pop(m))
                return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle stack underflow");
            break;
        case '1': /* POP_MARK */
            if ((err = pop_mark(m, &at)) == VB_OK)
                m->sp = at;
            break;
        case '2': /* DUP */
            if (m->sp == 0)
                return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle stack underflow");
            err = vm_push(m, m->stack[m->sp - 1]);
            break;
        case 's': /* SETITEM */
            c = vm_pop(m);
            b = vm_pop(m);
            if (!c || !b || m->sp == 0 || m->stack[m->sp - 1]->type != NN_PK_DICT)
                return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle: bad SETITEM");
            if (!push_item(m->stack[m->sp - 1], b) || !push_item(m->stack[m->sp - 1], c))
                return VB_ERR_NOMEM;
            break;
        case 'u': /* SETITEMS */
            if ((err = pop_mark(m, &at)) != VB_OK)
                break;
            if (at == 0)
                return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle: SETITEMS without a dict");
            err = add_pairs(m, m->stack[at - 1], at);
            break;
        case 'a': /* APPEND */
            b = vm_pop(m);
            if (!b || m->sp == 0 || m->stack[m->sp - 1]->type != NN_PK_LIST)
                return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle: bad APPEND");
            if (!push_item(m->stack[m->sp - 1], b))
                return VB_ERR_NOMEM;
            break;
        case 'e': /* APPENDS */
            if ((err = pop_mark(m, &at)) != VB_OK)
                break;
            if (at == 0 || m->stack[at - 1]->type != NN_PK_LIST)
                return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle: bad APPENDS");
            for (size_t i = at; i < m->sp; i++)
                if (!push_item(m->stack[at - 1], m->stack[i]))
                    return VB_ERR_NOMEM;
            m->sp = at;
            break;
        case 'Q': /* BINPERSID */
            a = vm_pop(m);
            err = persistent_load(m, a);
            break;
        case 'R': /* REDUCE */
            b = vm_pop(m);
            a = vm_pop(m);
            if (!a || !b || a->type != NN_PK_GLOBAL || b->type != NN_PK_TUPLE)
                return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle: REDUCE of a non-callable");
            if (a->i == G_ORDERED_DICT)
                err = vm_push(m, node(m->tz, NN_PK_DICT));
            else if (a->i == G_REBUILD_TENSOR)
                err = rebuild_tensor(m, b);
            else
                return vb_failf(m->why, m->cap, VB_ERR_FORMAT,
                                "pickle: storage types are not callable");
            break;
        case 'b': /* BUILD: state is data only; nothing runs */
            if (!vm_pop(m) || m->sp == 0)
                return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "pickle: bad BUILD");
            break;
        default:
            return vb_failf(m->why, m->cap, VB_ERR_FORMAT, "unsupported pickle opcode 0x%02x", op);
        }
    }
    return err;
}

static enum vb_err parse(struct nn_tz *tz, char *why, size_t cap)
{
    enum vb_err err = zip_parse(tz, why, cap);
    if (err != VB_OK)
        return err;
    const struct zent *pk = NULL;
    for (size_t i = 0; i < tz->n_ents; i++) {
        const struct zent *z = &tz->ents[i];
        const char *slash = memchr(z->name, '/', z->name_len);
        if (slash && (size_t)(z->name + z->name_len - slash) == sizeof "/data.pkl" - 1 &&
            memcmp(slash, "/data.pkl", sizeof "/data.pkl" - 1) == 0) {
            pk = z;
            tz->prefix = z->name;
            tz->prefix_len = (size_t)(slash - z->name) + 1;
            break;
        }
    }
    if (!pk)
        return vb_failf(why, cap, VB_ERR_FORMAT, "not a PyTorch archive (no <name>/data.pkl)");
    if (!pk->data)
        return vb_failf(why, cap, VB_ERR_FORMAT, "data.pkl is compressed or out of range");
    struct vm m = {.tz = tz, .p = pk->data, .end = pk->data + pk->size, .why = why, .cap = cap};
    err = run(&m);
    vb_free(m.stack);
    vb_free(m.marks);
    vb_free(m.memo);
    if (err == VB_ERR_NOMEM)
        vb_failf(why, cap, VB_ERR_FORMAT, "out of memory reading the pickle");
    return err;
}

static enum vb_err open_common(struct nn_tz *tz, struct nn_tz **out, char *why, size_t cap)
{
    enum vb_err err = parse(tz, why, cap);
    if (err != VB_OK) {
        nn_tz_close(tz);
        return err;
    }
    *out = tz;
    return VB_OK;
}

enum vb_err nn_tz_open_memory(const void *data, size_t len, struct nn_tz **out, char *why,
                              size_t why_cap)
{
    *out = NULL;
    if ((!data && len) || len > NN_TZ_MAX_BYTES)
        return vb_failf(why, why_cap, VB_ERR_FORMAT, "bad archive buffer");
    struct nn_tz *tz = vb_try_calloc(1, sizeof *tz);
    if (!tz)
        return VB_ERR_NOMEM;
    tz->base = data;
    tz->size = len;
    return open_common(tz, out, why, why_cap);
}

enum vb_err nn_tz_open(const char *path, struct nn_tz **out, char *why, size_t why_cap)
{
    *out = NULL;
    struct nn_mapping map;
    enum vb_err err = nn_map_file(path, 22, NN_TZ_MAX_BYTES, false, &map, why, why_cap);
    if (err)
        return err;
    struct nn_tz *tz = vb_try_calloc(1, sizeof *tz);
    if (!tz) {
        nn_unmap_file(&map);
        return VB_ERR_NOMEM;
    }
    tz->base = map.base;
    tz->size = map.size;
    tz->mapped = true;
    return open_common(tz, out, why, why_cap);
}

void nn_tz_close(struct nn_tz *tz)
{
    if (!tz)
        return;
    for (size_t i = 0; i < tz->n_nodes; i++) {
        struct nn_pk *k = tz->nodes[i];
        if (k->type == NN_PK_STR)
            vb_free((void *)k->s);
        vb_free(k->items);
        vb_free(k);
    }
    vb_free(tz->nodes);
    vb_free(tz->ents);
    if (tz->mapped)
        munmap((void *)tz->base, tz->size);
    vb_free(tz);
}

const struct nn_pk *nn_tz_root(const struct nn_tz *tz)
{
    return tz->root;
}
