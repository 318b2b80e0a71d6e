/* engine.c: the generic synthesis loop over the engine vtable (tags, chunks, progress,
 * cancel, streaming). */
#include "core/vb.h"
#include "tts/engine.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"

#include <math.h>

struct tts_params tts_default_params(void)
{
    return (struct tts_params){.speed = 1.0};
}

/* ===== generic layer ===== */

enum vb_err tts_engine_load(struct tts_engine *e, char *why, size_t why_cap)
{
    enum vb_err err = VB_OK;
    pthread_mutex_lock(&e->lock);
    if (!e->loaded) {
        err = e->ops->load(e, why, why_cap);
        if (err)
            vb_warn("tts: engine %s cannot load: %s", e->ops->name, why);
        else
            e->loaded = true;
    }
    pthread_mutex_unlock(&e->lock);
    return err;
}

bool tts_engine_is_loaded(struct tts_engine *e)
{
    pthread_mutex_lock(&e->lock);
    bool loaded = e->loaded;
    pthread_mutex_unlock(&e->lock);
    return loaded;
}

bool tts_engine_installed(const struct tts_engine *e)
{
    return !e->ops->installed || e->ops->installed(e->models_dir);
}

const char *tts_engine_name(const struct tts_engine *e)
{
    return e->ops->name;
}

unsigned tts_engine_caps(const struct tts_engine *e)
{
    return e->ops->caps;
}

int tts_engine_sample_rate(const struct tts_engine *e)
{
    return e->loaded ? e->ops->sample_rate(e) : 0;
}

enum vb_err tts_engine_check(struct tts_engine *e, const struct tts_params *p, const char **field,
                             char *why, size_t why_cap)
{
    *field = NULL;
    if (!isfinite(p->speed) || p->speed < TTS_SPEED_MIN || p->speed > TTS_SPEED_MAX) {
        *field = "speed";
        snprintf(why, why_cap, "speed: must be between %.2g and %.2g (1.0 = normal)", TTS_SPEED_MIN,
                 TTS_SPEED_MAX);
        return VB_ERR_UNPROCESSABLE;
    }
    if (p->temperature != 0 && (!isfinite(p->temperature) || p->temperature < TTS_TEMPERATURE_MIN ||
                                p->temperature > TTS_TEMPERATURE_MAX)) {
        *field = "temperature";
        snprintf(why, why_cap, "temperature: must be between %.2g and %.2g", TTS_TEMPERATURE_MIN,
                 TTS_TEMPERATURE_MAX);
        return VB_ERR_UNPROCESSABLE;
    }
    if (p->prompt && !(e->ops->caps & TTS_CAP_CLONING)) {
        *field = "voice_id";
        snprintf(why, why_cap,
                 "voice cloning is not supported by the %s engine; use engine "
                 "\"" TTS_ENGINE_CHATTERBOX
                 "\" (install it with `vocero models pull " TTS_ENGINE_CHATTERBOX "`)",
                 e->ops->name);
        return VB_ERR_UNPROCESSABLE;
    }
    if (e->ops->check)
        return e->ops->check(e, p, field, why, why_cap);
    if (p->language || p->voice) {
        *field = p->language ? "language" : "voice_id";
        snprintf(why, why_cap, "%s: the %s engine has no choice of %s", *field, e->ops->name,
                 p->language ? "language" : "built-in voice");
        return VB_ERR_UNPROCESSABLE;
    }
    return VB_OK;
}

enum vb_err tts_engine_prepare(const struct tts_engine *e, const char *text, size_t len,
                               struct tts_chunks *out)
{
    struct tts_split_params sp = tts_split_default_params();
    if (e->ops->chunk_max_bytes)
        sp.max_bytes = e->ops->chunk_max_bytes;
    if (e->ops->caps & TTS_CAP_TAGS)
        return tts_text_split(text, len, &sp, out);
    char *plain = NULL;
    size_t plain_len = 0;
    enum vb_err err = tts_text_strip_tags(text, len, &plain, &plain_len);
    if (!err)
        err = tts_text_split(plain, plain_len, &sp, out);
    vb_free(plain);
    return err;
}

/* Something to pronounce: a letter or digit, or a tag for engines that render tags. */
static bool chunk_speakable(const struct tts_engine *e, const struct tts_chunk *c)
{
    return tts_text_speakable(c->text, c->len) ||
           ((e->ops->caps & TTS_CAP_TAGS) && tts_text_has_tags(c->text, c->len));
}

static bool cancelled(const struct tts_callbacks *cb)
{
    return cb && cb->cancelled && cb->cancelled(cb->user);
}

/* One streaming loop: the consumer's callbacks and the chunk in progress. */
struct loop {
    const struct tts_callbacks *cb; /* the consumer's; may be NULL */
    const struct tts_chunk *chunk;
    unsigned index; /* next piece of the chunk */
    size_t total_frames, max_frames;
};

static bool loop_cancelled(void *user)
{
    struct loop *l = user;
    return cancelled(l->cb);
}

