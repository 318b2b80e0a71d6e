/* decode.c: in-memory decoding with libsndfile's virtual I/O. Samples are read in fixed chunks
 * into a buffer that grows up to the frame cap, so a header that lies about its length costs
 * nothing and truncated data is detected by counting what was really read. */
#include "core/vb.h"
#include "audio/decode.h"
#include "core/alloc.h"

#include <math.h>
#include <sndfile.h>
#include <stdarg.h>

#define CHUNK_FRAMES 4096

/* Read-only cursor over the caller's bytes. */
struct vio {
    const unsigned char *data;
    sf_count_t len;
    sf_count_t pos;
};

static sf_count_t vio_filelen(void *user)
{
    return ((struct vio *)user)->len;
}

static sf_count_t vio_seek(sf_count_t offset, int whence, void *user)
{
    struct vio *v = user;
    sf_count_t base;
    switch (whence) {
    case SEEK_SET:
        base = 0;
        break;
    case SEEK_CUR:
        base = v->pos;
        break;
    case SEEK_END:
        base = v->len;
        break;
    default:
        return -1;
    }
    /* Overflow-safe: offsets come from file headers. */
    if ((offset > 0 && base > INT64_MAX - offset) || base + offset < 0)
        return -1;
    v->pos = base + offset;
    return v->pos;
}

static sf_count_t vio_read(void *ptr, sf_count_t count, void *user)
{
    struct vio *v = user;
    if (count <= 0 || v->pos >= v->len)
        return 0;
    sf_count_t n = VB_MIN(count, v->len - v->pos);
    memcpy(ptr, v->data + v->pos, (size_t)n);
    v->pos += n;
    return n;
}

static sf_count_t vio_write(const void *ptr, sf_count_t count, void *user)
{
    (void)ptr;
    (void)count;
    (void)user;
    return 0;
}

static sf_count_t vio_tell(void *user)
{
    return ((struct vio *)user)->pos;
}

static void diag_set(struct audio_diag *diag, enum audio_problem problem, const char *fmt, ...)
    VB_PRINTF(3, 4);

static void diag_set(struct audio_diag *diag, enum audio_problem problem, const char *fmt, ...)
{
    if (!diag)
        return;
    diag->problem = problem;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(diag->message, sizeof diag->message, fmt, ap);
    va_end(ap);
}

static void diag_clear(struct audio_diag *diag)
{
    if (diag) {
        diag->problem = AUDIO_PROBLEM_NONE;
        diag->message[0] = '\0';
    }
}

struct name_map {
    int id;
    const char *name;
};

static const struct name_map major_names[] = {
    {SF_FORMAT_WAV, "wav"},   {SF_FORMAT_WAVEX, "wav"},   {SF_FORMAT_RF64, "rf64"},
    {SF_FORMAT_W64, "w64"},   {SF_FORMAT_AIFF, "aiff"},   {SF_FORMAT_AU, "au"},
    {SF_FORMAT_FLAC, "flac"}, {SF_FORMAT_OGG, "ogg"},     {SF_FORMAT_MPEG, "mp3"},
    {SF_FORMAT_CAF, "caf"},   {SF_FORMAT_RAW, "raw"},     {SF_FORMAT_PAF, "paf"},
    {SF_FORMAT_SVX, "svx"},   {SF_FORMAT_NIST, "nist"},   {SF_FORMAT_VOC, "voc"},
    {SF_FORMAT_IRCAM, "sf"},  {SF_FORMAT_MAT4, "mat4"},   {SF_FORMAT_MAT5, "mat5"},
    {SF_FORMAT_PVF, "pvf"},   {SF_FORMAT_XI, "xi"},       {SF_FORMAT_HTK, "htk"},
    {SF_FORMAT_SDS, "sds"},   {SF_FORMAT_AVR, "avr"},     {SF_FORMAT_SD2, "sd2"},
    {SF_FORMAT_WVE, "wve"},   {SF_FORMAT_MPC2K, "mpc2k"},
};

