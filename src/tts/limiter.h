/* limiter.h: the look-ahead peak limiter of the speech pipeline, on a whole signal or on a
 * stream fed in pieces (the stream gives the same samples, LIMIT_LOOKAHEAD_MS later, so a
 * streamed response never pumps or clicks where pieces meet).
 *
 *   tts_limit_peaks(x, n, 24000, 0.84f);                 // whole signal, in place
 *
 *   struct tts_limiter l; tts_limiter_init(&l, 24000, 0.84f);
 *   tts_limiter_feed(&l, piece, n, &out);                // out: what is final so far
 *   tts_limiter_feed(&l, NULL, 0, &out);                 // end: the held-back rest
 *   tts_limiter_release(&l);
 */
#ifndef VB_TTS_LIMITER_H
#define VB_TTS_LIMITER_H

#include "core/vb.h"
#include "core/err.h"
#include "audio/decode.h"

#define TTS_LIMIT_LOOKAHEAD_MS 4.0
#define TTS_LIMIT_RELEASE_MS   60.0

/* Limits x[0, n) (mono, rate Hz) in place so that no sample exceeds ceiling (linear): a
 * gain envelope that starts to fall TTS_LIMIT_LOOKAHEAD_MS before a sample over the
 * ceiling, reaches at most ceiling/|x| on it and recovers with an exponential release.
 * VB_ERR_NOMEM. */
VB_WUR enum vb_err tts_limit_peaks(float *x, size_t n, int rate, float ceiling);

/* The same limiter on a stream. */
struct tts_limiter {
    /* private */
    float ceiling, rel;
    size_t la;   /* look-ahead in samples */
    float *pend; /* input not yet output (< la + new samples) */
    size_t n_pend, cap_pend;
    float *hist;   /* ring of the last la envelope values */
    size_t n_done; /* samples output so far */
    double sum;    /* running sum of the ring */
    float env;     /* release state */
    float *tmp;    /* per-call scratch (req, h) */
    size_t cap_tmp;
};

void tts_limiter_init(struct tts_limiter *l, int rate, float ceiling);
void tts_limiter_release(struct tts_limiter *l);
/* Feeds n samples (x may be NULL with n 0: end of stream, everything held back comes out).
 * out (released and refilled; mono, rate unset) receives the samples that are final: all
 * but the last la - 1 fed so far, or all at the end. VB_ERR_NOMEM. */
VB_WUR enum vb_err tts_limiter_feed(struct tts_limiter *l, const float *x, size_t n,
                                    struct audio_pcm *out);

#endif
