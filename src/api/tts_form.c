/* tts_form.c: JSON-or-multipart field readers and shared checks for the speech routes. */
#include "core/vb.h"
#include "core/fsutil.h"
#include "api/tts_form.h"
#include "api/media.h"
#include "api/request.h"
#include "core/alloc.h"
#include "db/store.h"
#include "http/router.h"
#include "tts/engine.h"
#include "tts/text.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define PROMPT_MIN_S     3.0
#define PROMPT_MAX_S     60.0
#define PROMPT_MAX_BYTES ((size_t)64 << 20)

enum vb_err tts_form_parse(struct http_request *req, bool allow_multipart, struct tts_form *f)
{
    memset(f, 0, sizeof *f);
    if (allow_multipart && api_content_type_is(req, "multipart/form-data"))
        return api_multipart_body(req, &f->mp);
    return api_json_body(req, &f->json);
}

enum vb_err tts_form_parse_any(struct http_request *req, struct tts_form *f)
{
    memset(f, 0, sizeof *f);
    f->query = req;
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    if (len == 0)
        return VB_OK;
    if (api_content_type_is(req, "multipart/form-data"))
        return api_multipart_body(req, &f->mp);
    if (api_content_type_is(req, "application/json"))
        return api_json_body(req, &f->json);
    if (!api_content_type_is(req, "application/x-www-form-urlencoded")) {
        http_req_set_error(req, NULL,
                           "Content-Type must be application/json, "
                           "application/x-www-form-urlencoded or multipart/form-data");
        return VB_ERR_MEDIA_TYPE;
    }
    f->urlencoded = vb_xcalloc(1, sizeof *f->urlencoded);
    enum vb_err err = http_query_parse(body, len, f->urlencoded);
    if (err == VB_ERR_INVALID)
        http_req_set_error(req, NULL,
                           "malformed form body: a bad %%-escape, a NUL or more than %d fields",
                           HTTP_QUERY_MAX_ARGS);
    return err;
}

void tts_form_release(struct tts_form *f)
{
    vb_json_free(f->json);
    vb_free(f->mp);
    if (f->urlencoded)
        http_query_release(f->urlencoded);
    vb_free(f->urlencoded);
    memset(f, 0, sizeof *f);
}

static const struct vb_json *json_field(const struct tts_form *f, const char *name)
{
    const struct vb_json *v = f->json ? vb_json_get(f->json, name) : NULL;
    return v && v->type != VB_JSON_NULL ? v : NULL;
}

/* A text field of a urlencoded body or, when the form reads it, of the query string. */
static const char *form_value(const struct tts_form *f, const char *name)
{
    const char *v = f->urlencoded ? http_query_get(f->urlencoded, name) : NULL;
    return !v && f->query ? http_req_query(f->query, name) : v;
}

bool tts_form_has(const struct tts_form *f, const char *name)
{
    if (json_field(f, name) || http_multipart_get(f->mp, name))
        return true;
    return form_value(f, name) != NULL;
}

const struct http_part *tts_form_file(const struct tts_form *f, const char *name)
{
    const struct http_part *p = f->mp ? http_multipart_get(f->mp, name) : NULL;
    return p && p->has_filename ? p : NULL;
}

/* The raw text of a field: a JSON string, a multipart part that is not a file, or a
 * urlencoded (or query-string) value. 422 when the field has another type. *s NULL when
 * absent. */
static enum vb_err raw_text(struct http_request *req, const struct tts_form *f, const char *name,
                            const char *type_word, const char **s, size_t *n,
                            const struct vb_json **jv)
{
    *s = NULL, *n = 0;
    if (jv)
        *jv = NULL;
    const struct vb_json *v = json_field(f, name);
    const struct http_part *p = http_multipart_get(f->mp, name);
    if (v && v->type != VB_JSON_STRING) {
        if (jv) {
            *jv = v;
            return VB_OK;
        }
        http_req_set_error(req, name, "%s: must be %s", name, type_word);
        return VB_ERR_UNPROCESSABLE;
    }
    if (p && p->has_filename) {
        http_req_set_error(req, name, "%s: must be a form field, not a file", name);
        return VB_ERR_UNPROCESSABLE;
    }
    const char *fv = v || p ? NULL : form_value(f, name);
    if (v)
        *s = v->string, *n = v->string_len;
    else if (p)
        *s = p->data, *n = p->len;
    else if (fv)
        *s = fv, *n = strlen(fv);
    return VB_OK;
}

enum vb_err tts_form_string(struct http_request *req, const struct tts_form *f, const char *name,
                            size_t max_bytes, char **out)
{
    const char *s;
    size_t n;
    *out = NULL;
    enum vb_err err = raw_text(req, f, name, "a string", &s, &n, NULL);
    if (err || !s)
        return err;
    if (n == 0 || n > max_bytes || !api_text_is_clean(s, n)) {
        http_req_set_error(req, name,
                           "%s: must be 1 to %zu bytes of UTF-8 text without control characters",
                           name, max_bytes);
        return VB_ERR_UNPROCESSABLE;
    }
    *out = vb_xstrndup(s, n);
    return VB_OK;
}

