/* pcm.c: elementary PCM operations (see pcm.h). */
#include "core/vb.h"
#include "audio/pcm.h"
#include "core/alloc.h"

#include <math.h>

double audio_db_to_gain(double db)
{
    return pow(10.0, db / 20.0);
}

double audio_gain_to_db(double gain)
{
    return gain > 0.0 ? 20.0 * log10(gain) : -INFINITY;
}

float audio_peak(const float *x, size_t n)
{
    float p = 0.0f;
    for (size_t i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        if (a > p)
            p = a;
    }
    return p;
}

double audio_rms(const float *x, size_t n)
{
    if (n == 0)
        return 0.0;
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)x[i] * (double)x[i];
    return sqrt(s / (double)n);
}

void audio_apply_gain(float *x, size_t n, float gain)
{
    for (size_t i = 0; i < n; i++)
        x[i] *= gain;
}

void audio_pcm_to_mono(struct audio_pcm *pcm)
{
    if (pcm->channels <= 1)
        return;
    const size_t ch = (size_t)pcm->channels;
    for (size_t f = 0; f < pcm->frames; f++) {
        float acc = 0.0f;
        for (size_t c = 0; c < ch; c++)
            acc += pcm->samples[f * ch + c];
        pcm->samples[f] = acc / (float)ch;
    }
    pcm->channels = 1;
}

/* Raised-cosine ramp value at step i of n: 0 at i = 0 rising towards 1. */
static float ramp(size_t i, size_t n)
{
    return (float)(0.5 - 0.5 * cos(M_PI * (double)i / (double)n));
}

void audio_fade_in(float *x, size_t frames, int channels, size_t fade_frames)
{
    size_t n = VB_MIN(fade_frames, frames), ch = (size_t)(channels > 0 ? channels : 1);
    for (size_t i = 0; i < n; i++) {
        float g = ramp(i, n);
        for (size_t c = 0; c < ch; c++)
            x[i * ch + c] *= g;
    }
}

void audio_fade_out(float *x, size_t frames, int channels, size_t fade_frames)
{
    size_t n = VB_MIN(fade_frames, frames), ch = (size_t)(channels > 0 ? channels : 1);
    for (size_t i = 0; i < n; i++) {
        float g = ramp(i, n);
        size_t f = frames - 1 - i;
        for (size_t c = 0; c < ch; c++)
            x[f * ch + c] *= g;
    }
}

static size_t ms_to_frames(double ms, int rate)
{
    if (!(ms > 0.0) || rate <= 0)
        return 0;
    return (size_t)(ms * rate / 1000.0 + 0.5);
}

void audio_pcm_fade(struct audio_pcm *pcm, double in_ms, double out_ms)
{
    if (!pcm->samples)
        return;
    audio_fade_in(pcm->samples, pcm->frames, pcm->channels, ms_to_frames(in_ms, pcm->sample_rate));
    audio_fade_out(pcm->samples, pcm->frames, pcm->channels,
                   ms_to_frames(out_ms, pcm->sample_rate));
}

struct audio_trim_params audio_trim_default_params(void)
{
    return (struct audio_trim_params){.threshold_dbfs = -50.0, .pad_ms = 50.0};
}

/* RMS of window [start, start+len) over all channels is above `thr2` (threshold squared). */
static bool window_loud(const struct audio_pcm *pcm, size_t start, size_t len, double thr2)
{
    const size_t ch = (size_t)pcm->channels;
    double s = 0.0;
    size_t end = VB_MIN(start + len, pcm->frames);
    if (end <= start)
        return false;
    for (size_t i = start * ch; i < end * ch; i++)
        s += (double)pcm->samples[i] * (double)pcm->samples[i];
    return s / (double)((end - start) * ch) > thr2;
}

void audio_pcm_trim_silence(struct audio_pcm *pcm, const struct audio_trim_params *params,
                            size_t *removed_start, size_t *removed_end)
{
    struct audio_trim_params p = params ? *params : audio_trim_default_params();
    if (removed_start)
        *removed_start = 0;
    if (removed_end)
        *removed_end = 0;
    if (!pcm->samples || pcm->frames == 0 || pcm->channels < 1)
        return;
    const double thr = audio_db_to_gain(p.threshold_dbfs), thr2 = thr * thr;
    size_t win = VB_MAX(ms_to_frames(10.0, pcm->sample_rate), (size_t)1);
    size_t hop = VB_MAX(win / 4, (size_t)1);
    size_t first = SIZE_MAX, last = 0;
    for (size_t s = 0; s < pcm->frames; s += hop) {
        if (window_loud(pcm, s, win, thr2)) {
            first = s;
            break;
        }
    }
    if (first == SIZE_MAX)
        return; /* no sound at all: leave it for the caller's silence check */
    for (size_t e = pcm->frames; e > first; e = e > hop ? e - hop : 0) {
        size_t s = e > win ? e - win : 0;
        if (window_loud(pcm, s, e - s, thr2)) {
            last = e;
            break;
        }
    }
    if (last <= first)
        last = pcm->frames;
    size_t pad = ms_to_frames(p.pad_ms, pcm->sample_rate);
    size_t start = first > pad ? first - pad : 0;
    size_t end = VB_MIN(last + pad, pcm->frames);
    const size_t ch = (size_t)pcm->channels;
    if (start > 0)
        memmove(pcm->samples, pcm->samples + start * ch, sizeof(float) * (end - start) * ch);
    if (removed_start)
        *removed_start = start;
    if (removed_end)
        *removed_end = pcm->frames - end;
    pcm->frames = end - start;
}

enum vb_err audio_pcm_append(struct audio_pcm *dst, const struct audio_pcm *src, size_t gap_frames,
                             size_t max_frames)
{
    if (src->channels < 1 || src->sample_rate < 1)
        return VB_ERR_INVALID;
    bool empty = dst->samples == NULL && dst->frames == 0;
    if (!empty && (dst->channels != src->channels || dst->sample_rate != src->sample_rate))
        return VB_ERR_INVALID;
    size_t add = src->frames + gap_frames;
    if (add < src->frames || dst->frames + add < dst->frames)
        return VB_ERR_TOO_LARGE;
    size_t total = dst->frames + add;
    if (max_frames && total > max_frames)
        return VB_ERR_TOO_LARGE;
    const size_t ch = (size_t)src->channels;
    if (total > SIZE_MAX / sizeof(float) / ch)
        return VB_ERR_TOO_LARGE;
    float *s = vb_try_realloc(dst->samples, sizeof(float) * (total ? total : 1) * ch);
    if (!s)
        return VB_ERR_NOMEM;
    memset(s + dst->frames * ch, 0, sizeof(float) * gap_frames * ch);
    if (src->frames)
        memcpy(s + (dst->frames + gap_frames) * ch, src->samples, sizeof(float) * src->frames * ch);
    dst->samples = s;
    dst->frames = total;
    dst->channels = src->channels;
    dst->sample_rate = src->sample_rate;
    return VB_OK;
}

enum vb_err audio_pcm_copy(struct audio_pcm *dst, const struct audio_pcm *src)
{
    enum vb_err err = audio_pcm_alloc(dst, src->frames, src->channels, src->sample_rate);
    if (err == VB_OK && src->frames)
        memcpy(dst->samples, src->samples, sizeof(float) * src->frames * (size_t)src->channels);
    return err;
}

size_t audio_sanitize(float *x, size_t n, float limit)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) {
            x[i] = 0.0f;
            bad++;
        } else if (x[i] > limit) {
            x[i] = limit;
        } else if (x[i] < -limit) {
            x[i] = -limit;
        }
    }
    return bad;
}
