/* chatterbox_bench.c: Chatterbox-Turbo end to end at the real shapes on random weights (a
 * checkpoint written once by make-random): voice conditioning of a 10 s clip, then per T3
 * weight type (each in its own process, for its own peak RSS) one synthesis of a 200-character
 * text with a fixed speech-token count (RTF, T3 tokens/s, flow, HiFT), one streamed run
 * (time to first audio of the synthesis) and the time to first audio through the whole
 * speech pipeline (engine + joiner + stream chain to WAV bytes, as POST /generate-tts with
 * stream=true; the built-in voice already primed, as on a running server).
 *   chatterbox_bench [--dir DIR] [--threads N] [--types f32,q8_0,q4_0] [--tokens N]
 *                    [--chunk N] [--prompt N] [--s3gen f32|f16|bf16] [--no-stream]
 * Prints one CB_BENCH line per type for bench/sections/chatterbox.sh. */
#include "core/vb.h"
#include "core/alloc.h"
#include "nn/threadpool.h"
#include "tts/chatterbox/cb_engine.h"
#include "tools/make_random_chatterbox.h"
#include "tts/chatterbox/model.h"
#include "tts/chatterbox/synth.h"
#include "tts/pipeline.h"
#include "tts/registry.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char TEXT[] = /* 200 characters */
    "The committee met on Tuesday morning to review the budget, and after a long debate it "
    "agreed on forty-two points. Everyone seemed relieved [laugh] when the chair finally "
    "closed the long meeting at 12.";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* VmHWM (peak resident set) in MB; reset_peak_rss() restarts it (Linux clear_refs 5) so the
 * transient mapping of the checkpoint files during loading is not counted. */
static double peak_rss_mb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double mb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            mb = strtod(line + 6, NULL) / 1024.0;
    if (f)
        fclose(f);
    if (mb < 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        mb = (double)ru.ru_maxrss / 1024.0;
    }
    return mb;
}

