/* cb_engine.c: Chatterbox-Turbo behind the TTS engine interface: loading from MODELS_DIR,
 * English-only checks, the voice-conditionals cache and serialised synthesis. */
#include "core/vb.h"
#include "tts/chatterbox/cb_engine.h"
#include "core/alloc.h"
#include "core/crypto.h"
#include "core/log.h"
#include "tts/chatterbox/model.h"
#include "tts/chatterbox/synth.h"
#include "tts/engine_settings.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PATH_CAP 4096

struct cache_entry {
    uint64_t key;
    uint64_t used; /* LRU tick; 0 = empty */
    struct cb_voice_cond c;
};

struct cb_state {
    struct cb_model *m;
    struct cb_synth *s;
    pthread_mutex_t lock; /* one synthesis at a time; guards the cache */
    char dir[PATH_CAP];
    uint64_t model_key; /* identity of the encoder files, folded into cache keys */
    struct cache_entry cache[CB_ENGINE_CACHE_MEM];
    uint64_t tick;
    struct cb_engine_cache_stats stats;
    uint64_t seed_counter;
    int stream_first;  /* speech tokens of audio in a streamed chunk's first piece */
    int stream_prompt; /* prompt tokens the first piece's flow sees (0 = all) */
};

static const char *const languages[] = {"en"};
static const struct tts_voice_desc voices[] = {
    {"default", "Chatterbox-Turbo built-in voice", "en", NULL}};

static uint64_t file_key(uint64_t h, const char *dir, const char *file)
{
    char path[PATH_CAP + 64];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    struct stat sb;
    if (stat(path, &sb) == 0) {
        int64_t v[3] = {(int64_t)sb.st_size, (int64_t)sb.st_mtim.tv_sec,
                        (int64_t)sb.st_mtim.tv_nsec};
        h = vb_fnv1a64(h, v, sizeof v);
    }
    return h;
}

bool cb_engine_files_present(const char *models_dir)
{
    static const char *const files[] = {CB_FILE_T3, CB_FILE_S3GEN, CB_FILE_VE};
    for (size_t i = 0; i < VB_ARRAY_LEN(files); i++) {
        char path[4096];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s/%s", models_dir ? models_dir : "models",
                 CB_ENGINE_MODEL_SUBDIR, files[i]);
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            return false;
    }
    return true;
}

static enum vb_err cb_load(struct tts_engine *e, char *why, size_t why_cap)
{
    struct cb_state *st = vb_try_calloc(1, sizeof *st);
    if (!st) {
        snprintf(why, why_cap, "chatterbox-turbo: out of memory");
        return VB_ERR_UNAVAILABLE;
    }
    pthread_mutex_init(&st->lock, NULL);
    snprintf(st->dir, sizeof st->dir, "%s/%s", e->models_dir ? e->models_dir : "models",
             CB_ENGINE_MODEL_SUBDIR);
    struct cb_model_options o = cb_model_default_options();
    const struct tts_engine_settings def = tts_engine_default_settings();
    const struct tts_engine_settings *set = e->settings ? e->settings : &def;
    const char *bad = NULL;
    if (!cb_t3_wtype_parse(set->cb_t3_weights, &o.t3_wtype))
        bad = "CHATTERBOX_T3_WEIGHTS: use f32, f16, bf16, q8_0, q6_k, q5_k, q4_k, q5_1, q5_0, "
              "q4_1 or q4_0";
    if (strcmp(set->cb_s3gen_weights, "f32") == 0)
        o.s3gen_wtype = NN_TYPE_F32;
    else if (strcmp(set->cb_s3gen_weights, "f16") == 0)
        o.s3gen_wtype = NN_TYPE_F16;
    else if (strcmp(set->cb_s3gen_weights, "bf16") == 0)
        o.s3gen_wtype = NN_TYPE_BF16;
    else
        bad = "CHATTERBOX_S3GEN_WEIGHTS: use f32, f16 or bf16";
    if (set->cb_stream_first_tokens < 1 ||
        set->cb_stream_first_tokens > CB_ENGINE_STREAM_TOKENS_MAX)
        bad = "CHATTERBOX_STREAM_FIRST_TOKENS: out of range";
    if (set->cb_stream_prompt_tokens < 0 ||
        set->cb_stream_prompt_tokens > CB_ENGINE_STREAM_TOKENS_MAX)
        bad = "CHATTERBOX_STREAM_PROMPT_TOKENS: out of range";
    if (set->threads < 0)
        bad = "TTS_THREADS: must be 0 (all cores) or more";
    if (bad) {
        snprintf(why, why_cap, "chatterbox-turbo: %s", bad);
        pthread_mutex_destroy(&st->lock);
        vb_free(st);
        return VB_ERR_UNAVAILABLE;
    }
    st->stream_first = set->cb_stream_first_tokens;
    st->stream_prompt = set->cb_stream_prompt_tokens;
    o.lazy_encoders = !set->cb_keep_encoders;
    char inner[512] = "";
    enum vb_err err = cb_model_load(st->dir, &o, &st->m, inner, sizeof inner);
    if (!err)
        err = cb_synth_new(st->m, set->threads, &st->s);
    if (err) {
        snprintf(why, why_cap, "chatterbox-turbo: %s (run `vocero models pull chatterbox-turbo`)",
                 inner[0] ? inner : vb_err_message(err));
        cb_synth_free(st->s);
        cb_model_free(st->m);
        pthread_mutex_destroy(&st->lock);
        vb_free(st);
        return VB_ERR_UNAVAILABLE;
    }
    uint64_t k = VB_FNV64_OFFSET;
    k = vb_fnv1a64(k, CB_VC_FORMAT, strlen(CB_VC_FORMAT));
    k = file_key(k, st->dir, CB_FILE_VE);
    k = file_key(k, st->dir, CB_FILE_S3GEN);
    st->model_key = k;
    e->state = st;
    vb_info("chatterbox: loaded %s (built-in voice: %s)", st->dir,
            st->m->has_default_voice ? st->m->default_voice_file : "none");
    return VB_OK;
}

