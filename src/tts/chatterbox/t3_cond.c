/* t3_cond.c: the T3 conditioning cache: export and import of the [speaker | prompt] rows of
 * the KV cache with what produced them, so a voice's conditioning is computed once. */
#include "core/vb.h"
#include "tts/chatterbox/t3_internal.h"

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
