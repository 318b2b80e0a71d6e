/* synth.h: end-to-end Chatterbox-Turbo synthesis on a loaded cb_model: text -> punc_norm ->
 * tokens (tags included) -> T3 (turbo sampling, stop token or a limit proportional to the
 * text) -> speech tokens -> S3Gen flow (prompt tokens + prompt mel + x-vector) -> mel -> HiFT
 * -> 24 kHz mono float with the trim fade. Streaming: with chunk_tokens > 0 audio is handed
 * out while T3 is still generating: first the audio of chunk_tokens speech tokens, then
 * chunks that double in size up to 8 x chunk_tokens (each chunk re-runs the flow over all
 * tokens so far without the lookahead frames, so doubling keeps the total flow work
 * linear); HiFT runs on windows with left context and a held-back tail that the next chunk
 * recomputes with right context. A piece therefore goes out once its tokens plus the held
 * back ones exist: (2 x 3 lookahead frames + the vocoder's context, 24 frames at the real
 * size) / 2 = 15 tokens after them; with stream_right_frames (e.g. 6) the vocoder's right
 * context is cut short and the window's last frames are cross-faded into the next piece
 * instead: (6 + 6 + 2) / 2 = 7 tokens.
 *
 *   struct cb_synth *s; cb_synth_new(model, 2, &s);
 *   struct cb_synth_params p = cb_synth_default_params(); p.seed = 42;
 *   float *pcm; size_t n; char why[256];
 *   cb_synth_run(s, voice, "Hello there.", 12, &p, NULL, &pcm, &n, NULL, why, sizeof why);
 *   vb_free(pcm); cb_synth_free(s);
 */
#ifndef TTS_CHATTERBOX_SYNTH_H
#define TTS_CHATTERBOX_SYNTH_H

#include "core/vb.h"
#include "core/err.h"
#include "tts/chatterbox/model.h"
#include "tts/chatterbox/voice_cond.h"

#define CB_SAMPLE_RATE 24000
/* Voices whose T3 conditioning rows a context keeps besides the current one (~37 MB each,
 * taken only when the voice changes) */
#define CB_SYNTH_SNAPSHOTS 3
/* Streaming with less than the vocoder's right context: frames cross-faded between pieces */
#define CB_SYNTH_XFADE_FRAMES 2

struct cb_synth_params {
    float temperature;        /* 0.8; <= 0 greedy */
    int top_k;                /* 1000 */
    float top_p;              /* 0.95 */
    float repetition_penalty; /* 1.2 */
    uint64_t seed;            /* same seed + text + voice = same audio */
    int max_gen;              /* speech-token limit; 0 = cb_t3_max_gen_for_text */
    int chunk_tokens;         /* streaming: speech tokens of audio in the first piece (25 per
                                 second); 0 = all audio at the end */
    int stream_prompt_tokens; /* streaming: prompt tokens (the last ones) the flow of every
                                 piece is conditioned on, for quicker pieces; 0 = all */
    int stream_right_frames;  /* streaming: mel frames of right context a piece is vocoded with
                                 before it goes out; 0 = the vocoder's receptive field (24
                                 frames: pieces join exactly); fewer: pieces go out sooner and
                                 CB_SYNTH_XFADE_FRAMES more are held back and cross-faded into
                                 the next piece */
    int n_steps;              /* flow Euler steps; 0 = 2 */
};
struct cb_synth_params cb_synth_default_params(void);

/* Per-stage wall-clock seconds of one run. */
struct cb_synth_stats {
    int n_text;           /* text tokens */
    int n_speech;         /* speech tokens generated (STOP excluded) */
    int64_t n_samples;    /* audio samples produced */
    double t3_s;          /* T3 generation (prefill + decode), streaming work excluded */
    double t3_prefill_s;  /* T3 until the first token (prefill + first draw) */
    double flow_s;        /* S3Gen flow (all chunks) */
    double hift_s;        /* HiFT (all chunks) */
    double first_audio_s; /* from the call to the first audio handed out */
    double total_s;
};

/* Streaming hooks (all may be NULL). on_audio gets each new piece of audio (borrowed for the
 * call); an error return stops the run with that error. cancelled is polled per token. */
struct cb_synth_hooks {
    enum vb_err (*on_audio)(void *user, const float *pcm, size_t n);
    bool (*cancelled)(void *user);
    void *user;
};

struct cb_synth;

/* One synthesis context (T3 KV cache, flow state, HiFT scratch, a thread pool of n_threads,
 * 0 = nn_threads_default). m is borrowed and must outlive it. Not thread-safe: one run at a
 * time per context. */
VB_WUR enum vb_err cb_synth_new(const struct cb_model *m, int n_threads, struct cb_synth **out);
void cb_synth_free(struct cb_synth *s);
struct nn_pool *cb_synth_pool(struct cb_synth *s);

/* Synthesises text in voice v. *pcm (may be NULL: audio only through hooks) receives the whole
 * audio (caller frees with vb_free) and *n its length. VB_ERR_UNPROCESSABLE when the text has
 * no tokens, VB_ERR_CANCELLED, VB_ERR_NOMEM, or a component's error; why says which. */
VB_WUR enum vb_err cb_synth_run(struct cb_synth *s, const struct cb_voice_cond *v, const char *text,
                                size_t len, const struct cb_synth_params *p,
                                const struct cb_synth_hooks *hooks, float **pcm, size_t *n,
                                struct cb_synth_stats *stats, char *why, size_t why_cap);

#endif
