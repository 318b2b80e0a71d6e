/* cli.c: `vocero tts`: runs the generation pipeline on the command line and writes the file
 * (or stdout with -o -), printing progress and per-stage timings on stderr. */
#include "core/vb.h"
#include "tts/cli.h"
#include "audio/ambience.h"
#include "audio/decode.h"
#include "audio/encode.h"
#include "core/alloc.h"
#include "core/config.h"
#include "tts/pipeline.h"
#include "tts/registry.h"

#include <errno.h>
#include <math.h>
#include <strings.h>
#include <unistd.h>

#define CLI_FILE_MAX ((size_t)256 << 20) /* largest input file read (text, voice, ambience) */

struct cli_opts {
    const char *text, *text_file, *engine, *voice, *voice_file, *language, *ambience, *format, *out;
    double speed, temperature, ambience_volume;
    uint64_t seed;
    int sample_rate;
    bool quiet;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vocero tts --text TEXT|--text-file FILE [options] -o OUT\n"
            "\n"
            "Synthesises speech with the same pipeline as the server (no server needed).\n"
            "\n"
            "  --text TEXT            text to speak (at most %d characters)\n"
            "  --text-file FILE       read the text from FILE ('-' = stdin)\n"
            "  --engine NAME          engine (default: TTS_ENGINE from .env or the environment)\n"
            "  --voice ID             built-in voice, e.g. en-us, f3, en-gb+m3\n"
            "  --voice-file FILE      reference clip to clone (cloning engines only)\n"
            "  --language CODE        language, e.g. en-us, de, fr\n"
            "  --speed S              0.5 to 2.0 (default 1.0)\n"
            "  --temperature T        0.05 to 2.0 (sampling engines)\n"
            "  --seed N               seed for sampling and ambience\n"
            "  --ambience ID|FILE     built-in ambience (rain, office, cafe, street, wind, ocean,\n"
            "                         forest, fireplace) or an audio file to loop under the "
            "speech\n"
            "  --ambience-volume DB   ambience level relative to the speech (default -20)\n"
            "  --format F             %s (default: from OUT's extension, else wav)\n"
            "  --sample-rate HZ       output rate (default: the engine's)\n"
            "  --quiet                no progress on stderr\n"
            "  -o, --output OUT       output file ('-' = stdout)\n",
            TTS_TEXT_MAX_CHARS, audio_formats_supported());
}

static bool parse_double(const char *s, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || !*s || *end || !isfinite(v))
        return false;
    *out = v;
    return true;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || !*s || *end || *s == '-')
        return false;
    *out = v;
    return true;
}

/* Parses argv; 0 ok, 2 usage error (message printed), 3 --help shown. */
static int parse_args(int argc, char **argv, struct cli_opts *o)
{
    memset(o, 0, sizeof *o);
    o->speed = 1.0;
    o->ambience_volume = TTS_AMBIENCE_VOLUME_DB;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 3;
        }
        if (strcmp(a, "--quiet") == 0) {
            o->quiet = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "vocero tts: %s needs a value (see --help)\n", a);
            return 2;
        }
        const char *v = argv[++i];
        double d = 0;
        uint64_t u = 0;
        if (strcmp(a, "--text") == 0)
            o->text = v;
        else if (strcmp(a, "--text-file") == 0)
            o->text_file = v;
        else if (strcmp(a, "--engine") == 0)
            o->engine = v;
        else if (strcmp(a, "--voice") == 0)
            o->voice = v;
        else if (strcmp(a, "--voice-file") == 0)
            o->voice_file = v;
        else if (strcmp(a, "--language") == 0)
            o->language = v;
        else if (strcmp(a, "--ambience") == 0)
            o->ambience = v;
        else if (strcmp(a, "--format") == 0)
            o->format = v;
        else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0)
            o->out = v;
        else if (strcmp(a, "--speed") == 0 && parse_double(v, &d))
            o->speed = d;
        else if (strcmp(a, "--temperature") == 0 && parse_double(v, &d))
            o->temperature = d;
        else if (strcmp(a, "--ambience-volume") == 0 && parse_double(v, &d))
            o->ambience_volume = d;
        else if (strcmp(a, "--seed") == 0 && parse_u64(v, &u))
            o->seed = u;
        else if (strcmp(a, "--sample-rate") == 0 && parse_u64(v, &u) && u <= 384000)
            o->sample_rate = (int)u;
        else {
            fprintf(stderr, "vocero tts: bad option or value: %s %s (see --help)\n", a, v);
            return 2;
        }
    }
    if (!o->text == !o->text_file) {
        fprintf(stderr, "vocero tts: give exactly one of --text and --text-file\n");
        return 2;
    }
    if (o->voice && o->voice_file) {
        fprintf(stderr, "vocero tts: give at most one of --voice and --voice-file\n");
        return 2;
    }
    if (!o->out) {
        fprintf(stderr, "vocero tts: -o OUT is required ('-' for stdout)\n");
        return 2;
    }
    return 0;
}

