/* unicode.c: code point classes (tables in unicode_data.c), lenient UTF-8 decoding and the
 * GPT-2 byte alphabet (specs/gguf-qwen2.md §4.3-§4.4). */
#include "core/vb.h"
#include "core/unicode.h"

static bool in_ranges(const uint32_t (*r)[2], size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < r[mid][0])
            hi = mid;
        else if (cp > r[mid][1])
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

bool vb_unicode_is_letter(uint32_t cp)
{
    if (cp < 128)
        return (cp | 32) >= 'a' && (cp | 32) <= 'z';
    return in_ranges(vb_unicode_letters, vb_unicode_letters_count, cp);
}

bool vb_unicode_is_number(uint32_t cp)
{
    if (cp < 128)
        return cp >= '0' && cp <= '9';
    return in_ranges(vb_unicode_numbers, vb_unicode_numbers_count, cp);
}

bool vb_unicode_is_space(uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

static bool cont(const uint8_t *s, size_t len, size_t i)
{
    return i < len && (s[i] & 0xC0) == 0x80;
}

size_t vb_utf8_decode(const char *str, size_t len, uint32_t *out)
{
    const uint8_t *s = (const uint8_t *)str;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        uint8_t b = s[i];
        if (!(b & 0x80)) {
            out[n++] = b;
            i += 1;
        } else if (!(b & 0x40)) {
            out[n++] = LLM_UNICODE_REPLACEMENT;
            i += 1;
        } else if (!(b & 0x20)) {
            if (cont(s, len, i + 1)) {
                out[n++] = (uint32_t)(b & 0x1F) << 6 | (s[i + 1] & 0x3F);
                i += 2;
            } else {
                out[n++] = LLM_UNICODE_REPLACEMENT;
                i += 1;
            }
        } else if (!(b & 0x10)) {
            if (cont(s, len, i + 1) && cont(s, len, i + 2)) {
                out[n++] = (uint32_t)(b & 0x0F) << 12 | (uint32_t)(s[i + 1] & 0x3F) << 6 |
                           (s[i + 2] & 0x3F);
                i += 3;
            } else {
                out[n++] = LLM_UNICODE_REPLACEMENT;
                i += 1;
            }
        } else if (!(b & 0x08)) {
            if (cont(s, len, i + 1) && cont(s, len, i + 2) && cont(s, len, i + 3)) {
                out[n++] = (uint32_t)(b & 0x07) << 18 | (uint32_t)(s[i + 1] & 0x3F) << 12 |
                           (uint32_t)(s[i + 2] & 0x3F) << 6 | (s[i + 3] & 0x3F);
                i += 4;
            } else {
                out[n++] = LLM_UNICODE_REPLACEMENT;
                i += 1;
            }
        } else {
            out[n++] = LLM_UNICODE_REPLACEMENT;
            i += 1;
        }
    }
    return n;
}

int vb_utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | ((cp >> 18) & 0x07));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static bool printable_byte(unsigned b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t vb_byte_to_cp(uint8_t b)
{
    if (printable_byte(b))
        return b;
    /* the 68 other bytes map, in increasing order, to 256, 257, ... */
    uint32_t k = 0;
    for (unsigned x = 0; x < b; x++)
        k += !printable_byte(x);
    return 256 + k;
}

int vb_cp_to_byte(uint32_t cp)
{
    if (cp < 256)
        return printable_byte(cp) ? (int)cp : -1;
    if (cp >= 256 + 68)
        return -1;
    uint32_t k = cp - 256;
    for (unsigned x = 0; x < 256; x++)
        if (!printable_byte(x) && k-- == 0)
            return (int)x;
    return -1;
}

size_t vb_utf8_valid_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    if (c < 0xC2)
        return 0;
    if (c < 0xE0)
        return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        if (c == 0xE0 && s[1] < 0xA0)
            return 0; /* overlong */
        if (c == 0xED && s[1] >= 0xA0)
            return 0; /* UTF-16 surrogate */
        return 3;
    }
    if (c < 0xF5) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && s[1] < 0x90)
            return 0; /* overlong */
        if (c == 0xF4 && s[1] >= 0x90)
            return 0; /* above U+10FFFF */
        return 4;
    }
    return 0;
}

/* Whether the n (< 4) bytes at s begin a well-formed sequence longer than n: padded with the
 * lowest or the highest continuation byte, one of the two is well-formed. */
static bool utf8_incomplete(const unsigned char *s, size_t n)
{
    unsigned char t[4];
    if (n == 0 || n >= sizeof t)
        return false;
    for (unsigned pad = 0x80; pad <= 0xBF; pad += 0x3F) {
        memcpy(t, s, n);
        memset(t + n, (int)pad, sizeof t - n);
        if (vb_utf8_valid_len(t, sizeof t) > n)
            return true;
    }
    return false;
}

enum vb_err vb_utf8_sanitize(const char *s, size_t len, bool final, struct vb_buf *out,
                             size_t *used)
{
    const unsigned char *u = (const unsigned char *)s;
    enum vb_err err = VB_OK;
    size_t i = 0;
    while (!err && i < len) {
        size_t k = u[i] ? vb_utf8_valid_len(u + i, len - i) : 0;
        if (k) {
            err = vb_buf_append(out, u + i, k);
            i += k;
        } else if (!final && utf8_incomplete(u + i, len - i)) {
            break;
        } else {
            err = vb_buf_append(out, "\xEF\xBF\xBD", 3); /* U+FFFD */
            i++;
        }
    }
    *used = i;
    return err;
}
