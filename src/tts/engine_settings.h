/* engine_settings.h: the back ends' settings from the configuration, handed to every engine
 * by the registry (tts/registry.h) and read by the engine they concern when it loads. The
 * defaults and the reading from the configuration are in registry.c, beside the table of
 * back ends. */
#ifndef VB_TTS_ENGINE_SETTINGS_H
#define VB_TTS_ENGINE_SETTINGS_H

#include "core/vb.h"

/* Settings of the model engines, from the configuration (.env, environment, flags; see
 * core/config.h). tts_engine_default_settings gives the documented defaults. */
struct tts_engine_settings {
    int threads;                 /* TTS_THREADS: CPU threads of a model engine; 0 = all */
    char cb_t3_weights[16];      /* CHATTERBOX_T3_WEIGHTS: T3 weight type ("q8_0") */
    char cb_s3gen_weights[16];   /* CHATTERBOX_S3GEN_WEIGHTS: f32, f16 or bf16 ("bf16") */
    bool cb_keep_encoders;       /* CHATTERBOX_KEEP_ENCODERS (false) */
    int cb_stream_first_tokens;  /* CHATTERBOX_STREAM_FIRST_TOKENS (10) */
    int cb_stream_prompt_tokens; /* CHATTERBOX_STREAM_PROMPT_TOKENS (75; 0 = whole prompt) */
};
struct tts_engine_settings tts_engine_default_settings(void);
struct vb_config;
/* The settings a loaded configuration names. */
struct tts_engine_settings tts_engine_settings_from_config(const struct vb_config *cfg);

#endif
