/* test_decode.c: audio_decode round trips through every format libsndfile writes here, and
 * every refusal reason (not audio, empty, absurd rate/channels, truncated, too long, NaN,
 * duration bounds, silence). */
#include "core/vb.h"
#include "audio/decode.h"
#include "unit/test.h"
#include "sndmem.h"

#include <math.h>

static float *make_sine(size_t frames, int channels, int rate, double hz, double amp)
{
    float *x = malloc(sizeof(float) * frames * (size_t)channels);
    for (size_t i = 0; i < frames; i++)
        for (int c = 0; c < channels; c++)
            x[i * (size_t)channels + (size_t)c] =
                (float)(amp * sin(2.0 * M_PI * hz * (double)i / rate + c * 0.5));
    return x;
}

struct fmt_case {
    const char *label;
    int format;
    const char *name;
    double tol; /* max abs error per sample; < 0: lossy, compare RMS only */
};

static const struct fmt_case cases[] = {
    {"wav u8", SF_FORMAT_WAV | SF_FORMAT_PCM_U8, "wav", 1.0 / 64},
    {"wav 16", SF_FORMAT_WAV | SF_FORMAT_PCM_16, "wav", 1.0 / 16384},
    {"wav 24", SF_FORMAT_WAV | SF_FORMAT_PCM_24, "wav", 1e-6},
    {"wav 32", SF_FORMAT_WAV | SF_FORMAT_PCM_32, "wav", 1e-6},
    {"wav float", SF_FORMAT_WAV | SF_FORMAT_FLOAT, "wav", 1e-7},
    {"wav double", SF_FORMAT_WAV | SF_FORMAT_DOUBLE, "wav", 1e-7},
    {"aiff 16", SF_FORMAT_AIFF | SF_FORMAT_PCM_16, "aiff", 1.0 / 16384},
    {"flac 16", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, "flac", 1.0 / 16384},
    {"flac 24", SF_FORMAT_FLAC | SF_FORMAT_PCM_24, "flac", 1e-6},
    {"ogg vorbis", SF_FORMAT_OGG | SF_FORMAT_VORBIS, "ogg", -1},
    {"opus", SF_FORMAT_OGG | SF_FORMAT_OPUS, "opus", -1},
    {"mp3", SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, "mp3", -1},
};

static double rms(const float *x, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    return n ? sqrt(s / (double)n) : 0;
}

TEST(round_trip_formats)
{
    for (size_t k = 0; k < VB_ARRAY_LEN(cases); k++) {
        const struct fmt_case *fc = &cases[k];
        int rate = (fc->format & SF_FORMAT_SUBMASK) == SF_FORMAT_OPUS ? 48000 : 44100;
        size_t frames = (size_t)rate; /* 1 s */
        float *x = make_sine(frames, 2, rate, 440.0, 0.5);
        SF_INFO probe = {.samplerate = rate, .channels = 2, .format = fc->format};
        if (!sf_format_check(&probe)) {
            fprintf(stderr, "  note: %s not writable by this libsndfile\n", fc->label);
            free(x);
            continue;
        }
        struct memfile m;
        CHECK_MSG(memfile_write(&m, fc->format, rate, 2, x, (sf_count_t)frames) == 0, "%s",
                  fc->label);
        struct audio_pcm pcm;
        struct audio_info info;
        struct audio_diag diag;
        enum vb_err err = audio_decode(m.data, (size_t)m.len, NULL, &pcm, &info, &diag);
        CHECK_MSG(err == VB_OK, "%s: %s", fc->label, diag.message);
        if (err == VB_OK) {
            CHECK_EQ_STR(info.format, fc->name);
            CHECK_EQ_INT(info.sample_rate, rate);
            CHECK_EQ_INT(pcm.sample_rate, rate);
            CHECK_EQ_INT(info.channels, 2);
            CHECK_EQ_INT(pcm.channels, 2);
            if (fc->tol >= 0) {
                CHECK_EQ_INT(pcm.frames, frames);
                double maxerr = 0;
                for (size_t i = 0; i < frames * 2; i++)
                    maxerr = fmax(maxerr, fabs(pcm.samples[i] - x[i]));
                CHECK_MSG(maxerr <= fc->tol, "%s: max error %g", fc->label, maxerr);
            } else {
                /* Lossy codecs add priming/padding: frames within 5 %, level within 1 dB. */
                CHECK_MSG(fabs((double)pcm.frames - (double)frames) < 0.05 * (double)frames,
                          "%s: %zu frames", fc->label, pcm.frames);
                double r = rms(pcm.samples, pcm.frames * 2), r0 = rms(x, frames * 2);
                CHECK_MSG(fabs(20 * log10(r / r0)) < 1.0, "%s: rms %g vs %g", fc->label, r, r0);
            }
            CHECK_NEAR(info.duration_s, (double)pcm.frames / rate, 1e-9);
        }
        audio_pcm_release(&pcm);
        free(m.data);
        free(x);
    }
}

