/* espeak.c: the espeak-ng engine on Debian's libespeak-ng. The library keeps global state
 * and is not thread-safe, so every call into it holds one process-wide mutex; the per-call
 * state travels through espeak_Synth's user_data. Voices are "<language>[+<variant>]". */
#include "core/vb.h"
#include "tts/espeak.h"
#include "core/alloc.h"
#include "core/log.h"

#include <espeak-ng/espeak_ng.h>
#include <espeak-ng/speak_lib.h>
#include <math.h>
#include <strings.h>

#define ESPEAK_DEFAULT_VOICE "en-us"
#define ESPEAK_WPM_NORMAL    175 /* espeakRATE_NORMAL: speed 1.0 */
#define ESPEAK_VOICE_MAX     96  /* bytes of a "<language>+<variant>" name */

struct espeak_state {
    int sample_rate;         /* Hz, from the library (22050) */
    char **languages;        /* owned: unique language codes, lower case, sorted */
    const char **lang_voice; /* parallel to languages: identifier of the voice that speaks
                                it best (e.g. "gmw/en"), borrowed from strings */
    int *lang_prio;          /* parallel: that voice's priority for it (lower is better) */
    size_t n_languages;
    struct tts_voice_desc *voices; /* owned: one per voice, then one per variant */
    size_t n_voices;
    char **strings; /* owned: every string the descs point to */
    size_t n_strings, cap_strings;
};

/* Per synthesis call: where the callback puts the samples. */
struct synth_call {
    struct audio_pcm *out;
    size_t cap; /* frames allocated in out */
    size_t max_frames;
    const struct tts_callbacks *cb;
    enum vb_err err;
};

/* libespeak-ng is one global object: this lock serialises every call into it. It is
 * initialised once per process and never terminated: espeak-ng 1.51 hangs in the first
 * synthesis after espeak_ng_Terminate + espeak_ng_Initialize. */
static pthread_mutex_t espeak_lock = PTHREAD_MUTEX_INITIALIZER;
static bool espeak_started; /* guarded by espeak_lock */

static int synth_callback(short *wav, int n, espeak_EVENT *events)
{
    struct synth_call *call = events ? events->user_data : NULL;
    if (!call)
        return 1;
    if (call->cb && call->cb->cancelled && call->cb->cancelled(call->cb->user)) {
        call->err = VB_ERR_CANCELLED;
        return 1;
    }
    if (!wav || n <= 0)
        return 0;
    struct audio_pcm *o = call->out;
    size_t need = o->frames + (size_t)n;
    if (need > call->max_frames) {
        call->err = VB_ERR_TOO_LARGE;
        return 1;
    }
    if (need > call->cap) {
        size_t cap = VB_MAX(call->cap * 2, need + 8192);
        float *s = vb_try_realloc(o->samples, cap * sizeof *s);
        if (!s) {
            call->err = VB_ERR_NOMEM;
            return 1;
        }
        o->samples = s;
        call->cap = cap;
    }
    for (int i = 0; i < n; i++)
        o->samples[o->frames + (size_t)i] = (float)wav[i] / 32768.0f;
    if (call->cb && call->cb->on_partial) {
        /* streaming: out is only the scratch of this piece */
        call->err = call->cb->on_partial(o->samples, (size_t)n, call->cb->user);
        return call->err ? 1 : 0;
    }
    o->frames = need;
    return 0;
}

static const char *keep(struct espeak_state *st, const char *s)
{
    if (st->n_strings == st->cap_strings) {
        st->cap_strings = st->cap_strings ? st->cap_strings * 2 : 256;
        st->strings = vb_xrealloc(st->strings, st->cap_strings * sizeof *st->strings);
    }
    char *copy = vb_xstrdup(s);
    st->strings[st->n_strings++] = copy;
    return copy;
}

static void free_state(struct espeak_state *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->n_strings; i++)
        vb_free(st->strings[i]);
    vb_free(st->strings);
    vb_free(st->languages);
    vb_free(st->lang_voice);
    vb_free(st->lang_prio);
    vb_free(st->voices);
    vb_free(st);
}

