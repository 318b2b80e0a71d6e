/* fuzz_torch_zip.c: libFuzzer target for the PyTorch zip-pickle reader (conds.pt): open from
 * memory, then walk the root dict the way the Chatterbox loader does and touch tensor bytes. */
#include "core/vb.h"
#include "nn/torch_zip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t touch(const struct nn_pk *k)
{
    if (!k)
        return 0;
    uint64_t s = (uint64_t)k->type;
    if (k->type == NN_PK_TENSOR && k->nbytes)
        s += ((const uint8_t *)k->data)[0] + ((const uint8_t *)k->data)[k->nbytes - 1] +
             (uint64_t)nn_pk_numel(k);
    if (k->type == NN_PK_STR && k->len)
        s += (uint8_t)k->s[k->len - 1];
    for (size_t i = 0; i < k->n && i < 64; i++)
        s += (uint64_t)k->items[i]->type;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nn_tz *tz = NULL;
    char why[256];
    if (nn_tz_open_memory(data, size, &tz, why, sizeof why) != VB_OK)
        return 0;
    const struct nn_pk *r = nn_tz_root(tz);
    static const char *keys[] = {"speaker_emb", "cond_prompt_speech_tokens", "prompt_token",
                                 "prompt_feat", "embedding"};
    volatile uint64_t sink = touch(r);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        sink += touch(nn_pk_get(nn_pk_get(r, "t3"), keys[i]));
        sink += touch(nn_pk_get(nn_pk_get(r, "gen"), keys[i]));
    }
    (void)sink;
    nn_tz_close(tz);
    return 0;
}
