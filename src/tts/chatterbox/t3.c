/* t3.c: Chatterbox-Turbo T3 (GPT-2 backbone + speech head): loading with the Conv1D transpose
 * and optional quantisation, the prefix embeddings, the KV-cached forward pass and the turbo
 * sampling loop (spec §3). */
#include "core/vb.h"
#include "tts/chatterbox/t3.h"
#include "core/alloc.h"
#include "core/log.h"
#include "nn/fp16.h"
#include "nn/attention.h"
#include "nn/gemm.h"
#include "nn/kernels.h"
#include "nn/matmul.h"
#include "nn/matmul_amx.h"
#include "nn/ops.h"
#include "nn/quant.h"
#include "nn/safetensors.h"
#include "nn/safetensors_write.h"
#include "nn/threadpool.h"

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#if defined(__x86_64__) || defined(__i386__)
#    include <immintrin.h>
#    define T3_HAVE_AVX2_HEAD 1
#    define T3_MAX_D8         32 /* head_dim / 8 limit of the AVX2 attention kernel */
#endif
#include <sys/mman.h>
#include <unistd.h>

/* A weight matrix of n_out rows of n_in: F32/F16 as packed GEMM panels (fast batched prefill),
 * other types as ggml-layout rows for nn_matmul. */
struct t3_mat {
    struct nn_tensor t; /* shape, type; data set for the nn_matmul layout */
    float *pk;          /* F32 packed panels, or NULL */
    uint16_t *pk16;     /* F16 packed panels, or NULL */
};

struct cb_t3_layer {
    float *ln1_w, *ln1_b, *ln2_w, *ln2_b; /* (E) */
    struct t3_mat qkv;                    /* c_attn transposed: 3E rows of E (Q | K | V) */
    float *qkv_b;                         /* (3E) */
    struct t3_mat proj;                   /* attn.c_proj transposed: E rows of E */
    float *proj_b;                        /* (E) */
    struct t3_mat fc;                     /* mlp.c_fc transposed: 4E rows of E */
    float *fc_b;                          /* (4E) */
    struct t3_mat fc_proj;                /* mlp.c_proj transposed: E rows of 4E */
    float *fc_proj_b;                     /* (E) */
};

struct cb_t3_model {
    struct cb_t3_config cfg;
    struct nn_safetensors *st; /* owned: the embedding tables are gathered from it */
    const struct nn_st_tensor *text_emb, *speech_emb, *wpe; /* (V_text|V_speech|n_pos, E) */
    float *spk_w, *spk_b;       /* cond_enc.spkr_enc: (E, S) output-major, (E) */
    float *lnf_w, *lnf_b;       /* (E) */
    struct cb_t3_layer *layers; /* n_layer */
    struct t3_mat head;         /* speech_head: V_speech rows of E */
    float *head_b;              /* (V_speech) */
    size_t weight_bytes;
    int n_fallback;         /* matrices kept in F32: n_in not a multiple of the wtype's block */
    char fallback[512];     /* their names, comma-separated (truncated with "...") */
    bool drop_source_pages; /* loading from a file mapping: release converted pages */
};

struct cb_t3_config cb_t3_default_config(void)
{
    return (struct cb_t3_config){
        .n_layer = 24,
        .n_embd = 1024,
        .n_head = 16,
        .n_positions = 8196,
        .text_vocab = 50276,
        .speech_vocab = 6563,
        .spk_dim = 256,
        .ln_eps = 1e-5f,
        .wtype = NN_TYPE_F32,
    };
}

bool cb_t3_wtype_parse(const char *s, enum nn_type *out)
{
    for (int t = 0; s && t < NN_TYPE_COUNT; t++) {
        const struct nn_type_info *ti = nn_type_info(t);
        if (ti && ti->name && ti->matmul && strcmp(s, ti->name) == 0) {
            *out = (enum nn_type)t;
            return true;
        }
    }
    return false;
}

/* ===== loading ===== */

static enum vb_err failf(char *why, size_t cap, enum vb_err err, const char *fmt, ...)
    VB_PRINTF(4, 5);
static enum vb_err failf(char *why, size_t cap, enum vb_err err, const char *fmt, ...)
{
    if (why && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, cap, fmt, ap);
        va_end(ap);
    }
    return err;
}

static bool is_float_dtype(enum nn_st_dtype d)
{
    return d == NN_ST_F32 || d == NN_ST_F16 || d == NN_ST_BF16 || d == NN_ST_F64;
}

/* Finds `name` and checks it is a float tensor of the given shape. */
static enum vb_err find_tensor(struct nn_safetensors *st, const char *name, int n_dims, int64_t d0,
                               int64_t d1, const struct nn_st_tensor **out, char *why, size_t cap)
{
    const struct nn_st_tensor *t = nn_st_find(st, name);
    if (!t)
        return failf(why, cap, VB_ERR_FORMAT, "T3 weights: missing tensor %s", name);
    int64_t shape[2] = {d0, d1};
    enum vb_err err =
        nn_st_expect(t, is_float_dtype(t->dtype) ? t->dtype : NN_ST_F32, n_dims, shape, why, cap);
    if (err != VB_OK)
        return VB_ERR_FORMAT;
    *out = t;
    return VB_OK;
}

/* Drops the pages of a converted tensor from this process's resident set (file mappings
 * only: the data stays in the page cache and is re-read if touched again), so loading peaks
 * at the converted size rather than converted + source. */
static void drop_pages(const struct cb_t3_model *m, const struct nn_st_tensor *t)
{
    if (!m->drop_source_pages || t->nbytes == 0)
        return;
    const uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)t->data + pg - 1) & ~(pg - 1);
    uintptr_t b = ((uintptr_t)t->data + t->nbytes) & ~(pg - 1);
    if (b > a)
        (void)madvise((void *)a, b - a, MADV_DONTNEED);
}

/* Loads a float vector/matrix as an owned f32 copy. */
static enum vb_err load_f32(struct cb_t3_model *m, struct nn_safetensors *st, const char *name,
                            int n_dims, int64_t d0, int64_t d1, float **out, char *why, size_t cap)
{
    const struct nn_st_tensor *t;
    enum vb_err err = find_tensor(st, name, n_dims, d0, d1, &t, why, cap);
    if (err != VB_OK)
        return err;
    size_t n = (size_t)nn_st_numel(t);
    float *p = vb_try_malloc(n * sizeof *p);
    if (!p)
        return failf(why, cap, VB_ERR_NOMEM, "T3 weights: out of memory for %s", name);
    if (nn_st_to_f32(t, p, n) != VB_OK) {
        vb_free(p);
        return failf(why, cap, VB_ERR_FORMAT, "T3 weights: cannot convert %s", name);
    }
    m->weight_bytes += n * sizeof *p;
    *out = p;
    return VB_OK;
}

#define TILE                32 /* output rows transposed together at load */
#define CB_T3_GEMM_MIN_ROWS 16 /* batches this large use the GEMM for quantised weights too */
#define Q_GROUP             32 /* weight rows dequantised per unit of that GEMM */

/* Records a matrix that stays F32 although another weight type was asked for. */
static void note_fallback(struct cb_t3_model *m, const char *name)
{
    const size_t len = strlen(m->fallback), cap = sizeof m->fallback;
    if (len + strlen(name) + 6 < cap)
        snprintf(m->fallback + len, cap - len, "%s%s", len ? ", " : "", name);
    else if (len + 5 < cap && strcmp(m->fallback + len - 3, "...") != 0)
        snprintf(m->fallback + len, cap - len, ", ...");
    m->n_fallback++;
}

/* Builds an owned matrix of n_out rows of n_in from a float tensor, either stored input-major
 * [n_in, n_out] (GPT-2 Conv1D) or output-major [n_out, n_in]. */
static enum vb_err load_matrix(struct cb_t3_model *m, struct nn_safetensors *st, const char *name,
                               int64_t n_in, int64_t n_out, bool input_major, struct t3_mat *out,
                               char *why, size_t cap)
{
    const struct nn_st_tensor *t;
    enum vb_err err = input_major ? find_tensor(st, name, 2, n_in, n_out, &t, why, cap)
                                  : find_tensor(st, name, 2, n_out, n_in, &t, why, cap);
    if (err != VB_OK)
        return err;
    enum nn_type type = m->cfg.wtype;
    const struct nn_type_info *ti = nn_type_info((int)type);
    if (!ti || !ti->matmul || n_in % ti->block != 0) {
        type = NN_TYPE_F32;
        note_fallback(m, name);
    }
    const size_t n = (size_t)(n_in * n_out);
    const size_t row_bytes = nn_row_bytes((int)type, n_in);
    const size_t n_pk = nn_gemm_packed_floats((int)n_in, (int)n_out);
    float *src = vb_try_malloc(n * sizeof *src), *tr = NULL;
    *out = (struct t3_mat){
        .t = {.name = t->name,
              .type = type,
              .n_dims = 2,
              .ne = {n_in, n_out, 1, 1},
              .row_bytes = row_bytes,
              .nbytes = row_bytes * (size_t)n_out},
    };
    err = failf(why, cap, VB_ERR_NOMEM, "T3 weights: out of memory for %s", name);
    if (!src)
        goto out;
    if (nn_st_to_f32(t, src, n) != VB_OK) {
        err = failf(why, cap, VB_ERR_FORMAT, "T3 weights: cannot convert %s", name);
        goto out;
    }
    if (type == NN_TYPE_F32) {
        if (!(out->pk = vb_try_malloc(n_pk * sizeof(float))))
            goto out;
        if (input_major)
            nn_gemm_pack_t(out->pk, src, (int)n_in, (int)n_out, n_out);
        else
            nn_gemm_pack(out->pk, src, (int)n_in, (int)n_out, n_in);
        m->weight_bytes += n_pk * sizeof(float);
    } else {
        /* output-major rows: transposed TILE rows at a time so reads use whole cache lines */
        const float *rows = src;
        if (input_major) {
            if (!(tr = vb_try_malloc(n * sizeof *tr)))
                goto out;
            for (int64_t r0 = 0; r0 < n_out; r0 += TILE) {
                const int64_t nr = VB_MIN((int64_t)TILE, n_out - r0);
                for (int64_t i = 0; i < n_in; i++)
                    for (int64_t k = 0; k < nr; k++)
                        tr[(r0 + k) * n_in + i] = src[i * n_out + r0 + k];
            }
            rows = tr;
        }
        if (type == NN_TYPE_F16) {
            if (!(out->pk16 = vb_try_malloc(n_pk * sizeof(uint16_t))))
                goto out;
            nn_gemm_pack_f16(out->pk16, rows, (int)n_in, (int)n_out, n_in);
            m->weight_bytes += n_pk * sizeof(uint16_t);
        } else {
            uint8_t *dst = vb_try_malloc(row_bytes * (size_t)n_out);
            if (!dst)
                goto out;
            out->t.data = dst;
            for (int64_t r = 0; r < n_out; r++)
                if (!nn_quantize_row(type, rows + r * n_in, dst + (size_t)r * row_bytes, n_in)) {
                    err = failf(why, cap, VB_ERR_FORMAT, "T3 weights: cannot quantise %s", name);
                    goto out;
                }
            m->weight_bytes += out->t.nbytes;
        }
    }
    drop_pages(m, t);
    err = VB_OK;
out:
    vb_free(src);
    vb_free(tr);
    return err;
}

