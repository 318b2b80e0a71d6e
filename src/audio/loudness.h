/* loudness.h: EBU R128 measurement with libebur128 (integrated LUFS, true peak; mono is
 * measured as one channel, as ITU-R BS.1770 specifies) and
 * normalisation of a signal to a loudness target under a true-peak ceiling. */
#ifndef VB_AUDIO_LOUDNESS_H
#define VB_AUDIO_LOUDNESS_H

#include "core/vb.h"
#include "core/err.h"
#include "audio/decode.h"

#define AUDIO_LOUDNESS_TARGET_LUFS   (-16.0)
#define AUDIO_TRUE_PEAK_CEILING_DBTP (-1.0)

struct audio_loudness {
    double integrated_lufs; /* -INFINITY when the signal is silent or shorter than 400 ms */
    double true_peak_dbtp;  /* max over channels, 4x oversampled; -INFINITY for digital zero */
    double sample_peak_dbfs;
};

/* Measures `pcm` (borrowed). VB_ERR_INVALID on an empty/odd PCM, VB_ERR_NOMEM,
 * VB_ERR_INTERNAL when libebur128 fails. */
VB_WUR enum vb_err audio_loudness_measure(const struct audio_pcm *pcm, struct audio_loudness *out);

/* Integrated loudness only (cheaper: no 4x oversampled true peak). *lufs is -INFINITY for
 * silence or signals under 400 ms. Same errors as audio_loudness_measure. */
VB_WUR enum vb_err audio_loudness_integrated(const struct audio_pcm *pcm, double *lufs);

struct audio_normalize_params {
    double target_lufs;    /* integrated loudness to reach; default -16 */
    double true_peak_dbtp; /* ceiling the gain must respect; default -1 */
    double max_gain_db;    /* never amplify by more than this (noise guard); default 30 */
};
struct audio_normalize_params audio_normalize_default_params(void);

/* Scales `pcm` in place so its integrated loudness is the target, lowering the gain when the
 * true peak would exceed the ceiling (so the result may land below the target; never above
 * the ceiling). Signals without a measurable loudness (silence, < 400 ms) are only scaled
 * to respect the ceiling. `before`/`after` (optional) receive the measurements and
 * `gain_db` (optional) the gain applied. */
VB_WUR enum vb_err audio_loudness_normalize(struct audio_pcm *pcm,
                                            const struct audio_normalize_params *params,
                                            struct audio_loudness *before,
                                            struct audio_loudness *after, double *gain_db);

#endif
