/* pipeline.c: text -> engine -> join -> speed -> trim/fades -> ambience -> loudness ->
 * encode, with optional streaming of the speech while it is produced (see pipeline.h). */
#include "core/vb.h"
#include "tts/pipeline.h"
#include "audio/ambience.h"
#include "audio/encode.h"
#include "audio/mix.h"
#include "audio/stretch.h"
#include "audio/loudness.h"
#include "audio/pcm.h"
#include "audio/resample.h"
#include "core/alloc.h"
#include "core/log.h"
#include "tts/joiner.h"
#include "tts/limiter.h"

#include <math.h>
#include <strings.h>
#include <time.h>

#define FINAL_TRIM_PAD_MS  80.0 /* silence kept at both ends of the result */
#define FINAL_FADE_IN_MS   10.0
#define FINAL_FADE_OUT_MS  30.0
#define STREAM_CEILING     0.891f /* -1 dBFS: sample ceiling of the streamed speech */
#define STREAM_MAX_GAIN_DB 30.0
#define STREAM_GAIN_MIN_MS 250.0 /* speech the stream gain is measured on, at least */
#define OUTPUT_RATE_MIN_HZ 8000
#define OUTPUT_RATE_MAX_HZ 48000

#define LIMIT_CEILING_DBFS (-1.5) /* sample ceiling of the limiter (margin for true peak) */
#define LOUDNESS_PASSES    3

/* Loudness to the target under the true-peak ceiling: gain, limit, measure, repeat; then
 * the exact normalisation (which only lowers the gain if a true peak still exceeds). */
static enum vb_err loudness_stage(struct audio_pcm *pcm, struct audio_loudness *after)
{
    float ceiling = (float)audio_db_to_gain(LIMIT_CEILING_DBFS);
    for (int pass = 0; pass < LOUDNESS_PASSES; pass++) {
        struct audio_loudness l;
        enum vb_err err = audio_loudness_measure(pcm, &l);
        if (err)
            return err;
        if (!isfinite(l.integrated_lufs))
            break;
        double g = AUDIO_LOUDNESS_TARGET_LUFS - l.integrated_lufs;
        if (fabs(g) < 0.1 && l.true_peak_dbtp <= AUDIO_TRUE_PEAK_CEILING_DBTP)
            break;
        audio_apply_gain(pcm->samples, pcm->frames * (size_t)pcm->channels,
                         (float)audio_db_to_gain(fmin(g, STREAM_MAX_GAIN_DB)));
        if ((err = tts_limit_peaks(pcm->samples, pcm->frames, pcm->sample_rate, ceiling)))
            return err;
    }
    struct audio_normalize_params np = audio_normalize_default_params();
    return audio_loudness_normalize(pcm, &np, NULL, after, NULL);
}

const char *tts_stage_name(enum tts_stage s)
{
    switch (s) {
    case TTS_STAGE_SYNTH:
        return "synth";
    case TTS_STAGE_SPEED:
        return "speed";
    case TTS_STAGE_POST:
        return "post";
    case TTS_STAGE_AMBIENCE:
        return "ambience";
    case TTS_STAGE_LOUDNESS:
        return "loudness";
    case TTS_STAGE_ENCODE:
        return "encode";
    case TTS_STAGE_COUNT:
        break;
    }
    return "?";
}

struct tts_request tts_request_default(void)
{
    return (struct tts_request){
        .params = tts_default_params(),
        .ambience_volume_db = TTS_AMBIENCE_VOLUME_DB,
        .normalize = true,
    };
}

void tts_output_release(struct tts_output *o)
{
    if (!o)
        return;
    vb_free(o->data);
    memset(o, 0, sizeof *o);
}

