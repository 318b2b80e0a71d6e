/* fuzz_text_tokenizer.c: libFuzzer target for the Chatterbox text tokenizer files and
 * encoder: the input is vocab.json, merges.txt, added_tokens.json and a text to tokenise,
 * separated by NUL bytes; whatever loads must tokenise, round-trip and normalise safely. */
#include "core/vb.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "tts/chatterbox/text_tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *part[4] = {"", "", NULL, ""};
    size_t len[4] = {0, 0, 0, 0};
    const char *p = (const char *)data;
    size_t left = size;
    for (int i = 0; i < 4; i++) {
        const char *z = i < 3 ? memchr(p, '\0', left) : NULL;
        size_t l = z ? (size_t)(z - p) : left;
        part[i] = p;
        len[i] = l;
        if (!z) {
            left = 0;
            for (int k = i + 1; k < 4; k++)
                part[k] = k == 2 ? NULL : "", len[k] = 0;
            break;
        }
        p = z + 1;
        left -= l + 1;
    }
    /* the text part doubles as punc_norm input */
    char *norm = cb_punc_norm(part[3], len[3]);
    vb_free(norm);

    struct cb_text_tokenizer *tk = NULL;
    char why[256];
    if (cb_text_tokenizer_load_memory(part[0], len[0], part[1], len[1], part[2], len[2], &tk, why,
                                      sizeof why) != VB_OK)
        return 0;
    int32_t *ids = NULL;
    size_t n = 0;
    bool tr = false;
    if (cb_text_tokenize(tk, part[3], len[3], 64, &ids, &n, &tr) == VB_OK) {
        struct vb_buf b;
        vb_buf_init(&b, 1 << 20);
        /* tokens partition the text, so without truncation the bytes come back exactly */
        if (cb_text_detokenize(tk, ids, n, &b) != VB_OK ||
            (!tr && (b.len != len[3] || (len[3] && memcmp(b.data, part[3], len[3]) != 0))))
            abort();
        vb_buf_release(&b);
        vb_free(ids);
    }
    cb_text_tokenizer_free(tk);
    return 0;
}
