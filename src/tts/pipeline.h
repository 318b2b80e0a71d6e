/* pipeline.h: one generation from text to an encoded file, shared by the HTTP routes and the
 * `vocero tts` command: text -> sentence chunks -> engine -> join (tts/joiner.h: speed
 * change when the engine cannot, silence trim, short fades against clicks, pauses by how
 * each chunk ends) -> silence trim and fades -> optional ambience bed -> loudness
 * normalisation (-16 LUFS, -1 dBTP) -> encode. Optionally streams the audio (WAV with
 * unknown length, or raw PCM) while it is produced: then streaming engines hand out pieces
 * of a sentence while they work, joined as one stretch. Progress, cancel and the time spent
 * per stage are reported. */
#ifndef VB_TTS_PIPELINE_H
#define VB_TTS_PIPELINE_H

#include "core/vb.h"
#include "core/err.h"
#include "tts/engine.h"

#define TTS_FORMAT_PCM             "pcm"   /* raw signed 16-bit little-endian mono, no header */
#define TTS_AMBIENCE_VOLUME_DB     (-20.0) /* default ambience level relative to the speech */
#define TTS_AMBIENCE_VOLUME_MIN_DB (-60.0)
#define TTS_AMBIENCE_VOLUME_MAX_DB 0.0

enum tts_stage {
    TTS_STAGE_SYNTH,    /* text preparation + engine + joining chunks */
    TTS_STAGE_SPEED,    /* time stretch per chunk (engines without their own speed) */
    TTS_STAGE_POST,     /* silence trim, fades, resampling */
    TTS_STAGE_AMBIENCE, /* ambience synthesis and mixing */
    TTS_STAGE_LOUDNESS, /* measurement and normalisation */
    TTS_STAGE_ENCODE,   /* encoding to the requested format */
    TTS_STAGE_COUNT,
};

/* "synth", "speed", "post", "ambience", "loudness", "encode". */
const char *tts_stage_name(enum tts_stage s);

struct tts_request {
    const char *text;         /* UTF-8, borrowed */
    size_t text_len;          /* bytes */
    struct tts_params params; /* language, voice, prompt, temperature, speed, seed */
    const char *format;       /* audio_format_find name or TTS_FORMAT_PCM; NULL = "wav" */
    int sample_rate;          /* output rate in Hz; 0 = the engine's */
    const char *ambience_id;  /* NULL = no ambience; a built-in id ("rain", ...) unless
                                 ambience_pcm is set (then any label, e.g. a user's id) */
    const struct audio_pcm *ambience_pcm; /* a user's ambience recording (borrowed), looped
                                             or cut to length; NULL = built-in ambience_id */
    double ambience_volume_db;            /* ambience level relative to speech, dB (-60..0) */
    bool normalize;                       /* loudness normalisation (default true) */
};

struct tts_request tts_request_default(void);

struct tts_timings {
    double stage_ms[TTS_STAGE_COUNT];
    double total_ms;
    double first_audio_ms; /* streaming: time to the first audio bytes; else 0 */
};

struct tts_pipeline_callbacks {
    /* overall fraction in [0, 1] and the stage now running; may be NULL */
    void (*progress)(enum tts_stage stage, double fraction, void *user);
    /* polled often; true stops the work with VB_ERR_CANCELLED; may be NULL */
    bool (*cancelled)(void *user);
    /* Streaming (may be NULL): called with the audio bytes as they are produced, in the
     * request's format, which must be "wav" (a header with unknown sizes, 0xFFFFFFFF,
     * comes first) or TTS_FORMAT_PCM. Engines with TTS_CAP_STREAMING deliver pieces of a
     * sentence while they work, so audio starts before the first sentence is done. The
     * streamed speech uses one fixed gain set on its first 250 ms (no pumping) and a
     * look-ahead limiter carried across pieces (4 ms later, no clicks); an ambience is
     * streamed as a looping bed (lead-in, under the speech with the mixer's ducking carried
     * across pieces, tail). out still receives the whole, fully processed file. An error
     * return stops the work with that error. */
    enum vb_err (*on_audio)(const void *bytes, size_t n, void *user);
    void *user;
};

struct tts_output {
    unsigned char *data;      /* owned: the encoded file (vb_free / tts_output_release) */
    size_t len;               /* bytes */
    const char *format;       /* static: "wav", ..., or "pcm" */
    const char *extension;    /* static: file extension */
    const char *content_type; /* static */
    int sample_rate;          /* Hz */
    double duration_s;
    double loudness_lufs; /* integrated loudness after normalisation (-inf if none) */
    double true_peak_dbtp;
    struct tts_timings timings;
};

void tts_output_release(struct tts_output *o);

/* Checks what the pipeline itself can be asked for (format, streaming format, sample rate,
 * ambience id and volume) before any work: VB_ERR_UNPROCESSABLE with the field at fault in
 * *field and a sentence in why (an unsupported format lists the supported ones). */
VB_WUR enum vb_err tts_request_check(const struct tts_request *r, bool streaming,
                                     const char **field, char *why, size_t why_cap);

/* Comma-separated list of the formats a request may name (static). */
const char *tts_formats_supported(void);

/* Why a run failed: the request field at fault (static string, NULL when none) and a
 * sentence for the error reply. */
struct tts_diag {
    const char *field;
    char message[300];
};

/* Runs the whole pipeline on engine e (loaded on demand). Validates the text (required,
 * UTF-8, at most TTS_TEXT_MAX_CHARS, something to say) and everything tts_request_check
 * and tts_engine_check cover first. On success *out holds the file (caller releases with
 * tts_output_release). Errors: VB_ERR_UNPROCESSABLE (diag names the field),
 * VB_ERR_CANCELLED, VB_ERR_UNAVAILABLE (the engine cannot load), VB_ERR_TOO_LARGE,
 * VB_ERR_NOMEM, VB_ERR_INTERNAL, or the streaming callback's error. cb and diag may be
 * NULL. out->timings is filled on error too. */
VB_WUR enum vb_err tts_pipeline_run(struct tts_engine *e, const struct tts_request *r,
                                    const struct tts_pipeline_callbacks *cb, struct tts_output *out,
                                    struct tts_diag *diag);

#endif