static const struct name_map sub_names[] = {
    {SF_FORMAT_PCM_S8, "pcm_s8"},
    {SF_FORMAT_PCM_U8, "pcm_u8"},
    {SF_FORMAT_PCM_16, "pcm_16"},
    {SF_FORMAT_PCM_24, "pcm_24"},
    {SF_FORMAT_PCM_32, "pcm_32"},
    {SF_FORMAT_FLOAT, "float"},
    {SF_FORMAT_DOUBLE, "double"},
    {SF_FORMAT_ULAW, "ulaw"},
    {SF_FORMAT_ALAW, "alaw"},
    {SF_FORMAT_IMA_ADPCM, "ima_adpcm"},
    {SF_FORMAT_MS_ADPCM, "ms_adpcm"},
    {SF_FORMAT_GSM610, "gsm610"},
    {SF_FORMAT_VOX_ADPCM, "vox_adpcm"},
    {SF_FORMAT_G721_32, "g721_32"},
    {SF_FORMAT_G723_24, "g723_24"},
    {SF_FORMAT_G723_40, "g723_40"},
    {SF_FORMAT_DWVW_12, "dwvw_12"},
    {SF_FORMAT_DWVW_16, "dwvw_16"},
    {SF_FORMAT_DWVW_24, "dwvw_24"},
    {SF_FORMAT_DWVW_N, "dwvw_n"},
    {SF_FORMAT_DPCM_8, "dpcm_8"},
    {SF_FORMAT_DPCM_16, "dpcm_16"},
    {SF_FORMAT_VORBIS, "vorbis"},
    {SF_FORMAT_OPUS, "opus"},
    {SF_FORMAT_ALAC_16, "alac_16"},
    {SF_FORMAT_ALAC_20, "alac_20"},
    {SF_FORMAT_ALAC_24, "alac_24"},
    {SF_FORMAT_ALAC_32, "alac_32"},
    {SF_FORMAT_NMS_ADPCM_16, "nms_adpcm_16"},
    {SF_FORMAT_NMS_ADPCM_24, "nms_adpcm_24"},
    {SF_FORMAT_NMS_ADPCM_32, "nms_adpcm_32"},
    {SF_FORMAT_MPEG_LAYER_I, "mpeg_layer_i"},
    {SF_FORMAT_MPEG_LAYER_II, "mpeg_layer_ii"},
    {SF_FORMAT_MPEG_LAYER_III, "mpeg_layer_iii"},
};

static const char *map_name(const struct name_map *map, size_t n, int id)
{
    for (size_t i = 0; i < n; i++)
        if (map[i].id == id)
            return map[i].name;
    return "unknown";
}

static void fill_names(struct audio_info *info, int format)
{
    int major = format & SF_FORMAT_TYPEMASK, sub = format & SF_FORMAT_SUBMASK;
    const char *fmt = map_name(major_names, VB_ARRAY_LEN(major_names), major);
    if (major == SF_FORMAT_OGG && sub == SF_FORMAT_OPUS)
        fmt = "opus";
    if (major == SF_FORMAT_MPEG && sub == SF_FORMAT_MPEG_LAYER_II)
        fmt = "mp2";
    if (major == SF_FORMAT_MPEG && sub == SF_FORMAT_MPEG_LAYER_I)
        fmt = "mp1";
    snprintf(info->format, sizeof info->format, "%s", fmt);
    snprintf(info->subtype, sizeof info->subtype, "%s",
             map_name(sub_names, VB_ARRAY_LEN(sub_names), sub));
}

struct audio_decode_params audio_decode_default_params(void)
{
    return (struct audio_decode_params){
        .mono = false,
        .max_frames = AUDIO_DECODE_MAX_FRAMES_DEFAULT,
        .max_channels = AUDIO_MAX_CHANNELS,
        .accept_truncated = false,
        .max_seconds = 0.0,
    };
}

/* Opens the bytes and validates the header. On VB_OK *sf_out is open (caller closes). */
static enum vb_err open_checked(struct vio *v, int max_channels, SNDFILE **sf_out, SF_INFO *sfi,
                                struct audio_info *info, struct audio_diag *diag)
{
    SF_VIRTUAL_IO io = {
        .get_filelen = vio_filelen,
        .seek = vio_seek,
        .read = vio_read,
        .write = vio_write,
        .tell = vio_tell,
    };
    *sf_out = NULL;
    memset(sfi, 0, sizeof *sfi);
    memset(info, 0, sizeof *info);
    if (!v->data || v->len <= 0) {
        diag_set(diag, AUDIO_PROBLEM_EMPTY, "the audio file is empty (0 bytes)");
        return VB_ERR_UNPROCESSABLE;
    }
    SNDFILE *sf = sf_open_virtual(&io, SFM_READ, sfi, v);
    if (!sf) {
        diag_set(diag, AUDIO_PROBLEM_NOT_AUDIO,
                 "not a recognised audio file (supported: WAV, FLAC, OGG/Vorbis, Opus, MP3, "
                 "AIFF and other formats libsndfile reads)");
        return VB_ERR_FORMAT;
    }
    enum vb_err err = VB_OK;
    fill_names(info, sfi->format);
    info->sample_rate = sfi->samplerate;
    info->channels = sfi->channels;
    info->frames_header = sfi->frames < 0 ? 0 : sfi->frames;
    if (sfi->samplerate < AUDIO_MIN_SAMPLE_RATE_HZ || sfi->samplerate > AUDIO_MAX_SAMPLE_RATE_HZ) {
        diag_set(diag, AUDIO_PROBLEM_SAMPLE_RATE,
                 "sample rate %d Hz is outside the accepted range %d-%d Hz", sfi->samplerate,
                 AUDIO_MIN_SAMPLE_RATE_HZ, AUDIO_MAX_SAMPLE_RATE_HZ);
        err = VB_ERR_UNPROCESSABLE;
        goto out;
    }
    if (sfi->channels < 1 || sfi->channels > max_channels) {
        diag_set(diag, AUDIO_PROBLEM_CHANNELS, "%d channels; at most %d are accepted",
                 sfi->channels, max_channels);
        err = VB_ERR_UNPROCESSABLE;
        goto out;
    }
    if (sfi->frames == 0) {
        diag_set(diag, AUDIO_PROBLEM_EMPTY, "the audio file contains no samples");
        err = VB_ERR_UNPROCESSABLE;
        goto out;
    }
out:
    if (err != VB_OK)
        sf_close(sf);
    else
        *sf_out = sf;
    return err;
}