/* Hands n samples of the current chunk to the consumer as a piece. */
static enum vb_err loop_piece(struct loop *l, const float *pcm, size_t n, bool last)
{
    l->total_frames += n;
    if (l->total_frames > l->max_frames)
        return VB_ERR_TOO_LARGE;
    struct tts_piece piece = {.chunk = l->chunk, .index = l->index++, .last = last};
    if (l->cb && l->cb->on_chunk)
        return l->cb->on_chunk(pcm, n, &piece, l->cb->user);
    return VB_OK;
}

static enum vb_err loop_partial(const float *pcm, size_t n, void *user)
{
    return n ? loop_piece(user, pcm, n, false) : VB_OK;
}

enum vb_err tts_engine_stream(struct tts_engine *e, const char *text, size_t len,
                              const struct tts_params *p, const struct tts_callbacks *cb)
{
    struct tts_chunks chunks = {0};
    struct audio_pcm pcm = {0};
    size_t done_bytes = 0, all_bytes = 0;
    char why[160];
    enum vb_err err = tts_engine_load(e, why, sizeof why);
    if (err)
        return VB_ERR_UNAVAILABLE;
    err = tts_engine_prepare(e, text, len, &chunks);
    if (err)
        goto out;
    bool any = false;
    for (size_t i = 0; i < chunks.n; i++) {
        all_bytes += chunks.items[i].len;
        any |= chunk_speakable(e, &chunks.items[i]);
    }
    if (!any) {
        err = VB_ERR_UNPROCESSABLE;
        goto out;
    }
    struct loop l = {.cb = cb,
                     .max_frames = (size_t)TTS_MAX_AUDIO_SECONDS * (size_t)e->ops->sample_rate(e)};
    /* what the engine sees: cancel polling, and early pieces when the consumer takes them */
    struct tts_callbacks ecb = {.cancelled = loop_cancelled, .user = &l};
    if (cb && cb->pieces && cb->on_chunk && (e->ops->caps & TTS_CAP_STREAMING))
        ecb.on_partial = loop_partial;
    for (size_t i = 0; i < chunks.n; i++) {
        if (cancelled(cb)) {
            err = VB_ERR_CANCELLED;
            goto out;
        }
        /* A chunk with nothing to pronounce (a lone "...") gives no audio. */
        const struct tts_chunk *c = &chunks.items[i];
        l.chunk = c;
        l.index = 0;
        audio_pcm_release(&pcm);
        if (chunk_speakable(e, c)) {
            err = e->ops->synthesize(e, c->text, c->len, p, &pcm, &ecb);
            if (err)
                goto out;
        }
        if ((err = loop_piece(&l, pcm.samples, pcm.frames, true)))
            goto out;
        done_bytes += c->len;
        if (cb && cb->progress)
            cb->progress((double)done_bytes / (double)all_bytes, cb->user);
    }
out:
    audio_pcm_release(&pcm);
    tts_chunks_release(&chunks);
    return err;
}

struct collect {
    struct audio_pcm *out;
    size_t cap; /* frames allocated */
    const struct tts_callbacks *user_cb;
};

static enum vb_err collect_chunk(const float *pcm, size_t n, const struct tts_piece *piece,
                                 void *user)
{
    struct collect *c = user;
    struct audio_pcm *o = c->out;
    if (o->frames + n > c->cap) {
        size_t cap = VB_MAX(c->cap * 2, o->frames + n + 4096);
        float *s = vb_try_realloc(o->samples, cap * sizeof *s);
        if (!s)
            return VB_ERR_NOMEM;
        o->samples = s;
        c->cap = cap;
    }
    if (n)
        memcpy(o->samples + o->frames, pcm, n * sizeof *pcm);
    o->frames += n;
    if (c->user_cb && c->user_cb->on_chunk)
        return c->user_cb->on_chunk(pcm, n, piece, c->user_cb->user);
    return VB_OK;
}

static void collect_progress(double f, void *user)
{
    struct collect *c = user;
    c->user_cb->progress(f, c->user_cb->user);
}

static bool collect_cancelled(void *user)
{
    struct collect *c = user;
    return c->user_cb->cancelled(c->user_cb->user);
}

enum vb_err tts_engine_synthesize(struct tts_engine *e, const char *text, size_t len,
                                  const struct tts_params *p, struct audio_pcm *out,
                                  const struct tts_callbacks *cb)
{
    memset(out, 0, sizeof *out);
    struct collect c = {.out = out, .user_cb = cb};
    struct tts_callbacks mine = {.on_chunk = collect_chunk, .user = &c, .pieces = cb && cb->pieces};
    if (cb && cb->progress)
        mine.progress = collect_progress;
    if (cb && cb->cancelled)
        mine.cancelled = collect_cancelled;
    enum vb_err err = tts_engine_stream(e, text, len, p, &mine);
    if (err) {
        audio_pcm_release(out);
        return err;
    }
    out->channels = 1;
    out->sample_rate = e->ops->sample_rate(e);
    return VB_OK;
}
