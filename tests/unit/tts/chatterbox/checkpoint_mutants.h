/* checkpoint_mutants.h: shared by the chatterbox loader tests: a safetensors view of what a
 * writer holds, and a run of a loader over every variant of a valid checkpoint with one
 * tensor missing or with its first dimension one too large. Each variant must be refused with
 * VB_ERR_FORMAT and a reason (naming the tensor when it is missing), never crash; tensors the
 * loader treats as optional must load fine when missing. */
#ifndef VB_TEST_CHECKPOINT_MUTANTS_H
#define VB_TEST_CHECKPOINT_MUTANTS_H

#include "core/buf.h"
#include "nn/safetensors.h"
#include "nn/safetensors_write.h"

#include <stdio.h>
#include <string.h>

/* Serialises w into buf (caller releases) and opens it; NULL on failure. */
static struct nn_safetensors *st_from_writer(struct nn_st_writer *w, struct vb_buf *buf)
{
    struct nn_safetensors *st = NULL;
    char why[256];
    vb_buf_init(buf, (size_t)1 << 30);
    if (nn_st_writer_to_buf(w, buf) != VB_OK ||
        nn_st_open_memory(buf->data, buf->len, &st, why, sizeof why) != VB_OK)
        return NULL;
    return st;
}

/* Loads (and frees) a model from st; writes the reason into why on failure. */
typedef enum vb_err (*mutant_load_fn)(struct nn_safetensors *st, char *why, size_t why_cap);
/* true for tensors the loader may do without. */
typedef bool (*mutant_optional_fn)(const char *name);

/* Writes `good` into m, leaving out tensor `drop` (mode 0) or enlarging its first dim (1). */
static bool write_mutant(struct nn_st_writer *m, const struct nn_safetensors *good, size_t drop,
                         int mode)
{
    bool ok = true;
    for (size_t i = 0; i < nn_st_count(good); i++) {
        const struct nn_st_tensor *t = nn_st_at(good, i);
        if (i != drop) {
            ok &= nn_st_writer_add(m, t->name, t->dtype, t->n_dims, t->shape, t->data) == VB_OK;
        } else if (mode == 1) {
            int64_t sh[NN_ST_MAX_DIMS];
            memcpy(sh, t->shape, sizeof sh);
            sh[0] += 1;
            ok &= nn_st_writer_add_uniform(m, t->name, t->n_dims, sh, -0.1f, 0.1f, 9) == VB_OK;
        }
    }
    return ok;
}

/* Index of tensor `name` in st, or nn_st_count(st) when it has none. */
VB_UNUSED static size_t tensor_index(const struct nn_safetensors *st, const char *name)
{
    for (size_t i = 0; i < nn_st_count(st); i++)
        if (strcmp(nn_st_at(st, i)->name, name) == 0)
            return i;
    return nn_st_count(st);
}

/* `good` with tensor `drop` left out (mode 0) or widened (1), opened over buf (release it
 * after closing the result); NULL on failure. */
VB_UNUSED static struct nn_safetensors *open_mutant(const struct nn_safetensors *good, size_t drop,
                                                    int mode, struct vb_buf *buf)
{
    struct nn_st_writer *w = NULL;
    struct nn_safetensors *st = NULL;
    vb_buf_init(buf, 0);
    if (nn_st_writer_new(&w) == VB_OK && write_mutant(w, good, drop, mode))
        st = st_from_writer(w, buf);
    nn_st_writer_free(w);
    return st;
}

/* Returns the number of variants the loader handled wrongly (each printed). */
VB_UNUSED static int check_mutants(const struct nn_safetensors *good, mutant_load_fn load,
                                   mutant_optional_fn optional)
{
    size_t n = nn_st_count(good);
    int failures = 0;
    for (size_t drop = 0; drop < n; drop++) {
        for (int mode = 0; mode < 2; mode++) {
            const struct nn_st_tensor *victim = nn_st_at(good, drop);
            struct vb_buf mb;
            char why[256] = "";
            enum vb_err err = VB_ERR_INTERNAL;
            struct nn_safetensors *st = open_mutant(good, drop, mode, &mb);
            if (st)
                err = load(st, why, sizeof why);
            bool may_miss = mode == 0 && optional && optional(victim->name);
            if (may_miss ? err != VB_OK
                         : (err != VB_ERR_FORMAT || !why[0] ||
                            (mode == 0 && !strstr(why, victim->name)))) {
                failures++;
                fprintf(stderr, "  %s (mode %d): err %d, why \"%s\"\n", victim->name, mode, err,
                        why);
            }
            nn_st_close(st);
            vb_buf_release(&mb);
        }
    }
    fprintf(stderr, "  %zu tensors x {missing, wrong shape}: %s\n", n,
            failures ? "some mishandled" : "all refused cleanly");
    return failures;
}

#endif
