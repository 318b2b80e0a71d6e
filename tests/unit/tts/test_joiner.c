/* test_joiner.c: the joiner gives the pipeline's chunk processing (sanitise, WSOLA stretch,
 * silence trim with 20 ms kept, 5 ms fades, pauses by how the previous chunk ends), computed
 * here step by step as the reference, and the same samples when chunks arrive in pieces of
 * any size, at normal and changed speed, while appending most of a chunk before its last
 * piece. */
#include "core/vb.h"
#include "core/alloc.h"
#include "audio/pcm.h"
#include "audio/stretch.h"
#include "tts/joiner.h"
#include "unit/test.h"

#include <math.h>

#define RATE 24000

static uint32_t rng = 1;

static double urand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (double)(rng >> 8) / 16777216.0;
}

/* Speech-like test audio: silence, voiced bursts with an envelope, pauses (one longer than
 * anything the joiner holds back), a noise floor under the trim threshold, trailing
 * silence; a NaN and an over-range sample for the sanitiser. */
static float *make_chunk(size_t *n, double f0, bool trailing_silence)
{
    *n = (size_t)(2.4 * RATE);
    float *x = vb_xcalloc(*n, sizeof *x);
    const double bursts[][2] = {{0.30, 0.75}, {0.82, 1.10}, {1.55, 1.95}};
    for (size_t i = 0; i < *n; i++) {
        double t = (double)i / RATE, v = 0.0005 * (urand() - 0.5); /* about -75 dBFS */
        for (size_t b = 0; b < 3; b++) {
            if (t < bursts[b][0] || t >= bursts[b][1])
                continue;
            double u = (t - bursts[b][0]) / (bursts[b][1] - bursts[b][0]);
            double env = sin(M_PI * u);
            for (int h = 1; h <= 4; h++)
                v += env * 0.3 / h * sin(2 * M_PI * f0 * h * t * (1 + 0.03 * sin(6 * t)));
        }
        x[i] = (float)v;
    }
    if (!trailing_silence)
        for (size_t i = (size_t)(1.95 * RATE); i < *n; i++)
            x[i] += (float)(0.2 * sin(2 * M_PI * 180.0 * (double)i / RATE));
    x[(size_t)(0.5 * RATE)] = NAN;
    x[(size_t)(0.6 * RATE)] = 3.0f;
    return x;
}

/* The reference: each chunk processed as the pipeline did in one piece. */
static void reference(struct audio_pcm *out, float *const *chunks, const size_t *lens,
                      const enum tts_break *brk, size_t n_chunks, double speed)
{
    bool prev = false;
    enum tts_break prev_brk = TTS_BREAK_HARD;
    for (size_t c = 0; c < n_chunks; c++) {
        if (lens[c] == 0)
            continue;
        struct audio_pcm t = {0}, s = {0};
        CHECK(audio_pcm_alloc(&t, lens[c], 1, RATE) == VB_OK);
        memcpy(t.samples, chunks[c], lens[c] * sizeof(float));
        audio_sanitize(t.samples, t.frames, 1.0f);
        if (fabs(speed - 1.0) > 1e-6) {
            CHECK(audio_stretch(&t, speed, &s) == VB_OK);
            audio_pcm_release(&t);
            t = s;
        }
        struct audio_trim_params tp = audio_trim_default_params();
        tp.pad_ms = 20.0;
        audio_pcm_trim_silence(&t, &tp, NULL, NULL);
        audio_pcm_fade(&t, 5.0, 5.0);
        double gap_ms = !prev                            ? 0
                        : prev_brk == TTS_BREAK_SENTENCE ? 280
                        : prev_brk == TTS_BREAK_CLAUSE   ? 160
                        : prev_brk == TTS_BREAK_WORD     ? 50
                                                         : 0;
        CHECK(audio_pcm_append(out, &t, (size_t)(gap_ms * RATE / 1000.0), 0) == VB_OK);
        audio_pcm_release(&t);
        prev = true;
        prev_brk = brk[c];
    }
}

/* Feeds the chunks, in pieces of up to max_piece samples (0 = whole); returns how much of
 * each chunk was appended before its last piece, in the smallest fraction seen. */
static double feed(struct tts_joiner *j, float *const *chunks, const size_t *lens,
                   const enum tts_break *brk, size_t n_chunks, size_t max_piece)
{
    double early = 1.0;
    for (size_t c = 0; c < n_chunks; c++) {
        size_t at = 0, before = j->speech.frames, before_last = before;
        while (max_piece && lens[c] - at > max_piece) {
            size_t k = 1 + (size_t)(urand() * (double)max_piece);
            if (k > lens[c] - at)
                k = lens[c] - at;
            CHECK(tts_joiner_feed(j, chunks[c] + at, k, brk[c], false) == VB_OK);
            at += k;
            before_last = j->speech.frames;
        }
        CHECK(tts_joiner_feed(j, chunks[c] + at, lens[c] - at, brk[c], true) == VB_OK);
        if (max_piece && j->speech.frames > before)
            early =
                fmin(early, (double)(before_last - before) / (double)(j->speech.frames - before));
    }
    return early;
}

