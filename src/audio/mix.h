/* mix.h: puts an ambience under speech: the ambience is looped (with crossfades) or cut to
 * the speech length plus a lead-in and a tail, set to a level relative to the speech, ducked
 * by a side-chain driven by the speech envelope (attack/release, with look-ahead so the dip
 * starts just before a word), and faded in and out. */
#ifndef VB_AUDIO_MIX_H
#define VB_AUDIO_MIX_H

#include "core/vb.h"
#include "core/err.h"
#include "audio/decode.h"

#define AUDIO_AMBIENCE_VOLUME_DB_DEFAULT (-20.0)
/* Accepted range of volume_db (ambience relative to speech), for request validation. */
#define AUDIO_AMBIENCE_VOLUME_DB_MIN (-60.0)
#define AUDIO_AMBIENCE_VOLUME_DB_MAX 6.0

struct audio_mix_params {
    double lead_in_s;        /* ambience alone before the speech; default 0.5 */
    double tail_s;           /* ambience alone after the speech; default 1.0 */
    double volume_db;        /* ambience loudness relative to the speech, within
                                [AUDIO_AMBIENCE_VOLUME_DB_MIN, _MAX]; default -20 */
    double duck_db;          /* extra attenuation while speech is present; default -8 */
    double attack_ms;        /* time to duck (also the look-ahead); default 50 */
    double release_ms;       /* time to come back up after speech stops; default 400 */
    double threshold_db;     /* speech envelope above (speech level + this) ducks; default -24 */
    double fade_in_s;        /* ambience fade-in at the start; default 0.4 */
    double fade_out_s;       /* ambience fade-out at the end; default 0.8 */
    double loop_crossfade_s; /* crossfade when a short ambience loops; default 0.5 */
};
struct audio_mix_params audio_mix_default_params(void);

/* Mixes `ambience` (borrowed; any rate, any channels: downmixed and resampled to the speech
 * rate) under `speech` (borrowed; mono) into `out` (mono, speech rate, caller releases):
 * out has lead_in + speech + tail frames and the speech starts at lead_in. The result is not
 * normalised (run loudness normalisation afterwards). Errors: VB_ERR_INVALID (speech not
 * mono, empty ambience, bad parameters), VB_ERR_NOMEM. `params` NULL = defaults. */
VB_WUR enum vb_err audio_mix_ambience(const struct audio_pcm *speech,
                                      const struct audio_pcm *ambience,
                                      const struct audio_mix_params *params, struct audio_pcm *out);

/* Level of speech used for relative mixing: integrated loudness in LUFS when the signal is
 * long enough, otherwise a gated RMS in dBFS (loud windows only). -INFINITY when silent. */
double audio_mix_level_db(const struct audio_pcm *pcm);

/* The ducking side chain: a fast peak follower of the speech (released over 30 ms) against
 * a threshold; the bed's gain glides to duck_db with the attack time while the envelope is
 * above it and back to 1 with the release time. The detector is meant to see the speech
 * `look` frames (the attack time) ahead of the output, so the dip starts before a word. */
struct audio_ducker {
    size_t look;                       /* look-ahead in frames */
    float env_rel, g_att, g_rel, duck; /* one-pole coefficients, ducked gain */
    float thr;                         /* envelope above this ducks (INFINITY: never) */
    float env, gain;                   /* state: envelope, current gain (starts at 1) */
};
/* Side chain of `p`'s attack/release/duck_db at `rate`, threshold `thr` (linear). */
void audio_ducker_init(struct audio_ducker *d, const struct audio_mix_params *p, int rate,
                       float thr);
/* Feeds |speech| seen by the detector for one output frame; returns the bed's gain there. */
float audio_ducker_step(struct audio_ducker *d, float s);

/* Fills dst[0..n) by looping src[0..src_n) with equal-power crossfades of xfade frames
 * (clamped to half the source); src_n >= n is a plain copy. Mono. */
void audio_loop_fill(float *dst, size_t n, const float *src, size_t src_n, size_t xfade);

#endif
