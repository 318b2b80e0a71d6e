/* resample.c: libsoxr wrappers. SOXR_HQ keeps the passband flat to ~0.91 of Nyquist with
 * 20-bit precision, which is well past what speech needs and still fast. */
#include "core/vb.h"
#include "audio/resample.h"
#include "audio/pcm.h"
#include "core/alloc.h"
#include "core/log.h"

#include <math.h>
#include <soxr.h>

static bool rate_ok(int rate)
{
    return rate >= 1 && rate <= AUDIO_MAX_SAMPLE_RATE_HZ;
}

/* Output frames soxr may produce for `frames` input frames, with margin. */
static size_t out_capacity(size_t frames, int in_rate, int out_rate)
{
    return (size_t)ceil((double)frames * out_rate / in_rate) + 64;
}

enum vb_err audio_resample(const struct audio_pcm *in, int out_rate, struct audio_pcm *out)
{
    memset(out, 0, sizeof *out);
    if (!rate_ok(in->sample_rate) || !rate_ok(out_rate) || in->channels < 1 ||
        in->channels > AUDIO_MAX_CHANNELS || (in->frames && !in->samples))
        return VB_ERR_INVALID;
    if (in->sample_rate == out_rate)
        return audio_pcm_copy(out, in);

    enum vb_err err;
    size_t cap = out_capacity(in->frames, in->sample_rate, out_rate);
    err = audio_pcm_alloc(out, cap, in->channels, out_rate);
    if (err != VB_OK)
        return err;
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    size_t idone = 0, odone = 0;
    soxr_error_t serr = soxr_oneshot(in->sample_rate, out_rate, (unsigned)in->channels, in->samples,
                                     in->frames, &idone, out->samples, cap, &odone, &io, &q, NULL);
    if (serr) {
        vb_error("audio: soxr_oneshot %d->%d Hz: %s", in->sample_rate, out_rate, serr);
        audio_pcm_release(out);
        return VB_ERR_INTERNAL;
    }
    out->frames = odone;
    return VB_OK;
}

struct audio_resampler {
    soxr_t soxr;
    int in_rate, out_rate, channels;
};

struct audio_resampler *audio_resampler_new(int in_rate, int out_rate, int channels)
{
    if (!rate_ok(in_rate) || !rate_ok(out_rate) || channels < 1 || channels > AUDIO_MAX_CHANNELS)
        return NULL;
    struct audio_resampler *rs = vb_try_calloc(1, sizeof *rs);
    if (!rs)
        return NULL;
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    soxr_error_t serr = NULL;
    rs->soxr = soxr_create(in_rate, out_rate, (unsigned)channels, &serr, &io, &q, NULL);
    if (!rs->soxr || serr) {
        vb_error("audio: soxr_create %d->%d Hz: %s", in_rate, out_rate, serr ? serr : "?");
        if (rs->soxr)
            soxr_delete(rs->soxr);
        vb_free(rs);
        return NULL;
    }
    rs->in_rate = in_rate;
    rs->out_rate = out_rate;
    rs->channels = channels;
    return rs;
}

/* Makes room for `extra` more frames in out. */
static enum vb_err reserve(struct audio_pcm *out, size_t extra, size_t *cap_frames)
{
    size_t need = out->frames + extra;
    float *s = vb_try_realloc(out->samples, sizeof(float) * need * (size_t)out->channels);
    if (!s)
        return VB_ERR_NOMEM;
    out->samples = s;
    *cap_frames = need;
    return VB_OK;
}

enum vb_err audio_resampler_feed(struct audio_resampler *rs, const float *in, size_t frames,
                                 struct audio_pcm *out)
{
    if (!rs || (frames && !in))
        return VB_ERR_INVALID;
    if (out->samples == NULL && out->frames == 0) {
        out->channels = rs->channels;
        out->sample_rate = rs->out_rate;
    } else if (out->channels != rs->channels || out->sample_rate != rs->out_rate) {
        return VB_ERR_INVALID;
    }
    const bool flush = in == NULL;
    size_t consumed = 0;
    for (;;) {
        size_t cap = 0;
        size_t chunk = flush ? 4096 : out_capacity(frames - consumed, rs->in_rate, rs->out_rate);
        enum vb_err err = reserve(out, chunk, &cap);
        if (err != VB_OK)
            return err;
        size_t space = cap - out->frames, idone = 0, odone = 0;
        soxr_error_t serr = soxr_process(
            rs->soxr, flush ? NULL : in + consumed * (size_t)rs->channels, frames - consumed,
            &idone, out->samples + out->frames * (size_t)rs->channels, space, &odone);
        if (serr) {
            vb_error("audio: soxr_process: %s", serr);
            return VB_ERR_INTERNAL;
        }
        consumed += idone;
        out->frames += odone;
        /* Done when all input is taken and soxr did not fill the space we gave it. */
        if (consumed >= frames && odone < space)
            break;
        if (!flush && idone == 0 && odone == 0)
            return VB_ERR_INTERNAL; /* no progress: never loop forever */
    }
    return VB_OK;
}

void audio_resampler_free(struct audio_resampler *rs)
{
    if (!rs)
        return;
    soxr_delete(rs->soxr);
    vb_free(rs);
}