static void mat_release(struct t3_mat *w)
{
    vb_free((void *)w->t.data);
    vb_free(w->pk);
    vb_free(w->pk16);
    *w = (struct t3_mat){0};
}

static bool config_valid(const struct cb_t3_config *c)
{
    return c->n_layer > 0 && c->n_layer <= 1024 && c->n_embd > 0 && c->n_embd <= 65536 &&
           c->n_head > 0 && c->n_embd % c->n_head == 0 && c->n_positions > 0 && c->text_vocab > 0 &&
           c->speech_vocab > CB_T3_SPEECH_STOP && c->spk_dim > 0 && c->ln_eps > 0;
}

/* st_conv: where the matrices are converted from; the model takes ownership of st_keep (the
 * embedding tables stay mapped from it). Both may be the same object. */
static enum vb_err load_from(struct nn_safetensors *st_conv, struct nn_safetensors *st_keep,
                             const struct cb_t3_config *cfg, struct cb_t3_model **out, char *why,
                             size_t cap)
{
    *out = NULL;
    struct cb_t3_model *m = vb_xcalloc(1, sizeof *m);
    m->drop_source_pages = st_conv != st_keep;
    m->cfg = cfg ? *cfg : cb_t3_default_config();
    m->st = st_keep;
    enum vb_err err;
    const struct cb_t3_config *c = &m->cfg;
    if (!config_valid(c)) {
        err = failf(why, cap, VB_ERR_INVALID, "T3: invalid configuration");
        goto out;
    }
    const int64_t E = c->n_embd;
    m->layers = vb_try_calloc((size_t)c->n_layer, sizeof *m->layers);
    if (!m->layers) {
        err = VB_ERR_NOMEM;
        goto out;
    }
    /* embedding tables: validated here, gathered row by row later */
    if ((err = find_tensor(st_keep, "text_emb.weight", 2, c->text_vocab, E, &m->text_emb, why,
                           cap)) != VB_OK ||
        (err = find_tensor(st_keep, "speech_emb.weight", 2, c->speech_vocab, E, &m->speech_emb, why,
                           cap)) != VB_OK ||
        (err = find_tensor(st_keep, "tfmr.wpe.weight", 2, c->n_positions, E, &m->wpe, why, cap)) !=
            VB_OK)
        goto out;
    if ((err = load_f32(m, st_conv, "cond_enc.spkr_enc.weight", 2, E, c->spk_dim, &m->spk_w, why,
                        cap)) != VB_OK ||
        (err = load_f32(m, st_conv, "cond_enc.spkr_enc.bias", 1, E, 0, &m->spk_b, why, cap)) !=
            VB_OK ||
        (err = load_f32(m, st_conv, "tfmr.ln_f.weight", 1, E, 0, &m->lnf_w, why, cap)) != VB_OK ||
        (err = load_f32(m, st_conv, "tfmr.ln_f.bias", 1, E, 0, &m->lnf_b, why, cap)) != VB_OK ||
        (err = load_matrix(m, st_conv, "speech_head.weight", E, c->speech_vocab, false, &m->head,
                           why, cap)) != VB_OK ||
        (err = load_f32(m, st_conv, "speech_head.bias", 1, c->speech_vocab, 0, &m->head_b, why,
                        cap)) != VB_OK)
        goto out;
    for (int l = 0; l < c->n_layer; l++) {
        struct cb_t3_layer *L = &m->layers[l];
        char n[12][96];
        static const char *const suffix[12] = {
            "ln_1.weight",        "ln_1.bias",        "attn.c_attn.weight", "attn.c_attn.bias",
            "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight",        "ln_2.bias",
            "mlp.c_fc.weight",    "mlp.c_fc.bias",    "mlp.c_proj.weight",  "mlp.c_proj.bias",
        };
        for (int i = 0; i < 12; i++)
            snprintf(n[i], sizeof n[i], "tfmr.h.%d.%s", l, suffix[i]);
        if ((err = load_f32(m, st_conv, n[0], 1, E, 0, &L->ln1_w, why, cap)) != VB_OK ||
            (err = load_f32(m, st_conv, n[1], 1, E, 0, &L->ln1_b, why, cap)) != VB_OK ||
            (err = load_matrix(m, st_conv, n[2], E, 3 * E, true, &L->qkv, why, cap)) != VB_OK ||
            (err = load_f32(m, st_conv, n[3], 1, 3 * E, 0, &L->qkv_b, why, cap)) != VB_OK ||
            (err = load_matrix(m, st_conv, n[4], E, E, true, &L->proj, why, cap)) != VB_OK ||
            (err = load_f32(m, st_conv, n[5], 1, E, 0, &L->proj_b, why, cap)) != VB_OK ||
            (err = load_f32(m, st_conv, n[6], 1, E, 0, &L->ln2_w, why, cap)) != VB_OK ||
            (err = load_f32(m, st_conv, n[7], 1, E, 0, &L->ln2_b, why, cap)) != VB_OK ||
            (err = load_matrix(m, st_conv, n[8], E, 4 * E, true, &L->fc, why, cap)) != VB_OK ||
            (err = load_f32(m, st_conv, n[9], 1, 4 * E, 0, &L->fc_b, why, cap)) != VB_OK ||
            (err = load_matrix(m, st_conv, n[10], 4 * E, E, true, &L->fc_proj, why, cap)) !=
                VB_OK ||
            (err = load_f32(m, st_conv, n[11], 1, E, 0, &L->fc_proj_b, why, cap)) != VB_OK)
            goto out;
    }
    /* one layer more than configured means the configuration is wrong, not the file */
    char extra[64];
    snprintf(extra, sizeof extra, "tfmr.h.%d.ln_1.weight", c->n_layer);
    if (nn_st_find(st_conv, extra)) {
        err =
            failf(why, cap, VB_ERR_FORMAT, "T3 weights: file has more than %d layers", c->n_layer);
        goto out;
    }
    if (m->n_fallback)
        vb_warn("T3 weights: %d matrices stay f32 (input width not a multiple of the %s block "
                "of %d): %s",
                m->n_fallback, nn_type_name((int)c->wtype), nn_type_info((int)c->wtype)->block,
                m->fallback);
    err = VB_OK;
    *out = m;
out:
    if (err != VB_OK)
        cb_t3_free(m);
    return err;
}

