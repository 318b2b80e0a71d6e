/* engine.h: the one interface every text-to-speech engine implements (a small vtable) and the
 * generic synthesis loop over it (tags, sentence chunks, progress, cancel, streaming). It
 * knows no engine: tts/registry.h lists the back ends and finds them by name.
 *
 *   struct tts_registry *reg = tts_registry_new();
 *   struct tts_engine *e = tts_registry_find(reg, "espeak-ng");
 *   struct audio_pcm pcm = {0};
 *   struct tts_params p = tts_default_params();
 *   err = tts_engine_synthesize(e, "Hello there.", 12, &p, &pcm, NULL);  // mono float PCM
 *   audio_pcm_release(&pcm);
 *   tts_registry_free(reg);
 */
#ifndef VB_TTS_ENGINE_H
#define VB_TTS_ENGINE_H

#include "core/vb.h"
#include "core/err.h"
#include "audio/decode.h"
#include "tts/text.h"

#include <pthread.h>

#define TTS_ENGINE_ESPEAK     "espeak-ng"
#define TTS_ENGINE_CHATTERBOX "chatterbox-turbo"
#define TTS_MAX_AUDIO_SECONDS 1800 /* one synthesis never produces more than 30 minutes */
#define TTS_SPEED_MIN         0.5
#define TTS_SPEED_MAX         2.0
#define TTS_TEMPERATURE_MIN   0.05
#define TTS_TEMPERATURE_MAX   2.0

enum tts_cap {
    TTS_CAP_CLONING = 1 << 0,     /* speaks in the voice of a reference clip */
    TTS_CAP_STREAMING = 1 << 1,   /* hands out a chunk's audio in pieces while it works */
    TTS_CAP_TAGS = 1 << 2,        /* renders expressive tags ([laugh], [sigh], ...) */
    TTS_CAP_SPEED = 1 << 3,       /* changes its own speaking rate (else the pipeline stretches) */
    TTS_CAP_TEMPERATURE = 1 << 4, /* samples, so temperature matters */
    TTS_CAP_SEED = 1 << 5,        /* samples, so the seed makes runs repeatable */
    TTS_CAP_LANGUAGES = 1 << 6,   /* speaks more than one language (`language`) */
};

/* A built-in voice. Strings are borrowed from the engine while it is loaded. */
struct tts_voice_desc {
    const char *id;       /* what a request passes as voice_id, e.g. "en-us" or "en-us+f3" */
    const char *name;     /* human-readable, e.g. "English (America)" */
    const char *language; /* language code it speaks, NULL for variants (any language) */
    const char *gender;   /* "male", "female" or NULL */
};

/* What one synthesis asks for. Strings and the prompt are borrowed for the call. */
struct tts_params {
    const char *language;           /* code from the engine's list; NULL = from the voice
                                       or the engine's default */
    const char *voice;              /* built-in voice id; NULL = the engine's default */
    const struct audio_pcm *prompt; /* mono reference clip for cloning engines; NULL = none */
    double temperature;             /* 0 = engine default; else TTS_TEMPERATURE_MIN..MAX */
    double speed;                   /* 1.0 = normal; used by TTS_CAP_SPEED engines only */
    uint64_t seed;                  /* 0 = unseeded */
};

struct tts_params tts_default_params(void);

/* Where a piece of audio handed to on_chunk belongs. */
struct tts_piece {
    const struct tts_chunk *chunk; /* the text chunk it speaks (borrowed for the call) */
    unsigned index;                /* 0, 1, ... within the chunk */
    bool last;                     /* the chunk's audio ends with this piece (which may be
                                      empty); false: more of the same chunk follows, and the
                                      pieces join without a pause or an edge between them */
};

/* Callbacks of one synthesis; every member may be NULL. They run on the synthesising
 * thread. */
struct tts_callbacks {
    /* fraction in [0, 1] of the text done (called after each chunk) */
    void (*progress)(double fraction, void *user);
    /* polled often; true stops the work with VB_ERR_CANCELLED */
    bool (*cancelled)(void *user);
    /* the audio of the text chunk by chunk (mono float at the engine's rate, n >= 0 samples,
     * borrowed for the call) as soon as it is ready; `piece` says which chunk it is and
     * whether more of it follows. Without `pieces` there is exactly one call per chunk (piece
     * index 0, last). An error return stops the work with that error. */
    enum vb_err (*on_chunk)(const float *pcm, size_t n, const struct tts_piece *piece, void *user);
    void *user;
    /* The consumer takes pieces inside a chunk: engines with TTS_CAP_STREAMING then hand out
     * the start of a chunk's audio while they still work on the rest (several on_chunk calls
     * per chunk, the last one marked). Off, a chunk's audio is the same as in one piece. */
    bool pieces;
    /* Engine side: set by tts_engine_stream for the engine's synthesize (NULL otherwise, and
     * always NULL in what a consumer passes). When set, a TTS_CAP_STREAMING engine may hand
     * out the beginning of the chunk's audio early, in order, through it; synthesize then
     * returns only the samples it has not handed out yet. */
    enum vb_err (*on_partial)(const float *pcm, size_t n, void *user);
};

struct tts_engine;

/* The vtable. Required: name, load, unload, synthesize. Optional (NULL): languages, voices,
 * check (then every language/voice is refused unless NULL). */
