/* safetensors_write.c: safetensors writer: JSON header through core/json.h's writer, tensor
 * bytes streamed from caller memory or generated in chunks. */
#include "core/vb.h"
#include "nn/safetensors_write.h"
#include "core/alloc.h"
#include "core/json.h"

#include <errno.h>
#include <stdio.h>

#define NAME_MAX_LEN 1024
#define GEN_CHUNK    16384 /* floats generated per write call */

enum src_kind { SRC_DATA, SRC_UNIFORM, SRC_CONST };

struct wt {
    char *name;
    enum nn_st_dtype dtype;
    int n_dims;
    int64_t shape[NN_ST_MAX_DIMS];
    uint64_t nbytes;
    enum src_kind kind;
    const void *data;
    float lo, hi, value;
    uint64_t seed;
};

struct meta {
    char *key, *value;
};

struct nn_st_writer {
    struct wt *t;
    size_t n, cap;
    struct meta *m;
    size_t nm, mcap;
};

enum vb_err nn_st_writer_new(struct nn_st_writer **out)
{
    *out = vb_try_calloc(1, sizeof **out);
    return *out ? VB_OK : VB_ERR_NOMEM;
}

void nn_st_writer_free(struct nn_st_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++)
        vb_free(w->t[i].name);
    for (size_t i = 0; i < w->nm; i++) {
        vb_free(w->m[i].key);
        vb_free(w->m[i].value);
    }
    vb_free(w->t);
    vb_free(w->m);
    vb_free(w);
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s);
    char *p = vb_try_malloc(n + 1);
    if (p)
        memcpy(p, s, n + 1);
    return p;
}

static enum vb_err add_common(struct nn_st_writer *w, const char *name, enum nn_st_dtype dtype,
                              int n_dims, const int64_t *shape, struct wt **out)
{
    size_t esz = nn_st_dtype_size(dtype);
    if (!name || !*name || strlen(name) >= NAME_MAX_LEN || strcmp(name, "__metadata__") == 0 ||
        esz == 0 || n_dims < 0 || n_dims > NN_ST_MAX_DIMS || (n_dims && !shape))
        return VB_ERR_INVALID;
    uint64_t elems = 1;
    for (int i = 0; i < n_dims; i++) {
        if (shape[i] < 0)
            return VB_ERR_INVALID;
        if (shape[i] && elems > UINT64_MAX / 16 / (uint64_t)shape[i])
            return VB_ERR_INVALID;
        elems *= (uint64_t)shape[i];
    }
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return VB_ERR_CONFLICT;
    if (w->n == w->cap) {
        size_t nc = w->cap ? 2 * w->cap : 64;
        struct wt *p = vb_try_realloc(w->t, nc * sizeof *p);
        if (!p)
            return VB_ERR_NOMEM;
        w->t = p;
        w->cap = nc;
    }
    struct wt *t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    t->name = dup_str(name);
    if (!t->name)
        return VB_ERR_NOMEM;
    t->dtype = dtype;
    t->n_dims = n_dims;
    for (int i = 0; i < n_dims; i++)
        t->shape[i] = shape[i];
    t->nbytes = elems * esz;
    w->n++;
    *out = t;
    return VB_OK;
}

enum vb_err nn_st_writer_add(struct nn_st_writer *w, const char *name, enum nn_st_dtype dtype,
                             int n_dims, const int64_t *shape, const void *data)
{
    struct wt *t;
    enum vb_err err = add_common(w, name, dtype, n_dims, shape, &t);
    if (err != VB_OK)
        return err;
    if (!data && t->nbytes) {
        vb_free(t->name);
        w->n--;
        return VB_ERR_INVALID;
    }
    t->kind = SRC_DATA;
    t->data = data;
    return VB_OK;
}

