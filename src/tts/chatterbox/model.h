/* model.h: the whole Chatterbox-Turbo checkpoint set loaded from one directory (the files of
 * ResembleAI/chatterbox-turbo as published): T3, S3Gen (flow, HiFT, CAMPPlus, S3Tokenizer),
 * VoiceEncoder, the text tokenizer and the built-in voice, validated with errors that name the
 * file and the tensor.
 *
 *   struct cb_model_options o = cb_model_default_options();
 *   struct cb_model *m; char why[512];
 *   if (cb_model_load("models/chatterbox-turbo", &o, &m, why, sizeof why)) -> error
 *   ... cb_synth_* (synth.h) ...
 *   cb_model_free(m);
 */
#ifndef TTS_CHATTERBOX_MODEL_H
#define TTS_CHATTERBOX_MODEL_H

#include "core/vb.h"
#include "core/err.h"
#include "nn/types.h"
#include "tts/chatterbox/campplus.h"
#include "tts/chatterbox/frontend.h"
#include "tts/chatterbox/hift.h"
#include "tts/chatterbox/s3gen_flow.h"
#include "tts/chatterbox/s3tokenizer.h"
#include "tts/chatterbox/t3.h"
#include "tts/chatterbox/text_tokenizer.h"
#include "tts/chatterbox/voice_cond.h"
#include "tts/chatterbox/voice_encoder.h"

#define CB_FILE_T3    "t3_turbo_v1.safetensors"
#define CB_FILE_S3GEN "s3gen_meanflow.safetensors"
#define CB_FILE_VE    "ve.safetensors"
#define CB_FILE_CONDS "conds.pt"
/* Fallback built-in voice in our own format (cb_voice_cond_save), read when conds.pt is
 * absent or unreadable; `vocero models make-random` writes it, and a user can produce one
 * from any clip with `vocero tts --voice-file`-style tooling. */
#define CB_FILE_CONDS_ST "conds.safetensors"
#define CB_T3_HEAD_DIM   64 /* GPT-2 head width: n_head = n_embd / 64 */

struct cb_model_options {
    enum nn_type t3_wtype; /* T3 matrices converted at load (NN_TYPE_Q8_0 default) */
    /* flow + S3Tokenizer Linear/Conv weights: NN_TYPE_F32 (exact), NN_TYPE_F16 (half the
     * memory, ~1e-3 relative) or NN_TYPE_BF16 (default: half the memory and ~2x faster on
     * Intel AMX, ~1e-2 relative; F16 without AMX). NN_TYPE_BF16 also runs the HiFT
     * convolutions in BF16 on AMX (~3x faster; on the random reference vocoder 28 dB signal
     * to error, max 3% of the peak: cb_hift_params.bf16); any other type keeps HiFT F32. */
    enum nn_type s3gen_wtype;
    /* true: the S3Tokenizer and CAMPPlus (~270 MB, only needed to condition a new voice) are
     * validated at load, then freed, and loaded again around each voice computation
     * (cb_model_encoders_acquire/release) */
    bool lazy_encoders;
};
struct cb_model_options cb_model_default_options(void);

/* All members owned by the model. Immutable after loading (except the lazily loaded
 * encoders, see cb_model_encoders_acquire): may be shared by threads, each synthesis using
 * its own cb_synth (synth.h). */
struct cb_model {
    char dir[4096];
    struct cb_model_options opts;
    struct cb_frontend *fe;
    struct cb_text_tokenizer *tok;
    struct cb_t3_model *t3;
    struct cb_ve *ve;
    struct cb_campplus *campplus;
    struct cb_s3tok *s3tok;
    struct cb_flow *flow;
    struct cb_hift *hift;
    struct cb_voice_cond default_voice; /* from conds.pt, or conds.safetensors */
    bool has_default_voice;
    char default_voice_file[64]; /* which file gave it ("" when none) */
};

/* Loads every component from dir. VB_ERR_NOT_FOUND when a required file is missing,
 * VB_ERR_FORMAT for a bad file, each with `why` naming the file (and tensor). The built-in
 * voice is optional (has_default_voice false; a warning is logged). */
VB_WUR enum vb_err cb_model_load(const char *dir, const struct cb_model_options *o,
                                 struct cb_model **out, char *why, size_t why_cap);
void cb_model_free(struct cb_model *m);

/* The T3 configuration read from a t3_turbo_v1.safetensors file's shapes (layers, width,
 * vocabularies, positions; heads = width / 64); wtype from the argument. */
VB_WUR enum vb_err cb_model_t3_config(const char *path, enum nn_type wtype,
                                      struct cb_t3_config *cfg, char *why, size_t why_cap);

/* Borrowed view of the encoders for voice_cond.h (tok/campplus NULL while lazily unloaded). */
struct cb_voice_encoders cb_model_encoders(const struct cb_model *m);
/* Makes sure the S3Tokenizer and CAMPPlus are loaded (reads the S3Gen file again when
 * lazy_encoders freed them). Not thread-safe: callers serialise voice computations. */
VB_WUR enum vb_err cb_model_encoders_acquire(struct cb_model *m, char *why, size_t why_cap);
/* Frees them again when lazy_encoders is set; no-op otherwise. */
void cb_model_encoders_release(struct cb_model *m);

#endif