static void cb_unload(struct tts_engine *e)
{
    struct cb_state *st = e->state;
    if (!st)
        return;
    for (int i = 0; i < CB_ENGINE_CACHE_MEM; i++)
        if (st->cache[i].used)
            cb_voice_cond_release(&st->cache[i].c);
    cb_synth_free(st->s);
    cb_model_free(st->m);
    pthread_mutex_destroy(&st->lock);
    vb_free(st);
    e->state = NULL;
}

static int cb_sample_rate(const struct tts_engine *e)
{
    (void)e;
    return CB_SAMPLE_RATE;
}

static size_t cb_languages(struct tts_engine *e, const char *const **out)
{
    (void)e;
    *out = languages;
    return VB_ARRAY_LEN(languages);
}

static size_t cb_voices(struct tts_engine *e, const struct tts_voice_desc **out)
{
    struct cb_state *st = e->state;
    *out = voices;
    return st && st->m->has_default_voice ? VB_ARRAY_LEN(voices) : 0;
}

static bool english(const char *lang)
{
    return !lang || !*lang || strcasecmp(lang, "en") == 0 ||
           ((strncasecmp(lang, "en-", 3) == 0 || strncasecmp(lang, "en_", 3) == 0) && lang[3]);
}

static enum vb_err cb_check(struct tts_engine *e, const struct tts_params *p, const char **field,
                            char *why, size_t why_cap)
{
    struct cb_state *st = e->state;
    if (!english(p->language)) {
        *field = "language";
        snprintf(why, why_cap, "language: chatterbox-turbo speaks English only (\"en\")");
        return VB_ERR_UNPROCESSABLE;
    }
    if (p->voice && *p->voice && strcmp(p->voice, "default") != 0) {
        *field = "voice_id";
        snprintf(why, why_cap,
                 "voice_id: chatterbox-turbo has one built-in voice, \"default\"; "
                 "clone others with an uploaded voice or audio_prompt");
        return VB_ERR_UNPROCESSABLE;
    }
    if (!p->prompt && st && !st->m->has_default_voice) {
        *field = "voice_id";
        snprintf(why, why_cap,
                 "voice_id: no built-in voice is installed (conds.pt); give an "
                 "uploaded voice or an audio_prompt");
        return VB_ERR_UNPROCESSABLE;
    }
    return VB_OK;
}

/* Key of a clip: its samples and rate plus the encoder files' identity. */
static uint64_t clip_key(const struct cb_state *st, const struct audio_pcm *a)
{
    uint64_t h = st->model_key;
    int64_t hdr[3] = {(int64_t)a->sample_rate, (int64_t)a->channels, (int64_t)a->frames};
    h = vb_fnv1a64(h, hdr, sizeof hdr);
    return vb_fnv1a64(h, a->samples, a->frames * (size_t)VB_MAX(a->channels, 1) * sizeof(float));
}

/* Keeps the newest CB_ENGINE_CACHE_FILES files of the cache directory (entries of voices that
 * changed or were deleted are never read again). */
