/* stretch.c: WSOLA (waveform-similarity overlap-add, Verhelst & Roelands 1993).
 *
 * Algorithm. The output is built from windowed segments of the input, overlap-added at a
 * fixed synthesis hop Hs = N/2 (N = 25 ms, periodic Hann window, whose 50 % overlaps sum to
 * one). Output segment k would naively come from input position k*Ha with the analysis hop
 * Ha = speed * Hs: that alone (plain OLA) changes the tempo but adds segments out of phase,
 * giving a rough, phasey sound. WSOLA instead lets segment k start anywhere in
 * [k*Ha - D, k*Ha + D] (D = 10 ms) and picks the start whose waveform best matches the
 * "natural continuation" of the previous segment, i.e. the input that followed it at
 * previous_start + Hs. Overlapping parts are then (nearly) in phase, so pitch periods line up
 * and the waveform stays continuous. The match is the normalised cross-correlation,
 * searched coarsely on every 2nd lag with every 2nd sample, then refined at lags +-1 around
 * the best coarse lag. Multichannel input is aligned on its downmix and every channel is
 * overlap-added with the same offsets, keeping channels in sync.
 *
 * Why WSOLA. Speech is mostly quasi-periodic voiced sound plus short noise bursts: aligning
 * whole pitch periods in the time domain keeps formants and pitch intact, keeps transients
 * sharp (no phase-vocoder "phasiness"/smearing), needs no pitch detector (unlike PSOLA),
 * and sounds good over 0.5-2x, the range we accept. It is a few hundred lines of plain C
 * with no external dependency and costs a few hundred multiply-adds per output sample. */
#include "core/vb.h"
#include "audio/stretch.h"
#include "audio/pcm.h"
#include "core/alloc.h"

#include <math.h>

#define WINDOW_MS    25.0 /* N: segment length */
#define TOLERANCE_MS 10.0 /* D: how far a segment may move from its nominal position */

/* Normalised cross-correlation of template t and candidate c over n samples, every
 * `step`-th sample; four float accumulators keep the loop short and pipelined. */
static double similarity(const float *t, const float *c, size_t n, size_t step)
{
    float tc[4] = {0}, cc[4] = {0};
    size_t i = 0;
    for (; i + 3 * step < n; i += 4 * step) {
        for (size_t k = 0; k < 4; k++) {
            float cv = c[i + k * step];
            tc[k] += t[i + k * step] * cv;
            cc[k] += cv * cv;
        }
    }
    for (; i < n; i += step) {
        tc[0] += t[i] * c[i];
        cc[0] += c[i] * c[i];
    }
    double num = (double)tc[0] + tc[1] + tc[2] + tc[3];
    double den = (double)cc[0] + cc[1] + cc[2] + cc[3] + 1e-12;
    return num / sqrt(den);
}

enum vb_err audio_stretch(const struct audio_pcm *in, double speed, struct audio_pcm *out)
{
    memset(out, 0, sizeof *out);
    if (!isfinite(speed) || speed < AUDIO_STRETCH_MIN_SPEED || speed > AUDIO_STRETCH_MAX_SPEED)
        return VB_ERR_INVALID;
    if (in->channels < 1 || in->channels > AUDIO_MAX_CHANNELS || in->sample_rate < 1 ||
        (in->frames && !in->samples))
        return VB_ERR_INVALID;
    if (speed == 1.0 || in->frames == 0)
        return audio_pcm_copy(out, in);

    const size_t ch = (size_t)in->channels;
    size_t n_win = (size_t)(WINDOW_MS * in->sample_rate / 1000.0) & ~(size_t)1;
    if (n_win < 16)
        n_win = 16;
    const size_t hs = n_win / 2;
    const size_t tol = VB_MAX((size_t)(TOLERANCE_MS * in->sample_rate / 1000.0), (size_t)2);
    const double ha = speed * (double)hs;
    const size_t n_in = in->frames;
    const size_t n_out = (size_t)llround((double)n_in / speed);
    const size_t n_seg = n_out / hs + 2;

