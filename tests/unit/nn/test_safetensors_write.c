/* test_safetensors_write.c: files built by nn_st_writer read back through nn_st_open (values,
 * dtypes, sorted names, metadata, generated tensors deterministic and in range), written to
 * disk atomically; bad additions refused. */
#include "core/vb.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "nn/safetensors.h"
#include "nn/safetensors_write.h"
#include "unit/test.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

static const float wdata[6] = {1, -2, 3.5f, 4, 5, 6};
static const int64_t idata = 42;

static struct nn_st_writer *build(uint64_t seed)
{
    struct nn_st_writer *w = NULL;
    CHECK(nn_st_writer_new(&w) == VB_OK);
    CHECK(nn_st_writer_add(w, "z.weight", NN_ST_F32, 2, (int64_t[]){2, 3}, wdata) == VB_OK);
    CHECK(nn_st_writer_add(w, "a.count", NN_ST_I64, 0, NULL, &idata) == VB_OK);
    CHECK(nn_st_writer_add_uniform(w, "m.noise", 2, (int64_t[]){100, 37}, -0.5f, 0.25f, seed) ==
          VB_OK);
    CHECK(nn_st_writer_add_const(w, "m.ones", 1, (int64_t[]){5}, 1.0f) == VB_OK);
    CHECK(nn_st_writer_add_const(w, "e.empty", 2, (int64_t[]){0, 4}, 1.0f) == VB_OK);
    CHECK(nn_st_writer_add(w, "q\"uote\\d", NN_ST_F32, 1, (int64_t[]){1}, wdata) == VB_OK);
    CHECK(nn_st_writer_metadata(w, "format", "pt") == VB_OK);
    return w;
}

static void verify(const struct nn_safetensors *st, uint64_t seed, float *noise_out)
{
    CHECK_EQ_INT(nn_st_count(st), 6);
    /* sorted by name */
    for (size_t i = 1; i < nn_st_count(st); i++)
        CHECK(strcmp(nn_st_at(st, i - 1)->name, nn_st_at(st, i)->name) < 0);
    CHECK_EQ_STR(nn_st_metadata(st, "format"), "pt");
    const struct nn_st_tensor *t = nn_st_find(st, "z.weight");
    float f[6];
    CHECK(t && nn_st_expect(t, NN_ST_F32, 2, (int64_t[]){2, 3}, NULL, 0) == VB_OK &&
          nn_st_to_f32(t, f, 6) == VB_OK && memcmp(f, wdata, sizeof f) == 0);
    int64_t iv = 0;
    t = nn_st_find(st, "a.count");
    CHECK(t && t->n_dims == 0 && nn_st_to_i64(t, &iv, 1) == VB_OK && iv == 42);
    t = nn_st_find(st, "m.ones");
    CHECK(t && nn_st_to_f32(t, f, 5) == VB_OK && f[0] == 1.0f && f[4] == 1.0f);
    t = nn_st_find(st, "e.empty");
    CHECK(t && t->nbytes == 0);
    CHECK(nn_st_find(st, "q\"uote\\d") != NULL);
    t = nn_st_find(st, "m.noise");
    CHECK(t && nn_st_numel(t) == 3700);
    if (t && nn_st_to_f32(t, noise_out, 3700) == VB_OK) {
        double mean = 0;
        float lo = 1, hi = -1;
        for (int i = 0; i < 3700; i++) {
            mean += noise_out[i];
            lo = fminf(lo, noise_out[i]);
            hi = fmaxf(hi, noise_out[i]);
        }
        mean /= 3700;
        CHECK_MSG(lo >= -0.5f && hi < 0.25f && lo < -0.45f && hi > 0.2f, "range [%g, %g]", lo, hi);
        CHECK_NEAR(mean, -0.125, 0.02);
    }
    (void)seed;
}

TEST(round_trip_memory_and_file)
{
    struct nn_st_writer *w = build(7);
    struct vb_buf b;
    vb_buf_init(&b, 1 << 20);
    CHECK(nn_st_writer_to_buf(w, &b) == VB_OK);
    CHECK_EQ_INT(b.len, nn_st_writer_size(w));
    uint64_t hl = 0;
    memcpy(&hl, b.data, 8);
    CHECK(hl % 8 == 0);
    struct nn_safetensors *st = NULL;
    char why[256] = "";
    static float n1[3700], n2[3700];
    CHECK_MSG(nn_st_open_memory(b.data, b.len, &st, why, sizeof why) == VB_OK, "%s", why);
    if (st)
        verify(st, 7, n1);
    nn_st_close(st);

    char path[] = "/tmp/vocero_stw_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    CHECK_MSG(nn_st_writer_write(w, path, why, sizeof why) == VB_OK, "%s", why);
    CHECK_MSG(nn_st_open(path, &st, why, sizeof why) == VB_OK, "%s", why);
    if (st)
        verify(st, 7, n2);
    nn_st_close(st);
    CHECK(memcmp(n1, n2, sizeof n1) == 0); /* deterministic */
    unlink(path);
    nn_st_writer_free(w);
    vb_buf_release(&b);

    /* another seed gives other noise */
    w = build(8);
    vb_buf_init(&b, 1 << 20);
    CHECK(nn_st_writer_to_buf(w, &b) == VB_OK);
    CHECK(nn_st_open_memory(b.data, b.len, &st, why, sizeof why) == VB_OK);
    if (st) {
        verify(st, 8, n2);
        CHECK(memcmp(n1, n2, sizeof n1) != 0);
    }
    nn_st_close(st);
    nn_st_writer_free(w);
    vb_buf_release(&b);
}

TEST(bad_additions)
{
    struct nn_st_writer *w = NULL;
    CHECK(nn_st_writer_new(&w) == VB_OK);
    CHECK(nn_st_writer_add(w, "a", NN_ST_F32, 1, (int64_t[]){6}, wdata) == VB_OK);
    CHECK(nn_st_writer_add(w, "a", NN_ST_F32, 1, (int64_t[]){6}, wdata) == VB_ERR_CONFLICT);
    CHECK(nn_st_writer_add(w, "", NN_ST_F32, 1, (int64_t[]){6}, wdata) == VB_ERR_INVALID);
    CHECK(nn_st_writer_add(w, "__metadata__", NN_ST_F32, 1, (int64_t[]){6}, wdata) ==
          VB_ERR_INVALID);
    CHECK(nn_st_writer_add(w, "b", NN_ST_F32, 1, (int64_t[]){-1}, wdata) == VB_ERR_INVALID);
    CHECK(nn_st_writer_add(w, "b", NN_ST_F32, 1, (int64_t[]){6}, NULL) == VB_ERR_INVALID);
    CHECK(nn_st_writer_add(w, "b", (enum nn_st_dtype)77, 1, (int64_t[]){6}, wdata) ==
          VB_ERR_INVALID);
    CHECK(nn_st_writer_add_uniform(w, "b", 9, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}, 0, 1, 1) ==
          VB_ERR_INVALID);
    CHECK(nn_st_writer_add_const(w, "c", 2, (int64_t[]){INT64_MAX, INT64_MAX}, 0) ==
          VB_ERR_INVALID);
    CHECK_EQ_INT(nn_st_writer_count(w), 1);
    char why[256] = "";
    CHECK(nn_st_writer_write(w, "/nonexistent-dir/x.safetensors", why, sizeof why) == VB_ERR_IO &&
          strstr(why, "nonexistent"));
    nn_st_writer_free(w);
    nn_st_writer_free(NULL);
}

int main(void)
{
    RUN(round_trip_memory_and_file);
    RUN(bad_additions);
    return test_summary();
}
