/* unicode.h: the few Unicode facts the server needs: letter / number / whitespace
 * classification of code points, lenient UTF-8 decoding as llama.cpp does it, UTF-8 encoding,
 * GPT-2's byte <-> code point alphabet, and strict UTF-8 checking and repair (JSON, and the
 * text a model generates, which PostgreSQL must accept). */
#ifndef VB_UNICODE_H
#define VB_UNICODE_H

#include "core/vb.h"
#include "core/buf.h"

#define LLM_UNICODE_REPLACEMENT 0xFFFDu

extern const uint32_t vb_unicode_letters[][2];
extern const size_t vb_unicode_letters_count;
extern const uint32_t vb_unicode_numbers[][2];
extern const size_t vb_unicode_numbers_count;

bool vb_unicode_is_letter(uint32_t cp);
bool vb_unicode_is_number(uint32_t cp);
/* \s of the pre-tokenizer: U+0009-000D, U+0020, U+0085, U+00A0, U+1680, U+2000-200A,
 * U+2028, U+2029, U+202F, U+205F, U+3000. */
bool vb_unicode_is_space(uint32_t cp);

/* Decodes s[0..len) into code points (out must hold len entries); returns the count. Bytes
 * that do not start a well-formed sequence (by length and continuation bytes only, like
 * llama.cpp: overlong forms and surrogates pass) become U+FFFD, one per byte. */
size_t vb_utf8_decode(const char *s, size_t len, uint32_t *out);
/* Writes cp as UTF-8 into out (4 bytes room); returns the byte count (1..4). */
int vb_utf8_encode(uint32_t cp, char *out);

/* Length (1..4) of the well-formed UTF-8 sequence at s, n > 0 bytes available; 0 if the bytes
 * there are not well-formed (overlong, surrogate, above U+10FFFF, truncated). */
size_t vb_utf8_valid_len(const unsigned char *s, size_t n);
/* Appends s[0..len) to out as well-formed UTF-8 text without NUL: each byte that does not
 * start a well-formed sequence, and each NUL, becomes U+FFFD (as JSON output shows it).
 * Unless `final`, an incomplete sequence at the end that more bytes could complete is left
 * out; *used says how many bytes of s were taken. */
VB_WUR enum vb_err vb_utf8_sanitize(const char *s, size_t len, bool final, struct vb_buf *out,
                                    size_t *used);

/* GPT-2 byte-level alphabet: byte -> code point, and code point -> byte (-1 if none). */
uint32_t vb_byte_to_cp(uint8_t b);
int vb_cp_to_byte(uint32_t cp);

#endif
