/* test_gguf.c: GGUF writer -> reader round trip, every truncation and a table of corruptions
 * refused with a message (never a crash), random byte flips, and the reference model files. */
#include "core/vb.h"
#include "core/alloc.h"
#include "nn/gguf.h"
#include "nn/gguf_write.h"
#include "unit/refdata.h"
#include "unit/test.h"

static float f32_data[2 * 64];
static uint8_t q8_data[34 * 2 * 3];

static void build(struct vb_buf *out)
{
    struct gguf_writer *w = gguf_writer_new();
    static const char *const strs[] = {"a", "", "hello world"};
    static const int32_t ints[] = {1, -2, 3};
    CHECK(gguf_writer_set_str(w, "general.architecture", "test") == VB_OK);
    CHECK(gguf_writer_set_u32(w, "t.u32", 4000000000u) == VB_OK);
    CHECK(gguf_writer_set_i32(w, "t.i32", -5) == VB_OK);
    CHECK(gguf_writer_set_f32(w, "t.f32", 1.5f) == VB_OK);
    CHECK(gguf_writer_set_bool(w, "t.bool", true) == VB_OK);
    CHECK(gguf_writer_set_arr_str(w, "t.strs", strs, 3) == VB_OK);
    CHECK(gguf_writer_set_arr_i32(w, "t.ints", ints, 3) == VB_OK);
    CHECK(gguf_writer_set_u32(w, "t.u32", 1) == VB_ERR_CONFLICT);
    for (int i = 0; i < 128; i++)
        f32_data[i] = (float)i * 0.5f;
    for (size_t i = 0; i < sizeof q8_data; i++)
        q8_data[i] = (uint8_t)(i * 7);
    int64_t ne1[2] = {64, 2}, ne2[2] = {64, 3};
    CHECK(gguf_writer_add_tensor(w, "a.weight", NN_TYPE_F32, 2, ne1, f32_data, NULL, NULL) ==
          VB_OK);
    CHECK(gguf_writer_add_tensor(w, "b.weight", NN_TYPE_Q8_0, 2, ne2, q8_data, NULL, NULL) ==
          VB_OK);
    int64_t bad[1] = {33};
    CHECK(gguf_writer_add_tensor(w, "c", NN_TYPE_Q8_0, 1, bad, q8_data, NULL, NULL) ==
          VB_ERR_INVALID);
    CHECK(gguf_writer_add_tensor(w, "a.weight", NN_TYPE_F32, 2, ne1, f32_data, NULL, NULL) ==
          VB_ERR_CONFLICT);
    vb_buf_init(out, 1 << 20);
    CHECK(gguf_writer_write_buf(w, out) == VB_OK);
    gguf_writer_free(w);
}

TEST(round_trip)
{
    struct vb_buf b;
    build(&b);
    struct gguf_file *g = NULL;
    char why[256] = "";
    CHECK_MSG(gguf_open_mem(b.data, b.len, &g, why, sizeof why) == VB_OK, "%s", why);
    if (!g)
        return;
    CHECK_EQ_INT(gguf_version(g), 3);
    CHECK_EQ_INT(gguf_kv_count(g), 7);
    uint32_t u;
    int64_t i64;
    float f;
    bool bo;
    size_t len;
    CHECK(gguf_get_u32(g, "t.u32", &u) && u == 4000000000u);
    CHECK(!gguf_get_u32(g, "t.i32", &u)); /* negative does not fit */
    CHECK(gguf_get_i64(g, "t.i32", &i64) && i64 == -5);
    CHECK(gguf_get_f32(g, "t.f32", &f) && f == 1.5f);
    CHECK(gguf_get_bool(g, "t.bool", &bo) && bo);
    CHECK(!gguf_get_bool(g, "t.u32", &bo));
    const char *s = gguf_get_str(g, "general.architecture", &len);
    CHECK(s && len == 4 && memcmp(s, "test", 4) == 0);
    CHECK(!gguf_get_str(g, "missing", &len));
    enum gguf_type at;
    uint64_t n;
    const struct gguf_kv *kv;
    CHECK(gguf_get_arr(g, "t.strs", &at, &n, &kv) && at == GGUF_TYPE_STRING && n == 3);
    s = gguf_arr_str(kv, 2, &len);
    CHECK(s && len == 11 && memcmp(s, "hello world", 11) == 0);
    s = gguf_arr_str(kv, 1, &len);
    CHECK(s && len == 0);
    CHECK(!gguf_arr_str(kv, 3, &len));
    CHECK(gguf_get_arr(g, "t.ints", &at, &n, &kv) && at == GGUF_TYPE_INT32 && n == 3);
    CHECK(gguf_arr_int(kv, 1, &i64) && i64 == -2);
    CHECK_EQ_INT(gguf_tensor_count(g), 2);
    const struct nn_tensor *a = gguf_find_tensor(g, "a.weight");
    const struct nn_tensor *q = gguf_find_tensor(g, "b.weight");
    CHECK(a && q && !gguf_find_tensor(g, "c"));
    if (a && q) {
        CHECK(a->type == NN_TYPE_F32 && a->ne[0] == 64 && a->ne[1] == 2 && a->nbytes == 512);
        CHECK(memcmp(a->data, f32_data, 512) == 0);
        CHECK(q->type == NN_TYPE_Q8_0 && q->row_bytes == 68 && q->nbytes == 204);
        CHECK(memcmp(q->data, q8_data, 204) == 0);
        CHECK(((const uint8_t *)a->data - (const uint8_t *)b.data) % 32 == 0);
        CHECK(((const uint8_t *)q->data - (const uint8_t *)b.data) % 32 == 0);
    }
    gguf_close(g);
    vb_buf_release(&b);
}

