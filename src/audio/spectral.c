/* spectral.c: recursive mixed-radix complex FFT in double (real transforms through it), windows,
 * reflect padding, STFT/iSTFT and mel filterbanks matching torch / librosa / Kaldi. */
#include "core/vb.h"
#include "audio/spectral.h"
#include "core/alloc.h"

#include <math.h>

#define MAX_FACTORS 40

struct audio_fft {
    int n;
    int n_factors;
    int factors[MAX_FACTORS];
    int max_p;
    double *tw;             /* (n) complex: e^{-2 pi i j / n} */
    struct audio_fft *half; /* even n: the n/2 complex plan real transforms run on */
};

static enum vb_err plan_new(int n, bool with_half, struct audio_fft **out);

enum vb_err audio_fft_new(int n, struct audio_fft **out)
{
    return plan_new(n, true, out);
}

static enum vb_err plan_new(int n, bool with_half, struct audio_fft **out)
{
    *out = NULL;
    if (n < 1 || n > AUDIO_FFT_MAX_N)
        return VB_ERR_INVALID;
    struct audio_fft *f = vb_try_calloc(1, sizeof *f);
    if (!f)
        return VB_ERR_NOMEM;
    f->n = n;
    f->tw = vb_try_malloc((size_t)n * 2 * sizeof *f->tw);
    if (!f->tw) {
        vb_free(f);
        return VB_ERR_NOMEM;
    }
    for (int j = 0; j < n; j++) {
        double a = -2.0 * M_PI * (double)j / (double)n;
        f->tw[2 * j] = cos(a);
        f->tw[2 * j + 1] = sin(a);
    }
    int m = n;
    f->max_p = 1;
    static const int pref[] = {4, 2, 3, 5};
    for (size_t i = 0; i < VB_ARRAY_LEN(pref); i++)
        while (m % pref[i] == 0) {
            f->factors[f->n_factors++] = pref[i];
            m /= pref[i];
        }
    for (int p = 7; m > 1; p += 2)
        while (m % p == 0) {
            f->factors[f->n_factors++] = p;
            m /= p;
        }
    for (int i = 0; i < f->n_factors; i++)
        f->max_p = VB_MAX(f->max_p, f->factors[i]);
    if (with_half && n % 2 == 0) {
        enum vb_err err = plan_new(n / 2, false, &f->half);
        if (err != VB_OK) {
            audio_fft_free(f);
            return err;
        }
    }
    *out = f;
    return VB_OK;
}

void audio_fft_free(struct audio_fft *f)
{
    if (!f)
        return;
    audio_fft_free(f->half);
    vb_free(f->tw);
    vb_free(f);
}

int audio_fft_size(const struct audio_fft *f)
{
    return f->n;
}

size_t audio_fft_work_size(const struct audio_fft *f)
{
    return (size_t)f->n * 4 + (size_t)f->max_p * 4;
}

