/* test_limiter.c: the streaming limiter gives exactly the whole-signal limiter's samples
 * whatever the piece sizes (so a stream has no pumping or clicks at piece joins), keeps
 * every sample under the ceiling, and leaves a signal under the ceiling untouched. */
#include "core/vb.h"
#include "core/alloc.h"
#include "tts/limiter.h"
#include "unit/test.h"

#include <math.h>

static uint32_t rng = 7;

static double urand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (double)(rng >> 8) / 16777216.0;
}

/* Speech-like peaks: a tone with a slow envelope and sparse spikes up to 3x the ceiling. */
static float *make_signal(size_t n, int rate, float spikes)
{
    float *x = vb_xmalloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) {
        double t = (double)i / rate;
        x[i] = (float)(0.6 * sin(2 * M_PI * 3 * t) * sin(2 * M_PI * 220 * t));
        if (spikes > 0 && urand() < 0.002)
            x[i] = (float)(spikes * (urand() - 0.5) * 2);
    }
    return x;
}

/* Streams x in pieces of 1..max_piece samples (max_piece 0: one piece), returns the output. */
static float *stream(const float *x, size_t n, int rate, float ceiling, size_t max_piece,
                     size_t *n_out)
{
    struct tts_limiter l;
    struct audio_pcm o = {0};
    float *y = vb_xmalloc((n + 1) * sizeof *y);
    *n_out = 0;
    tts_limiter_init(&l, rate, ceiling);
    for (size_t at = 0; at <= n;) {
        size_t k = max_piece ? 1 + (size_t)(urand() * (double)max_piece) : n;
        if (k > n - at)
            k = n - at;
        CHECK(tts_limiter_feed(&l, k ? x + at : NULL, k, &o) == VB_OK); /* k 0: the end */
        CHECK(*n_out + o.frames <= n);
        if (o.frames && *n_out + o.frames <= n)
            memcpy(y + *n_out, o.samples, o.frames * sizeof *y);
        *n_out += o.frames;
        if (k == 0)
            break;
        at += k;
        /* all but the look-ahead is out */
        CHECK(at - *n_out < (size_t)(TTS_LIMIT_LOOKAHEAD_MS * rate / 1000.0) + 1);
    }
    audio_pcm_release(&o);
    tts_limiter_release(&l);
    return y;
}

TEST(stream_equals_whole)
{
    const int rates[] = {24000, 22050, 8000};
    const size_t pieces[] = {0, 1, 37, 480, 9600};
    for (size_t r = 0; r < VB_ARRAY_LEN(rates); r++) {
        size_t n = (size_t)rates[r] * 2;
        float ceiling = 0.84f;
        float *x = make_signal(n, rates[r], 2.5f);
        float *ref = vb_xmalloc(n * sizeof *ref);
        memcpy(ref, x, n * sizeof *ref);
        CHECK(tts_limit_peaks(ref, n, rates[r], ceiling) == VB_OK);
        bool under = true;
        for (size_t i = 0; i < n; i++)
            under = under && fabsf(ref[i]) <= ceiling * 1.000001f; /* ceiling/|x| * |x| rounds */
        CHECK(under);
        for (size_t p = 0; p < VB_ARRAY_LEN(pieces); p++) {
            size_t m = 0;
            float *y = stream(x, n, rates[r], ceiling, pieces[p], &m);
            CHECK_EQ_INT(m, n);
            CHECK_MSG(m == n && memcmp(y, ref, n * sizeof *y) == 0, "rate %d pieces %zu", rates[r],
                      pieces[p]);
            vb_free(y);
        }
        vb_free(x);
        vb_free(ref);
    }
}

TEST(under_ceiling_untouched)
{
    size_t n = 48000, m = 0;
    float *x = make_signal(n, 24000, 0);
    float *y = stream(x, n, 24000, 0.9f, 500, &m);
    CHECK(m == n && memcmp(x, y, n * sizeof *x) == 0);
    float *z = vb_xmalloc(n * sizeof *z);
    memcpy(z, x, n * sizeof *z);
    CHECK(tts_limit_peaks(z, n, 24000, 0.9f) == VB_OK);
    CHECK(memcmp(x, z, n * sizeof *x) == 0);
    /* empty stream */
    float *e = stream(x, 0, 24000, 0.9f, 0, &m);
    CHECK_EQ_INT(m, 0);
    vb_free(x);
    vb_free(y);
    vb_free(z);
    vb_free(e);
}

int main(void)
{
    RUN(stream_equals_whole);
    RUN(under_ceiling_untouched);
    return test_summary();
}
