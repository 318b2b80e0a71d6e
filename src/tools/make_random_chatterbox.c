/* make_random_chatterbox.c: writes a random-weight Chatterbox-Turbo model directory in the official
 * layout (weights streamed by the safetensors writer, tokenizer files, built-in voice). */
#include "core/vb.h"
#include "core/err.h"
#include "tools/make_random_chatterbox.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "nn/bpe.h"
#include "nn/safetensors_write.h"
#include "tts/chatterbox/campplus.h"
#include "tts/chatterbox/model.h"
#include "tts/chatterbox/s3gen_flow.h"
#include "tts/chatterbox/s3tokenizer.h"
#include "tts/chatterbox/voice_cond.h"
#include "tts/chatterbox/voice_encoder.h"

#include <errno.h>
#include <math.h>
#include <sys/stat.h>

#define PATH_CAP 4096

/* ===== built-in voice ===== */

static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static float unif(uint64_t *s)
{
    return (float)((double)(mix(s) >> 11) * (1.0 / 9007199254740992.0));
}

/* ===== T3 ===== */

struct t3_shape {
    int n_layer, n_embd, n_positions, text_vocab, spk_dim;
};

/* Sticky-error adders. */
struct adder {
    struct nn_st_writer *w;
    uint64_t seed;
    enum vb_err err;
};

static void add_u(struct adder *a, const char *name, int nd, int64_t d0, int64_t d1, int64_t d2,
                  float lo, float hi)
{
    if (a->err)
        return;
    int64_t sh[3] = {d0, d1, d2};
    a->err = nn_st_writer_add_uniform(a->w, name, nd, sh, lo, hi, a->seed++);
}

static void add_c(struct adder *a, const char *name, int nd, int64_t d0, int64_t d1, int64_t d2,
                  float v)
{
    if (a->err)
        return;
    int64_t sh[3] = {d0, d1, d2};
    a->err = nn_st_writer_add_const(a->w, name, nd, sh, v);
}

/* GPT-2 init: N(0, 0.02) stood in for by U(+-0.0346) (same variance); LayerNorms 1/0. */
/* stop_bias (NULL: random like the rest) is the speech_head bias, borrowed until written. */
static void t3_random(struct adder *a, const struct t3_shape *s, const float *stop_bias)
{
    const int64_t E = s->n_embd;
    const float r = 0.0346f;
    char n[96];
    add_u(a, "tfmr.wte.weight", 2, s->text_vocab, E, 0, -r, r);
    add_u(a, "tfmr.wpe.weight", 2, s->n_positions, E, 0, -r, r);
    for (int l = 0; l < s->n_layer; l++) {
#define NM(sfx) (snprintf(n, sizeof n, "tfmr.h.%d.%s", l, sfx), n)
        add_c(a, NM("ln_1.weight"), 1, E, 0, 0, 1.0f);
        add_c(a, NM("ln_1.bias"), 1, E, 0, 0, 0.0f);
        add_u(a, NM("attn.c_attn.weight"), 2, E, 3 * E, 0, -r, r);
        add_u(a, NM("attn.c_attn.bias"), 1, 3 * E, 0, 0, -r, r);
        add_u(a, NM("attn.c_proj.weight"), 2, E, E, 0, -r, r);
        add_u(a, NM("attn.c_proj.bias"), 1, E, 0, 0, -r, r);
        add_c(a, NM("ln_2.weight"), 1, E, 0, 0, 1.0f);
        add_c(a, NM("ln_2.bias"), 1, E, 0, 0, 0.0f);
        add_u(a, NM("mlp.c_fc.weight"), 2, E, 4 * E, 0, -r, r);
        add_u(a, NM("mlp.c_fc.bias"), 1, 4 * E, 0, 0, -r, r);
        add_u(a, NM("mlp.c_proj.weight"), 2, 4 * E, E, 0, -r, r);
        add_u(a, NM("mlp.c_proj.bias"), 1, E, 0, 0, -r, r);
#undef NM
    }
    add_c(a, "tfmr.ln_f.weight", 1, E, 0, 0, 1.0f);
    add_c(a, "tfmr.ln_f.bias", 1, E, 0, 0, 0.0f);
    add_u(a, "text_emb.weight", 2, s->text_vocab, E, 0, -r, r);
    add_u(a, "text_head.weight", 2, s->text_vocab, E, 0, -r, r);
    add_u(a, "speech_emb.weight", 2, CB_T3_SPEECH_STOP + 1, E, 0, -r, r);
    add_u(a, "speech_head.weight", 2, CB_T3_SPEECH_STOP + 1, E, 0, -r, r);
    if (stop_bias && !a->err)
        a->err = nn_st_writer_add(a->w, "speech_head.bias", NN_ST_F32, 1,
                                  (int64_t[]){CB_T3_SPEECH_STOP + 1}, stop_bias);
    else
        add_u(a, "speech_head.bias", 1, CB_T3_SPEECH_STOP + 1, 0, 0, -r, r);
    float k = 1.0f / sqrtf((float)s->spk_dim);
    add_u(a, "cond_enc.spkr_enc.weight", 2, E, s->spk_dim, 0, -k, k);
    add_u(a, "cond_enc.spkr_enc.bias", 1, E, 0, 0, -k, k);
}