static void add_language(struct espeak_state *st, const char *code, int prio,
                         const char *identifier, size_t *cap)
{
    for (size_t i = 0; i < st->n_languages; i++) {
        if (strcasecmp(st->languages[i], code) == 0) {
            if (prio < st->lang_prio[i]) {
                st->lang_prio[i] = prio;
                st->lang_voice[i] = identifier;
            }
            return;
        }
    }
    if (st->n_languages == *cap) {
        *cap = *cap ? *cap * 2 : 128;
        st->languages = vb_xrealloc(st->languages, *cap * sizeof *st->languages);
        st->lang_voice = vb_xrealloc(st->lang_voice, *cap * sizeof *st->lang_voice);
        st->lang_prio = vb_xrealloc(st->lang_prio, *cap * sizeof *st->lang_prio);
    }
    char lower[64];
    snprintf(lower, sizeof lower, "%s", code);
    for (char *p = lower; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    st->lang_voice[st->n_languages] = identifier;
    st->lang_prio[st->n_languages] = prio;
    st->languages[st->n_languages++] = (char *)keep(st, lower);
}

static const char *gender_name(unsigned char g)
{
    return g == 1 ? "male" : g == 2 ? "female" : NULL;
}

/* Fills the language and voice lists from espeak_ListVoices (lock held). */
static void list_voices(struct espeak_state *st)
{
    size_t lang_cap = 0, n_v = 0, n_var = 0;
    const espeak_VOICE **v = espeak_ListVoices(NULL);
    espeak_VOICE spec;
    memset(&spec, 0, sizeof spec);
    spec.languages = "variant";
    while (v && v[n_v])
        n_v++;
    st->voices = vb_xcalloc(n_v + 256, sizeof *st->voices);
    for (size_t i = 0; i < n_v; i++) {
        /* languages: repeated (priority byte, NUL-terminated code), ended by a 0 byte */
        const char *l = v[i]->languages, *first = NULL;
        if (!v[i]->identifier)
            continue;
        const char *ident = keep(st, v[i]->identifier);
        while (l && *l) {
            int prio = (unsigned char)*l++;
            if (!first)
                first = l;
            add_language(st, l, prio, ident, &lang_cap);
            l += strlen(l) + 1;
        }
        if (!first)
            continue;
        char name[128];
        snprintf(name, sizeof name, "%s", v[i]->name ? v[i]->name : first);
        for (char *p = name; *p; p++)
            if (*p == '_')
                *p = ' ';
        struct tts_voice_desc *d = &st->voices[st->n_voices++];
        char lower[64];
        snprintf(lower, sizeof lower, "%s", first);
        for (char *p = lower; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        d->id = keep(st, lower);
        d->language = d->id;
        d->name = keep(st, name);
        d->gender = gender_name(v[i]->gender);
    }
    const espeak_VOICE **vars = espeak_ListVoices(&spec);
    for (size_t i = 0; vars && vars[i] && n_var < 256; i++, n_var++) {
        const char *id = vars[i]->identifier ? vars[i]->identifier : "";
        const char *slash = strrchr(id, '/');
        id = slash ? slash + 1 : id;
        if (!*id)
            continue;
        struct tts_voice_desc *d = &st->voices[st->n_voices++];
        d->id = keep(st, id);
        d->name = keep(st, vars[i]->name ? vars[i]->name : id);
        d->language = NULL;
        d->gender = gender_name(vars[i]->gender);
    }
    /* insertion sort of the three parallel arrays by code (about 150 entries, once) */
    for (size_t i = 1; i < st->n_languages; i++) {
        char *code = st->languages[i];
        const char *ident = st->lang_voice[i];
        int prio = st->lang_prio[i];
        size_t j = i;
        for (; j > 0 && strcmp(st->languages[j - 1], code) > 0; j--) {
            st->languages[j] = st->languages[j - 1];
            st->lang_voice[j] = st->lang_voice[j - 1];
            st->lang_prio[j] = st->lang_prio[j - 1];
        }
        st->languages[j] = code;
        st->lang_voice[j] = ident;
        st->lang_prio[j] = prio;
    }
}

static enum vb_err espeak_load(struct tts_engine *e, char *why, size_t why_cap)
{
    enum vb_err err = VB_OK;
    struct espeak_state *st = vb_xcalloc(1, sizeof *st);
    pthread_mutex_lock(&espeak_lock);
    espeak_ng_STATUS s = ENS_OK;
    if (!espeak_started) {
        espeak_ng_InitializePath(NULL);
        s = espeak_ng_Initialize(NULL);
        if (s == ENS_OK)
            s = espeak_ng_InitializeOutput(ENOUTPUT_MODE_SYNCHRONOUS, 0, NULL);
        espeak_started = s == ENS_OK;
    }
    if (s != ENS_OK) {
        char msg[160];
        espeak_ng_GetStatusCodeMessage(s, msg, sizeof msg);
        snprintf(why, why_cap, "espeak-ng cannot start: %s (is espeak-ng-data installed?)", msg);
        err = VB_ERR_UNAVAILABLE;
        goto out;
    }
    espeak_SetSynthCallback(synth_callback);
    st->sample_rate = espeak_ng_GetSampleRate();
    list_voices(st);
    if (st->sample_rate <= 0 || st->n_languages == 0) {
        snprintf(why, why_cap, "espeak-ng started without voices (sample rate %d)",
                 st->sample_rate);
        err = VB_ERR_UNAVAILABLE;
        goto out;
    }
    e->state = st;
    st = NULL;
    vb_info("tts: espeak-ng loaded: %zu languages, %d Hz",
            ((struct espeak_state *)e->state)->n_languages,
            ((struct espeak_state *)e->state)->sample_rate);
out:
    pthread_mutex_unlock(&espeak_lock);
    free_state(st);
    return err;
}

static void espeak_unload(struct tts_engine *e)
{
    /* the library stays initialised (see espeak_lock); only our lists go */
    free_state(e->state);
    e->state = NULL;
}

static int espeak_sample_rate(const struct tts_engine *e)
{
    const struct espeak_state *st = e->state;
    return st ? st->sample_rate : 0;
}

static size_t espeak_languages(struct tts_engine *e, const char *const **out)
{
    struct espeak_state *st = e->state;
    *out = (const char *const *)st->languages;
    return st->n_languages;
}

static size_t espeak_voices(struct tts_engine *e, const struct tts_voice_desc **out)
{
    struct espeak_state *st = e->state;
    *out = st->voices;
    return st->n_voices;
}

/* Index of the language code (n bytes of s, any case), or -1. */
static long find_language(const struct espeak_state *st, const char *s, size_t n)
{
    for (size_t i = 0; i < st->n_languages; i++)
        if (strlen(st->languages[i]) == n && strncasecmp(st->languages[i], s, n) == 0)
            return (long)i;
    return -1;
}

static const char *find_variant(const struct espeak_state *st, const char *s)
{
    for (size_t i = 0; i < st->n_voices; i++)
        if (!st->voices[i].language && strcasecmp(st->voices[i].id, s) == 0)
            return st->voices[i].id;
    return NULL;
}

/* Resolves language + voice into the name espeak_ng_SetVoiceByName takes. A voice is a
 * language, a variant, or "<language>+<variant>"; `language`, when given, overrides the
 * voice's language and keeps its variant. */
static enum vb_err resolve(const struct espeak_state *st, const struct tts_params *p,
                           char out[ESPEAK_VOICE_MAX], const char **field, char *why,
                           size_t why_cap)
{
    long lang = -1, vlang = -1;
    const char *variant = NULL;
    if (p->language) {
        lang = find_language(st, p->language, strlen(p->language));
        if (lang < 0) {
            *field = "language";
            snprintf(why, why_cap,
                     "language: '%.40s' is not a language of espeak-ng (e.g. en, en-us, de, "
                     "fr, es, see GET /engines)",
                     p->language);
            return VB_ERR_UNPROCESSABLE;
        }
    }
    if (p->voice && *p->voice) {
        const char *plus = strchr(p->voice, '+');
        if (plus) {
            if (plus > p->voice)
                vlang = find_language(st, p->voice, (size_t)(plus - p->voice));
            variant = find_variant(st, plus + 1);
            if ((plus > p->voice && vlang < 0) || !variant)
                goto unknown;
        } else if ((vlang = find_language(st, p->voice, strlen(p->voice))) < 0 &&
                   !(variant = find_variant(st, p->voice))) {
            goto unknown;
        }
        if (lang < 0)
            lang = vlang;
    }
    if (lang < 0)
        lang = find_language(st, ESPEAK_DEFAULT_VOICE, strlen(ESPEAK_DEFAULT_VOICE));
    if (lang < 0)
        lang = 0;
    /* espeak_ng_SetVoiceByName takes voice identifiers ("gmw/en-US"), not language codes */
    snprintf(out, ESPEAK_VOICE_MAX, "%s%s%s", st->lang_voice[lang], variant ? "+" : "",
             variant ? variant : "");
    return VB_OK;
unknown:
    *field = "voice_id";
    snprintf(why, why_cap,
             "voice_id: '%.40s' is not an espeak-ng voice: use a language (\"en-us\"), a "
             "variant (\"f3\") or both (\"en-us+f3\"); GET /engines lists them",
             p->voice);
    return VB_ERR_UNPROCESSABLE;
}

static enum vb_err espeak_check(struct tts_engine *e, const struct tts_params *p,
                                const char **field, char *why, size_t why_cap)
{
    char name[ESPEAK_VOICE_MAX];
    return resolve(e->state, p, name, field, why, why_cap);
}

static enum vb_err espeak_synthesize(struct tts_engine *e, const char *text, size_t len,
                                     const struct tts_params *p, struct audio_pcm *out,
                                     const struct tts_callbacks *cb)
{
    struct espeak_state *st = e->state;
    char name[ESPEAK_VOICE_MAX], why[200];
    const char *field = NULL;
    enum vb_err err = resolve(st, p, name, &field, why, sizeof why);
    if (err)
        return err;
    /* espeak reads up to the NUL: work on a terminated copy of exactly len bytes. */
    char *copy = vb_try_malloc(len + 1);
    if (!copy)
        return VB_ERR_NOMEM;
    memcpy(copy, text, len);
    copy[len] = '\0';
    double speed = p->speed > 0 && isfinite(p->speed) ? p->speed : 1.0;
    int wpm = (int)lround(ESPEAK_WPM_NORMAL * speed);
    wpm = VB_MAX(espeakRATE_MINIMUM, VB_MIN(espeakRATE_MAXIMUM, wpm));
    memset(out, 0, sizeof *out);
    out->channels = 1;
    out->sample_rate = st->sample_rate;
    struct synth_call call = {
        .out = out,
        .max_frames = (size_t)TTS_MAX_AUDIO_SECONDS * (size_t)st->sample_rate,
        .cb = cb,
    };
    pthread_mutex_lock(&espeak_lock);
    if (espeak_ng_SetVoiceByName(name) != ENS_OK) {
        vb_warn("tts: espeak-ng refused voice '%s'", name);
        err = VB_ERR_UNPROCESSABLE;
    } else {
        espeak_SetParameter(espeakRATE, wpm, 0);
        espeak_ERROR r =
            espeak_Synth(copy, len + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8, NULL, &call);
        if (call.err)
            err = call.err;
        else if (r != EE_OK)
            err = VB_ERR_INTERNAL;
    }
    pthread_mutex_unlock(&espeak_lock);
    vb_free(copy);
    if (err) {
        vb_free(out->samples);
        memset(out, 0, sizeof *out);
    }
    return err;
}

static const struct tts_engine_ops espeak_ops = {
    .name = TTS_ENGINE_ESPEAK,
    .quick_load = true,
    .description = "eSpeak NG formant synthesiser: fast, many languages, robotic timbre",
    .caps = TTS_CAP_STREAMING | TTS_CAP_SPEED | TTS_CAP_LANGUAGES,
    .chunk_max_bytes = TTS_CHUNK_MAX_BYTES,
    .load = espeak_load,
    .unload = espeak_unload,
    .sample_rate = espeak_sample_rate,
    .languages = espeak_languages,
    .voices = espeak_voices,
    .check = espeak_check,
    .synthesize = espeak_synthesize,
};

const struct tts_engine_ops *tts_espeak_ops(void)
{
    return &espeak_ops;
}
