/* sndmem.h: test helper: writes float PCM into an in-memory file of any libsndfile format,
 * and builds hand-made WAV headers for the invalid-input cases. Test code only. */
#ifndef VB_TEST_SNDMEM_H
#define VB_TEST_SNDMEM_H

#include <sndfile.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct memfile {
    unsigned char *data;
    sf_count_t len, cap, pos;
};

static inline sf_count_t mf_len(void *u)
{
    return ((struct memfile *)u)->len;
}

static inline sf_count_t mf_seek(sf_count_t off, int whence, void *u)
{
    struct memfile *m = u;
    sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? m->pos : m->len;
    if (base + off < 0)
        return -1;
    m->pos = base + off;
    return m->pos;
}

static inline sf_count_t mf_read(void *p, sf_count_t n, void *u)
{
    struct memfile *m = u;
    if (m->pos >= m->len)
        return 0;
    if (n > m->len - m->pos)
        n = m->len - m->pos;
    memcpy(p, m->data + m->pos, (size_t)n);
    m->pos += n;
    return n;
}

static inline sf_count_t mf_write(const void *p, sf_count_t n, void *u)
{
    struct memfile *m = u;
    if (m->pos + n > m->cap) {
        sf_count_t c = m->cap ? m->cap : 4096;
        while (c < m->pos + n)
            c *= 2;
        m->data = realloc(m->data, (size_t)c);
        if (!m->data)
            abort();
        memset(m->data + m->cap, 0, (size_t)(c - m->cap));
        m->cap = c;
    }
    memcpy(m->data + m->pos, p, (size_t)n);
    m->pos += n;
    if (m->pos > m->len)
        m->len = m->pos;
    return n;
}

static inline sf_count_t mf_tell(void *u)
{
    return ((struct memfile *)u)->pos;
}

/* Writes `frames` interleaved frames; returns 0 on success. Free m->data with free(). */
static inline int memfile_write(struct memfile *m, int format, int rate, int channels,
                                const float *pcm, sf_count_t frames)
{
    SF_VIRTUAL_IO io = {mf_len, mf_seek, mf_read, mf_write, mf_tell};
    SF_INFO info = {.samplerate = rate, .channels = channels, .format = format};
    memset(m, 0, sizeof *m);
    SNDFILE *sf = sf_open_virtual(&io, SFM_WRITE, &info, m);
    if (!sf)
        return -1;
    sf_command(sf, SFC_SET_CLIPPING, NULL, SF_TRUE);
    sf_count_t w = sf_writef_float(sf, pcm, frames);
    sf_close(sf);
    return w == frames ? 0 : -1;
}

static inline void put_le(unsigned char *p, uint32_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* A 16-bit PCM WAV with the given header fields and `data_bytes` bytes of data present while
 * the header announces `announced_bytes`. Returns malloc'd bytes, length in *len. */
static inline unsigned char *wav_handmade(uint32_t rate, uint16_t channels,
                                          uint32_t announced_bytes, uint32_t data_bytes,
                                          size_t *len)
{
    *len = 44 + data_bytes;
    unsigned char *w = calloc(1, *len);
    memcpy(w, "RIFF", 4);
    put_le(w + 4, 36 + announced_bytes, 4);
    memcpy(w + 8, "WAVEfmt ", 8);
    put_le(w + 16, 16, 4);
    put_le(w + 20, 1, 2);
    put_le(w + 22, channels, 2);
    put_le(w + 24, rate, 4);
    put_le(w + 28, rate * channels * 2u, 4);
    put_le(w + 32, channels * 2u, 2);
    put_le(w + 34, 16, 2);
    memcpy(w + 36, "data", 4);
    put_le(w + 40, announced_bytes, 4);
    for (uint32_t i = 0; i < data_bytes; i++)
        w[44 + i] = (unsigned char)((i * 37u) & 0xff);
    return w;
}

#endif
