/* test_safetensors.c: a valid file written here round-trips through nn_st_open (values,
 * dtypes, metadata, padding); every truncation and a table of malformed headers are refused
 * with a message; conversion and nn_st_expect. */
#include "core/vb.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "nn/fp16.h"
#include "nn/safetensors.h"
#include "unit/test.h"

#include <stdlib.h>
#include <unistd.h>

/* header JSON + data bytes -> file image in b */
static void make(struct vb_buf *b, const char *json, const void *data, size_t n)
{
    vb_buf_init(b, 1 << 20);
    uint64_t hl = strlen(json);
    CHECK(vb_buf_append(b, &hl, 8) == VB_OK);
    CHECK(vb_buf_append(b, json, hl) == VB_OK);
    if (n)
        CHECK(vb_buf_append(b, data, n) == VB_OK);
}

static const char good_json[] =
    "{\"__metadata__\":{\"format\":\"pt\"},"
    "\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
    "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[24,30]},"
    "\"m\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[30,32]},"
    "\"i\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[32,40]},"
    "\"h\":{\"dtype\":\"F16\",\"shape\":[1,2],\"data_offsets\":[40,44]},"
    "\"e\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[44,44]}}      ";

static void good_data(uint8_t data[44])
{
    float w[6] = {1, -2, 3.5f, 4, 5, 6e-3f};
    memcpy(data, w, 24);
    uint16_t bf[3] = {nn_fp32_to_bf16(1.5f), nn_fp32_to_bf16(-0.25f), nn_fp32_to_bf16(3.0f)};
    memcpy(data + 24, bf, 6);
    data[30] = 1;
    data[31] = 0;
    int64_t i = -1234567890123LL;
    memcpy(data + 32, &i, 8);
    uint16_t h[2] = {nn_fp32_to_fp16(0.5f), nn_fp32_to_fp16(-7.0f)};
    memcpy(data + 40, h, 4);
}

static void check_good(const struct nn_safetensors *st)
{
    CHECK_EQ_INT(nn_st_count(st), 6);
    CHECK_EQ_STR(nn_st_at(st, 0)->name, "w"); /* header order */
    CHECK_EQ_STR(nn_st_at(st, 5)->name, "e");
    CHECK(nn_st_at(st, 6) == NULL);
    const struct nn_st_tensor *t = nn_st_find(st, "w");
    CHECK(t && t->dtype == NN_ST_F32 && t->n_dims == 2 && t->shape[0] == 2 && t->shape[1] == 3 &&
          t->nbytes == 24 && nn_st_numel(t) == 6);
    float f[6] = {0};
    CHECK(t && nn_st_to_f32(t, f, 6) == VB_OK && f[0] == 1 && f[1] == -2 && f[2] == 3.5f &&
          f[5] == 6e-3f);
    CHECK(t && nn_st_to_f32(t, f, 5) == VB_ERR_INVALID);
    int64_t iv[6];
    CHECK(t && nn_st_to_i64(t, iv, 6) == VB_ERR_INVALID);
    t = nn_st_find(st, "b");
    CHECK(t && t->dtype == NN_ST_BF16 && t->nbytes == 6);
    CHECK(t && nn_st_to_f32(t, f, 3) == VB_OK && f[0] == 1.5f && f[1] == -0.25f && f[2] == 3.0f);
    t = nn_st_find(st, "m");
    CHECK(t && t->dtype == NN_ST_BOOL && nn_st_to_f32(t, f, 2) == VB_ERR_INVALID);
    CHECK(t && nn_st_to_i64(t, iv, 2) == VB_OK && iv[0] == 1 && iv[1] == 0);
    t = nn_st_find(st, "i");
    CHECK(t && t->n_dims == 0 && t->nbytes == 8 && nn_st_numel(t) == 1);
    CHECK(t && nn_st_to_i64(t, iv, 1) == VB_OK && iv[0] == -1234567890123LL);
    t = nn_st_find(st, "h");
    CHECK(t && nn_st_to_f32(t, f, 2) == VB_OK && f[0] == 0.5f && f[1] == -7.0f);
    t = nn_st_find(st, "e");
    CHECK(t && nn_st_numel(t) == 0 && t->nbytes == 0 && nn_st_to_f32(t, NULL, 0) == VB_OK);
    CHECK(!nn_st_find(st, "__metadata__"));
    CHECK(!nn_st_find(st, "x"));
    CHECK_EQ_STR(nn_st_metadata(st, "format"), "pt");
    CHECK(nn_st_metadata(st, "nope") == NULL);

    char why[256] = "";
    t = nn_st_find(st, "w");
    CHECK(nn_st_expect(t, NN_ST_F32, 2, (const int64_t[]){2, 3}, why, sizeof why) == VB_OK);
    CHECK(nn_st_expect(t, NN_ST_F32, 2, (const int64_t[]){3, 2}, why, sizeof why) ==
              VB_ERR_FORMAT &&
          strstr(why, "w: expected F32 [3, 2], got F32 [2, 3]"));
    CHECK(nn_st_expect(t, NN_ST_F16, 2, (const int64_t[]){2, 3}, why, sizeof why) ==
              VB_ERR_FORMAT &&
          strstr(why, "expected F16"));
    CHECK(nn_st_expect(t, NN_ST_F32, 1, (const int64_t[]){6}, why, sizeof why) == VB_ERR_FORMAT);
    CHECK(nn_st_expect(NULL, NN_ST_F32, 1, (const int64_t[]){6}, why, sizeof why) == VB_ERR_FORMAT);
}

