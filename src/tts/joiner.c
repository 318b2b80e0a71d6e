/* joiner.c: chunk audio -> one speech track (stretch, trim, fades, pauses), whole chunks or
 * pieces of them (see joiner.h). */
#include "core/vb.h"
#include "tts/joiner.h"
#include "audio/pcm.h"
#include "audio/stretch.h"
#include "core/alloc.h"
#include "core/log.h"

#include <math.h>
#include <time.h>

/* The trim's loudness windows (audio_pcm_trim_silence: 10 ms, hop a quarter of that). */
#define TRIM_WINDOW_MS 10.0
/* WSOLA geometry (audio/stretch.c): 25 ms segments at half-overlap, moved by up to 10 ms. */
#define WSOLA_WINDOW_MS    25.0
#define WSOLA_TOLERANCE_MS 10.0

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static size_t ms_frames(double ms, int rate)
{
    return (size_t)(ms * rate / 1000.0 + 0.5);
}

/* Pause after a chunk, by how it ends. */
static double gap_ms(enum tts_break b)
{
    switch (b) {
    case TTS_BREAK_SENTENCE:
        return 280.0;
    case TTS_BREAK_CLAUSE:
        return 160.0;
    case TTS_BREAK_WORD:
        return 50.0;
    case TTS_BREAK_HARD:
        return 0.0;
    }
    return 0.0;
}

void tts_joiner_init(struct tts_joiner *j, int rate, double speed, size_t max_frames)
{
    memset(j, 0, sizeof *j);
    j->rate = rate;
    j->speed = speed;
    j->max_frames = max_frames;
}

void tts_joiner_release(struct tts_joiner *j)
{
    if (!j)
        return;
    audio_pcm_release(&j->speech);
    vb_free(j->raw);
    memset(j, 0, sizeof *j);
}

static bool stretching(const struct tts_joiner *j)
{
    return fabs(j->speed - 1.0) > 1e-6;
}

/* Output samples of audio_stretch(first n input samples) that no later input changes: WSOLA
 * segment k is placed by a search over input around k * Ha (plus the tolerance, a segment
 * and the template after the previous one), and output i only sums segments k <= i / Hs. */
static size_t stretch_stable(const struct tts_joiner *j, size_t n)
{
    size_t win = (size_t)(WSOLA_WINDOW_MS * j->rate / 1000.0) & ~(size_t)1;
    if (win < 16)
        win = 16;
    size_t hs = win / 2, tol = VB_MAX((size_t)(WSOLA_TOLERANCE_MS * j->rate / 1000.0), 2);
    size_t need = tol + 2 * win + hs + 2; /* one extra segment of margin */
    if (n < need)
        return 0;
    size_t k = (size_t)floor((double)(n - need) / (j->speed * (double)hs));
    return (k + 1) * hs;
}

/* Mean square of x[s, s + len) above thr2 (the trim's window test). */
static bool loud(const float *x, size_t s, size_t len, double thr2)
{
    double sum = 0;
    for (size_t i = s; i < s + len; i++)
        sum += (double)x[i] * (double)x[i];
    return sum / (double)len > thr2;
}

/* Appends n samples of x after gap zeros. */
static enum vb_err append(struct tts_joiner *j, const float *x, size_t n, size_t gap)
{
    struct audio_pcm v = {
        .samples = (float *)x, .frames = n, .channels = 1, .sample_rate = j->rate};
    return audio_pcm_append(&j->speech, &v, gap, j->max_frames);
}

static size_t pause_frames(const struct tts_joiner *j)
{
    return j->have_prev ? (size_t)(gap_ms(j->prev_brk) * j->rate / 1000.0) : 0;
}

/* A piece that is not the chunk's last: appends what is final of the processed chunk x (m
 * samples known for good). */