    /* Downmix padded with `front` zeros before and enough after that every candidate
     * segment and continuation lies inside. */
    const size_t front = tol + n_win;
    const size_t padded = front + n_in + tol + 3 * n_win + (size_t)ha + 1;
    float *mix = vb_try_calloc(padded, sizeof(float));
    float *win = vb_try_malloc(sizeof(float) * n_win);
    float *acc = vb_try_calloc((n_seg + 1) * hs + n_win, sizeof(float) * ch);
    float *wsum = vb_try_calloc((n_seg + 1) * hs + n_win, sizeof(float));
    enum vb_err err = VB_OK;
    if (!mix || !win || !acc || !wsum) {
        err = VB_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n_in; i++) {
        float s = 0.0f;
        for (size_t c = 0; c < ch; c++)
            s += in->samples[i * ch + c];
        mix[front + i] = s / (float)ch;
    }
    for (size_t i = 0; i < n_win; i++)
        win[i] = (float)(0.5 - 0.5 * cos(2.0 * M_PI * (double)i / (double)n_win));

    /* prev: padded-index start of the previous segment. */
    ptrdiff_t prev = (ptrdiff_t)front;
    for (size_t k = 0; k < n_seg; k++) {
        ptrdiff_t start;
        if (k == 0) {
            start = (ptrdiff_t)front;
        } else {
            const float *templ = mix + prev + (ptrdiff_t)hs; /* natural continuation */
            ptrdiff_t nominal = (ptrdiff_t)front + (ptrdiff_t)llround((double)k * ha);
            ptrdiff_t lo = nominal - (ptrdiff_t)tol, hi = nominal + (ptrdiff_t)tol;
            if (lo < 0)
                lo = 0;
            if (hi > (ptrdiff_t)(padded - n_win))
                hi = (ptrdiff_t)(padded - n_win);
            if (prev + (ptrdiff_t)hs > (ptrdiff_t)(padded - n_win) || lo > hi)
                break; /* past the end of the input (cannot happen with the padding) */
            ptrdiff_t best = nominal;
            double best_sim = -INFINITY;
            for (ptrdiff_t s = lo; s <= hi; s += 2) {
                double sim = similarity(templ, mix + s, n_win, 2);
                if (sim > best_sim) {
                    best_sim = sim;
                    best = s;
                }
            }
            ptrdiff_t coarse = best;
            best_sim = -INFINITY;
            for (ptrdiff_t s = coarse - 1; s <= coarse + 1; s++) {
                if (s < lo || s > hi)
                    continue;
                double sim = similarity(templ, mix + s, n_win, 1);
                if (sim > best_sim) {
                    best_sim = sim;
                    best = s;
                }
            }
            start = best;
        }
        /* Overlap-add every channel of input [start - front, + n_win) at k * hs. */
        size_t o = k * hs;
        for (size_t i = 0; i < n_win; i++) {
            ptrdiff_t src = start - (ptrdiff_t)front + (ptrdiff_t)i;
            wsum[o + i] += win[i];
            if (src < 0 || (size_t)src >= n_in)
                continue;
            for (size_t c = 0; c < ch; c++)
                acc[(o + i) * ch + c] += win[i] * in->samples[(size_t)src * ch + c];
        }
        prev = start;
    }

    err = audio_pcm_alloc(out, n_out, in->channels, in->sample_rate);
    if (err != VB_OK)
        goto out;
    /* Output sample 0 sits at the centre of the first window's rise; dividing by the window
     * sum undoes the ramp where only one segment covers the output. */
    for (size_t i = 0; i < n_out; i++) {
        float w = wsum[i];
        float g = w > 1e-3f ? 1.0f / w : 0.0f;
        for (size_t c = 0; c < ch; c++)
            out->samples[i * ch + c] = acc[i * ch + c] * g;
    }
out:
    vb_free(mix);
    vb_free(win);
    vb_free(acc);
    vb_free(wsum);
    return err;
}
