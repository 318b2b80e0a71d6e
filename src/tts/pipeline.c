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

#include <math.h>
#include <strings.h>
#include <time.h>

#define CHUNK_TRIM_PAD_MS  20.0 /* silence kept around each chunk before joining */
#define CHUNK_FADE_MS      5.0  /* fades at chunk edges, so joins never click */
#define FINAL_TRIM_PAD_MS  80.0 /* silence kept at both ends of the result */
#define FINAL_FADE_IN_MS   10.0
#define FINAL_FADE_OUT_MS  30.0
#define STREAM_CEILING     0.891f /* -1 dBFS: sample ceiling of the streamed speech */
#define STREAM_MAX_GAIN_DB 30.0
#define OUTPUT_RATE_MIN_HZ 8000
#define OUTPUT_RATE_MAX_HZ 48000

#define LIMIT_CEILING_DBFS (-1.5) /* sample ceiling of the limiter (margin for true peak) */
#define LIMIT_LOOKAHEAD_MS 4.0
#define LIMIT_RELEASE_MS   60.0
#define LOUDNESS_PASSES    3

/* Look-ahead peak limiter, in place: a gain envelope that starts to fall LIMIT_LOOKAHEAD_MS
 * before a sample over the ceiling, reaches at most ceiling/|x| on it (minimum filter over
 * the look-ahead, then a moving average over the same length, so the average at the peak
 * is built only from values at or below the peak's required gain) and recovers with an
 * exponential release. Speech is peaky (crest factor 15-20 dB): without this the true-peak
 * ceiling would hold it well below the loudness target. */
static enum vb_err limit_peaks(float *x, size_t n, int rate, float ceiling)
{
    size_t la = (size_t)(LIMIT_LOOKAHEAD_MS * rate / 1000.0) + 1, cap = la + 2;
    float rel = (float)exp(-1.0 / (LIMIT_RELEASE_MS * rate / 1000.0));
    if (n == 0 || audio_peak(x, n) <= ceiling)
        return VB_OK;
    float *req = vb_try_malloc(n * sizeof *req);
    float *h = vb_try_malloc(n * sizeof *h);
    size_t *dq = vb_try_malloc(cap * sizeof *dq);
    if (!req || !h || !dq) {
        vb_free(req);
        vb_free(h);
        vb_free(dq);
        return VB_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        req[i] = a > ceiling ? ceiling / a : 1.0f;
    }
    /* h[k] = min(req[k .. k+la-1]): monotonic deque (ring of indexes), scanning backwards */
    size_t head = 0, count = 0;
    for (size_t k = n; k-- > 0;) {
        while (count && req[dq[(head + count - 1) % cap]] >= req[k])
            count--;
        dq[(head + count++) % cap] = k;
        while (dq[head] >= k + la)
            head = (head + 1) % cap, count--;
        h[k] = req[dq[head]];
    }
    /* release: instant attack on the look-ahead minimum, exponential recovery */
    float e = 1.0f;
    for (size_t i = 0; i < n; i++) {
        e = 1.0f - (1.0f - e) * rel;
        if (h[i] < e)
            e = h[i];
        h[i] = e;
    }
    /* moving average over the la values ending at i: at a peak every averaged value is at
     * or below its required gain; the first samples average fewer values, so clamp */
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        sum += h[i];
        if (i >= la)
            sum -= h[i - la];
        float gain = (float)(sum / (double)(i + 1 < la ? i + 1 : la));
        x[i] *= gain < req[i] ? gain : req[i];
    }
    vb_free(req);
    vb_free(h);
    vb_free(dq);
    return VB_OK;
}

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
        if ((err = limit_peaks(pcm->samples, pcm->frames, pcm->sample_rate, ceiling)))
            return err;
    }
    struct audio_normalize_params np = audio_normalize_default_params();
    return audio_loudness_normalize(pcm, &np, NULL, after, NULL);
}

