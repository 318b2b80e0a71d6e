/* tts.c: `vocero tts`: runs the generation pipeline on the command line and writes the file
 * (or stdout with -o -), printing progress and per-stage timings on stderr. */
#include "core/vb.h"
#include "cli/args.h"
#include "cli/cli.h"
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
    uint64_t seed, sample_rate;
    bool quiet;
};

static void more_help(FILE *out)
{
    fprintf(out,
            "--text is at most %d characters. --format is one of %s\n"
            "(default: from OUT's extension, else wav).\n",
            TTS_TEXT_MAX_CHARS, audio_formats_supported());
}

/* Parses argv; CLI_CONTINUE, or the exit status (usage printed). */
static int parse_args(int argc, char **argv, struct cli_opts *o)
{
    memset(o, 0, sizeof *o);
    o->speed = 1.0;
    o->ambience_volume = TTS_AMBIENCE_VOLUME_DB;
    const struct cli_opt opts[] = {
        {"text", 0, CLI_TEXT, &o->text, 0, 0, "TEXT", "text to speak"},
        {"text-file", 0, CLI_TEXT, &o->text_file, 0, 0, "FILE",
         "read the text from FILE ('-' = stdin)"},
        {"engine", 0, CLI_TEXT, &o->engine, 0, 0, "NAME",
         "engine (default: TTS_ENGINE from .env or the environment)"},
        {"voice", 0, CLI_TEXT, &o->voice, 0, 0, "ID", "built-in voice, e.g. en-us, f3, en-gb+m3"},
        {"voice-file", 0, CLI_TEXT, &o->voice_file, 0, 0, "FILE",
         "reference clip to clone (cloning engines only)"},
        {"language", 0, CLI_TEXT, &o->language, 0, 0, "CODE", "language, e.g. en-us, de, fr"},
        {"speed", 0, CLI_DOUBLE, &o->speed, 0, 0, "S", "0.5 to 2.0 (default 1.0)"},
        {"temperature", 0, CLI_DOUBLE, &o->temperature, 0, 0, "T",
         "0.05 to 2.0 (sampling engines)"},
        {"seed", 0, CLI_U64, &o->seed, 0, 0, "N", "seed for sampling and ambience"},
        {"ambience", 0, CLI_TEXT, &o->ambience, 0, 0, "ID|FILE",
         "built-in ambience (rain, office, cafe, street, wind, ocean,\n"
         "forest, fireplace) or an audio file to loop under the speech"},
        {"ambience-volume", 0, CLI_DOUBLE, &o->ambience_volume, 0, 0, "DB",
         "ambience level relative to the speech (default -20)"},
        {"format", 0, CLI_TEXT, &o->format, 0, 0, "F", "output format (see below)"},
        {"sample-rate", 0, CLI_U64, &o->sample_rate, 0, 384000, "HZ",
         "output rate (default: the engine's)"},
        {"quiet", 0, CLI_FLAG, &o->quiet, 0, 0, NULL, "no progress on stderr"},
        {"output", 'o', CLI_TEXT, &o->out, 0, 0, "OUT", "output file ('-' = stdout)"},
    };
    const struct cli_command cmd = {
        .name = "tts",
        .synopsis = "--text TEXT|--text-file FILE [options] -o OUT",
        .about = "Synthesises speech with the same pipeline as the server (no server needed).",
        .opts = opts,
        .n_opts = VB_ARRAY_LEN(opts),
        .more_help = more_help,
    };
    int first, rc = cli_parse(&cmd, argc, argv, &first);
    if (rc != CLI_CONTINUE)
        return rc;
    if (!o->text == !o->text_file)
        return cli_usage_error(&cmd, "give exactly one of --text and --text-file");
    if (o->voice && o->voice_file)
        return cli_usage_error(&cmd, "give at most one of --voice and --voice-file");
    if (!o->out)
        return cli_usage_error(&cmd, "-o OUT is required ('-' for stdout)");
    return CLI_CONTINUE;
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

int cli_tts(int argc, char **argv)
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
    if (rc != CLI_CONTINUE)
        return rc;
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
    r.sample_rate = (int)o.sample_rate;
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
