/* gguf_write.c: serialises metadata and tensor infos into a header buffer, then streams the
 * header, padding and tensor data (borrowed or generated) to a file or buffer. */
#include "core/vb.h"
#include "nn/gguf_write.h"
#include "core/alloc.h"
#include "core/buf.h"

#include <errno.h>
#include <unistd.h>

#define HEADER_MAX ((size_t)1 << 30)

struct wtensor {
    char *name;
    enum nn_type type;
    int n_dims;
    int64_t ne[NN_MAX_DIMS];
    size_t nbytes;
    const void *data;
    gguf_fill_fn fill;
    void *ud;
};

struct gguf_writer {
    struct vb_buf kv; /* serialised KV records */
    size_t n_kv;
    char **keys;
    size_t keys_cap;
    struct wtensor *t;
    size_t n_t, t_cap;
};

struct gguf_writer *gguf_writer_new(void)
{
    struct gguf_writer *w = vb_xcalloc(1, sizeof *w);
    vb_buf_init(&w->kv, HEADER_MAX);
    return w;
}

void gguf_writer_free(struct gguf_writer *w)
{
    if (!w)
        return;
    vb_buf_release(&w->kv);
    for (size_t i = 0; i < w->n_kv; i++)
        vb_free(w->keys[i]);
    vb_free(w->keys);
    for (size_t i = 0; i < w->n_t; i++)
        vb_free(w->t[i].name);
    vb_free(w->t);
    vb_free(w);
}

static enum vb_err put(struct vb_buf *b, const void *p, size_t n)
{
    return vb_buf_append(b, p, n);
}

static enum vb_err put_u32(struct vb_buf *b, uint32_t v)
{
    return put(b, &v, 4);
}

static enum vb_err put_u64(struct vb_buf *b, uint64_t v)
{
    return put(b, &v, 8);
}

static enum vb_err put_str(struct vb_buf *b, const char *s, size_t n)
{
    enum vb_err err = put_u64(b, n);
    return err ? err : put(b, s, n);
}

static enum vb_err begin_kv(struct gguf_writer *w, const char *key, enum gguf_type t)
{
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->keys[i], key) == 0)
            return VB_ERR_CONFLICT;
    if (w->n_kv == w->keys_cap) {
        w->keys_cap = w->keys_cap ? w->keys_cap * 2 : 32;
        w->keys = vb_xrealloc(w->keys, w->keys_cap * sizeof *w->keys);
    }
    w->keys[w->n_kv++] = vb_xstrdup(key);
    enum vb_err err = put_str(&w->kv, key, strlen(key));
    return err ? err : put_u32(&w->kv, (uint32_t)t);
}

enum vb_err gguf_writer_set_u32(struct gguf_writer *w, const char *key, uint32_t v)
{
    enum vb_err err = begin_kv(w, key, GGUF_TYPE_UINT32);
    return err ? err : put_u32(&w->kv, v);
}

enum vb_err gguf_writer_set_i32(struct gguf_writer *w, const char *key, int32_t v)
{
    enum vb_err err = begin_kv(w, key, GGUF_TYPE_INT32);
    return err ? err : put(&w->kv, &v, 4);
}

enum vb_err gguf_writer_set_f32(struct gguf_writer *w, const char *key, float v)
{
    enum vb_err err = begin_kv(w, key, GGUF_TYPE_FLOAT32);
    return err ? err : put(&w->kv, &v, 4);
}

enum vb_err gguf_writer_set_bool(struct gguf_writer *w, const char *key, bool v)
{
    enum vb_err err = begin_kv(w, key, GGUF_TYPE_BOOL);
    uint8_t b = v;
    return err ? err : put(&w->kv, &b, 1);
}

enum vb_err gguf_writer_set_str(struct gguf_writer *w, const char *key, const char *v)
{
    enum vb_err err = begin_kv(w, key, GGUF_TYPE_STRING);
    return err ? err : put_str(&w->kv, v, strlen(v));
}

