/* test_spectral.c: FFT against a direct double DFT for many sizes, irfft round trips, reflect
 * padding, STFT/iSTFT reconstruction, windows, and the mel filterbanks against the librosa
 * reference bases (frontend vectors, when present). */
#include "core/vb.h"
#include "core/alloc.h"
#include "audio/spectral.h"
#include "nn/safetensors.h"
#include "unit/refdata.h"
#include "unit/test.h"

#include <math.h>
#include <stdlib.h>

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static void fft_one(int n)
{
    struct audio_fft *f = NULL;
    CHECK(audio_fft_new(n, &f) == VB_OK);
    if (!f)
        return;
    int nb = n / 2 + 1;
    float *x = vb_xmalloc((size_t)n * sizeof *x), *re = vb_xmalloc((size_t)nb * sizeof *re),
          *im = vb_xmalloc((size_t)nb * sizeof *im), *back = vb_xmalloc((size_t)n * sizeof *back);
    double *work = vb_xmalloc(audio_fft_work_size(f) * sizeof *work);
    for (int i = 0; i < n; i++)
        x[i] = frand();
    audio_rfft(f, x, re, im, work);
    double maxe = 0, scale = sqrt((double)n);
    for (int k = 0; k < nb; k++) {
        double sr = 0, si = 0;
        for (int t = 0; t < n; t++) {
            double a = -2.0 * M_PI * (double)((int64_t)k * t % n) / n;
            sr += x[t] * cos(a);
            si += x[t] * sin(a);
        }
        maxe = fmax(maxe, fmax(fabs(sr - re[k]), fabs(si - im[k])) / scale);
    }
    CHECK_MSG(maxe < 1e-6, "n=%d: rfft err %g", n, maxe);
    audio_irfft(f, re, im, back, work);
    double be = 0;
    for (int i = 0; i < n; i++)
        be = fmax(be, fabs((double)back[i] - x[i]));
    CHECK_MSG(be < 1e-5, "n=%d: irfft round trip err %g", n, be);
    vb_free(x);
    vb_free(re);
    vb_free(im);
    vb_free(back);
    vb_free(work);
    audio_fft_free(f);
}

TEST(fft_sizes)
{
    for (int n = 1; n <= 64; n++)
        fft_one(n);
    static const int sizes[] = {96, 100, 121, 143, 160, 256, 400, 512, 1000, 1920, 2048};
    for (size_t i = 0; i < VB_ARRAY_LEN(sizes); i++)
        fft_one(sizes[i]);
    struct audio_fft *f = NULL;
    CHECK(audio_fft_new(0, &f) == VB_ERR_INVALID && !f);
    CHECK(audio_fft_new(AUDIO_FFT_MAX_N + 1, &f) == VB_ERR_INVALID);
    audio_fft_free(NULL);
}

TEST(irfft_ignores_dc_nyquist_imag)
{
    struct audio_fft *f = NULL;
    CHECK(audio_fft_new(8, &f) == VB_OK);
    double work[64];
    float re[5] = {8, 0, 0, 0, 0}, im[5] = {5, 0, 0, 0, 7}, x[8];
    audio_irfft(f, re, im, x, work);
    for (int i = 0; i < 8; i++)
        CHECK_NEAR(x[i], 1.0, 1e-6);
    audio_fft_free(f);
}

TEST(windows_and_padding)
{
    float w[4];
    audio_hann_periodic(w, 4);
    CHECK_NEAR(w[0], 0, 1e-7);
    CHECK_NEAR(w[1], 0.5, 1e-7);
    CHECK_NEAR(w[2], 1, 1e-7);
    CHECK_NEAR(w[3], 0.5, 1e-7);
    float pw[5];
    audio_povey_window(pw, 5);
    CHECK_NEAR(pw[0], 0, 1e-7);
    CHECK_NEAR(pw[2], 1, 1e-7);
    CHECK_NEAR(pw[1], pow(0.5, 0.85), 1e-6);
    float x[4] = {1, 2, 3, 4}, out[9];
    CHECK(audio_reflect_pad(x, 4, 3, 2, out) == VB_OK);
    const float want[9] = {4, 3, 2, 1, 2, 3, 4, 3, 2};
    CHECK(memcmp(out, want, sizeof want) == 0);
    CHECK(audio_reflect_pad(x, 4, 4, 0, out) == VB_ERR_INVALID);
    CHECK(audio_reflect_pad(x, 4, 0, 4, out) == VB_ERR_INVALID);
    CHECK_EQ_INT(audio_stft_frames(100, 16, 4), 22);
    CHECK_EQ_INT(audio_stft_frames(15, 16, 4), 0);
}

