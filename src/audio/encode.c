/* encode.c: libsndfile encoding through virtual I/O into a capped, growable memory buffer;
 * the file variant writes that buffer to a temporary file and renames it into place. */
#include "core/vb.h"
#include "audio/encode.h"
#include "audio/pcm.h"
#include "audio/resample.h"
#include "core/alloc.h"
#include "core/log.h"

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <pthread.h>
#include <sndfile.h>
#include <stdarg.h>
#include <strings.h>
#include <unistd.h>

#define ENCODE_MAX_BYTES_DEFAULT ((size_t)512 << 20)
#define OPUS_RATE_HZ             48000

static const struct audio_format_desc formats[] = {
    {"wav", "audio/wav", "wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16},
    {"flac", "audio/flac", "flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16},
    {"ogg", "audio/ogg", "ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS},
    {"opus", "audio/opus", "opus", SF_FORMAT_OGG | SF_FORMAT_OPUS},
    {"mp3", "audio/mpeg", "mp3", SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III},
};

/* Sample rates MPEG-1/2/2.5 layer III can carry. */
static const int mp3_rates[] = {8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000};

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static bool format_ok[VB_ARRAY_LEN(formats)]; /* written once under probe_once */
static char supported_list[64];

size_t audio_format_count(void)
{
    return VB_ARRAY_LEN(formats);
}

const struct audio_format_desc *audio_format_at(size_t i)
{
    return i < VB_ARRAY_LEN(formats) ? &formats[i] : NULL;
}

const struct audio_format_desc *audio_format_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < VB_ARRAY_LEN(formats); i++)
        if (strcasecmp(name, formats[i].name) == 0)
            return &formats[i];
    return NULL;
}

/* Growable output with a ceiling; libsndfile may seek back to patch headers. */
struct membuf {
    unsigned char *data;
    sf_count_t len, cap, pos;
    size_t max;
    bool over; /* a write went past max or allocation failed */
    bool nomem;
};

static sf_count_t mb_filelen(void *u)
{
    return ((struct membuf *)u)->len;
}

static sf_count_t mb_seek(sf_count_t off, int whence, void *u)
{
    struct membuf *m = u;
    sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? m->pos : m->len;
    if (whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END)
        return -1;
    if (base + off < 0)
        return -1;
    m->pos = base + off;
    return m->pos;
}

static sf_count_t mb_read(void *p, sf_count_t n, void *u)
{
    struct membuf *m = u;
    if (n <= 0 || m->pos >= m->len)
        return 0;
    sf_count_t k = VB_MIN(n, m->len - m->pos);
    memcpy(p, m->data + m->pos, (size_t)k);
    m->pos += k;
    return k;
}

static sf_count_t mb_write(const void *p, sf_count_t n, void *u)
{
    struct membuf *m = u;
    if (n <= 0)
        return 0;
    if ((size_t)(m->pos + n) > m->max) {
        m->over = true;
        return 0;
    }
    if (m->pos + n > m->cap) {
        sf_count_t c = m->cap ? m->cap : 65536;
        while (c < m->pos + n)
            c *= 2;
        c = VB_MIN(c, (sf_count_t)m->max);
        unsigned char *d = vb_try_realloc(m->data, (size_t)c);
        if (!d) {
            m->nomem = true;
            return 0;
        }
        m->data = d;
        m->cap = c;
    }
    if (m->pos > m->len) /* a seek past the end leaves a hole: zero it */
        memset(m->data + m->len, 0, (size_t)(m->pos - m->len));
    memcpy(m->data + m->pos, p, (size_t)n);
    m->pos += n;
    if (m->pos > m->len)
        m->len = m->pos;
    return n;
}

static sf_count_t mb_tell(void *u)
{
    return ((struct membuf *)u)->pos;
}

struct audio_encode_params audio_encode_default_params(void)
{
    return (struct audio_encode_params){.wav_bits = 16, .quality = 0.6, .max_bytes = 0};
}

static int target_rate(const struct audio_format_desc *f, int rate)
{
    int major = f->sf_format & SF_FORMAT_TYPEMASK, sub = f->sf_format & SF_FORMAT_SUBMASK;
    if (major == SF_FORMAT_OGG && sub == SF_FORMAT_OPUS)
        return OPUS_RATE_HZ;
    if (major == SF_FORMAT_MPEG) {
        for (size_t i = 0; i < VB_ARRAY_LEN(mp3_rates); i++)
            if (mp3_rates[i] >= rate)
                return mp3_rates[i];
        return 48000;
    }
    if (major == SF_FORMAT_FLAC && rate > 655350)
        return 192000;
    return rate;
}

static int subtype_for(const struct audio_format_desc *f, int bits)
{
    int major = f->sf_format & SF_FORMAT_TYPEMASK;
    if (major == SF_FORMAT_WAV || major == SF_FORMAT_FLAC) {
        if (bits == 24)
            return SF_FORMAT_PCM_24;
        if (bits == 32 && major == SF_FORMAT_WAV)
            return SF_FORMAT_FLOAT;
        return SF_FORMAT_PCM_16;
    }
    return f->sf_format & SF_FORMAT_SUBMASK;
}

/* Encodes pcm (already at a rate the format accepts) into m. */
static enum vb_err encode_sf(const struct audio_pcm *pcm, const struct audio_format_desc *f,
                             const struct audio_encode_params *p, struct membuf *m)
{
    SF_VIRTUAL_IO io = {mb_filelen, mb_seek, mb_read, mb_write, mb_tell};
    SF_INFO info = {
        .samplerate = pcm->sample_rate,
        .channels = pcm->channels,
        .format = (f->sf_format & SF_FORMAT_TYPEMASK) | subtype_for(f, p->wav_bits),
    };
    if (!sf_format_check(&info))
        return VB_ERR_UNPROCESSABLE;
    SNDFILE *sf = sf_open_virtual(&io, SFM_WRITE, &info, m);
    if (!sf) {
        vb_debug("audio: sf_open_virtual(write %s): %s", f->name, sf_strerror(NULL));
        return m->over ? VB_ERR_TOO_LARGE : m->nomem ? VB_ERR_NOMEM : VB_ERR_INTERNAL;
    }
    enum vb_err err = VB_OK;
    sf_command(sf, SFC_SET_CLIPPING, NULL, SF_TRUE);
    int major = f->sf_format & SF_FORMAT_TYPEMASK;
    if (major == SF_FORMAT_OGG || major == SF_FORMAT_MPEG) {
        double q = VB_MAX(0.0, VB_MIN(1.0, p->quality)), level = 1.0 - q;
        if ((f->sf_format & SF_FORMAT_SUBMASK) == SF_FORMAT_OPUS) {
            /* libsndfile maps the level linearly onto ~258 (0) .. ~7 kbps (1): far more than
             * mono speech needs at the low end. Aim at 24 + 72 q kbps (q = 0.6: ~67 kbps). */
            double kbps = 24.0 + 72.0 * q;
            level = VB_MAX(0.0, VB_MIN(1.0, 1.0 - (kbps - 6.9) / 251.5));
        }
        sf_command(sf, SFC_SET_COMPRESSION_LEVEL, &level, sizeof level);
    }
    const size_t block = 8192;
    for (size_t off = 0; off < pcm->frames; off += block) {
        sf_count_t n = (sf_count_t)VB_MIN(block, pcm->frames - off);
        if (sf_writef_float(sf, pcm->samples + off * (size_t)pcm->channels, n) != n) {
            err = VB_ERR_INTERNAL;
            break;
        }
    }
    if (sf_close(sf) != 0 && err == VB_OK)
        err = VB_ERR_INTERNAL;
    if (m->over)
        err = VB_ERR_TOO_LARGE;
    else if (m->nomem)
        err = VB_ERR_NOMEM;
    if (err == VB_ERR_INTERNAL)
        vb_error("audio: libsndfile failed to encode %s", f->name);
    return err;
}

static void probe_formats(void)
{
    float tone[480];
    for (int i = 0; i < (int)VB_ARRAY_LEN(tone); i++)
        tone[i] = (float)((i % 48) - 24) / 48.0f;
    struct audio_pcm pcm = {.samples = tone, .frames = 480, .channels = 1, .sample_rate = 48000};
    struct audio_encode_params p = audio_encode_default_params();
    p.max_bytes = 1 << 20;
    size_t used = 0;
    supported_list[0] = '\0';
    for (size_t i = 0; i < VB_ARRAY_LEN(formats); i++) {
        struct membuf m = {.max = p.max_bytes};
        format_ok[i] = encode_sf(&pcm, &formats[i], &p, &m) == VB_OK && m.len > 0;
        vb_free(m.data);
        if (!format_ok[i]) {
            vb_info("audio: output format %s not supported by this libsndfile", formats[i].name);
            continue;
        }
        int n = snprintf(supported_list + used, sizeof supported_list - used, "%s%s",
                         used ? ", " : "", formats[i].name);
        if (n > 0)
            used += VB_MIN((size_t)n, sizeof supported_list - 1 - used);
    }
}

bool audio_format_supported(const char *name)
{
    const struct audio_format_desc *f = audio_format_find(name);
    if (!f)
        return false;
    pthread_once(&probe_once, probe_formats);
    return format_ok[f - formats];
}

const char *audio_formats_supported(void)
{
    pthread_once(&probe_once, probe_formats);
    return supported_list;
}

static void diag_unsupported(struct audio_diag *diag, const char *format, bool known)
{
    if (!diag)
        return;
    diag->problem = AUDIO_PROBLEM_NONE;
    snprintf(diag->message, sizeof diag->message, "%s format '%.40s'; supported: %s",
             known ? "this server cannot encode the" : "unknown output", format ? format : "",
             audio_formats_supported());
}

enum vb_err audio_encode(const struct audio_pcm *pcm, const char *format,
                         const struct audio_encode_params *params, unsigned char **out,
                         size_t *out_len, struct audio_diag *diag)
{
    struct audio_encode_params p = params ? *params : audio_encode_default_params();
    if (p.max_bytes == 0)
        p.max_bytes = ENCODE_MAX_BYTES_DEFAULT;
    *out = NULL;
    *out_len = 0;
    if (diag) {
        diag->problem = AUDIO_PROBLEM_NONE;
        diag->message[0] = '\0';
    }
    const struct audio_format_desc *f = audio_format_find(format);
    if (!f || !audio_format_supported(format)) {
        diag_unsupported(diag, format, f != NULL);
        return VB_ERR_UNPROCESSABLE;
    }
    if (pcm->channels < 1 || pcm->channels > AUDIO_MAX_CHANNELS || pcm->sample_rate < 1 ||
        pcm->sample_rate > AUDIO_MAX_SAMPLE_RATE_HZ || (pcm->frames && !pcm->samples))
        return VB_ERR_INVALID;

    enum vb_err err = VB_OK;
    struct audio_pcm work = {0};
    struct membuf m = {.max = p.max_bytes};
    int rate = target_rate(f, pcm->sample_rate);
    err = rate != pcm->sample_rate ? audio_resample(pcm, rate, &work) : audio_pcm_copy(&work, pcm);
    if (err != VB_OK)
        goto out;
    /* Encoders get finite samples in [-1, 1]: LAME aborts on an assertion for huge values, and
     * integer formats would otherwise depend on libsndfile's clipping. */
    audio_sanitize(work.samples, work.frames * (size_t)work.channels, 1.0f);
    err = encode_sf(&work, f, &p, &m);
    if (err == VB_ERR_UNPROCESSABLE) {
        diag_unsupported(diag, format, true);
        goto out;
    }
    if (err != VB_OK)
        goto out;
    *out = m.data;
    *out_len = (size_t)m.len;
    m.data = NULL;
out:
    vb_free(m.data);
    audio_pcm_release(&work);
    return err;
}

static enum vb_err write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return VB_ERR_IO;
        p += w;
        n -= (size_t)w;
    }
    return VB_OK;
}