static void reset_peak_rss(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

/* A listener playing the stream in real time from its first piece: how long it waits for
 * audio after that (the pieces that arrive after what came before has played). */
struct playback {
    double t0;      /* start of the run */
    double play_at; /* when the audio received so far will have played; 0 = not started */
    double stall_s; /* time spent waiting after the first piece */
    int pieces;
};

static enum vb_err on_audio(void *user, const float *pcm, size_t n)
{
    struct playback *pb = user;
    double t = now_s();
    (void)pcm;
    if (pb->play_at == 0)
        pb->play_at = t;
    if (t > pb->play_at) {
        pb->stall_s += t - pb->play_at;
        pb->play_at = t;
    }
    pb->play_at += (double)n / CB_SAMPLE_RATE;
    pb->pieces++;
    return VB_OK;
}

/* Time to first audio through the pipeline: the WAV bytes of a streamed request. */
struct first_audio {
    double t0, first_s; /* first_s: seconds to the first sample bytes; 0 = none yet */
    size_t bytes;
};

static enum vb_err pipe_audio(const void *bytes, size_t n, void *user)
{
    struct first_audio *f = user;
    (void)bytes;
    f->bytes += n;
    if (f->bytes > 44 && f->first_s == 0)
        f->first_s = now_s() - f->t0;
    return VB_OK;
}

/* Stops the generation half a second after the first audio (the rest is not measured). */
static bool pipe_done(void *user)
{
    struct first_audio *f = user;
    return f->first_s > 0 && now_s() - f->t0 > f->first_s + 0.5;
}

/* The chatterbox engine on dir (through a MODELS_DIR with a link to it) and a streamed
 * pipeline run of TEXT, twice (the first primes the voice); seconds to the first audio of
 * the second, or -1. */
static double pipeline_first_audio(const char *dir, const char *type, int threads, int chunk,
                                   int prompt)
{
    char root[] = "/tmp/vocero-cb-bench-XXXXXX", link[64], real[PATH_MAX], why[300];
    double first = -1;
    struct tts_registry *reg = NULL;
    if (!mkdtemp(root) || !realpath(dir, real))
        return -1;
    snprintf(link, sizeof link, "%s/%s", root, CB_ENGINE_MODEL_SUBDIR);
    if (symlink(real, link) != 0)
        goto out;
    if (!(reg = tts_registry_new()))
        goto out;
    tts_registry_set_models_dir(reg, root);
    struct tts_engine_settings set = tts_engine_default_settings();
    snprintf(set.cb_t3_weights, sizeof set.cb_t3_weights, "%s", type);
    set.threads = threads;
    set.cb_stream_first_tokens = chunk;
    set.cb_stream_prompt_tokens = prompt;
    tts_registry_set_settings(reg, &set);
    struct tts_engine *e = tts_registry_find(reg, TTS_ENGINE_CHATTERBOX);
    if (!e || tts_engine_load(e, why, sizeof why) != VB_OK) {
        fprintf(stderr, "pipeline: %s\n", why);
        goto out;
    }
    for (int i = 0; i < 2; i++) {
        struct first_audio f = {.t0 = now_s()};
        struct tts_pipeline_callbacks cb = {
            .cancelled = pipe_done, .on_audio = pipe_audio, .user = &f};
        struct tts_request r = tts_request_default();
        r.text = TEXT;
        r.text_len = strlen(TEXT);
        r.params.seed = 1;
        struct tts_output out;
        struct tts_diag d;
        enum vb_err err = tts_pipeline_run(e, &r, &cb, &out, &d);
        tts_output_release(&out);
        if (err != VB_ERR_CANCELLED && err != VB_OK) {
            fprintf(stderr, "pipeline: %s\n", d.message);
            goto out;
        }
        first = f.first_s > 0 ? f.first_s : -1;
    }
out:
    tts_registry_free(reg);
    unlink(link);
    rmdir(root);
    return first;
}

/* One weight type (run in a child process). */
static int run_type(const char *dir, const char *type, enum nn_type s3gen, int threads, int tokens,
                    int chunk, int prompt, bool stream)
{
    struct cb_model_options o = cb_model_default_options();
    o.s3gen_wtype = s3gen;
    o.lazy_encoders = true; /* as the engine: encoders only around a voice computation */
    if (!cb_t3_wtype_parse(type, &o.t3_wtype)) {
        fprintf(stderr, "unknown weight type %s\n", type);
        return 1;
    }
    char why[512] = "";
    double t = now_s();
    struct cb_model *m = NULL;
    if (cb_model_load(dir, &o, &m, why, sizeof why)) {
        fprintf(stderr, "load: %s\n", why);
        return 1;
    }
    double load_s = now_s() - t;
    double load_rss = peak_rss_mb();
    reset_peak_rss();
    struct cb_synth *s = NULL;
    if (cb_synth_new(m, threads, &s)) {
        fprintf(stderr, "synth: out of memory\n");
        cb_model_free(m);
        return 1;
    }
    /* voice conditioning: a 10 s voiced clip at 24 kHz */
    int n = 240000;
    float *clip = vb_xmalloc((size_t)n * sizeof *clip);
    for (int i = 0; i < n; i++) {
        double tt = (double)i / 24000.0;
        clip[i] = (float)(0.3 * sin(2 * M_PI * 140 * tt * (1 + 0.05 * sin(2 * M_PI * 2 * tt))) *
                          (0.6 + 0.4 * sin(2 * M_PI * 1.3 * tt)));
    }
    struct cb_voice_cond v;
    t = now_s();
    if (cb_model_encoders_acquire(m, why, sizeof why)) {
        fprintf(stderr, "encoders: %s\n", why);
        return 1;
    }
    double enc_load_s = now_s() - t;
    t = now_s();
    struct cb_voice_encoders enc = cb_model_encoders(m);
    if (cb_voice_cond_compute(&enc, cb_synth_pool(s), NULL, clip, n, 24000, &v, why, sizeof why)) {
        fprintf(stderr, "voice conditioning: %s\n", why);
        return 1;
    }
    double vc_s = now_s() - t;
    cb_model_encoders_release(m);
    double vc_rss = peak_rss_mb();
    reset_peak_rss();
    vb_free(clip);
    struct cb_synth_params p = cb_synth_default_params();
    p.seed = 1;
    p.max_gen = tokens;
    struct cb_synth_stats st, ss = {0};
    struct playback pb = {0};
    float *pcm = NULL;
    size_t np = 0;
    if (cb_synth_run(s, &v, TEXT, strlen(TEXT), &p, NULL, &pcm, &np, &st, why, sizeof why)) {
        fprintf(stderr, "synthesis: %s\n", why);
        return 1;
    }
    vb_free(pcm);
    double audio_s = (double)np / CB_SAMPLE_RATE;
    if (stream) {
        p.chunk_tokens = chunk;
        p.stream_prompt_tokens = prompt;
        struct cb_synth_hooks h = {.on_audio = on_audio, .user = &pb};
        if (cb_synth_run(s, &v, TEXT, strlen(TEXT), &p, &h, NULL, NULL, &ss, why, sizeof why)) {
            fprintf(stderr, "streamed synthesis: %s\n", why);
            return 1;
        }
    }
    printf("T3 %-5s load %.1f s (T3 weights %.0f MB) | voice cond %.2f s (10 s clip; +%.2f s "
           "loading the encoders, peak RSS %.0f MB) | %d text -> %d speech tokens, %.2f s audio\n",
           type, load_s, (double)cb_t3_model_weight_bytes(m->t3) / 1e6, vc_s, enc_load_s, vc_rss,
           st.n_text, st.n_speech, audio_s);
    double dec_tps = st.n_speech > 1 ? (st.n_speech - 1) / (st.t3_s - st.t3_prefill_s) : 0;
    printf("  T3 %.2f s (prefill %.2f s, decode %.1f tokens/s) | flow %.2f s | HiFT %.2f s | "
           "total %.2f s | RTF %.2f",
           st.t3_s, st.t3_prefill_s, dec_tps, st.flow_s, st.hift_s, st.total_s,
           st.total_s / audio_s);
    if (stream)
        printf(" | streamed (first piece %d tokens, %d prompt tokens): first audio %.2f s, total "
               "%.2f s, %d pieces, a real-time listener waits %.2f s after the first",
               chunk, prompt, ss.first_audio_s, ss.total_s, pb.pieces, pb.stall_s);
    double rss = peak_rss_mb();
    printf(" | peak RSS %.0f MB while synthesising (%.0f MB while loading)\n", rss, load_rss);
    cb_voice_cond_release(&v);
    cb_synth_free(s);
    cb_model_free(m);
    double pipe_first = stream ? pipeline_first_audio(dir, type, threads, chunk, prompt) : -1;
    if (stream)
        printf("  time to first audio through the pipeline (POST /generate-tts stream=true, "
               "built-in voice primed): %.2f s\n",
               pipe_first);
    printf("CB_BENCH type=%s rtf=%.3f t3_prefill_s=%.2f t3_tok_s=%.2f flow_s=%.2f hift_s=%.2f "
           "vc_s=%.2f "
           "first_chunk_s=%.2f stream_stall_s=%.2f pipeline_first_audio_s=%.2f audio_s=%.2f "
           "rss_mb=%.0f\n",
           type, st.total_s / audio_s, st.t3_prefill_s, dec_tps, st.flow_s, st.hift_s, vc_s,
           stream ? ss.first_audio_s : -1.0, stream ? pb.stall_s : -1.0, pipe_first, audio_s, rss);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = "/tmp/vocero-cb-bench-full", *types = "q8_0,q4_0,f32", *s3 = "bf16";
    int threads = 2, tokens = 300, chunk = CB_ENGINE_STREAM_FIRST_TOKENS;
    int prompt = CB_ENGINE_STREAM_PROMPT_TOKENS;
    bool stream = true;
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(k, "--no-stream") == 0) {
            stream = false;
            continue;
        }
        if (!val) {
            fprintf(stderr, "%s needs a value\n", k);
            return 2;
        }
        i++;
        if (strcmp(k, "--dir") == 0)
            dir = val;
        else if (strcmp(k, "--types") == 0)
            types = val;
        else if (strcmp(k, "--s3gen") == 0)
            s3 = val;
        else if (strcmp(k, "--threads") == 0)
            threads = (int)strtol(val, NULL, 10);
        else if (strcmp(k, "--tokens") == 0)
            tokens = (int)strtol(val, NULL, 10);
        else if (strcmp(k, "--chunk") == 0)
            chunk = (int)strtol(val, NULL, 10);
        else if (strcmp(k, "--prompt") == 0)
            prompt = (int)strtol(val, NULL, 10);
        else {
            fprintf(stderr, "unknown option %s\n", k);
            return 2;
        }
    }
    enum nn_type s3gen = strcmp(s3, "f32") == 0   ? NN_TYPE_F32
                         : strcmp(s3, "f16") == 0 ? NN_TYPE_F16
                                                  : NN_TYPE_BF16;
    if (threads < 1 || tokens < 1 || chunk < 1 || prompt < 0)
        return 2;
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/%s", dir, CB_FILE_S3GEN);
    struct stat sb;
    if (stat(probe, &sb) != 0) {
        fprintf(stderr, "writing a full-size random checkpoint to %s ...\n", dir);
        char why[512] = "";
        double t = now_s();
        if (cb_make_random(dir, false, 1, why, sizeof why)) {
            fprintf(stderr, "make-random: %s\n", why);
            return 1;
        }
        fprintf(stderr, "written in %.1f s\n", now_s() - t);
    }
    printf("Chatterbox-Turbo end to end, random full-size weights, %d threads, %zu-character "
           "text, %d speech tokens, S3Gen weights %s\n",
           threads, strlen(TEXT), tokens, s3);
    fflush(stdout);
    char list[256];
    snprintf(list, sizeof list, "%s", types);
    int rc = 0;
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(run_type(dir, tok, s3gen, threads, tokens, chunk, prompt, stream));
        int status = 0;
        if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            rc = 1;
    }
    return rc;
}
