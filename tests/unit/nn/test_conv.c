/* test_conv.c: 1-D convolution and transposed convolution: hand-computed cases, the fast paths
 * against the double reference over many parameter combinations, output lengths as PyTorch
 * defines them, and weight loading with both weight-norm namings. */
#include "core/vb.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "nn/conv.h"
#include "unit/test.h"

#include <math.h>
#include <stdlib.h>

static uint64_t rng = 88172645463325252ull;
static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static float *dup_f(const float *v, size_t n)
{
    float *p = vb_xmalloc(n * sizeof *p);
    memcpy(p, v, n * sizeof *p);
    return p;
}

TEST(hand_cases)
{
    struct nn_conv1d c;
    struct nn_conv1d_params p = {.pad_left = 1, .pad_right = 1};
    CHECK(nn_conv1d_init(&c, false, 1, 1, 3, &p, dup_f((float[]){1, 0, -1}, 3), NULL) == VB_OK);
    float x[4] = {1, 2, 3, 4}, y[8] = {0};
    CHECK_EQ_INT(nn_conv1d_out_len(&c, 4), 4);
    struct nn_conv_ws ws = {0};
    CHECK(nn_conv1d_forward(&c, NULL, &ws, x, 4, y));
    CHECK(y[0] == -2 && y[1] == -2 && y[2] == -2 && y[3] == 3);
    nn_conv1d_release(&c);

    /* transposed, stride 2, bias 0.5: [1,2] * [1,2,3] -> [1,2,5,4,6] + 0.5 */
    struct nn_conv1d_params pt = {.stride = 2};
    CHECK(nn_conv1d_init(&c, true, 1, 1, 3, &pt, dup_f((float[]){1, 2, 3}, 3),
                         dup_f((float[]){0.5f}, 1)) == VB_OK);
    CHECK_EQ_INT(nn_conv1d_out_len(&c, 2), 5);
    CHECK(nn_conv1d_forward(&c, NULL, &ws, (float[]){1, 2}, 2, y));
    CHECK(y[0] == 1.5f && y[1] == 2.5f && y[2] == 5.5f && y[3] == 4.5f && y[4] == 6.5f);
    nn_conv1d_release(&c);

    /* bad parameters */
    struct nn_conv1d_params pg = {.groups = 2};
    CHECK(nn_conv1d_init(&c, false, 3, 2, 1, &pg, dup_f((float[]){1, 1, 1}, 3), NULL) ==
          VB_ERR_INVALID);
    CHECK(c.w == NULL);
    nn_conv_ws_release(&ws);
}

TEST(out_len_matches_pytorch)
{
    /* (transposed, t_in, k, stride, pad, dilation, output_padding, expected) from the PyTorch
     * formulas: floor((T + 2p - d(k-1) - 1)/s) + 1 and (T-1)s - 2p + d(k-1) + op + 1 */
    static const int cases[][8] = {
        {0, 100, 7, 1, 3, 1, 0, 100},   {0, 100, 3, 2, 1, 1, 0, 50}, {0, 10, 3, 1, 0, 5, 0, 0},
        {0, 11, 3, 1, 0, 5, 0, 1},      {0, 75, 5, 1, 2, 3, 0, 67},  {1, 75, 16, 8, 4, 1, 0, 600},
        {1, 600, 15, 5, 5, 1, 0, 3000}, {1, 10, 4, 2, 1, 1, 1, 21},  {0, 1, 1, 1, 0, 1, 0, 1},
    };
    for (size_t i = 0; i < VB_ARRAY_LEN(cases); i++) {
        const int *cs = cases[i];
        struct nn_conv1d c = {.transposed = cs[0],
                              .c_in = 1,
                              .c_out = 1,
                              .k = cs[2],
                              .p = {.stride = cs[3],
                                    .pad_left = cs[4],
                                    .pad_right = cs[4],
                                    .dilation = cs[5],
                                    .output_padding = cs[6],
                                    .groups = 1}};
        CHECK_MSG(nn_conv1d_out_len(&c, cs[1]) == cs[7], "case %zu: %lld", i,
                  (long long)nn_conv1d_out_len(&c, cs[1]));
    }
}

