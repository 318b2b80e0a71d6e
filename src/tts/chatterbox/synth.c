/* synth.c: Chatterbox-Turbo end to end (text -> T3 tokens -> flow mel -> HiFT audio), in one
 * piece or streamed in token chunks while T3 generates. */
#include "core/vb.h"
#include "core/err.h"
#include "tts/chatterbox/synth.h"
#include "core/alloc.h"
#include "core/crypto.h"
#include "core/log.h"

#include <math.h>
#include <time.h>

#define SPF 480 /* samples per mel frame */

/* A voice's T3 conditioning rows (cb_t3_ctx_cond_export), ~37 MB at the real size. */
struct snap {
    uint64_t key, used; /* used 0 = empty */
    void *buf;
    size_t len, cap;
};

struct cb_synth {
    const struct cb_model *m;
    struct nn_pool *pool;
    struct cb_t3_ctx *t3;
    struct cb_flow_state *fs;
    struct cb_hift_work *hw;
    uint64_t cond_key; /* voice whose T3 conditioning rows the context holds */
    bool cond_valid;
    struct snap snaps[CB_SYNTH_SNAPSHOTS]; /* recent voices' conditioning rows */
    uint64_t tick;
};

struct cb_synth_params cb_synth_default_params(void)
{
    struct cb_t3_gen_params g = cb_t3_gen_default_params();
    return (struct cb_synth_params){.temperature = g.temperature,
                                    .top_k = g.top_k,
                                    .top_p = g.top_p,
                                    .repetition_penalty = g.repetition_penalty,
                                    .seed = 0,
                                    .max_gen = 0,
                                    .chunk_tokens = 0,
                                    .stream_prompt_tokens = 0,
                                    .stream_right_frames = 0,
                                    .n_steps = 0};
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

enum vb_err cb_synth_new(const struct cb_model *m, int n_threads, struct cb_synth **out)
{
    *out = NULL;
    struct cb_synth *s = vb_try_calloc(1, sizeof *s);
    if (!s)
        return VB_ERR_NOMEM;
    s->m = m;
    n_threads = nn_threads_default(n_threads);
    struct cb_t3_ctx_params tp = cb_t3_ctx_default_params();
    tp.n_threads = n_threads;
    enum vb_err err;
    /* one pool for T3, the flow and HiFT: they run one after the other, and a second set of
     * workers would only compete for the same cores */
    if ((err = nn_pool_new(n_threads, &s->pool)))
        goto out;
    tp.pool = s->pool;
    if ((err = cb_t3_ctx_new(m->t3, &tp, &s->t3)) ||
        (err = cb_flow_state_new(m->flow, s->pool, &s->fs)))
        goto out;
    if (!(s->hw = cb_hift_work_new())) {
        err = VB_ERR_NOMEM;
        goto out;
    }
    *out = s;
    s = NULL;
out:
    cb_synth_free(s);
    return err;
}

void cb_synth_free(struct cb_synth *s)
{
    if (!s)
        return;
    cb_t3_ctx_free(s->t3);
    cb_flow_state_free(s->fs);
    cb_hift_work_free(s->hw);
    nn_pool_free(s->pool);
    for (int i = 0; i < CB_SYNTH_SNAPSHOTS; i++)
        vb_free(s->snaps[i].buf);
    vb_free(s);
}

struct nn_pool *cb_synth_pool(struct cb_synth *s)
{
    return s->pool;
}

/* One run's buffers and progress. Frames are 50 Hz mel frames after the prompt. */
struct run {
    struct cb_synth *s;
    const struct cb_voice_cond *v;
    const struct cb_synth_params *p;
    const struct cb_synth_hooks *hooks;
    struct cb_synth_stats *st;
    double t0;
    double t3_start;
    int maxf;           /* frames any flow call may cover (prompt included) */
    int32_t *tok;       /* speech tokens so far (< 6561) */
    int n_tok, cap_tok; /* count, capacity */
    int chunk_at;       /* tokens whose audio the last streamed chunk covered */
    int chunk_next;     /* tokens of the next chunk (doubles up to 8 x chunk_tokens) */
    int hold;           /* tokens whose frames a streamed flow run cannot vocode yet: the
                           flow's lookahead and the vocoder's right context */
    int64_t *tok64;     /* tokens (+ silence) handed to the flow */
    float *noise_tab;   /* (80, maxf): ODE start noise per frame position */
    float *noise;       /* (80, T) for one flow call */
    float *fmel;        /* (80, F) flow output */
    float *mel;         /* (80, maxf) store, ld maxf */
    int mel_done;       /* frames in the store */
    float *wmel;        /* (80, W) vocoder window */
    float *wav;         /* window audio */
    float *wsrc;        /* window source */
    float *src;         /* source used for the emitted audio (maxf * SPF) */
    float *out;         /* all audio (maxf * SPF) */
    int emitted;        /* frames of audio handed out */
    int ctx;            /* HiFT context frames */
    int rc, ov;         /* streaming: right context frames a piece is vocoded with, and the
                           frames after it held back for the cross-fade (0 when rc = ctx) */
    float *xtail;       /* (ov * SPF) held-back audio of the last window */
    size_t n_xtail;     /* samples in xtail */
    float fade[CB_HIFT_TRIM_FADE_SAMPLES];
    enum vb_err err; /* error inside the token callback */
    char *why;
    size_t why_cap;
};

/* Runs the flow over all tokens so far (finalize: plus 3 silence tokens and the lookahead
 * frames) and vocodes the frames that have enough right context (all of them when
 * finalizing). */
static enum vb_err emit(struct run *r, bool finalize)
{
    struct cb_synth *s = r->s;
    const struct cb_model *m = s->m;
    const struct cb_voice_cond *v = r->v;
    int nt = 0;
    for (int i = 0; i < r->n_tok; i++)
        r->tok64[nt++] = r->tok[i];
    if (finalize)
        for (int i = 0; i < 3; i++)
            r->tok64[nt++] = CB_T3_SILENCE_TOKEN;
    /* A streamed synthesis may see only the end of the prompt (each piece re-runs the flow,
     * whose cost grows with the prompt, 500 frames at the real size): the dropped tokens and
     * their frames go together, so the generated frames keep their positions and noise. */
    int drop = 0;
    if (r->p->chunk_tokens > 0 && r->p->stream_prompt_tokens > 0)
        drop = VB_MAX(
            0, VB_MIN(v->n_prompt_tokens - r->p->stream_prompt_tokens, v->n_prompt_frames / 2));
    struct cb_flow_input in = {.prompt_tokens = v->prompt_tokens + drop,
                               .n_prompt = v->n_prompt_tokens - drop,
                               .tokens = r->tok64,
                               .n_tokens = nt,
                               .prompt_feat = v->prompt_feat + (size_t)2 * drop * CB_FLOW_N_MELS,
                               .n_prompt_feat = v->n_prompt_frames - 2 * drop,
                               .xvec = v->xvector,
                               .noise = r->noise,
                               .n_steps = r->p->n_steps,
                               .finalize = finalize};
    int T = cb_flow_total_frames(&in), F = cb_flow_out_frames(&in);
    if (F <= r->mel_done && !finalize)
        return VB_OK;
    if (T > r->maxf || T < 1 || F < 0)
        return vb_failf(r->why, r->why_cap, VB_ERR_INTERNAL, "flow length %d outside 1..%d", T,
                        r->maxf);
    enum vb_err err;
    double t = now_s();
    if (F > r->mel_done) {
        for (int c = 0; c < CB_FLOW_N_MELS; c++)
            memcpy(r->noise + (size_t)c * T, r->noise_tab + (size_t)c * r->maxf + 2 * drop,
                   (size_t)T * sizeof(float));
        if ((err = cb_flow_inference(m->flow, s->fs, &in, r->fmel, NULL)))
            return vb_failf(r->why, r->why_cap, err, "S3Gen flow failed (%s)", vb_err_message(err));
        for (int c = 0; c < CB_FLOW_N_MELS; c++)
            memcpy(r->mel + (size_t)c * r->maxf + r->mel_done,
                   r->fmel + (size_t)c * F + r->mel_done,
                   (size_t)(F - r->mel_done) * sizeof(float));
        r->mel_done = F;
    }
    if (r->st)
        r->st->flow_s += now_s() - t;
    F = r->mel_done;
    /* vocode the window [w0, F); frames [a, keep) have enough right context, [a, e) go out
     * now and [e, keep) are held back to be cross-faded into the next piece */
    int a = r->emitted, keep = finalize ? F : F - r->rc, e = finalize ? F : keep - r->ov;
    if (e <= a)
        return VB_OK;
    t = now_s();
    int w0 = VB_MAX(0, a - r->ctx), W = F - w0;
    for (int c = 0; c < CB_FLOW_N_MELS; c++)
        memcpy(r->wmel + (size_t)c * W, r->mel + (size_t)c * r->maxf + w0,
               (size_t)W * sizeof(float));
    int64_t n_cache = (int64_t)(a - w0) * SPF;
    if ((err = cb_hift_synthesize(m->hift, s->hw, s->pool, r->wmel, W, r->p->seed + 1,
                                  n_cache ? r->src + (size_t)w0 * SPF : NULL, n_cache, r->wav,
                                  r->wsrc)))
        return vb_failf(r->why, r->why_cap, err, "HiFT vocoder failed (%s)", vb_err_message(err));
    size_t off = (size_t)(a - w0) * SPF, n = (size_t)(e - a) * SPF;
    memcpy(r->src + (size_t)a * SPF, r->wsrc + off, (size_t)(keep - a) * SPF * sizeof(float));
    float *piece = r->out + (size_t)a * SPF;
    memcpy(piece, r->wav + off, n * sizeof(float));
    /* the previous window's held-back frames fade out under this window's start */
    size_t nx = VB_MIN(r->n_xtail, n);
    for (size_t i = 0; i < nx; i++) {
        float w = ((float)i + 0.5f) / (float)nx;
        piece[i] = r->xtail[i] * (1.0f - w) + piece[i] * w;
    }
    r->n_xtail = (size_t)(keep - e) * SPF;
    memcpy(r->xtail, r->wav + off + n, r->n_xtail * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        size_t g = (size_t)a * SPF + i;
        if (g >= CB_HIFT_TRIM_FADE_SAMPLES)
            break;
        piece[i] *= r->fade[g];
    }
    r->emitted = e;
    if (r->st) {
        r->st->hift_s += now_s() - t;
        if (r->st->first_audio_s == 0)
            r->st->first_audio_s = now_s() - r->t0;
        r->st->n_samples = (int64_t)e * SPF;
    }
    if (r->hooks && r->hooks->on_audio && (err = r->hooks->on_audio(r->hooks->user, piece, n)))
        return vb_failf(r->why, r->why_cap, err, "audio consumer stopped the synthesis");
    return VB_OK;
}

static bool on_token(void *user, int32_t token)
{
    struct run *r = user;
    if (r->hooks && r->hooks->cancelled && r->hooks->cancelled(r->hooks->user)) {
        r->err = vb_failf(r->why, r->why_cap, VB_ERR_CANCELLED, "cancelled");
        return false;
    }
    if (r->st && r->st->t3_prefill_s == 0)
        r->st->t3_prefill_s = now_s() - r->t3_start;
    if (token < 0 || token >= CB_T3_SPEECH_CODES || r->n_tok >= r->cap_tok)
        return true;
    r->tok[r->n_tok++] = token;
    if (r->p->chunk_tokens > 0 && r->n_tok - r->chunk_at >= r->chunk_next + r->hold) {
        r->chunk_at = r->n_tok - r->hold;
        r->chunk_next = VB_MIN(2 * r->chunk_next, 8 * r->p->chunk_tokens);
        double t = now_s();
        enum vb_err err = emit(r, false);
        if (r->st)
            r->st->t3_s -= now_s() - t; /* streamed work is not T3 time */
        if (err) {
            r->err = err;
            return false;
        }
    }
    return true;
}

static uint64_t voice_key(const struct cb_voice_cond *v)
{
    uint64_t h = vb_fnv1a64(VB_FNV64_OFFSET, &v->n_t3_tokens, sizeof v->n_t3_tokens);
    h = vb_fnv1a64(h, v->speaker_emb, (size_t)v->spk_dim * sizeof(float));
    return vb_fnv1a64(h, v->t3_tokens, (size_t)v->n_t3_tokens * sizeof(int64_t));
}

static bool snapshot_has(const struct cb_synth *s, uint64_t key)
{
    for (int i = 0; i < CB_SYNTH_SNAPSHOTS; i++)
        if (s->snaps[i].used && s->snaps[i].key == key)
            return true;
    return false;
}

/* Installs the stored rows of voice `key`; false when none are stored (or they fail). */
static bool snapshot_import(struct cb_synth *s, uint64_t key)
{
    for (int i = 0; i < CB_SYNTH_SNAPSHOTS; i++) {
        struct snap *sn = &s->snaps[i];
        if (!sn->used || sn->key != key)
            continue;
        if (cb_t3_ctx_cond_import(s->t3, sn->buf, sn->len) != VB_OK) {
            sn->used = 0;
            return false;
        }
        sn->used = ++s->tick;
        s->cond_key = key;
        return true;
    }
    return false;
}

/* Stores the context's rows for voice `key` in the least recently used slot (best effort). */
static void snapshot_export(struct cb_synth *s, uint64_t key)
{
    size_t need = cb_t3_ctx_cond_bytes(s->t3);
    if (!need)
        return;
    struct snap *sn = &s->snaps[0];
    for (int i = 1; i < CB_SYNTH_SNAPSHOTS; i++)
        if (s->snaps[i].used < sn->used)
            sn = &s->snaps[i];
    sn->used = 0;
    if (sn->cap < need || !sn->buf) {
        vb_free(sn->buf);
        sn->buf = vb_try_malloc(need);
        sn->cap = sn->buf ? need : 0;
        if (!sn->buf)
            return;
    }
    size_t len = 0;
    if (cb_t3_ctx_cond_export(s->t3, sn->buf, sn->cap, &len) != VB_OK)
        return;
    sn->len = len;
    sn->key = key;
    sn->used = ++s->tick;
}

static void run_release(struct run *r)
{
    vb_free(r->tok);
    vb_free(r->tok64);
    vb_free(r->noise_tab);
    vb_free(r->noise);
    vb_free(r->fmel);
    vb_free(r->mel);
    vb_free(r->wmel);
    vb_free(r->wav);
    vb_free(r->wsrc);
    vb_free(r->src);
    vb_free(r->xtail);
}

enum vb_err cb_synth_run(struct cb_synth *s, const struct cb_voice_cond *v, const char *text,
                         size_t len, const struct cb_synth_params *p,
                         const struct cb_synth_hooks *hooks, float **pcm, size_t *n,
                         struct cb_synth_stats *stats, char *why, size_t why_cap)
{
    if (pcm)
        *pcm = NULL;
    if (n)
        *n = 0;
    struct cb_synth_stats dummy;
    if (!stats)
        stats = &dummy;
    memset(stats, 0, sizeof *stats);
    struct cb_synth_params dp = cb_synth_default_params();
    if (!p)
        p = &dp;
    const struct cb_model *m = s->m;
    const struct cb_t3_config *tc = cb_t3_model_config(m->t3);
    struct run r = {.s = s,
                    .v = v,
                    .p = p,
                    .hooks = hooks,
                    .st = stats,
                    .t0 = now_s(),
                    .why = why,
                    .why_cap = why_cap};
    int32_t *ids = NULL, *prompt = NULL, *gen = NULL;
    size_t n_ids = 0;
    enum vb_err err;
    if (!v || v->spk_dim != tc->spk_dim || !v->speaker_emb || v->xvec_dim != CB_FLOW_SPK_DIM ||
        v->n_t3_tokens < 0 || v->n_t3_tokens > CB_T3_MAX_PROMPT || v->n_prompt_tokens < 0 ||
        v->n_prompt_frames < 0 || v->n_prompt_frames > 2 * v->n_prompt_tokens + 1) {
        err = vb_failf(why, why_cap, VB_ERR_INVALID, "voice conditionals do not fit this model");
        goto out;
    }
    if ((err = cb_text_encode(m->tok, text, len, &ids, &n_ids, NULL))) {
        vb_failf(why, why_cap, err, "text tokenizer failed");
        goto out;
    }
    if (n_ids == 0) {
        err = vb_failf(why, why_cap, VB_ERR_UNPROCESSABLE, "text: nothing to say");
        goto out;
    }
    stats->n_text = (int)n_ids;
    int prefix = cb_t3_prefix_len(v->n_t3_tokens, (int)n_ids);
    int room = cb_t3_ctx_n_ctx(s->t3) - prefix - 2;
    int max_gen = p->max_gen > 0 ? p->max_gen : cb_t3_max_gen_for_text((int)n_ids);
    max_gen = VB_MIN(max_gen, room);
    if (max_gen < 1) {
        err = vb_failf(why, why_cap, VB_ERR_TOO_LARGE,
                       "text: %zu tokens do not fit the model's %d positions", n_ids,
                       cb_t3_ctx_n_ctx(s->t3));
        goto out;
    }
    r.cap_tok = max_gen + 1;
    r.maxf = 2 * (v->n_prompt_tokens + r.cap_tok + 3) + 2;
    size_t mf = (size_t)r.maxf, nm = (size_t)CB_FLOW_N_MELS * mf;
    r.tok = vb_try_malloc((size_t)r.cap_tok * sizeof *r.tok);
    gen = vb_try_malloc((size_t)r.cap_tok * sizeof *gen);
    r.tok64 = vb_try_malloc(((size_t)r.cap_tok + 3) * sizeof *r.tok64);
    prompt = vb_try_malloc(((size_t)v->n_t3_tokens + 1) * sizeof *prompt);
    r.noise_tab = vb_try_malloc(nm * sizeof(float));
    r.noise = vb_try_malloc(nm * sizeof(float));
    r.fmel = vb_try_malloc(nm * sizeof(float));
    r.mel = vb_try_malloc(nm * sizeof(float));
    r.wmel = vb_try_malloc(nm * sizeof(float));
    r.wav = vb_try_malloc(mf * SPF * sizeof(float));
    r.wsrc = vb_try_malloc(mf * SPF * sizeof(float));
    r.src = vb_try_malloc(mf * SPF * sizeof(float));
    r.out = vb_try_malloc(mf * SPF * sizeof(float));
    r.xtail = vb_try_malloc((size_t)CB_SYNTH_XFADE_FRAMES * SPF * sizeof(float));
    if (!r.tok || !gen || !r.tok64 || !prompt || !r.noise_tab || !r.noise || !r.fmel || !r.mel ||
        !r.wmel || !r.wav || !r.wsrc || !r.src || !r.out || !r.xtail) {
        err = vb_failf(why, why_cap, VB_ERR_NOMEM, "out of memory for %d frames", r.maxf);
        goto out;
    }
    cb_flow_noise(r.noise_tab, nm, p->seed ^ 0x5f1e5eedull);
    cb_hift_trim_fade_table(r.fade);
    r.ctx = cb_hift_params_of(m->hift)->context_frames;
    r.chunk_next = p->chunk_tokens;
    r.rc = p->stream_right_frames > 0 ? VB_MIN(p->stream_right_frames, r.ctx) : r.ctx;
    r.ov = r.rc < r.ctx ? CB_SYNTH_XFADE_FRAMES : 0;
    r.hold = (2 * CB_FLOW_LOOKAHEAD + r.rc + r.ov + 1) / 2;
    for (int i = 0; i < v->n_t3_tokens; i++)
        prompt[i] = (int32_t)v->t3_tokens[i];
    struct cb_t3_gen_params gp = cb_t3_gen_default_params();
    gp.temperature = p->temperature;
    gp.top_k = p->top_k;
    gp.top_p = p->top_p;
    gp.repetition_penalty = p->repetition_penalty;
    gp.max_gen_len = max_gen;
    gp.seed = p->seed;
    struct cb_t3_gen_hooks th = {.on_token = on_token, .user = &r};
    int n_gen = 0;
    double t = now_s();
    r.t3_start = t;
    /* Every generation runs on cached [speaker | prompt] rows: a fresh prefill of them batches
     * differently from a cached one (quantised weights give slightly different logits), so a
     * new voice is primed with a one-token generation first and a seed gives the same audio
     * whatever ran before. */
    uint64_t key = voice_key(v);
    if (!s->cond_valid || s->cond_key != key || cb_t3_ctx_cond_cached(s->t3) == 0) {
        /* keep the outgoing voice's rows (only when voices alternate: no copy for one voice) */
        if (s->cond_valid && cb_t3_ctx_cond_cached(s->t3) > 0 && !snapshot_has(s, s->cond_key))
            snapshot_export(s, s->cond_key);
        s->cond_valid = snapshot_import(s, key);
    }
    if (!s->cond_valid || s->cond_key != key || cb_t3_ctx_cond_cached(s->t3) == 0) {
        struct cb_t3_gen_params g0 = gp;
        g0.max_gen_len = 0;
        s->cond_valid = false;
        if ((err = cb_t3_generate(s->t3, v->speaker_emb, prompt, v->n_t3_tokens, ids, 1, &g0, NULL,
                                  gen, r.cap_tok, &n_gen))) {
            vb_failf(why, why_cap, err, "T3 conditioning failed (%s)", vb_err_message(err));
            goto out;
        }
        s->cond_key = key;
        s->cond_valid = true;
    }
    err = cb_t3_generate(s->t3, v->speaker_emb, prompt, v->n_t3_tokens, ids, (int)n_ids, &gp, &th,
                         gen, r.cap_tok, &n_gen);
    stats->t3_s += now_s() - t;
    if (err) {
        s->cond_valid = false;
        if (r.err)
            err = r.err; /* why already written */
        else
            vb_failf(why, why_cap, err, "T3 generation failed (%s)", vb_err_message(err));
        goto out;
    }
    stats->n_speech = r.n_tok;
    if ((err = emit(&r, true)))
        goto out;
    if (pcm) {
        *pcm = r.out;
        r.out = NULL;
    }
    if (n)
        *n = (size_t)r.emitted * SPF;
out:
    stats->total_s = now_s() - r.t0;
    vb_free(r.out);
    run_release(&r);
    vb_free(ids);
    vb_free(prompt);
    vb_free(gen);
    return err;
}