/* out (n complex) = DFT of the n complex values in[0], in[stride], ... */
static void fft_rec(const struct audio_fft *f, const double *in, size_t stride, double *out, int n,
                    int fi, double *tmp)
{
    if (n == 1) {
        out[0] = in[0];
        out[1] = in[1];
        return;
    }
    int p = f->factors[fi], m = n / p;
    for (int r = 0; r < p; r++)
        fft_rec(f, in + 2 * (size_t)r * stride, stride * (size_t)p, out + 2 * (size_t)r * m, m,
                fi + 1, tmp);
    size_t step = (size_t)(f->n / n), pstep = (size_t)(f->n / p);
    const double *tw = f->tw;
    if (p == 2) {
        for (int k = 0; k < m; k++) {
            double *a = out + 2 * k, *b = out + 2 * (k + m);
            const double *w = tw + 2 * (k * step);
            double br = b[0] * w[0] - b[1] * w[1], bi = b[0] * w[1] + b[1] * w[0];
            b[0] = a[0] - br;
            b[1] = a[1] - bi;
            a[0] += br;
            a[1] += bi;
        }
        return;
    }
    if (p == 4) {
        for (int k = 0; k < m; k++) {
            double t[8];
            for (int r = 0; r < 4; r++) {
                const double *a = out + 2 * (k + r * m);
                const double *w = tw + 2 * ((size_t)r * k * step);
                t[2 * r] = a[0] * w[0] - a[1] * w[1];
                t[2 * r + 1] = a[0] * w[1] + a[1] * w[0];
            }
            /* radix-4 butterfly with W4 = -i */
            double s0r = t[0] + t[4], s0i = t[1] + t[5], d0r = t[0] - t[4], d0i = t[1] - t[5];
            double s1r = t[2] + t[6], s1i = t[3] + t[7], d1r = t[2] - t[6], d1i = t[3] - t[7];
            double *o0 = out + 2 * k, *o1 = out + 2 * (k + m), *o2 = out + 2 * (k + 2 * m),
                   *o3 = out + 2 * (k + 3 * m);
            o0[0] = s0r + s1r;
            o0[1] = s0i + s1i;
            o2[0] = s0r - s1r;
            o2[1] = s0i - s1i;
            /* d1 * (-i) = (d1i, -d1r) */
            o1[0] = d0r + d1i;
            o1[1] = d0i - d1r;
            o3[0] = d0r - d1i;
            o3[1] = d0i + d1r;
        }
        return;
    }
    for (int k = 0; k < m; k++) {
        /* r*k*step < p*m*step = f->n: no wrap-around */
        size_t kstep = (size_t)k * step, e = 0;
        for (int r = 0; r < p; r++, e += kstep) {
            const double *a = out + 2 * (k + r * m);
            const double *w = tw + 2 * e;
            tmp[2 * r] = a[0] * w[0] - a[1] * w[1];
            tmp[2 * r + 1] = a[0] * w[1] + a[1] * w[0];
        }
        for (int q = 0; q < p; q++) {
            double sr = 0, si = 0;
            int rq = 0; /* r*q mod p, incrementally */
            for (int r = 0; r < p; r++) {
                const double *w = tw + 2 * ((size_t)rq * pstep);
                sr += tmp[2 * r] * w[0] - tmp[2 * r + 1] * w[1];
                si += tmp[2 * r] * w[1] + tmp[2 * r + 1] * w[0];
                rq += q;
                if (rq >= p)
                    rq -= p;
            }
            tmp[2 * p + 2 * q] = sr;
            tmp[2 * p + 2 * q + 1] = si;
        }
        for (int q = 0; q < p; q++) {
            double *o = out + 2 * (k + q * m);
            o[0] = tmp[2 * p + 2 * q];
            o[1] = tmp[2 * p + 2 * q + 1];
        }
    }
}

/* X[0..n/2] of real x (as doubles in cin[0..n), or floats when xf) */
static void rfft_any(const struct audio_fft *f, const float *xf, const double *xd, float *re,
                     float *im, double *work)
{
    int n = f->n;
    double *cin = work, *cout = work + 2 * (size_t)n, *tmp = work + 4 * (size_t)n;
    if (!f->half) {
        for (int i = 0; i < n; i++) {
            cin[2 * i] = xf ? xf[i] : xd[i];
            cin[2 * i + 1] = 0;
        }
        fft_rec(f, cin, 1, cout, n, 0, tmp);
        for (int k = 0; k <= n / 2; k++) {
            re[k] = (float)cout[2 * k];
            im[k] = (float)cout[2 * k + 1];
        }
        return;
    }
    /* z[j] = x[2j] + i x[2j+1]; Z = FFT_m(z); X[k] = E[k] + W^k O[k] with
     * E = (Z[k] + conj Z[m-k]) / 2, O = -i (Z[k] - conj Z[m-k]) / 2 */
    int m = n / 2;
    for (int i = 0; i < n; i++)
        cin[i] = xf ? xf[i] : xd[i];
    fft_rec(f->half, cin, 1, cout, m, 0, tmp);
    for (int k = 0; k <= m; k++) {
        int a = k % m, b = (m - k) % m;
        double zr = cout[2 * a], zi = cout[2 * a + 1];
        double cr = cout[2 * b], ci = -cout[2 * b + 1];
        double er = 0.5 * (zr + cr), ei = 0.5 * (zi + ci);
        double dr = zr - cr, di = zi - ci;
        double orr = 0.5 * di, oi = -0.5 * dr; /* -i/2 * d */
        const double *w = f->tw + 2 * k;
        re[k] = (float)(er + w[0] * orr - w[1] * oi);
        im[k] = (float)(ei + w[0] * oi + w[1] * orr);
    }
}

