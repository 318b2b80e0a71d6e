/* frontend.c: Chatterbox front ends (S3Gen mel, S3Tokenizer log-mel, VoiceEncoder mel, Kaldi
 * fbank) over audio/spectral, and torchaudio's sinc-Hann resampler. */
#include "core/vb.h"
#include "tts/chatterbox/frontend.h"
#include "audio/spectral.h"
#include "core/alloc.h"

#include <float.h>
#include <math.h>

struct cb_frontend {
    struct audio_fft *fft1920, *fft400, *fft512;
    float hann1920[CB_S3GEN_N_FFT];
    float hann400[CB_ENC_N_FFT];
    float povey400[CB_FBANK_FRAME_LEN];
    float *s3gen_basis; /* (80, 961) */
    float *s3tok_basis; /* (128, 201) */
    float *ve_basis;    /* (40, 201) */
    float *fbank_banks; /* (80, 257) */
};

enum vb_err cb_frontend_new(struct cb_frontend **out)
{
    *out = NULL;
    struct cb_frontend *fe = vb_try_calloc(1, sizeof *fe);
    if (!fe)
        return VB_ERR_NOMEM;
    enum vb_err err = audio_fft_new(CB_S3GEN_N_FFT, &fe->fft1920);
    if (err == VB_OK)
        err = audio_fft_new(CB_ENC_N_FFT, &fe->fft400);
    if (err == VB_OK)
        err = audio_fft_new(CB_FBANK_N_FFT, &fe->fft512);
    if (err != VB_OK)
        goto out;
    fe->s3gen_basis = vb_try_malloc(CB_S3GEN_N_MELS * (CB_S3GEN_N_FFT / 2 + 1) * sizeof(float));
    fe->s3tok_basis = vb_try_malloc(CB_S3TOK_N_MELS * (CB_ENC_N_FFT / 2 + 1) * sizeof(float));
    fe->ve_basis = vb_try_malloc(CB_VE_N_MELS * (CB_ENC_N_FFT / 2 + 1) * sizeof(float));
    fe->fbank_banks = vb_try_malloc(CB_FBANK_N_MELS * (CB_FBANK_N_FFT / 2 + 1) * sizeof(float));
    if (!fe->s3gen_basis || !fe->s3tok_basis || !fe->ve_basis || !fe->fbank_banks) {
        err = VB_ERR_NOMEM;
        goto out;
    }
    audio_hann_periodic(fe->hann1920, CB_S3GEN_N_FFT);
    audio_hann_periodic(fe->hann400, CB_ENC_N_FFT);
    audio_povey_window(fe->povey400, CB_FBANK_FRAME_LEN);
    audio_mel_slaney(fe->s3gen_basis, CB_S3GEN_SR, CB_S3GEN_N_FFT, CB_S3GEN_N_MELS, 0, 8000);
    audio_mel_slaney(fe->s3tok_basis, CB_ENC_SR, CB_ENC_N_FFT, CB_S3TOK_N_MELS, 0, 8000);
    audio_mel_slaney(fe->ve_basis, CB_ENC_SR, CB_ENC_N_FFT, CB_VE_N_MELS, 0, 8000);
    audio_mel_kaldi(fe->fbank_banks, CB_ENC_SR, CB_FBANK_N_FFT, CB_FBANK_N_MELS, 20.0f, 0.0f);
out:
    if (err != VB_OK) {
        cb_frontend_free(fe);
        return err;
    }
    *out = fe;
    return VB_OK;
}

void cb_frontend_free(struct cb_frontend *fe)
{
    if (!fe)
        return;
    audio_fft_free(fe->fft1920);
    audio_fft_free(fe->fft400);
    audio_fft_free(fe->fft512);
    vb_free(fe->s3gen_basis);
    vb_free(fe->s3tok_basis);
    vb_free(fe->ve_basis);
    vb_free(fe->fbank_banks);
    vb_free(fe);
}

const float *cb_fe_s3gen_mel_basis(const struct cb_frontend *fe)
{
    return fe->s3gen_basis;
}