TEST(round_trip_file)
{
    uint8_t data[44];
    good_data(data);
    struct vb_buf b;
    make(&b, good_json, data, sizeof data);
    char path[] = "/tmp/vocero_st_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) {
        vb_buf_release(&b);
        return;
    }
    CHECK(write(fd, b.data, b.len) == (ssize_t)b.len);
    close(fd);
    struct nn_safetensors *st = NULL;
    char why[256] = "";
    CHECK_MSG(nn_st_open(path, &st, why, sizeof why) == VB_OK, "%s", why);
    if (st)
        check_good(st);
    nn_st_close(st);
    unlink(path);
    CHECK(nn_st_open(path, &st, why, sizeof why) == VB_ERR_NOT_FOUND && st == NULL &&
          strstr(why, path));
    nn_st_close(NULL);
    vb_buf_release(&b);
}

TEST(memory_and_truncations)
{
    uint8_t data[44];
    good_data(data);
    struct vb_buf b;
    make(&b, good_json, data, sizeof data);
    struct nn_safetensors *st = NULL;
    char why[256] = "";
    CHECK_MSG(nn_st_open_memory(b.data, b.len, &st, why, sizeof why) == VB_OK, "%s", why);
    if (st)
        check_good(st);
    nn_st_close(st);
    /* every truncation fails cleanly, with a reason (each in its own exact-size buffer) */
    for (size_t cut = 0; cut < b.len; cut++) {
        char *c = vb_xmalloc(cut + 1);
        memcpy(c, b.data, cut);
        why[0] = 0;
        st = (struct nn_safetensors *)1;
        CHECK_MSG(nn_st_open_memory(c, cut, &st, why, sizeof why) == VB_ERR_FORMAT && why[0] &&
                      st == NULL,
                  "cut %zu", cut);
        vb_free(c);
    }
    vb_buf_release(&b);
}

static void refused(const char *json, size_t data_len, const char *want)
{
    static uint8_t zeros[256];
    struct vb_buf b;
    make(&b, json, zeros, data_len);
    struct nn_safetensors *st = NULL;
    char why[256] = "";
    enum vb_err err = nn_st_open_memory(b.data, b.len, &st, why, sizeof why);
    CHECK_MSG(err == VB_ERR_FORMAT && strstr(why, want) && !st, "%s: want '%s', got %d '%s'", json,
              want, (int)err, why);
    nn_st_close(st);
    vb_buf_release(&b);
}

#define T1(dt, shape, offs)                                                                        \
    "{\"a\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":" offs "}}"

