/* espeak.h: the "espeak-ng" TTS engine (engine.h vtable) over libespeak-ng: fast, many
 * languages and voices, no model files. */
#ifndef VB_TTS_ESPEAK_H
#define VB_TTS_ESPEAK_H

#include "tts/engine.h"

const struct tts_engine_ops *tts_espeak_ops(void);

#endif