const float *cb_fe_s3tok_mel_basis(const struct cb_frontend *fe)
{
    return fe->s3tok_basis;
}

const float *cb_fe_ve_mel_basis(const struct cb_frontend *fe)
{
    return fe->ve_basis;
}

const float *cb_fe_fbank_mel_banks(const struct cb_frontend *fe)
{
    return fe->fbank_banks;
}

/* out (M, T) = basis (M, B) x spec (B, T), double accumulation, zero weights skipped */
static void mel_apply(const float *basis, int M, int B, const float *spec, int64_t T, float *out,
                      double *acc)
{
    for (int m = 0; m < M; m++) {
        for (int64_t t = 0; t < T; t++)
            acc[t] = 0;
        const float *br = basis + (int64_t)m * B;
        for (int b = 0; b < B; b++) {
            if (br[b] == 0.0f)
                continue;
            double w = br[b];
            const float *sr = spec + (int64_t)b * T;
            for (int64_t t = 0; t < T; t++)
                acc[t] += w * sr[t];
        }
        for (int64_t t = 0; t < T; t++)
            out[(int64_t)m * T + t] = (float)acc[t];
    }
}

/* Shared: optional reflect padding, STFT, then per-bin transform into spec (B, T). */
struct stft_buf {
    float *pad, *re, *im;
    double *work, *acc;
};

static void stft_buf_free(struct stft_buf *s)
{
    vb_free(s->pad);
    vb_free(s->re);
    vb_free(s->im);
    vb_free(s->work);
    vb_free(s->acc);
}

static enum vb_err stft_run(const struct audio_fft *f, const float *wav, int64_t n, int pad,
                            int hop, const float *window, bool f64, int64_t frames,
                            struct stft_buf *s)
{
    int nf = audio_fft_size(f), nb = nf / 2 + 1;
    int64_t np = n + 2 * (int64_t)pad;
    s->pad = vb_try_malloc((size_t)np * sizeof *s->pad);
    s->re = vb_try_malloc((size_t)(nb * frames) * sizeof *s->re);
    s->im = vb_try_malloc((size_t)(nb * frames) * sizeof *s->im);
    s->work = vb_try_malloc((audio_fft_work_size(f) + 2 * (size_t)nf + 2) * sizeof *s->work);
    s->acc = vb_try_malloc((size_t)VB_MAX(frames, 1) * sizeof *s->acc);
    if (!s->pad || !s->re || !s->im || !s->work || !s->acc)
        return VB_ERR_NOMEM;
    enum vb_err err = audio_reflect_pad(wav, n, pad, pad, s->pad);
    if (err != VB_OK)
        return err;
    int64_t have = audio_stft_frames(np, nf, hop);
    if (have < frames)
        return VB_ERR_INVALID;
    audio_stft(f, s->pad, np, hop, window, f64, s->re, s->im, frames, frames, s->work);
    return VB_OK;
}

int64_t cb_fe_s3gen_mel_frames(int64_t n)
{
    return n > 0 ? n / CB_S3GEN_HOP : 0;
}

enum vb_err cb_fe_s3gen_mel(const struct cb_frontend *fe, const float *wav, int64_t n, float *mel)
{
    const int pad = (CB_S3GEN_N_FFT - CB_S3GEN_HOP) / 2, nb = CB_S3GEN_N_FFT / 2 + 1;
    if (n <= pad)
        return VB_ERR_INVALID;
    int64_t T = cb_fe_s3gen_mel_frames(n);
    struct stft_buf s = {0};
    enum vb_err err = stft_run(fe->fft1920, wav, n, pad, CB_S3GEN_HOP, fe->hann1920, false, T, &s);
    if (err != VB_OK)
        goto out;
    for (int64_t i = 0; i < (int64_t)nb * T; i++)
        s.re[i] = sqrtf(s.re[i] * s.re[i] + s.im[i] * s.im[i] + 1e-9f);
    mel_apply(fe->s3gen_basis, CB_S3GEN_N_MELS, nb, s.re, T, mel, s.acc);
    for (int64_t i = 0; i < (int64_t)CB_S3GEN_N_MELS * T; i++)
        mel[i] = logf(fmaxf(mel[i], 1e-5f));
out:
    stft_buf_free(&s);
    return err;
}

