/* tts_form.h: reading the fields of a speech request the same way whether it came as a JSON
 * object or as multipart/form-data, with 422 errors that name the field; plus the checks
 * every speech route shares (text, uploaded voices as cloning prompts). */
#ifndef VB_API_TTS_FORM_H
#define VB_API_TTS_FORM_H

#include "core/vb.h"
#include "api/app.h"
#include "audio/decode.h"
#include "core/json.h"
#include "http/http.h"
#include "http/multipart.h"

struct http_query;

struct tts_form {
    struct vb_json *json;          /* owned; NULL unless the body was JSON */
    struct http_multipart *mp;     /* owned; NULL unless the body was multipart */
    struct http_query *urlencoded; /* owned; NULL unless the body was a urlencoded form */
    struct http_request *query;    /* borrowed: read fields the body lacks from its query
                                      string (tts_form_parse_any); NULL otherwise */
};

/* Parses the body as JSON, or multipart/form-data when the Content-Type says so (415/400
 * otherwise, described on req). Release with tts_form_release. */
VB_WUR enum vb_err tts_form_parse(struct http_request *req, bool allow_multipart,
                                  struct tts_form *f);
/* For quick requests that a browser form or a bare curl may send: the body as JSON,
 * multipart/form-data or application/x-www-form-urlencoded, or no body at all (no fields);
 * a field the body lacks is read from the query string. 415 for another Content-Type, 400
 * for a malformed body. Release with tts_form_release, also after an error. */
VB_WUR enum vb_err tts_form_parse_any(struct http_request *req, struct tts_form *f);
void tts_form_release(struct tts_form *f);
/* true when the field is present (and not JSON null). */
bool tts_form_has(const struct tts_form *f, const char *name);
/* A multipart file part named `name`, or NULL (JSON has none). */
const struct http_part *tts_form_file(const struct tts_form *f, const char *name);

/* A text field: *out NULL when absent; else a copy (caller frees with vb_free) of at most
 * max_bytes bytes of valid UTF-8 without control characters. 422 otherwise. */
VB_WUR enum vb_err tts_form_string(struct http_request *req, const struct tts_form *f,
                                   const char *name, size_t max_bytes, char **out);
/* A number field within [lo, hi]: *present false when absent. JSON numbers, or decimal text
 * in multipart. 422 otherwise. */
VB_WUR enum vb_err tts_form_number(struct http_request *req, const struct tts_form *f,
                                   const char *name, double lo, double hi, bool *present,
                                   double *out);
/* A non-negative integer field (at most 2^53): *present false when absent. */
VB_WUR enum vb_err tts_form_uint(struct http_request *req, const struct tts_form *f,
                                 const char *name, bool *present, uint64_t *out);
/* A boolean (JSON true/false; multipart "true"/"false"/"1"/"0"); absent = false. */
VB_WUR enum vb_err tts_form_bool(struct http_request *req, const struct tts_form *f,
                                 const char *name, bool *out);
/* A voice reference: an integer (or a string of digits) is the id of one of the user's
 * uploaded voices (*db_id > 0), any other string a built-in voice name (*name, caller
 * frees). Both zero/NULL when absent. */
VB_WUR enum vb_err tts_form_voice(struct http_request *req, const struct tts_form *f,
                                  const char *name, int64_t *db_id, char **builtin);

/* The speech text (field `field`): required, valid UTF-8, tabs and newlines allowed but no
 * other control characters, 1..TTS_TEXT_MAX_CHARS characters, something speakable. *out is
 * a copy (caller frees), *len its bytes. */
VB_WUR enum vb_err tts_form_text(struct http_request *req, const struct tts_form *f,
                                 const char *field, char **out, size_t *len);
/* The same, but an absent or empty field gives a copy of dflt. */
VB_WUR enum vb_err tts_form_text_or(struct http_request *req, const struct tts_form *f,
                                    const char *field, const char *dflt, char **out, size_t *len);

/* Loads the user's uploaded voice `voice_id` as a mono reference clip. 422 naming `field`
 * when the user has no such voice; 500 when its file is unreadable. */
VB_WUR enum vb_err tts_voice_prompt(struct http_request *req, struct api_app *app,
                                    const char *field, int64_t voice_id, struct audio_pcm *out);
/* Decodes an uploaded prompt file (multipart part) as a mono reference clip of 3..60 s.
 * 422 naming `field` when it is not usable audio. */
VB_WUR enum vb_err tts_prompt_decode(struct http_request *req, const char *field,
                                     const struct http_part *part, struct audio_pcm *out);

/* The 422 for a cloning request on an engine that cannot clone (names the engine that can
 * and how to install it). Returns VB_ERR_UNPROCESSABLE. */
enum vb_err tts_refuse_cloning(struct http_request *req, const char *field,
                               const char *engine_name);

#endif
