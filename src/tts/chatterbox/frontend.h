/* frontend.h: the Chatterbox audio front ends, each matching its reference implementation:
 * the S3Gen prompt mel (24 kHz, Matcha/CosyVoice), the S3Tokenizer log-mel (16 kHz, Whisper
 * style), the VoiceEncoder power mel (16 kHz, librosa), Kaldi fbank + CMN for CAMPPlus
 * (16 kHz, torchaudio.compliance.kaldi) and torchaudio's sinc-Hann resampler (24k -> 16k).
 *
 *   struct cb_frontend *fe; cb_frontend_new(&fe);           // plans + filterbanks, once
 *   int64_t T = cb_fe_s3gen_mel_frames(n);
 *   float *mel = ...80*T...; cb_fe_s3gen_mel(fe, wav24, n, mel);   // (80, T)
 *   cb_frontend_free(fe);
 *
 * The frontend object is immutable after creation and may be shared by threads; each call
 * allocates its own scratch (once per call, sized from the input).
 */
#ifndef TTS_CHATTERBOX_FRONTEND_H
#define TTS_CHATTERBOX_FRONTEND_H

#include "core/vb.h"
#include "core/err.h"

#define CB_S3GEN_SR        24000 /* S3Gen / HiFT rate */
#define CB_S3GEN_N_MELS    80
#define CB_S3GEN_N_FFT     1920
#define CB_S3GEN_HOP       480
#define CB_ENC_SR          16000 /* rate of the three encoders' front ends */
#define CB_S3TOK_N_MELS    128
#define CB_ENC_N_FFT       400
#define CB_ENC_HOP         160
#define CB_VE_N_MELS       40
#define CB_FBANK_N_MELS    80
#define CB_FBANK_N_FFT     512 /* 400-sample frames zero-padded to a power of two */
#define CB_FBANK_FRAME_LEN 400
#define CB_FBANK_SHIFT     160

struct cb_frontend;

VB_WUR enum vb_err cb_frontend_new(struct cb_frontend **out);
void cb_frontend_free(struct cb_frontend *fe);

/* Filterbanks the front end uses (borrowed): (80, 961), (128, 201), (40, 201), (80, 257). */
const float *cb_fe_s3gen_mel_basis(const struct cb_frontend *fe);
const float *cb_fe_s3tok_mel_basis(const struct cb_frontend *fe);
const float *cb_fe_ve_mel_basis(const struct cb_frontend *fe);
const float *cb_fe_fbank_mel_banks(const struct cb_frontend *fe);

/* S3Gen mel: reflect-pad 720 each side, |STFT| (n_fft 1920, hop 480, periodic Hann, no
 * centring) with sqrt(re^2 + im^2 + 1e-9), Slaney mel 80 bins 0-8 kHz, ln(max(x, 1e-5)).
 * Frames: floor(n / 480). mel: (80, frames). VB_ERR_INVALID if n <= 720. */
int64_t cb_fe_s3gen_mel_frames(int64_t n);
VB_WUR enum vb_err cb_fe_s3gen_mel(const struct cb_frontend *fe, const float *wav, int64_t n,
                                   float *mel);

/* S3Tokenizer log-mel: centred STFT (n_fft 400, hop 160, reflect 200), last frame dropped,
 * power, Slaney mel 128 bins, log10(max(x, 1e-10)), max(y, max(y) - 8), (y + 4) / 4.
 * Frames: floor(n / 160). out: (128, frames). VB_ERR_INVALID if n <= 200. */
int64_t cb_fe_s3tok_frames(int64_t n);
VB_WUR enum vb_err cb_fe_s3tok_log_mel(const struct cb_frontend *fe, const float *wav, int64_t n,
                                       float *out);

/* VoiceEncoder mel: centred STFT (librosa: n_fft 400, hop 160, reflect, window product in
 * float64), power, Slaney mel 40 bins 0-8 kHz, linear (no log). Frames: 1 + floor(n / 160).
 * out: (40, frames). VB_ERR_INVALID if n <= 200. */
int64_t cb_fe_ve_mel_frames(int64_t n);
VB_WUR enum vb_err cb_fe_ve_mel(const struct cb_frontend *fe, const float *wav, int64_t n,
                                float *out);

/* Kaldi fbank (torchaudio defaults, 80 bins): 400-sample frames every 160 (snip edges), DC
 * removal, pre-emphasis 0.97, Povey window, 512-point power spectrum, Kaldi mel 20-8000 Hz,
 * ln(max(E, FLT_EPSILON)); with cmn the per-bin mean over frames is subtracted. Input is the
 * float waveform as is (not int16-scaled). Frames: 1 + (n - 400) / 160 (0 when n < 400).
 * out: (frames, 80). VB_ERR_INVALID if no frame fits. */
int64_t cb_fe_fbank_frames(int64_t n);
VB_WUR enum vb_err cb_fe_fbank(const struct cb_frontend *fe, const float *wav, int64_t n, bool cmn,
                               float *out);

/* torchaudio.functional.resample (0.13 defaults: sinc_interp_hann, lowpass_filter_width 6,
 * rolloff 0.99) from in_rate to out_rate. Output length ceil(n * out / in) (after dividing
 * both rates by their gcd). VB_ERR_INVALID for bad rates, VB_ERR_NOMEM. */
int64_t cb_fe_resample_len(int64_t n, int in_rate, int out_rate);
VB_WUR enum vb_err cb_fe_resample(const float *in, int64_t n, int in_rate, int out_rate,
                                  float *out);

#endif
