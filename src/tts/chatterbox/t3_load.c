/* t3_load.c: the T3 weights: configuration, loading with the Conv1D transpose and optional
 * quantisation (one table of tensors, one loop), and the random-weights writer. */
#include "core/vb.h"
#include "tts/chatterbox/t3_internal.h"
#include "core/alloc.h"
#include "core/log.h"
#include "nn/safetensors_write.h"

#include <stddef.h>
#include <sys/mman.h>
#include <unistd.h>

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

static bool config_valid(const struct cb_t3_config *c)
{
    return c->n_layer > 0 && c->n_layer <= 1024 && c->n_embd > 0 && c->n_embd <= 65536 &&
           c->n_head > 0 && c->n_embd % c->n_head == 0 && c->n_positions > 0 && c->text_vocab > 0 &&
           c->speech_vocab > CB_T3_SPEECH_STOP && c->spk_dim > 0 && c->ln_eps > 0;
}

/* ===== the tensor table ===== */

enum dim { DIM_NONE, DIM_E, DIM_3E, DIM_4E, DIM_SPEECH_VOCAB, DIM_SPK };

enum kind {
    KIND_VEC,           /* (d0) floats, owned f32 copy */
    KIND_F32_2D,        /* (d0, d1) floats, owned f32 copy */
    KIND_MAT_IN_MAJOR,  /* Conv1D (n_in = d0, n_out = d1), transposed into an nn_wmat */
    KIND_MAT_OUT_MAJOR, /* Linear (n_out = d1, n_in = d0) into an nn_wmat */
};

enum init { INIT_UNIFORM, INIT_ONE, INIT_ZERO }; /* values of the random writer */

struct tensor_row {
    const char *name; /* under "tfmr.h.<l>." for layer rows */
    enum kind kind;
    enum dim d0, d1;
    size_t off; /* destination: offset in struct cb_t3_layer or struct cb_t3_model */
    enum init init;
};

#define LAYER(name, kind, d0, d1, field, init)                                                     \
    {                                                                                              \
        name, kind, d0, d1, offsetof(struct cb_t3_layer, field), init                              \
    }
static const struct tensor_row layer_rows[] = {
    LAYER("ln_1.weight", KIND_VEC, DIM_E, DIM_NONE, ln1_w, INIT_ONE),
    LAYER("ln_1.bias", KIND_VEC, DIM_E, DIM_NONE, ln1_b, INIT_ZERO),
    LAYER("attn.c_attn.weight", KIND_MAT_IN_MAJOR, DIM_E, DIM_3E, qkv, INIT_UNIFORM),
    LAYER("attn.c_attn.bias", KIND_VEC, DIM_3E, DIM_NONE, qkv_b, INIT_ZERO),
    LAYER("attn.c_proj.weight", KIND_MAT_IN_MAJOR, DIM_E, DIM_E, proj, INIT_UNIFORM),
    LAYER("attn.c_proj.bias", KIND_VEC, DIM_E, DIM_NONE, proj_b, INIT_ZERO),
    LAYER("ln_2.weight", KIND_VEC, DIM_E, DIM_NONE, ln2_w, INIT_ONE),
    LAYER("ln_2.bias", KIND_VEC, DIM_E, DIM_NONE, ln2_b, INIT_ZERO),
    LAYER("mlp.c_fc.weight", KIND_MAT_IN_MAJOR, DIM_E, DIM_4E, fc, INIT_UNIFORM),
    LAYER("mlp.c_fc.bias", KIND_VEC, DIM_4E, DIM_NONE, fc_b, INIT_ZERO),
    LAYER("mlp.c_proj.weight", KIND_MAT_IN_MAJOR, DIM_4E, DIM_E, fc_proj, INIT_UNIFORM),
    LAYER("mlp.c_proj.bias", KIND_VEC, DIM_E, DIM_NONE, fc_proj_b, INIT_ZERO),
};
#undef LAYER

#define MODEL(name, kind, d0, d1, field)                                                           \
    {                                                                                              \
        name, kind, d0, d1, offsetof(struct cb_t3_model, field), INIT_UNIFORM                      \
    }
static const struct tensor_row model_rows[] = {
    MODEL("cond_enc.spkr_enc.weight", KIND_F32_2D, DIM_E, DIM_SPK, spk_w),
    MODEL("cond_enc.spkr_enc.bias", KIND_VEC, DIM_E, DIM_NONE, spk_b),
    MODEL("tfmr.ln_f.weight", KIND_VEC, DIM_E, DIM_NONE, lnf_w),
    MODEL("tfmr.ln_f.bias", KIND_VEC, DIM_E, DIM_NONE, lnf_b),
    MODEL("speech_head.weight", KIND_MAT_OUT_MAJOR, DIM_E, DIM_SPEECH_VOCAB, head),
    MODEL("speech_head.bias", KIND_VEC, DIM_SPEECH_VOCAB, DIM_NONE, head_b),
};
#undef MODEL

static int64_t dim_value(const struct cb_t3_config *c, enum dim d)
{
    switch (d) {
    case DIM_NONE:
        return 0;
    case DIM_E:
        return c->n_embd;
    case DIM_3E:
        return 3 * (int64_t)c->n_embd;
    case DIM_4E:
        return 4 * (int64_t)c->n_embd;
    case DIM_SPEECH_VOCAB:
        return c->speech_vocab;
    case DIM_SPK:
        return c->spk_dim;
    }
    return 0;
}