/* ===== HiFT (mel2wav.*, weight norm as parametrizations) ===== */

static void hift_wn(struct adder *a, const char *mod, int64_t o, int64_t i, int64_t k, int64_t nb)
{
    char n[160];
    snprintf(n, sizeof n, "mel2wav.%s.parametrizations.weight.original0", mod);
    add_u(a, n, 3, o, 1, 1, 0.5f, 1.0f); /* g: the row norm of W */
    snprintf(n, sizeof n, "mel2wav.%s.parametrizations.weight.original1", mod);
    add_u(a, n, 3, o, i, k, -1.0f, 1.0f);
    snprintf(n, sizeof n, "mel2wav.%s.bias", mod);
    add_u(a, n, 1, nb, 0, 0, -0.01f, 0.01f);
}

static void hift_resblock(struct adder *a, const char *mod, int64_t c, int k)
{
    char n[160];
    for (int j = 0; j < 3; j++) {
        snprintf(n, sizeof n, "%s.convs1.%d", mod, j);
        hift_wn(a, n, c, c, k, c);
        snprintf(n, sizeof n, "%s.convs2.%d", mod, j);
        hift_wn(a, n, c, c, k, c);
        snprintf(n, sizeof n, "mel2wav.%s.activations1.%d.alpha", mod, j);
        add_u(a, n, 1, c, 0, 0, 0.5f, 1.5f);
        snprintf(n, sizeof n, "mel2wav.%s.activations2.%d.alpha", mod, j);
        add_u(a, n, 1, c, 0, 0, 0.5f, 1.5f);
    }
}

static void hift_random(struct adder *a, int base, int f0c)
{
    char n[160];
    for (int i = 0; i < 5; i++) {
        snprintf(n, sizeof n, "f0_predictor.condnet.%d", 2 * i);
        hift_wn(a, n, f0c, i ? f0c : 80, 3, f0c);
    }
    float k = 1.0f / sqrtf((float)f0c);
    add_u(a, "mel2wav.f0_predictor.classifier.weight", 2, 1, f0c, 0, -k, k);
    add_u(a, "mel2wav.f0_predictor.classifier.bias", 1, 1, 0, 0, -0.01f, 0.01f);
    add_u(a, "mel2wav.m_source.l_linear.weight", 2, 1, 9, 0, -0.33f, 0.33f);
    add_u(a, "mel2wav.m_source.l_linear.bias", 1, 1, 0, 0, -0.01f, 0.01f);
    hift_wn(a, "conv_pre", base, 80, 7, base);
    static const int ks[3] = {16, 11, 7}, dk[3] = {30, 6, 1}, sk[3] = {7, 7, 11},
                     rk[3] = {3, 7, 11};
    for (int i = 0; i < 3; i++) {
        int64_t cin = base >> i, cout = base >> (i + 1);
        snprintf(n, sizeof n, "ups.%d", i);
        hift_wn(a, n, cin, cout, ks[i], cout);
        float kd = 1.0f / sqrtf(18.0f * (float)dk[i]);
        snprintf(n, sizeof n, "mel2wav.source_downs.%d.weight", i);
        add_u(a, n, 3, cout, 18, dk[i], -kd, kd);
        snprintf(n, sizeof n, "mel2wav.source_downs.%d.bias", i);
        add_u(a, n, 1, cout, 0, 0, -0.01f, 0.01f);
        snprintf(n, sizeof n, "source_resblocks.%d", i);
        hift_resblock(a, n, cout, sk[i]);
        for (int j = 0; j < 3; j++) {
            snprintf(n, sizeof n, "resblocks.%d", 3 * i + j);
            hift_resblock(a, n, cout, rk[j]);
        }
    }
    hift_wn(a, "conv_post", 18, base >> 3, 7, 18);
}