TEST(stft_istft_round_trip)
{
    /* HiFT convention: n_fft 16, hop 4, hann, centred (reflect 8) -> istft gives the input */
    const int nf = 16, hop = 4;
    const int64_t L = 400;
    struct audio_fft *f = NULL;
    CHECK(audio_fft_new(nf, &f) == VB_OK);
    float x[400], pad[416], win[16], y[400], ola[512];
    for (int i = 0; i < L; i++)
        x[i] = frand();
    audio_hann_periodic(win, nf);
    CHECK(audio_reflect_pad(x, L, nf / 2, nf / 2, pad) == VB_OK);
    int64_t frames = audio_stft_frames(L + nf, nf, hop);
    CHECK_EQ_INT(frames, L / hop + 1);
    float re[9 * 101], im[9 * 101];
    double *work = vb_xmalloc((audio_fft_work_size(f) + 2 * nf + 2) * sizeof *work);
    audio_stft(f, pad, L + nf, hop, win, false, re, im, frames, frames, work);
    /* spot check one bin against a direct sum */
    double sr = 0, si = 0;
    for (int t = 0; t < nf; t++) {
        double a = -2.0 * M_PI * 3 * t / nf, v = pad[5 * hop + t] * win[t];
        sr += v * cos(a);
        si += v * sin(a);
    }
    CHECK_NEAR(re[3 * frames + 5], sr, 1e-5);
    CHECK_NEAR(im[3 * frames + 5], si, 1e-5);
    /* the same frames in two column ranges of the wider array (rows of `frames` floats) */
    float re2[9 * 101], im2[9 * 101];
    int64_t cut = 37;
    audio_stft(f, pad, cut * hop + nf, hop, win, false, re2, im2, cut, frames, work);
    audio_stft(f, pad + cut * hop, (frames - cut - 1) * hop + nf, hop, win, false, re2 + cut,
               im2 + cut, frames - cut, frames, work);
    CHECK(memcmp(re, re2, sizeof re) == 0 && memcmp(im, im2, sizeof im) == 0);
    audio_istft(f, re, im, frames, hop, win, y, ola, work);
    double e = 0;
    for (int i = 0; i < L; i++)
        e = fmax(e, fabs((double)y[i] - x[i]));
    CHECK_MSG(e < 1e-5, "istft(stft(x)) err %g", e);
    vb_free(work);
    audio_fft_free(f);
}

static const char *refdir(void)
{
    const char *d = getenv("VOCERO_REFDATA");
    return d && *d ? d : "../shared/testdata";
}

static void compare_basis(const struct nn_safetensors *st, const char *name, const float *fb,
                          int rows, int cols)
{
    const struct nn_st_tensor *t = nn_st_find(st, name);
    char why[256];
    int nd = rows == 1 ? 1 : 2;
    const int64_t shape[2] = {nd == 1 ? cols : rows, cols};
    enum vb_err err = nn_st_expect(t, NN_ST_F32, nd, shape, why, sizeof why);
    CHECK_MSG(err == VB_OK, "%s", why);
    if (err != VB_OK)
        return;
    float *ref = vb_xmalloc((size_t)rows * cols * sizeof *ref);
    CHECK(nn_st_to_f32(t, ref, (size_t)rows * cols) == VB_OK);
    double e = 0;
    for (int64_t i = 0; i < (int64_t)rows * cols; i++)
        e = fmax(e, fabs((double)fb[i] - ref[i]));
    fprintf(stderr, "  %s: max abs err %.3g\n", name, e);
    CHECK_MSG(e <= 1e-7, "%s: max abs err %g", name, e);
    vb_free(ref);
}

TEST(mel_bases_match_librosa)
{
    char path[512];
    snprintf(path, sizeof path, "%s/chatterbox-ref/frontend/frontend.safetensors", refdir());
    struct nn_safetensors *st = refdata_open_st("mel_bases_match_librosa", path);
    if (!st)
        return;
    float *fb = vb_xmalloc(128 * 961 * sizeof *fb);
    audio_mel_slaney(fb, 24000, 1920, 80, 0, 8000);
    compare_basis(st, "s3gen_mel_basis", fb, 80, 961);
    audio_mel_slaney(fb, 16000, 400, 128, 0, 8000);
    compare_basis(st, "s3tok_mel_filters", fb, 128, 201);
    audio_mel_slaney(fb, 16000, 400, 40, 0, 8000);
    compare_basis(st, "ve_mel_basis", fb, 40, 201);
    float win[400];
    audio_hann_periodic(win, 400);
    compare_basis(st, "s3tok_window", win, 1, 400);
    vb_free(fb);
    nn_st_close(st);
}

TEST(kaldi_mel_banks)
{
    /* torchaudio.compliance.kaldi.get_mel_banks(80, 512, 16000, 20, 0) properties */
    float *fb = vb_xmalloc(80 * 257 * sizeof *fb);
    audio_mel_kaldi(fb, 16000, 512, 80, 20.0f, 0.0f);
    for (int b = 0; b < 80; b++) {
        float mx = 0;
        int arg = -1;
        for (int k = 0; k < 257; k++)
            if (fb[b * 257 + k] > mx)
                mx = fb[b * 257 + k], arg = k;
        CHECK(mx > 0.0f && mx <= 1.0f && arg > 0);
        CHECK(fb[b * 257 + 256] == 0.0f);
    }
    /* bin 0 (0 Hz) lies below 20 Hz: every filter is zero there */
    for (int b = 0; b < 80; b++)
        CHECK(fb[b * 257] == 0.0f);
    vb_free(fb);
}

int main(void)
{
    RUN(fft_sizes);
    RUN(irfft_ignores_dc_nyquist_imag);
    RUN(windows_and_padding);
    RUN(stft_istft_round_trip);
    RUN(mel_bases_match_librosa);
    RUN(kaldi_mel_banks);
    return test_summary();
}