enum vb_err cb_t3_add_random(struct nn_st_writer *w, const char *prefix,
                             const struct cb_t3_config *cfg, uint64_t seed)
{
    if (!cfg || !config_valid(cfg))
        return VB_ERR_INVALID;
    if (!prefix)
        prefix = "";
    const int64_t E = cfg->n_embd;
    const float a = 0.0346f; /* uniform +-a has std 0.02 */
    char name[256];
    enum vb_err err = VB_OK;
#define T3_RND(nd, d0, d1, lo, hi, fmt, ...)                                                       \
    do {                                                                                           \
        if (err != VB_OK)                                                                          \
            break;                                                                                 \
        snprintf(name, sizeof name, "%s" fmt, prefix, __VA_ARGS__);                                \
        const int64_t shape_[2] = {d0, d1};                                                        \
        err = (lo) == (hi) ? nn_st_writer_add_const(w, name, nd, shape_, lo)                       \
                           : nn_st_writer_add_uniform(w, name, nd, shape_, lo, hi, seed++);        \
    } while (0)
    T3_RND(2, cfg->text_vocab, E, -a, a, "%s", "tfmr.wte.weight");
    T3_RND(2, cfg->n_positions, E, -a, a, "%s", "tfmr.wpe.weight");
    for (int l = 0; l < cfg->n_layer; l++) {
        T3_RND(1, E, 0, 1.0f, 1.0f, "tfmr.h.%d.ln_1.weight", l);
        T3_RND(1, E, 0, 0.0f, 0.0f, "tfmr.h.%d.ln_1.bias", l);
        T3_RND(2, E, 3 * E, -a, a, "tfmr.h.%d.attn.c_attn.weight", l);
        T3_RND(1, 3 * E, 0, 0.0f, 0.0f, "tfmr.h.%d.attn.c_attn.bias", l);
        T3_RND(2, E, E, -a, a, "tfmr.h.%d.attn.c_proj.weight", l);
        T3_RND(1, E, 0, 0.0f, 0.0f, "tfmr.h.%d.attn.c_proj.bias", l);
        T3_RND(1, E, 0, 1.0f, 1.0f, "tfmr.h.%d.ln_2.weight", l);
        T3_RND(1, E, 0, 0.0f, 0.0f, "tfmr.h.%d.ln_2.bias", l);
        T3_RND(2, E, 4 * E, -a, a, "tfmr.h.%d.mlp.c_fc.weight", l);
        T3_RND(1, 4 * E, 0, 0.0f, 0.0f, "tfmr.h.%d.mlp.c_fc.bias", l);
        T3_RND(2, 4 * E, E, -a, a, "tfmr.h.%d.mlp.c_proj.weight", l);
        T3_RND(1, E, 0, 0.0f, 0.0f, "tfmr.h.%d.mlp.c_proj.bias", l);
    }
    T3_RND(1, E, 0, 1.0f, 1.0f, "%s", "tfmr.ln_f.weight");
    T3_RND(1, E, 0, 0.0f, 0.0f, "%s", "tfmr.ln_f.bias");
    T3_RND(2, cfg->text_vocab, E, -a, a, "%s", "text_emb.weight");
    T3_RND(2, cfg->text_vocab, E, -a, a, "%s", "text_head.weight");
    T3_RND(2, cfg->speech_vocab, E, -a, a, "%s", "speech_emb.weight");
    T3_RND(2, cfg->speech_vocab, E, -a, a, "%s", "speech_head.weight");
    T3_RND(1, cfg->speech_vocab, 0, 0.0f, 0.0f, "%s", "speech_head.bias");
    T3_RND(2, E, cfg->spk_dim, -a, a, "%s", "cond_enc.spkr_enc.weight");
    T3_RND(1, E, 0, 0.0f, 0.0f, "%s", "cond_enc.spkr_enc.bias");
#undef T3_RND
    return err;
}

enum vb_err cb_t3_load(const char *path, const struct cb_t3_config *cfg, struct cb_t3_model **out,
                       char *why, size_t why_cap)
{
    *out = NULL;
    struct nn_safetensors *conv = NULL, *keep = NULL;
    /* Two mappings: the one the matrices are converted from is unmapped after loading so its
     * pages leave the resident set; the second only ever touches the gathered embedding rows. */
    enum vb_err err = nn_st_open(path, &conv, why, why_cap);
    if (err != VB_OK)
        return err;
    err = nn_st_open(path, &keep, why, why_cap);
    if (err != VB_OK) {
        nn_st_close(conv);
        return err;
    }
    err = load_from(conv, keep, cfg, out, why, why_cap); /* takes keep */
    nn_st_close(conv);
    return err;
}

enum vb_err cb_t3_load_memory(const void *data, size_t len, const struct cb_t3_config *cfg,
                              struct cb_t3_model **out, char *why, size_t why_cap)
{
    *out = NULL;
    struct nn_safetensors *st = NULL;
    enum vb_err err = nn_st_open_memory(data, len, &st, why, why_cap);
    if (err != VB_OK)
        return err;
    return load_from(st, st, cfg, out, why, why_cap);
}

void cb_t3_free(struct cb_t3_model *m)
{
    if (!m)
        return;
    if (m->layers) {
        for (int l = 0; l < m->cfg.n_layer; l++) {
            struct cb_t3_layer *L = &m->layers[l];
            vb_free(L->ln1_w);
            vb_free(L->ln1_b);
            vb_free(L->ln2_w);
            vb_free(L->ln2_b);
            mat_release(&L->qkv);
            vb_free(L->qkv_b);
            mat_release(&L->proj);
            vb_free(L->proj_b);
            mat_release(&L->fc);
            vb_free(L->fc_b);
            mat_release(&L->fc_proj);
            vb_free(L->fc_proj_b);
        }
        vb_free(m->layers);
    }
    vb_free(m->spk_w);
    vb_free(m->spk_b);
    vb_free(m->lnf_w);
    vb_free(m->lnf_b);
    mat_release(&m->head);
    vb_free(m->head_b);
    nn_st_close(m->st);
    vb_free(m);
}

const struct cb_t3_config *cb_t3_model_config(const struct cb_t3_model *m)
{
    return &m->cfg;
}

size_t cb_t3_model_weight_bytes(const struct cb_t3_model *m)
{
    return m->weight_bytes;
}

int cb_t3_model_f32_fallbacks(const struct cb_t3_model *m)
{
    return m->n_fallback;
}

/* ===== prefix ===== */

/* Row `row` of a float embedding table into out (n_embd floats). */
static bool gather_row(const struct nn_st_tensor *t, int64_t row, float *out)
{
    if (row < 0 || row >= t->shape[0])
        return false;
    struct nn_st_tensor r = *t;
    size_t es = nn_st_dtype_size(t->dtype);
    r.n_dims = 1;
    r.shape[0] = t->shape[1];
    r.nbytes = (size_t)t->shape[1] * es;
    r.data = (const uint8_t *)t->data + (size_t)row * r.nbytes;
    return nn_st_to_f32(&r, out, (size_t)t->shape[1]) == VB_OK;
}

int cb_t3_prefix_len(int n_prompt, int n_text)
{
    return n_prompt + n_text + 2;
}

enum vb_err cb_t3_embed_prefix(const struct cb_t3_model *m, const float *spk_emb,
                               const int32_t *prompt, int n_prompt, const int32_t *text, int n_text,
                               float *out)
{
    const int64_t E = m->cfg.n_embd, S = m->cfg.spk_dim;
    if (n_prompt < 0 || n_text < 0)
        return VB_ERR_INVALID;
    /* 1. speaker row: spkr_enc(spk_emb) */
    for (int64_t e = 0; e < E; e++) {
        const float *w = m->spk_w + e * S;
        float s = 0;
        for (int64_t i = 0; i < S; i++)
            s += w[i] * spk_emb[i];
        out[e] = s + m->spk_b[e];
    }
    float *row = out + E;
    /* 2. prompt speech tokens, 3. text tokens, 4. START */
    for (int i = 0; i < n_prompt; i++, row += E)
        if (prompt[i] < 0 || !gather_row(m->speech_emb, prompt[i], row))
            return VB_ERR_INVALID;
    for (int i = 0; i < n_text; i++, row += E)
        if (text[i] < 0 || !gather_row(m->text_emb, text[i], row))
            return VB_ERR_INVALID;
    if (!gather_row(m->speech_emb, CB_T3_SPEECH_START, row))
        return VB_ERR_INVALID;
    return VB_OK;
}

enum vb_err cb_t3_embed_speech(const struct cb_t3_model *m, int32_t token, float *out)
{
    return token >= 0 && gather_row(m->speech_emb, token, out) ? VB_OK : VB_ERR_INVALID;
}

/* ===== context and forward pass ===== */

struct cb_t3_ctx {
    const struct cb_t3_model *m;
    struct nn_pool *pool;
    bool own_pool;
    int n_ctx, n_batch, n_past, n_threads;
    bool kv_f16;
    float *k_cache, *v_cache;     /* f32 cache: (n_layer, n_ctx, E) each */
    uint16_t *k16;                /* f16 cache: K (n_layer, n_ctx, E) */
    uint16_t *v16;                /* f16 cache: V (n_layer, n_ctx, E) */
    const struct nn_kernel *kf16; /* f32 -> f16 conversion */
    bool attn_avx2;               /* the AVX2/F16C head kernel applies */
    bool attn_avx512;             /* the AVX-512 position-major kernel applies */
    /* f16 cache, batches of >= CB_T3_GEMM_MIN_ROWS rows: attention through nn_mha (GEMMs;
     * bf16 on AMX for quantised weights) over the layer's cache rows widened to F32 */
    float *kv32; /* (2, kv32_rows, E): K rows then V rows, grown on demand */
    int kv32_rows;
    float *mha_work; /* nn_mha scratch, grown on demand */
    size_t mha_work_n;
    float *x;        /* (n_batch, E) residual stream */
    float *xb, *xb2; /* (n_batch, E) */
    float *qkv;      /* (n_batch, 3E) fused projections; Q read in place */
    float *att;      /* (n_batch, E) */
    float *hb;       /* (n_batch, 4E) */
    float *pos;      /* (E) one wpe row */
    float *work;     /* (n_threads, n_ctx) attention scores */
    float *logits;   /* (V) raw logits of the current step */
    float *proc;     /* (V) processed logits */
    float *pwork;    /* (V + n_ctx) processor scratch */
    float *emb;      /* (n_ctx, E) prefix / step embeddings */
    /* Quantised weights without nn_matmul_amx_rows for their type: a batch of >=
     * CB_T3_GEMM_MIN_ROWS rows runs through the F32 GEMM on panels of Q_GROUP weight rows that
     * each thread dequantises on the fly. */
    float *q_pk;   /* (n_threads) panels of Q_GROUP rows of up to 4E inputs */
    float *q_rows; /* (n_threads, Q_GROUP, 4E) dequantised rows */
    struct nn_scratch scratch;
    /* The conditioning rows [speaker | prompt] still valid in the cache (positions
     * 0..cond_rows-1; 0 = none) and what produced them: a later generation with the same
     * voice reuses them instead of recomputing ~376 rows. */
    int cond_rows;
    float *cond_spk;      /* (spk_dim) */
    int32_t *cond_prompt; /* (n_ctx) */
};

