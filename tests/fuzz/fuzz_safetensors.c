/* fuzz_safetensors.c: libFuzzer target for the safetensors reader: open from memory, then
 * touch every tensor's first/last byte, look each up by name and convert small ones. */
#include "core/vb.h"
#include "nn/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nn_safetensors *st = NULL;
    char why[256];
    if (nn_st_open_memory(data, size, &st, why, sizeof why) != VB_OK)
        return 0;
    volatile uint64_t sink = 0;
    float f[64];
    int64_t iv[64];
    for (size_t i = 0; i < nn_st_count(st); i++) {
        const struct nn_st_tensor *t = nn_st_at(st, i);
        if (t->nbytes)
            sink += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->nbytes - 1];
        sink += nn_st_find(st, t->name) == t;
        int64_t n = nn_st_numel(t);
        if (n <= 64) {
            if (nn_st_to_f32(t, f, (size_t)n) == VB_OK && n > 0)
                sink += (uint64_t)(f[n - 1] != 0);
            if (nn_st_to_i64(t, iv, (size_t)n) == VB_OK && n > 0)
                sink += (uint64_t)iv[0];
        }
        (void)nn_st_expect(t, NN_ST_F32, t->n_dims, t->shape, why, sizeof why);
    }
    (void)nn_st_metadata(st, "format");
    (void)sink;
    nn_st_close(st);
    return 0;
}