int64_t cb_fe_s3tok_frames(int64_t n)
{
    return n > 0 ? n / CB_ENC_HOP : 0;
}

enum vb_err cb_fe_s3tok_log_mel(const struct cb_frontend *fe, const float *wav, int64_t n,
                                float *out)
{
    const int nb = CB_ENC_N_FFT / 2 + 1;
    if (n <= CB_ENC_N_FFT / 2)
        return VB_ERR_INVALID;
    int64_t T = cb_fe_s3tok_frames(n);
    struct stft_buf s = {0};
    enum vb_err err =
        stft_run(fe->fft400, wav, n, CB_ENC_N_FFT / 2, CB_ENC_HOP, fe->hann400, false, T, &s);
    if (err != VB_OK)
        goto out;
    for (int64_t i = 0; i < (int64_t)nb * T; i++)
        s.re[i] = s.re[i] * s.re[i] + s.im[i] * s.im[i];
    mel_apply(fe->s3tok_basis, CB_S3TOK_N_MELS, nb, s.re, T, out, s.acc);
    int64_t N = (int64_t)CB_S3TOK_N_MELS * T;
    float mx = -INFINITY;
    for (int64_t i = 0; i < N; i++) {
        out[i] = log10f(fmaxf(out[i], 1e-10f));
        mx = fmaxf(mx, out[i]);
    }
    for (int64_t i = 0; i < N; i++)
        out[i] = (fmaxf(out[i], mx - 8.0f) + 4.0f) / 4.0f;
out:
    stft_buf_free(&s);
    return err;
}

int64_t cb_fe_ve_mel_frames(int64_t n)
{
    return n > 0 ? 1 + n / CB_ENC_HOP : 0;
}

enum vb_err cb_fe_ve_mel(const struct cb_frontend *fe, const float *wav, int64_t n, float *out)
{
    const int nb = CB_ENC_N_FFT / 2 + 1;
    if (n <= CB_ENC_N_FFT / 2)
        return VB_ERR_INVALID;
    int64_t T = cb_fe_ve_mel_frames(n);
    struct stft_buf s = {0};
    enum vb_err err =
        stft_run(fe->fft400, wav, n, CB_ENC_N_FFT / 2, CB_ENC_HOP, fe->hann400, true, T, &s);
    if (err != VB_OK)
        goto out;
    for (int64_t i = 0; i < (int64_t)nb * T; i++)
        s.re[i] = s.re[i] * s.re[i] + s.im[i] * s.im[i];
    mel_apply(fe->ve_basis, CB_VE_N_MELS, nb, s.re, T, out, s.acc);
out:
    stft_buf_free(&s);
    return err;
}

int64_t cb_fe_fbank_frames(int64_t n)
{
    return n < CB_FBANK_FRAME_LEN ? 0 : 1 + (n - CB_FBANK_FRAME_LEN) / CB_FBANK_SHIFT;
}