struct cb_t3_ctx_params cb_t3_ctx_default_params(void)
{
    return (struct cb_t3_ctx_params){
        .n_ctx = 0, .n_batch = 0, .n_threads = 0, .kv_f16 = true, .pool = NULL};
}

enum vb_err cb_t3_ctx_new(const struct cb_t3_model *m, const struct cb_t3_ctx_params *p,
                          struct cb_t3_ctx **out)
{
    *out = NULL;
    const struct cb_t3_config *cfg = &m->cfg;
    struct cb_t3_ctx *c = vb_xcalloc(1, sizeof *c);
    c->m = m;
    c->n_ctx = p && p->n_ctx > 0 ? p->n_ctx : 2560;
    c->n_ctx = VB_MIN(c->n_ctx, cfg->n_positions);
    c->n_batch = p && p->n_batch > 0 ? p->n_batch : 512;
    c->n_batch = VB_MIN(c->n_batch, c->n_ctx);
    c->n_threads = nn_threads_default(p ? p->n_threads : 0);
    enum vb_err err = VB_OK;
    if (p && p->pool) {
        c->pool = p->pool;
        c->n_threads = nn_pool_threads(p->pool);
    } else {
        err = nn_pool_new(c->n_threads, &c->pool);
        if (err != VB_OK)
            goto out;
        c->own_pool = true;
    }
    err = VB_ERR_NOMEM;
    const size_t E = (size_t)cfg->n_embd, B = (size_t)c->n_batch, V = (size_t)cfg->speech_vocab;
    const size_t kv = (size_t)cfg->n_layer * (size_t)c->n_ctx * E;
    c->kv_f16 = p ? p->kv_f16 : true;
    c->kf16 = nn_kernel_for(NN_TYPE_F16);
    if (!c->kf16 || !c->kf16->from_float)
        c->kv_f16 = false;
#ifdef T3_HAVE_AVX2_HEAD
    {
        const int D = cfg->n_embd / cfg->n_head;
        c->attn_avx2 = nn_kernels_isa() >= NN_ISA_AVX2 && D % 8 == 0 && D / 8 <= T3_MAX_D8;
        c->attn_avx512 = nn_kernels_isa() >= NN_ISA_AVX512 && D % 16 == 0 && D / 16 <= 4;
    }
#endif
    if (c->kv_f16) {
        c->k16 = vb_try_calloc(kv, sizeof(uint16_t));
        c->v16 = vb_try_calloc(kv, sizeof(uint16_t));
        if (!c->k16 || !c->v16)
            goto out;
    } else {
        c->k_cache = vb_try_calloc(kv, sizeof(float));
        c->v_cache = vb_try_calloc(kv, sizeof(float));
        if (!c->k_cache || !c->v_cache)
            goto out;
    }
    c->x = vb_try_malloc(B * E * sizeof(float));
    c->xb = vb_try_malloc(B * E * sizeof(float));
    c->xb2 = vb_try_malloc(B * E * sizeof(float));
    c->qkv = vb_try_malloc(B * 3 * E * sizeof(float));
    c->att = vb_try_malloc(B * E * sizeof(float));
    c->hb = vb_try_malloc(B * 4 * E * sizeof(float));
    c->pos = vb_try_malloc(E * sizeof(float));
    c->work = vb_try_malloc((size_t)c->n_threads * (size_t)cfg->n_head * (size_t)c->n_ctx *
                            sizeof(float));
    c->logits = vb_try_malloc(V * sizeof(float));
    c->proc = vb_try_malloc(V * sizeof(float));
    c->pwork = vb_try_malloc((V + (size_t)c->n_ctx) * sizeof(float));
    c->emb = vb_try_malloc((size_t)c->n_ctx * E * sizeof(float));
    if (cfg->wtype != NN_TYPE_F32 && cfg->wtype != NN_TYPE_F16 &&
        !nn_matmul_amx_supported(cfg->wtype)) {
        const size_t F = 4 * E;
        c->q_pk = vb_try_malloc((size_t)c->n_threads * nn_gemm_packed_floats((int)F, Q_GROUP) *
                                sizeof(float));
        c->q_rows = vb_try_malloc((size_t)c->n_threads * Q_GROUP * F * sizeof(float));
        if (!c->q_pk || !c->q_rows)
            goto out;
    }
    c->cond_spk = vb_try_malloc((size_t)cfg->spk_dim * sizeof(float));
    c->cond_prompt = vb_try_malloc((size_t)c->n_ctx * sizeof(int32_t));
    if (!c->x || !c->xb || !c->xb2 || !c->qkv || !c->att || !c->hb || !c->pos || !c->work ||
        !c->logits || !c->proc || !c->pwork || !c->emb || !c->cond_spk || !c->cond_prompt)
        goto out;
    err = VB_OK;
    *out = c;
out:
    if (err != VB_OK)
        cb_t3_ctx_free(c);
    return err;
}

void cb_t3_ctx_free(struct cb_t3_ctx *c)
{
    if (!c)
        return;
    if (c->own_pool)
        nn_pool_free(c->pool);
    vb_free(c->k_cache);
    vb_free(c->v_cache);
    vb_free(c->k16);
    vb_free(c->v16);
    vb_free(c->x);
    vb_free(c->xb);
    vb_free(c->xb2);
    vb_free(c->qkv);
    vb_free(c->att);
    vb_free(c->hb);
    vb_free(c->pos);
    vb_free(c->work);
    vb_free(c->logits);
    vb_free(c->proc);
    vb_free(c->pwork);
    vb_free(c->emb);
    vb_free(c->q_pk);
    vb_free(c->kv32);
    vb_free(c->mha_work);
    vb_free(c->q_rows);
    vb_free(c->cond_spk);
    vb_free(c->cond_prompt);
    nn_scratch_release(&c->scratch);
    vb_free(c);
}

int cb_t3_ctx_n_ctx(const struct cb_t3_ctx *c)
{
    return c->n_ctx;
}

int cb_t3_ctx_n_past(const struct cb_t3_ctx *c)
{
    return c->n_past;
}

void cb_t3_ctx_reset(struct cb_t3_ctx *c)
{
    c->n_past = 0;
}

int cb_t3_ctx_cond_cached(const struct cb_t3_ctx *c)
{
    return c->cond_rows;
}

/* Snapshot layout: header, speaker embedding (spk_dim f32), prompt tokens (cond_rows - 1
 * i32), then per layer the K rows and the V rows of positions 0..cond_rows-1 (f16 or f32 as
 * the cache). Native byte order: for the same process or machine, not a file format. */
struct cond_header {
    uint32_t magic, version;
    int32_t n_layer, n_embd, spk_dim, wtype, kv_f16, cond_rows;
};
#define COND_MAGIC 0x43335454u /* "TT3C" */

static size_t cond_rows_bytes(const struct cb_t3_ctx *c, int rows)
{
    const struct cb_t3_config *cfg = &c->m->cfg;
    return sizeof(struct cond_header) + (size_t)cfg->spk_dim * sizeof(float) +
           (size_t)(rows > 0 ? rows - 1 : 0) * sizeof(int32_t) +
           (size_t)cfg->n_layer * 2 * (size_t)rows * (size_t)cfg->n_embd *
               (c->kv_f16 ? sizeof(uint16_t) : sizeof(float));
}

size_t cb_t3_ctx_cond_bytes(const struct cb_t3_ctx *c)
{
    return c->cond_rows > 0 ? cond_rows_bytes(c, c->cond_rows) : 0;
}

/* Copies the K and V rows 0..rows-1 of every layer between the cache and p (to the cache
 * when `in`), returning the advanced pointer. */
static uint8_t *cond_copy_kv(struct cb_t3_ctx *c, uint8_t *p, int rows, bool in)
{
    const struct cb_t3_config *cfg = &c->m->cfg;
    const size_t es = c->kv_f16 ? sizeof(uint16_t) : sizeof(float);
    const size_t layer = (size_t)c->n_ctx * (size_t)cfg->n_embd * es;
    const size_t n = (size_t)rows * (size_t)cfg->n_embd * es;
    uint8_t *k = c->kv_f16 ? (uint8_t *)c->k16 : (uint8_t *)c->k_cache;
    uint8_t *v = c->kv_f16 ? (uint8_t *)c->v16 : (uint8_t *)c->v_cache;
    for (int l = 0; l < cfg->n_layer; l++) {
        uint8_t *kl = k + (size_t)l * layer, *vl = v + (size_t)l * layer;
        memcpy(in ? kl : p, in ? p : kl, n);
        p += n;
        memcpy(in ? vl : p, in ? p : vl, n);
        p += n;
    }
    return p;
}

enum vb_err cb_t3_ctx_cond_export(struct cb_t3_ctx *c, void *buf, size_t cap, size_t *len)
{
    *len = 0;
    const struct cb_t3_config *cfg = &c->m->cfg;
    if (c->cond_rows <= 0)
        return VB_ERR_NOT_FOUND;
    const size_t need = cond_rows_bytes(c, c->cond_rows);
    if (cap < need)
        return VB_ERR_TOO_LARGE;
    struct cond_header h = {
        .magic = COND_MAGIC,
        .version = 1,
        .n_layer = cfg->n_layer,
        .n_embd = cfg->n_embd,
        .spk_dim = cfg->spk_dim,
        .wtype = (int32_t)cfg->wtype,
        .kv_f16 = c->kv_f16,
        .cond_rows = c->cond_rows,
    };
    uint8_t *p = buf;
    memcpy(p, &h, sizeof h);
    p += sizeof h;
    memcpy(p, c->cond_spk, (size_t)cfg->spk_dim * sizeof(float));
    p += (size_t)cfg->spk_dim * sizeof(float);
    memcpy(p, c->cond_prompt, (size_t)(c->cond_rows - 1) * sizeof(int32_t));
    p += (size_t)(c->cond_rows - 1) * sizeof(int32_t);
    cond_copy_kv(c, p, c->cond_rows, false);
    *len = need;
    return VB_OK;
}