enum vb_err tts_form_number(struct http_request *req, const struct tts_form *f, const char *name,
                            double lo, double hi, bool *present, double *out)
{
    const char *s;
    size_t n;
    const struct vb_json *jv;
    double v = 0;
    *present = false;
    enum vb_err err = raw_text(req, f, name, "a number", &s, &n, &jv);
    if (err)
        return err;
    if (jv) {
        if (jv->type != VB_JSON_NUMBER)
            goto bad;
        v = jv->number;
    } else if (s) {
        char buf[64], *end = NULL;
        if (n == 0 || n >= sizeof buf)
            goto bad;
        memcpy(buf, s, n);
        buf[n] = '\0';
        errno = 0;
        v = strtod(buf, &end);
        if (errno || *end || end == buf)
            goto bad;
    } else {
        return VB_OK;
    }
    if (!isfinite(v) || v < lo || v > hi)
        goto bad;
    *present = true;
    *out = v;
    return VB_OK;
bad:
    http_req_set_error(req, name, "%s: must be a number from %g to %g", name, lo, hi);
    return VB_ERR_UNPROCESSABLE;
}

enum vb_err tts_form_uint(struct http_request *req, const struct tts_form *f, const char *name,
                          bool *present, uint64_t *out)
{
    const char *s;
    size_t n;
    const struct vb_json *jv;
    uint64_t v = 0;
    const uint64_t max = (uint64_t)1 << 53;
    *present = false;
    enum vb_err err = raw_text(req, f, name, "an integer", &s, &n, &jv);
    if (err)
        return err;
    if (jv) {
        if (jv->type != VB_JSON_NUMBER || !jv->is_integer || jv->integer < 0)
            goto bad;
        v = (uint64_t)jv->integer;
    } else if (s) {
        if (n == 0 || n > 16)
            goto bad;
        for (size_t i = 0; i < n; i++) {
            if (s[i] < '0' || s[i] > '9')
                goto bad;
            v = v * 10 + (uint64_t)(s[i] - '0');
        }
    } else {
        return VB_OK;
    }
    if (v > max)
        goto bad;
    *present = true;
    *out = v;
    return VB_OK;
bad:
    http_req_set_error(req, name, "%s: must be an integer from 0 to 2^53", name);
    return VB_ERR_UNPROCESSABLE;
}

enum vb_err tts_form_bool(struct http_request *req, const struct tts_form *f, const char *name,
                          bool *out)
{
    const char *s;
    size_t n;
    const struct vb_json *jv;
    *out = false;
    enum vb_err err = raw_text(req, f, name, "a boolean", &s, &n, &jv);
    if (err)
        return err;
    if (jv) {
        if (jv->type != VB_JSON_BOOL)
            goto bad;
        *out = jv->boolean;
    } else if (s) {
        if ((n == 4 && strncasecmp(s, "true", 4) == 0) || (n == 1 && s[0] == '1'))
            *out = true;
        else if (!((n == 5 && strncasecmp(s, "false", 5) == 0) || (n == 1 && s[0] == '0')))
            goto bad;
    }
    return VB_OK;
bad:
    http_req_set_error(req, name, "%s: must be true or false", name);
    return VB_ERR_UNPROCESSABLE;
}

enum vb_err tts_form_voice(struct http_request *req, const struct tts_form *f, const char *name,
                           int64_t *db_id, char **builtin)
{
    const char *s;
    size_t n;
    const struct vb_json *jv;
    *db_id = 0, *builtin = NULL;
    enum vb_err err = raw_text(req, f, name, "a string or an integer", &s, &n, &jv);
    if (err)
        return err;
    if (jv) {
        if (jv->type != VB_JSON_NUMBER || !jv->is_integer || jv->integer <= 0) {
            http_req_set_error(req, name,
                               "%s: must be the id of one of your voices or a built-in voice name",
                               name);
            return VB_ERR_UNPROCESSABLE;
        }
        *db_id = jv->integer;
        return VB_OK;
    }
    if (!s)
        return VB_OK;
    bool digits = n > 0 && n <= 18;
    for (size_t i = 0; digits && i < n; i++)
        digits = s[i] >= '0' && s[i] <= '9';
    if (digits) {
        int64_t v = 0;
        for (size_t i = 0; i < n; i++)
            v = v * 10 + (s[i] - '0');
        if (v > 0) {
            *db_id = v;
            return VB_OK;
        }
    }
    return tts_form_string(req, f, name, 64, builtin);
}