/* ===== tokenizer files ===== */

static enum vb_err json_key(struct vb_buf *b, const char *s)
{
    enum vb_err err = vb_buf_putc(b, '"');
    for (; !err && *s; s++)
        err = (*s == '"' || *s == '\\') ? vb_buf_printf(b, "\\%c", *s) : vb_buf_putc(b, *s);
    return err ? err : vb_buf_putc(b, '"');
}

static const char *const tags[19] = {
    "[angry]",        "[fear]",      "[surprised]", "[whispering]", "[advertisement]",
    "[dramatic]",     "[narration]", "[crying]",    "[happy]",      "[sarcastic]",
    "[clear throat]", "[sigh]",      "[shush]",     "[cough]",      "[groan]",
    "[sniff]",        "[gasp]",      "[chuckle]",   "[laugh]"};

static enum vb_err write_file(const char *dir, const char *file, const struct vb_buf *b, char *why,
                              size_t why_cap)
{
    char path[PATH_CAP];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "wb");
    if (!f)
        return vb_failf(why, why_cap, VB_ERR_IO, "%s: %s", path, strerror(errno));
    bool ok = fwrite(b->data, 1, b->len, f) == b->len;
    ok = (fclose(f) == 0) && ok;
    return ok ? VB_OK : vb_failf(why, why_cap, VB_ERR_IO, "%s: write failed", path);
}

/* vocab.json (256 byte symbols, n_merges merged symbols, <|endoftext|>), merges.txt,
 * added_tokens.json (the 19 tags after them). Returns the id count through *n_vocab. */
static enum vb_err write_tokenizer(const char *dir, int n_merges, int *n_vocab, char *why,
                                   size_t why_cap)
{
    /* symbols: "Ġ" + a-z + A-Z, merged into pairs (sym x lower-case), then triples */
    char sym[53][4];
    size_t sym_len[53];
    int ns = 0;
    sym_len[ns] = bpe_to_alphabet(" ", 1, sym[ns]), ns++;
    for (char c = 'a'; c <= 'z'; c++)
        sym_len[ns] = bpe_to_alphabet(&c, 1, sym[ns]), ns++;
    for (char c = 'A'; c <= 'Z'; c++)
        sym_len[ns] = bpe_to_alphabet(&c, 1, sym[ns]), ns++;
    struct vb_buf v, mg, ad;
    vb_buf_init(&v, 64 << 20);
    vb_buf_init(&mg, 64 << 20);
    vb_buf_init(&ad, 1 << 20);
    enum vb_err err = vb_buf_putc(&v, '{');
    int id = 0;
    for (int b = 0; b < 256 && !err; b++) {
        char s[4] = {0}, c = (char)b;
        bpe_to_alphabet(&c, 1, s);
        if (id)
            err = vb_buf_putc(&v, ',');
        if (!err)
            err = json_key(&v, s);
        if (!err)
            err = vb_buf_printf(&v, ":%d", id++);
    }
    if (!err)
        err = vb_buf_printf(&mg, "#version: 0.2\n");
    int made = 0;
    /* level 1: sym[i] + lower[j]; level 2: (sym[i] + lower[j]) + lower[k] */
    for (int i = 0; i < ns && made < n_merges && !err; i++)
        for (int j = 1; j <= 26 && made < n_merges && !err; j++) {
            char s[16];
            snprintf(s, sizeof s, "%.*s%.*s", (int)sym_len[i], sym[i], (int)sym_len[j], sym[j]);
            err =
                vb_buf_printf(&mg, "%.*s %.*s\n", (int)sym_len[i], sym[i], (int)sym_len[j], sym[j]);
            if (!err && !(err = vb_buf_putc(&v, ',')) && !(err = json_key(&v, s)))
                err = vb_buf_printf(&v, ":%d", id++);
            made++;
        }
    for (int i = 0; i < ns && made < n_merges && !err; i++)
        for (int j = 1; j <= 26 && made < n_merges && !err; j++)
            for (int k = 0; k < ns && made < n_merges && !err; k++) {
                char p[16], s[24];
                snprintf(p, sizeof p, "%.*s%.*s", (int)sym_len[i], sym[i], (int)sym_len[j], sym[j]);
                snprintf(s, sizeof s, "%s%.*s", p, (int)sym_len[k], sym[k]);
                err = vb_buf_printf(&mg, "%s %.*s\n", p, (int)sym_len[k], sym[k]);
                if (!err && !(err = vb_buf_putc(&v, ',')) && !(err = json_key(&v, s)))
                    err = vb_buf_printf(&v, ":%d", id++);
                made++;
            }
    if (!err)
        err = vb_buf_printf(&v, ",\"<|endoftext|>\":%d}", id++);
    if (!err)
        err = vb_buf_putc(&ad, '{');
    for (int t = 0; t < 19 && !err; t++)
        err = vb_buf_printf(&ad, "%s\"%s\": %d", t ? ", " : "", tags[t], id++);
    if (!err)
        err = vb_buf_putc(&ad, '}');
    if (err) {
        vb_failf(why, why_cap, err, "tokenizer files: out of memory");
        goto out;
    }
    *n_vocab = id;
    struct vb_buf cfg;
    vb_buf_init(&cfg, 4096);
    err =
        vb_buf_printf(&cfg, "{\"add_bos_token\": false, \"add_prefix_space\": false, "
                            "\"model_max_length\": 1024, \"bos_token\": \"<|endoftext|>\", "
                            "\"eos_token\": \"<|endoftext|>\", \"unk_token\": \"<|endoftext|>\"}");
    if (!err && !(err = write_file(dir, "vocab.json", &v, why, why_cap)) &&
        !(err = write_file(dir, "merges.txt", &mg, why, why_cap)) &&
        !(err = write_file(dir, "added_tokens.json", &ad, why, why_cap)) &&
        !(err = write_file(dir, "tokenizer_config.json", &cfg, why, why_cap))) {
        vb_buf_reset(&cfg);
        err = vb_buf_printf(&cfg, "{\"bos_token\": \"<|endoftext|>\", \"eos_token\": "
                                  "\"<|endoftext|>\", \"unk_token\": \"<|endoftext|>\"}");
        if (!err)
            err = write_file(dir, "special_tokens_map.json", &cfg, why, why_cap);
    }
    vb_buf_release(&cfg);
out:
    vb_buf_release(&v);
    vb_buf_release(&mg);
    vb_buf_release(&ad);
    return err;
}

