/* text_tokenizer.h: the Chatterbox-Turbo text front end: `punc_norm` (spec §2.1) and the GPT-2
 * byte-level BPE tokenizer built from the checkpoint's vocab.json + merges.txt, with the
 * paralinguistic tags of added_tokens.json ([laugh], [sigh], ...) matched before BPE (§2.3).
 *
 *   struct cb_text_tokenizer *tk; char why[256];
 *   if (cb_text_tokenizer_load(dir, &tk, why, sizeof why)) -> error naming the file/problem
 *   char *norm = cb_punc_norm(text, len);                      // caller frees with vb_free
 *   int32_t *ids = NULL; size_t n = 0;
 *   cb_text_tokenize(tk, norm, strlen(norm), CB_TEXT_MAX_TOKENS, &ids, &n, NULL);
 */
#ifndef TTS_CHATTERBOX_TEXT_TOKENIZER_H
#define TTS_CHATTERBOX_TEXT_TOKENIZER_H

#include "core/vb.h"
#include "core/buf.h"
#include "core/err.h"

#define CB_TEXT_MAX_TOKENS 1024  /* model_max_length: the reference truncates to this */
#define CB_TEXT_VOCAB_SIZE 50276 /* 50257 GPT-2 ids + 19 tags = T3 text vocabulary */
#define CB_TEXT_FILE_MAX   ((size_t)64 << 20) /* largest tokenizer file accepted, bytes */

struct cb_text_tokenizer;

/* Loads dir/vocab.json, dir/merges.txt and dir/added_tokens.json. Errors name the file and
 * the problem. Caller frees with cb_text_tokenizer_free. */
VB_WUR enum vb_err cb_text_tokenizer_load(const char *dir, struct cb_text_tokenizer **out,
                                          char *why, size_t why_cap);
/* Same from explicit paths; added_path may be NULL (no tags). */
VB_WUR enum vb_err cb_text_tokenizer_load_files(const char *vocab_path, const char *merges_path,
                                                const char *added_path,
                                                struct cb_text_tokenizer **out, char *why,
                                                size_t why_cap);
/* Same from bytes in memory (fuzzing, tests); added_json may be NULL. Nothing is borrowed. */
VB_WUR enum vb_err cb_text_tokenizer_load_memory(const char *vocab_json, size_t vocab_len,
                                                 const char *merges, size_t merges_len,
                                                 const char *added_json, size_t added_len,
                                                 struct cb_text_tokenizer **out, char *why,
                                                 size_t why_cap);
void cb_text_tokenizer_free(struct cb_text_tokenizer *tk);

/* Writes a minimal tokenizer in the checkpoint's file layout into dir (for random-weight
 * checkpoint sets): vocab.json with GPT-2's 256 byte symbols at GPT-2's ids 0..255 plus
 * <|endoftext|> (50256), a merges.txt without merges, and added_tokens.json with the 19 tags
 * at their real ids (spec §2.2). Text then tokenises byte by byte into ids GPT-2 also uses.
 * Existing files are replaced. */
VB_WUR enum vb_err cb_text_tokenizer_write_minimal(const char *dir, char *why, size_t why_cap);

/* Number of ids (largest id + 1): 50276 for the real files. */
int32_t cb_text_tokenizer_n_vocab(const struct cb_text_tokenizer *tk);
/* Id of an exact vocabulary or tag string, or -1. */
int32_t cb_text_token_id(const struct cb_text_tokenizer *tk, const char *s, size_t len);
/* Text of id (byte-level alphabet, e.g. "Ġthe"; tags as written), or NULL. Borrowed. */
const char *cb_text_token_str(const struct cb_text_tokenizer *tk, int32_t id);

/* Tokenises len bytes of UTF-8 (invalid bytes are kept as their own bytes): tags first
 * (leftmost, longest), then the GPT-2 pre-tokenizer regex and BPE on the rest. No BOS/EOS.
 * At most max_ids ids are kept (the reference truncates at CB_TEXT_MAX_TOKENS; 0 = no limit);
 * *truncated (may be NULL) says whether any were dropped. *ids is a new array (caller frees
 * with vb_free), *n its length. VB_ERR_NOMEM on OOM. */
VB_WUR enum vb_err cb_text_tokenize(const struct cb_text_tokenizer *tk, const char *text,
                                    size_t len, size_t max_ids, int32_t **ids, size_t *n,
                                    bool *truncated);
/* The whole turbo text front end of tts_turbo.generate: punc_norm, then tokenisation truncated
 * to CB_TEXT_MAX_TOKENS like the reference. *ids: new array (caller frees with vb_free).
 * VB_ERR_NOMEM on OOM. */
VB_WUR enum vb_err cb_text_encode(const struct cb_text_tokenizer *tk, const char *text, size_t len,
                                  int32_t **ids, size_t *n, bool *truncated);

/* Appends the UTF-8 text of ids to out (the inverse of tokenisation). */
VB_WUR enum vb_err cb_text_detokenize(const struct cb_text_tokenizer *tk, const int32_t *ids,
                                      size_t n, struct vb_buf *out);

/* punc_norm of tts_turbo.py: empty -> default sentence; upper-case a lowercase first
 * character; collapse whitespace runs to one space (trimming both ends); the fixed
 * replacements (… : — – " ," “ ” ‘ ’); strip trailing spaces; append "." unless the text
 * ends with . ! ? - or ,. Returns a new string (caller frees with vb_free), NULL on OOM. */
char *cb_punc_norm(const char *text, size_t len);

#endif
