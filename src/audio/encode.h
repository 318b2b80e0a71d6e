/* encode.h: encoding of float PCM to wav (16-bit PCM by default), flac, ogg (Vorbis), opus
 * and mp3 through libsndfile, into memory or a file. Which formats work is probed at run
 * time (each one encodes a short test signal once); opus is always written at 48 kHz and
 * mp3 at an MPEG rate, resampling when needed. */
#ifndef VB_AUDIO_ENCODE_H
#define VB_AUDIO_ENCODE_H

#include "core/vb.h"
#include "core/err.h"
#include "audio/decode.h"

#define AUDIO_FORMAT_DEFAULT "wav"

struct audio_format_desc {
    const char *name;         /* request value: "wav", "flac", "ogg", "opus", "mp3" */
    const char *content_type; /* "audio/wav", ... */
    const char *extension;    /* file extension without the dot */
    int sf_format;            /* libsndfile major | subtype used for writing */
};

/* Format by request name (case-insensitive), whether or not this build supports it; NULL if
 * unknown. */
const struct audio_format_desc *audio_format_find(const char *name);
/* True when `name` is known and this libsndfile encodes it. */
bool audio_format_supported(const char *name);
/* Comma-separated list of the supported names, e.g. "wav, flac, ogg, opus, mp3" (static). */
const char *audio_formats_supported(void);
/* Number of known formats and the i-th one (for listings). */
size_t audio_format_count(void);
const struct audio_format_desc *audio_format_at(size_t i);

struct audio_encode_params {
    int wav_bits;     /* wav/flac sample size: 16 (default), 24; wav also 32 (float) */
    double quality;   /* lossy formats, 0 (smallest) .. 1 (best); default 0.6 */
    size_t max_bytes; /* cap on the encoded size (memory only); 0 = 512 MiB */
};
struct audio_encode_params audio_encode_default_params(void);

/* Encodes `pcm` (borrowed, mono or interleaved) as `format`. On VB_OK *out (caller frees with
 * vb_free) holds *out_len bytes. Errors: VB_ERR_UNPROCESSABLE for an unknown or unsupported
 * format (`diag`, optional, names the supported ones), VB_ERR_INVALID for an empty/odd PCM,
 * VB_ERR_TOO_LARGE over max_bytes, VB_ERR_NOMEM, VB_ERR_INTERNAL when libsndfile fails.
 * `params` NULL = defaults. */
VB_WUR enum vb_err audio_encode(const struct audio_pcm *pcm, const char *format,
                                const struct audio_encode_params *params, unsigned char **out,
                                size_t *out_len, struct audio_diag *diag);

/* Same, written to `path` (created or truncated; written to a temporary name then renamed).
 * VB_ERR_IO when the file cannot be written. */
VB_WUR enum vb_err audio_encode_file(const struct audio_pcm *pcm, const char *format,
                                     const struct audio_encode_params *params, const char *path,
                                     struct audio_diag *diag);

/* Streaming WAV (chunked HTTP responses): a 44-byte header for 16-bit PCM whose RIFF and
 * data sizes are 0xFFFFFFFF ("unknown length", accepted by common players and decoders),
 * followed by any number of audio_wav_stream_pcm16 chunks. */
#define AUDIO_WAV_STREAM_HEADER_BYTES 44
void audio_wav_stream_header(unsigned char out[AUDIO_WAV_STREAM_HEADER_BYTES], int sample_rate,
                             int channels);
/* Converts n float samples (times 32767, rounded, clamped to [-32768, 32767], NaN as 0) to
 * little-endian 16-bit PCM in out (2 * n bytes, caller-owned). */
void audio_wav_stream_pcm16(const float *samples, size_t n, unsigned char *out);

#endif