TEST(mono_downmix)
{
    size_t frames = 8000;
    float *x = malloc(sizeof(float) * frames * 2);
    for (size_t i = 0; i < frames; i++) {
        x[2 * i] = 0.5f;
        x[2 * i + 1] = -0.25f;
    }
    struct memfile m;
    CHECK(memfile_write(&m, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 16000, 2, x, (sf_count_t)frames) == 0);
    struct audio_decode_params p = audio_decode_default_params();
    p.mono = true;
    struct audio_pcm pcm;
    struct audio_info info;
    CHECK_EQ_INT(audio_decode(m.data, (size_t)m.len, &p, &pcm, &info, NULL), VB_OK);
    CHECK_EQ_INT(pcm.channels, 1);
    CHECK_EQ_INT(info.channels, 2);
    CHECK_EQ_INT(pcm.frames, frames);
    CHECK_NEAR(pcm.samples[0], 0.125, 1e-7);
    CHECK_NEAR(pcm.samples[frames - 1], 0.125, 1e-7);
    audio_pcm_release(&pcm);
    free(m.data);
    free(x);
}

static enum audio_problem decode_problem(const void *data, size_t len,
                                         const struct audio_decode_params *p, enum vb_err *err)
{
    struct audio_pcm pcm;
    struct audio_diag diag;
    *err = audio_decode(data, len, p, &pcm, NULL, &diag);
    CHECK(pcm.samples == NULL || *err == VB_OK);
    if (*err != VB_OK)
        CHECK_MSG(diag.message[0] != '\0', "no message for %s", audio_problem_code(diag.problem));
    audio_pcm_release(&pcm);
    return *err == VB_OK ? AUDIO_PROBLEM_NONE : diag.problem;
}

TEST(not_audio)
{
    enum vb_err err;
    const char *text = "hello, this is certainly not a sound file\n";
    CHECK_EQ_INT(decode_problem(text, strlen(text), NULL, &err), AUDIO_PROBLEM_NOT_AUDIO);
    CHECK_EQ_INT(err, VB_ERR_FORMAT);
    unsigned char junk[2048];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)(i * 7919u >> 3);
    CHECK_EQ_INT(decode_problem(junk, sizeof junk, NULL, &err), AUDIO_PROBLEM_NOT_AUDIO);
    CHECK_EQ_INT(decode_problem(NULL, 0, NULL, &err), AUDIO_PROBLEM_EMPTY);
    CHECK_EQ_INT(decode_problem("RIFF", 4, NULL, &err), AUDIO_PROBLEM_NOT_AUDIO);
    /* A WAV header cut in the middle. */
    size_t len;
    unsigned char *w = wav_handmade(16000, 1, 3200, 3200, &len);
    CHECK(decode_problem(w, 30, NULL, &err) != AUDIO_PROBLEM_NONE);
    free(w);
}

TEST(empty_audio)
{
    size_t len;
    enum vb_err err;
    unsigned char *w = wav_handmade(16000, 1, 0, 0, &len);
    CHECK_EQ_INT(decode_problem(w, len, NULL, &err), AUDIO_PROBLEM_EMPTY);
    CHECK_EQ_INT(err, VB_ERR_UNPROCESSABLE);
    free(w);
}

