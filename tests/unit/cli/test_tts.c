/* test_tts.c: `vocero tts` end to end: files in every way the options allow, usage errors,
 * validation errors from the pipeline. */
#include "core/vb.h"
#include "audio/decode.h"
#include "core/alloc.h"
#include "cli/cli.h"
#include "unit/test.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/vocero-tts-cli-XXXXXX";

static int run(const char *const *args)
{
    int argc = 0;
    while (args[argc])
        argc++;
    return cli_tts(argc, (char **)args);
}

/* Decodes the file at path; returns its duration (0 when it is not audio). */
static double decoded_seconds(const char *path, int *rate)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    static unsigned char buf[8 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    struct audio_pcm pcm = {0};
    struct audio_info info;
    if (audio_decode(buf, n, NULL, &pcm, &info, NULL) != VB_OK)
        return 0;
    audio_pcm_release(&pcm);
    if (rate)
        *rate = info.sample_rate;
    return info.duration_s;
}

TEST(writes_files)
{
    char wav[256], mp3[256], txt[256], ogg[256];
    snprintf(wav, sizeof wav, "%s/a.wav", dir);
    snprintf(mp3, sizeof mp3, "%s/b.flac", dir);
    snprintf(txt, sizeof txt, "%s/in.txt", dir);
    snprintf(ogg, sizeof ogg, "%s/c.out", dir);
    const char *a1[] = {"tts", "--text", "Hello from the shell.", "--quiet", "-o", wav, NULL};
    CHECK_EQ_INT(run(a1), 0);
    int rate = 0;
    double s1 = decoded_seconds(wav, &rate);
    CHECK(s1 > 0.8 && s1 < 4.0);
    CHECK_EQ_INT(rate, 22050);
    /* format from the extension, speed, voice, language, sample rate */
    const char *a2[] = {"tts",
                        "--text",
                        "Hello from the shell.",
                        "--speed",
                        "2",
                        "--voice",
                        "en-gb+f3",
                        "--sample-rate",
                        "48000",
                        "--quiet",
                        "-o",
                        mp3,
                        NULL};
    CHECK_EQ_INT(run(a2), 0);
    double s2 = decoded_seconds(mp3, &rate);
    CHECK_EQ_INT(rate, 48000);
    CHECK_MSG(s2 > 0.3 && s2 < s1 * 0.8, "%.2f vs %.2f", s2, s1);
    /* text file, explicit format, ambience */
    FILE *f = fopen(txt, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("A sentence from a file.\nAnd a second one.\n", f);
        fclose(f);
    }
    const char *a3[] = {"tts",    "--text-file", txt,       "--format", "ogg", "--ambience", "rain",
                        "--seed", "5",           "--quiet", "-o",       ogg,   NULL};
    CHECK_EQ_INT(run(a3), 0);
    CHECK(decoded_seconds(ogg, NULL) > 2.0);
}

TEST(errors)
{
    char out[256];
    snprintf(out, sizeof out, "%s/never.wav", dir);
    const char *usage1[] = {"tts", "-o", out, NULL};
    const char *usage2[] = {"tts", "--text", "a", "--text-file", "b", "-o", out, NULL};
    const char *usage3[] = {"tts", "--text", "hi", NULL};
    const char *usage4[] = {"tts", "--text", "hi", "--speed", "fast", "-o", out, NULL};
    const char *usage5[] = {"tts", "--text", NULL};
    CHECK_EQ_INT(run(usage1), 2);
    CHECK_EQ_INT(run(usage2), 2);
    CHECK_EQ_INT(run(usage3), 2);
    CHECK_EQ_INT(run(usage4), 2);
    CHECK_EQ_INT(run(usage5), 2);
    const char *bad1[] = {"tts", "--text", "hi", "--speed", "3", "--quiet", "-o", out, NULL};
    const char *bad2[] = {"tts", "--text", "hi", "--engine", "nope", "--quiet", "-o", out, NULL};
    const char *bad3[] = {"tts", "--text", "hi", "--voice", "nobody", "--quiet", "-o", out, NULL};
    const char *bad4[] = {"tts", "--text", "hi", "--format", "aac", "--quiet", "-o", out, NULL};
    const char *bad5[] = {"tts", "--text-file", "/nonexistent/x", "--quiet", "-o", out, NULL};
    const char *bad6[] = {"tts", "--text", "...", "--quiet", "-o", out, NULL};
    CHECK_EQ_INT(run(bad1), 1);
    CHECK_EQ_INT(run(bad2), 1);
    CHECK_EQ_INT(run(bad3), 1);
    CHECK_EQ_INT(run(bad4), 1);
    CHECK_EQ_INT(run(bad5), 1);
    CHECK_EQ_INT(run(bad6), 1);
    CHECK(access(out, F_OK) != 0); /* nothing written on failure */
    const char *help[] = {"tts", "--help", NULL};
    CHECK_EQ_INT(run(help), 0);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    RUN(writes_files);
    RUN(errors);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return test_summary();
}