/* ===== loading ===== */

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
        return vb_failf(why, cap, VB_ERR_FORMAT, "T3 weights: missing tensor %s", name);
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
        return vb_failf(why, cap, VB_ERR_NOMEM, "T3 weights: out of memory for %s", name);
    if (nn_st_to_f32(t, p, n) != VB_OK) {
        vb_free(p);
        return vb_failf(why, cap, VB_ERR_FORMAT, "T3 weights: cannot convert %s", name);
    }
    m->weight_bytes += n * sizeof *p;
    *out = p;
    return VB_OK;
}

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
 * [n_in, n_out] (GPT-2 Conv1D) or output-major [n_out, n_in], in cfg.wtype (F32 when the
 * type's block does not divide n_in). */
static enum vb_err load_matrix(struct cb_t3_model *m, struct nn_safetensors *st, const char *name,
                               int64_t n_in, int64_t n_out, bool input_major, struct nn_wmat *out,
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
    float *src = vb_try_malloc(n * sizeof *src);
    err = vb_failf(why, cap, VB_ERR_NOMEM, "T3 weights: out of memory for %s", name);
    if (!src)
        goto out;
    if (nn_st_to_f32(t, src, n) != VB_OK) {
        err = vb_failf(why, cap, VB_ERR_FORMAT, "T3 weights: cannot convert %s", name);
        goto out;
    }
    err = nn_wmat_init(out, t->name, src, n_in, n_out, input_major, type);
    if (err != VB_OK) {
        err = vb_failf(why, cap, err, "T3 weights: %s %s",
                       err == VB_ERR_FORMAT ? "cannot quantise" : "out of memory for", name);
        goto out;
    }
    m->weight_bytes += nn_wmat_bytes(out);
    drop_pages(m, t);
out:
    vb_free(src);
    return err;
}

/* Loads the table's rows into the struct at base (a layer or the model). */
static enum vb_err load_rows(struct cb_t3_model *m, struct nn_safetensors *st,
                             const struct tensor_row *rows, size_t n_rows, const char *prefix,
                             void *base, char *why, size_t cap)
{
    enum vb_err err = VB_OK;
    for (size_t i = 0; i < n_rows && err == VB_OK; i++) {
        const struct tensor_row *r = &rows[i];
        char name[96];
        snprintf(name, sizeof name, "%s%s", prefix, r->name);
        const int64_t d0 = dim_value(&m->cfg, r->d0), d1 = dim_value(&m->cfg, r->d1);
        void *dst = (char *)base + r->off;
        switch (r->kind) {
        case KIND_VEC:
            err = load_f32(m, st, name, 1, d0, 0, dst, why, cap);
            break;
        case KIND_F32_2D:
            err = load_f32(m, st, name, 2, d0, d1, dst, why, cap);
            break;
        case KIND_MAT_IN_MAJOR:
        case KIND_MAT_OUT_MAJOR:
            err = load_matrix(m, st, name, d0, d1, r->kind == KIND_MAT_IN_MAJOR, dst, why, cap);
            break;
        }
    }
    return err;
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
        err = vb_failf(why, cap, VB_ERR_INVALID, "T3: invalid configuration");
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
    err = load_rows(m, st_conv, model_rows, VB_ARRAY_LEN(model_rows), "", m, why, cap);
    for (int l = 0; l < c->n_layer && err == VB_OK; l++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "tfmr.h.%d.", l);
        err = load_rows(m, st_conv, layer_rows, VB_ARRAY_LEN(layer_rows), prefix, &m->layers[l],
                        why, cap);
    }
    if (err != VB_OK)
        goto out;
    /* one layer more than configured means the configuration is wrong, not the file */
    char extra[64];
    snprintf(extra, sizeof extra, "tfmr.h.%d.ln_1.weight", c->n_layer);
    if (nn_st_find(st_conv, extra)) {
        err = vb_failf(why, cap, VB_ERR_FORMAT, "T3 weights: file has more than %d layers",
                       c->n_layer);
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

/* Adds one random tensor in the file's layout (matrices input-major as Conv1D stores them). */
static enum vb_err add_random_row(struct nn_st_writer *w, const char *name,
                                  const struct tensor_row *r, const struct cb_t3_config *cfg,
                                  uint64_t *seed)
{
    const float a = 0.0346f; /* uniform +-a has std 0.02 */
    const int64_t shape[2] = {dim_value(cfg, r->d0), dim_value(cfg, r->d1)};
    const int nd = r->d1 == DIM_NONE ? 1 : 2;
    if (r->init == INIT_UNIFORM)
        return nn_st_writer_add_uniform(w, name, nd, shape, -a, a, (*seed)++);
    return nn_st_writer_add_const(w, name, nd, shape, r->init == INIT_ONE ? 1.0f : 0.0f);
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
    for (int l = 0; l < cfg->n_layer; l++)
        for (size_t i = 0; i < VB_ARRAY_LEN(layer_rows) && err == VB_OK; i++) {
            snprintf(name, sizeof name, "%stfmr.h.%d.%s", prefix, l, layer_rows[i].name);
            err = add_random_row(w, name, &layer_rows[i], cfg, &seed);
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

/* Frees what the table's rows loaded into the struct at base. */
static void free_rows(const struct tensor_row *rows, size_t n_rows, void *base)
{
    for (size_t i = 0; i < n_rows; i++) {
        void *dst = (char *)base + rows[i].off;
        if (rows[i].kind == KIND_MAT_IN_MAJOR || rows[i].kind == KIND_MAT_OUT_MAJOR)
            nn_wmat_release(dst);
        else
            vb_free(*(float **)dst);
    }
}

void cb_t3_free(struct cb_t3_model *m)
{
    if (!m)
        return;
    if (m->layers) {
        for (int l = 0; l < m->cfg.n_layer; l++)
            free_rows(layer_rows, VB_ARRAY_LEN(layer_rows), &m->layers[l]);
        vb_free(m->layers);
    }
    free_rows(model_rows, VB_ARRAY_LEN(model_rows), m);
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
