/* mix.c: ambience under speech with side-chain ducking (see mix.h). */
#include "core/vb.h"
#include "audio/mix.h"
#include "audio/loudness.h"
#include "audio/pcm.h"
#include "audio/resample.h"
#include "core/alloc.h"

#include <math.h>

struct audio_mix_params audio_mix_default_params(void)
{
    return (struct audio_mix_params){
        .lead_in_s = 0.5,
        .tail_s = 1.0,
        .volume_db = AUDIO_AMBIENCE_VOLUME_DB_DEFAULT,
        .duck_db = -8.0,
        .attack_ms = 50.0,
        .release_ms = 400.0,
        .threshold_db = -24.0,
        .fade_in_s = 0.4,
        .fade_out_s = 0.8,
        .loop_crossfade_s = 0.5,
    };
}

static bool params_ok(const struct audio_mix_params *p)
{
    const double v[] = {p->lead_in_s,  p->tail_s,          p->volume_db,    p->duck_db,
                        p->attack_ms,  p->release_ms,      p->threshold_db, p->fade_in_s,
                        p->fade_out_s, p->loop_crossfade_s};
    for (size_t i = 0; i < VB_ARRAY_LEN(v); i++)
        if (!isfinite(v[i]))
            return false;
    return p->lead_in_s >= 0 && p->lead_in_s <= 60 && p->tail_s >= 0 && p->tail_s <= 60 &&
           p->volume_db <= AUDIO_AMBIENCE_VOLUME_DB_MAX &&
           p->volume_db >= AUDIO_AMBIENCE_VOLUME_DB_MIN && p->duck_db <= 0 && p->attack_ms >= 0 &&
           p->release_ms >= 0 && p->fade_in_s >= 0 && p->fade_out_s >= 0 &&
           p->loop_crossfade_s >= 0;
}

/* Gated RMS in dBFS: RMS over 50 ms windows within 20 dB of the loudest one. */
static double gated_rms_db(const struct audio_pcm *pcm)
{
    size_t ch = (size_t)(pcm->channels > 0 ? pcm->channels : 1);
    size_t w = VB_MAX((size_t)pcm->sample_rate / 20, (size_t)1);
    double loudest = 0.0;
    for (size_t s = 0; s < pcm->frames; s += w) {
        size_t len = VB_MIN(w, pcm->frames - s);
        loudest = fmax(loudest, audio_rms(pcm->samples + s * ch, len * ch));
    }
    if (loudest <= 0.0)
        return -INFINITY;
    double sum = 0.0;
    size_t count = 0;
    for (size_t s = 0; s < pcm->frames; s += w) {
        size_t len = VB_MIN(w, pcm->frames - s);
        double r = audio_rms(pcm->samples + s * ch, len * ch);
        if (r >= loudest * 0.1) {
            sum += r * r * (double)len;
            count += len;
        }
    }
    return audio_gain_to_db(sqrt(sum / (double)count));
}

double audio_mix_level_db(const struct audio_pcm *pcm)
{
    double lufs;
    if (audio_loudness_integrated(pcm, &lufs) == VB_OK && isfinite(lufs))
        return lufs;
    return gated_rms_db(pcm);
}

void audio_loop_fill(float *dst, size_t n, const float *src, size_t src_n, size_t xfade)
{
    if (src_n == 0) {
        memset(dst, 0, sizeof(float) * n);
        return;
    }
    if (src_n >= n) {
        memcpy(dst, src, sizeof(float) * n);
        return;
    }
    xfade = VB_MIN(xfade, src_n / 2);
    /* Each repetition starts xfade frames before the previous one ends: period src_n - xfade.
     * Inside the overlap the new start fades in (sin) while the old end fades out (cos). */
    const size_t period = src_n - xfade;
    for (size_t i = 0; i < n; i++) {
        size_t rep = i / period, o = i % period;
        if (rep > 0 && o < xfade) {
            double t = (double)o / (double)xfade * (M_PI / 2.0);
            dst[i] = (float)(src[o] * sin(t) + src[period + o] * cos(t));
        } else {
            dst[i] = src[o];
        }
    }
}

/* One-pole coefficient reaching ~63 % of a step in `ms`. */
static float smoothing(double ms, int rate)
{
    double n = ms * rate / 1000.0;
    return n < 1.0 ? 1.0f : (float)(1.0 - exp(-1.0 / n));
}