enum vb_err tts_form_text(struct http_request *req, const struct tts_form *f, const char *field,
                          char **out, size_t *len)
{
    const char *s;
    size_t n;
    *out = NULL, *len = 0;
    enum vb_err err = raw_text(req, f, field, "a string", &s, &n, NULL);
    if (err)
        return err;
    if (!s) {
        http_req_set_error(req, field, "%s: is required", field);
        return VB_ERR_UNPROCESSABLE;
    }
    if (!tts_text_valid_utf8(s, n)) {
        http_req_set_error(req, field, "%s: must be valid UTF-8", field);
        return VB_ERR_UNPROCESSABLE;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\n' && c != '\r' && c != '\t') || c == 0x7f) {
            http_req_set_error(req, field,
                               "%s: must not contain control characters other than tabs and "
                               "line breaks",
                               field);
            return VB_ERR_UNPROCESSABLE;
        }
    }
    size_t chars = tts_text_count_chars(s, n);
    bool blank = true;
    for (size_t i = 0; blank && i < n; i++)
        blank = s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t';
    if (blank) {
        http_req_set_error(req, field, "%s: must not be empty", field);
        return VB_ERR_UNPROCESSABLE;
    }
    if (chars > TTS_TEXT_MAX_CHARS) {
        http_req_set_error(req, field, "%s: must be at most %d characters (got %zu)", field,
                           TTS_TEXT_MAX_CHARS, chars);
        return VB_ERR_UNPROCESSABLE;
    }
    if (!tts_text_speakable(s, n)) {
        http_req_set_error(req, field, "%s: has nothing to say (no letters or digits)", field);
        return VB_ERR_UNPROCESSABLE;
    }
    *out = vb_xstrndup(s, n);
    *len = n;
    return VB_OK;
}

enum vb_err tts_form_text_or(struct http_request *req, const struct tts_form *f, const char *field,
                             const char *dflt, char **out, size_t *len)
{
    const char *s;
    size_t n;
    enum vb_err err = raw_text(req, f, field, "a string", &s, &n, NULL);
    if (err)
        return err;
    if (s && n > 0)
        return tts_form_text(req, f, field, out, len);
    *out = vb_xstrdup(dflt);
    *len = strlen(dflt);
    return VB_OK;
}

enum vb_err tts_refuse_cloning(struct http_request *req, const char *field, const char *engine_name)
{
    http_req_set_error(
        req, field,
        "%s: voice cloning (voice_id of an uploaded voice, or audio_prompt) is "
        "not supported by the %s engine; the " TTS_ENGINE_CHATTERBOX
        " engine can clone: install it with `vocero models pull " TTS_ENGINE_CHATTERBOX
        "` and send engine \"" TTS_ENGINE_CHATTERBOX "\"",
        field, engine_name);
    return VB_ERR_UNPROCESSABLE;
}

static enum vb_err decode_prompt(const void *data, size_t len, struct audio_pcm *out,
                                 struct audio_diag *diag)
{
    struct audio_decode_params dp = audio_decode_default_params();
    dp.mono = true;
    enum vb_err err = audio_decode(data, len, &dp, out, NULL, diag);
    if (!err)
        err = audio_check_duration(out, PROMPT_MIN_S, PROMPT_MAX_S, diag);
    if (!err)
        err = audio_check_silence(out, AUDIO_SILENCE_DBFS, diag);
    if (err)
        audio_pcm_release(out);
    return err;
}

enum vb_err tts_prompt_decode(struct http_request *req, const char *field,
                              const struct http_part *part, struct audio_pcm *out)
{
    struct audio_diag diag = {0};
    memset(out, 0, sizeof *out);
    if (!part || part->len == 0) {
        http_req_set_error(req, field, "%s: an audio file is required", field);
        return VB_ERR_UNPROCESSABLE;
    }
    enum vb_err err = decode_prompt(part->data, part->len, out, &diag);
    if (err == VB_ERR_NOMEM)
        return err;
    if (err) {
        http_req_set_error(req, field, "%s: %s", field,
                           diag.message[0] ? diag.message : "is not a readable audio file");
        return VB_ERR_UNPROCESSABLE;
    }
    return VB_OK;
}

enum vb_err tts_voice_prompt(struct http_request *req, struct api_app *app, const char *field,
                             int64_t voice_id, struct audio_pcm *out)
{
    struct db_voice v = {0};
    char *data = NULL;
    size_t len = 0;
    char path[4096];
    memset(out, 0, sizeof *out);
    enum vb_err err = db_voice_get(app->store, http_req_user_id(req), voice_id, &v);
    if (err == VB_ERR_NOT_FOUND) {
        http_req_set_error(req, field,
                           "%s: you have no voice with id %lld (GET /voices lists yours)", field,
                           (long long)voice_id);
        return VB_ERR_UNPROCESSABLE;
    }
    if (err)
        return err;
    snprintf(path, sizeof path, "%s/%s", app->cfg->voices_dir, v.file_name);
    err = vb_file_read_all(path, PROMPT_MAX_BYTES, &data, &len);
    if (!err) {
        struct audio_diag diag = {0};
        err = decode_prompt(data, len, out, &diag);
        if (err && err != VB_ERR_NOMEM)
            err = VB_ERR_INTERNAL; /* it was checked at upload */
    }
    db_voice_release(&v);
    vb_free(data);
    return err;
}
