/* fuzz_audio_decode.c: libFuzzer target for audio_probe and audio_decode (mono and
 * interleaved) on arbitrary bytes: every input must decode or be refused with a reason. */
#include "core/vb.h"
#include "audio/decode.h"

#include <math.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct audio_info info;
    struct audio_diag diag;
    if (audio_probe(data, size, &info, &diag) != VB_OK && diag.message[0] == '\0')
        __builtin_trap();

    struct audio_decode_params p = audio_decode_default_params();
    p.max_frames = (int64_t)1 << 20; /* keep each run small */
    p.mono = size % 2 == 0;
    p.accept_truncated = size % 3 == 0;
    struct audio_pcm pcm;
    enum vb_err err = audio_decode(data, size, &p, &pcm, &info, &diag);
    if (err == VB_OK) {
        if (pcm.frames == 0 || pcm.channels < 1 || (int64_t)pcm.frames > p.max_frames)
            __builtin_trap();
        size_t n = pcm.frames * (size_t)pcm.channels;
        for (size_t i = 0; i < n; i++)
            if (!isfinite(pcm.samples[i]))
                __builtin_trap();
        (void)audio_check_duration(&pcm, 3.0, 60.0, &diag);
        (void)audio_check_silence(&pcm, AUDIO_SILENCE_DBFS, &diag);
    } else if (pcm.samples != NULL || diag.message[0] == '\0') {
        __builtin_trap();
    }
    audio_pcm_release(&pcm);
    return 0;
}