static enum vb_err write_conds(const char *dir, int n_t3, int n_prompt, uint64_t seed, char *why,
                               size_t why_cap)
{
    struct cb_voice_cond c = {.spk_dim = 256,
                              .n_t3_tokens = n_t3,
                              .xvec_dim = CB_FLOW_SPK_DIM,
                              .n_prompt_tokens = n_prompt,
                              .n_prompt_frames = 2 * n_prompt};
    c.speaker_emb = vb_try_malloc(256 * sizeof(float));
    c.t3_tokens = vb_try_malloc((size_t)n_t3 * sizeof(int64_t) + 8);
    c.xvector = vb_try_malloc(CB_FLOW_SPK_DIM * sizeof(float));
    c.prompt_tokens = vb_try_malloc((size_t)n_prompt * sizeof(int64_t) + 8);
    c.prompt_feat = vb_try_malloc((size_t)c.n_prompt_frames * 80 * sizeof(float) + 8);
    enum vb_err err = VB_OK;
    if (!c.speaker_emb || !c.t3_tokens || !c.xvector || !c.prompt_tokens || !c.prompt_feat) {
        err = vb_failf(why, why_cap, VB_ERR_NOMEM, "out of memory");
        goto out;
    }
    uint64_t s = seed ^ 0xc0d5;
    double norm = 0;
    for (int i = 0; i < 256; i++) { /* VE embeddings are ReLU'd and unit length */
        c.speaker_emb[i] = unif(&s);
        norm += (double)c.speaker_emb[i] * c.speaker_emb[i];
    }
    for (int i = 0; i < 256; i++)
        c.speaker_emb[i] /= (float)sqrt(norm);
    for (int i = 0; i < n_t3; i++)
        c.t3_tokens[i] = (int64_t)(mix(&s) % CB_T3_SPEECH_CODES);
    for (int i = 0; i < CB_FLOW_SPK_DIM; i++)
        c.xvector[i] = 2.0f * unif(&s) - 1.0f;
    for (int i = 0; i < n_prompt; i++)
        c.prompt_tokens[i] = (int64_t)(mix(&s) % CB_T3_SPEECH_CODES);
    for (int i = 0; i < c.n_prompt_frames * 80; i++)
        c.prompt_feat[i] = -8.0f + 6.0f * unif(&s); /* natural-log mel range */
    char path[PATH_CAP];
    snprintf(path, sizeof path, "%s/%s", dir, CB_FILE_CONDS_ST);
    err = cb_voice_cond_save(&c, path, why, why_cap);
out:
    cb_voice_cond_release(&c);
    return err;
}