TEST(pieces_equal_whole)
{
    size_t lens[4];
    float *chunks[4];
    enum tts_break brk[4] = {TTS_BREAK_SENTENCE, TTS_BREAK_CLAUSE, TTS_BREAK_SENTENCE,
                             TTS_BREAK_WORD};
    chunks[0] = make_chunk(&lens[0], 130, false);
    chunks[1] = NULL; /* an empty chunk (nothing to say): no trace, no pause */
    lens[1] = 0;
    chunks[2] = make_chunk(&lens[2], 210, true);
    chunks[3] = make_chunk(&lens[3], 95, false);
    const double speeds[] = {1.0, 1.37, 0.5};
    const size_t pieces[] = {0, 97, 4800, 19200};
    for (size_t s = 0; s < VB_ARRAY_LEN(speeds); s++) {
        struct audio_pcm ref = {0};
        reference(&ref, chunks, lens, brk, 4, speeds[s]);
        for (size_t p = 0; p < VB_ARRAY_LEN(pieces); p++) {
            if (pieces[p] < 480 && speeds[s] != 1.0)
                continue; /* tiny pieces at speed 1 only (each piece re-stretches the chunk) */
            struct tts_joiner j;
            tts_joiner_init(&j, RATE, speeds[s], 0);
            double early = feed(&j, chunks, lens, brk, 4, pieces[p]);
            CHECK_MSG(j.speech.frames == ref.frames, "speed %g pieces %zu: %zu vs %zu frames",
                      speeds[s], pieces[p], j.speech.frames, ref.frames);
            size_t diff = 0;
            for (size_t i = 0; i < VB_MIN(j.speech.frames, ref.frames); i++)
                diff += j.speech.samples[i] != ref.samples[i];
            CHECK_MSG(diff == 0, "speed %g pieces %zu: %zu samples differ", speeds[s], pieces[p],
                      diff);
            /* pieces: most of each chunk goes out before its last piece (all but what the
             * stretch and the trailing-silence check hold back) */
            if (pieces[p] && pieces[p] <= 4800)
                CHECK_MSG(early > 0.6, "speed %g pieces %zu: only %.2f early", speeds[s], pieces[p],
                          early);
            tts_joiner_release(&j);
        }
        audio_pcm_release(&ref);
    }
    for (int c = 0; c < 4; c++)
        vb_free(chunks[c]);
}

TEST(limits_and_edges)
{
    size_t n;
    float *x = make_chunk(&n, 150, false);
    struct tts_joiner j;
    /* over the cap: an error, not a truncation */
    tts_joiner_init(&j, RATE, 1.0, n / 2);
    enum vb_err err = VB_OK;
    for (size_t at = 0; at < n && !err; at += 4800)
        err = tts_joiner_feed(&j, x + at, VB_MIN(4800, n - at), TTS_BREAK_SENTENCE, at + 4800 >= n);
    CHECK(err == VB_ERR_TOO_LARGE);
    CHECK(j.speech.frames <= n / 2);
    tts_joiner_release(&j);
    /* all silence in pieces: nothing until the end, then the chunk as in one piece */
    float *z = vb_xcalloc(n, sizeof *z);
    tts_joiner_init(&j, RATE, 1.0, 0);
    CHECK(tts_joiner_feed(&j, z, n / 2, TTS_BREAK_SENTENCE, false) == VB_OK);
    CHECK_EQ_INT(j.speech.frames, 0);
    CHECK(tts_joiner_feed(&j, z + n / 2, n - n / 2, TTS_BREAK_SENTENCE, true) == VB_OK);
    CHECK_EQ_INT(j.speech.frames, n);
    /* a chunk whose last piece is empty */
    CHECK(tts_joiner_feed(&j, x, n, TTS_BREAK_SENTENCE, false) == VB_OK);
    size_t mid = j.speech.frames;
    CHECK(mid > n + (size_t)(0.28 * RATE)); /* pause + most of the chunk */
    CHECK(tts_joiner_feed(&j, NULL, 0, TTS_BREAK_SENTENCE, true) == VB_OK);
    CHECK(j.speech.frames >= mid);
    tts_joiner_release(&j);
    tts_joiner_release(NULL);
    vb_free(x);
    vb_free(z);
}

int main(void)
{
    RUN(pieces_equal_whole);
    RUN(limits_and_edges);
    return test_summary();
}