enum vb_err nn_st_writer_add_uniform(struct nn_st_writer *w, const char *name, int n_dims,
                                     const int64_t *shape, float lo, float hi, uint64_t seed)
{
    struct wt *t;
    enum vb_err err = add_common(w, name, NN_ST_F32, n_dims, shape, &t);
    if (err != VB_OK)
        return err;
    t->kind = SRC_UNIFORM;
    t->lo = lo;
    t->hi = hi;
    t->seed = seed;
    return VB_OK;
}

enum vb_err nn_st_writer_add_const(struct nn_st_writer *w, const char *name, int n_dims,
                                   const int64_t *shape, float value)
{
    struct wt *t;
    enum vb_err err = add_common(w, name, NN_ST_F32, n_dims, shape, &t);
    if (err != VB_OK)
        return err;
    t->kind = SRC_CONST;
    t->value = value;
    return VB_OK;
}

enum vb_err nn_st_writer_metadata(struct nn_st_writer *w, const char *key, const char *value)
{
    if (!key || !value)
        return VB_ERR_INVALID;
    if (w->nm == w->mcap) {
        size_t nc = w->mcap ? 2 * w->mcap : 4;
        struct meta *p = vb_try_realloc(w->m, nc * sizeof *p);
        if (!p)
            return VB_ERR_NOMEM;
        w->m = p;
        w->mcap = nc;
    }
    char *k = dup_str(key), *v = dup_str(value);
    if (!k || !v) {
        vb_free(k);
        vb_free(v);
        return VB_ERR_NOMEM;
    }
    w->m[w->nm++] = (struct meta){k, v};
    return VB_OK;
}

size_t nn_st_writer_count(const struct nn_st_writer *w)
{
    return w->n;
}

static int cmp_idx(const void *a, const void *b, void *ctx)
{
    const struct nn_st_writer *w = ctx;
    return strcmp(w->t[*(const size_t *)a].name, w->t[*(const size_t *)b].name);
}

/* header bytes (padded to 8) into hdr; order receives the sorted tensor indices */
static enum vb_err build_header(const struct nn_st_writer *w, struct vb_buf *hdr, size_t *order)
{
    for (size_t i = 0; i < w->n; i++)
        order[i] = i;
    qsort_r(order, w->n, sizeof *order, cmp_idx, (void *)w);
    vb_buf_init(hdr, NN_ST_HEADER_MAX);
    struct vb_jw jw;
    vb_jw_init(&jw, hdr);
    vb_jw_obj_begin(&jw);
    if (w->nm) {
        vb_jw_key(&jw, "__metadata__");
        vb_jw_obj_begin(&jw);
        for (size_t i = 0; i < w->nm; i++)
            vb_jw_kstr(&jw, w->m[i].key, w->m[i].value);
        vb_jw_obj_end(&jw);
    }
    uint64_t off = 0;
    for (size_t k = 0; k < w->n; k++) {
        const struct wt *t = &w->t[order[k]];
        vb_jw_key(&jw, t->name);
        vb_jw_obj_begin(&jw);
        vb_jw_kstr(&jw, "dtype", nn_st_dtype_name(t->dtype));
        vb_jw_key(&jw, "shape");
        vb_jw_arr_begin(&jw);
        for (int i = 0; i < t->n_dims; i++)
            vb_jw_int(&jw, t->shape[i]);
        vb_jw_arr_end(&jw);
        vb_jw_key(&jw, "data_offsets");
        vb_jw_arr_begin(&jw);
        vb_jw_int(&jw, (int64_t)off);
        vb_jw_int(&jw, (int64_t)(off + t->nbytes));
        vb_jw_arr_end(&jw);
        vb_jw_obj_end(&jw);
        off += t->nbytes;
    }
    vb_jw_obj_end(&jw);
    enum vb_err err = vb_jw_finish(&jw);
    while (err == VB_OK && hdr->len % 8)
        err = vb_buf_putc(hdr, ' ');
    return err;
}