/* Pause after a chunk, by how it ends. */
static double gap_ms(enum tts_break b)
{
    switch (b) {
    case TTS_BREAK_SENTENCE:
        return 280.0;
    case TTS_BREAK_CLAUSE:
        return 160.0;
    case TTS_BREAK_WORD:
        return 50.0;
    case TTS_BREAK_HARD:
        return 0.0;
    }
    return 0.0;
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
    struct audio_pcm speech; /* the joined speech at the engine rate */
    size_t cap_frames;
    size_t max_frames;
    bool have_prev;
    enum tts_break prev_brk;
    bool stretch;      /* the engine cannot change speed: WSOLA per chunk */
    double stretch_ms; /* time spent stretching (reported as the speed stage) */
    /* streaming */
    bool pcm_raw;
    bool gain_set;
    float gain;
    struct audio_resampler *rs;
    struct audio_pcm rs_out;
    int16_t *s16;
    size_t s16_cap;
    /* streaming with an ambience: a seamlessly looping bed at the engine rate */
    struct audio_pcm bed;
    size_t bed_pos;   /* next bed frame to use */
    float amb_gain;   /* bed gain for the ambience-only lead-in and tail */
    bool amb_started; /* the lead-in has been streamed */
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

static void put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8), p[2] = (unsigned char)(v >> 16),
    p[3] = (unsigned char)(v >> 24);
}

static void put_le16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8);
}

/* A 44-byte WAV header for 16-bit mono PCM; data_bytes 0xFFFFFFFF = unknown (streaming). */
static void wav_header(unsigned char h[44], int rate, uint32_t data_bytes)
{
    memcpy(h, "RIFF", 4);
    put_le32(h + 4, data_bytes == 0xFFFFFFFFu ? 0xFFFFFFFFu : 36u + data_bytes);
    memcpy(h + 8, "WAVEfmt ", 8);
    put_le32(h + 16, 16);
    put_le16(h + 20, 1); /* PCM */
    put_le16(h + 22, 1); /* mono */
    put_le32(h + 24, (uint32_t)rate);
    put_le32(h + 28, (uint32_t)rate * 2u);
    put_le16(h + 32, 2);
    put_le16(h + 34, 16);
    memcpy(h + 36, "data", 4);
    put_le32(h + 40, data_bytes);
}

static int16_t to_s16(float x)
{
    float v = x * 32767.0f;
    if (!(v == v))
        return 0;
    if (v > 32767.0f)
        v = 32767.0f;
    if (v < -32768.0f)
        v = -32768.0f;
    return (int16_t)lrintf(v);
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
    for (size_t i = 0; i < n; i++)
        put_le16(b + 2 * i, (uint16_t)to_s16(x[i]));
    if (run->t->first_audio_ms == 0)
        run->t->first_audio_ms = now_ms() - run->t0;
    return run->cb->on_audio(b, n * 2, run->cb->user);
}

/* Applies the stream gain and the limiter to n samples of y (in place), resamples to the
 * output rate and hands them on as s16. */
static enum vb_err emit_float(struct run *run, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] *= run->gain;
    enum vb_err err = limit_peaks(y, n, run->rate, (float)audio_db_to_gain(LIMIT_CEILING_DBFS));
    if (err)
        return err;
    if (!run->rs)
        return emit_s16(run, y, n);
    audio_pcm_release(&run->rs_out);
    err = audio_resampler_feed(run->rs, y, n, &run->rs_out);
    return err ? err : emit_s16(run, run->rs_out.samples, run->rs_out.frames);
}

/* The next n frames of the looping bed into y, times gain. */
static void bed_take(struct run *run, float *y, size_t n, float gain)
{
    for (size_t i = 0; i < n; i++) {
        y[i] = run->bed.samples[run->bed_pos] * gain;
        if (++run->bed_pos == run->bed.frames)
            run->bed_pos = 0;
    }
}

