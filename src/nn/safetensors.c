/* safetensors.c: validating, mmap-backed safetensors reader. The JSON header is parsed with
 * core/json.h; every tensor's dtype, shape and byte range is checked against the file before
 * any tensor is exposed. */
#include "core/vb.h"
#include "core/err.h"
#include "nn/safetensors.h"
#include "nn/mapfile.h"
#include "core/alloc.h"
#include "core/json.h"
#include "nn/fp16.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct nn_safetensors {
    const uint8_t *base; /* whole file (mapped or borrowed) */
    size_t size;
    bool mapped;
    struct nn_st_tensor *t; /* (n_t) in header order */
    size_t n_t;
    size_t *by_name;        /* (n_t) indices into t sorted by name */
    struct vb_json *header; /* owns the names */
    const struct vb_json *meta;
};

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    [NN_ST_F64] = {"F64", 8},   [NN_ST_F32] = {"F32", 4}, [NN_ST_F16] = {"F16", 2},
    [NN_ST_BF16] = {"BF16", 2}, [NN_ST_I64] = {"I64", 8}, [NN_ST_I32] = {"I32", 4},
    [NN_ST_I16] = {"I16", 2},   [NN_ST_I8] = {"I8", 1},   [NN_ST_U8] = {"U8", 1},
    [NN_ST_BOOL] = {"BOOL", 1},
};
#define N_DTYPES ((int)VB_ARRAY_LEN(dtypes))

const char *nn_st_dtype_name(enum nn_st_dtype dt)
{
    return (int)dt >= 0 && (int)dt < N_DTYPES ? dtypes[dt].name : "?";
}

size_t nn_st_dtype_size(enum nn_st_dtype dt)
{
    return (int)dt >= 0 && (int)dt < N_DTYPES ? dtypes[dt].size : 0;
}

static int cmp_name(const void *a, const void *b, void *ctx)
{
    const struct nn_safetensors *st = ctx;
    return strcmp(st->t[*(const size_t *)a].name, st->t[*(const size_t *)b].name);
}

