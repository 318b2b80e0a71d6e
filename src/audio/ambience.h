/* ambience.h: built-in background ambiences (rain, office, cafe, street, wind, ocean,
 * forest, fireplace) synthesised procedurally: deterministic for a seed, any sample rate, any
 * length, no global state (safe to call from several threads). */
#ifndef VB_AUDIO_AMBIENCE_H
#define VB_AUDIO_AMBIENCE_H

#include "core/vb.h"
#include "core/err.h"
#include "audio/decode.h"

/* Rendered ambiences are normalised to this RMS level (and peaks softly kept under -1 dBFS). */
#define AUDIO_AMBIENCE_RMS_DBFS (-20.0)
/* Longest ambience one call renders: 15 minutes at 48 kHz. */
#define AUDIO_AMBIENCE_MAX_FRAMES ((size_t)48000 * 900)

struct audio_ambience_desc {
    const char *id;          /* stable identifier used by `ambience_id`: "rain", ... */
    const char *name;        /* display name */
    const char *description; /* one sentence for GET /ambiences */
};

size_t audio_ambience_count(void);
/* i-th built-in ambience (static storage); NULL past the end. */
const struct audio_ambience_desc *audio_ambience_at(size_t i);
/* By id (exact match); NULL when unknown. */
const struct audio_ambience_desc *audio_ambience_find(const char *id);

/* Renders `frames` frames of ambience `id` at `sample_rate` (8000..384000) as mono PCM in
 * `out` (caller releases with audio_pcm_release). The same (id, seed, rate, frames) always
 * gives the same samples. Errors: VB_ERR_UNPROCESSABLE for an unknown id, VB_ERR_INVALID for
 * a bad rate, VB_ERR_TOO_LARGE over AUDIO_AMBIENCE_MAX_FRAMES, VB_ERR_NOMEM. */
VB_WUR enum vb_err audio_ambience_render(const char *id, uint64_t seed, int sample_rate,
                                         size_t frames, struct audio_pcm *out);

#endif
