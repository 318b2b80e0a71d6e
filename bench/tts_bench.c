/* tts_bench.c: real-time factor (seconds of compute per second of audio) of speech
 * generation for a 1,000-character text: the espeak-ng engine alone, the whole pipeline
 * (engine + joining + ambience mixing + loudness + encoding), and the pipeline without the
 * engine (the difference), so the overhead of our own code is visible. Median of N runs.
 *   build/bench/tts_bench [RUNS] [FORMAT] [AMBIENCE]     defaults: 5 mp3 rain */
#include "core/vb.h"
#include "audio/decode.h"
#include "tts/pipeline.h"
#include "tts/registry.h"

#include <time.h>

static const char *TEXT =
    "The old lighthouse stood at the edge of the cliff, its white paint peeling after decades "
    "of salt and wind. Every evening, the keeper climbed the one hundred and twelve steps to "
    "light the lamp, even though ships now relied on satellites. He said the light was not for "
    "the ships anymore; it was for the town, so that people walking home along the harbour "
    "would know that someone was still awake. In winter the storms came in from the west, and "
    "the waves threw spray as high as the gallery. Children in the village told stories about "
    "the keeper: that he had once been a sailor, that he had seen whales in the fog, that he "
    "spoke to the gulls. When the council voted to automate the lamp, nobody knew how to tell "
    "him. In the end they did not have to. On the first night of the new machine, the keeper "
    "climbed the stairs as usual, sat beside the lamp with a flask of tea, and watched it turn "
    "on by itself. Then he smiled, wrote one line in the logbook, and went home to sleep.";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return v[n / 2];
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 5;
    const char *format = argc > 2 ? argv[2] : "mp3";
    const char *ambience = argc > 3 ? argv[3] : "rain";
    if (runs < 1 || runs > 100)
        runs = 5;
    struct tts_registry *reg = tts_registry_new();
    struct tts_engine *e = reg ? tts_registry_find(reg, TTS_ENGINE_ESPEAK) : NULL;
    char why[200];
    if (!e || tts_engine_load(e, why, sizeof why) != VB_OK) {
        fprintf(stderr, "tts_bench: espeak-ng unavailable\n");
        return 1;
    }
    double engine_rtf[100], full_rtf[100], own_rtf[100], audio_s = 0, engine_audio_s = 0;
    for (int i = 0; i < runs; i++) {
        struct tts_params p = tts_default_params();
        struct audio_pcm pcm;
        double t = now_s();
        if (tts_engine_synthesize(e, TEXT, strlen(TEXT), &p, &pcm, NULL) != VB_OK)
            return 1;
        double engine_s = now_s() - t;
        engine_audio_s = (double)pcm.frames / pcm.sample_rate;
        engine_rtf[i] = engine_s / engine_audio_s;
        audio_pcm_release(&pcm);

        struct tts_request r = tts_request_default();
        r.text = TEXT;
        r.text_len = strlen(TEXT);
        r.format = format;
        r.ambience_id = strcmp(ambience, "none") ? ambience : NULL;
        struct tts_output out;
        struct tts_diag d;
        t = now_s();
        if (tts_pipeline_run(e, &r, NULL, &out, &d) != VB_OK) {
            fprintf(stderr, "tts_bench: %s\n", d.message);
            return 1;
        }
        double full_s = now_s() - t;
        audio_s = out.duration_s;
        full_rtf[i] = full_s / audio_s;
        /* our own code: everything in the run that is not the engine's synthesis */
        own_rtf[i] = (full_s - engine_s) / audio_s;
        if (i == runs - 1) {
            printf("stages (last run):");
            for (int s = 0; s < TTS_STAGE_COUNT; s++)
                printf(" %s %.1f ms", tts_stage_name((enum tts_stage)s), out.timings.stage_ms[s]);
            printf("\n");
        }
        tts_output_release(&out);
    }
    printf("text: %zu characters; speech %.1f s, output %.1f s (%s, ambience %s); %d runs\n",
           strlen(TEXT), engine_audio_s, audio_s, format, ambience, runs);
    printf("TTS_BENCH engine_rtf=%.5f pipeline_rtf=%.5f own_code_rtf=%.5f\n",
           median(engine_rtf, runs), median(full_rtf, runs), median(own_rtf, runs));
    tts_registry_free(reg);
    return 0;
}
