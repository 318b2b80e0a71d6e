/* fuzz_safetensors.c: libFuzzer target for the safetensors reader. */
#include "core/vb.h"
#include "nn/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nn_safetensors *f = NULL;
    char why[256];
    if (nn_st_open_memory(data, size, &f, why, sizeof why) != VB_OK)
        return 0;
    volatile uint64_t sink = 0;
    for (size_t i = 0; i < nn_st_count(f); i++) {
        const struct nn_st_tensor *t = nn_st_at(f, i);
        if (t->nbytes)
            sink += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->nbytes - 1];
        sink += nn_st_find(f, t->name) == t;
    }
    (void)nn_st_metadata(f, "format");
    for (size_t i = 0; i < nn_st_count(f); i++) {
        const struct nn_st_tensor *t = nn_st_at(f, i);
        int64_t n = nn_st_numel(t);
        if (n > 0 && n < 4096) {
            float fo[4096];
            int64_t io[4096];
            (void)!nn_st_to_f32(t, fo, (size_t)n);
            (void)!nn_st_to_i64(t, io, (size_t)n);
        }
    }
    (void)sink;
    nn_st_close(f);
    return 0;
}