TEST(every_truncation_is_refused)
{
    struct vb_buf b;
    build(&b);
    char why[256];
    for (size_t cut = 0; cut < b.len; cut++) {
        struct gguf_file *g = NULL;
        char *copy = vb_xmalloc(cut + 1);
        memcpy(copy, b.data, cut);
        why[0] = 0;
        enum vb_err err = gguf_open_mem(copy, cut, &g, why, sizeof why);
        if (err == VB_OK) {
            /* only possible when just trailing padding was cut */
            const struct nn_tensor *q = gguf_find_tensor(g, "b.weight");
            CHECK(q && (const uint8_t *)q->data + q->nbytes <= (const uint8_t *)copy + cut);
            gguf_close(g);
        } else {
            CHECK(err == VB_ERR_FORMAT && why[0] != 0);
        }
        vb_free(copy);
    }
    vb_buf_release(&b);
}

/* Patches a copy of the valid file and expects a refusal whose message contains `want`. */
static void expect_refused(const struct vb_buf *b, size_t off, const void *bytes, size_t n,
                           const char *want)
{
    char *copy = vb_xmalloc(b->len);
    memcpy(copy, b->data, b->len);
    memcpy(copy + off, bytes, n);
    struct gguf_file *g = NULL;
    char why[256] = "";
    enum vb_err err = gguf_open_mem(copy, b->len, &g, why, sizeof why);
    CHECK_MSG(err == VB_ERR_FORMAT && strstr(why, want), "want '%s', got err %d '%s'", want,
              (int)err, why);
    gguf_close(g);
    vb_free(copy);
}

static size_t find(const struct vb_buf *b, const char *s)
{
    const char *p = memmem(b->data, b->len, s, strlen(s));
    return p ? (size_t)(p - b->data) : 0;
}