/* Reads a whole file or stdin ("-"). Caller frees *out. */
static bool slurp(const char *path, unsigned char **out, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    size_t cap = 0, n = 0;
    unsigned char *buf = NULL;
    bool ok = f != NULL;
    while (ok) {
        if (n == cap) {
            cap = cap ? cap * 2 : 65536;
            unsigned char *p = cap <= CLI_FILE_MAX ? vb_try_realloc(buf, cap + 1) : NULL;
            if (!p) {
                ok = false;
                break;
            }
            buf = p;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            ok = !ferror(f);
            break;
        }
    }
    if (f && f != stdin)
        fclose(f);
    if (!ok) {
        vb_free(buf);
        return false;
    }
    if (!buf)
        buf = vb_xmalloc(1);
    buf[n] = '\0';
    *out = buf, *len = n;
    return true;
}

static bool load_audio(const char *what, const char *path, struct audio_pcm *out)
{
    unsigned char *data = NULL;
    size_t len = 0;
    struct audio_diag diag = {0};
    if (!slurp(path, &data, &len)) {
        fprintf(stderr, "vocero tts: cannot read %s '%s': %s\n", what, path, strerror(errno));
        return false;
    }
    struct audio_decode_params dp = audio_decode_default_params();
    dp.mono = true;
    enum vb_err err = audio_decode(data, len, &dp, out, NULL, &diag);
    vb_free(data);
    if (err) {
        fprintf(stderr, "vocero tts: %s '%s': %s\n", what, path,
                diag.message[0] ? diag.message : vb_err_message(err));
        return false;
    }
    return true;
}

/* The format from --format, else from OUT's extension, else wav. */
static const char *pick_format(const struct cli_opts *o)
{
    if (o->format)
        return o->format;
    const char *dot = strrchr(o->out, '.');
    if (dot && !strchr(dot, '/')) {
        for (size_t i = 0; i < audio_format_count(); i++) {
            const struct audio_format_desc *f = audio_format_at(i);
            if (strcasecmp(dot + 1, f->extension) == 0 || strcasecmp(dot + 1, f->name) == 0)
                return f->name;
        }
        if (strcasecmp(dot + 1, TTS_FORMAT_PCM) == 0 || strcasecmp(dot + 1, "raw") == 0)
            return TTS_FORMAT_PCM;
    }
    return "wav";
}

static void progress(enum tts_stage stage, double f, void *user)
{
    (void)user;
    fprintf(stderr, "\r%-8s %3d%%", tts_stage_name(stage), (int)lround(f * 100));
    fflush(stderr);
}

static bool write_out(const char *path, const unsigned char *data, size_t len)
{
    if (strcmp(path, "-") == 0)
        return fwrite(data, 1, len, stdout) == len && fflush(stdout) == 0;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    bool ok = f && fwrite(data, 1, len, f) == len;
    if (f && fclose(f) != 0)
        ok = false;
    if (ok && rename(tmp, path) != 0)
        ok = false;
    if (!ok)
        unlink(tmp);
    return ok;
}