uint64_t nn_st_writer_size(const struct nn_st_writer *w)
{
    size_t *order = vb_try_malloc((w->n ? w->n : 1) * sizeof *order);
    struct vb_buf hdr;
    uint64_t total = 0;
    if (order && build_header(w, &hdr, order) == VB_OK) {
        total = 8 + hdr.len;
        for (size_t i = 0; i < w->n; i++)
            total += w->t[i].nbytes;
    }
    if (order)
        vb_buf_release(&hdr);
    vb_free(order);
    return total;
}

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

typedef enum vb_err (*sink_fn)(void *ctx, const void *data, size_t len);

static enum vb_err emit(const struct nn_st_writer *w, sink_fn sink, void *ctx)
{
    size_t *order = vb_try_malloc((w->n ? w->n : 1) * sizeof *order);
    float *gen = vb_try_malloc(GEN_CHUNK * sizeof *gen);
    struct vb_buf hdr = {0};
    enum vb_err err = VB_ERR_NOMEM;
    if (!order || !gen)
        goto out;
    err = build_header(w, &hdr, order);
    if (err != VB_OK)
        goto out;
    uint8_t len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (uint8_t)((uint64_t)hdr.len >> (8 * i));
    if ((err = sink(ctx, len8, 8)) != VB_OK || (err = sink(ctx, hdr.data, hdr.len)) != VB_OK)
        goto out;
    for (size_t k = 0; k < w->n && err == VB_OK; k++) {
        const struct wt *t = &w->t[order[k]];
        if (t->kind == SRC_DATA) {
            const uint8_t *p = t->data;
            for (uint64_t o = 0; o < t->nbytes && err == VB_OK; o += (uint64_t)1 << 24) {
                size_t n = (size_t)VB_MIN((uint64_t)1 << 24, t->nbytes - o);
                err = sink(ctx, p + o, n);
            }
            continue;
        }
        uint64_t elems = t->nbytes / sizeof(float);
        for (uint64_t e0 = 0; e0 < elems && err == VB_OK; e0 += GEN_CHUNK) {
            size_t n = (size_t)VB_MIN((uint64_t)GEN_CHUNK, elems - e0);
            for (size_t i = 0; i < n; i++) {
                if (t->kind == SRC_CONST) {
                    gen[i] = t->value;
                } else {
                    uint64_t r = splitmix64(t->seed * 0xD1B54A32D192ED03ull + e0 + i);
                    float u = (float)(r >> 40) * (1.0f / 16777216.0f);
                    gen[i] = t->lo + (t->hi - t->lo) * u;
                }
            }
            err = sink(ctx, gen, n * sizeof *gen);
        }
    }
out:
    vb_buf_release(&hdr);
    vb_free(order);
    vb_free(gen);
    return err;
}

static enum vb_err sink_file(void *ctx, const void *data, size_t len)
{
    return fwrite(data, 1, len, ctx) == len ? VB_OK : VB_ERR_IO;
}

static enum vb_err sink_buf(void *ctx, const void *data, size_t len)
{
    return vb_buf_append(ctx, data, len);
}

enum vb_err nn_st_writer_to_buf(const struct nn_st_writer *w, struct vb_buf *out)
{
    return emit(w, sink_buf, out);
}

enum vb_err nn_st_writer_write(const struct nn_st_writer *w, const char *path, char *why,
                               size_t why_cap)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        snprintf(why, why_cap, "path too long");
        return VB_ERR_INVALID;
    }
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        snprintf(why, why_cap, "%s: %s", tmp, strerror(errno));
        return VB_ERR_IO;
    }
    enum vb_err err = emit(w, sink_file, f);
    if (fclose(f) != 0 && err == VB_OK)
        err = VB_ERR_IO;
    if (err == VB_OK && rename(tmp, path) != 0)
        err = VB_ERR_IO;
    if (err != VB_OK) {
        snprintf(why, why_cap, "%s: %s", path,
                 err == VB_ERR_IO ? strerror(errno) : vb_err_message(err));
        remove(tmp);
    }
    return err;
}