struct tts_engine_ops {
    const char *name;        /* registry name, e.g. "espeak-ng" */
    const char *description; /* one line */
    unsigned caps;           /* enum tts_cap */
    size_t chunk_max_bytes;  /* text chunk limit for this engine; 0 = TTS_CHUNK_MAX_BYTES */
    bool quick_load;         /* loads in milliseconds: listings load it to describe it */
    bool auto_choice;        /* TTS_ENGINE=auto picks it when it is installed */
    /* Whether its model files are present under models_dir; NULL = it needs none. */
    bool (*installed)(const char *models_dir);
    /* Loads models/data; idempotent. On error writes a reason fit for a 503 into why. */
    enum vb_err (*load)(struct tts_engine *e, char *why, size_t why_cap);
    void (*unload)(struct tts_engine *e);
    /* Output sample rate in Hz (valid once loaded). */
    int (*sample_rate)(const struct tts_engine *e);
    /* Language codes (borrowed while loaded); returns how many. */
    size_t (*languages)(struct tts_engine *e, const char *const **out);
    /* Built-in voices (borrowed while loaded); returns how many. */
    size_t (*voices)(struct tts_engine *e, const struct tts_voice_desc **out);
    /* Validates language and voice of p: VB_OK, or VB_ERR_UNPROCESSABLE with the field at
     * fault ("language" / "voice_id") in *field and a sentence in why. */
    enum vb_err (*check)(struct tts_engine *e, const struct tts_params *p, const char **field,
                         char *why, size_t why_cap);
    /* Synthesises one chunk of text (tags already removed for engines without
     * TTS_CAP_TAGS) into out (empty on entry; the samples are allocated with vb_try_*
     * and freed by audio_pcm_release; out->channels 1, out->sample_rate set). Polls
     * cb->cancelled (cb may be NULL). With cb->on_partial (TTS_CAP_STREAMING engines only)
     * it may hand out the start of the audio early and return only the rest in out.
     * Thread-safety is the engine's business (serialise if needed). */
    enum vb_err (*synthesize)(struct tts_engine *e, const char *text, size_t len,
                              const struct tts_params *p, struct audio_pcm *out,
                              const struct tts_callbacks *cb);
};

struct tts_engine_settings; /* tts/registry.h */

/* An engine instance: the vtable plus its private state. */
struct tts_engine {
    const struct tts_engine_ops *ops;
    const char *models_dir; /* MODELS_DIR for engines with model files (borrowed from the
                               registry; "models" until tts_registry_set_models_dir) */
    const struct tts_engine_settings *settings; /* borrowed from the registry */
    void *state;                                /* owned by the engine (ops->unload frees) */
    pthread_mutex_t lock;                       /* guards loading */
    bool loaded;
};

/* ===== generic layer ===== */

/* Loads the engine once (thread-safe). VB_ERR_UNAVAILABLE + why when it cannot. */
VB_WUR enum vb_err tts_engine_load(struct tts_engine *e, char *why, size_t why_cap);
bool tts_engine_is_loaded(struct tts_engine *e);
/* Whether the engine's model files are present under its models_dir (always for engines
 * without model files). */
bool tts_engine_installed(const struct tts_engine *e);
const char *tts_engine_name(const struct tts_engine *e);
unsigned tts_engine_caps(const struct tts_engine *e);
/* 0 when not loaded. */
int tts_engine_sample_rate(const struct tts_engine *e);

/* Validates p against the engine: speed and temperature ranges, cloning (a prompt on an
 * engine without TTS_CAP_CLONING), language and voice. VB_ERR_UNPROCESSABLE with *field
 * and why. The engine must be loaded. */
VB_WUR enum vb_err tts_engine_check(struct tts_engine *e, const struct tts_params *p,
                                    const char **field, char *why, size_t why_cap);

/* Prepares text for the engine: tags kept (TTS_CAP_TAGS) or removed, then split into
 * chunks of the engine's size. Zero chunks when nothing is left to say. */
VB_WUR enum vb_err tts_engine_prepare(const struct tts_engine *e, const char *text, size_t len,
                                      struct tts_chunks *out);

/* Streaming synthesis: prepares the text and synthesises chunk after chunk, handing each
 * chunk's audio to cb->on_chunk as soon as it is ready (in pieces while the engine works
 * when cb->pieces is set and the engine has TTS_CAP_STREAMING) and reporting progress.
 * Nothing is accumulated. VB_ERR_UNPROCESSABLE when there is nothing to say, VB_ERR_CANCELLED,
 * VB_ERR_TOO_LARGE past TTS_MAX_AUDIO_SECONDS, or the engine's error. */
VB_WUR enum vb_err tts_engine_stream(struct tts_engine *e, const char *text, size_t len,
                                     const struct tts_params *p, const struct tts_callbacks *cb);

/* Blocking synthesis: the stream loop, collecting every chunk into out (mono float at the
 * engine's rate; chunks are joined as produced, no pauses added). cb may be NULL; its
 * on_chunk, if any, is still called. On success the caller releases out with
 * audio_pcm_release; on error out is empty. */
VB_WUR enum vb_err tts_engine_synthesize(struct tts_engine *e, const char *text, size_t len,
                                         const struct tts_params *p, struct audio_pcm *out,
                                         const struct tts_callbacks *cb);

#endif
