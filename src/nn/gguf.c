/* gguf.c: validating GGUF v2/v3 reader (see specs/gguf-qwen2.md §1). All reads go through a
 * bounds-checked cursor; sizes are checked for overflow before any allocation. */
#include "core/vb.h"
#include "core/err.h"
#include "nn/gguf.h"
#include "nn/mapfile.h"
#include "core/alloc.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct gguf_file {
    const uint8_t *base; /* mapping or caller buffer */
    size_t size;
    bool mapped;
    uint32_t version;
    size_t alignment;
    size_t data_offset;
    struct gguf_kv *kvs;
    size_t n_kv;
    size_t *kv_order; /* kv indices sorted by key */
    struct nn_tensor *tensors;
    char (*names)[GGUF_MAX_NAME];
    size_t n_tensors;
    size_t *tensor_order; /* tensor indices sorted by name */
};

struct cursor {
    const uint8_t *p;
    size_t pos, size;
    char *why;
    size_t why_cap;
};

static bool fail(struct cursor *c, const char *fmt, ...) VB_PRINTF(2, 3);
static bool fail(struct cursor *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vb_vfailf(c->why, c->why_cap, VB_ERR_FORMAT, fmt, ap);
    va_end(ap);
    return false;
}

static bool need(struct cursor *c, uint64_t n, const char *what)
{
    if (n > c->size - c->pos)
        return fail(c, "truncated file: %s at byte %zu needs %llu bytes, %zu left", what, c->pos,
                    (unsigned long long)n, c->size - c->pos);
    return true;
}

static bool rd_u32(struct cursor *c, uint32_t *v, const char *what)
{
    if (!need(c, 4, what))
        return false;
    memcpy(v, c->p + c->pos, 4);
    c->pos += 4;
    return true;
}

static bool rd_u64(struct cursor *c, uint64_t *v, const char *what)
{
    if (!need(c, 8, what))
        return false;
    memcpy(v, c->p + c->pos, 8);
    c->pos += 8;
    return true;
}

/* Reads a GGUF string: u64 length then bytes. */
static bool rd_str(struct cursor *c, const uint8_t **s, uint64_t *len, const char *what)
{
    if (!rd_u64(c, len, what) || !need(c, *len, what))
        return false;
    *s = c->p + c->pos;
    c->pos += (size_t)*len;
    return true;
}

static size_t scalar_size(enum gguf_type t)
{
    switch (t) {
    case GGUF_TYPE_UINT8:
    case GGUF_TYPE_INT8:
    case GGUF_TYPE_BOOL:
        return 1;
    case GGUF_TYPE_UINT16:
    case GGUF_TYPE_INT16:
        return 2;
    case GGUF_TYPE_UINT32:
    case GGUF_TYPE_INT32:
    case GGUF_TYPE_FLOAT32:
        return 4;
    case GGUF_TYPE_UINT64:
    case GGUF_TYPE_INT64:
    case GGUF_TYPE_FLOAT64:
        return 8;
    default:
        return 0;
    }
}

const char *gguf_type_name(enum gguf_type t)
{
    static const char *const names[GGUF_TYPE_COUNT] = {
        "u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
        "bool", "string", "array", "u64", "i64", "f64",
    };
    return (int)t >= 0 && t < GGUF_TYPE_COUNT ? names[t] : "?";
}

static int cmp_kv(const void *a, const void *b, void *ctx)
{
    const struct gguf_file *g = ctx;
    return strcmp(g->kvs[*(const size_t *)a].key, g->kvs[*(const size_t *)b].key);
}

static int cmp_tensor_name(const void *a, const void *b, void *ctx)
{
    const struct gguf_file *g = ctx;
    return strcmp(g->names[*(const size_t *)a], g->names[*(const size_t *)b]);
}

static int cmp_tensor_off(const void *a, const void *b, void *ctx)
{
    const struct gguf_file *g = ctx;
    const uint8_t *x = g->tensors[*(const size_t *)a].data,
                  *y = g->tensors[*(const size_t *)b].data;
    return x < y ? -1 : x > y;
}

