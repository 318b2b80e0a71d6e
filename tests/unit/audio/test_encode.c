/* test_encode.c: round trip through every supported output format (encode, decode back,
 * compare frequency, level and duration), format lookup, refusals, file output. */
#include "core/vb.h"
#include "audio/encode.h"
#include "audio/pcm.h"
#include "core/alloc.h"
#include "unit/test.h"
#include "signal.h"

#include <unistd.h>

TEST(supported_list)
{
    const char *list = audio_formats_supported();
    fprintf(stderr, "  supported output formats: %s\n", list);
    CHECK(strstr(list, "wav") != NULL);
    CHECK(audio_format_supported("wav"));
    CHECK(audio_format_supported("WAV"));
    CHECK(!audio_format_supported("aac"));
    CHECK(!audio_format_supported(NULL));
    CHECK(audio_format_find("aac") == NULL);
    CHECK_EQ_STR(audio_format_find("mp3")->content_type, "audio/mpeg");
    CHECK_EQ_STR(audio_format_find("opus")->content_type, "audio/opus");
    CHECK_EQ_STR(audio_format_find("ogg")->content_type, "audio/ogg");
    CHECK_EQ_STR(audio_format_find("flac")->content_type, "audio/flac");
    CHECK_EQ_STR(audio_format_find("wav")->content_type, "audio/wav");
    CHECK_EQ_INT(audio_format_count(), 5);
    CHECK(audio_format_at(5) == NULL);
}

TEST(round_trip_every_format)
{
    const int rate = 24000;
    struct audio_pcm pcm;
    CHECK_EQ_INT(audio_pcm_alloc(&pcm, (size_t)rate * 2, 1, rate), VB_OK);
    sig_sine(pcm.samples, pcm.frames, rate, 440, 0.5);
    int tested = 0;
    for (size_t i = 0; i < audio_format_count(); i++) {
        const struct audio_format_desc *f = audio_format_at(i);
        if (!audio_format_supported(f->name)) {
            fprintf(stderr, "  note: %s unsupported here\n", f->name);
            continue;
        }
        unsigned char *bytes = NULL;
        size_t len = 0;
        struct audio_diag diag;
        CHECK_EQ_INT(audio_encode(&pcm, f->name, NULL, &bytes, &len, &diag), VB_OK);
        CHECK(len > 100);
        struct audio_pcm back;
        struct audio_info info;
        enum vb_err err = audio_decode(bytes, len, NULL, &back, &info, &diag);
        CHECK_MSG(err == VB_OK, "%s: %s", f->name, diag.message);
        if (err == VB_OK) {
            tested++;
            CHECK_EQ_STR(info.format, f->name);
            int want_rate = strcmp(f->name, "opus") == 0 ? 48000 : rate;
            CHECK_EQ_INT(back.sample_rate, want_rate);
            CHECK_EQ_INT(back.channels, 1);
            CHECK_MSG(fabs(info.duration_s - 2.0) < 0.1, "%s: %g s", f->name, info.duration_s);
            size_t a = back.frames / 4, b = back.frames * 3 / 4;
            double hz = sig_zero_cross_hz(back.samples, a, b, back.sample_rate);
            CHECK_MSG(fabs(hz - 440) < 1.0, "%s: %g Hz", f->name, hz);
            double amp = sig_rms(back.samples, a, b) * sqrt(2);
            CHECK_MSG(fabs(audio_gain_to_db(amp / 0.5)) < 1.0, "%s: amplitude %g", f->name, amp);
            audio_pcm_release(&back);
        }
        vb_free(bytes);
    }
    CHECK(tested >= 1);
    audio_pcm_release(&pcm);
}