TEST(corruptions_are_refused)
{
    struct vb_buf b;
    build(&b);
    uint32_t v;
    uint64_t big = 1ull << 62;
    expect_refused(&b, 0, "GGUX", 4, "magic");
    v = 1;
    expect_refused(&b, 4, &v, 4, "version 1");
    v = 4;
    expect_refused(&b, 4, &v, 4, "unsupported GGUF version");
    v = 0x03000000;
    expect_refused(&b, 4, &v, 4, "big-endian");
    expect_refused(&b, 8, &big, 8, "tensor count");
    expect_refused(&b, 16, &big, 8, "metadata count");
    /* first key length huge */
    expect_refused(&b, 24, &big, 8, "truncated");
    /* value type of the first key (after "general.architecture") */
    size_t k = find(&b, "general.architecture") + 20;
    v = 77;
    expect_refused(&b, k, &v, 4, "unknown value type");
    /* duplicate key: rename t.i32 to t.u32 */
    expect_refused(&b, find(&b, "t.i32"), "t.u32", 5, "duplicate metadata key");
    /* nested array: element type of t.ints -> ARRAY */
    size_t ai = find(&b, "t.ints") + 6 + 4;
    v = GGUF_TYPE_ARRAY;
    expect_refused(&b, ai, &v, 4, "nested");
    /* array count beyond the file */
    expect_refused(&b, ai + 4, &big, 8, "exceeds the file size");
    /* tensor infos: name, n_dims u32, ne[] u64, type u32, offset u64 */
    size_t ti = find(&b, "b.weight") + 8;
    v = 5;
    expect_refused(&b, ti, &v, 4, "dimensions");
    uint64_t ne0 = 33;
    expect_refused(&b, ti + 4, &ne0, 8, "multiple of");
    uint64_t neg = (uint64_t)-1;
    expect_refused(&b, ti + 12, &neg, 8, "negative");
    v = 4; /* removed Q4_2 */
    expect_refused(&b, ti + 20, &v, 4, "unsupported tensor type 4");
    uint64_t off = 8;
    expect_refused(&b, ti + 24, &off, 8, "alignment");
    off = 1 << 20;
    expect_refused(&b, ti + 24, &off, 8, "beyond the end");
    off = 0;
    expect_refused(&b, ti + 24, &off, 8, "overlap");
    /* duplicate tensor name */
    expect_refused(&b, find(&b, "b.weight"), "a", 1, "duplicate tensor");
    vb_buf_release(&b);
}

TEST(random_flips_never_crash)
{
    struct vb_buf b;
    build(&b);
    uint64_t r = 12345;
    int opened = 0;
    for (int it = 0; it < 3000; it++) {
        char *copy = vb_xmalloc(b.len);
        memcpy(copy, b.data, b.len);
        for (int f = 0; f < 1 + it % 4; f++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            copy[(r >> 33) % b.len] ^= (char)(1u << ((r >> 20) & 7));
        }
        struct gguf_file *g = NULL;
        char why[128];
        if (gguf_open_mem(copy, b.len, &g, why, sizeof why) == VB_OK) {
            opened++;
            for (size_t i = 0; i < gguf_tensor_count(g); i++) {
                const struct nn_tensor *t = gguf_tensor_at(g, i);
                CHECK((const char *)t->data + t->nbytes <= copy + b.len);
            }
            for (size_t i = 0; i < gguf_kv_count(g); i++) {
                const struct gguf_kv *kv = gguf_kv_at(g, i);
                size_t len;
                for (uint64_t j = 0; kv->type == GGUF_TYPE_ARRAY && j < kv->arr_n; j++)
                    (void)gguf_arr_str(kv, j, &len);
            }
            gguf_close(g);
        }
        vb_free(copy);
    }
    CHECK(opened > 0); /* flips in tensor data keep the file valid */
    vb_buf_release(&b);
}

TEST(reference_model_file)
{
    char path[1024], why[256] = "";
    refdata_path(path, sizeof path, "qwen2-ref/models/qwen2-tiny-tied-q4_k_m.gguf");
    if (!refdata_exists(path)) {
        SKIP_MISSING_DATA(reference_model_file, "reference data not found");
        return;
    }
    struct gguf_file *g = NULL;
    CHECK_MSG(gguf_open(path, &g, why, sizeof why) == VB_OK, "%s", why);
    if (!g)
        return;
    CHECK_EQ_INT(gguf_tensor_count(g), 26);
    uint32_t n;
    CHECK(gguf_get_u32(g, "qwen2.block_count", &n) && n == 2);
    const struct nn_tensor *t = gguf_find_tensor(g, "token_embd.weight");
    CHECK(t && t->type == NN_TYPE_Q6_K && t->ne[0] == 256 && t->ne[1] == 600);
    t = gguf_find_tensor(g, "blk.1.ffn_down.weight");
    CHECK(t && t->type == NN_TYPE_Q6_K && t->ne[0] == 512);
    gguf_close(g);
    CHECK(gguf_open("/nonexistent/x.gguf", &g, why, sizeof why) == VB_ERR_NOT_FOUND);
}

int main(void)
{
    RUN(round_trip);
    RUN(every_truncation_is_refused);
    RUN(corruptions_are_refused);
    RUN(random_flips_never_crash);
    RUN(reference_model_file);
    return test_summary();
}