static bool parse_value(struct cursor *c, struct gguf_kv *kv)
{
    kv->val = c->p + c->pos;
    if (kv->type == GGUF_TYPE_STRING) {
        const uint8_t *s;
        if (!rd_str(c, &s, &kv->str_len, "string value"))
            return false;
        kv->val = s;
        return true;
    }
    if (kv->type != GGUF_TYPE_ARRAY) {
        size_t sz = scalar_size(kv->type);
        if (!sz)
            return fail(c, "key '%s': unknown value type %d", kv->key, (int)kv->type);
        if (!need(c, sz, "value"))
            return false;
        c->pos += sz;
        return true;
    }
    uint32_t at;
    if (!rd_u32(c, &at, "array type") || !rd_u64(c, &kv->arr_n, "array count"))
        return false;
    kv->arr_type = (enum gguf_type)(int32_t)at;
    kv->val = c->p + c->pos;
    if (kv->arr_type == GGUF_TYPE_ARRAY)
        return fail(c, "key '%s': nested arrays are not supported", kv->key);
    if (kv->arr_type == GGUF_TYPE_STRING) {
        if (kv->arr_n > (c->size - c->pos) / 8)
            return fail(c, "key '%s': string array count %llu exceeds the file size", kv->key,
                        (unsigned long long)kv->arr_n);
        kv->str_offs = vb_try_malloc((size_t)(kv->arr_n ? kv->arr_n : 1) * sizeof(uint64_t));
        if (!kv->str_offs)
            return fail(c, "out of memory for string array '%s'", kv->key);
        size_t start = c->pos;
        for (uint64_t i = 0; i < kv->arr_n; i++) {
            const uint8_t *s;
            uint64_t len;
            kv->str_offs[i] = c->pos - start;
            if (!rd_str(c, &s, &len, "array string"))
                return false;
        }
        return true;
    }
    size_t sz = scalar_size(kv->arr_type);
    if (!sz)
        return fail(c, "key '%s': unknown array element type %d", kv->key, (int)kv->arr_type);
    if (kv->arr_n > (c->size - c->pos) / sz)
        return fail(c, "key '%s': array of %llu elements exceeds the file size", kv->key,
                    (unsigned long long)kv->arr_n);
    c->pos += (size_t)kv->arr_n * sz;
    return true;
}

