/* cb_engine.h: the "chatterbox-turbo" TTS engine (engine.h vtable) over model.h + synth.h, with
 * the per-voice conditionals cache (memory LRU + files under
 * MODELS_DIR/chatterbox-turbo/voice-cache/, keyed by the clip's content and the encoder files).
 * Settings (environment): CHATTERBOX_T3_WEIGHTS = f32 | f16 | q8_0 (default) | q4_0 | q4_k ...
 * (the T3 matrices are converted to it at load); CHATTERBOX_S3GEN_WEIGHTS = f32 | f16 | bf16
 * (default; flow and S3Tokenizer, see model.h); CHATTERBOX_KEEP_ENCODERS = 1 keeps the
 * S3Tokenizer and CAMPPlus loaded (~270 MB) instead of loading them for each new voice;
 * CHATTERBOX_STREAM_FIRST_TOKENS = speech tokens (25 per second) of audio in the first piece
 * of a streamed request (default CB_ENGINE_STREAM_FIRST_TOKENS; it goes out once 7 more
 * tokens exist, see synth.h; later pieces double up to 8 times that);
 * CHATTERBOX_STREAM_PROMPT_TOKENS = how much of the voice prompt (its last tokens) the flow of
 * streamed pieces is conditioned on (default CB_ENGINE_STREAM_PROMPT_TOKENS = 3 s; 0 = the
 * whole prompt, up to 10 s: the first piece then takes ~0.5 s longer at 2 threads, and every
 * piece's flow run covers 350 more frames). Files
 * read: MODELS_DIR/chatterbox-turbo/ (model.h), the built-in voice from conds.pt or else
 * conds.safetensors. */
#ifndef TTS_CHATTERBOX_CB_ENGINE_H
#define TTS_CHATTERBOX_CB_ENGINE_H

#include "core/vb.h"
#include "tts/engine.h"

#define CB_ENGINE_MODEL_SUBDIR         "chatterbox-turbo"
#define CB_ENGINE_CACHE_SUBDIR         "voice-cache"
#define CB_ENGINE_CACHE_MEM            8 /* voices kept in memory */
#define CB_ENGINE_CACHE_FILES          256 /* newest voice-cache files kept (one removed per new one) */
#define CB_ENGINE_STREAM_FIRST_TOKENS  10 /* 0.4 s */
#define CB_ENGINE_STREAM_PROMPT_TOKENS 75 /* 3 s */
#define CB_ENGINE_STREAM_TOKENS_MAX    1000
/* Streamed pieces are vocoded with 6 frames (120 ms) of right context and cross-faded
 * (synth.h stream_right_frames): a piece goes out 7 tokens after its own instead of 15. */
#define CB_ENGINE_STREAM_RIGHT_FRAMES 6

const struct tts_engine_ops *tts_chatterbox_ops(void);
/* true when MODELS_DIR/chatterbox-turbo holds the weight files the engine needs. */
bool cb_engine_files_present(const char *models_dir);

/* Voice-conditionals cache counters of a loaded engine (for tests and /health). */
struct cb_engine_cache_stats {
    uint64_t mem_hits;  /* served from memory */
    uint64_t disk_hits; /* read from voice-cache/ */
    uint64_t computed;  /* encoders run */
};
void cb_engine_cache_stats(struct tts_engine *e, struct cb_engine_cache_stats *out);
/* Drops the in-memory entries (the files stay): the next use reads the disk cache. */
void cb_engine_cache_clear_memory(struct tts_engine *e);
struct cb_model;
/* The loaded model (borrowed while the engine is loaded), NULL before. */
const struct cb_model *cb_engine_model(struct tts_engine *e);

#endif