enum vb_err audio_probe(const void *data, size_t len, struct audio_info *info,
                        struct audio_diag *diag)
{
    struct vio v = {.data = data, .len = (sf_count_t)VB_MIN(len, (size_t)INT64_MAX), .pos = 0};
    SNDFILE *sf = NULL;
    SF_INFO sfi;
    diag_clear(diag);
    enum vb_err err = open_checked(&v, AUDIO_MAX_CHANNELS, &sf, &sfi, info, diag);
    if (err == VB_OK) {
        info->frames = info->frames_header;
        info->duration_s = (double)info->frames / info->sample_rate;
        sf_close(sf);
    }
    return err;
}

enum vb_err audio_decode(const void *data, size_t len, const struct audio_decode_params *params,
                         struct audio_pcm *out, struct audio_info *info, struct audio_diag *diag)
{
    struct audio_decode_params p = params ? *params : audio_decode_default_params();
    if (p.max_frames <= 0)
        p.max_frames = AUDIO_DECODE_MAX_FRAMES_DEFAULT;
    if (p.max_channels <= 0 || p.max_channels > AUDIO_MAX_CHANNELS)
        p.max_channels = AUDIO_MAX_CHANNELS;

    struct vio v = {.data = data, .len = (sf_count_t)VB_MIN(len, (size_t)INT64_MAX), .pos = 0};
    struct audio_info local_info;
    struct audio_info *inf = info ? info : &local_info;
    SNDFILE *sf = NULL;
    SF_INFO sfi;
    float *chunk = NULL, *pcm = NULL;
    size_t cap = 0, frames = 0;
    enum vb_err err;

    diag_clear(diag);
    memset(out, 0, sizeof *out);
    err = open_checked(&v, p.max_channels, &sf, &sfi, inf, diag);
    if (err != VB_OK)
        goto out;

    const int ch = sfi.channels;
    const int out_ch = p.mono ? 1 : ch;
    if (sfi.frames > p.max_frames && sfi.frames != SF_COUNT_MAX) {
        diag_set(diag, AUDIO_PROBLEM_TOO_LONG,
                 "the audio is too long to decode: %.1f s, the limit is %.1f s at this rate",
                 (double)sfi.frames / sfi.samplerate, (double)p.max_frames / sfi.samplerate);
        err = VB_ERR_TOO_LARGE;
        goto out;
    }
    /* A duration limit becomes a frame limit at this file's rate. */
    int64_t dur_frames = INT64_MAX;
    if (p.max_seconds > 0.0 && p.max_seconds * sfi.samplerate < (double)INT64_MAX / 2)
        dur_frames = (int64_t)ceil(p.max_seconds * sfi.samplerate);
    if (sfi.frames > dur_frames && sfi.frames != SF_COUNT_MAX) {
        diag_set(diag, AUDIO_PROBLEM_DURATION, "the audio lasts %.2f s; at most %.1f s allowed",
                 (double)sfi.frames / sfi.samplerate, p.max_seconds);
        err = VB_ERR_UNPROCESSABLE;
        goto out;
    }
    chunk = vb_try_malloc(sizeof(float) * CHUNK_FRAMES * (size_t)ch);
    if (!chunk) {
        diag_set(diag, AUDIO_PROBLEM_NOMEM, "out of memory while decoding");
        err = VB_ERR_NOMEM;
        goto out;
    }
    /* Initial capacity from the header, bounded so that a tiny file with a lying header cannot
     * make us allocate much; the buffer doubles as real samples arrive. */
    cap = (size_t)VB_MIN(VB_MAX(sfi.frames, (sf_count_t)CHUNK_FRAMES), (sf_count_t)1 << 16);

