/* pcm.h: elementary operations on float PCM: downmix, peak/RMS, gain, fades and trimming of
 * leading/trailing silence. Pure functions on caller-owned buffers; no allocation except
 * where stated. */
#ifndef VB_AUDIO_PCM_H
#define VB_AUDIO_PCM_H

#include "core/vb.h"
#include "core/err.h"
#include "audio/decode.h"

/* dB <-> linear amplitude. audio_gain_to_db(0) is -INFINITY. */
double audio_db_to_gain(double db);
double audio_gain_to_db(double gain);

/* Largest |x[i]| over n samples (0 for n == 0). */
float audio_peak(const float *x, size_t n);
/* Root mean square over n samples (0 for n == 0). */
double audio_rms(const float *x, size_t n);
/* Multiplies n samples by gain. */
void audio_apply_gain(float *x, size_t n, float gain);

/* Downmixes interleaved PCM to mono in place (average of the channels); the buffer keeps its
 * allocation. No-op for mono. */
void audio_pcm_to_mono(struct audio_pcm *pcm);

/* Raised-cosine fade-in over the first `fade_frames` frames / fade-out over the last ones
 * (clamped to the length). Interleaved, all channels alike. */
void audio_fade_in(float *x, size_t frames, int channels, size_t fade_frames);
void audio_fade_out(float *x, size_t frames, int channels, size_t fade_frames);
/* Both fades given in milliseconds at the PCM's rate (0 = none). */
void audio_pcm_fade(struct audio_pcm *pcm, double in_ms, double out_ms);

struct audio_trim_params {
    double threshold_dbfs; /* a 10 ms window whose RMS is above this is sound; default -50 */
    double pad_ms;         /* silence kept before the first and after the last sound; 50 */
};
struct audio_trim_params audio_trim_default_params(void);

/* Removes leading and trailing silence in place (memmove; allocation kept), keeping `pad_ms`
 * on each side. A signal with no sound at all is left unchanged. Reports the frames removed
 * at the start and end through the optional pointers. */
void audio_pcm_trim_silence(struct audio_pcm *pcm, const struct audio_trim_params *params,
                            size_t *removed_start, size_t *removed_end);

/* Appends `src` (same rate and channels) to `dst` after `gap_frames` frames of silence,
 * growing dst->samples; dst may be empty (zeroed struct, then it takes src's format).
 * Fails with VB_ERR_TOO_LARGE when the result would exceed max_frames (0 = no limit),
 * VB_ERR_INVALID on a format mismatch, VB_ERR_NOMEM; dst is unchanged on failure. */
VB_WUR enum vb_err audio_pcm_append(struct audio_pcm *dst, const struct audio_pcm *src,
                                    size_t gap_frames, size_t max_frames);

/* Deep copy: dst gets its own samples (caller releases). VB_ERR_NOMEM. */
VB_WUR enum vb_err audio_pcm_copy(struct audio_pcm *dst, const struct audio_pcm *src);

/* Replaces NaN/inf by 0 and clamps to [-limit, limit]; returns how many were non-finite. */
size_t audio_sanitize(float *x, size_t n, float limit);

#endif