static enum vb_err feed_partial(struct tts_joiner *j, const float *x, size_t m)
{
    struct audio_trim_params tp = audio_trim_default_params();
    double thr = audio_db_to_gain(tp.threshold_dbfs), thr2 = thr * thr;
    size_t win = VB_MAX(ms_frames(TRIM_WINDOW_MS, j->rate), (size_t)1);
    size_t hop = VB_MAX(win / 4, (size_t)1);
    size_t pad = ms_frames(TTS_JOIN_TRIM_PAD_MS, j->rate);
    size_t fin = ms_frames(TTS_JOIN_FADE_MS, j->rate);
    /* Trim windows wholly inside the known part, tested once each, in order: the first
     * loud one gives the trimmed start (as the trim finds it); the trim keeps at least up to
     * the latest loud one, so audio before that window is final (the fade-out lies after
     * the kept end). */
    for (; j->scan + win <= m; j->scan += hop) {
        if (!loud(x, j->scan, win, thr2))
            continue;
        if (!j->found) {
            j->found = true;
            j->start = j->scan > pad ? j->scan - pad : 0;
        }
        j->loud_to = j->scan;
    }
    if (!j->found)
        return VB_OK;
    size_t to = j->loud_to;
    if (to < j->start + fin || to <= j->start + j->done)
        return VB_OK; /* nothing new, or not past the fade-in yet */
    size_t from = j->start + j->done, n = to - from;
    float *y = vb_try_malloc(n * sizeof *y);
    float *g = vb_try_malloc((fin ? fin : 1) * sizeof *g);
    enum vb_err err = VB_OK;
    if (!y || !g) {
        err = VB_ERR_NOMEM;
        goto out;
    }
    memcpy(y, x + from, n * sizeof *y);
    /* the fade-in gains exactly as audio_pcm_fade computes them on the whole chunk */
    for (size_t i = 0; i < fin; i++)
        g[i] = 1.0f;
    audio_fade_in(g, fin, 1, fin);
    for (size_t p = j->done; p < fin && p < j->done + n; p++)
        y[p - j->done] *= g[p];
    if ((err = append(j, y, n, j->started ? 0 : pause_frames(j))))
        goto out;
    j->started = true;
    j->done += n;
out:
    vb_free(y);
    vb_free(g);
    return err;
}

/* The chunk's last piece: the whole chunk processed as in one piece; what is not appended
 * yet is appended. */
static enum vb_err feed_last(struct tts_joiner *j, const struct audio_pcm *x)
{
    struct audio_pcm p = {0};
    enum vb_err err = audio_pcm_copy(&p, x);
    if (err)
        return err;
    struct audio_trim_params tp = audio_trim_default_params();
    tp.pad_ms = TTS_JOIN_TRIM_PAD_MS;
    size_t removed = 0;
    audio_pcm_trim_silence(&p, &tp, &removed, NULL);
    audio_pcm_fade(&p, TTS_JOIN_FADE_MS, TTS_JOIN_FADE_MS);
    if (!j->started) {
        err = append(j, p.samples, p.frames, pause_frames(j));
    } else {
        if (removed != j->start || p.frames < j->done)
            vb_debug("tts: streamed chunk trimmed differently at its end (start %zu/%zu, %zu "
                     "of %zu samples already out)",
                     j->start, removed, j->done, p.frames);
        if (p.frames > j->done)
            err = append(j, p.samples + j->done, p.frames - j->done, 0);
    }
    audio_pcm_release(&p);
    return err;
}

static void chunk_reset(struct tts_joiner *j)
{
    j->raw_n = 0;
    j->start = j->done = j->scan = j->loud_to = 0;
    j->started = j->found = false;
}

enum vb_err tts_joiner_feed(struct tts_joiner *j, const float *pcm, size_t n, enum tts_break brk,
                            bool last)
{
    enum vb_err err = VB_OK;
    struct audio_pcm st = {0};
    if (n) {
        if (j->raw_n + n > j->raw_cap) {
            size_t cap = VB_MAX(j->raw_cap * 2, j->raw_n + n);
            float *r = vb_try_realloc(j->raw, cap * sizeof *r);
            if (!r)
                return VB_ERR_NOMEM;
            j->raw = r;
            j->raw_cap = cap;
        }
        memcpy(j->raw + j->raw_n, pcm, n * sizeof *pcm);
        audio_sanitize(j->raw + j->raw_n, n, 1.0f);
        j->raw_n += n;
    }
    if (j->raw_n == 0 || (!last && n == 0)) {
        if (last)
            chunk_reset(j); /* an empty chunk leaves no trace */
        return VB_OK;
    }
    struct audio_pcm raw = {
        .samples = j->raw, .frames = j->raw_n, .channels = 1, .sample_rate = j->rate};
    const struct audio_pcm *x = &raw;
    size_t m = j->raw_n;
    if (stretching(j)) {
        if (!last && (m = stretch_stable(j, j->raw_n)) == 0)
            return VB_OK;
        double t = now_ms();
        err = audio_stretch(&raw, j->speed, &st);
        j->stretch_ms += now_ms() - t;
        if (err)
            goto out;
        x = &st;
        m = VB_MIN(m, st.frames);
    }
    if (!last) {
        err = feed_partial(j, x->samples, m);
        goto out;
    }
    if ((err = feed_last(j, x)))
        goto out;
    j->have_prev = true;
    j->prev_brk = brk;
    chunk_reset(j);
out:
    audio_pcm_release(&st);
    return err;
}