/* Streams the ambience alone for seconds s, fading in (fade_in) or out. */
static enum vb_err stream_bed_alone(struct run *run, double s, bool fade_in)
{
    size_t n = (size_t)(s * run->rate);
    float *y = vb_try_malloc((n ? n : 1) * sizeof *y);
    if (!y)
        return VB_ERR_NOMEM;
    bed_take(run, y, n, run->amb_gain);
    if (fade_in)
        audio_fade_in(y, n, 1, n * 4 / 5);
    else
        audio_fade_out(y, n, 1, n * 4 / 5);
    enum vb_err err = emit_float(run, y, n);
    vb_free(y);
    return err;
}

/* Streams speech frames [from, to) of the joined speech: fixed gain estimated on the first
 * sentence, the ambience under it (ducked by the mixer) when asked, look-ahead limiter,
 * resampling to the output rate. */
static enum vb_err stream_out(struct run *run, size_t from, size_t to)
{
    float *x = run->speech.samples + from;
    size_t n = to - from;
    enum vb_err err = VB_OK;
    if (n == 0)
        return VB_OK;
    struct audio_pcm view = {.samples = x, .frames = n, .channels = 1, .sample_rate = run->rate};
    if (!run->gain_set) {
        struct audio_loudness l;
        double g = 0;
        if (audio_loudness_measure(&view, &l) == VB_OK && isfinite(l.integrated_lufs)) {
            g = AUDIO_LOUDNESS_TARGET_LUFS - l.integrated_lufs;
        } else {
            float peak = audio_peak(x, n);
            g = peak > 0 ? -3.0 - audio_gain_to_db(peak) : 0;
        }
        run->gain = (float)audio_db_to_gain(fmin(g, STREAM_MAX_GAIN_DB));
        run->gain_set = true;
    }
    if (run->bed.samples && !run->amb_started) {
        /* the bed's level: speech level + ambience_volume, as the mixer sets it */
        double speech_db = audio_mix_level_db(&view), bed_db = audio_mix_level_db(&run->bed);
        double db =
            (isfinite(speech_db) ? speech_db : bed_db) + run->r->ambience_volume_db - bed_db;
        run->amb_gain = isfinite(db) ? (float)audio_db_to_gain(db) : 0.0f;
        run->amb_started = true;
        struct audio_mix_params mp = audio_mix_default_params();
        if ((err = stream_bed_alone(run, mp.lead_in_s, true)))
            return err;
    }
    struct audio_pcm mixed = {0}, slice = {0};
    float *y = NULL;
    if (run->bed.samples) {
        /* this stretch of speech over the next stretch of bed, ducked by the mixer */
        struct audio_mix_params mp = audio_mix_default_params();
        mp.lead_in_s = mp.tail_s = mp.fade_in_s = mp.fade_out_s = 0;
        mp.volume_db = run->r->ambience_volume_db;
        err = audio_pcm_alloc(&slice, n, 1, run->rate);
        if (!err) {
            bed_take(run, slice.samples, n, 1.0f);
            err = audio_mix_ambience(&view, &slice, &mp, &mixed);
        }
        y = mixed.samples;
        mixed.samples = NULL;
        n = VB_MIN(n, mixed.frames);
    } else if (!(y = vb_try_malloc(n * sizeof *y))) {
        err = VB_ERR_NOMEM;
    } else {
        /* work on a copy: the joined speech stays raw for the offline pass */
        memcpy(y, x, n * sizeof *y);
    }
    if (!err)
        err = emit_float(run, y, n);
    vb_free(y);
    audio_pcm_release(&slice);
    audio_pcm_release(&mixed);
    return err;
}