void audio_rfft(const struct audio_fft *f, const float *x, float *re, float *im, double *work)
{
    rfft_any(f, x, NULL, re, im, work);
}

void audio_rfft_d(const struct audio_fft *f, const double *x, float *re, float *im, double *work)
{
    rfft_any(f, NULL, x, re, im, work);
}

void audio_irfft(const struct audio_fft *f, const float *re, const float *im, float *x,
                 double *work)
{
    int n = f->n, h = n / 2;
    double *cin = work, *cout = work + 2 * (size_t)n, *tmp = work + 4 * (size_t)n;
    if (f->half) {
        /* Z[k] = E[k] + i O[k], E = (X[k] + conj X[m-k]) / 2, O = (X[k] - conj X[m-k]) W^-k / 2;
         * z = IFFT_m(Z) = conj(FFT_m(conj Z)) / m; x[2j] = Re z[j], x[2j+1] = Im z[j] */
        int m = h;
        for (int k = 0; k < m; k++) {
            double xr = re[k], xi = k == 0 ? 0.0 : im[k];
            double yr = re[m - k], yi = (m - k == m || m - k == 0) ? 0.0 : im[m - k];
            yi = -yi; /* conj X[m-k] */
            double er = 0.5 * (xr + yr), ei = 0.5 * (xi + yi);
            double dr = 0.5 * (xr - yr), di = 0.5 * (xi - yi);
            const double *w = f->tw + 2 * k; /* W^k; W^-k = conj */
            double orr = dr * w[0] + di * w[1], oi = di * w[0] - dr * w[1];
            /* Z = E + i O; store conj(Z) */
            cin[2 * k] = er - oi;
            cin[2 * k + 1] = -(ei + orr);
        }
        fft_rec(f->half, cin, 1, cout, m, 0, tmp);
        for (int j = 0; j < m; j++) {
            x[2 * j] = (float)(cout[2 * j] / m);
            x[2 * j + 1] = (float)(-cout[2 * j + 1] / m);
        }
        return;
    }
    /* conj(X) extended by Hermitian symmetry; Re(FFT(conj X)) / n = Re(IFFT(X)) */
    for (int k = 0; k < n; k++) {
        double r, i;
        if (k <= h) {
            r = re[k];
            i = im[k];
        } else {
            r = re[n - k];
            i = -im[n - k];
        }
        if (k == 0 || (n % 2 == 0 && k == h))
            i = 0;
        cin[2 * k] = r;
        cin[2 * k + 1] = -i;
    }
    fft_rec(f, cin, 1, cout, n, 0, tmp);
    for (int t = 0; t < n; t++)
        x[t] = (float)(cout[2 * t] / n);
}

void audio_hann_periodic(float *w, int n)
{
    /* in float32 like torch.hann_window: cos(i * (float)(2 pi / n)) * -0.5 + 0.5 */
    float step = (float)(2.0 * M_PI / n);
    for (int i = 0; i < n; i++)
        w[i] = cosf((float)i * step) * -0.5f + 0.5f;
}