int tts_cli_main(int argc, char **argv)
{
    struct cli_opts o;
    struct tts_registry *reg = NULL;
    struct audio_pcm prompt = {0}, amb = {0};
    struct tts_output out = {0};
    struct vb_config cfg = {0};
    unsigned char *file_text = NULL;
    size_t text_len = 0;
    int status = 1;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc == 3 ? 0 : rc;
    if (o.text_file) {
        if (!slurp(o.text_file, &file_text, &text_len)) {
            fprintf(stderr, "vocero tts: cannot read '%s': %s\n", o.text_file, strerror(errno));
            goto out;
        }
    } else {
        text_len = strlen(o.text);
    }
    /* the default engine comes from TTS_ENGINE (.env, then the environment) */
    char why[256];
    if (vb_config_load(&cfg, NULL, why, sizeof why) != VB_OK) {
        fprintf(stderr, "vocero tts: configuration: %s\n", why);
        goto out;
    }
    reg = tts_registry_new();
    if (reg) {
        tts_registry_set_models_dir(reg, cfg.models_dir);
        struct tts_engine_settings ts = tts_engine_settings_from_config(&cfg);
        tts_registry_set_settings(reg, &ts);
    }
    const char *name = o.engine ? o.engine : cfg.tts_engine;
    if (!name || !*name)
        name = TTS_ENGINE_ESPEAK;
    struct tts_engine *e = reg ? tts_registry_default(reg, name) : NULL;
    if (!e) {
        fprintf(stderr, "vocero tts: unknown engine '%s'; available: %s\n", name,
                reg ? tts_registry_names(reg) : "(none)");
        goto out;
    }
    if (o.voice_file && !load_audio("voice file", o.voice_file, &prompt))
        goto out;
    bool amb_file = o.ambience && !audio_ambience_find(o.ambience) && access(o.ambience, R_OK) == 0;
    if (amb_file && !load_audio("ambience file", o.ambience, &amb))
        goto out;
    struct tts_request r = tts_request_default();
    r.text = o.text ? o.text : (const char *)file_text;
    r.text_len = text_len;
    r.params.language = o.language;
    r.params.voice = o.voice;
    r.params.prompt = prompt.samples ? &prompt : NULL;
    r.params.speed = o.speed;
    r.params.temperature = o.temperature;
    r.params.seed = o.seed;
    r.ambience_id = o.ambience;
    r.ambience_pcm = amb.samples ? &amb : NULL;
    r.ambience_volume_db = o.ambience_volume;
    r.format = pick_format(&o);
    r.sample_rate = o.sample_rate;
    struct tts_pipeline_callbacks cb = {.progress = o.quiet ? NULL : progress};
    struct tts_diag diag;
    enum vb_err err = tts_pipeline_run(e, &r, &cb, &out, &diag);
    if (!o.quiet)
        fputc('\n', stderr);
    if (err) {
        fprintf(stderr, "vocero tts: %s\n", diag.message);
        goto out;
    }
    if (!write_out(o.out, out.data, out.len)) {
        fprintf(stderr, "vocero tts: cannot write '%s': %s\n", o.out, strerror(errno));
        goto out;
    }
    if (!o.quiet) {
        fprintf(stderr, "%s: %.2f s of %s at %d Hz, %zu bytes, %.1f LUFS, %s\n",
                strcmp(o.out, "-") ? o.out : "stdout", out.duration_s, out.format, out.sample_rate,
                out.len, out.loudness_lufs, tts_engine_name(e));
        fprintf(stderr, "timings:");
        for (int s = 0; s < TTS_STAGE_COUNT; s++)
            fprintf(stderr, " %s %.1f ms", tts_stage_name((enum tts_stage)s),
                    out.timings.stage_ms[s]);
        fprintf(stderr, "; total %.1f ms (real-time factor %.4f)\n", out.timings.total_ms,
                out.duration_s > 0 ? out.timings.total_ms / 1000.0 / out.duration_s : 0);
    }
    status = 0;
out:
    tts_output_release(&out);
    audio_pcm_release(&prompt);
    audio_pcm_release(&amb);
    vb_free(file_text);
    tts_registry_free(reg);
    vb_config_release(&cfg);
    return status;
}