enum vb_err cb_t3_ctx_cond_import(struct cb_t3_ctx *c, const void *buf, size_t len)
{
    const struct cb_t3_config *cfg = &c->m->cfg;
    struct cond_header h;
    if (len < sizeof h)
        return VB_ERR_INVALID;
    memcpy(&h, buf, sizeof h);
    if (h.magic != COND_MAGIC || h.version != 1 || h.n_layer != cfg->n_layer ||
        h.n_embd != cfg->n_embd || h.spk_dim != cfg->spk_dim || h.wtype != (int32_t)cfg->wtype ||
        h.kv_f16 != (int32_t)c->kv_f16 || h.cond_rows < 1 || h.cond_rows > c->n_ctx ||
        len != cond_rows_bytes(c, h.cond_rows))
        return VB_ERR_INVALID;
    const uint8_t *p = (const uint8_t *)buf + sizeof h;
    memcpy(c->cond_spk, p, (size_t)cfg->spk_dim * sizeof(float));
    p += (size_t)cfg->spk_dim * sizeof(float);
    memcpy(c->cond_prompt, p, (size_t)(h.cond_rows - 1) * sizeof(int32_t));
    p += (size_t)(h.cond_rows - 1) * sizeof(int32_t);
    cond_copy_kv(c, (uint8_t *)p, h.cond_rows, true);
    c->cond_rows = h.cond_rows;
    c->n_past = 0;
    return VB_OK;
}

/* ---- attention ---- */

typedef float v4f __attribute__((vector_size(16))); /* baseline SSE width on x86-64 */

static inline v4f load4(const float *p)
{
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static float dot(const float *a, const float *b, int n)
{
    int i = 0;
    float r = 0;
    if (n >= 16) {
        v4f s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
        for (; i + 16 <= n; i += 16) {
            s0 += load4(a + i) * load4(b + i);
            s1 += load4(a + i + 4) * load4(b + i + 4);
            s2 += load4(a + i + 8) * load4(b + i + 8);
            s3 += load4(a + i + 12) * load4(b + i + 12);
        }
        s0 = (s0 + s1) + (s2 + s3);
        r = (s0[0] + s0[2]) + (s0[1] + s0[3]);
    }
    for (; i < n; i++)
        r += a[i] * b[i];
    return r;
}

/* y += a * x */
static void axpy(float *y, float a, const float *x, int n)
{
    int i = 0;
    const v4f av = {a, a, a, a};
    for (; i + 4 <= n; i += 4) {
        v4f r = load4(y + i) + av * load4(x + i);
        memcpy(y + i, &r, sizeof r);
    }
    for (; i < n; i++)
        y[i] += a * x[i];
}

struct attn_job {
    const float *q, *k, *v; /* q rows of stride ldq; cache rows of stride E */
    float *out, *work;
    int64_t ldq, E, pos0, work_stride;
    int n, H, D;
};

/* s[p] = exp(s[p] - mx) for p < n; returns 1 / sum (the softmax weights are s[p] times it). */
static float exp_shifted(float *s, int64_t n, float mx)
{
    double sum = 0;
    for (int64_t p = 0; p < n; p++) {
        s[p] = expf(s[p] - mx);
        sum += (double)s[p];
    }
    return (float)(1.0 / sum);
}

/* One (query row, head) item per iteration: scores over positions 0..pos0+t, softmax,
 * weighted sum of the values. */
static void attn_worker(void *ctx, int ith, int nth)
{
    const struct attn_job *j = ctx;
    const float scale = 1.0f / sqrtf((float)j->D);
    float *s = j->work + (int64_t)ith * j->work_stride;
    const int64_t items = (int64_t)j->n * j->H;
    for (int64_t it = ith; it < items; it += nth) {
        const int t = (int)(it / j->H), h = (int)(it % j->H);
        const float *q = j->q + t * j->ldq + (int64_t)h * j->D;
        const int64_t n_kv = j->pos0 + t + 1;
        float mx = -INFINITY;
        for (int64_t p = 0; p < n_kv; p++) {
            s[p] = dot(q, j->k + p * j->E + (int64_t)h * j->D, j->D) * scale;
            mx = fmaxf(mx, s[p]);
        }
        const float inv = exp_shifted(s, n_kv, mx);
        float *o = j->out + (int64_t)t * j->E + (int64_t)h * j->D;
        memset(o, 0, (size_t)j->D * sizeof *o);
        for (int64_t p = 0; p < n_kv; p++)
            axpy(o, s[p] * inv, j->v + p * j->E + (int64_t)h * j->D, j->D);
    }
}

static void attention(struct cb_t3_ctx *c, const float *q, int64_t ldq, int n, int64_t pos0,
                      const float *k, const float *v, int H, int D)
{
    struct attn_job j = {
        .q = q,
        .k = k,
        .v = v,
        .out = c->att,
        .work = c->work,
        .ldq = ldq,
        .E = (int64_t)H * D,
        .pos0 = pos0,
        .work_stride = c->n_ctx,
        .n = n,
        .H = H,
        .D = D,
    };
    nn_pool_run(c->pool, attn_worker, &j);
}

struct attn16_job {
    const float *q;        /* rows of stride ldq */
    const uint16_t *k, *v; /* the layer's f16 K and V rows (stride E) */
    float *out, *work;     /* work: per thread H rows of n_ctx scores */
    int64_t ldq, E, pos0, n_ctx;
    int n, H, D;
    int hg; /* heads per work item (divides H) */
    bool avx2, avx512;
    atomic_int next; /* next (row, head group) item */
};

/* One head of one query row over an f16 cache, portable C: s (n_kv) scratch, o (D) output. */
static void head_f16(const float *q, const uint16_t *k, const uint16_t *v, int64_t stride,
                     int64_t n_kv, int D, float scale, float *s, float *o)
{
    float mx = -INFINITY;
    for (int64_t p = 0; p < n_kv; p++) {
        const uint16_t *kr = k + p * stride;
        float d = 0;
        for (int i = 0; i < D; i++)
            d += q[i] * nn_fp16_to_fp32(kr[i]);
        s[p] = d * scale;
        mx = fmaxf(mx, s[p]);
    }
    const float inv = exp_shifted(s, n_kv, mx);
    memset(o, 0, (size_t)D * sizeof *o);
    for (int64_t p = 0; p < n_kv; p++) {
        const uint16_t *vr = v + p * stride;
        const float a = s[p] * inv;
        for (int i = 0; i < D; i++)
            o[i] += a * nn_fp16_to_fp32(vr[i]);
    }
}

#ifdef T3_HAVE_AVX2_HEAD

/* Same with AVX2/FMA/F16C (chosen at run time): the query and the output stay in registers,
 * halves are widened 8 at a time, V rows are accumulated in place (no transposed copy).
 * n8 = D / 8; inlined with a constant n8 so the arrays become registers. */
__attribute__((always_inline, target("avx2,fma,f16c"))) static inline void
head_f16_body(const float *q, const uint16_t *k, const uint16_t *v, int64_t stride, int64_t n_kv,
              const int n8, float scale, float *s, float *o)
{
    __m256 qv[T3_MAX_D8], ov[T3_MAX_D8];
#    pragma GCC unroll 32
    for (int i = 0; i < n8; i++) {
        qv[i] = _mm256_loadu_ps(q + 8 * i);
        ov[i] = _mm256_setzero_ps();
    }
    float mx = -INFINITY;
    for (int64_t p = 0; p < n_kv; p++) {
        const uint16_t *kr = k + p * stride;
        __m256 acc = _mm256_setzero_ps();
#    pragma GCC unroll 32
        for (int i = 0; i < n8; i++)
            acc = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kr + 8 * i))),
                                  qv[i], acc);
        __m128 h = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
        h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        h = _mm_add_ss(h, _mm_movehdup_ps(h));
        s[p] = _mm_cvtss_f32(h) * scale;
        mx = fmaxf(mx, s[p]);
    }
    const float inv = exp_shifted(s, n_kv, mx);
    for (int64_t p = 0; p < n_kv; p++) {
        const uint16_t *vr = v + p * stride;
        const __m256 a = _mm256_set1_ps(s[p] * inv);
#    pragma GCC unroll 32
        for (int i = 0; i < n8; i++)
            ov[i] = _mm256_fmadd_ps(
                a, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(vr + 8 * i))), ov[i]);
    }
#    pragma GCC unroll 32
    for (int i = 0; i < n8; i++)
        _mm256_storeu_ps(o + 8 * i, ov[i]);
}

__attribute__((target("avx2,fma,f16c"))) static void
head_f16_avx2(const float *q, const uint16_t *k, const uint16_t *v, int64_t stride, int64_t n_kv,
              int D, float scale, float *s, float *o)
{
    if (D == 64) /* GPT-2 medium */
        head_f16_body(q, k, v, stride, n_kv, 8, scale, s, o);
    else if (D == 16)
        head_f16_body(q, k, v, stride, n_kv, 2, scale, s, o);
    else
        head_f16_body(q, k, v, stride, n_kv, D / 8, scale, s, o);
}
#endif

