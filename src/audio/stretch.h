/* stretch.h: tempo change without pitch change (speed 0.5-2.0) by WSOLA, implemented here
 * (see stretch.c for the algorithm and why it was chosen). */
#ifndef VB_AUDIO_STRETCH_H
#define VB_AUDIO_STRETCH_H

#include "core/vb.h"
#include "core/err.h"
#include "audio/decode.h"

#define AUDIO_STRETCH_MIN_SPEED 0.5
#define AUDIO_STRETCH_MAX_SPEED 2.0

/* Plays `in` (borrowed; any rate, any channels) `speed` times faster at the same pitch:
 * out->frames ~= in->frames / speed. `out` is caller-owned (audio_pcm_release). speed == 1
 * gives a copy. Errors: VB_ERR_INVALID (speed outside [0.5, 2.0] or not finite, bad PCM),
 * VB_ERR_NOMEM. */
VB_WUR enum vb_err audio_stretch(const struct audio_pcm *in, double speed, struct audio_pcm *out);

#endif
