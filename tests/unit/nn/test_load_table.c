/* test_load_table.c: nn_lt_load over a small safetensors file: per-layer names from a printf
 * pattern and an index, sizes fixed, free or from the dims table (bound by the first tensor
 * that uses them), F32 copies of F16 data, the put hook for other kinds, and a refusal that
 * names the tensor and what was wrong (missing, wrong dtype, wrong shape). */
#include "core/vb.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "nn/load_table.h"
#include "nn/safetensors_write.h"
#include "unit/test.h"

struct layer {
    const float *w, *b;
    int put_rows; /* what the hook saw */
};

enum { SZ_IN, SZ_HID };
static const struct nn_lt_row layer_rows[] = {
    NN_LT_ROW(struct layer, w, "w", NN_LT_F32, 0, 2, NN_LT_DIM(SZ_HID), NN_LT_DIM(SZ_IN)),
    NN_LT_ROW(struct layer, b, "b", NN_LT_F32, 0, 1, NN_LT_DIM(SZ_HID)),
    NN_LT_ROW(struct layer, put_rows, "w", 7, 42, 2, NN_LT_FREE, 4),
};

static void *kept[16];
static int n_kept;

static bool keep(struct nn_lt *L, void *p)
{
    (void)L;
    if (n_kept == (int)VB_ARRAY_LEN(kept))
        return false;
    kept[n_kept++] = p;
    return true;
}

static bool put(struct nn_lt *L, const struct nn_lt_row *row, const char *name, int64_t *shape,
                void *dst)
{
    const struct nn_st_tensor *t = nn_lt_tensor(L, name, row->n_dims, shape);
    if (!t)
        return false;
    CHECK(row->kind == 7 && row->arg == 42);
    *(int *)dst = (int)shape[0];
    return true;
}

static void release(void)
{
    for (int i = 0; i < n_kept; i++)
        vb_free(kept[i]);
    n_kept = 0;
}

/* Two layers "m.blk.N.{w,b}": w (3, 4), b (3); layer 1's b is F16 (or `bad` mutations). */
static struct nn_safetensors *make(struct vb_buf *buf, int bad)
{
    static const float w[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, b[3] = {0.5f, -1, 2};
    static const uint16_t bh[3] = {0x3800, 0xbc00, 0x4000}; /* 0.5, -1, 2 in binary16 */
    struct nn_st_writer *wr = NULL;
    CHECK(nn_st_writer_new(&wr) == VB_OK);
    CHECK(nn_st_writer_add(wr, "m.blk.0.w", NN_ST_F32, 2, (int64_t[]){3, 4}, w) == VB_OK);
    CHECK(nn_st_writer_add(wr, "m.blk.0.b", NN_ST_F32, 1, (int64_t[]){3}, b) == VB_OK);
    CHECK(nn_st_writer_add(wr, "m.blk.1.w", NN_ST_F32, 2, (int64_t[]){3, bad == 1 ? 3 : 4}, w) ==
          VB_OK);
    if (bad == 2)
        CHECK(nn_st_writer_add(wr, "m.blk.1.b", NN_ST_I64, 1, (int64_t[]){1}, w) == VB_OK);
    else if (bad != 3)
        CHECK(nn_st_writer_add(wr, "m.blk.1.b", NN_ST_F16, 1, (int64_t[]){3}, bh) == VB_OK);
    struct nn_safetensors *st = NULL;
    char why[256];
    vb_buf_init(buf, 1 << 20);
    CHECK(nn_st_writer_to_buf(wr, buf) == VB_OK);
    CHECK(nn_st_open_memory(buf->data, buf->len, &st, why, sizeof why) == VB_OK);
    nn_st_writer_free(wr);
    return st;
}

static enum vb_err load(int bad, struct layer *ls, char *why, size_t cap)
{
    struct vb_buf buf;
    struct nn_safetensors *st = make(&buf, bad);
    struct nn_lt L = {
        .st = st, .prefix = "m.", .keep = keep, .put = put, .why = why, .why_cap = cap};
    int64_t dims[NN_LT_MAX_SIZES] = {[SZ_IN] = 4, [SZ_HID] = -1};
    for (int i = 0; i < 2; i++)
        nn_lt_load(&L, layer_rows, VB_ARRAY_LEN(layer_rows), &ls[i], dims, "blk.%d.", i);
    CHECK(L.err != VB_OK || dims[SZ_HID] == 3); /* bound by layer 0's w */
    nn_st_close(st);
    vb_buf_release(&buf);
    return L.err;
}

TEST(loads_layers_by_pattern)
{
    struct layer ls[2] = {0};
    char why[256] = "";
    CHECK_MSG(load(0, ls, why, sizeof why) == VB_OK, "%s", why);
    CHECK(ls[0].w && ls[0].w[0] == 1 && ls[0].w[11] == 12 && ls[1].w && ls[1].w[5] == 6);
    CHECK(ls[0].b && ls[0].b[1] == -1 && ls[1].b && ls[1].b[0] == 0.5f && ls[1].b[2] == 2);
    CHECK(ls[0].put_rows == 3 && ls[1].put_rows == 3);
    CHECK(n_kept == 4);
    release();
}

static void check_refused(int bad, const char *want)
{
    struct layer ls[2] = {0};
    char why[256] = "";
    const char *got = why;
    CHECK(load(bad, ls, why, sizeof why) == VB_ERR_FORMAT);
    CHECK_EQ_STR(got, want);
    release();
}

TEST(refusals_name_the_tensor)
{
    check_refused(1, "m.blk.1.w: expected shape [3,4], got [3,3]");
    check_refused(2, "m.blk.1.b: expected a float tensor, got I64");
    check_refused(3, "missing tensor m.blk.1.b");
}

TEST(index_in_the_row_name)
{
    static const struct nn_lt_row rows[] = {
        NN_LT_ROW(struct layer, w, "blk.%d.w", NN_LT_F32, 0, 2, 3, NN_LT_FREE),
    };
    struct vb_buf buf;
    struct nn_safetensors *st = make(&buf, 0);
    char why[256] = "";
    struct nn_lt L = {.st = st, .prefix = "m.", .why = why, .why_cap = sizeof why};
    struct layer ly = {0};
    int64_t dims[NN_LT_MAX_SIZES] = {0};
    CHECK_MSG(nn_lt_load(&L, rows, VB_ARRAY_LEN(rows), &ly, dims, NULL, 1), "%s", why);
    CHECK(ly.w && ly.w[0] == 1 && ly.w[11] == 12);
    vb_free((void *)ly.w); /* no keep: the destination owns it */
    nn_st_close(st);
    vb_buf_release(&buf);
}

int main(void)
{
    RUN(loads_layers_by_pattern);
    RUN(refusals_name_the_tensor);
    RUN(index_in_the_row_name);
    return test_summary();
}
