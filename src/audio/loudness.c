/* loudness.c: libebur128 wrappers: one state per measurement, fed in one call. */
#include "core/vb.h"
#include "audio/loudness.h"
#include "audio/pcm.h"
#include "core/log.h"

#include <ebur128.h>
#include <math.h>

enum vb_err audio_loudness_measure(const struct audio_pcm *pcm, struct audio_loudness *out)
{
    out->integrated_lufs = -INFINITY;
    out->true_peak_dbtp = -INFINITY;
    out->sample_peak_dbfs = -INFINITY;
    if (pcm->channels < 1 || pcm->channels > AUDIO_MAX_CHANNELS || pcm->sample_rate < 1 ||
        (pcm->frames && !pcm->samples))
        return VB_ERR_INVALID;
    if (pcm->frames == 0)
        return VB_OK;
    enum vb_err err = VB_OK;
    ebur128_state *st =
        ebur128_init((unsigned)pcm->channels, (unsigned long)pcm->sample_rate,
                     EBUR128_MODE_I | EBUR128_MODE_TRUE_PEAK | EBUR128_MODE_SAMPLE_PEAK);
    if (!st)
        return VB_ERR_NOMEM;
    if (ebur128_add_frames_float(st, pcm->samples, pcm->frames) != EBUR128_SUCCESS) {
        err = VB_ERR_INTERNAL;
        goto out;
    }
    double lufs = -HUGE_VAL;
    if (ebur128_loudness_global(st, &lufs) != EBUR128_SUCCESS) {
        err = VB_ERR_INTERNAL;
        goto out;
    }
    out->integrated_lufs = isfinite(lufs) ? lufs : -INFINITY;
    double tp = 0.0, sp = 0.0;
    for (unsigned c = 0; c < (unsigned)pcm->channels; c++) {
        double v = 0.0;
        if (ebur128_true_peak(st, c, &v) == EBUR128_SUCCESS && v > tp)
            tp = v;
        if (ebur128_sample_peak(st, c, &v) == EBUR128_SUCCESS && v > sp)
            sp = v;
    }
    out->true_peak_dbtp = audio_gain_to_db(tp);
    out->sample_peak_dbfs = audio_gain_to_db(sp);
out:
    if (err != VB_OK)
        vb_error("audio: libebur128 measurement failed");
    ebur128_destroy(&st);
    return err;
}

enum vb_err audio_loudness_integrated(const struct audio_pcm *pcm, double *lufs)
{
    *lufs = -INFINITY;
    if (pcm->channels < 1 || pcm->channels > AUDIO_MAX_CHANNELS || pcm->sample_rate < 1 ||
        (pcm->frames && !pcm->samples))
        return VB_ERR_INVALID;
    if (pcm->frames == 0)
        return VB_OK;
    ebur128_state *st =
        ebur128_init((unsigned)pcm->channels, (unsigned long)pcm->sample_rate, EBUR128_MODE_I);
    if (!st)
        return VB_ERR_NOMEM;
    enum vb_err err = VB_OK;
    double v = -HUGE_VAL;
    if (ebur128_add_frames_float(st, pcm->samples, pcm->frames) != EBUR128_SUCCESS ||
        ebur128_loudness_global(st, &v) != EBUR128_SUCCESS)
        err = VB_ERR_INTERNAL;
    else if (isfinite(v))
        *lufs = v;
    ebur128_destroy(&st);
    return err;
}

struct audio_normalize_params audio_normalize_default_params(void)
{
    return (struct audio_normalize_params){
        .target_lufs = AUDIO_LOUDNESS_TARGET_LUFS,
        .true_peak_dbtp = AUDIO_TRUE_PEAK_CEILING_DBTP,
        .max_gain_db = 30.0,
    };
}

enum vb_err audio_loudness_normalize(struct audio_pcm *pcm,
                                     const struct audio_normalize_params *params,
                                     struct audio_loudness *before, struct audio_loudness *after,
                                     double *gain_db)
{
    struct audio_normalize_params p = params ? *params : audio_normalize_default_params();
    struct audio_loudness m;
    enum vb_err err = audio_loudness_measure(pcm, &m);
    if (err != VB_OK)
        return err;
    if (before)
        *before = m;
    double g = 0.0;
    if (isfinite(m.integrated_lufs))
        g = VB_MIN(p.target_lufs - m.integrated_lufs, p.max_gain_db);
    if (isfinite(m.true_peak_dbtp) && m.true_peak_dbtp + g > p.true_peak_dbtp)
        g = p.true_peak_dbtp - m.true_peak_dbtp;
    if (!isfinite(m.true_peak_dbtp))
        g = 0.0; /* digital silence */
    audio_apply_gain(pcm->samples, pcm->frames * (size_t)pcm->channels, (float)audio_db_to_gain(g));
    if (gain_db)
        *gain_db = g;
    if (after) {
        /* Gain is linear: the measurements shift by g without re-running the meter. */
        after->integrated_lufs = m.integrated_lufs + g;
        after->true_peak_dbtp = m.true_peak_dbtp + g;
        after->sample_peak_dbfs = m.sample_peak_dbfs + g;
    }
    return VB_OK;
}
