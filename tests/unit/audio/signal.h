/* signal.h: test helper: generated signals and measurements (frequency by interpolated zero
 * crossings and by autocorrelation, RMS over a range). Test code only. */
#ifndef VB_TEST_SIGNAL_H
#define VB_TEST_SIGNAL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

static inline void sig_sine(float *x, size_t n, int rate, double hz, double amp)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(amp * sin(2.0 * M_PI * hz * (double)i / rate));
}

/* Frequency from the rising zero crossings of x[from, to), interpolated linearly. */
static inline double sig_zero_cross_hz(const float *x, size_t from, size_t to, int rate)
{
    double first = -1, last = -1;
    int count = 0;
    for (size_t i = from + 1; i < to; i++) {
        if (x[i - 1] < 0 && x[i] >= 0) {
            double t = (double)(i - 1) + x[i - 1] / (double)(x[i - 1] - x[i]);
            if (first < 0)
                first = t;
            last = t;
            count++;
        }
    }
    if (count < 2)
        return 0;
    return (count - 1) * (double)rate / (last - first);
}

/* Fundamental of x[from, from+len) by normalised autocorrelation over lags for
 * [min_hz, max_hz], refined by parabolic interpolation. */
static inline double sig_autocorr_hz(const float *x, size_t from, size_t len, int rate,
                                     double min_hz, double max_hz)
{
    size_t lag_min = (size_t)(rate / max_hz), lag_max = (size_t)(rate / min_hz);
    double best = -2, c_prev = 0, c_best_prev = 0, c_best_next = 0;
    size_t best_lag = 0;
    double *c = calloc(lag_max + 2, sizeof(double));
    for (size_t lag = lag_min; lag <= lag_max + 1; lag++) {
        double s = 0, e0 = 0, e1 = 0;
        for (size_t i = from; i + lag < from + len; i++) {
            s += (double)x[i] * x[i + lag];
            e0 += (double)x[i] * x[i];
            e1 += (double)x[i + lag] * x[i + lag];
        }
        c[lag] = (e0 > 0 && e1 > 0) ? s / sqrt(e0 * e1) : 0;
    }
    for (size_t lag = lag_min + 1; lag <= lag_max; lag++)
        if (c[lag] > best && c[lag] >= c[lag - 1] && c[lag] >= c[lag + 1]) {
            best = c[lag];
            best_lag = lag;
        }
    (void)c_prev;
    double hz = 0;
    if (best_lag) {
        c_best_prev = c[best_lag - 1];
        c_best_next = c[best_lag + 1];
        double den = c_best_prev - 2 * best + c_best_next;
        double off = den != 0 ? 0.5 * (c_best_prev - c_best_next) / den : 0;
        hz = rate / ((double)best_lag + off);
    }
    free(c);
    return hz;
}

static inline double sig_rms(const float *x, size_t from, size_t to)
{
    double s = 0;
    for (size_t i = from; i < to; i++)
        s += (double)x[i] * x[i];
    return to > from ? sqrt(s / (double)(to - from)) : 0;
}

/* Deterministic noise in [-1, 1) for test signals. */
static inline float sig_noise(uint32_t *state)
{
    *state = *state * 1664525u + 1013904223u;
    return (float)((double)(*state >> 8) / 8388608.0 - 1.0);
}

#endif