TEST(malformed_headers)
{
    /* non-object JSON, broken JSON */
    refused("[1,2]", 0, "not a JSON object");
    refused("\"abc\"", 0, "not a JSON object");
    refused("12", 0, "not a JSON object");
    refused("{\"a\":", 0, "header JSON");
    refused("{\"a\":{}} x", 0, "header JSON");
    refused("{\"a\":1}", 0, "not an object");
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "data_offsets");
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, "data_offsets");
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", 4, "data_offsets");
    refused("{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "data_offsets");
    refused(T1("F33", "[1]", "[0,4]"), 4, "unsupported dtype");
    refused(T1("F32", "[-1]", "[0,4]"), 4, "shape entry 0");
    refused(T1("F32", "[1.5]", "[0,4]"), 4, "shape entry 0");
    refused(T1("F32", "[1,\"2\"]", "[0,8]"), 8, "shape entry 1");
    refused(T1("F32", "[1]", "[-4,4]"), 4, "bad data_offsets");
    refused(T1("F32", "[1]", "[0,4.0]"), 4, "bad data_offsets");
    /* wrong dtype size vs shape */
    refused(T1("F32", "[2]", "[0,4]"), 4, "needs 8");
    refused(T1("F16", "[3]", "[0,8]"), 8, "needs 6");
    refused(T1("I64", "[]", "[0,4]"), 4, "needs 8");
    /* out of range offsets */
    refused(T1("F32", "[1]", "[4,0]"), 4, "bad data_offsets");
    refused(T1("F32", "[1]", "[0,4]"), 2, "beyond the end");
    refused(T1("F32", "[1]", "[18446744073709551612,18446744073709551616]"), 4, "bad data_offsets");
    refused(T1("F32", "[1]", "[9223372036854775800,9223372036854775804]"), 4, "beyond the end");
    /* overlapping */
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
            "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}",
            8, "overlap");
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
            "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
            8, "overlap");
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
            "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
            8, "overlap");
    /* duplicate names */
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
            "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
            8, "duplicate tensor name 'a'");
    refused("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate __metadata__");
    /* huge dims overflow */
    refused(T1("U8", "[4294967296,4294967296,4294967296]", "[0,0]"), 0, "overflow");
    refused(T1("F32", "[4611686018427387904,4]", "[0,0]"), 0, "overflow");
    refused(T1("F64", "[2305843009213693952,2]", "[0,0]"), 0, "overflow");
    refused(T1("F64", "[9223372036854775807]", "[0,8]"), 8, "overflow");
    refused(T1("U8", "[1,1,1,1,1,1,1,1,1]", "[0,1]"), 1, "dimensions");
    refused("{\"__metadata__\":{\"k\":1}}", 0, "not a string");
    refused("{\"__metadata__\":[]}", 0, "not an object");

    /* header length past EOF / over the limit / empty */
    struct vb_buf b;
    vb_buf_init(&b, 64);
    uint64_t hl = 1000;
    CHECK(vb_buf_append(&b, &hl, 8) == VB_OK && vb_buf_append(&b, "{}", 2) == VB_OK);
    struct nn_safetensors *st = NULL;
    char why[256] = "";
    CHECK(nn_st_open_memory(b.data, b.len, &st, why, sizeof why) == VB_ERR_FORMAT &&
          strstr(why, "truncated"));
    hl = 1ull << 40;
    memcpy(b.data, &hl, 8);
    CHECK(nn_st_open_memory(b.data, b.len, &st, why, sizeof why) == VB_ERR_FORMAT &&
          strstr(why, "limit"));
    hl = UINT64_MAX;
    memcpy(b.data, &hl, 8);
    CHECK(nn_st_open_memory(b.data, b.len, &st, why, sizeof why) == VB_ERR_FORMAT &&
          strstr(why, "limit"));
    hl = 0;
    memcpy(b.data, &hl, 8);
    CHECK(nn_st_open_memory(b.data, b.len, &st, why, sizeof why) == VB_ERR_FORMAT &&
          strstr(why, "not a JSON object"));
    hl = 2; /* "{}" exactly: an empty but valid file */
    memcpy(b.data, &hl, 8);
    CHECK_MSG(nn_st_open_memory(b.data, b.len, &st, why, sizeof why) == VB_OK, "%s", why);
    CHECK(st && nn_st_count(st) == 0 && !nn_st_find(st, "a") && !nn_st_metadata(st, "k"));
    nn_st_close(st);
    vb_buf_release(&b);
    CHECK(nn_st_open_memory(NULL, 0, &st, why, sizeof why) == VB_ERR_FORMAT &&
          strstr(why, "truncated"));
    CHECK(nn_st_open("/", &st, why, sizeof why) == VB_ERR_FORMAT && st == NULL);
}

TEST(dtype_table)
{
    CHECK_EQ_STR(nn_st_dtype_name(NN_ST_BF16), "BF16");
    CHECK_EQ_STR(nn_st_dtype_name((enum nn_st_dtype)99), "?");
    CHECK_EQ_INT(nn_st_dtype_size(NN_ST_F64), 8);
    CHECK_EQ_INT(nn_st_dtype_size(NN_ST_I16), 2);
    CHECK_EQ_INT(nn_st_dtype_size(NN_ST_BOOL), 1);
    CHECK_EQ_INT(nn_st_dtype_size((enum nn_st_dtype) - 1), 0);
}

int main(void)
{
    RUN(round_trip_file);
    RUN(memory_and_truncations);
    RUN(malformed_headers);
    RUN(dtype_table);
    return test_summary();
}