/* ===== the whole set ===== */

static enum vb_err write_st(struct nn_st_writer *w, const char *dir, const char *file, char *why,
                            size_t why_cap)
{
    char path[PATH_CAP];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    return nn_st_writer_write(w, path, why, why_cap);
}

enum vb_err cb_make_random(const char *dir, bool tiny, uint64_t seed, char *why, size_t why_cap)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return vb_failf(why, why_cap, VB_ERR_IO, "%s: %s", dir, strerror(errno));
    int n_vocab = 0;
    enum vb_err err = write_tokenizer(dir, tiny ? 240 : 50000, &n_vocab, why, why_cap);
    if (err)
        return err;
    struct nn_st_writer *w = NULL;
    struct adder a = {.seed = seed * 1000003u + 17};
    /* T3 */
    struct t3_shape ts = {.n_layer = tiny ? 2 : 24,
                          .n_embd = tiny ? 128 : 1024,
                          .n_positions = tiny ? 1024 : 8196,
                          .text_vocab = tiny ? n_vocab : 50276,
                          .spk_dim = 256};
    if (!tiny && n_vocab != 50276)
        return vb_failf(why, why_cap, VB_ERR_INTERNAL, "tokenizer has %d ids, not 50276", n_vocab);
    /* tiny: the STOP logit raised so random generations end on the stop token after some
     * tens of tokens (~1.6 % a step) instead of always running to the length limit */
    static float bias[CB_T3_SPEECH_STOP + 1];
    uint64_t bs = seed ^ 0xb1a5;
    for (int i = 0; i <= CB_T3_SPEECH_STOP; i++)
        bias[i] = 0.0692f * (unif(&bs) - 0.5f);
    bias[CB_T3_SPEECH_STOP] = 2.5f;
    if ((err = nn_st_writer_new(&w)))
        goto oom;
    a.w = w;
    t3_random(&a, &ts, tiny ? bias : NULL);
    if (a.err || (err = write_st(w, dir, CB_FILE_T3, why, why_cap)))
        goto out;
    nn_st_writer_free(w);
    /* VoiceEncoder */
    if ((err = nn_st_writer_new(&w)))
        goto oom;
    a.w = w;
    if ((a.err = cb_ve_add_random(w, "", 40, tiny ? 64 : 256, tiny ? 1 : 3, 256, a.seed++)) ||
        (err = write_st(w, dir, CB_FILE_VE, why, why_cap)))
        goto out;
    nn_st_writer_free(w);
    /* S3Gen: tokenizer, speaker encoder, flow, HiFT */
    if ((err = nn_st_writer_new(&w)))
        goto oom;
    a.w = w;
    struct cb_s3tok_shape tk = cb_s3tok_real_shape();
    struct cb_campplus_shape cp = cb_campplus_real_shape();
    struct cb_flow_shape fl = cb_flow_real_shape();
    if (tiny) {
        tk.n_state = 128;
        tk.n_layer = 1;
        cp.m_channels = 8;
        cp.init_channels = 32;
        cp.growth_rate = 8;
        cp.layers[0] = cp.layers[1] = cp.layers[2] = 2;
        fl.d_model = 128;
        fl.enc_heads = 2;
        fl.enc_ffn = 256;
        fl.n_enc = 1;
        fl.n_up = 1;
        fl.est_ch = 64;
        fl.est_heads = 1;
        fl.est_head_dim = 64;
        fl.est_blocks = 1;
        fl.est_mid = 1;
    }
    if ((a.err = cb_s3tok_add_random(w, "tokenizer.", &tk, a.seed++)) ||
        (a.err = cb_campplus_add_random(w, "speaker_encoder.", &cp, a.seed++)) ||
        (a.err = cb_flow_add_random(w, "flow.", &fl, a.seed++)))
        goto out;
    hift_random(&a, tiny ? 64 : 512, tiny ? 64 : 512);
    if (a.err || (err = write_st(w, dir, CB_FILE_S3GEN, why, why_cap)))
        goto out;
    /* built-in voice: 15 s of T3 prompt, 10 s of S3Gen prompt (3 s / 2 s when tiny) */
    err = write_conds(dir, tiny ? 75 : 375, tiny ? 50 : 250, seed, why, why_cap);
out:
    if (a.err && !err)
        err = vb_failf(why, why_cap, a.err, "building the random tensors failed (%s)",
                       vb_err_message(a.err));
    nn_st_writer_free(w);
    return err;
oom:
    return vb_failf(why, why_cap, err, "out of memory");
}