#ifdef T3_HAVE_AVX2_HEAD
__attribute__((target("avx512f"))) static inline __m512 load16_f16(const uint16_t *p)
{
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}

/* o (ng heads of n16 x 16) += sum_p a[hh][p] V[p][hh], V rows of stride E; inlined with
 * constant ng/n16 so the accumulators stay in registers. */
__attribute__((always_inline, target("avx512f"))) static inline void
values_avx512(const uint16_t *v, int64_t E, int64_t n_kv, const float *a, int64_t la, const int ng,
              const int n16, float *o)
{
    __m512 acc[16];
#    pragma GCC unroll 16
    for (int i = 0; i < ng * n16; i++)
        acc[i] = _mm512_setzero_ps();
    for (int64_t p = 0; p < n_kv; p++) {
        const uint16_t *vr = v + p * E;
#    pragma GCC unroll 4
        for (int hh = 0; hh < ng; hh++) {
            const __m512 w = _mm512_set1_ps(a[hh * la + p]);
#    pragma GCC unroll 4
            for (int i = 0; i < n16; i++)
                acc[hh * n16 + i] =
                    _mm512_fmadd_ps(w, load16_f16(vr + (hh * n16 + i) * 16), acc[hh * n16 + i]);
        }
    }
#    pragma GCC unroll 16
    for (int i = 0; i < ng * n16; i++)
        _mm512_storeu_ps(o + 16 * i, acc[i]);
}

/* nh heads (head_dim n16 x 16, adjacent columns) of one query row over n_kv f16 cache rows,
 * position-major: each K row's slice of these heads is read once for all of them (sequential
 * streams instead of one strided pass per head), one vectorised softmax per head, then each
 * V row's slice once per group of 4 heads. s: nh rows of ls scores. */
__attribute__((target("avx512f"))) static void
heads_f16_avx512(const float *q, const uint16_t *k, const uint16_t *v, int64_t E, int64_t n_kv,
                 int nh, int n16, float scale, float *s, int64_t ls, float *o)
{
    const int D = 16 * n16;
    for (int64_t p = 0; p < n_kv; p++) {
        const uint16_t *kr = k + p * E;
        for (int hh = 0; hh < nh; hh++) {
            const uint16_t *kh = kr + hh * D;
            const float *qh = q + hh * D;
            __m512 acc = _mm512_mul_ps(load16_f16(kh), _mm512_loadu_ps(qh));
            for (int i = 1; i < n16; i++)
                acc = _mm512_fmadd_ps(load16_f16(kh + 16 * i), _mm512_loadu_ps(qh + 16 * i), acc);
            s[hh * ls + p] = _mm512_reduce_add_ps(acc);
        }
    }
    for (int hh = 0; hh < nh; hh++)
        nn_softmax_scaled(s + hh * ls, (int)n_kv, scale);
    for (int g = 0; g < nh;) {
        const int ng = VB_MIN(4, nh - g);
        const uint16_t *vg = v + (int64_t)g * D;
        const float *ag = s + g * ls;
        float *og = o + (int64_t)g * D;
        if (n16 == 4 && ng == 4) /* GPT-2 medium */
            values_avx512(vg, E, n_kv, ag, ls, 4, 4, og);
        else if (ng == 1)
            values_avx512(vg, E, n_kv, ag, ls, 1, n16, og);
        else
            for (int hh = 0; hh < ng; hh++)
                values_avx512(vg + hh * D, E, n_kv, ag + hh * ls, ls, 1, n16, og + hh * D);
        g += ng;
    }
}
#endif

/* f16 cache: items of (query row, group of hg heads), claimed dynamically. */
static void attn16_worker(void *ctx, int ith, int nth)
{
    struct attn16_job *j = ctx;
    (void)nth;
    const float scale = 1.0f / sqrtf((float)j->D);
    float *s = j->work + (int64_t)ith * j->H * j->n_ctx;
    const int groups = j->H / j->hg;
    const int64_t items = (int64_t)j->n * groups;
    for (;;) {
        const int64_t it = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (it >= items)
            break;
        const int t = (int)(it / groups), h0 = (int)(it % groups) * j->hg;
        const int64_t n_kv = j->pos0 + t + 1, off = (int64_t)h0 * j->D;
        const float *q = j->q + t * j->ldq + off;
        float *o = j->out + (int64_t)t * j->E + off;
#ifdef T3_HAVE_AVX2_HEAD
        if (j->avx512) {
            heads_f16_avx512(q, j->k + off, j->v + off, j->E, n_kv, j->hg, j->D / 16, scale, s,
                             j->n_ctx, o);
            continue;
        }
#endif
        for (int hh = 0; hh < j->hg; hh++) {
            const int64_t oh = (int64_t)hh * j->D;
#ifdef T3_HAVE_AVX2_HEAD
            if (j->avx2) {
                head_f16_avx2(q + oh, j->k + off + oh, j->v + off + oh, j->E, n_kv, j->D, scale, s,
                              o + oh);
                continue;
            }
#endif
            head_f16(q + oh, j->k + off + oh, j->v + off + oh, j->E, n_kv, j->D, scale, s, o + oh);
        }
    }
}

struct qmm_job {
    const struct cb_t3_ctx *c;
    const struct nn_tensor *w;
    const float *x; /* n rows of n_in */
    const float *b; /* bias or NULL */
    float *y;
    int64_t ldy;
    int n;
    atomic_int next; /* next group of Q_GROUP weight rows */
};

/* Each claimed group of Q_GROUP weight rows is dequantised into this thread's panels and
 * multiplied with all n activation rows (the panels stay in cache). */
static void qmm_worker(void *ctx, int ith, int nth)
{
    struct qmm_job *j = ctx;
    const struct cb_t3_ctx *c = j->c;
    const struct nn_tensor *w = j->w;
    const int n_in = (int)w->ne[0], n_out = (int)w->ne[1];
    const int groups = (n_out + Q_GROUP - 1) / Q_GROUP;
    const size_t F = 4 * (size_t)c->m->cfg.n_embd;
    float *rows = c->q_rows + (size_t)ith * Q_GROUP * F;
    float *pk = c->q_pk + (size_t)ith * nn_gemm_packed_floats((int)F, Q_GROUP);
    (void)nth;
    for (;;) {
        const int g = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (g >= groups)
            break;
        const int r0 = g * Q_GROUP, nr = VB_MIN(Q_GROUP, n_out - r0);
        const uint8_t *src = (const uint8_t *)w->data + (size_t)r0 * w->row_bytes;
        for (int k = 0; k < nr; k++)
            (void)nn_dequantize_row(w->type, src + (size_t)k * w->row_bytes,
                                    rows + (size_t)k * (size_t)n_in, n_in);
        nn_gemm_pack(pk, rows, n_in, nr, n_in);
        nn_gemm(NULL, pk, n_in, nr, j->x, n_in, j->n, j->b ? j->b + r0 : NULL, j->y + r0, j->ldy);
    }
}

/* y (n rows, stride ldy) = x (n rows of n_in) W^T + b. false on OOM. */
static bool mm(struct cb_t3_ctx *c, const struct t3_mat *w, const float *x, int n, const float *b,
               float *y, int64_t ldy)
{
    const int n_in = (int)w->t.ne[0], n_out = (int)w->t.ne[1];
    if (w->pk) {
        nn_gemm(c->pool, w->pk, n_in, n_out, x, n_in, n, b, y, ldy);
        return true;
    }
    if (n >= CB_T3_GEMM_MIN_ROWS && w->t.data && nn_matmul_amx_supported(w->t.type)) {
        /* BF16 tiles on panels dequantised on the fly (whatever nn_matmul's AMX mode: T3's
         * quantised weights are approximate already) */
        if (!nn_matmul_amx_rows_mode(c->pool, &c->scratch, &w->t, NN_AMX_ALL, 0, n_out, x, n, y,
                                     ldy))
            return false;
        for (int t = 0; t < n; t++)
            nn_add(y + (int64_t)t * ldy, b, n_out);
        return true;
    }
    if (n >= CB_T3_GEMM_MIN_ROWS && c->q_pk && w->t.data) {
        struct qmm_job j = {.c = c, .w = &w->t, .x = x, .b = b, .y = y, .ldy = ldy, .n = n};
        atomic_init(&j.next, 0);
        nn_pool_run(c->pool, qmm_worker, &j);
        return true;
    }
    if (w->pk16) {
        nn_gemm_f16(c->pool, w->pk16, n_in, n_out, x, n_in, n, b, y, ldy);
        return true;
    }
    if (!nn_matmul(c->pool, &c->scratch, &w->t, x, n, y, ldy))
        return false;
    for (int t = 0; t < n; t++)
        nn_add(y + (int64_t)t * ldy, b, n_out);
    return true;
}

/* f16 -> f32 for n values */
#ifdef T3_HAVE_AVX2_HEAD
__attribute__((target("avx2,f16c"))) static void widen_f16_avx2(float *d, const uint16_t *s,
                                                                int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(d + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + i))));
    for (; i < n; i++)
        d[i] = nn_fp16_to_fp32(s[i]);
}
#endif

static void widen_f16(const struct cb_t3_ctx *c, float *d, const uint16_t *s, int64_t n)
{
#ifdef T3_HAVE_AVX2_HEAD
    if (c->attn_avx2) {
        widen_f16_avx2(d, s, n);
        return;
    }
#endif
    (void)c;
    nn_fp16_table_init();
    for (int64_t i = 0; i < n; i++)
        d[i] = nn_fp16_to_fp32(s[i]);
}