    for (;;) {
        sf_count_t got = sf_readf_float(sf, chunk, CHUNK_FRAMES);
        if (got <= 0)
            break;
        if ((int64_t)frames + got > p.max_frames) {
            diag_set(diag, AUDIO_PROBLEM_TOO_LONG,
                     "the audio is too long to decode: over %.1f s at %d Hz",
                     (double)p.max_frames / sfi.samplerate, sfi.samplerate);
            err = VB_ERR_TOO_LARGE;
            goto out;
        }
        if ((int64_t)frames + got > dur_frames) {
            diag_set(diag, AUDIO_PROBLEM_DURATION, "the audio lasts more than %.1f s allowed",
                     p.max_seconds);
            err = VB_ERR_UNPROCESSABLE;
            goto out;
        }
        size_t n = (size_t)got * (size_t)ch;
        for (size_t i = 0; i < n; i++) {
            if (!isfinite(chunk[i])) {
                diag_set(diag, AUDIO_PROBLEM_INVALID_SAMPLES,
                         "the audio contains invalid (NaN or infinite) sample values");
                err = VB_ERR_UNPROCESSABLE;
                goto out;
            }
        }
        if (!pcm || frames + (size_t)got > cap) {
            while (frames + (size_t)got > cap)
                cap *= 2;
            cap = (size_t)VB_MIN((int64_t)cap, p.max_frames);
            float *grown = vb_try_realloc(pcm, sizeof(float) * cap * (size_t)out_ch);
            if (!grown) {
                diag_set(diag, AUDIO_PROBLEM_NOMEM, "out of memory while decoding");
                err = VB_ERR_NOMEM;
                goto out;
            }
            pcm = grown;
        }
        if (p.mono) {
            for (sf_count_t f = 0; f < got; f++) {
                float acc = 0.0f;
                for (int c = 0; c < ch; c++)
                    acc += chunk[(size_t)f * (size_t)ch + (size_t)c];
                pcm[frames + (size_t)f] = acc / (float)ch;
            }
        } else {
            memcpy(pcm + frames * (size_t)ch, chunk, sizeof(float) * n);
        }
        frames += (size_t)got;
        if (got < CHUNK_FRAMES && sf_error(sf) != SF_ERR_NO_ERROR)
            break;
    }

    if (frames == 0) {
        if (sf_error(sf) != SF_ERR_NO_ERROR)
            diag_set(diag, AUDIO_PROBLEM_UNDECODABLE, "the %s audio data could not be decoded",
                     inf->format);
        else
            diag_set(diag, AUDIO_PROBLEM_EMPTY, "the audio file contains no samples");
        err = sf_error(sf) != SF_ERR_NO_ERROR ? VB_ERR_FORMAT : VB_ERR_UNPROCESSABLE;
        goto out;
    }
    inf->frames = (int64_t)frames;
    inf->truncated = sfi.frames != SF_COUNT_MAX && (int64_t)frames < sfi.frames;
    if (inf->truncated && !p.accept_truncated) {
        diag_set(diag, AUDIO_PROBLEM_TRUNCATED,
                 "the audio file is truncated: the header announces %.2f s, only %.2f s present",
                 (double)sfi.frames / sfi.samplerate, (double)frames / sfi.samplerate);
        err = VB_ERR_UNPROCESSABLE;
        goto out;
    }
    inf->duration_s = (double)frames / sfi.samplerate;
    out->samples = pcm;
    out->frames = frames;
    out->channels = out_ch;
    out->sample_rate = sfi.samplerate;
    pcm = NULL;
    err = VB_OK;
out:
    vb_free(chunk);
    vb_free(pcm);
    if (sf)
        sf_close(sf);
    return err;
}

enum vb_err audio_check_duration(const struct audio_pcm *pcm, double min_s, double max_s,
                                 struct audio_diag *diag)
{
    diag_clear(diag);
    double d = pcm->sample_rate > 0 ? (double)pcm->frames / pcm->sample_rate : 0.0;
    if (d < min_s) {
        diag_set(diag, AUDIO_PROBLEM_TOO_SHORT, "the audio lasts %.2f s; at least %.1f s needed", d,
                 min_s);
        return VB_ERR_UNPROCESSABLE;
    }
    if (max_s > 0 && d > max_s) {
        diag_set(diag, AUDIO_PROBLEM_DURATION, "the audio lasts %.2f s; at most %.1f s allowed", d,
                 max_s);
        return VB_ERR_UNPROCESSABLE;
    }
    return VB_OK;
}