static enum vb_err on_chunk(const float *pcm, size_t n, const struct tts_chunk *chunk, void *user)
{
    struct run *run = user;
    struct audio_pcm tmp = {0};
    if (n == 0)
        return VB_OK;
    enum vb_err err = audio_pcm_alloc(&tmp, n, 1, run->rate);
    if (err)
        return err;
    memcpy(tmp.samples, pcm, n * sizeof *pcm);
    audio_sanitize(tmp.samples, n, 1.0f);
    if (run->stretch) {
        double t = now_ms();
        struct audio_pcm st = {0};
        err = audio_stretch(&tmp, run->r->params.speed, &st);
        audio_pcm_release(&tmp);
        if (err)
            return err;
        tmp = st;
        run->stretch_ms += now_ms() - t;
    }
    struct audio_trim_params tp = audio_trim_default_params();
    tp.pad_ms = CHUNK_TRIM_PAD_MS;
    audio_pcm_trim_silence(&tmp, &tp, NULL, NULL);
    audio_pcm_fade(&tmp, CHUNK_FADE_MS, CHUNK_FADE_MS);
    size_t gap = run->have_prev ? (size_t)(gap_ms(run->prev_brk) * run->rate / 1000.0) : 0;
    size_t from = run->speech.frames;
    err = audio_pcm_append(&run->speech, &tmp, gap, run->max_frames);
    audio_pcm_release(&tmp);
    if (err)
        return err;
    run->have_prev = true;
    run->prev_brk = chunk->brk;
    if (run->cb && run->cb->on_audio)
        err = stream_out(run, from, run->speech.frames);
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
    return VB_OK;
}

static enum vb_err stream_begin(struct run *run)
{
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
    unsigned char h[44];
    wav_header(h, run->out_rate, 0xFFFFFFFFu);
    return run->cb->on_audio(h, sizeof h, run->cb->user);
}

static enum vb_err stream_end(struct run *run)
{
    if (run->bed.samples && run->amb_started) {
        struct audio_mix_params mp = audio_mix_default_params();
        enum vb_err err = stream_bed_alone(run, mp.tail_s, false);
        if (err)
            return err;
    }
    if (!run->rs)
        return VB_OK;
    audio_pcm_release(&run->rs_out);
    enum vb_err err = audio_resampler_feed(run->rs, NULL, 0, &run->rs_out);
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

/* Raw little-endian s16 of the whole PCM, optionally behind a WAV header. */
static enum vb_err encode_s16(const struct audio_pcm *pcm, bool header, unsigned char **out,
                              size_t *out_len)
{
    size_t hdr = header ? 44 : 0;
    if (pcm->frames > (SIZE_MAX - hdr) / 2 || pcm->frames * 2 > 0xFFFFFFF0u)
        return VB_ERR_TOO_LARGE;
    unsigned char *b = vb_try_malloc(hdr + pcm->frames * 2);
    if (!b)
        return VB_ERR_NOMEM;
    if (header)
        wav_header(b, pcm->sample_rate, (uint32_t)(pcm->frames * 2));
    for (size_t i = 0; i < pcm->frames; i++)
        put_le16(b + hdr + 2 * i, (uint16_t)to_s16(pcm->samples[i]));
    *out = b;
    *out_len = hdr + pcm->frames * 2;
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
    audio_pcm_release(&run->rs_out);
    audio_pcm_release(&run->bed);
    audio_resampler_free(run->rs);
    vb_free(run->s16);
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
    run.max_frames = (size_t)TTS_MAX_AUDIO_SECONDS * (size_t)run.rate;
    const char *fmt = format_name(r);
    run.pcm_raw = strcasecmp(fmt, TTS_FORMAT_PCM) == 0;
    run.stretch = !(tts_engine_caps(e) & TTS_CAP_SPEED) && fabs(r->params.speed - 1.0) > 1e-6;

    /* 1. synthesis, chunk by chunk, joined (and streamed) as the chunks arrive */
    if (streaming && (err = stream_begin(&run)))
        goto out;
    struct tts_callbacks ecb = {run_progress, run_cancelled, on_chunk, &run};
    err = tts_engine_stream(e, r->text, r->text_len, &r->params, &ecb);
    if (!err && streaming)
        err = stream_end(&run);
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
    run.t->stage_ms[TTS_STAGE_SYNTH] -= run.stretch_ms;
    run.t->stage_ms[TTS_STAGE_SPEED] += run.stretch_ms;
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
        err = encode_s16(&run.speech, false, &data, &len);
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