/* Causal attention of a batch over the f16 cache of one layer (rows 0..pos0+n-1, this batch's
 * K/V already stored) through nn_mha. false on OOM. */
static bool attention_mha(struct cb_t3_ctx *c, const uint16_t *k16, const uint16_t *v16, int n,
                          int64_t pos0)
{
    const struct cb_t3_config *cfg = &c->m->cfg;
    const int64_t E = cfg->n_embd, rows = pos0 + n;
    if (rows > c->kv32_rows) {
        float *p = vb_try_malloc((size_t)2 * (size_t)rows * (size_t)E * sizeof *p);
        if (!p)
            return false;
        vb_free(c->kv32);
        c->kv32 = p;
        c->kv32_rows = (int)rows;
    }
    float *k = c->kv32, *v = c->kv32 + rows * E;
    widen_f16(c, k, k16, rows * E);
    widen_f16(c, v, v16, rows * E);
    struct nn_mha a = {
        .q = c->qkv,
        .ldq = 3 * E,
        .k = k,
        .ldk = E,
        .v = v,
        .ldv = E,
        .out = c->att,
        .ldo = E,
        .n_q = n,
        .n_kv = (int)rows,
        .n_head = cfg->n_head,
        .head_dim = (int)(E / cfg->n_head),
        .scale = 1.0f / sqrtf((float)(E / cfg->n_head)),
        .causal = true,
        .q_pos0 = pos0,
        /* quantised weights are approximate already: bf16 products on AMX */
        .bf16 = cfg->wtype != NN_TYPE_F32 && cfg->wtype != NN_TYPE_F16,
    };
    const size_t need = nn_mha_work_floats(&a, nn_pool_threads(c->pool));
    if (need > c->mha_work_n) {
        float *p = vb_try_malloc(need * sizeof *p);
        if (!p)
            return false;
        vb_free(c->mha_work);
        c->mha_work = p;
        c->mha_work_n = need;
    }
    nn_mha(c->pool, &a, c->mha_work);
    return true;
}

/* One batch of n <= n_batch rows at positions n_past.. (spec §3.3). */
static enum vb_err forward_batch(struct cb_t3_ctx *c, const float *emb, int n, float *hidden,
                                 float *logits)
{
    const struct cb_t3_model *m = c->m;
    const struct cb_t3_config *cfg = &m->cfg;
    const int64_t E = cfg->n_embd, F = 4 * E, pos0 = c->n_past;
    const int H = cfg->n_head, D = cfg->n_embd / cfg->n_head;
    struct nn_pool *pool = c->pool;

    /* 1. input rows + learned absolute positions wpe[pos0 + t] */
    for (int t = 0; t < n; t++) {
        if (!gather_row(m->wpe, pos0 + t, c->pos))
            return VB_ERR_INVALID;
        for (int64_t i = 0; i < E; i++)
            c->x[t * E + i] = emb[t * E + i] + c->pos[i];
    }
    for (int l = 0; l < cfg->n_layer; l++) {
        const struct cb_t3_layer *L = &m->layers[l];
        float *kc = c->k_cache ? c->k_cache + (size_t)l * (size_t)c->n_ctx * (size_t)E : NULL;
        float *vc = c->v_cache ? c->v_cache + (size_t)l * (size_t)c->n_ctx * (size_t)E : NULL;
        /* 2. ln_1 */
        for (int t = 0; t < n; t++)
            nn_layer_norm(c->xb + t * E, c->x + t * E, L->ln1_w, L->ln1_b, E, cfg->ln_eps);
        /* 3. fused c_attn: columns 0..E-1 = Q, E..2E-1 = K, 2E..3E-1 = V; K and V rows go
         *    to the cache */
        if (!mm(c, &L->qkv, c->xb, n, L->qkv_b, c->qkv, 3 * E))
            return VB_ERR_NOMEM;
        if (c->kv_f16) {
            uint16_t *k16 = c->k16 + (size_t)l * (size_t)c->n_ctx * (size_t)E;
            uint16_t *v16 = c->v16 + (size_t)l * (size_t)c->n_ctx * (size_t)E;
            for (int t = 0; t < n; t++) {
                const float *r = c->qkv + (int64_t)t * 3 * E;
                c->kf16->from_float(r + E, k16 + (pos0 + t) * E, E);
                c->kf16->from_float(r + 2 * E, v16 + (pos0 + t) * E, E);
            }
            /* 4. causal attention over the cache, scale 1/sqrt(head_dim) */
            if (n >= CB_T3_GEMM_MIN_ROWS) {
                if (!attention_mha(c, k16, v16, n, pos0))
                    return VB_ERR_NOMEM;
            } else {
                struct attn16_job j = {
                    .q = c->qkv,
                    .k = k16,
                    .v = v16,
                    .out = c->att,
                    .work = c->work,
                    .ldq = 3 * E,
                    .E = E,
                    .pos0 = pos0,
                    .n_ctx = c->n_ctx,
                    .n = n,
                    .H = H,
                    .D = D,
                    .avx2 = c->attn_avx2,
                    .avx512 = c->attn_avx512,
                };
                /* a row's heads in one item when there are rows enough for the threads, else
                 * the heads split between them */
                const int nth = nn_pool_threads(pool);
                j.hg = n >= nth ? H : VB_MAX(1, H / nth);
                while (H % j.hg)
                    j.hg--;
                atomic_init(&j.next, 0);
                nn_pool_run(pool, attn16_worker, &j);
            }
        } else {
            for (int t = 0; t < n; t++) {
                const float *r = c->qkv + (int64_t)t * 3 * E;
                memcpy(kc + (pos0 + t) * E, r + E, (size_t)E * sizeof(float));
                memcpy(vc + (pos0 + t) * E, r + 2 * E, (size_t)E * sizeof(float));
            }
            /* 4. causal attention over the cache, scale 1/sqrt(head_dim) */
            attention(c, c->qkv, 3 * E, n, pos0, kc, vc, H, D);
        }
        /* 5. attn.c_proj and residual */
        if (!mm(c, &L->proj, c->att, n, L->proj_b, c->xb2, E))
            return VB_ERR_NOMEM;
        for (int t = 0; t < n; t++)
            nn_add(c->x + t * E, c->xb2 + t * E, E);
        /* 6. ln_2, MLP: c_proj(gelu_tanh(c_fc(.))) and residual */
        for (int t = 0; t < n; t++)
            nn_layer_norm(c->xb + t * E, c->x + t * E, L->ln2_w, L->ln2_b, E, cfg->ln_eps);
        if (!mm(c, &L->fc, c->xb, n, L->fc_b, c->hb, F))
            return VB_ERR_NOMEM;
        for (int t = 0; t < n; t++)
            nn_gelu(c->hb + t * F, F);
        if (!mm(c, &L->fc_proj, c->hb, n, L->fc_proj_b, c->xb2, E))
            return VB_ERR_NOMEM;
        for (int t = 0; t < n; t++)
            nn_add(c->x + t * E, c->xb2 + t * E, E);
    }
    c->n_past += n;
    /* 7. ln_f (all rows when the hidden states are wanted, else only the last) */
    int first = hidden ? 0 : n - 1;
    for (int t = first; t < n; t++)
        nn_layer_norm(c->xb + t * E, c->x + t * E, m->lnf_w, m->lnf_b, E, cfg->ln_eps);
    if (hidden)
        memcpy(hidden, c->xb, (size_t)n * (size_t)E * sizeof(float));
    /* 8. speech_head on the last row */
    if (logits) {
        if (!mm(c, &m->head, c->xb + (int64_t)(n - 1) * E, 1, m->head_b, logits, cfg->speech_vocab))
            return VB_ERR_NOMEM;
    }
    return VB_OK;
}

enum vb_err cb_t3_forward(struct cb_t3_ctx *c, const float *embeds, int n, float *hidden,
                          float *logits)
{
    if (n <= 0)
        return VB_ERR_INVALID;
    if (n > c->n_ctx - c->n_past)
        return VB_ERR_TOO_LARGE;
    if (c->n_past < c->cond_rows)
        c->cond_rows = 0; /* overwriting the cached conditioning rows */
    const int64_t E = c->m->cfg.n_embd;
    for (int done = 0; done < n;) {
        int b = VB_MIN(c->n_batch, n - done);
        bool last = done + b == n;
        enum vb_err err =
            forward_batch(c, embeds + (int64_t)done * E, b,
                          hidden ? hidden + (int64_t)done * E : NULL, last ? logits : NULL);
        if (err != VB_OK)
            return err;
        done += b;
    }
    return VB_OK;
}

/* ===== sampling ===== */

struct cb_t3_gen_params cb_t3_gen_default_params(void)
{
    return (struct cb_t3_gen_params){
        .temperature = 0.8f,
        .top_k = 1000,
        .top_p = 0.95f,
        .repetition_penalty = 1.2f,
        .max_gen_len = CB_T3_DEFAULT_MAX_GEN,
        .seed = 0,
    };
}

static int cmp_float_asc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Ascending sort of m finite floats: LSD radix on order-preserving keys (4 byte passes),
 * qsort when the temporary cannot be allocated. Equal values end up adjacent either way, so
 * sums taken in sorted order are the same as after qsort. */