void audio_povey_window(float *w, int n)
{
    /* float32 like torch.hann_window(n, periodic=False).pow(0.85) */
    float step = n > 1 ? (float)(2.0 * M_PI / (n - 1)) : 0.0f;
    for (int i = 0; i < n; i++)
        w[i] = n > 1 ? powf(cosf((float)i * step) * -0.5f + 0.5f, 0.85f) : 1.0f;
}

enum vb_err audio_reflect_pad(const float *x, int64_t n, int pad_l, int pad_r, float *out)
{
    if (pad_l < 0 || pad_r < 0 || n < 1 || pad_l >= n || pad_r >= n)
        return VB_ERR_INVALID;
    for (int i = 0; i < pad_l; i++)
        out[i] = x[pad_l - i];
    memcpy(out + pad_l, x, (size_t)n * sizeof *x);
    for (int j = 0; j < pad_r; j++)
        out[pad_l + n + j] = x[n - 2 - j];
    return VB_OK;
}

int64_t audio_stft_frames(int64_t n, int n_fft, int hop)
{
    if (n < n_fft || hop < 1)
        return 0;
    return 1 + (n - n_fft) / hop;
}

void audio_stft(const struct audio_fft *f, const float *x, int64_t n, int hop, const float *window,
                bool window_f64, float *re, float *im, int64_t frames, int64_t ld, double *work)
{
    int nf = f->n, nb = nf / 2 + 1;
    double *fr = work + audio_fft_work_size(f);
    float *bre = (float *)(fr + nf), *bim = bre + nb;
    (void)n;
    for (int64_t t = 0; t < frames; t++) {
        const float *xs = x + t * hop;
        for (int i = 0; i < nf; i++) {
            if (!window)
                fr[i] = xs[i];
            else if (window_f64)
                fr[i] = (double)xs[i] * (double)window[i];
            else
                fr[i] = (double)(xs[i] * window[i]);
        }
        audio_rfft_d(f, fr, bre, bim, work);
        for (int k = 0; k < nb; k++) {
            re[(int64_t)k * ld + t] = bre[k];
            im[(int64_t)k * ld + t] = bim[k];
        }
    }
}

void audio_istft(const struct audio_fft *f, const float *re, const float *im, int64_t frames,
                 int hop, const float *window, float *y, float *ola, double *work)
{
    int nf = f->n, nb = nf / 2 + 1, half = nf / 2;
    if (frames < 1)
        return;
    int64_t full = (int64_t)hop * (frames - 1) + nf;
    /* ola holds the signal; the squared-window envelope is accumulated in y's place after */
    memset(ola, 0, (size_t)full * sizeof *ola);
    float *fre = (float *)(work + audio_fft_work_size(f)), *fim = fre + nb, *xt = fim + nb;
    for (int64_t t = 0; t < frames; t++) {
        for (int k = 0; k < nb; k++) {
            fre[k] = re[(int64_t)k * frames + t];
            fim[k] = im[(int64_t)k * frames + t];
        }
        audio_irfft(f, fre, fim, xt, work);
        float *o = ola + t * hop;
        for (int i = 0; i < nf; i++)
            o[i] += xt[i] * window[i];
    }
    int64_t n_out = (int64_t)hop * (frames - 1);
    for (int64_t s = 0; s < n_out; s++) {
        int64_t pos = s + half;
        /* frames covering pos: t with t*hop <= pos < t*hop + nf */
        double env = 0;
        int64_t t1 = pos / hop, t0 = pos - nf + 1 > 0 ? (pos - nf + hop) / hop : 0;
        if (t1 > frames - 1)
            t1 = frames - 1;
        for (int64_t t = t0; t <= t1; t++) {
            float w = window[pos - t * hop];
            env += (double)(w * w);
        }
        y[s] = env > 1e-11 ? (float)(ola[pos] / (float)env) : 0.0f;
    }
}