enum vb_err gguf_writer_set_arr_str(struct gguf_writer *w, const char *key, const char *const *v,
                                    size_t n)
{
    enum vb_err err = begin_kv(w, key, GGUF_TYPE_ARRAY);
    if (!err)
        err = put_u32(&w->kv, GGUF_TYPE_STRING);
    if (!err)
        err = put_u64(&w->kv, n);
    for (size_t i = 0; i < n && !err; i++)
        err = put_str(&w->kv, v[i], strlen(v[i]));
    return err;
}

enum vb_err gguf_writer_set_arr_i32(struct gguf_writer *w, const char *key, const int32_t *v,
                                    size_t n)
{
    enum vb_err err = begin_kv(w, key, GGUF_TYPE_ARRAY);
    if (!err)
        err = put_u32(&w->kv, GGUF_TYPE_INT32);
    if (!err)
        err = put_u64(&w->kv, n);
    return err ? err : put(&w->kv, v, n * 4);
}

static size_t value_bytes(const struct gguf_kv *kv)
{
    static const uint8_t sz[GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (kv->type == GGUF_TYPE_STRING)
        return 8 + (size_t)kv->str_len;
    if (kv->type != GGUF_TYPE_ARRAY)
        return sz[kv->type];
    size_t n = 4 + 8;
    if (kv->arr_type == GGUF_TYPE_STRING) {
        for (uint64_t i = 0; i < kv->arr_n; i++) {
            size_t len;
            gguf_arr_str(kv, i, &len);
            n += 8 + len;
        }
        return n;
    }
    return n + (size_t)kv->arr_n * sz[kv->arr_type];
}

enum vb_err gguf_writer_copy_kv(struct gguf_writer *w, const struct gguf_file *g,
                                const char *prefix)
{
    for (size_t i = 0; i < gguf_kv_count(g); i++) {
        const struct gguf_kv *kv = gguf_kv_at(g, i);
        if (prefix && strncmp(kv->key, prefix, strlen(prefix)) != 0)
            continue;
        if (strcmp(kv->key, "general.alignment") == 0)
            continue;
        enum vb_err err = begin_kv(w, kv->key, kv->type);
        /* the value bytes are contiguous in the source file: copy them verbatim */
        const uint8_t *start = kv->val;
        if (kv->type == GGUF_TYPE_STRING)
            start -= 8;
        else if (kv->type == GGUF_TYPE_ARRAY)
            start -= 12;
        if (!err)
            err = put(&w->kv, start, value_bytes(kv));
        if (err)
            return err;
    }
    return VB_OK;
}

enum vb_err gguf_writer_add_tensor(struct gguf_writer *w, const char *name, enum nn_type type,
                                   int n_dims, const int64_t *ne, const void *data,
                                   gguf_fill_fn fill, void *ud)
{
    size_t nl = strlen(name);
    if (nl == 0 || nl >= GGUF_MAX_NAME || n_dims < 1 || n_dims > NN_MAX_DIMS || !nn_type_info(type))
        return VB_ERR_INVALID;
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return VB_ERR_CONFLICT;
    struct wtensor t = {.type = type, .n_dims = n_dims, .data = data, .fill = fill, .ud = ud};
    uint64_t rows = 1;
    for (int d = 0; d < NN_MAX_DIMS; d++) {
        t.ne[d] = d < n_dims ? ne[d] : 1;
        if (t.ne[d] < 0)
            return VB_ERR_INVALID;
        if (d > 0)
            rows *= (uint64_t)t.ne[d];
    }
    size_t rb = nn_row_bytes(type, t.ne[0]);
    if (rb == 0 && t.ne[0] != 0)
        return VB_ERR_INVALID;
    t.nbytes = rb * (size_t)rows;
    if (w->n_t == w->t_cap) {
        w->t_cap = w->t_cap ? w->t_cap * 2 : 64;
        w->t = vb_xrealloc(w->t, w->t_cap * sizeof *w->t);
    }
    t.name = vb_xstrdup(name);
    w->t[w->n_t++] = t;
    return VB_OK;
}

static size_t pad_to(size_t n, size_t a)
{
    return (a - n % a) % a;
}

/* Builds the header (through the padding before the data). */
static enum vb_err build_header(struct gguf_writer *w, struct vb_buf *h)
{
    enum vb_err err = put(h, "GGUF", 4);
    if (!err)
        err = put_u32(h, 3);
    if (!err)
        err = put_u64(h, w->n_t);
    if (!err)
        err = put_u64(h, w->n_kv);
    if (!err && w->kv.len)
        err = put(h, w->kv.data, w->kv.len);
    size_t off = 0;
    for (size_t i = 0; i < w->n_t && !err; i++) {
        const struct wtensor *t = &w->t[i];
        err = put_str(h, t->name, strlen(t->name));
        if (!err)
            err = put_u32(h, (uint32_t)t->n_dims);
        for (int d = 0; d < t->n_dims && !err; d++)
            err = put_u64(h, (uint64_t)t->ne[d]);
        if (!err)
            err = put_u32(h, (uint32_t)t->type);
        if (!err)
            err = put_u64(h, off);
        off += t->nbytes + pad_to(t->nbytes, GGUF_DEFAULT_ALIGNMENT);
    }
    static const char zeros[GGUF_DEFAULT_ALIGNMENT];
    if (!err)
        err = put(h, zeros, pad_to(h->len, GGUF_DEFAULT_ALIGNMENT));
    return err;
}

typedef enum vb_err (*sink_fn)(void *ctx, const void *p, size_t n);

static enum vb_err emit(struct gguf_writer *w, sink_fn sink, void *ctx)
{
    struct vb_buf h;
    vb_buf_init(&h, HEADER_MAX);
    enum vb_err err = build_header(w, &h);
    if (!err)
        err = sink(ctx, h.data, h.len);
    vb_buf_release(&h);
    static const char zeros[GGUF_DEFAULT_ALIGNMENT];
    for (size_t i = 0; i < w->n_t && !err; i++) {
        const struct wtensor *t = &w->t[i];
        if (t->fill) {
            void *tmp = vb_try_malloc(t->nbytes ? t->nbytes : 1);
            if (!tmp)
                return VB_ERR_NOMEM;
            err = t->fill(t->ud, i, tmp, t->nbytes) ? VB_OK : VB_ERR_INTERNAL;
            if (!err)
                err = sink(ctx, tmp, t->nbytes);
            vb_free(tmp);
        } else if (t->nbytes) {
            err = sink(ctx, t->data, t->nbytes);
        }
        if (!err)
            err = sink(ctx, zeros, pad_to(t->nbytes, GGUF_DEFAULT_ALIGNMENT));
    }
    return err;
}

static enum vb_err sink_buf(void *ctx, const void *p, size_t n)
{
    return n ? vb_buf_append(ctx, p, n) : VB_OK;
}

static enum vb_err sink_file(void *ctx, const void *p, size_t n)
{
    return n == 0 || fwrite(p, 1, n, ctx) == n ? VB_OK : VB_ERR_IO;
}

enum vb_err gguf_writer_write_buf(struct gguf_writer *w, struct vb_buf *out)
{
    return emit(w, sink_buf, out);
}

enum vb_err gguf_writer_write(struct gguf_writer *w, const char *path, char *why, size_t cap)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        snprintf(why, cap, "path too long");
        return VB_ERR_INVALID;
    }
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        snprintf(why, cap, "%s: %s", tmp, strerror(errno));
        return VB_ERR_IO;
    }
    enum vb_err err = emit(w, sink_file, f);
    if (fflush(f) != 0)
        err = err ? err : VB_ERR_IO;
    if (fclose(f) != 0)
        err = err ? err : VB_ERR_IO;
    if (!err && rename(tmp, path) != 0)
        err = VB_ERR_IO;
    if (err) {
        snprintf(why, cap, "writing %s: %s", path, vb_err_message(err));
        unlink(tmp);
    }
    return err;
}