enum vb_err cb_fe_fbank(const struct cb_frontend *fe, const float *wav, int64_t n, bool cmn,
                        float *out)
{
    const int L = CB_FBANK_FRAME_LEN, nf = CB_FBANK_N_FFT, nb = nf / 2 + 1, M = CB_FBANK_N_MELS;
    int64_t T = cb_fe_fbank_frames(n);
    if (T < 1)
        return VB_ERR_INVALID;
    double *work = vb_try_malloc((audio_fft_work_size(fe->fft512) + 2 * (size_t)nf) * sizeof *work);
    double *sum = vb_try_calloc(M, sizeof *sum);
    if (!work || !sum) {
        vb_free(work);
        vb_free(sum);
        return VB_ERR_NOMEM;
    }
    float *fr = (float *)(work + audio_fft_work_size(fe->fft512)); /* nf floats */
    float *re = fr + nf, *im = re + nb;                            /* nb + nb floats */
    for (int64_t t = 0; t < T; t++) {
        const float *x = wav + t * CB_FBANK_SHIFT;
        float mean = 0;
        {
            double s = 0;
            for (int i = 0; i < L; i++)
                s += x[i];
            mean = (float)(s / L);
        }
        float prev = x[0] - mean;
        for (int i = 0; i < L; i++) {
            float v = x[i] - mean;
            fr[i] = (v - 0.97f * prev) * fe->povey400[i];
            prev = v;
        }
        memset(fr + L, 0, (size_t)(nf - L) * sizeof *fr);
        audio_rfft(fe->fft512, fr, re, im, work);
        for (int k = 0; k < nb; k++)
            re[k] = re[k] * re[k] + im[k] * im[k];
        float *o = out + t * M;
        for (int m = 0; m < M; m++) {
            const float *bank = fe->fbank_banks + (int64_t)m * nb;
            double e = 0;
            for (int k = 0; k < nb; k++)
                e += (double)bank[k] * re[k];
            o[m] = logf(fmaxf((float)e, FLT_EPSILON));
            sum[m] += o[m];
        }
    }
    if (cmn)
        for (int m = 0; m < M; m++) {
            float mean = (float)(sum[m] / (double)T);
            for (int64_t t = 0; t < T; t++)
                out[t * M + m] -= mean;
        }
    vb_free(work);
    vb_free(sum);
    return VB_OK;
}

static int gcd_int(int a, int b)
{
    while (b) {
        int t = a % b;
        a = b;
        b = t;
    }
    return a;
}

int64_t cb_fe_resample_len(int64_t n, int in_rate, int out_rate)
{
    if (n <= 0 || in_rate <= 0 || out_rate <= 0)
        return 0;
    int g = gcd_int(in_rate, out_rate);
    int64_t up = out_rate / g, down = in_rate / g;
    return (n * up + down - 1) / down;
}

enum vb_err cb_fe_resample(const float *in, int64_t n, int in_rate, int out_rate, float *out)
{
    if (in_rate <= 0 || out_rate <= 0 || n < 0)
        return VB_ERR_INVALID;
    if (n == 0)
        return VB_OK;
    if (in_rate == out_rate) {
        memcpy(out, in, (size_t)n * sizeof *out);
        return VB_OK;
    }
    int g = gcd_int(in_rate, out_rate);
    int orig = in_rate / g, nw = out_rate / g;
    if (orig > 100000 || nw > 100000)
        return VB_ERR_INVALID;
    const double lpw = 6.0, rolloff = 0.99;
    double base = (orig < nw ? orig : nw) * rolloff;
    int width = (int)ceil(lpw * orig / base);
    int K = 2 * width + orig;
    float *kern = vb_try_malloc((size_t)nw * (size_t)K * sizeof *kern);
    if (!kern)
        return VB_ERR_NOMEM;
    for (int j = 0; j < nw; j++)
        for (int m = 0; m < K; m++) {
            double t = (-(double)j / nw + (double)(m - width) / orig) * base;
            if (t < -lpw)
                t = -lpw;
            if (t > lpw)
                t = lpw;
            double w = cos(t * M_PI / lpw / 2);
            w *= w;
            t *= M_PI;
            double k = t == 0 ? 1.0 : sin(t) / t;
            kern[(int64_t)j * K + m] = (float)(k * w * (base / orig));
        }
    /* input zero-padded by width left and width + orig right; conv with stride orig */
    int64_t n_blocks = n / orig + 1, total = cb_fe_resample_len(n, in_rate, out_rate);
    for (int64_t i = 0; i < n_blocks; i++)
        for (int j = 0; j < nw; j++) {
            int64_t o = i * nw + j;
            if (o >= total)
                break;
            const float *kr = kern + (int64_t)j * K;
            double acc = 0;
            for (int m = 0; m < K; m++) {
                int64_t src = i * orig + m - width;
                if (src >= 0 && src < n)
                    acc += (double)kr[m] * in[src];
            }
            out[o] = (float)acc;
        }
    vb_free(kern);
    return VB_OK;
}