static bool parse(struct gguf_file *g, struct cursor *c)
{
    if (c->size < 4 || memcmp(c->p, "GGUF", 4) != 0)
        return fail(c, "not a GGUF file (bad magic)");
    c->pos = 4;
    if (!rd_u32(c, &g->version, "version"))
        return false;
    if (g->version == 1)
        return fail(c, "GGUF version 1 is no longer supported");
    if (g->version != 2 && g->version != 3) {
        if ((g->version & 0xffff) == 0)
            return fail(c, "big-endian GGUF files are not supported");
        return fail(c, "unsupported GGUF version %u", g->version);
    }
    uint64_t n_tensors, n_kv;
    if (!rd_u64(c, &n_tensors, "tensor count") || !rd_u64(c, &n_kv, "metadata count"))
        return false;
    /* minimal record sizes: kv 8+4+1 bytes, tensor info 8+4+8+4+8 bytes */
    if (n_kv > (c->size - c->pos) / 13)
        return fail(c, "metadata count %llu exceeds the file size", (unsigned long long)n_kv);
    g->kvs = vb_try_calloc(n_kv ? (size_t)n_kv : 1, sizeof *g->kvs);
    g->kv_order = vb_try_calloc(n_kv ? (size_t)n_kv : 1, sizeof *g->kv_order);
    if (!g->kvs || !g->kv_order)
        return fail(c, "out of memory");
    for (uint64_t i = 0; i < n_kv; i++) {
        struct gguf_kv *kv = &g->kvs[i];
        const uint8_t *k;
        uint64_t klen;
        uint32_t t;
        if (!rd_str(c, &k, &klen, "key"))
            return false;
        if (klen == 0 || klen > 65535 || memchr(k, 0, (size_t)klen))
            return fail(c, "metadata key %llu: bad key (length %llu)", (unsigned long long)i,
                        (unsigned long long)klen);
        char *key = vb_try_malloc((size_t)klen + 1);
        if (!key)
            return fail(c, "out of memory");
        memcpy(key, k, (size_t)klen);
        key[klen] = 0;
        kv->key = key;
        g->n_kv = (size_t)i + 1;
        if (!rd_u32(c, &t, "value type"))
            return false;
        kv->type = (enum gguf_type)(int32_t)t;
        if ((int)kv->type < 0 || kv->type >= GGUF_TYPE_COUNT)
            return fail(c, "key '%s': unknown value type %d", kv->key, (int)(int32_t)t);
        if (!parse_value(c, kv))
            return false;
        g->kv_order[i] = (size_t)i;
    }
    qsort_r(g->kv_order, g->n_kv, sizeof *g->kv_order, cmp_kv, g);
    for (size_t i = 1; i < g->n_kv; i++)
        if (strcmp(g->kvs[g->kv_order[i - 1]].key, g->kvs[g->kv_order[i]].key) == 0)
            return fail(c, "duplicate metadata key '%s'", g->kvs[g->kv_order[i]].key);

    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    const struct gguf_kv *al = gguf_find_kv(g, "general.alignment");
    if (al) {
        uint32_t a;
        if (al->type != GGUF_TYPE_UINT32)
            return fail(c, "general.alignment must be u32, found %s", gguf_type_name(al->type));
        memcpy(&a, al->val, 4);
        if (a == 0 || (a & (a - 1)) != 0)
            return fail(c, "general.alignment %u is not a power of two", a);
        g->alignment = a;
    }

    if (n_tensors > (c->size - c->pos) / 32)
        return fail(c, "tensor count %llu exceeds the file size", (unsigned long long)n_tensors);
    size_t nt = (size_t)n_tensors;
    g->tensors = vb_try_calloc(nt ? nt : 1, sizeof *g->tensors);
    g->names = vb_try_calloc(nt ? nt : 1, sizeof *g->names);
    g->tensor_order = vb_try_calloc(nt ? nt : 1, sizeof *g->tensor_order);
    uint64_t *offs = vb_try_calloc(nt ? nt : 1, sizeof *offs);
    bool ok = false;
    if (!g->tensors || !g->names || !g->tensor_order || !offs) {
        fail(c, "out of memory");
        goto out;
    }
    g->n_tensors = nt;
    for (size_t i = 0; i < nt; i++) {
        struct nn_tensor *t = &g->tensors[i];
        const uint8_t *name;
        uint64_t nlen;
        uint32_t nd, type;
        if (!rd_str(c, &name, &nlen, "tensor name"))
            goto out;
        if (nlen == 0 || nlen >= GGUF_MAX_NAME || memchr(name, 0, (size_t)nlen)) {
            fail(c, "tensor %zu: bad name (length %llu, limit %d)", i, (unsigned long long)nlen,
                 GGUF_MAX_NAME - 1);
            goto out;
        }
        memcpy(g->names[i], name, (size_t)nlen);
        t->name = g->names[i];
        if (!rd_u32(c, &nd, "tensor dims"))
            goto out;
        if (nd < 1 || nd > NN_MAX_DIMS) {
            fail(c, "tensor '%s': %u dimensions (1..%d allowed)", t->name, nd, NN_MAX_DIMS);
            goto out;
        }
        t->n_dims = (int)nd;
        int64_t total = 1;
        for (int d = 0; d < NN_MAX_DIMS; d++) {
            uint64_t ne = 1;
            if (d < (int)nd && !rd_u64(c, &ne, "tensor shape"))
                goto out;
            if (ne > (uint64_t)INT64_MAX) {
                fail(c, "tensor '%s': negative dimension %d", t->name, d);
                goto out;
            }
            t->ne[d] = (int64_t)ne;
            if (ne != 0 && total > INT64_MAX / (int64_t)ne) {
                fail(c, "tensor '%s': element count overflows", t->name);
                goto out;
            }
            total *= (int64_t)ne;
        }
        if (!rd_u32(c, &type, "tensor type") || !rd_u64(c, &offs[i], "tensor offset"))
            goto out;
        const struct nn_type_info *ti = nn_type_info((int)(int32_t)type);
        if (!ti) {
            fail(c, "unsupported tensor type %d for tensor '%s'", (int)(int32_t)type, t->name);
            goto out;
        }
        t->type = (enum nn_type)type;
        if (t->ne[0] % ti->block != 0) {
            fail(c, "tensor '%s': row length %lld is not a multiple of the %s block size %d",
                 t->name, (long long)t->ne[0], ti->name, ti->block);
            goto out;
        }
        t->row_bytes = nn_row_bytes((int)t->type, t->ne[0]);
        uint64_t rows = (uint64_t)t->ne[1] * (uint64_t)t->ne[2] * (uint64_t)t->ne[3];
        if ((t->row_bytes == 0 && t->ne[0] != 0) || (rows != 0 && t->row_bytes > SIZE_MAX / rows)) {
            fail(c, "tensor '%s': byte size overflows", t->name);
            goto out;
        }
        t->nbytes = t->row_bytes * (size_t)rows;
        g->tensor_order[i] = i;
    }
    qsort_r(g->tensor_order, nt, sizeof *g->tensor_order, cmp_tensor_name, g);
    for (size_t i = 1; i < nt; i++)
        if (strcmp(g->names[g->tensor_order[i - 1]], g->names[g->tensor_order[i]]) == 0) {
            fail(c, "duplicate tensor name '%s'", g->names[g->tensor_order[i]]);
            goto out;
        }

    size_t pad = (g->alignment - c->pos % g->alignment) % g->alignment;
    if (pad > SIZE_MAX - c->pos) {
        fail(c, "data offset overflows");
        goto out;
    }
    g->data_offset = c->pos + pad;
    if (nt > 0 && g->data_offset > c->size) {
        fail(c, "truncated file: data section starts at %zu, file has %zu bytes", g->data_offset,
             c->size);
        goto out;
    }
    for (size_t i = 0; i < nt; i++) {
        struct nn_tensor *t = &g->tensors[i];
        if (offs[i] % g->alignment != 0) {
            fail(c, "tensor '%s': offset %llu is not a multiple of the alignment %zu", t->name,
                 (unsigned long long)offs[i], g->alignment);
            goto out;
        }
        size_t avail = c->size - g->data_offset;
        if (offs[i] > avail || t->nbytes > avail - offs[i]) {
            fail(c, "tensor '%s': data [%llu, +%zu) lies beyond the end of the file", t->name,
                 (unsigned long long)offs[i], t->nbytes);
            goto out;
        }
        t->data = c->p + g->data_offset + offs[i];
    }
    /* no two tensors may share bytes */
    size_t *by_off = vb_try_malloc((nt ? nt : 1) * sizeof *by_off);
    if (!by_off) {
        fail(c, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nt; i++)
        by_off[i] = i;
    qsort_r(by_off, nt, sizeof *by_off, cmp_tensor_off, g);
    for (size_t i = 1; i < nt; i++) {
        const struct nn_tensor *a = &g->tensors[by_off[i - 1]], *b = &g->tensors[by_off[i]];
        if ((const uint8_t *)a->data + a->nbytes > (const uint8_t *)b->data) {
            fail(c, "tensors '%s' and '%s' overlap", a->name, b->name);
            vb_free(by_off);
            goto out;
        }
    }
    vb_free(by_off);
    ok = true;
out:
    vb_free(offs);
    return ok;
}

static enum vb_err open_common(struct gguf_file *g, struct gguf_file **out, char *why,
                               size_t why_cap)
{
    struct cursor c = {g->base, 0, g->size, why, why_cap};
    if (!parse(g, &c)) {
        gguf_close(g);
        return VB_ERR_FORMAT;
    }
    *out = g;
    return VB_OK;
}

enum vb_err gguf_open_mem(const void *data, size_t size, struct gguf_file **out, char *why,
                          size_t why_cap)
{
    *out = NULL;
    struct gguf_file *g = vb_try_calloc(1, sizeof *g);
    if (!g)
        return VB_ERR_NOMEM;
    g->base = data;
    g->size = size;
    return open_common(g, out, why, why_cap);
}

enum vb_err gguf_open(const char *path, struct gguf_file **out, char *why, size_t why_cap)
{
    *out = NULL;
    struct nn_mapping map;
    /* start reading the weights from disk in the background (advice only) */
    enum vb_err err = nn_map_file(path, 1, 0, true, &map, why, why_cap);
    if (err)
        return err;
    struct gguf_file *g = vb_try_calloc(1, sizeof *g);
    if (!g) {
        nn_unmap_file(&map);
        return VB_ERR_NOMEM;
    }
    g->base = map.base;
    g->size = map.size;
    g->mapped = true;
    return open_common(g, out, why, why_cap);
}

void gguf_close(struct gguf_file *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n_kv; i++) {
        vb_free((void *)g->kvs[i].key);
        vb_free(g->kvs[i].str_offs);
    }
    vb_free(g->kvs);
    vb_free(g->kv_order);
    vb_free(g->tensors);
    vb_free(g->names);
    vb_free(g->tensor_order);
    if (g->mapped)
        munmap((void *)g->base, g->size);
    vb_free(g);
}

