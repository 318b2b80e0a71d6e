/* spectral.h: spectral building blocks for the model front ends and vocoders: a mixed-radix
 * FFT of any size (computed in double), periodic Hann and Povey windows, reflect padding,
 * framed STFT / overlap-add iSTFT with PyTorch's conventions, librosa Slaney and Kaldi mel
 * filterbanks.
 *
 *   struct audio_fft *f; audio_fft_new(400, &f);
 *   double *work = vb_try_malloc(audio_fft_work_size(f) * sizeof(double));
 *   audio_rfft(f, frame, re, im, work);   // n real samples -> n/2+1 bins
 *   audio_fft_free(f);
 */
#ifndef VB_AUDIO_SPECTRAL_H
#define VB_AUDIO_SPECTRAL_H

#include "core/vb.h"
#include "core/err.h"

#define AUDIO_FFT_MAX_N (1 << 20)

/* Immutable plan for transforms of size n (shareable between threads). */
struct audio_fft;

/* n in 1..AUDIO_FFT_MAX_N, any factorisation (prime factors > 5 use a slower generic
 * butterfly). Caller frees with audio_fft_free. VB_ERR_INVALID / VB_ERR_NOMEM. */
VB_WUR enum vb_err audio_fft_new(int n, struct audio_fft **out);
void audio_fft_free(struct audio_fft *f);
int audio_fft_size(const struct audio_fft *f);
/* Doubles of scratch the transforms below need (caller-owned, one per thread). */
size_t audio_fft_work_size(const struct audio_fft *f);

/* Real forward DFT: X[k] = sum_t x[t] e^{-2 pi i k t / n}, k = 0..n/2, into re[], im[]. */
void audio_rfft(const struct audio_fft *f, const float *x, float *re, float *im, double *work);
/* Same from double input (librosa multiplies frame and window in float64). */
void audio_rfft_d(const struct audio_fft *f, const double *x, float *re, float *im, double *work);
/* Inverse of audio_rfft (like torch.fft.irfft / C2R): the n/2+1 bins are extended by
 * Hermitian symmetry, the imaginary parts of DC and (even n) Nyquist are ignored, the result
 * is scaled by 1/n. */
void audio_irfft(const struct audio_fft *f, const float *re, const float *im, float *x,
                 double *work);

/* w[i] = 0.5 - 0.5 cos(2 pi i / n), i < n (torch.hann_window(n), periodic). */
void audio_hann_periodic(float *w, int n);
/* Povey window (Kaldi): (0.5 - 0.5 cos(2 pi i / (n-1)))^0.85. */
void audio_povey_window(float *w, int n);

/* out[0 .. pad_l + n + pad_r) = x reflected at both ends (numpy/torch "reflect": the edge
 * sample is not repeated). Needs pad_l, pad_r < n (VB_ERR_INVALID otherwise). */
VB_WUR enum vb_err audio_reflect_pad(const float *x, int64_t n, int pad_l, int pad_r, float *out);

/* Frames for a (padded) signal of n samples: 1 + (n - n_fft) / hop, 0 if n < n_fft. */
int64_t audio_stft_frames(int64_t n, int n_fft, int hop);
/* Uncentred STFT of x (the caller pads): frame f = x[f*hop .. f*hop + n_fft) * window (n_fft
 * values, NULL = rectangular), transformed; re/im are (n_fft/2+1, frames) row-major with rows
 * of ld floats (torch.stft layout when ld = frames; a larger ld fills columns of a wider
 * array, e.g. one range of frames per thread). window_f64: multiply in double like librosa
 * (else float like torch). work: audio_fft_work_size(f) + 2 * n_fft + 2 doubles. */
void audio_stft(const struct audio_fft *f, const float *x, int64_t n, int hop, const float *window,
                bool window_f64, float *re, float *im, int64_t frames, int64_t ld, double *work);
/* torch.istft(center=True, normalized=False, onesided, length=None) for n_fft = plan size,
 * window (n_fft): overlap-add of windowed irfft frames divided by the summed squared window
 * (where > 1e-11, else 0), n_fft/2 samples dropped at each end. re/im (n_fft/2+1, frames).
 * y receives hop * (frames - 1) samples. ola: hop*(frames-1) + n_fft floats of scratch; work:
 * audio_fft_work_size(f) + 2 * n_fft + 2 doubles. */
void audio_istft(const struct audio_fft *f, const float *re, const float *im, int64_t frames,
                 int hop, const float *window, float *y, float *ola, double *work);

/* librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax) with htk=False, norm="slaney" (as librosa
 * 0.11 computes it: float32 triangles from float64 ramps, then the Slaney area scaling).
 * fb: (n_mels, n_fft/2+1). f_hi <= 0 means sr/2. */
void audio_mel_slaney(float *fb, int sr, int n_fft, int n_mels, double f_lo, double f_hi);
/* Kaldi / torchaudio.compliance.kaldi mel banks (1127 ln(1 + f/700) scale, no normalisation,
 * no VTLN): fb (n_mels, n_fft/2+1), the Nyquist column zero. high_hz <= 0 means sr/2 + high_hz. */
void audio_mel_kaldi(float *fb, int sr, int n_fft, int n_mels, float low_hz, float high_hz);

#endif
