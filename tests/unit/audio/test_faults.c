/* test_faults.c: fault injection: the n-th vb_try_* allocation fails (VB_FAULT_ALLOC) for
 * every n an audio entry point reaches; each call then fails cleanly with VB_ERR_NOMEM (or
 * succeeds when it did not need that allocation), leaving its output empty, and never
 * crashes or leaks (run under ASan to see leaks). */
#include "core/vb.h"
#include "audio/ambience.h"
#include "audio/decode.h"
#include "audio/encode.h"
#include "audio/mix.h"
#include "audio/pcm.h"
#include "audio/resample.h"
#include "audio/stretch.h"
#include "core/alloc.h"
#include "unit/test.h"
#include "signal.h"

#include <stdlib.h>

static void fault_at(int n)
{
    char v[16];
    snprintf(v, sizeof v, "%d", n);
    setenv("VB_FAULT_ALLOC", v, 1);
    vb_alloc_fault_init();
}

static void fault_off(void)
{
    fault_at(-1);
}

/* Runs `body` with the n-th allocation failing for n = 1.. until a run succeeds without the
 * fault firing; checks that every failure is VB_ERR_NOMEM (or the listed alternative). */
#define FOR_EACH_FAULT(err_var, body, alt)                                                         \
    do {                                                                                           \
        int ok_runs_ = 0;                                                                          \
        for (int n_ = 1; n_ < 64 && ok_runs_ < 2; n_++) {                                          \
            fault_at(n_);                                                                          \
            body;                                                                                  \
            fault_off();                                                                           \
            if (err_var == VB_OK)                                                                  \
                ok_runs_++;                                                                        \
            else                                                                                   \
                CHECK_MSG(err_var == VB_ERR_NOMEM || err_var == (alt), "fault %d: err %d", n_,     \
                          (int)err_var);                                                           \
        }                                                                                          \
        CHECK(ok_runs_ > 0);                                                                       \
    } while (0)

TEST(decode_faults)
{
    struct audio_pcm src, out;
    CHECK_EQ_INT(audio_pcm_alloc(&src, 20000, 1, 16000), VB_OK);
    sig_sine(src.samples, src.frames, 16000, 440, 0.5);
    unsigned char *wav;
    size_t len;
    CHECK_EQ_INT(audio_encode(&src, "wav", NULL, &wav, &len, NULL), VB_OK);
    enum vb_err err;
    struct audio_diag diag;
    FOR_EACH_FAULT(
        err,
        {
            err = audio_decode(wav, len, NULL, &out, NULL, &diag);
            if (err != VB_OK)
                CHECK(out.samples == NULL);
            audio_pcm_release(&out);
        },
        VB_ERR_NOMEM);
    vb_free(wav);
    audio_pcm_release(&src);
}

TEST(encode_faults)
{
    struct audio_pcm src;
    CHECK_EQ_INT(audio_pcm_alloc(&src, 24000, 1, 24000), VB_OK);
    sig_sine(src.samples, src.frames, 24000, 440, 0.5);
    /* Not "ogg": when a write fails, libsndfile 1.2's Vorbis writer leaks its libogg and
     * libvorbis state (system library, reported to the lead); every other format is clean. */
    const char *formats[] = {"wav", "flac", "opus", "mp3"};
    (void)audio_formats_supported(); /* probe once, outside the faults */
    for (size_t k = 0; k < VB_ARRAY_LEN(formats); k++) {
        if (!audio_format_supported(formats[k]))
            continue;
        unsigned char *bytes = NULL;
        size_t len = 0;
        enum vb_err err;
        FOR_EACH_FAULT(
            err,
            {
                err = audio_encode(&src, formats[k], NULL, &bytes, &len, NULL);
                if (err != VB_OK)
                    CHECK(bytes == NULL && len == 0);
                vb_free(bytes);
                bytes = NULL;
            },
            VB_ERR_INTERNAL);
    }
    audio_pcm_release(&src);
}

TEST(process_faults)
{
    struct audio_pcm sp, amb, out;
    CHECK_EQ_INT(audio_pcm_alloc(&sp, 16000, 1, 16000), VB_OK);
    sig_sine(sp.samples, sp.frames, 16000, 200, 0.4);
    enum vb_err err;
    FOR_EACH_FAULT(
        err,
        {
            err = audio_stretch(&sp, 1.3, &out);
            audio_pcm_release(&out);
        },
        VB_ERR_NOMEM);
    FOR_EACH_FAULT(
        err,
        {
            err = audio_resample(&sp, 24000, &out);
            audio_pcm_release(&out);
        },
        VB_ERR_NOMEM);
    FOR_EACH_FAULT(
        err,
        {
            err = audio_ambience_render("cafe", 1, 16000, 8000, &out);
            audio_pcm_release(&out);
        },
        VB_ERR_NOMEM);
    CHECK_EQ_INT(audio_ambience_render("rain", 1, 22050, 4000, &amb), VB_OK);
    FOR_EACH_FAULT(
        err,
        {
            err = audio_mix_ambience(&sp, &amb, NULL, &out);
            if (err != VB_OK)
                CHECK(out.samples == NULL);
            audio_pcm_release(&out);
        },
        VB_ERR_NOMEM);
    struct audio_pcm acc = {0};
    FOR_EACH_FAULT(
        err, { err = audio_pcm_append(&acc, &sp, 100, 0); }, VB_ERR_NOMEM);
    CHECK(acc.frames >= sp.frames + 100);
    audio_pcm_release(&acc);
    audio_pcm_release(&amb);
    audio_pcm_release(&sp);
}

int main(void)
{
    RUN(decode_faults);
    RUN(encode_faults);
    RUN(process_faults);
    fault_off();
    return test_summary();
}
