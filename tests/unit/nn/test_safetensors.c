/* test_safetensors.c: valid files (views, metadata, padding), every truncation, and a table
 * of malformed headers, each refused with a message. */
#include "core/vb.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "nn/fp16.h"
#include "nn/safetensors.h"
#include "unit/test.h"

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
    "\"i\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[32,40]},"
    "\"m\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[30,32]}}  ";

TEST(valid_file)
{
    uint8_t data[40];
    float w[6] = {1, 2, 3, 4, 5, 6};
    memcpy(data, w, 24);
    memset(data + 24, 0x3f, 16);
    struct vb_buf b;
    make(&b, good_json, data, sizeof data);
    struct nn_safetensors *f = NULL;
    char why[256] = "";
    CHECK_MSG(nn_st_open_memory(b.data, b.len, &f, why, sizeof why) == VB_OK, "%s", why);
    if (f) {
        CHECK_EQ_INT(nn_st_count(f), 4);
        const struct nn_st_tensor *t = nn_st_find(f, "w");
        CHECK(t && t->dtype == NN_ST_F32 && t->n_dims == 2 && t->shape[0] == 2 && t->shape[1] == 3);
        CHECK(t && memcmp(t->data, w, 24) == 0 && nn_st_numel(t) == 6);
        float o[6];
        CHECK(t && nn_st_to_f32(t, o, 6) == VB_OK && o[5] == 6.0f);
        CHECK(t && nn_st_to_f32(t, o, 5) == VB_ERR_INVALID);
        CHECK(t &&
              nn_st_expect(t, NN_ST_F32, 2, (const int64_t[]){2, 3}, why, sizeof why) == VB_OK);
        CHECK(t &&
              nn_st_expect(t, NN_ST_F32, 2, (const int64_t[]){3, 2}, why, sizeof why) ==
                  VB_ERR_FORMAT &&
              strstr(why, "expected F32 [3,2], got F32 [2,3]"));
        t = nn_st_find(f, "b");
        CHECK(t && t->dtype == NN_ST_BF16 && t->nbytes == 6);
        CHECK(t && nn_st_to_f32(t, o, 3) == VB_OK && o[0] == nn_bf16_to_fp32(0x3f3f));
        t = nn_st_find(f, "i");
        CHECK(t && t->n_dims == 0 && t->nbytes == 8 && nn_st_numel(t) == 1);
        int64_t iv;
        CHECK(t && nn_st_to_i64(t, &iv, 1) == VB_OK && iv == 0x3f3f3f3f3f3f3f3fll);
        t = nn_st_find(f, "m");
        CHECK(t && t->dtype == NN_ST_BOOL && nn_st_to_f32(t, o, 2) == VB_ERR_INVALID);
        CHECK(nn_st_at(f, 0) == nn_st_find(f, "w")); /* header order */
        CHECK(!nn_st_find(f, "__metadata__"));
        CHECK_EQ_STR(nn_st_metadata(f, "format"), "pt");
        CHECK(nn_st_metadata(f, "nope") == NULL);
    }
    nn_st_close(f);
    /* every truncation fails cleanly */
    for (size_t cut = 0; cut < b.len; cut++) {
        char *c = vb_xmalloc(cut + 1);
        memcpy(c, b.data, cut);
        why[0] = 0;
        CHECK(nn_st_open_memory(c, cut, &f, why, sizeof why) == VB_ERR_FORMAT && why[0]);
        vb_free(c);
    }
    vb_buf_release(&b);
}

static void refused(const char *json, size_t data_len, const char *want)
{
    static uint8_t zeros[256];
    struct vb_buf b;
    make(&b, json, zeros, data_len);
    struct nn_safetensors *f = NULL;
    char why[256] = "";
    enum vb_err err = nn_st_open_memory(b.data, b.len, &f, why, sizeof why);
    CHECK_MSG(err == VB_ERR_FORMAT && strstr(why, want), "%s: want '%s', got %d '%s'", json, want,
              (int)err, why);
    nn_st_close(f);
    vb_buf_release(&b);
}

TEST(malformed_headers)
{
    refused("[1,2]", 0, "not a JSON object");
    refused("{\"a\":", 0, "header JSON");
    refused("{\"a\":1}", 0, "not an object");
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "data_offsets");
    refused("{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype");
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "shape entry");
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, "shape entry");
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "needing 8");
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4,
            "bad data_offsets");
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 2,
            "beyond the end");
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
            "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}",
            8, "overlap");
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
            "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
            8, "duplicate");
    refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,4294967296],"
            "\"data_offsets\":[0,0]}}",
            0, "overflow");
    refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
            "dimensions");
    refused("{\"__metadata__\":{\"k\":1}}", 0, "not a string");
    /* header length larger than the file / over the limit */
    struct vb_buf b;
    vb_buf_init(&b, 64);
    uint64_t hl = 1000;
    CHECK(vb_buf_append(&b, &hl, 8) == VB_OK && vb_buf_append(&b, "{}", 2) == VB_OK);
    struct nn_safetensors *f = NULL;
    char why[256] = "";
    CHECK(nn_st_open_memory(b.data, b.len, &f, why, sizeof why) == VB_ERR_FORMAT &&
          strstr(why, "trunc"));
    hl = 1ull << 40;
    memcpy(b.data, &hl, 8);
    CHECK(nn_st_open_memory(b.data, b.len, &f, why, sizeof why) == VB_ERR_FORMAT &&
          strstr(why, "limit"));
    vb_buf_release(&b);
    CHECK(nn_st_open("/nonexistent.safetensors", &f, why, sizeof why) == VB_ERR_NOT_FOUND);
}

int main(void)
{
    RUN(valid_file);
    RUN(malformed_headers);
    return test_summary();
}