static void prune_cache_dir(const char *cdir)
{
    DIR *d = opendir(cdir);
    if (!d)
        return;
    char oldest[PATH_CAP + 300] = "";
    time_t oldest_t = 0;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len < 12 || strcmp(de->d_name + len - 12, ".safetensors") != 0)
            continue;
        char path[PATH_CAP + 300];
        snprintf(path, sizeof path, "%s/%s", cdir, de->d_name);
        struct stat sb;
        if (stat(path, &sb) != 0)
            continue;
        n++;
        if (!oldest[0] || sb.st_mtime < oldest_t) {
            oldest_t = sb.st_mtime;
            snprintf(oldest, sizeof oldest, "%s", path);
        }
    }
    closedir(d);
    if (n > CB_ENGINE_CACHE_FILES && oldest[0] && unlink(oldest) != 0)
        vb_warn("chatterbox: cannot remove %s: %s", oldest, strerror(errno));
}

/* The conditionals of a clip: memory, then voice-cache/<key>.safetensors, then the encoders
 * (the result stored in both). Borrowed from the cache until the next call (lock held). */
static enum vb_err voice_for(struct cb_state *st, const struct audio_pcm *a,
                             const struct cb_voice_cond **out, char *why, size_t why_cap)
{
    uint64_t key = clip_key(st, a);
    st->tick++;
    for (int i = 0; i < CB_ENGINE_CACHE_MEM; i++)
        if (st->cache[i].used && st->cache[i].key == key) {
            st->cache[i].used = st->tick;
            st->stats.mem_hits++;
            *out = &st->cache[i].c;
            return VB_OK;
        }
    int slot = 0;
    for (int i = 1; i < CB_ENGINE_CACHE_MEM; i++)
        if (st->cache[i].used < st->cache[slot].used)
            slot = i;
    struct cache_entry *ce = &st->cache[slot];
    if (ce->used) {
        cb_voice_cond_release(&ce->c);
        ce->used = 0;
    }
    char cdir[PATH_CAP + 32], path[PATH_CAP + 64], inner[400] = "";
    snprintf(cdir, sizeof cdir, "%s/%s", st->dir, CB_ENGINE_CACHE_SUBDIR);
    snprintf(path, sizeof path, "%s/%016llx.safetensors", cdir, (unsigned long long)key);
    enum vb_err err = cb_voice_cond_load(path, &ce->c, inner, sizeof inner);
    if (!err && ce->c.spk_dim == cb_t3_model_config(st->m->t3)->spk_dim &&
        ce->c.xvec_dim == CB_FLOW_SPK_DIM) {
        st->stats.disk_hits++;
    } else {
        if (!err) {
            cb_voice_cond_release(&ce->c);
        } else if (err != VB_ERR_NOT_FOUND) {
            vb_warn("chatterbox: voice cache %s unusable (%s): recomputing", path, inner);
        }
        if (a->channels != 1) {
            snprintf(why, why_cap, "audio_prompt: the reference clip must be mono");
            return VB_ERR_UNPROCESSABLE;
        }
        if ((err = cb_model_encoders_acquire(st->m, why, why_cap)))
            return err;
        struct cb_voice_encoders enc = cb_model_encoders(st->m);
        err = cb_voice_cond_compute(&enc, cb_synth_pool(st->s), NULL, a->samples,
                                    (int64_t)a->frames, a->sample_rate, &ce->c, why, why_cap);
        cb_model_encoders_release(st->m);
        if (err)
            return err;
        st->stats.computed++;
        if (mkdir(cdir, 0755) != 0 && errno != EEXIST)
            vb_warn("chatterbox: cannot create %s: %s", cdir, strerror(errno));
        else if (cb_voice_cond_save(&ce->c, path, inner, sizeof inner) != VB_OK)
            vb_warn("chatterbox: cannot store the voice cache %s: %s", path, inner);
        else
            prune_cache_dir(cdir);
    }
    ce->key = key;
    ce->used = st->tick;
    *out = &ce->c;
    return VB_OK;
}

static bool hook_cancelled(void *user)
{
    const struct tts_callbacks *cb = user;
    return cb->cancelled(cb->user);
}

static enum vb_err hook_audio(void *user, const float *pcm, size_t n)
{
    const struct tts_callbacks *cb = user;
    return cb->on_partial(pcm, n, cb->user);
}

