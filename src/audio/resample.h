/* resample.h: sample-rate conversion with libsoxr at high quality (SOXR_HQ: 20-bit precision,
 * linear phase), one-shot for whole buffers and start/feed/stop for streams. */
#ifndef VB_AUDIO_RESAMPLE_H
#define VB_AUDIO_RESAMPLE_H

#include "core/vb.h"
#include "core/err.h"
#include "audio/decode.h"

/* Resamples `in` (any channel count, borrowed) to `out_rate` into `out` (caller releases with
 * audio_pcm_release). Equal rates give a copy. Errors: VB_ERR_INVALID (rate outside
 * 1..AUDIO_MAX_SAMPLE_RATE_HZ, no channels), VB_ERR_NOMEM, VB_ERR_INTERNAL (libsoxr). */
VB_WUR enum vb_err audio_resample(const struct audio_pcm *in, int out_rate, struct audio_pcm *out);

/* Streaming resampler: feed chunks as they arrive, then flush. Opaque; one per stream. */
struct audio_resampler;

/* Caller frees with audio_resampler_free. NULL on bad rates/channels or OOM. */
struct audio_resampler *audio_resampler_new(int in_rate, int out_rate, int channels);
/* Converts `frames` interleaved input frames (borrowed) and appends the output to `out`
 * (which must be empty or have the output rate and channels; grown as needed). Passing
 * in == NULL, frames == 0 flushes the filter's tail (call once at the end). */
VB_WUR enum vb_err audio_resampler_feed(struct audio_resampler *rs, const float *in, size_t frames,
                                        struct audio_pcm *out);
void audio_resampler_free(struct audio_resampler *rs);

#endif