TEST(wav_24_and_float)
{
    struct audio_pcm pcm;
    CHECK_EQ_INT(audio_pcm_alloc(&pcm, 1000, 1, 16000), VB_OK);
    sig_sine(pcm.samples, pcm.frames, 16000, 1000, 0.9);
    int bits[] = {16, 24, 32};
    const char *sub[] = {"pcm_16", "pcm_24", "float"};
    for (int k = 0; k < 3; k++) {
        struct audio_encode_params p = audio_encode_default_params();
        p.wav_bits = bits[k];
        unsigned char *bytes;
        size_t len;
        CHECK_EQ_INT(audio_encode(&pcm, "wav", &p, &bytes, &len, NULL), VB_OK);
        struct audio_pcm back;
        struct audio_info info;
        CHECK_EQ_INT(audio_decode(bytes, len, NULL, &back, &info, NULL), VB_OK);
        CHECK_EQ_STR(info.subtype, sub[k]);
        CHECK_EQ_INT(back.frames, 1000);
        double maxerr = 0;
        for (size_t i = 0; i < 1000; i++)
            maxerr = fmax(maxerr, fabs(back.samples[i] - pcm.samples[i]));
        CHECK(maxerr < (k == 0 ? 1.0 / 16384 : 1e-6));
        audio_pcm_release(&back);
        vb_free(bytes);
    }
    /* Over full scale clips instead of wrapping around. */
    pcm.samples[10] = 1.7f;
    unsigned char *bytes;
    size_t len;
    CHECK_EQ_INT(audio_encode(&pcm, "wav", NULL, &bytes, &len, NULL), VB_OK);
    struct audio_pcm back;
    CHECK_EQ_INT(audio_decode(bytes, len, NULL, &back, NULL, NULL), VB_OK);
    CHECK(back.samples[10] > 0.99f);
    audio_pcm_release(&back);
    vb_free(bytes);
    audio_pcm_release(&pcm);
}

TEST(refusals)
{
    struct audio_pcm pcm;
    CHECK_EQ_INT(audio_pcm_alloc(&pcm, 16000, 1, 16000), VB_OK);
    unsigned char *bytes = (unsigned char *)"x";
    size_t len = 1;
    struct audio_diag diag;
    CHECK_EQ_INT(audio_encode(&pcm, "aac", NULL, &bytes, &len, &diag), VB_ERR_UNPROCESSABLE);
    CHECK(bytes == NULL && len == 0);
    CHECK(strstr(diag.message, "aac") != NULL);
    CHECK(strstr(diag.message, "wav") != NULL);
    CHECK_EQ_INT(audio_encode(&pcm, NULL, NULL, &bytes, &len, &diag), VB_ERR_UNPROCESSABLE);
    struct audio_encode_params p = audio_encode_default_params();
    p.max_bytes = 1000;
    CHECK_EQ_INT(audio_encode(&pcm, "wav", &p, &bytes, &len, &diag), VB_ERR_TOO_LARGE);
    CHECK(bytes == NULL);
    struct audio_pcm bad = pcm;
    bad.channels = 0;
    CHECK_EQ_INT(audio_encode(&bad, "wav", NULL, &bytes, &len, &diag), VB_ERR_INVALID);
    audio_pcm_release(&pcm);
}

TEST(to_file)
{
    struct audio_pcm pcm;
    CHECK_EQ_INT(audio_pcm_alloc(&pcm, 8000, 1, 16000), VB_OK);
    sig_sine(pcm.samples, pcm.frames, 16000, 500, 0.3);
    char path[] = "/tmp/vocero-test-encode-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    CHECK_EQ_INT(audio_encode_file(&pcm, "flac", NULL, path, NULL), VB_OK);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    unsigned char buf[65536];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f)
        fclose(f);
    struct audio_pcm back;
    struct audio_info info;
    CHECK_EQ_INT(audio_decode(buf, n, NULL, &back, &info, NULL), VB_OK);
    CHECK_EQ_STR(info.format, "flac");
    CHECK_EQ_INT(back.frames, 8000);
    audio_pcm_release(&back);
    unlink(path);
    CHECK_EQ_INT(audio_encode_file(&pcm, "wav", NULL, "/nonexistent-dir/x.wav", NULL), VB_ERR_IO);
    audio_pcm_release(&pcm);
}

