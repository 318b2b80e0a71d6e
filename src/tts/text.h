/* text.h: text handling shared by every TTS engine: UTF-8 checks and character counts,
 * Unicode-safe splitting into sentence chunks of bounded length, and the expressive tags
 * ([laugh], [sigh], ...) that engines either understand or must never speak. Pure: no I/O. */
#ifndef VB_TTS_TEXT_H
#define VB_TTS_TEXT_H

#include "core/vb.h"
#include "core/err.h"

#define TTS_TEXT_MAX_CHARS     5000 /* characters (code points) one request may ask for */
#define TTS_CHUNK_MAX_BYTES    300  /* default hard limit of one chunk */
#define TTS_CHUNK_MIN_BYTES    40   /* default: shorter sentences are merged with the next */
#define TTS_CHUNK_MAX_BYTES_LO 8    /* smallest max_bytes accepted (a 4-byte sequence fits) */

/* How a chunk ends; decides the pause the pipeline puts after it. */
enum tts_break {
    TTS_BREAK_SENTENCE, /* sentence end or paragraph break (also the end of the text) */
    TTS_BREAK_CLAUSE,   /* a long sentence cut after clause punctuation (, ; : dash) */
    TTS_BREAK_WORD,     /* a long clause cut at a space */
    TTS_BREAK_HARD,     /* no space in sight: cut between two characters */
};

struct tts_chunk {
    char *text;         /* owned, NUL-terminated, whitespace collapsed, never empty */
    size_t len;         /* bytes, 1..max_bytes */
    enum tts_break brk; /* how this chunk ends */
};

struct tts_chunks {
    struct tts_chunk *items; /* owned array of n chunks, in text order */
    size_t n;
};

struct tts_split_params {
    size_t max_bytes; /* hard limit of one chunk; >= TTS_CHUNK_MAX_BYTES_LO; 0 = default */
    size_t min_bytes; /* a sentence shorter than this is merged with the next one when the
                         result fits in max_bytes; 0 = never merge */
};

struct tts_split_params tts_split_default_params(void);

/* Splits len bytes of text into chunks: first at sentence ends (. ! ? … 。 ！ ？ and
 * paragraph breaks, not after common abbreviations, initials or before a lower-case word),
 * then sentences longer than max_bytes at clause punctuation, then at spaces, then between
 * characters; a chunk never ends inside a UTF-8 sequence nor inside a known tag. Runs of
 * white space (and control characters) become one space; chunks are trimmed. Invalid
 * UTF-8 bytes are carried through as single characters. Text with nothing but white space
 * gives zero chunks. On success the caller releases *out with tts_chunks_release; on error
 * (VB_ERR_INVALID for bad params, VB_ERR_NOMEM) *out is empty. `p` NULL = defaults. */
VB_WUR enum vb_err tts_text_split(const char *text, size_t len, const struct tts_split_params *p,
                                  struct tts_chunks *out);
void tts_chunks_release(struct tts_chunks *c);

/* The expressive tags (Chatterbox-Turbo's added tokens, e.g. "[laugh]"); static storage. */
const char *const *tts_tag_list(size_t *n);
/* Length in bytes of the known tag starting at s (n bytes available), or 0. exact: match the
 * case exactly (as engines that understand tags need); else ignore ASCII case. */
size_t tts_tag_match(const char *s, size_t n, bool exact);
/* Copies text without the known tags (any case) so engines that do not support them never
 * speak them; spaces left around a removed tag are tidied ("Ha [laugh], ok" -> "Ha, ok").
 * Caller frees *out with vb_free; *out_len (may be NULL) gets its length. */
VB_WUR enum vb_err tts_text_strip_tags(const char *text, size_t len, char **out, size_t *out_len);
/* true when the text contains at least one known tag (any case). */
bool tts_text_has_tags(const char *text, size_t len);

/* Code points in s (n bytes of valid UTF-8; continuation bytes are not counted). */
size_t tts_text_count_chars(const char *s, size_t n);
/* true when s is valid UTF-8 (no overlongs, surrogates or code points above U+10FFFF). */
bool tts_text_valid_utf8(const char *s, size_t n);
/* true when the text has something speakable: a letter or digit outside of known tags
 * (any byte >= 0x80 counts as a letter). */
bool tts_text_speakable(const char *text, size_t len);

#endif