TEST(absurd_rate_and_channels)
{
    size_t len;
    enum vb_err err;
    unsigned char *w = wav_handmade(1, 1, 3200, 3200, &len);
    CHECK_EQ_INT(decode_problem(w, len, NULL, &err), AUDIO_PROBLEM_SAMPLE_RATE);
    CHECK_EQ_INT(err, VB_ERR_UNPROCESSABLE);
    free(w);
    w = wav_handmade(7999, 1, 3200, 3200, &len);
    CHECK_EQ_INT(decode_problem(w, len, NULL, &err), AUDIO_PROBLEM_SAMPLE_RATE);
    free(w);
    w = wav_handmade(768000, 1, 3200, 3200, &len);
    CHECK_EQ_INT(decode_problem(w, len, NULL, &err), AUDIO_PROBLEM_SAMPLE_RATE);
    free(w);
    w = wav_handmade(8000, 1, 3200, 3200, &len);
    CHECK_EQ_INT(decode_problem(w, len, NULL, &err), AUDIO_PROBLEM_NONE);
    free(w);
    w = wav_handmade(16000, 64, 64 * 2 * 100, 64 * 2 * 100, &len);
    CHECK_EQ_INT(decode_problem(w, len, NULL, &err), AUDIO_PROBLEM_CHANNELS);
    CHECK_EQ_INT(err, VB_ERR_UNPROCESSABLE);
    free(w);
    w = wav_handmade(16000, 8, 8 * 2 * 100, 8 * 2 * 100, &len);
    CHECK_EQ_INT(decode_problem(w, len, NULL, &err), AUDIO_PROBLEM_NONE);
    free(w);
}

TEST(truncated)
{
    /* FLAC announces its length in STREAMINFO: cutting the stream leaves fewer frames. */
    int rate = 16000;
    size_t frames = 32000;
    float *x = make_sine(frames, 1, rate, 300, 0.5);
    struct memfile m;
    CHECK(memfile_write(&m, SF_FORMAT_FLAC | SF_FORMAT_PCM_16, rate, 1, x, (sf_count_t)frames) ==
          0);
    enum vb_err err;
    CHECK_EQ_INT(decode_problem(m.data, (size_t)m.len / 2, NULL, &err), AUDIO_PROBLEM_TRUNCATED);
    CHECK_EQ_INT(err, VB_ERR_UNPROCESSABLE);
    struct audio_decode_params p = audio_decode_default_params();
    p.accept_truncated = true;
    struct audio_pcm pcm;
    struct audio_info info;
    CHECK_EQ_INT(audio_decode(m.data, (size_t)m.len / 2, &p, &pcm, &info, NULL), VB_OK);
    CHECK(info.truncated);
    CHECK(pcm.frames > 0 && pcm.frames < frames);
    CHECK_EQ_INT(info.frames_header, frames);
    audio_pcm_release(&pcm);
    free(m.data);
    /* A WAV whose data chunk claims more than is present decodes what is there, or is refused
     * as truncated: never more frames than bytes. */
    size_t len;
    unsigned char *w = wav_handmade(16000, 1, 64000, 3200, &len);
    err = audio_decode(w, len, &p, &pcm, &info, NULL);
    CHECK_EQ_INT(err, VB_OK);
    CHECK(pcm.frames <= 1600);
    audio_pcm_release(&pcm);
    free(w);
    free(x);
}

TEST(too_long)
{
    size_t len;
    enum vb_err err;
    unsigned char *w = wav_handmade(16000, 1, 32000, 32000, &len); /* 16000 frames */
    struct audio_decode_params p = audio_decode_default_params();
    p.max_frames = 10000;
    CHECK_EQ_INT(decode_problem(w, len, &p, &err), AUDIO_PROBLEM_TOO_LONG);
    CHECK_EQ_INT(err, VB_ERR_TOO_LARGE);
    p.max_frames = 16000;
    CHECK_EQ_INT(decode_problem(w, len, &p, &err), AUDIO_PROBLEM_NONE);
    free(w);
}

TEST(max_seconds)
{
    size_t len;
    enum vb_err err;
    unsigned char *w = wav_handmade(16000, 1, 64000, 64000, &len); /* 2 s */
    struct audio_decode_params p = audio_decode_default_params();
    p.max_seconds = 1.5;
    CHECK_EQ_INT(decode_problem(w, len, &p, &err), AUDIO_PROBLEM_DURATION);
    CHECK_EQ_INT(err, VB_ERR_UNPROCESSABLE);
    p.max_seconds = 2.0;
    CHECK_EQ_INT(decode_problem(w, len, &p, &err), AUDIO_PROBLEM_NONE);
    free(w);
    /* Also for compressed streams (whatever their header says). */
    float *x = make_sine(16000 * 3, 1, 16000, 300, 0.5);
    struct memfile m;
    CHECK(memfile_write(&m, SF_FORMAT_OGG | SF_FORMAT_VORBIS, 16000, 1, x, 16000 * 3) == 0);
    p.max_seconds = 1.0;
    CHECK_EQ_INT(decode_problem(m.data, (size_t)m.len, &p, &err), AUDIO_PROBLEM_DURATION);
    p.max_seconds = 0;
    CHECK_EQ_INT(decode_problem(m.data, (size_t)m.len, &p, &err), AUDIO_PROBLEM_NONE);
    free(m.data);
    free(x);
}

