/* decode.h: decoding of an in-memory audio file (any format libsndfile reads: WAV of any bit
 * depth, FLAC, OGG/Vorbis, Opus, MP3, AIFF, ...) into float PCM, with validation that names
 * the reason an upload is refused (for a 422) and never crashes on hostile input. */
#ifndef VB_AUDIO_DECODE_H
#define VB_AUDIO_DECODE_H

#include "core/vb.h"
#include "core/err.h"

#define AUDIO_MIN_SAMPLE_RATE_HZ 8000
#define AUDIO_MAX_SAMPLE_RATE_HZ 384000
#define AUDIO_MAX_CHANNELS       8
/* Default cap on decoded frames: 10 minutes at 48 kHz. */
#define AUDIO_DECODE_MAX_FRAMES_DEFAULT ((int64_t)48000 * 600)
/* A signal whose peak is below this is "silent". */
#define AUDIO_SILENCE_DBFS (-60.0)

/* Why an input was refused. Stable codes (audio_problem_code) go in JSON error bodies. */
enum audio_problem {
    AUDIO_PROBLEM_NONE = 0,
    AUDIO_PROBLEM_NOT_AUDIO,       /* libsndfile does not recognise the bytes */
    AUDIO_PROBLEM_UNDECODABLE,     /* recognised but reading the samples failed */
    AUDIO_PROBLEM_EMPTY,           /* zero frames */
    AUDIO_PROBLEM_SAMPLE_RATE,     /* outside [AUDIO_MIN_SAMPLE_RATE_HZ, AUDIO_MAX_...] */
    AUDIO_PROBLEM_CHANNELS,        /* 0 or more than the allowed channels */
    AUDIO_PROBLEM_TOO_LONG,        /* more frames than the decode cap */
    AUDIO_PROBLEM_TRUNCATED,       /* fewer frames present than the header announces */
    AUDIO_PROBLEM_INVALID_SAMPLES, /* NaN or infinite sample values (float files) */
    AUDIO_PROBLEM_TOO_SHORT,       /* under the caller's minimum duration */
    AUDIO_PROBLEM_DURATION,        /* over the caller's maximum duration */
    AUDIO_PROBLEM_SILENT,          /* every sample below AUDIO_SILENCE_DBFS */
    AUDIO_PROBLEM_NOMEM,           /* not enough memory to decode */
};

/* What was refused and why, in a sentence fit for an HTTP 422 body. */
struct audio_diag {
    enum audio_problem problem;
    char message[200];
};

/* Float PCM: interleaved frames. Owned by whoever holds the struct; audio_pcm_release frees. */
struct audio_pcm {
    float *samples;  /* (frames, channels) interleaved, nominally in [-1, 1] */
    size_t frames;   /* samples per channel */
    int channels;    /* >= 1 */
    int sample_rate; /* Hz */
};

/* Metadata of a decoded (or probed) file. */
struct audio_info {
    int sample_rate;       /* Hz */
    int channels;          /* channels in the file (before any downmix) */
    int64_t frames;        /* frames actually decoded */
    int64_t frames_header; /* frames the header announced (may exceed `frames`) */
    double duration_s;     /* frames / sample_rate */
    char format[12];       /* short name: "wav", "flac", "ogg", "opus", "mp3", "aiff", ... */
    char subtype[24];      /* e.g. "pcm_16", "float", "vorbis", "mpeg_layer_iii" */
    bool truncated;        /* frames < frames_header (only when accept_truncated is set) */
};

struct audio_decode_params {
    bool mono;             /* downmix to one channel (average of the channels) */
    int64_t max_frames;    /* cap on decoded frames; 0 = AUDIO_DECODE_MAX_FRAMES_DEFAULT */
    int max_channels;      /* 0 = AUDIO_MAX_CHANNELS */
    bool accept_truncated; /* decode what is present instead of AUDIO_PROBLEM_TRUNCATED */
    double max_seconds;    /* refuse longer audio early (AUDIO_PROBLEM_DURATION, from the
                              header, or while reading when the header does not say); 0 = no
                              limit besides max_frames */
};

struct audio_decode_params audio_decode_default_params(void);

/* Decodes `len` bytes at `data` (borrowed for the call). On VB_OK, `out` holds the PCM (caller
 * frees with audio_pcm_release) and `info` (optional) the metadata. On error `out` is empty,
 * `diag` (optional) says why; errors: VB_ERR_FORMAT (not audio / undecodable),
 * VB_ERR_UNPROCESSABLE (empty, absurd rate or channels, truncated, bad samples, longer than
 * max_seconds),
 * VB_ERR_TOO_LARGE (over the frame cap), VB_ERR_NOMEM. `params` NULL = defaults. */
VB_WUR enum vb_err audio_decode(const void *data, size_t len,
                                const struct audio_decode_params *params, struct audio_pcm *out,
                                struct audio_info *info, struct audio_diag *diag);

/* Reads only the header: fills `info` (frames = frames_header) without decoding samples.
 * Same validation of rate and channels as audio_decode. */
VB_WUR enum vb_err audio_probe(const void *data, size_t len, struct audio_info *info,
                               struct audio_diag *diag);

/* Duration check: VB_ERR_UNPROCESSABLE with AUDIO_PROBLEM_TOO_SHORT / _DURATION when
 * frames/sample_rate is outside [min_s, max_s] (max_s <= 0 means no maximum). */
VB_WUR enum vb_err audio_check_duration(const struct audio_pcm *pcm, double min_s, double max_s,
                                        struct audio_diag *diag);

/* Silence check: VB_ERR_UNPROCESSABLE with AUDIO_PROBLEM_SILENT when every sample's magnitude
 * is below `threshold_dbfs` (use AUDIO_SILENCE_DBFS). Empty PCM counts as silent. */
VB_WUR enum vb_err audio_check_silence(const struct audio_pcm *pcm, double threshold_dbfs,
                                       struct audio_diag *diag);

/* Allocates `frames * channels` zeroed samples. VB_ERR_NOMEM / VB_ERR_INVALID. */
VB_WUR enum vb_err audio_pcm_alloc(struct audio_pcm *pcm, size_t frames, int channels,
                                   int sample_rate);
/* Frees the samples and zeroes the struct; NULL and empty are fine. */
void audio_pcm_release(struct audio_pcm *pcm);

/* Stable machine code ("not_audio", "silent", ...) and generic sentence of a problem. */
const char *audio_problem_code(enum audio_problem problem);
const char *audio_problem_message(enum audio_problem problem);

#endif