uint32_t gguf_version(const struct gguf_file *g)
{
    return g->version;
}
size_t gguf_alignment(const struct gguf_file *g)
{
    return g->alignment;
}
size_t gguf_data_offset(const struct gguf_file *g)
{
    return g->data_offset;
}
size_t gguf_file_size(const struct gguf_file *g)
{
    return g->size;
}
size_t gguf_kv_count(const struct gguf_file *g)
{
    return g->n_kv;
}
const struct gguf_kv *gguf_kv_at(const struct gguf_file *g, size_t i)
{
    return i < g->n_kv ? &g->kvs[i] : NULL;
}

const struct gguf_kv *gguf_find_kv(const struct gguf_file *g, const char *key)
{
    size_t lo = 0, hi = g->n_kv;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = strcmp(g->kvs[g->kv_order[mid]].key, key);
        if (r == 0)
            return &g->kvs[g->kv_order[mid]];
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Reads an integer-typed scalar at p as int64 (u64 above INT64_MAX fails). */
static bool int_at(enum gguf_type t, const uint8_t *p, int64_t *out)
{
    switch (t) {
    case GGUF_TYPE_UINT8:
        *out = *p;
        return true;
    case GGUF_TYPE_INT8:
        *out = (int8_t)*p;
        return true;
    case GGUF_TYPE_UINT16: {
        uint16_t v;
        memcpy(&v, p, 2);
        *out = v;
        return true;
    }
    case GGUF_TYPE_INT16: {
        int16_t v;
        memcpy(&v, p, 2);
        *out = v;
        return true;
    }
    case GGUF_TYPE_UINT32: {
        uint32_t v;
        memcpy(&v, p, 4);
        *out = v;
        return true;
    }
    case GGUF_TYPE_INT32: {
        int32_t v;
        memcpy(&v, p, 4);
        *out = v;
        return true;
    }
    case GGUF_TYPE_UINT64: {
        uint64_t v;
        memcpy(&v, p, 8);
        if (v > (uint64_t)INT64_MAX)
            return false;
        *out = (int64_t)v;
        return true;
    }
    case GGUF_TYPE_INT64:
        memcpy(out, p, 8);
        return true;
    default:
        return false;
    }
}

bool gguf_get_i64(const struct gguf_file *g, const char *key, int64_t *out)
{
    const struct gguf_kv *kv = gguf_find_kv(g, key);
    return kv && int_at(kv->type, kv->val, out);
}

bool gguf_get_u32(const struct gguf_file *g, const char *key, uint32_t *out)
{
    int64_t v;
    if (!gguf_get_i64(g, key, &v) || v < 0 || v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

bool gguf_get_f32(const struct gguf_file *g, const char *key, float *out)
{
    const struct gguf_kv *kv = gguf_find_kv(g, key);
    if (!kv)
        return false;
    if (kv->type == GGUF_TYPE_FLOAT32) {
        memcpy(out, kv->val, 4);
        return true;
    }
    if (kv->type == GGUF_TYPE_FLOAT64) {
        double d;
        memcpy(&d, kv->val, 8);
        *out = (float)d;
        return true;
    }
    int64_t v;
    if (!int_at(kv->type, kv->val, &v))
        return false;
    *out = (float)v;
    return true;
}

bool gguf_get_bool(const struct gguf_file *g, const char *key, bool *out)
{
    const struct gguf_kv *kv = gguf_find_kv(g, key);
    if (!kv || kv->type != GGUF_TYPE_BOOL)
        return false;
    *out = *kv->val != 0;
    return true;
}

const char *gguf_get_str(const struct gguf_file *g, const char *key, size_t *len)
{
    const struct gguf_kv *kv = gguf_find_kv(g, key);
    if (!kv || kv->type != GGUF_TYPE_STRING)
        return NULL;
    *len = (size_t)kv->str_len;
    return (const char *)kv->val;
}

bool gguf_get_arr(const struct gguf_file *g, const char *key, enum gguf_type *type, uint64_t *n,
                  const struct gguf_kv **kvp)
{
    const struct gguf_kv *kv = gguf_find_kv(g, key);
    if (!kv || kv->type != GGUF_TYPE_ARRAY)
        return false;
    *type = kv->arr_type;
    *n = kv->arr_n;
    *kvp = kv;
    return true;
}

const char *gguf_arr_str(const struct gguf_kv *kv, uint64_t i, size_t *len)
{
    if (kv->type != GGUF_TYPE_ARRAY || kv->arr_type != GGUF_TYPE_STRING || i >= kv->arr_n)
        return NULL;
    const uint8_t *p = kv->val + kv->str_offs[i];
    uint64_t l;
    memcpy(&l, p, 8);
    *len = (size_t)l;
    return (const char *)p + 8;
}

bool gguf_arr_int(const struct gguf_kv *kv, uint64_t i, int64_t *out)
{
    if (kv->type != GGUF_TYPE_ARRAY || i >= kv->arr_n)
        return false;
    size_t sz = scalar_size(kv->arr_type);
    if (!sz || kv->arr_type == GGUF_TYPE_FLOAT32 || kv->arr_type == GGUF_TYPE_FLOAT64 ||
        kv->arr_type == GGUF_TYPE_BOOL)
        return false;
    return int_at(kv->arr_type, kv->val + i * sz, out);
}

bool gguf_arr_f32(const struct gguf_kv *kv, uint64_t i, float *out)
{
    if (kv->type != GGUF_TYPE_ARRAY || kv->arr_type != GGUF_TYPE_FLOAT32 || i >= kv->arr_n)
        return false;
    memcpy(out, kv->val + i * 4, 4);
    return true;
}

size_t gguf_tensor_count(const struct gguf_file *g)
{
    return g->n_tensors;
}

const struct nn_tensor *gguf_tensor_at(const struct gguf_file *g, size_t i)
{
    return i < g->n_tensors ? &g->tensors[i] : NULL;
}

const struct nn_tensor *gguf_find_tensor(const struct gguf_file *g, const char *name)
{
    size_t lo = 0, hi = g->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = strcmp(g->names[g->tensor_order[mid]], name);
        if (r == 0)
            return &g->tensors[g->tensor_order[mid]];
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