static void sort_floats_asc(float *a, int m)
{
    uint32_t *k = vb_try_malloc((size_t)m * 2 * sizeof *k);
    if (!k || m < 64) {
        vb_free(k);
        qsort(a, (size_t)m, sizeof *a, cmp_float_asc);
        return;
    }
    uint32_t *src = k, *dst = k + m;
    for (int i = 0; i < m; i++) {
        uint32_t u;
        memcpy(&u, &a[i], sizeof u);
        src[i] = u ^ ((u >> 31) ? 0xffffffffu : 0x80000000u);
    }
    for (int shift = 0; shift < 32; shift += 8) {
        int cnt[257] = {0};
        for (int i = 0; i < m; i++)
            cnt[((src[i] >> shift) & 255u) + 1]++;
        for (int b = 0; b < 256; b++)
            cnt[b + 1] += cnt[b];
        for (int i = 0; i < m; i++)
            dst[cnt[(src[i] >> shift) & 255u]++] = src[i];
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    for (int i = 0; i < m; i++) {
        const uint32_t u = src[i] ^ ((src[i] >> 31) ? 0x80000000u : 0xffffffffu);
        memcpy(&a[i], &u, sizeof u);
    }
    vb_free(k);
}

/* k-th largest (1-based) of a[0..n) by quickselect; reorders a. */
static float kth_largest(float *a, int n, int k)
{
    int lo = 0, hi = n - 1, want = k - 1; /* index in descending order */
    while (lo < hi) {
        float pivot = a[lo + (hi - lo) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (a[i] > pivot)
                i++;
            while (a[j] < pivot)
                j--;
            if (i <= j) {
                float t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                j--;
            }
        }
        if (want <= j)
            hi = j;
        else if (want >= i)
            lo = i;
        else
            break;
    }
    return a[want];
}

void cb_t3_process_logits(float *l, int n, const struct cb_t3_gen_params *gp, const int32_t *hist,
                          int n_hist, float *work)
{
    /* 1. temperature */
    if (gp->temperature > 0 && gp->temperature != 1.0f)
        for (int i = 0; i < n; i++)
            l[i] /= gp->temperature;
    /* 2. top-k: drop everything below the k-th largest value (ties kept) */
    if (gp->top_k > 0 && gp->top_k < n) {
        memcpy(work, l, (size_t)n * sizeof *l);
        float tau = kth_largest(work, n, gp->top_k);
        for (int i = 0; i < n; i++)
            if (l[i] < tau)
                l[i] = -INFINITY;
    }
    /* 3. top-p: ascending sort, drop while the cumulative probability <= 1 - p (the largest
     *    value always stays) */
    if (gp->top_p < 1.0f) {
        int m = 0;
        for (int i = 0; i < n; i++)
            if (l[i] > -INFINITY)
                work[m++] = l[i];
        if (m > 1) {
            sort_floats_asc(work, m);
            const float mx = work[m - 1];
            double sum = 0;
            for (int i = 0; i < m; i++)
                sum += exp((double)(work[i] - mx));
            double cum = 0;
            int j = 0; /* first kept sorted index */
            for (; j < m - 1; j++) {
                cum += exp((double)(work[j] - mx)) / sum;
                if ((float)cum > 1.0f - gp->top_p)
                    break;
            }
            const float keep = work[j];
            for (int i = 0; i < n; i++)
                if (l[i] < keep)
                    l[i] = -INFINITY;
        }
    }
    /* 4. repetition penalty over the distinct ids of hist: gather all, then scatter (duplicates
     *    write the same value, as the reference's gather/scatter does) */
    if (gp->repetition_penalty != 1.0f && n_hist > 0) {
        float *g = work + n;
        const float p = gp->repetition_penalty;
        for (int i = 0; i < n_hist; i++) {
            if (hist[i] < 0 || hist[i] >= n)
                continue;
            float v = l[hist[i]];
            g[i] = v < 0 ? v * p : v / p;
        }
        for (int i = 0; i < n_hist; i++)
            if (hist[i] >= 0 && hist[i] < n)
                l[hist[i]] = g[i];
    }
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Draws from softmax(l) (temperature > 0) or takes the first maximum; -1 if all are -inf.
 * idx: n ints of scratch (the finite entries in index order: -inf adds exactly 0 to the
 * sums, so skipping them changes no bit). */
static int32_t pick(const float *l, int n, bool greedy, uint64_t *rng, int32_t *idx)
{
    int32_t best = -1;
    float mx = -INFINITY;
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (l[i] > mx) {
            mx = l[i];
            best = i;
        }
        if (l[i] != -INFINITY)
            idx[m++] = i;
    }
    if (best < 0 || greedy)
        return best;
    double sum = 0;
    for (int k = 0; k < m; k++)
        sum += exp((double)(l[idx[k]] - mx));
    double u = (double)(rng_next(rng) >> 11) * (1.0 / 9007199254740992.0) * sum, acc = 0;
    int32_t last = best;
    for (int k = 0; k < m; k++) {
        const int i = idx[k];
        acc += exp((double)(l[i] - mx));
        last = i;
        if (u < acc)
            return i;
    }
    return last;
}

enum vb_err cb_t3_generate(struct cb_t3_ctx *c, const float *spk_emb, const int32_t *prompt,
                           int n_prompt, const int32_t *text, int n_text,
                           const struct cb_t3_gen_params *gp, const struct cb_t3_gen_hooks *hooks,
                           int32_t *tokens, int cap, int *n_tokens)
{
    *n_tokens = 0;
    const struct cb_t3_config *cfg = &c->m->cfg;
    const int V = cfg->speech_vocab;
    struct cb_t3_gen_params def = cb_t3_gen_default_params();
    if (!gp)
        gp = &def;
    if (n_prompt < 0 || n_text < 0 || gp->max_gen_len < 0 || cap < gp->max_gen_len + 1)
        return VB_ERR_INVALID;
    const int L0 = cb_t3_prefix_len(n_prompt, n_text);
    if (L0 + gp->max_gen_len > c->n_ctx)
        return VB_ERR_TOO_LARGE;
    const bool greedy = gp->temperature <= 0;
    uint64_t rng = gp->seed;
    const int32_t start = CB_T3_SPEECH_START;

    /* 1. prefill: [spk | prompt | text | START] + wpe[0..L0-1]; the [spk | prompt] rows are
     *    reused from the cache when the last generation had the same conditioning (rows
     *    depend only on earlier rows, so the result is identical) */
    enum vb_err err = cb_t3_embed_prefix(c->m, spk_emb, prompt, n_prompt, text, n_text, c->emb);
    if (err != VB_OK)
        return err;
    const int n_cond = 1 + n_prompt;
    const bool reuse =
        c->cond_rows == n_cond &&
        memcmp(c->cond_spk, spk_emb, (size_t)cfg->spk_dim * sizeof(float)) == 0 &&
        (n_prompt == 0 || memcmp(c->cond_prompt, prompt, (size_t)n_prompt * sizeof(int32_t)) == 0);
    if (reuse) {
        c->n_past = n_cond;
        err =
            cb_t3_forward(c, c->emb + (int64_t)n_cond * cfg->n_embd, L0 - n_cond, NULL, c->logits);
    } else {
        c->cond_rows = 0;
        cb_t3_ctx_reset(c);
        err = cb_t3_forward(c, c->emb, L0, NULL, c->logits);
        if (err == VB_OK) {
            memcpy(c->cond_spk, spk_emb, (size_t)cfg->spk_dim * sizeof(float));
            if (n_prompt > 0)
                memcpy(c->cond_prompt, prompt, (size_t)n_prompt * sizeof(int32_t));
            c->cond_rows = n_cond;
        }
    }
    if (err != VB_OK) {
        c->cond_rows = 0;
        return err;
    }
    int n = 0;
    for (int step = 0;; step++) {
        if (hooks && hooks->on_logits)
            hooks->on_logits(hooks->user, step, c->logits, V);
        /* 2. process: START is the penalty history on the first draw only */
        memcpy(c->proc, c->logits, (size_t)V * sizeof(float));
        if (step == 0)
            cb_t3_process_logits(c->proc, V, gp, &start, 1, c->pwork);
        else
            cb_t3_process_logits(c->proc, V, gp, tokens, n, c->pwork);
        int32_t tok = pick(c->proc, V, greedy, &rng, (int32_t *)c->pwork);
        if (tok < 0)
            break; /* every logit removed: stop without a token */
        tokens[n++] = tok;
        if (hooks && hooks->on_token && !hooks->on_token(hooks->user, tok))
            return VB_ERR_CANCELLED;
        if (tok == CB_T3_SPEECH_STOP || step == gp->max_gen_len)
            break;
        /* 3. next step: speech_emb(tok) at position L0 + step */
        if (!gather_row(c->m->speech_emb, tok, c->emb))
            return VB_ERR_INTERNAL;
        err = cb_t3_forward(c, c->emb, 1, NULL, c->logits);
        if (err != VB_OK)
            return err;
    }
    if (n > 0 && tokens[n - 1] == CB_T3_SPEECH_STOP)
        n--;
    *n_tokens = n;
    return VB_OK;
}

int cb_t3_max_gen_for_text(int n_text)
{
    if (n_text < 0)
        n_text = 0;
    int64_t lim = 20 * (int64_t)n_text + 75;
    return (int)VB_MIN(lim, (int64_t)CB_T3_DEFAULT_MAX_GEN);
}

int cb_t3_tokens_for_s3gen(const int32_t *tokens, int n, int32_t *out, int cap)
{
    int k = 0;
    for (int i = 0; i < n && k < cap; i++)
        if (tokens[i] >= 0 && tokens[i] < CB_T3_SPEECH_CODES)
            out[k++] = tokens[i];
    for (int i = 0; i < 3 && k < cap; i++)
        out[k++] = CB_T3_SILENCE_TOKEN;
    return k;
}