TEST(hostile_samples)
{
    /* Huge, infinite and NaN samples must not reach the encoders (LAME asserts on them). */
    struct audio_pcm pcm;
    CHECK_EQ_INT(audio_pcm_alloc(&pcm, 4800, 1, 48000), VB_OK);
    for (size_t i = 0; i < pcm.frames; i++)
        pcm.samples[i] = (i % 3 == 0) ? 1e20f : (i % 3 == 1) ? -INFINITY : NAN;
    for (size_t i = 0; i < audio_format_count(); i++) {
        const char *name = audio_format_at(i)->name;
        if (!audio_format_supported(name))
            continue;
        unsigned char *bytes;
        size_t len;
        CHECK_MSG(audio_encode(&pcm, name, NULL, &bytes, &len, NULL) == VB_OK, "%s", name);
        vb_free(bytes);
    }
    CHECK(isnan(pcm.samples[2])); /* the caller's PCM is not modified */
    audio_pcm_release(&pcm);
}

TEST(wav_stream)
{
    /* Header plus chunks decode as a WAV (libsndfile reads the unknown length to the end). */
    float x[3000];
    sig_sine(x, 3000, 16000, 440, 0.5);
    x[5] = 2.0f;
    x[6] = NAN;
    x[7] = -2.0f; /* clamps to -32768, as the TTS pipeline has always streamed it */
    unsigned char buf[AUDIO_WAV_STREAM_HEADER_BYTES + 6000];
    audio_wav_stream_header(buf, 16000, 1);
    audio_wav_stream_pcm16(x, 1000, buf + AUDIO_WAV_STREAM_HEADER_BYTES);
    audio_wav_stream_pcm16(x + 1000, 2000, buf + AUDIO_WAV_STREAM_HEADER_BYTES + 2000);
    struct audio_pcm back;
    struct audio_info info;
    struct audio_diag diag;
    struct audio_decode_params p = audio_decode_default_params();
    p.accept_truncated = true;
    enum vb_err err = audio_decode(buf, sizeof buf, &p, &back, &info, &diag);
    CHECK_MSG(err == VB_OK, "%s", diag.message);
    if (err == VB_OK) {
        CHECK_EQ_INT(back.frames, 3000);
        CHECK_EQ_INT(back.sample_rate, 16000);
        CHECK_NEAR(back.samples[5], 32767.0 / 32768.0, 1e-6);
        CHECK_NEAR(back.samples[6], 0.0, 0);
        CHECK_NEAR(back.samples[7], -1.0, 0);
        CHECK_NEAR(back.samples[2500], x[2500], 1.0 / 16384);
        audio_pcm_release(&back);
    }
}

TEST(speech_bitrates)
{
    /* Lossy defaults suit mono speech: well under 128 kbps, over 16 kbps. */
    const int rate = 24000;
    struct audio_pcm pcm;
    CHECK_EQ_INT(audio_pcm_alloc(&pcm, (size_t)rate * 10, 1, rate), VB_OK);
    uint32_t st = 3;
    for (size_t i = 0; i < pcm.frames; i++) {
        double t = (double)i / rate;
        pcm.samples[i] =
            (float)(0.3 * sin(2 * M_PI * 130 * t) * (0.6 + 0.4 * sin(2 * M_PI * 3 * t)) +
                    0.02 * sig_noise(&st));
    }
    const char *lossy[] = {"ogg", "opus", "mp3"};
    for (size_t k = 0; k < 3; k++) {
        if (!audio_format_supported(lossy[k]))
            continue;
        unsigned char *bytes;
        size_t len;
        CHECK_EQ_INT(audio_encode(&pcm, lossy[k], NULL, &bytes, &len, NULL), VB_OK);
        double kbps = (double)len * 8 / 10 / 1000;
        CHECK_MSG(kbps > 16 && kbps < 128, "%s: %.1f kbps", lossy[k], kbps);
        vb_free(bytes);
    }
    audio_pcm_release(&pcm);
}

int main(void)
{
    RUN(supported_list);
    RUN(round_trip_every_format);
    RUN(wav_24_and_float);
    RUN(refusals);
    RUN(to_file);
    RUN(hostile_samples);
    RUN(wav_stream);
    RUN(speech_bitrates);
    return test_summary();
}
