/* limiter.c: look-ahead peak limiter, whole-signal and streaming (see limiter.h). */
#include "core/vb.h"
#include "tts/limiter.h"
#include "audio/pcm.h"
#include "core/alloc.h"

#include <math.h>

static size_t lookahead(int rate)
{
    return (size_t)(TTS_LIMIT_LOOKAHEAD_MS * rate / 1000.0) + 1;
}

static float release_coef(int rate)
{
    return (float)exp(-1.0 / (TTS_LIMIT_RELEASE_MS * rate / 1000.0));
}

/* The gain envelope: minimum filter over the look-ahead of the required gains, then an
 * exponential release, then a moving average over the same length, so the average at a
 * peak is built only from values at or below the peak's required gain. Speech is peaky
 * (crest factor 15-20 dB): without this the true-peak ceiling would hold it well below the
 * loudness target. */
enum vb_err tts_limit_peaks(float *x, size_t n, int rate, float ceiling)
{
    size_t la = lookahead(rate), cap = la + 2;
    float rel = release_coef(rate);
    if (n == 0 || audio_peak(x, n) <= ceiling)
        return VB_OK;
    float *req = vb_try_malloc(n * sizeof *req);
    float *h = vb_try_malloc(n * sizeof *h);
    size_t *dq = vb_try_malloc(cap * sizeof *dq);
    if (!req || !h || !dq) {
        vb_free(req);
        vb_free(h);
        vb_free(dq);
        return VB_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        req[i] = a > ceiling ? ceiling / a : 1.0f;
    }
    /* h[k] = min(req[k .. k+la-1]): monotonic deque (ring of indexes), scanning backwards */
    size_t head = 0, count = 0;
    for (size_t k = n; k-- > 0;) {
        while (count && req[dq[(head + count - 1) % cap]] >= req[k])
            count--;
        dq[(head + count++) % cap] = k;
        while (dq[head] >= k + la)
            head = (head + 1) % cap, count--;
        h[k] = req[dq[head]];
    }
    /* release: instant attack on the look-ahead minimum, exponential recovery */
    float e = 1.0f;
    for (size_t i = 0; i < n; i++) {
        e = 1.0f - (1.0f - e) * rel;
        if (h[i] < e)
            e = h[i];
        h[i] = e;
    }
    /* moving average over the la values ending at i: at a peak every averaged value is at
     * or below its required gain; the first samples average fewer values, so clamp */
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        sum += h[i];
        if (i >= la)
            sum -= h[i - la];
        float gain = (float)(sum / (double)(i + 1 < la ? i + 1 : la));
        x[i] *= gain < req[i] ? gain : req[i];
    }
    vb_free(req);
    vb_free(h);
    vb_free(dq);
    return VB_OK;
}

void tts_limiter_init(struct tts_limiter *l, int rate, float ceiling)
{
    memset(l, 0, sizeof *l);
    l->ceiling = ceiling;
    l->rel = release_coef(rate);
    l->la = lookahead(rate);
    l->env = 1.0f;
}

void tts_limiter_release(struct tts_limiter *l)
{
    if (!l)
        return;
    vb_free(l->pend);
    vb_free(l->hist);
    vb_free(l->tmp);
    memset(l, 0, sizeof *l);
}

/* The same three steps as tts_limit_peaks, sample by sample with the state carried over:
 * output i needs the input up to i + la - 1. */
enum vb_err tts_limiter_feed(struct tts_limiter *l, const float *x, size_t n, struct audio_pcm *out)
{
    audio_pcm_release(out);
    out->channels = 1;
    bool end = n == 0;
    if (l->n_pend + n > l->cap_pend) {
        size_t cap = VB_MAX(2 * l->cap_pend, l->n_pend + n);
        float *p = vb_try_realloc(l->pend, cap * sizeof *p);
        if (!p)
            return VB_ERR_NOMEM;
        l->pend = p;
        l->cap_pend = cap;
    }
    if (!l->hist && !(l->hist = vb_try_calloc(l->la, sizeof *l->hist)))
        return VB_ERR_NOMEM;
    if (n)
        memcpy(l->pend + l->n_pend, x, n * sizeof *x);
    size_t len = l->n_pend + n, la = l->la;
    size_t c = end ? len : len >= la ? len - la + 1 : 0;
    l->n_pend = len;
    if (c == 0)
        return VB_OK;
    if (len > l->cap_tmp) {
        float *t = vb_try_realloc(l->tmp, len * sizeof *t);
        if (!t)
            return VB_ERR_NOMEM;
        l->tmp = t;
        l->cap_tmp = len;
    }
    enum vb_err err = audio_pcm_alloc(out, c, 1, 1);
    if (err)
        return err;
    float *req = l->tmp;
    for (size_t i = 0; i < len; i++) {
        float a = fabsf(l->pend[i]);
        req[i] = a > l->ceiling ? l->ceiling / a : 1.0f;
    }
    for (size_t i = 0; i < c; i++) {
        float h = req[i];
        for (size_t k = i + 1; k < i + la && k < len; k++)
            h = req[k] < h ? req[k] : h;
        l->env = 1.0f - (1.0f - l->env) * l->rel;
        if (h < l->env)
            l->env = h;
        size_t g = l->n_done + i;
        l->sum += l->env;
        if (g >= la)
            l->sum -= l->hist[g % la];
        l->hist[g % la] = l->env;
        float gain = (float)(l->sum / (double)(g + 1 < la ? g + 1 : la));
        out->samples[i] = l->pend[i] * (gain < req[i] ? gain : req[i]);
    }
    memmove(l->pend, l->pend + c, (len - c) * sizeof *l->pend);
    l->n_pend = len - c;
    l->n_done += c;
    return VB_OK;
}