/* random conv vs reference */
static void one_random(bool transposed, int c_in, int c_out, int k, struct nn_conv1d_params p,
                       int64_t t_in, struct nn_pool *pool, struct nn_conv_ws *ws)
{
    int g = p.groups ? p.groups : 1;
    size_t nw = (size_t)(transposed ? c_in * (c_out / g) : c_out * (c_in / g)) * (size_t)k;
    float *w = vb_xmalloc(nw * sizeof *w), *b = vb_xmalloc((size_t)c_out * sizeof *b);
    for (size_t i = 0; i < nw; i++)
        w[i] = frand();
    for (int i = 0; i < c_out; i++)
        b[i] = frand();
    struct nn_conv1d c;
    CHECK(nn_conv1d_init(&c, transposed, c_in, c_out, k, &p, w, b) == VB_OK);
    int64_t t_out = nn_conv1d_out_len(&c, t_in);
    float *x = vb_xmalloc((size_t)(c_in * t_in) * sizeof *x);
    for (int64_t i = 0; i < c_in * t_in; i++)
        x[i] = frand();
    size_t ny = (size_t)(c_out * (t_out ? t_out : 1));
    float *y = vb_xmalloc(ny * sizeof *y), *yr = vb_xmalloc(ny * sizeof *yr);
    CHECK(nn_conv1d_forward(&c, pool, ws, x, t_in, y));
    nn_conv1d_forward_ref(&c, x, t_in, yr);
    double maxe = 0;
    for (int64_t i = 0; i < c_out * t_out; i++)
        maxe = fmax(maxe, fabs((double)y[i] - yr[i]));
    CHECK_MSG(maxe < 1e-4, "t=%d cin=%d cout=%d k=%d s=%d pad=%d/%d d=%d g=%d T=%lld: err %g",
              transposed, c_in, c_out, k, p.stride, p.pad_left, p.pad_right, p.dilation, g,
              (long long)t_in, maxe);
    vb_free(x);
    vb_free(y);
    vb_free(yr);
    nn_conv1d_release(&c);
}

TEST(fast_paths_match_reference)
{
    struct nn_pool *pool = NULL;
    CHECK(nn_pool_new(2, &pool) == VB_OK);
    struct nn_conv_ws ws = {0};
    for (int it = 0; it < 60; it++) {
        int groups = (it % 3 == 0) ? 1 : (it % 3 == 1 ? 2 : 4);
        int c_in = groups * (1 + (int)((frand() + 1) * 6));
        int c_out = groups * (1 + (int)((frand() + 1) * 6));
        if (it % 7 == 0) /* depthwise */
            c_out = c_in, groups = c_in;
        int k = 1 + (int)((frand() + 1) * 4);
        struct nn_conv1d_params p = {
            .stride = 1 + (int)((frand() + 1) * 1.5f),
            .dilation = 1 + (int)((frand() + 1) * 1.5f),
            .groups = groups,
        };
        p.pad_left = (int)((frand() + 1) * 3);
        p.pad_right = (it & 1) ? p.pad_left : (int)((frand() + 1) * 2);
        int64_t t_in = 1 + (int64_t)((frand() + 1) * 100);
        one_random(false, c_in, c_out, k, p, t_in, pool, &ws);
        p.output_padding = it % 4 == 0 ? p.stride - 1 : 0;
        one_random(true, c_in, c_out, k, p, t_in, pool, &ws);
    }
    /* pointwise (packed straight from the input), and pointwise with padding/stride */
    one_random(false, 40, 24, 1, (struct nn_conv1d_params){0}, 2100, pool, &ws);
    one_random(false, 40, 24, 1, (struct nn_conv1d_params){.pad_left = 1, .pad_right = 2}, 50, pool,
               &ws);
    one_random(false, 40, 24, 1, (struct nn_conv1d_params){.stride = 2}, 51, pool, &ws);
    /* a larger one crossing several time blocks */
    one_random(false, 64, 48, 7, (struct nn_conv1d_params){.pad_left = 3, .pad_right = 3}, 300,
               pool, &ws);
    one_random(true, 48, 32, 16,
               (struct nn_conv1d_params){.stride = 8, .pad_left = 4, .pad_right = 4}, 150, pool,
               &ws);
    nn_conv_ws_release(&ws);
    nn_pool_free(pool);
}

