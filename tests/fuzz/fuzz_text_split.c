/* fuzz_text_split.c: libFuzzer target for the sentence splitter and the tag stripper. The
 * first input byte picks max_bytes and min_bytes; every chunk must be non-empty, within
 * max_bytes, trimmed, and (for valid UTF-8 input) valid UTF-8; the non-space bytes of the
 * chunks must be exactly the non-space bytes of the input. */
#include "core/vb.h"
#include "core/alloc.h"
#include "tts/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* true for the ASCII bytes the splitter may drop (white space and control characters) */
static bool droppable(unsigned char c)
{
    return c <= 0x20 || c == 0x7f;
}

/* Compares a and b ignoring every droppable byte and every multi-byte white-space
 * character the splitter may also drop: we only compare ASCII non-space bytes in order. */
static bool same_ascii_content(const char *a, size_t an, const char *b, size_t bn)
{
    size_t i = 0, k = 0;
    for (;;) {
        while (i < an && (droppable((unsigned char)a[i]) || (unsigned char)a[i] >= 0x80))
            i++;
        while (k < bn && (droppable((unsigned char)b[k]) || (unsigned char)b[k] >= 0x80))
            k++;
        if (i == an || k == bn)
            return i == an && k == bn;
        if (a[i++] != b[k++])
            return false;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    struct tts_split_params p = {.max_bytes = 4 + data[0] % 64, .min_bytes = data[0] / 64 * 10};
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    bool utf8 = tts_text_valid_utf8(text, len);
    struct tts_chunks c;
    enum vb_err err = tts_text_split(text, len, &p, &c);
    if (p.max_bytes < TTS_CHUNK_MAX_BYTES_LO) {
        if (err != VB_ERR_INVALID || c.n)
            abort();
        return 0;
    }
    if (err)
        abort();
    size_t total = 0;
    for (size_t i = 0; i < c.n; i++) {
        const struct tts_chunk *k = &c.items[i];
        if (k->len == 0 || k->len > p.max_bytes || strlen(k->text) != k->len)
            abort();
        if (k->text[0] == ' ' || k->text[k->len - 1] == ' ')
            abort();
        if (utf8 && !tts_text_valid_utf8(k->text, k->len))
            abort();
        total += k->len + 1;
    }
    char *joined = vb_xmalloc(total + 1);
    size_t n = 0;
    for (size_t i = 0; i < c.n; i++) {
        memcpy(joined + n, c.items[i].text, c.items[i].len);
        n += c.items[i].len;
        joined[n++] = ' ';
    }
    if (!same_ascii_content(text, len, joined, n))
        abort();
    vb_free(joined);
    tts_chunks_release(&c);

    char *plain = NULL;
    size_t plain_len = 0;
    if (tts_text_strip_tags(text, len, &plain, &plain_len) != VB_OK || plain_len > len ||
        tts_text_has_tags(plain, plain_len))
        abort();
    (void)tts_text_speakable(text, len);
    (void)tts_text_count_chars(text, len);
    vb_free(plain);
    return 0;
}