enum vb_err audio_encode_file(const struct audio_pcm *pcm, const char *format,
                              const struct audio_encode_params *params, const char *path,
                              struct audio_diag *diag)
{
    unsigned char *data = NULL;
    size_t len = 0;
    char tmp[4096];
    int fd = -1;
    enum vb_err err = audio_encode(pcm, format, params, &data, &len, diag);
    if (err != VB_OK)
        goto out;
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        err = VB_ERR_INVALID;
        goto out;
    }
    fd = mkstemp(tmp);
    if (fd < 0) {
        vb_error("audio: cannot create %s: %s", tmp, strerror(errno));
        err = VB_ERR_IO;
        goto out;
    }
    err = write_all(fd, data, len);
    if (err == VB_OK && fsync(fd) != 0)
        err = VB_ERR_IO;
    if (close(fd) != 0 && err == VB_OK)
        err = VB_ERR_IO;
    fd = -1;
    if (err == VB_OK && rename(tmp, path) != 0)
        err = VB_ERR_IO;
    if (err != VB_OK) {
        vb_error("audio: cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
    }
out:
    if (fd >= 0)
        close(fd);
    vb_free(data);
    return err;
}

static void put_le(unsigned char *p, uint32_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

void audio_wav_stream_header(unsigned char out[AUDIO_WAV_STREAM_HEADER_BYTES], int sample_rate,
                             int channels)
{
    uint32_t rate = (uint32_t)(sample_rate > 0 ? sample_rate : 1);
    uint32_t ch = (uint32_t)(channels > 0 ? channels : 1);
    memcpy(out, "RIFF", 4);
    put_le(out + 4, 0xFFFFFFFFu, 4);
    memcpy(out + 8, "WAVEfmt ", 8);
    put_le(out + 16, 16, 4);
    put_le(out + 20, 1, 2); /* PCM */
    put_le(out + 22, ch, 2);
    put_le(out + 24, rate, 4);
    put_le(out + 28, rate * ch * 2u, 4);
    put_le(out + 32, ch * 2u, 2);
    put_le(out + 34, 16, 2);
    memcpy(out + 36, "data", 4);
    put_le(out + 40, 0xFFFFFFFFu, 4);
}

void audio_wav_stream_pcm16(const float *samples, size_t n, unsigned char *out)
{
    for (size_t i = 0; i < n; i++) {
        float v = samples[i] * 32767.0f;
        if (!(v == v))
            v = 0.0f;
        v = v > 32767.0f ? 32767.0f : v < -32768.0f ? -32768.0f : v;
        int s = (int)lrintf(v);
        out[2 * i] = (unsigned char)(s & 0xff);
        out[2 * i + 1] = (unsigned char)((s >> 8) & 0xff);
    }
}