void audio_ducker_init(struct audio_ducker *d, const struct audio_mix_params *p, int rate,
                       float thr)
{
    *d = (struct audio_ducker){
        .look = (size_t)(p->attack_ms * rate / 1000.0),
        .env_rel = smoothing(30.0, rate),
        .g_att = smoothing(p->attack_ms, rate),
        .g_rel = smoothing(p->release_ms, rate),
        .duck = (float)audio_db_to_gain(p->duck_db),
        .thr = thr,
        .env = 0.0f,
        .gain = 1.0f,
    };
}

float audio_ducker_step(struct audio_ducker *d, float s)
{
    d->env = s > d->env ? s : d->env + d->env_rel * (s - d->env);
    float target = d->env > d->thr ? d->duck : 1.0f;
    d->gain += (target < d->gain ? d->g_att : d->g_rel) * (target - d->gain);
    return d->gain;
}

enum vb_err audio_mix_ambience(const struct audio_pcm *speech, const struct audio_pcm *ambience,
                               const struct audio_mix_params *params, struct audio_pcm *out)
{
    struct audio_mix_params p = params ? *params : audio_mix_default_params();
    memset(out, 0, sizeof *out);
    if (!params_ok(&p) || speech->channels != 1 || speech->sample_rate < 1 ||
        (speech->frames && !speech->samples) || ambience->frames == 0 || !ambience->samples ||
        ambience->channels < 1 || ambience->sample_rate < 1)
        return VB_ERR_INVALID;

    enum vb_err err = VB_OK;
    const int rate = speech->sample_rate;
    struct audio_pcm amb = {0};
    float *gain = NULL;
    /* The ambience as mono at the speech rate. */
    if (ambience->sample_rate != rate)
        err = audio_resample(ambience, rate, &amb);
    else
        err = audio_pcm_copy(&amb, ambience);
    if (err != VB_OK)
        goto out;
    audio_pcm_to_mono(&amb);
    if (amb.frames == 0) {
        err = VB_ERR_INVALID;
        goto out;
    }

    const size_t lead = (size_t)(p.lead_in_s * rate), tail = (size_t)(p.tail_s * rate);
    const size_t total = lead + speech->frames + tail;
    err = audio_pcm_alloc(out, total, 1, rate);
    if (err != VB_OK)
        goto out;
    gain = vb_try_malloc(sizeof(float) * (total ? total : 1));
    if (!gain) {
        err = VB_ERR_NOMEM;
        goto out;
    }
    audio_loop_fill(out->samples, total, amb.samples, amb.frames,
                    (size_t)(p.loop_crossfade_s * rate));

    /* Static level: ambience loudness = speech loudness + volume_db. Measured on the looped
     * bed (what is heard); a silent speech leaves the bed at its own level + volume_db. */
    struct audio_pcm bed = {
        .samples = out->samples, .frames = total, .channels = 1, .sample_rate = rate};
    double speech_db, bed_db;
    if (audio_loudness_integrated(speech, &speech_db) == VB_OK && isfinite(speech_db) &&
        audio_loudness_integrated(&bed, &bed_db) == VB_OK && isfinite(bed_db)) {
        /* both in LUFS */
    } else {
        speech_db = gated_rms_db(speech); /* short speech: both as gated RMS */
        bed_db = gated_rms_db(&bed);
    }
    double level_db = 0.0;
    if (isfinite(bed_db))
        level_db = (isfinite(speech_db) ? speech_db : bed_db) + p.volume_db - bed_db;
    /* The side-chain threshold follows the speech's own signal level (RMS, not LUFS). */
    const double speech_rms_db = gated_rms_db(speech);
    const float level = (float)audio_db_to_gain(level_db);

    /* Side chain against a threshold relative to the speech level, looked ahead by the
     * attack time. */
    struct audio_ducker dk;
    audio_ducker_init(&dk, &p, rate,
                      isfinite(speech_rms_db)
                          ? (float)audio_db_to_gain(speech_rms_db + p.threshold_db)
                          : INFINITY);
    for (size_t i = 0; i < total; i++) {
        /* Speech sample that the detector sees at output i (look-ahead). */
        size_t j = i + dk.look;
        float s = 0.0f;
        if (j >= lead && j - lead < speech->frames)
            s = fabsf(speech->samples[j - lead]);
        gain[i] = audio_ducker_step(&dk, s);
    }
    for (size_t i = 0; i < total; i++)
        out->samples[i] *= level * gain[i];
    audio_fade_in(out->samples, total, 1, (size_t)(p.fade_in_s * rate));
    audio_fade_out(out->samples, total, 1, (size_t)(p.fade_out_s * rate));
    for (size_t i = 0; i < speech->frames; i++)
        out->samples[lead + i] += speech->samples[i];
out:
    if (err != VB_OK)
        audio_pcm_release(out);
    audio_pcm_release(&amb);
    vb_free(gain);
    return err;
}
