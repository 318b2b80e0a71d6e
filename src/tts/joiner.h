/* joiner.h: joins an engine's audio, chunk after chunk, into one speech track: each chunk is
 * sanitised, time-stretched when the engine cannot change its own speed, trimmed of silence
 * at its edges (a little kept), faded in and out against clicks, and preceded by a pause
 * chosen by how the previous chunk ends. A chunk may arrive in pieces (tts_piece): its
 * samples are then appended as soon as no later piece can change them, so a streamed chunk
 * is the same audio as the chunk in one piece (see tts_joiner_feed for the one exception).
 *
 *   struct tts_joiner j;
 *   tts_joiner_init(&j, 24000, 1.25, max_frames);
 *   tts_joiner_feed(&j, pcm, n, TTS_BREAK_SENTENCE, false);  // j.speech grows when it can
 *   tts_joiner_feed(&j, rest, m, TTS_BREAK_SENTENCE, true);  // the chunk's last piece
 *   ... j.speech ...
 *   tts_joiner_release(&j);
 */
#ifndef VB_TTS_JOINER_H
#define VB_TTS_JOINER_H

#include "core/vb.h"
#include "core/err.h"
#include "audio/decode.h"
#include "tts/text.h"

#define TTS_JOIN_TRIM_PAD_MS 20.0 /* silence kept around each chunk */
#define TTS_JOIN_FADE_MS     5.0  /* fades at chunk edges, so joins never click */

struct tts_joiner {
    struct audio_pcm speech; /* the joined track so far (mono, engine rate); only grows */
    double stretch_ms;       /* wall-clock time spent time-stretching */
    /* private */
    int rate;
    double speed; /* != 1: WSOLA per chunk */
    size_t max_frames;
    bool have_prev; /* a chunk with audio came before: a pause precedes the next */
    enum tts_break prev_brk;
    float *raw; /* the current chunk's samples so far (sanitised) */
    size_t raw_n, raw_cap;
    size_t start;   /* trim start of the current chunk (valid once found) */
    size_t done;    /* processed samples of the current chunk already appended */
    size_t scan;    /* next trim window to test (the earlier ones are known) */
    size_t loud_to; /* start of the latest loud window */
    bool found;     /* a loud window was seen: start is valid */
    bool started;   /* the pause and the first samples are appended */
};

/* speed 1 = no stretch; max_frames caps speech (VB_ERR_TOO_LARGE past it; 0 = none). */
void tts_joiner_init(struct tts_joiner *j, int rate, double speed, size_t max_frames);
void tts_joiner_release(struct tts_joiner *j);

/* Adds the next n samples (borrowed) of the current chunk; brk is how the chunk ends, last
 * whether this is its final piece (then the chunk is complete and the next call starts a
 * new one). An empty chunk (no samples at all) leaves no trace, pause included. Samples are
 * appended to j->speech as soon as they are final: the start of a chunk once its trimmed
 * start is known, its middle once louder audio follows it (silence that may turn out to be
 * the chunk's trailing silence waits for the next piece). The result equals feeding the
 * chunk in one piece, except when a chunk's audio ends in silence that the trim finds in a
 * different place than the pieces suggested: the samples already appended stay (in
 * practice this needs a chunk whose last loud window sits right at the -50 dBFS
 * threshold). Errors: VB_ERR_NOMEM, VB_ERR_TOO_LARGE, VB_ERR_INVALID (stretch). */
VB_WUR enum vb_err tts_joiner_feed(struct tts_joiner *j, const float *pcm, size_t n,
                                   enum tts_break brk, bool last);

#endif