enum vb_err audio_check_silence(const struct audio_pcm *pcm, double threshold_dbfs,
                                struct audio_diag *diag)
{
    diag_clear(diag);
    const float limit = (float)pow(10.0, threshold_dbfs / 20.0);
    size_t n = pcm->frames * (size_t)(pcm->channels > 0 ? pcm->channels : 0);
    float peak = 0.0f;
    for (size_t i = 0; i < n; i++) {
        float a = fabsf(pcm->samples[i]);
        if (a > peak)
            peak = a;
    }
    if (n == 0 || peak < limit) {
        double db = peak > 0.0f ? 20.0 * log10(peak) : -INFINITY;
        if (isinf(db))
            diag_set(diag, AUDIO_PROBLEM_SILENT, "the audio is silent (all samples are zero)");
        else
            diag_set(diag, AUDIO_PROBLEM_SILENT,
                     "the audio is silent: peak %.1f dBFS is below %.0f dBFS", db, threshold_dbfs);
        return VB_ERR_UNPROCESSABLE;
    }
    return VB_OK;
}

enum vb_err audio_pcm_alloc(struct audio_pcm *pcm, size_t frames, int channels, int sample_rate)
{
    memset(pcm, 0, sizeof *pcm);
    if (channels < 1 || sample_rate < 1)
        return VB_ERR_INVALID;
    float *s = vb_try_calloc(frames ? frames : 1, sizeof(float) * (size_t)channels);
    if (!s)
        return VB_ERR_NOMEM;
    pcm->samples = s;
    pcm->frames = frames;
    pcm->channels = channels;
    pcm->sample_rate = sample_rate;
    return VB_OK;
}

void audio_pcm_release(struct audio_pcm *pcm)
{
    if (!pcm)
        return;
    vb_free(pcm->samples);
    memset(pcm, 0, sizeof *pcm);
}

const char *audio_problem_code(enum audio_problem problem)
{
    switch (problem) {
    case AUDIO_PROBLEM_NONE:
        return "ok";
    case AUDIO_PROBLEM_NOT_AUDIO:
        return "not_audio";
    case AUDIO_PROBLEM_UNDECODABLE:
        return "undecodable";
    case AUDIO_PROBLEM_EMPTY:
        return "empty";
    case AUDIO_PROBLEM_SAMPLE_RATE:
        return "bad_sample_rate";
    case AUDIO_PROBLEM_CHANNELS:
        return "too_many_channels";
    case AUDIO_PROBLEM_TOO_LONG:
        return "too_long_to_decode";
    case AUDIO_PROBLEM_TRUNCATED:
        return "truncated";
    case AUDIO_PROBLEM_INVALID_SAMPLES:
        return "invalid_samples";
    case AUDIO_PROBLEM_TOO_SHORT:
        return "too_short";
    case AUDIO_PROBLEM_DURATION:
        return "too_long";
    case AUDIO_PROBLEM_SILENT:
        return "silent";
    case AUDIO_PROBLEM_NOMEM:
        return "out_of_memory";
    }
    return "unknown";
}

const char *audio_problem_message(enum audio_problem problem)
{
    switch (problem) {
    case AUDIO_PROBLEM_NONE:
        return "ok";
    case AUDIO_PROBLEM_NOT_AUDIO:
        return "not a recognised audio file";
    case AUDIO_PROBLEM_UNDECODABLE:
        return "the audio data could not be decoded";
    case AUDIO_PROBLEM_EMPTY:
        return "the audio contains no samples";
    case AUDIO_PROBLEM_SAMPLE_RATE:
        return "the sample rate is outside the accepted range";
    case AUDIO_PROBLEM_CHANNELS:
        return "the audio has too many channels";
    case AUDIO_PROBLEM_TOO_LONG:
        return "the audio is too long to decode";
    case AUDIO_PROBLEM_TRUNCATED:
        return "the audio file is truncated";
    case AUDIO_PROBLEM_INVALID_SAMPLES:
        return "the audio contains invalid sample values";
    case AUDIO_PROBLEM_TOO_SHORT:
        return "the audio is too short";
    case AUDIO_PROBLEM_DURATION:
        return "the audio is too long";
    case AUDIO_PROBLEM_SILENT:
        return "the audio is silent";
    case AUDIO_PROBLEM_NOMEM:
        return "out of memory";
    }
    return "unknown problem";
}