const char *tts_formats_supported(void)
{
    return audio_formats_supported();
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static const char *format_name(const struct tts_request *r)
{
    return r->format ? r->format : AUDIO_FORMAT_DEFAULT;
}

enum vb_err tts_request_check(const struct tts_request *r, bool streaming, const char **field,
                              char *why, size_t why_cap)
{
    const char *fmt = format_name(r);
    *field = NULL;
    bool pcm = strcasecmp(fmt, TTS_FORMAT_PCM) == 0;
    if (!pcm && !audio_format_supported(fmt)) {
        *field = "format";
        snprintf(why, why_cap, "format: '%.20s' is not supported; supported formats: %s", fmt,
                 tts_formats_supported());
        return VB_ERR_UNPROCESSABLE;
    }
    if (streaming && !pcm && strcasecmp(fmt, "wav") != 0) {
        *field = "stream";
        snprintf(why, why_cap, "stream: streaming is available for format wav only (not %.20s)",
                 fmt);
        return VB_ERR_UNPROCESSABLE;
    }
    if (r->sample_rate &&
        (r->sample_rate < OUTPUT_RATE_MIN_HZ || r->sample_rate > OUTPUT_RATE_MAX_HZ)) {
        *field = "sample_rate";
        snprintf(why, why_cap, "sample_rate: must be between %d and %d Hz", OUTPUT_RATE_MIN_HZ,
                 OUTPUT_RATE_MAX_HZ);
        return VB_ERR_UNPROCESSABLE;
    }
    if (r->ambience_id && !r->ambience_pcm && !audio_ambience_find(r->ambience_id)) {
        char ids[256] = "";
        for (size_t i = 0; i < audio_ambience_count(); i++) {
            size_t used = strlen(ids);
            snprintf(ids + used, sizeof ids - used, "%s%s", i ? ", " : "",
                     audio_ambience_at(i)->id);
        }
        *field = "ambience_id";
        snprintf(why, why_cap,
                 "ambience_id: unknown ambience '%.40s'; built-in: %s, or the id of one of "
                 "your uploaded ambiences (GET /ambiences)",
                 r->ambience_id, ids);
        return VB_ERR_UNPROCESSABLE;
    }
    if (!isfinite(r->ambience_volume_db) || r->ambience_volume_db < TTS_AMBIENCE_VOLUME_MIN_DB ||
        r->ambience_volume_db > TTS_AMBIENCE_VOLUME_MAX_DB) {
        *field = "ambience_volume";
        snprintf(why, why_cap, "ambience_volume: must be between %.0f and %.0f dB",
                 TTS_AMBIENCE_VOLUME_MIN_DB, TTS_AMBIENCE_VOLUME_MAX_DB);
        return VB_ERR_UNPROCESSABLE;
    }
    return VB_OK;
}

/* ===== one run ===== */

struct run {
    struct tts_engine *e;
    const struct tts_request *r;
    const struct tts_pipeline_callbacks *cb;
    struct tts_timings *t;
    double t0;
    int rate;                /* engine rate, Hz */
    int out_rate;            /* output rate, Hz */
    struct tts_joiner j;     /* joins the engine's audio (j.speech) while it is synthesised */
    struct audio_pcm speech; /* then the speech, taken from j, through the later stages */
    /* streaming: speech frames [0, streamed) of j.speech went through the stream chain
     * (ambience, gain, limiter, resampler, s16) */
    bool pcm_raw;
    size_t streamed;
    size_t n_chunks, n_pieces, n_early; /* chunks, engine pieces with audio, pieces that came
                                           before their chunk's last one */
    bool gain_set;
    float gain;
    struct tts_limiter lim;
    struct audio_pcm lim_out;
    struct audio_resampler *rs;
    struct audio_pcm rs_out;
    int16_t *s16;
    size_t s16_cap;
    float *y;
    size_t y_cap;
    /* streaming with an ambience: a seamlessly looping bed at the engine rate, mixed on a
     * timeline of lead-in (bed alone), speech, tail (bed alone), with the mixer's ducking */
    struct audio_pcm bed;
    size_t bed_pos;           /* next bed frame to use */
    float amb_level;          /* bed gain: speech level + ambience_volume */
    struct audio_ducker duck; /* the mixer's side chain, over the timeline */
    size_t lead, tail;        /* frames */
    size_t mixed;             /* timeline frames mixed so far */
};

static bool run_cancelled(void *user)
{
    struct run *run = user;
    return run->cb && run->cb->cancelled && run->cb->cancelled(run->cb->user);
}

static void run_progress(double f, void *user)
{
    struct run *run = user;
    if (run->cb && run->cb->progress)
        run->cb->progress(TTS_STAGE_SYNTH, 0.9 * f, run->cb->user);
}

/* Converts n float samples to little-endian s16 and hands them to on_audio. */
static enum vb_err emit_s16(struct run *run, const float *x, size_t n)
{
    if (n == 0)
        return VB_OK;
    if (n > run->s16_cap) {
        int16_t *p = vb_try_realloc(run->s16, n * sizeof *p);
        if (!p)
            return VB_ERR_NOMEM;
        run->s16 = p;
        run->s16_cap = n;
    }
    unsigned char *b = (unsigned char *)run->s16;
    audio_wav_stream_pcm16(x, n, b);
    if (run->t->first_audio_ms == 0)
        run->t->first_audio_ms = now_ms() - run->t0;
    return run->cb->on_audio(b, n * 2, run->cb->user);
}

/* Limiter, resampler and s16 for n samples of y (already at the stream gain); n 0 = the
 * end: what the limiter holds back comes out. */
static enum vb_err emit_float(struct run *run, const float *y, size_t n)
{
    enum vb_err err = tts_limiter_feed(&run->lim, y, n, &run->lim_out);
    if (err)
        return err;
    if (!run->rs)
        return emit_s16(run, run->lim_out.samples, run->lim_out.frames);
    audio_pcm_release(&run->rs_out);
    err = audio_resampler_feed(run->rs, run->lim_out.samples, run->lim_out.frames, &run->rs_out);
    return err ? err : emit_s16(run, run->rs_out.samples, run->rs_out.frames);
}

/* The next frame of the looping bed. */
static float bed_next(struct run *run)
{
    float v = run->bed.samples[run->bed_pos];
    if (++run->bed_pos == run->bed.frames)
        run->bed_pos = 0;
    return v;
}

static enum vb_err grow_y(struct run *run, size_t n)
{
    if (n <= run->y_cap)
        return VB_OK;
    float *y = vb_try_realloc(run->y, n * sizeof *y);
    if (!y)
        return VB_ERR_NOMEM;
    run->y = y;
    run->y_cap = n;
    return VB_OK;
}

/* The stream's fixed gain (and the bed's level and ducking threshold), set once on the
 * first STREAM_GAIN_MIN_MS of speech (or the whole first chunk when shorter): its level
 * (loudness from 400 ms on, a gated RMS below) to the loudness target, or its peak to
 * -3 dBFS when silent. Fixed, so the stream never pumps; the limiter catches what a louder
 * later part would push over the ceiling. */
static void stream_levels(struct run *run, const float *x, size_t n)
{
    struct audio_pcm view = {
        .samples = (float *)x, .frames = n, .channels = 1, .sample_rate = run->rate};
    double speech_db = audio_mix_level_db(&view), g = 0;
    if (isfinite(speech_db)) {
        g = AUDIO_LOUDNESS_TARGET_LUFS - speech_db;
    } else {
        float peak = audio_peak(x, n);
        g = peak > 0 ? -3.0 - audio_gain_to_db(peak) : 0;
    }
    run->gain = (float)audio_db_to_gain(fmin(g, STREAM_MAX_GAIN_DB));
    run->gain_set = true;
    if (!run->bed.samples)
        return;
    /* the bed's level: speech level + ambience_volume, as the mixer sets it */
    struct audio_mix_params mp = audio_mix_default_params();
    double bed_db = audio_mix_level_db(&run->bed);
    double db = (isfinite(speech_db) ? speech_db : bed_db) + run->r->ambience_volume_db - bed_db;
    run->amb_level = isfinite(db) ? (float)audio_db_to_gain(db) : 0.0f;
    audio_ducker_init(&run->duck, &mp, run->rate,
                      isfinite(speech_db) ? (float)audio_db_to_gain(speech_db + mp.threshold_db)
                                          : INFINITY);
}

/* Mixes the timeline up to `to` frames (bed under the speech, ducked by the speech that
 * lies `look` frames ahead, faded in over the lead-in and out over the tail) into run->y,
 * times the stream gain. `end`: the speech is complete (its length is final). */
static enum vb_err mix_to(struct run *run, size_t to, bool end, size_t *n_out)
{
    struct audio_mix_params mp = audio_mix_default_params();
    const float *sp = run->j.speech.samples;
    size_t ns = run->j.speech.frames, lead = run->lead;
    size_t fin = VB_MIN((size_t)(mp.fade_in_s * run->rate), lead);
    size_t fout = VB_MIN((size_t)(mp.fade_out_s * run->rate), run->tail);
    size_t total = lead + ns + run->tail;
    size_t n = to > run->mixed ? to - run->mixed : 0;
    *n_out = n;
    enum vb_err err = grow_y(run, n);
    if (err)
        return err;
    for (size_t i = 0; i < n; i++) {
        size_t t = run->mixed + i, d = t + run->duck.look;
        float s = d >= lead && d - lead < ns ? fabsf(sp[d - lead]) : 0.0f;
        float b = bed_next(run) * run->amb_level * audio_ducker_step(&run->duck, s);
        if (t < fin)
            b *= (float)(t + 1) / (float)(fin + 1);
        if (end && t + fout >= total)
            b *= (float)(total - t) / (float)(fout + 1);
        float v = t >= lead && t - lead < ns ? sp[t - lead] : 0.0f;
        run->y[i] = (v + b) * run->gain;
    }
    run->mixed += n;
    return VB_OK;
}

/* Streams what is final of the joined speech; end: all of it, then the ambience tail and
 * whatever the limiter and resampler hold back. */
static enum vb_err stream_advance(struct run *run, bool end)
{
    size_t ns = run->j.speech.frames, n = 0;
    enum vb_err err;
    if (!run->gain_set) {
        /* wait for enough speech to measure, unless the first chunk is complete already */
        if (ns == 0 || (!end && !run->j.have_prev && ns < run->rate * STREAM_GAIN_MIN_MS / 1000))
            return end ? emit_float(run, NULL, 0) : VB_OK;
        stream_levels(run, run->j.speech.samples, ns);
    }
    if (run->bed.samples) {
        size_t look = run->duck.look, known = run->lead + ns;
        size_t to = end ? known + run->tail : known > look ? known - look : 0;
        err = mix_to(run, to, end, &n);
    } else {
        n = ns - run->streamed;
        err = grow_y(run, n);
        for (size_t i = 0; !err && i < n; i++)
            run->y[i] = run->j.speech.samples[run->streamed + i] * run->gain;
    }
    run->streamed = ns;
    if (!err && n)
        err = emit_float(run, run->y, n);
    if (!err && end)
        err = emit_float(run, NULL, 0);
    return err;
}

static enum vb_err on_chunk(const float *pcm, size_t n, const struct tts_piece *piece, void *user)
{
    struct run *run = user;
    size_t before = run->j.speech.frames;
    run->n_chunks += piece->last;
    run->n_pieces += n > 0;
    run->n_early += n > 0 && !piece->last;
    enum vb_err err = tts_joiner_feed(&run->j, pcm, n, piece->chunk->brk, piece->last);
    bool grew = run->j.speech.frames > before, first_done = piece->last && !run->gain_set;
    if (!err && run->cb && run->cb->on_audio && (grew || first_done))
        err = stream_advance(run, false);
    return err;
}

#define STREAM_BED_S       30.0 /* length of the looping ambience bed when streaming */
#define STREAM_BED_XFADE_S 0.5

/* A bed that loops without a seam: 30 s of the built-in ambience (or the user's recording
 * at the engine rate) whose last STREAM_BED_XFADE_S are crossfaded into its start. */
static enum vb_err make_bed(struct run *run)
{
    struct audio_pcm src = {0};
    const struct tts_request *r = run->r;
    size_t want = (size_t)((STREAM_BED_S + STREAM_BED_XFADE_S) * run->rate);
    enum vb_err err;
    if (r->ambience_pcm) {
        err = audio_resample(r->ambience_pcm, run->rate, &src);
        if (!err && src.channels != 1)
            audio_pcm_to_mono(&src);
    } else {
        uint64_t seed = r->params.seed ? r->params.seed : 0x766f6365726fULL;
        err = audio_ambience_render(r->ambience_id, seed, run->rate, want, &src);
    }
    if (err)
        return err;
    size_t x = (size_t)(STREAM_BED_XFADE_S * run->rate);
    if (src.frames < 4 * x)
        x = src.frames / 4;
    size_t len = src.frames - x;
    if (len == 0) {
        audio_pcm_release(&src);
        return VB_ERR_INVALID;
    }
    for (size_t i = 0; i < x; i++) {
        /* equal-power: the tail fades out over the start fading in */
        double t = (double)(i + 1) / (double)(x + 1);
        src.samples[i] =
            (float)(src.samples[i] * sin(t * M_PI / 2) + src.samples[len + i] * cos(t * M_PI / 2));
    }
    src.frames = len;
    run->bed = src;
    struct audio_mix_params mp = audio_mix_default_params();
    run->lead = (size_t)(mp.lead_in_s * run->rate);
    run->tail = (size_t)(mp.tail_s * run->rate);
    return VB_OK;
}

static enum vb_err stream_begin(struct run *run)
{
    tts_limiter_init(&run->lim, run->rate, (float)audio_db_to_gain(LIMIT_CEILING_DBFS));
    if (run->out_rate != run->rate) {
        run->rs = audio_resampler_new(run->rate, run->out_rate, 1);
        if (!run->rs)
            return VB_ERR_NOMEM;
    }
    if (run->r->ambience_id) {
        enum vb_err err = make_bed(run);
        if (err)
            return err;
    }
    if (run->pcm_raw)
        return VB_OK;
    unsigned char h[AUDIO_WAV_STREAM_HEADER_BYTES];
    audio_wav_stream_header(h, run->out_rate, 1);
    return run->cb->on_audio(h, sizeof h, run->cb->user);
}

static enum vb_err stream_end(struct run *run)
{
    enum vb_err err = stream_advance(run, true);
    if (err || !run->rs)
        return err;
    audio_pcm_release(&run->rs_out);
    err = audio_resampler_feed(run->rs, NULL, 0, &run->rs_out);
    if (!err) {
        for (size_t i = 0; i < run->rs_out.frames; i++) {
            float v = run->rs_out.samples[i];
            run->rs_out.samples[i] = v > STREAM_CEILING    ? STREAM_CEILING
                                     : v < -STREAM_CEILING ? -STREAM_CEILING
                                                           : v;
        }
        err = emit_s16(run, run->rs_out.samples, run->rs_out.frames);
    }
    return err;
}

/* Raw little-endian s16 of the whole PCM. */
static enum vb_err encode_s16(const struct audio_pcm *pcm, unsigned char **out, size_t *out_len)
{
    if (pcm->frames > SIZE_MAX / 2 || pcm->frames * 2 > 0xFFFFFFF0u)
        return VB_ERR_TOO_LARGE;
    unsigned char *b = vb_try_malloc(pcm->frames * 2);
    if (!b)
        return VB_ERR_NOMEM;
    audio_wav_stream_pcm16(pcm->samples, pcm->frames, b);
    *out = b;
    *out_len = pcm->frames * 2;
    return VB_OK;
}

static void stage_done(struct run *run, enum tts_stage s, double *mark, double fraction)
{
    double t = now_ms();
    run->t->stage_ms[s] += t - *mark;
    *mark = t;
    if (run->cb && run->cb->progress)
        run->cb->progress(s, fraction, run->cb->user);
}

static void release_run(struct run *run)
{
    audio_pcm_release(&run->speech);
    tts_joiner_release(&run->j);
    tts_limiter_release(&run->lim);
    audio_pcm_release(&run->lim_out);
    audio_pcm_release(&run->rs_out);
    audio_pcm_release(&run->bed);
    audio_resampler_free(run->rs);
    vb_free(run->s16);
    vb_free(run->y);
}

/* Replaces the speech by speech + ambience: a built-in one rendered for the needed length
 * (seeded by the request's seed, so a seeded request is repeatable) or the user's
 * recording, looped or cut by the mixer. */
static enum vb_err mix_ambience(struct run *run, const struct tts_request *r)
{
    struct audio_mix_params mp = audio_mix_default_params();
    struct audio_pcm bed = {0}, mixed = {0};
    const struct audio_pcm *amb = r->ambience_pcm;
    enum vb_err err = VB_OK;
    mp.volume_db = r->ambience_volume_db;
    if (!amb) {
        int rate = run->speech.sample_rate;
        size_t frames = run->speech.frames + (size_t)((mp.lead_in_s + mp.tail_s + 0.1) * rate);
        uint64_t seed = r->params.seed ? r->params.seed : 0x766f6365726fULL;
        err = audio_ambience_render(r->ambience_id, seed, rate, frames, &bed);
        amb = &bed;
    }
    if (!err)
        err = audio_mix_ambience(&run->speech, amb, &mp, &mixed);
    audio_pcm_release(&bed);
    if (err)
        return err;
    audio_pcm_release(&run->speech);
    run->speech = mixed;
    return VB_OK;
}

/* Speech text has something to say, is valid UTF-8 and not too long. */
static enum vb_err check_text(const struct tts_request *r, char *why, size_t why_cap)
{
    if (!r->text || r->text_len == 0) {
        snprintf(why, why_cap, "text: is required and must not be empty");
        return VB_ERR_UNPROCESSABLE;
    }
    if (!tts_text_valid_utf8(r->text, r->text_len)) {
        snprintf(why, why_cap, "text: is not valid UTF-8");
        return VB_ERR_UNPROCESSABLE;
    }
    if (tts_text_count_chars(r->text, r->text_len) > TTS_TEXT_MAX_CHARS) {
        snprintf(why, why_cap, "text: must be at most %d characters", TTS_TEXT_MAX_CHARS);
        return VB_ERR_UNPROCESSABLE;
    }
    if (!tts_text_speakable(r->text, r->text_len)) {
        snprintf(why, why_cap, "text: has nothing to say (no letters or digits)");
        return VB_ERR_UNPROCESSABLE;
    }
    return VB_OK;
}

enum vb_err tts_pipeline_run(struct tts_engine *e, const struct tts_request *r,
                             const struct tts_pipeline_callbacks *cb, struct tts_output *out,
                             struct tts_diag *diag)
{
    struct tts_diag local;
    if (!diag)
        diag = &local;
    char *why = diag->message;
    size_t why_cap = sizeof diag->message;
    diag->field = NULL;
    struct run run = {.e = e, .r = r, .cb = cb, .t = &out->timings};
    const char *field = NULL;
    unsigned char *data = NULL;
    size_t len = 0;
    memset(out, 0, sizeof *out);
    why[0] = '\0';
    run.t0 = now_ms();
    double mark = run.t0;
    bool streaming = cb && cb->on_audio;
    enum vb_err err = check_text(r, why, why_cap);
    if (err)
        field = "text";
    if (!err)
        err = tts_request_check(r, streaming, &field, why, why_cap);
    if (!err && (err = tts_engine_load(e, why, why_cap)))
        err = VB_ERR_UNAVAILABLE;
    if (!err)
        err = tts_engine_check(e, &r->params, &field, why, why_cap);
    if (err)
        goto out;
    run.rate = tts_engine_sample_rate(e);
    run.out_rate = r->sample_rate ? r->sample_rate : run.rate;
    const char *fmt = format_name(r);
    run.pcm_raw = strcasecmp(fmt, TTS_FORMAT_PCM) == 0;
    /* engines without their own speed are time-stretched chunk by chunk as chunks arrive */
    bool stretch = !(tts_engine_caps(e) & TTS_CAP_SPEED) && fabs(r->params.speed - 1.0) > 1e-6;
    tts_joiner_init(&run.j, run.rate, stretch ? r->params.speed : 1.0,
                    (size_t)TTS_MAX_AUDIO_SECONDS * (size_t)run.rate);

    /* 1. synthesis, chunk by chunk, joined (and streamed) as the audio arrives: when
     * streaming, in pieces of a chunk as the engine produces them */
    if (streaming && (err = stream_begin(&run)))
        goto out;
    struct tts_callbacks ecb = {.progress = run_progress,
                                .cancelled = run_cancelled,
                                .on_chunk = on_chunk,
                                .user = &run,
                                .pieces = streaming};
    err = tts_engine_stream(e, r->text, r->text_len, &r->params, &ecb);
    if (!err && streaming && (err = stream_end(&run)) == VB_OK)
        vb_info("tts: streamed %zu chunk(s) from %zu engine pieces (%zu before their chunk was "
                "complete); first audio after %.1f ms, synthesis done after %.1f ms",
                run.n_chunks, run.n_pieces, run.n_early, run.t->first_audio_ms, now_ms() - run.t0);
    run.speech = run.j.speech;
    memset(&run.j.speech, 0, sizeof run.j.speech);
    if (err == VB_ERR_UNPROCESSABLE && !why[0])
        snprintf(why, why_cap, "text: has nothing to say"), field = "text";
    if (err)
        goto out;
    if (run.speech.frames == 0) {
        snprintf(why, why_cap, "text: the engine produced no audio for it");
        field = "text";
        err = VB_ERR_UNPROCESSABLE;
        goto out;
    }
    stage_done(&run, TTS_STAGE_SYNTH, &mark, 0.9);

    /* 2. speed: engines with TTS_CAP_SPEED did it while speaking, for the others each chunk
     * was time-stretched as it arrived (run.stretch_ms of the synthesis time) */
    run.t->stage_ms[TTS_STAGE_SYNTH] -= run.j.stretch_ms;
    run.t->stage_ms[TTS_STAGE_SPEED] += run.j.stretch_ms;
    stage_done(&run, TTS_STAGE_SPEED, &mark, 0.91);
    if (run_cancelled(&run)) {
        err = VB_ERR_CANCELLED;
        goto out;
    }

    /* 3. trim, fades, output rate */
    struct audio_trim_params tp = audio_trim_default_params();
    tp.pad_ms = FINAL_TRIM_PAD_MS;
    audio_pcm_trim_silence(&run.speech, &tp, NULL, NULL);
    audio_pcm_fade(&run.speech, FINAL_FADE_IN_MS, FINAL_FADE_OUT_MS);
    if (run.out_rate != run.rate) {
        struct audio_pcm rs = {0};
        if ((err = audio_resample(&run.speech, run.out_rate, &rs)))
            goto out;
        audio_pcm_release(&run.speech);
        run.speech = rs;
    }
    stage_done(&run, TTS_STAGE_POST, &mark, 0.93);

    /* 4. ambience bed under the speech (ducked while it speaks) */
    if (r->ambience_id && (err = mix_ambience(&run, r)))
        goto out;
    stage_done(&run, TTS_STAGE_AMBIENCE, &mark, 0.95);
    if (run_cancelled(&run)) {
        err = VB_ERR_CANCELLED;
        goto out;
    }

    /* 5. loudness */
    out->loudness_lufs = -INFINITY;
    out->true_peak_dbtp = -INFINITY;
    if (r->normalize) {
        struct audio_loudness after;
        if ((err = loudness_stage(&run.speech, &after)))
            goto out;
        out->loudness_lufs = after.integrated_lufs;
        out->true_peak_dbtp = after.true_peak_dbtp;
    }
    stage_done(&run, TTS_STAGE_LOUDNESS, &mark, 0.97);

    /* 6. encode */
    if (run.pcm_raw) {
        err = encode_s16(&run.speech, &data, &len);
        out->format = TTS_FORMAT_PCM;
        out->extension = "pcm";
        out->content_type = "audio/pcm";
    } else {
        struct audio_diag ad = {0};
        const struct audio_format_desc *fd = audio_format_find(fmt);
        err = audio_encode(&run.speech, fmt, NULL, &data, &len, &ad);
        if (err == VB_ERR_UNPROCESSABLE)
            snprintf(why, why_cap, "format: %s", ad.message), field = "format";
        out->format = fd ? fd->name : fmt;
        out->extension = fd ? fd->extension : fmt;
        out->content_type = fd ? fd->content_type : "application/octet-stream";
    }
    if (err)
        goto out;
    stage_done(&run, TTS_STAGE_ENCODE, &mark, 1.0);
    out->data = data;
    out->len = len;
    data = NULL;
    out->sample_rate = run.speech.sample_rate;
    out->duration_s = (double)run.speech.frames / run.speech.sample_rate;
out:
    out->timings.total_ms = now_ms() - run.t0;
    release_run(&run);
    vb_free(data);
    if (err) {
        struct tts_timings keep = out->timings;
        tts_output_release(out);
        out->timings = keep;
        if (!why[0])
            snprintf(why, why_cap, "%s", vb_err_message(err));
        diag->field = err == VB_ERR_UNPROCESSABLE ? field : NULL;
    }
    return err;
}
