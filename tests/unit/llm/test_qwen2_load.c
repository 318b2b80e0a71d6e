/* test_qwen2_load.c: the qwen2 loader's tensor table over every variant of a valid micro
 * model with one tensor missing or with its first (ggml) dimension one too large: each is
 * refused with VB_ERR_FORMAT and a reason that names the tensor; only output.weight may be
 * missing (the output is then tied to the embedding). */
#include "core/vb.h"
#include "core/buf.h"
#include "llm/qwen2.h"
#include "nn/gguf.h"
#include "nn/gguf_write.h"
#include "tools/make_random_qwen2.h"
#include "unit/test.h"

#include <unistd.h>

static bool zero_fill(void *ud, size_t i, void *dst, size_t nbytes)
{
    (void)ud;
    (void)i;
    memset(dst, 0, nbytes);
    return true;
}

/* good with tensor `victim` left out (mode 0) or with ne[0] + 1 (mode 1), as a GGUF in buf. */
static bool write_variant(const struct gguf_file *good, size_t victim, int mode, struct vb_buf *buf)
{
    struct gguf_writer *w = gguf_writer_new();
    bool ok = gguf_writer_copy_kv(w, good, NULL) == VB_OK;
    for (size_t i = 0; ok && i < gguf_tensor_count(good); i++) {
        const struct nn_tensor *t = gguf_tensor_at(good, i);
        if (i != victim) {
            ok = gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, NULL,
                                        NULL) == VB_OK;
        } else if (mode == 1) {
            int64_t ne[NN_MAX_DIMS];
            memcpy(ne, t->ne, sizeof ne);
            ne[0] += 1;
            ok = gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, ne, NULL, zero_fill,
                                        NULL) == VB_OK;
        }
    }
    vb_buf_init(buf, (size_t)1 << 30);
    ok = ok && gguf_writer_write_buf(w, buf) == VB_OK;
    gguf_writer_free(w);
    return ok;
}

TEST(every_broken_tensor_is_named)
{
    char path[256], why[256] = "";
    snprintf(path, sizeof path, "/tmp/vocero-test-qwen2-load-%d.gguf", (int)getpid());
    struct llm_random_params p = {.shape = "micro", .ftype = LLM_FTYPE_F32, .seed = 3};
    CHECK_MSG(llm_make_random(&p, path, why, sizeof why) == VB_OK, "%s", why);
    struct gguf_file *good = NULL;
    CHECK_MSG(gguf_open(path, &good, why, sizeof why) == VB_OK, "%s", why);
    if (!good)
        return;
    size_t n = gguf_tensor_count(good);
    CHECK(n > 10);
    int variants = 0;
    for (size_t v = 0; v < n; v++) {
        const char *name = gguf_tensor_at(good, v)->name;
        for (int mode = 0; mode < 2; mode++) {
            struct vb_buf buf;
            CHECK(write_variant(good, v, mode, &buf));
            struct gguf_file *g = NULL;
            struct qwen2_model *m = NULL;
            why[0] = '\0';
            CHECK(gguf_open_mem(buf.data, buf.len, &g, why, sizeof why) == VB_OK);
            enum vb_err err = g ? qwen2_load_gguf(g, &m, why, sizeof why) : VB_ERR_INTERNAL;
            if (mode == 0 && strcmp(name, "output.weight") == 0) {
                CHECK_MSG(err == VB_OK, "%s dropped: %s", name, why);
            } else {
                CHECK_MSG(err == VB_ERR_FORMAT, "%s mode %d: err %d", name, mode, (int)err);
                CHECK_MSG(strstr(why, name) != NULL, "%s mode %d: \"%s\"", name, mode, why);
            }
            qwen2_free(m);
            vb_buf_release(&buf);
            variants++;
        }
    }
    CHECK(variants == (int)(2 * n));
    gguf_close(good);
    unlink(path);
}

int main(void)
{
    RUN(every_broken_tensor_is_named);
    return test_summary();
}