/* ---- mel filterbanks ---- */

static double hz_to_mel_slaney(double f)
{
    const double f_sp = 200.0 / 3, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
    const double logstep = log(6.4) / 27.0;
    if (f >= min_log_hz)
        return min_log_mel + log(f / min_log_hz) / logstep;
    return f / f_sp;
}

static double mel_to_hz_slaney(double m)
{
    const double f_sp = 200.0 / 3, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
    const double logstep = log(6.4) / 27.0;
    if (m >= min_log_mel)
        return min_log_hz * exp(logstep * (m - min_log_mel));
    return f_sp * m;
}

void audio_mel_slaney(float *fb, int sr, int n_fft, int n_mels, double f_lo, double f_hi)
{
    if (f_hi <= 0)
        f_hi = sr / 2.0;
    int nb = n_fft / 2 + 1;
    double *mel_f = vb_xmalloc((size_t)(n_mels + 2) * sizeof *mel_f);
    double lo = hz_to_mel_slaney(f_lo), hi = hz_to_mel_slaney(f_hi);
    /* numpy.linspace: start + i * step, the last point exactly `stop` */
    double mstep = (hi - lo) / (n_mels + 1);
    for (int i = 0; i < n_mels + 2; i++)
        mel_f[i] = mel_to_hz_slaney(i == n_mels + 1 ? hi : lo + i * mstep);
    double fstep = (sr / 2.0) / (nb - 1);
    for (int i = 0; i < n_mels; i++) {
        double fd0 = mel_f[i + 1] - mel_f[i], fd1 = mel_f[i + 2] - mel_f[i + 1];
        double enorm = 2.0 / (mel_f[i + 2] - mel_f[i]);
        for (int k = 0; k < nb; k++) {
            double fk = k == nb - 1 ? sr / 2.0 : k * fstep;
            double lower = -(mel_f[i] - fk) / fd0;
            double upper = (mel_f[i + 2] - fk) / fd1;
            double v = lower < upper ? lower : upper;
            float w = (float)(v > 0 ? v : 0.0);
            fb[(int64_t)i * nb + k] = (float)((double)w * enorm);
        }
    }
    vb_free(mel_f);
}

static float mel_kaldi(float f)
{
    return 1127.0f * logf(1.0f + f / 700.0f);
}

void audio_mel_kaldi(float *fb, int sr, int n_fft, int n_mels, float low_hz, float high_hz)
{
    int nb = n_fft / 2 + 1, n_bins = n_fft / 2;
    if (high_hz <= 0)
        high_hz += 0.5f * (float)sr;
    float bin_width = (float)sr / (float)n_fft;
    double mlo = 1127.0 * log(1.0 + low_hz / 700.0), mhi = 1127.0 * log(1.0 + high_hz / 700.0);
    /* the band edges in torchaudio's float32 arithmetic, mel_low + b * delta with b and delta
     * as float32 (two roundings, not one from double): near a band's foot the weight is the
     * difference of two ~1e3 mels over ~35, so one ulp of an edge is ~1e-4 of a small weight,
     * and a spectral peak on that bin carried it into the log energy (fbank errors 1.5e-4
     * against the reference; 7e-6 with these edges) */
    const float flo = (float)mlo, fdelta = (float)((mhi - mlo) / (n_mels + 1));
    for (int b = 0; b < n_mels; b++) {
        float left = flo + (float)b * fdelta, centre = flo + ((float)b + 1.0f) * fdelta,
              right = flo + ((float)b + 2.0f) * fdelta;
        float *row = fb + (int64_t)b * nb;
        for (int k = 0; k < n_bins; k++) {
            float m = mel_kaldi(bin_width * (float)k);
            float up = (m - left) / (centre - left), down = (right - m) / (right - centre);
            float v = up < down ? up : down;
            row[k] = v > 0 ? v : 0.0f;
        }
        row[n_bins] = 0.0f;
    }
}