static int cmp_off(const void *a, const void *b, void *ctx)
{
    const struct nn_safetensors *st = ctx;
    const struct nn_st_tensor *x = &st->t[*(const size_t *)a], *y = &st->t[*(const size_t *)b];
    const uint8_t *px = x->data, *py = y->data;
    if (px != py)
        return px < py ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

static bool json_u64(const struct vb_json *j, uint64_t *out)
{
    if (!j || j->type != VB_JSON_NUMBER || !j->is_integer || j->integer < 0)
        return false;
    *out = (uint64_t)j->integer;
    return true;
}

static enum vb_err parse_tensor(const struct vb_json *e, struct nn_st_tensor *t,
                                const uint8_t *data, size_t data_size, char *why, size_t cap)
{
    if (e->type != VB_JSON_OBJECT)
        return vb_failf(why, cap, VB_ERR_FORMAT, "tensor '%.64s': entry is not an object", e->key);
    const char *dt = vb_json_get_str(e, "dtype");
    const struct vb_json *shape = vb_json_get(e, "shape");
    const struct vb_json *offs = vb_json_get(e, "data_offsets");
    if (!dt || !shape || shape->type != VB_JSON_ARRAY || !offs || offs->type != VB_JSON_ARRAY ||
        offs->count != 2)
        return vb_failf(why, cap, VB_ERR_FORMAT,
                        "tensor '%.64s': needs dtype, shape and data_offsets [begin, end]", e->key);
    int d = -1;
    for (int i = 0; i < N_DTYPES; i++)
        if (strcmp(dt, dtypes[i].name) == 0)
            d = i;
    if (d < 0)
        return vb_failf(why, cap, VB_ERR_FORMAT, "tensor '%.64s': unsupported dtype '%.16s'",
                        e->key, dt);
    if (shape->count > NN_ST_MAX_DIMS)
        return vb_failf(why, cap, VB_ERR_FORMAT, "tensor '%.64s': %zu dimensions (at most %d)",
                        e->key, shape->count, NN_ST_MAX_DIMS);
    t->name = e->key;
    t->dtype = (enum nn_st_dtype)d;
    t->n_dims = (int)shape->count;
    uint64_t elems = 1;
    int k = 0;
    for (const struct vb_json *s = shape->child; s; s = s->next, k++) {
        uint64_t v;
        if (!json_u64(s, &v))
            return vb_failf(why, cap, VB_ERR_FORMAT,
                            "tensor '%.64s': shape entry %d is not a non-negative integer", e->key,
                            k);
        t->shape[k] = (int64_t)v;
        if (v && elems > UINT64_MAX / v)
            return vb_failf(why, cap, VB_ERR_FORMAT, "tensor '%.64s': element count overflows",
                            e->key);
        elems *= v;
    }
    uint64_t begin, end;
    if (!json_u64(offs->child, &begin) || !json_u64(offs->child->next, &end) || begin > end)
        return vb_failf(why, cap, VB_ERR_FORMAT, "tensor '%.64s': bad data_offsets", e->key);
    if (end > data_size)
        return vb_failf(why, cap, VB_ERR_FORMAT,
                        "tensor '%.64s': data [%llu, %llu) lies beyond the end of the file "
                        "(data region %zu bytes)",
                        e->key, (unsigned long long)begin, (unsigned long long)end, data_size);
    if (elems > UINT64_MAX / dtypes[d].size)
        return vb_failf(why, cap, VB_ERR_FORMAT, "tensor '%.64s': element count overflows", e->key);
    if (elems * dtypes[d].size != end - begin)
        return vb_failf(why, cap, VB_ERR_FORMAT,
                        "tensor '%.64s': %llu data bytes, but its shape of %s needs %llu", e->key,
                        (unsigned long long)(end - begin), dtypes[d].name,
                        (unsigned long long)(elems * dtypes[d].size));
    t->nbytes = (size_t)(end - begin);
    t->data = data + begin;
    return VB_OK;
}

static enum vb_err parse(struct nn_safetensors *st, char *why, size_t cap)
{
    if (st->size < 8)
        return vb_failf(why, cap, VB_ERR_FORMAT, "truncated file: %zu bytes, no header length",
                        st->size);
    uint8_t lb[8];
    memcpy(lb, st->base, 8);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | lb[i];
    if (hlen > NN_ST_HEADER_MAX)
        return vb_failf(why, cap, VB_ERR_FORMAT,
                        "header length %llu exceeds the limit of %llu bytes",
                        (unsigned long long)hlen, (unsigned long long)NN_ST_HEADER_MAX);
    if (hlen > st->size - 8)
        return vb_failf(why, cap, VB_ERR_FORMAT,
                        "truncated file: header of %llu bytes, only %zu available",
                        (unsigned long long)hlen, st->size - 8);
    if (hlen < 2 || st->base[8] != '{')
        return vb_failf(why, cap, VB_ERR_FORMAT, "header is not a JSON object");
    /* writers may pad the header with trailing spaces */
    size_t n = (size_t)hlen;
    while (n > 0 && st->base[8 + n - 1] == ' ')
        n--;
    char jwhy[128] = "";
    enum vb_err err = vb_json_parse((const char *)st->base + 8, n, &st->header, jwhy, sizeof jwhy);
    if (err == VB_ERR_NOMEM)
        return err;
    if (err != VB_OK)
        return vb_failf(why, cap, VB_ERR_FORMAT, "header JSON: %s", jwhy);
    if (st->header->type != VB_JSON_OBJECT)
        return vb_failf(why, cap, VB_ERR_FORMAT, "header is not a JSON object");

    const uint8_t *data = st->base + 8 + hlen;
    size_t data_size = st->size - 8 - (size_t)hlen;
    size_t cnt = st->header->count ? st->header->count : 1;
    st->t = vb_try_calloc(cnt, sizeof *st->t);
    st->by_name = vb_try_calloc(cnt, sizeof *st->by_name);
    if (!st->t || !st->by_name)
        return VB_ERR_NOMEM;
    for (const struct vb_json *e = st->header->child; e; e = e->next) {
        if (strcmp(e->key, "__metadata__") == 0) {
            if (e->type != VB_JSON_OBJECT)
                return vb_failf(why, cap, VB_ERR_FORMAT, "__metadata__ is not an object");
            for (const struct vb_json *m = e->child; m; m = m->next)
                if (m->type != VB_JSON_STRING)
                    return vb_failf(why, cap, VB_ERR_FORMAT,
                                    "__metadata__ value '%.64s' is not a string", m->key);
            if (st->meta)
                return vb_failf(why, cap, VB_ERR_FORMAT, "duplicate __metadata__");
            st->meta = e;
            continue;
        }
        err = parse_tensor(e, &st->t[st->n_t], data, data_size, why, cap);
        if (err != VB_OK)
            return err;
        st->by_name[st->n_t] = st->n_t;
        st->n_t++;
    }

    qsort_r(st->by_name, st->n_t, sizeof *st->by_name, cmp_name, st);
    for (size_t i = 1; i < st->n_t; i++)
        if (strcmp(st->t[st->by_name[i - 1]].name, st->t[st->by_name[i]].name) == 0)
            return vb_failf(why, cap, VB_ERR_FORMAT, "duplicate tensor name '%.64s'",
                            st->t[st->by_name[i]].name);

    /* byte ranges must not overlap (empty tensors occupy nothing) */
    size_t *by_off = vb_try_malloc((st->n_t ? st->n_t : 1) * sizeof *by_off);
    if (!by_off)
        return VB_ERR_NOMEM;
    for (size_t i = 0; i < st->n_t; i++)
        by_off[i] = i;
    qsort_r(by_off, st->n_t, sizeof *by_off, cmp_off, st);
    const struct nn_st_tensor *prev = NULL;
    for (size_t i = 0; i < st->n_t && err == VB_OK; i++) {
        const struct nn_st_tensor *c = &st->t[by_off[i]];
        if (c->nbytes == 0)
            continue;
        if (prev && (const uint8_t *)prev->data + prev->nbytes > (const uint8_t *)c->data)
            err = vb_failf(why, cap, VB_ERR_FORMAT, "tensors '%.64s' and '%.64s' overlap",
                           prev->name, c->name);
        prev = c;
    }
    vb_free(by_off);
    return err;
}

static enum vb_err open_common(struct nn_safetensors *st, struct nn_safetensors **out, char *why,
                               size_t cap)
{
    enum vb_err err = parse(st, why, cap);
    if (err != VB_OK) {
        if (err == VB_ERR_NOMEM)
            vb_failf(why, cap, VB_ERR_FORMAT, "out of memory reading the safetensors header");
        nn_st_close(st);
        return err;
    }
    *out = st;
    return VB_OK;
}

enum vb_err nn_st_open_memory(const void *data, size_t len, struct nn_safetensors **out, char *why,
                              size_t why_cap)
{
    *out = NULL;
    if (!data && len)
        return vb_failf(why, why_cap, VB_ERR_FORMAT, "no data");
    struct nn_safetensors *st = vb_try_calloc(1, sizeof *st);
    if (!st)
        return VB_ERR_NOMEM;
    st->base = data;
    st->size = len;
    return open_common(st, out, why, why_cap);
}

enum vb_err nn_st_open(const char *path, struct nn_safetensors **out, char *why, size_t why_cap)
{
    *out = NULL;
    struct nn_mapping map;
    enum vb_err merr = nn_map_file(path, 8, 0, false, &map, why, why_cap);
    if (merr)
        return merr;
    struct nn_safetensors *st = vb_try_calloc(1, sizeof *st);
    if (!st) {
        nn_unmap_file(&map);
        return VB_ERR_NOMEM;
    }
    st->base = map.base;
    st->size = map.size;
    st->mapped = true;
    enum vb_err err = open_common(st, out, why, why_cap);
    if (err == VB_ERR_FORMAT && why && why_cap) {
        char tmp[256];
        snprintf(tmp, sizeof tmp, "%s", why);
        snprintf(why, why_cap, "%s: %s", path, tmp);
    }
    return err;
}

void nn_st_close(struct nn_safetensors *st)
{
    if (!st)
        return;
    vb_free(st->t);
    vb_free(st->by_name);
    vb_json_free(st->header);
    if (st->mapped)
        munmap((void *)st->base, st->size);
    vb_free(st);
}

size_t nn_st_count(const struct nn_safetensors *st)
{
    return st ? st->n_t : 0;
}

const struct nn_st_tensor *nn_st_at(const struct nn_safetensors *st, size_t i)
{
    return st && i < st->n_t ? &st->t[i] : NULL;
}

const struct nn_st_tensor *nn_st_find(const struct nn_safetensors *st, const char *name)
{
    if (!st || !name)
        return NULL;
    size_t lo = 0, hi = st->n_t;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = strcmp(st->t[st->by_name[mid]].name, name);
        if (r == 0)
            return &st->t[st->by_name[mid]];
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *nn_st_metadata(const struct nn_safetensors *st, const char *key)
{
    return st && st->meta && key ? vb_json_get_str(st->meta, key) : NULL;
}

int64_t nn_st_numel(const struct nn_st_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->n_dims; i++)
        n *= t->shape[i];
    return n;
}

#define LOAD(type, p, i)                                                                           \
    ({                                                                                             \
        type v_;                                                                                   \
        memcpy(&v_, (const uint8_t *)(p) + (size_t)(i) * sizeof(type), sizeof(type));              \
        v_;                                                                                        \
    })

enum vb_err nn_st_to_f32(const struct nn_st_tensor *t, float *out, size_t n)
{
    if (!t || (uint64_t)nn_st_numel(t) != (uint64_t)n || (n && !out))
        return VB_ERR_INVALID;
    const void *p = t->data;
    switch (t->dtype) {
    case NN_ST_F32:
        if (n)
            memcpy(out, p, n * sizeof(float));
        break;
    case NN_ST_F64:
        for (size_t i = 0; i < n; i++)
            out[i] = (float)LOAD(double, p, i);
        break;
    case NN_ST_F16:
        for (size_t i = 0; i < n; i++)
            out[i] = nn_fp16_to_fp32_calc(LOAD(uint16_t, p, i));
        break;
    case NN_ST_BF16:
        for (size_t i = 0; i < n; i++)
            out[i] = nn_bf16_to_fp32(LOAD(uint16_t, p, i));
        break;
    case NN_ST_I64:
        for (size_t i = 0; i < n; i++)
            out[i] = (float)LOAD(int64_t, p, i);
        break;
    case NN_ST_I32:
        for (size_t i = 0; i < n; i++)
            out[i] = (float)LOAD(int32_t, p, i);
        break;
    case NN_ST_I16:
        for (size_t i = 0; i < n; i++)
            out[i] = (float)LOAD(int16_t, p, i);
        break;
    case NN_ST_I8:
        for (size_t i = 0; i < n; i++)
            out[i] = (float)LOAD(int8_t, p, i);
        break;
    case NN_ST_U8:
        for (size_t i = 0; i < n; i++)
            out[i] = (float)LOAD(uint8_t, p, i);
        break;
    case NN_ST_BOOL:
    default:
        return VB_ERR_INVALID;
    }
    return VB_OK;
}

enum vb_err nn_st_to_i64(const struct nn_st_tensor *t, int64_t *out, size_t n)
{
    if (!t || (uint64_t)nn_st_numel(t) != (uint64_t)n || (n && !out))
        return VB_ERR_INVALID;
    const void *p = t->data;
    switch (t->dtype) {
    case NN_ST_I64:
        if (n)
            memcpy(out, p, n * sizeof(int64_t));
        break;
    case NN_ST_I32:
        for (size_t i = 0; i < n; i++)
            out[i] = LOAD(int32_t, p, i);
        break;
    case NN_ST_I16:
        for (size_t i = 0; i < n; i++)
            out[i] = LOAD(int16_t, p, i);
        break;
    case NN_ST_I8:
        for (size_t i = 0; i < n; i++)
            out[i] = LOAD(int8_t, p, i);
        break;
    case NN_ST_U8:
    case NN_ST_BOOL:
        for (size_t i = 0; i < n; i++)
            out[i] = LOAD(uint8_t, p, i);
        break;
    default:
        return VB_ERR_INVALID;
    }
    return VB_OK;
}

static void shape_str(char *s, size_t cap, int n_dims, const int64_t *shape)
{
    size_t o = 0;
    o += (size_t)snprintf(s + o, cap - o, "[");
    for (int i = 0; i < n_dims && o < cap; i++)
        o += (size_t)snprintf(s + o, cap - o, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (o < cap)
        snprintf(s + o, cap - o, "]");
}

enum vb_err nn_st_expect(const struct nn_st_tensor *t, enum nn_st_dtype dtype, int n_dims,
                         const int64_t *shape, char *why, size_t why_cap)
{
    if (!t)
        return vb_failf(why, why_cap, VB_ERR_FORMAT, "tensor missing");
    bool ok = t->dtype == dtype && t->n_dims == n_dims;
    for (int i = 0; ok && i < n_dims; i++)
        ok = t->shape[i] == shape[i];
    if (ok)
        return VB_OK;
    char want[160], got[160];
    shape_str(want, sizeof want, n_dims < 0 ? 0 : VB_MIN(n_dims, NN_ST_MAX_DIMS), shape);
    shape_str(got, sizeof got, t->n_dims, t->shape);
    vb_failf(why, why_cap, VB_ERR_FORMAT, "%s: expected %s %s, got %s %s", t->name,
             nn_st_dtype_name(dtype), want, nn_st_dtype_name(t->dtype), got);
    return VB_ERR_FORMAT;
}