/* builds a safetensors image of F32 tensors */
struct st_img {
    struct vb_buf hdr, data;
};
static void img_add(struct st_img *m, const char *name, int n_dims, const int64_t *shape,
                    const float *v)
{
    int64_t n = 1;
    for (int i = 0; i < n_dims; i++)
        n *= shape[i];
    char tmp[512];
    int o = snprintf(tmp, sizeof tmp, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[",
                     m->hdr.len > 1 ? "," : "", name);
    for (int i = 0; i < n_dims; i++)
        o += snprintf(tmp + o, sizeof tmp - (size_t)o, "%s%lld", i ? "," : "", (long long)shape[i]);
    o += snprintf(tmp + o, sizeof tmp - (size_t)o, "],\"data_offsets\":[%zu,%zu]}", m->data.len,
                  m->data.len + (size_t)n * 4);
    CHECK(vb_buf_append(&m->hdr, tmp, (size_t)o) == VB_OK);
    CHECK(vb_buf_append(&m->data, v, (size_t)n * 4) == VB_OK);
}
static void img_finish(struct st_img *m, struct vb_buf *out)
{
    CHECK(vb_buf_append(&m->hdr, "}", 1) == VB_OK);
    vb_buf_init(out, 1 << 20);
    uint64_t hl = m->hdr.len;
    CHECK(vb_buf_append(out, &hl, 8) == VB_OK && vb_buf_append(out, m->hdr.data, hl) == VB_OK &&
          vb_buf_append(out, m->data.data, m->data.len) == VB_OK);
}

TEST(weight_norm_loading)
{
    struct st_img m;
    vb_buf_init(&m.hdr, 1 << 16);
    vb_buf_init(&m.data, 1 << 16);
    CHECK(vb_buf_append(&m.hdr, "{", 1) == VB_OK);
    /* v (2,1,2) rows [3,4] and [0,-2]; g = [10, 1] -> W = [6,8], [0,-1] */
    float v[4] = {3, 4, 0, -2}, g[2] = {10, 1}, b[2] = {0.25f, -1};
    img_add(&m, "a.parametrizations.weight.original0", 3, (int64_t[]){2, 1, 1}, g);
    img_add(&m, "a.parametrizations.weight.original1", 3, (int64_t[]){2, 1, 2}, v);
    img_add(&m, "a.bias", 1, (int64_t[]){2}, b);
    img_add(&m, "legacy.weight_g", 3, (int64_t[]){2, 1, 1}, g);
    img_add(&m, "legacy.weight_v", 3, (int64_t[]){2, 1, 2}, v);
    img_add(&m, "plain.weight", 3, (int64_t[]){2, 1, 2}, v);
    img_add(&m, "bad.weight", 2, (int64_t[]){2, 2}, v);
    img_add(&m, "badb.weight", 3, (int64_t[]){2, 1, 2}, v);
    img_add(&m, "badb.bias", 1, (int64_t[]){1}, b);
    struct vb_buf file;
    img_finish(&m, &file);
    struct nn_safetensors *st = NULL;
    char why[256] = "";
    CHECK_MSG(nn_st_open_memory(file.data, file.len, &st, why, sizeof why) == VB_OK, "%s", why);
    if (!st)
        goto out;
    struct nn_conv1d c;
    struct nn_conv1d_params p = {0};
    const char *names[] = {"a", "legacy"};
    for (int i = 0; i < 2; i++) {
        CHECK_MSG(nn_conv1d_load(&c, st, names[i], &p, why, sizeof why) == VB_OK, "%s", why);
        CHECK(c.c_in == 1 && c.c_out == 2 && c.k == 2);
        CHECK_NEAR(c.w[0], 6, 1e-6);
        CHECK_NEAR(c.w[1], 8, 1e-6);
        CHECK_NEAR(c.w[2], 0, 1e-6);
        CHECK_NEAR(c.w[3], -1, 1e-6);
        CHECK((i == 0) == (c.b != NULL));
        nn_conv1d_release(&c);
    }
    /* transposed reading of the same weight: (in 2, out 1, k 2); dim 0 is the input axis */
    CHECK(nn_convt1d_load(&c, st, "legacy", &p, why, sizeof why) == VB_OK);
    CHECK(c.c_in == 2 && c.c_out == 1 && c.k == 2 && c.transposed && c.wp);
    CHECK_NEAR(c.w[1], 8, 1e-6);
    nn_conv1d_release(&c);
    CHECK(nn_conv1d_load(&c, st, "plain", &p, why, sizeof why) == VB_OK && c.w[1] == 4);
    nn_conv1d_release(&c);
    CHECK(nn_conv1d_load(&c, st, "missing", &p, why, sizeof why) == VB_ERR_NOT_FOUND &&
          strstr(why, "missing.weight"));
    CHECK(nn_conv1d_load(&c, st, "bad", &p, why, sizeof why) == VB_ERR_FORMAT &&
          strstr(why, "3 dims"));
    CHECK(nn_conv1d_load(&c, st, "badb", &p, why, sizeof why) == VB_ERR_FORMAT &&
          strstr(why, "badb.bias"));
    struct nn_conv1d_params pg = {.groups = 2};
    CHECK(nn_conv1d_load(&c, st, "plain", &pg, why, sizeof why) == VB_OK && c.c_in == 2);
    nn_conv1d_release(&c);
    nn_st_close(st);
out:
    vb_buf_release(&file);
    vb_buf_release(&m.hdr);
    vb_buf_release(&m.data);
}

int main(void)
{
    RUN(hand_cases);
    RUN(out_len_matches_pytorch);
    RUN(fast_paths_match_reference);
    RUN(weight_norm_loading);
    return test_summary();
}