static enum vb_err cb_synthesize(struct tts_engine *e, const char *text, size_t len,
                                 const struct tts_params *p, struct audio_pcm *out,
                                 const struct tts_callbacks *cb)
{
    struct cb_state *st = e->state;
    memset(out, 0, sizeof *out);
    char why[400] = "";
    const char *field = NULL;
    enum vb_err err = cb_check(e, p, &field, why, sizeof why);
    if (err)
        return err;
    pthread_mutex_lock(&st->lock);
    const struct cb_voice_cond *v = &st->m->default_voice;
    if (p->prompt && (err = voice_for(st, p->prompt, &v, why, sizeof why)) != VB_OK) {
        vb_warn("chatterbox: reference voice: %s", why);
        goto out;
    }
    struct cb_synth_params sp = cb_synth_default_params();
    if (p->temperature > 0)
        sp.temperature = (float)p->temperature;
    sp.seed = p->seed;
    if (!sp.seed) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ++st->seed_counter;
        sp.seed = vb_fnv1a64(VB_FNV64_OFFSET, &x, sizeof x) | 1;
    }
    /* A consumer that takes pieces gets the audio while T3 still generates (synth.h
     * chunk_tokens); every sample then goes out through the hook, none through out. */
    bool pieces = cb && cb->on_partial;
    sp.chunk_tokens = pieces ? st->stream_first : 0;
    sp.stream_prompt_tokens = st->stream_prompt;
    sp.stream_right_frames = CB_ENGINE_STREAM_RIGHT_FRAMES;
    struct cb_synth_hooks hooks = {.user = (void *)cb};
    if (cb && cb->cancelled)
        hooks.cancelled = hook_cancelled;
    if (pieces)
        hooks.on_audio = hook_audio;
    float *pcm = NULL;
    size_t n = 0;
    struct cb_synth_stats stats;
    err = cb_synth_run(st->s, v, text, len, &sp, &hooks, pieces ? NULL : &pcm, &n, &stats, why,
                       sizeof why);
    if (err) {
        if (err != VB_ERR_CANCELLED)
            vb_warn("chatterbox: synthesis failed: %s", why);
        goto out;
    }
    vb_debug("chatterbox: %d text -> %d speech tokens, %.2f s audio in %.2f s (T3 %.2f, flow "
             "%.2f, HiFT %.2f; first audio after %.2f s)",
             stats.n_text, stats.n_speech, (double)stats.n_samples / CB_SAMPLE_RATE, stats.total_s,
             stats.t3_s, stats.flow_s, stats.hift_s, stats.first_audio_s);
    out->samples = pcm;
    out->frames = pcm ? n : 0;
    out->channels = 1;
    out->sample_rate = CB_SAMPLE_RATE;
out:
    pthread_mutex_unlock(&st->lock);
    return err;
}

void cb_engine_cache_stats(struct tts_engine *e, struct cb_engine_cache_stats *out)
{
    struct cb_state *st = e->state;
    memset(out, 0, sizeof *out);
    if (!st)
        return;
    pthread_mutex_lock(&st->lock);
    *out = st->stats;
    pthread_mutex_unlock(&st->lock);
}

const struct cb_model *cb_engine_model(struct tts_engine *e)
{
    const struct cb_state *st = e->state;
    return st ? st->m : NULL;
}

void cb_engine_cache_clear_memory(struct tts_engine *e)
{
    struct cb_state *st = e->state;
    if (!st)
        return;
    pthread_mutex_lock(&st->lock);
    for (int i = 0; i < CB_ENGINE_CACHE_MEM; i++)
        if (st->cache[i].used) {
            cb_voice_cond_release(&st->cache[i].c);
            st->cache[i].used = 0;
        }
    pthread_mutex_unlock(&st->lock);
}

static const struct tts_engine_ops chatterbox_ops = {
    .name = TTS_ENGINE_CHATTERBOX,
    .auto_choice = true,
    .installed = cb_engine_files_present,
    .description = "Chatterbox-Turbo (Resemble AI): natural English speech, voice cloning, "
                   "expressive tags",
    .caps = TTS_CAP_CLONING | TTS_CAP_STREAMING | TTS_CAP_TAGS | TTS_CAP_TEMPERATURE | TTS_CAP_SEED,
    .chunk_max_bytes = TTS_CHUNK_MAX_BYTES,
    .load = cb_load,
    .unload = cb_unload,
    .sample_rate = cb_sample_rate,
    .languages = cb_languages,
    .voices = cb_voices,
    .check = cb_check,
    .synthesize = cb_synthesize,
};

const struct tts_engine_ops *tts_chatterbox_ops(void)
{
    return &chatterbox_ops;
}