TEST(nan_samples)
{
    float x[1000];
    for (size_t i = 0; i < 1000; i++)
        x[i] = 0.1f;
    x[500] = NAN;
    struct memfile m;
    CHECK(memfile_write(&m, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 16000, 1, x, 1000) == 0);
    enum vb_err err;
    CHECK_EQ_INT(decode_problem(m.data, (size_t)m.len, NULL, &err), AUDIO_PROBLEM_INVALID_SAMPLES);
    free(m.data);
}

TEST(duration_and_silence)
{
    struct audio_pcm pcm;
    struct audio_diag diag;
    CHECK_EQ_INT(audio_pcm_alloc(&pcm, 16000 * 2, 1, 16000), VB_OK);
    CHECK_EQ_INT(audio_check_duration(&pcm, 3, 60, &diag), VB_ERR_UNPROCESSABLE);
    CHECK_EQ_INT(diag.problem, AUDIO_PROBLEM_TOO_SHORT);
    CHECK_EQ_INT(audio_check_duration(&pcm, 1, 60, &diag), VB_OK);
    CHECK_EQ_INT(audio_check_duration(&pcm, 0.5, 1.5, &diag), VB_ERR_UNPROCESSABLE);
    CHECK_EQ_INT(diag.problem, AUDIO_PROBLEM_DURATION);
    CHECK_EQ_INT(audio_check_duration(&pcm, 0.5, 0, &diag), VB_OK);
    CHECK_EQ_INT(audio_check_silence(&pcm, AUDIO_SILENCE_DBFS, &diag), VB_ERR_UNPROCESSABLE);
    CHECK_EQ_INT(diag.problem, AUDIO_PROBLEM_SILENT);
    pcm.samples[100] = 0.0005f; /* -66 dBFS: still silent */
    CHECK_EQ_INT(audio_check_silence(&pcm, AUDIO_SILENCE_DBFS, &diag), VB_ERR_UNPROCESSABLE);
    CHECK(strstr(diag.message, "dBFS") != NULL);
    pcm.samples[200] = -0.002f; /* -54 dBFS */
    CHECK_EQ_INT(audio_check_silence(&pcm, AUDIO_SILENCE_DBFS, &diag), VB_OK);
    audio_pcm_release(&pcm);
    audio_pcm_release(&pcm);
    audio_pcm_release(NULL);
    CHECK_EQ_INT(audio_check_silence(&pcm, AUDIO_SILENCE_DBFS, &diag), VB_ERR_UNPROCESSABLE);
}

TEST(probe)
{
    size_t len;
    unsigned char *w = wav_handmade(22050, 2, 22050 * 4, 22050 * 4, &len);
    struct audio_info info;
    CHECK_EQ_INT(audio_probe(w, len, &info, NULL), VB_OK);
    CHECK_EQ_INT(info.sample_rate, 22050);
    CHECK_EQ_INT(info.channels, 2);
    CHECK_EQ_INT(info.frames, 22050);
    CHECK_EQ_STR(info.format, "wav");
    CHECK_EQ_STR(info.subtype, "pcm_16");
    CHECK_NEAR(info.duration_s, 1.0, 1e-9);
    free(w);
}

TEST(problem_codes)
{
    for (int p = AUDIO_PROBLEM_NONE; p <= AUDIO_PROBLEM_NOMEM; p++) {
        CHECK(strcmp(audio_problem_code((enum audio_problem)p), "unknown") != 0);
        CHECK(strcmp(audio_problem_message((enum audio_problem)p), "unknown problem") != 0);
    }
}

int main(void)
{
    RUN(round_trip_formats);
    RUN(mono_downmix);
    RUN(not_audio);
    RUN(empty_audio);
    RUN(absurd_rate_and_channels);
    RUN(truncated);
    RUN(too_long);
    RUN(max_seconds);
    RUN(nan_samples);
    RUN(duration_and_silence);
    RUN(probe);
    RUN(problem_codes);
    return test_summary();
}
