/* load_table.c: the one loop of table-driven weight loading (see load_table.h). */
#include "core/vb.h"
#include "nn/load_table.h"

#include <stdarg.h>
#include <stdio.h>

#include "core/alloc.h"

void nn_lt_fail(struct nn_lt *L, enum vb_err err, const char *fmt, ...)
{
    if (L->err)
        return;
    va_list ap;
    va_start(ap, fmt);
    L->err = vb_vfailf(L->why, L->why_cap, err, fmt, ap);
    va_end(ap);
}

static bool name_v(struct nn_lt *L, char *name, size_t cap, const char *fmt, va_list ap)
{
    int n = snprintf(name, cap, "%s", L->prefix ? L->prefix : "");
    int m = n < 0 || (size_t)n >= cap ? -1 : vsnprintf(name + n, cap - (size_t)n, fmt, ap);
    if (m < 0 || (size_t)(n + m) >= cap) {
        nn_lt_fail(L, VB_ERR_INVALID, "tensor name too long (%.64s...)", name);
        return false;
    }
    return true;
}

bool nn_lt_name(struct nn_lt *L, char *name, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bool ok = name_v(L, name, cap, fmt, ap);
    va_end(ap);
    return ok;
}

static void shape_text(char *out, size_t cap, int n_dims, const int64_t *shape)
{
    size_t n = 0;
    out[0] = '\0';
    for (int i = 0; i < n_dims && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%lld", i ? "," : "", (long long)shape[i]);
}

const struct nn_st_tensor *nn_lt_tensor(struct nn_lt *L, const char *name, int n_dims,
                                        int64_t *shape)
{
    if (L->err)
        return NULL;
    const struct nn_st_tensor *t = nn_st_find(L->st, name);
    if (!t) {
        nn_lt_fail(L, VB_ERR_FORMAT, "missing tensor %s", name);
        return NULL;
    }
    if (t->dtype != NN_ST_F32 && t->dtype != NN_ST_F16 && t->dtype != NN_ST_BF16) {
        nn_lt_fail(L, VB_ERR_FORMAT, "%s: expected a float tensor, got %s", name,
                   nn_st_dtype_name(t->dtype));
        return NULL;
    }
    bool ok = t->n_dims == n_dims;
    for (int i = 0; ok && i < n_dims; i++)
        if (shape[i] >= 0 && shape[i] != t->shape[i])
            ok = false;
    if (!ok) {
        char want[128], got[128];
        shape_text(want, sizeof want, n_dims, shape);
        shape_text(got, sizeof got, t->n_dims, t->shape);
        nn_lt_fail(L, VB_ERR_FORMAT, "%s: expected shape [%s], got [%s]", name, want, got);
        return NULL;
    }
    for (int i = 0; i < n_dims; i++)
        shape[i] = t->shape[i];
    return t;
}

float *nn_lt_f32(struct nn_lt *L, const char *name, int n_dims, int64_t *shape)
{
    const struct nn_st_tensor *t = nn_lt_tensor(L, name, n_dims, shape);
    if (!t)
        return NULL;
    int64_t n = nn_st_numel(t);
    if (n <= 0 || (uint64_t)n > SIZE_MAX / sizeof(float)) {
        nn_lt_fail(L, VB_ERR_FORMAT, "%s: bad element count", name);
        return NULL;
    }
    float *p = vb_try_malloc((size_t)n * sizeof *p);
    if (!p) {
        nn_lt_fail(L, VB_ERR_NOMEM, "out of memory loading %s", name);
        return NULL;
    }
    if (nn_st_to_f32(t, p, (size_t)n) != VB_OK) {
        vb_free(p);
        nn_lt_fail(L, VB_ERR_FORMAT, "%s: cannot convert to f32", name);
        return NULL;
    }
    if (L->keep && !L->keep(L, p)) {
        vb_free(p);
        nn_lt_fail(L, VB_ERR_NOMEM, "out of memory loading %s", name);
        return NULL;
    }
    return p;
}

bool nn_lt_load(struct nn_lt *L, const struct nn_lt_row *rows, size_t n, void *base, int64_t *dims,
                const char *group_fmt, int index)
{
    char group[160] = "", name[256];
    if (group_fmt && !nn_lt_name(L, group, sizeof group, group_fmt, index))
        return false;
    for (size_t r = 0; r < n && !L->err; r++) {
        const struct nn_lt_row *row = &rows[r];
        int64_t shape[NN_LT_MAX_DIMS];
        for (int i = 0; i < row->n_dims; i++) {
            int64_t s = row->shape[i];
            if (s <= NN_LT_DIM(0) && NN_LT_DIM(0) - s >= NN_LT_MAX_SIZES) {
                nn_lt_fail(L, VB_ERR_INTERNAL, "load table: bad size index in row %s", row->name);
                return false;
            }
            shape[i] = s <= NN_LT_DIM(0) ? dims[NN_LT_DIM(0) - s] : s;
            if (shape[i] < 0)
                shape[i] = -1;
        }
        int n_group =
            snprintf(name, sizeof name, "%s", group_fmt ? group : (L->prefix ? L->prefix : ""));
        if (snprintf(name + n_group, sizeof name - (size_t)n_group, row->name, index) >=
            (int)(sizeof name - (size_t)n_group)) {
            nn_lt_fail(L, VB_ERR_INVALID, "tensor name too long (%.64s...)", name);
            break;
        }
        void *dst = (char *)base + row->dst;
        if (row->kind == NN_LT_F32)
            *(const float **)dst = nn_lt_f32(L, name, row->n_dims, shape);
        else
            L->put(L, row, name, shape, dst);
        if (L->err)
            break;
        for (int i = 0; i < row->n_dims; i++) /* bind sizes seen first */
            if (row->shape[i] <= NN_LT_DIM(0) && dims[NN_LT_DIM(0) - row->shape[i]] < 0)
                dims[NN_LT_DIM(0) - row->shape[i]] = shape[i];
    }
    return !L->err;
}
