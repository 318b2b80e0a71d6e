/* types.c: the element type table (ggml ids, block sizes, vec-dot activation types). */
#include "core/vb.h"
#include "nn/types.h"

static const struct nn_type_info type_table[NN_TYPE_COUNT] = {
    [NN_TYPE_F32] = {"f32", 1, 4, true, NN_TYPE_F32},
    [NN_TYPE_F16] = {"f16", 1, 2, true, NN_TYPE_F16},
    [NN_TYPE_BF16] = {"bf16", 1, 2, true, NN_TYPE_BF16},
    [NN_TYPE_Q4_0] = {"q4_0", NN_QK, 18, true, NN_TYPE_Q8_0},
    [NN_TYPE_Q4_1] = {"q4_1", NN_QK, 20, true, NN_TYPE_Q8_1},
    [NN_TYPE_Q5_0] = {"q5_0", NN_QK, 22, true, NN_TYPE_Q8_0},
    [NN_TYPE_Q5_1] = {"q5_1", NN_QK, 24, true, NN_TYPE_Q8_1},
    [NN_TYPE_Q8_0] = {"q8_0", NN_QK, 34, true, NN_TYPE_Q8_0},
    [NN_TYPE_Q8_1] = {"q8_1", NN_QK, 36, false, NN_TYPE_Q8_1},
    [NN_TYPE_Q2_K] = {"q2_k", NN_QK_K, 84, false, NN_TYPE_Q8_K},
    [NN_TYPE_Q3_K] = {"q3_k", NN_QK_K, 110, false, NN_TYPE_Q8_K},
    [NN_TYPE_Q4_K] = {"q4_k", NN_QK_K, 144, true, NN_TYPE_Q8_K},
    [NN_TYPE_Q5_K] = {"q5_k", NN_QK_K, 176, true, NN_TYPE_Q8_K},
    [NN_TYPE_Q6_K] = {"q6_k", NN_QK_K, 210, true, NN_TYPE_Q8_K},
    [NN_TYPE_Q8_K] = {"q8_k", NN_QK_K, 292, false, NN_TYPE_Q8_K},
    [NN_TYPE_I8] = {"i8", 1, 1, false, NN_TYPE_I8},
    [NN_TYPE_I16] = {"i16", 1, 2, false, NN_TYPE_I16},
    [NN_TYPE_I32] = {"i32", 1, 4, false, NN_TYPE_I32},
    [NN_TYPE_I64] = {"i64", 1, 8, false, NN_TYPE_I64},
    [NN_TYPE_F64] = {"f64", 1, 8, false, NN_TYPE_F64},
};

const struct nn_type_info *nn_type_info(int t)
{
    if (t < 0 || t >= NN_TYPE_COUNT || !type_table[t].name)
        return NULL;
    return &type_table[t];
}

const char *nn_type_name(int t)
{
    const struct nn_type_info *ti = nn_type_info(t);
    return ti ? ti->name : "?";
}

size_t nn_row_bytes(int t, int64_t n)
{
    const struct nn_type_info *ti = nn_type_info(t);
    if (!ti || n < 0 || n % ti->block != 0)
        return 0;
    uint64_t blocks = (uint64_t)n / (uint64_t)ti->block;
    if (blocks > SIZE_MAX / ti->block_bytes)
        return 0;
    return (size_t)(blocks * ti->block_bytes);
}
