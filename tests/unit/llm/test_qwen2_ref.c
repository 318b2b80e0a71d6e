/* test_qwen2_ref.c: our qwen2 forward pass against llama.cpp's logits and greedy
 * continuations for every model in qwen2-ref (README §3-§5 tolerances): prompt logits of
 * every position, teacher-forced generation logits, free-running greedy ids up to the first
 * near-tie. Data from $VOCERO_REFDATA (default ../shared/testdata); SKIPPED when absent. */
#include "core/vb.h"
#include "llm/qwen2.h"
#include "unit/test.h"
#include "unit/refdata.h"

#include <math.h>

#define REF "qwen2-ref"
/* The realvocab file has n_embd 64: activation rounding flips are rare and the engine
 * matches llama.cpp to 6e-6 there (every ISA level), so it gets a far tighter bound than
 * README §5's 0.4. */
#define REALVOCAB_TOL 5e-5

static const char *const tiny_models[] = {
    "qwen2-tiny-tied-f32",   "qwen2-tiny-tied-f16",    "qwen2-tiny-tied-bf16",
    "qwen2-tiny-tied-q8_0",  "qwen2-tiny-tied-q4_0",   "qwen2-tiny-tied-q4_1",
    "qwen2-tiny-tied-q5_0",  "qwen2-tiny-tied-q5_1",   "qwen2-tiny-tied-q4_k",
    "qwen2-tiny-tied-q5_k",  "qwen2-tiny-tied-q6_k",   "qwen2-tiny-tied-q4_k_m",
    "qwen2-tiny-untied-f16", "qwen2-tiny-untied-q8_0", "qwen2-tiny-untied-q4_k_m",
};

struct tol {
    double max_abs, rms;
};

/* README §5, "engine mirrors activation quantisation" column, tightened where the measured
 * errors (worst of generic, avx2, avx512) allow: f32 max 2.5e-5, rms 4e-6; f16 8.8e-3, 1.2e-3;
 * bf16 0.051, 6.6e-3; quantised up to 0.37, 0.031 (kept: llama.cpp rounds activations in
 * its own order). */
static struct tol tolerance_for(const char *name)
{
    if (strstr(name, "f32"))
        return (struct tol){2e-4, 3e-5};
    if (strstr(name, "bf16"))
        return (struct tol){0.15, 0.03};
    if (strstr(name, "f16"))
        return (struct tol){0.02, 6e-3};
    return (struct tol){0.4, 0.05};
}

struct cmp {
    double max_abs, sum_sq;
    long n_vals, n_rows, argmax_same, argmax_required_fail;
};

static int argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

static double margin_of(const float *x, int n)
{
    float a = -INFINITY, b = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (x[i] > a) {
            b = a;
            a = x[i];
        } else if (x[i] > b)
            b = x[i];
    }
    return (double)a - (double)b;
}

static void compare_row(struct cmp *c, const float *got, const float *ref, int n, double thr)
{
    for (int i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)ref[i]);
        if (d > c->max_abs)
            c->max_abs = d;
        c->sum_sq += d * d;
    }
    c->n_vals += n;
    c->n_rows++;
    bool same = argmax(got, n) == argmax(ref, n);
    c->argmax_same += same;
    if (!same && margin_of(ref, n) > 2 * thr)
        c->argmax_required_fail++;
}

static bool kv_f16_mode; /* run the cases with an f16 KV cache */

/* Runs one case of a tiny model; accumulates into cmp; returns free-running greedy checks. */
static void run_case(struct qwen2_model *m, const char *dir, const char *cname,
                     const struct vb_json *cs, struct tol tol, struct cmp *cmp, int *free_ok,
                     int *free_checked)
{
    const int V = (int)m->hp.n_vocab;
    int np = 0, ng = 0, nm = 0;
    int32_t *prompt = refdata_json_ints(vb_json_get(cs, "prompt_ids"), &np);
    int32_t *gen = refdata_json_ints(vb_json_get(cs, "gen_ids"), &ng);
    double *margins = refdata_json_doubles(vb_json_get(cs, "gen_top1_minus_top2"), &nm);
    char path[2200];
    size_t cnt_p = 0, cnt_g = 0, last;
    snprintf(path, sizeof path, "%s/%s.prompt_logits.npy", dir, cname);
    float *ref_p = refdata_npy(path, &cnt_p, &last);
    snprintf(path, sizeof path, "%s/%s.gen_logits.npy", dir, cname);
    float *ref_g = refdata_npy(path, &cnt_g, &last);
    struct qwen2_ctx *ctx = NULL;
    struct qwen2_ctx_params p = qwen2_ctx_default_params();
    p.n_ctx = 512;
    p.n_threads = 2;
    p.kv_f16 = kv_f16_mode;
    float *logits = NULL;
    CHECK(prompt && gen && margins && ref_p && ref_g);
    if (!prompt || !gen || !margins || !ref_p || !ref_g)
        goto out;
    CHECK_EQ_INT(cnt_p, (size_t)np * V);
    CHECK_EQ_INT(cnt_g, (size_t)ng * V);
    if (cnt_p != (size_t)np * V || cnt_g != (size_t)ng * V)
        goto out;
    CHECK(qwen2_ctx_new(m, &p, &ctx) == VB_OK);
    if (!ctx)
        goto out;
    logits = vb_xmalloc((size_t)np * V * sizeof *logits);
    /* prompt as one batch, logits for every position */
    CHECK(qwen2_eval(ctx, prompt, np, logits, true) == VB_OK);
    for (int i = 0; i < np; i++)
        compare_row(cmp, logits + (size_t)i * V, ref_p + (size_t)i * V, V, tol.max_abs);
    /* teacher-forced generation: feed the reference ids one by one */
    for (int k = 1; k < ng; k++) {
        CHECK(qwen2_eval(ctx, &gen[k - 1], 1, logits, false) == VB_OK);
        compare_row(cmp, logits, ref_g + (size_t)k * V, V, tol.max_abs);
    }
    /* free-running greedy, compared up to the first near-tie */
    qwen2_ctx_truncate(ctx, 0);
    CHECK(qwen2_eval(ctx, prompt, np, logits, false) == VB_OK);
    for (int k = 0; k < ng; k++) {
        if (margins[k] < 2 * tol.max_abs)
            break;
        int id = argmax(logits, V);
        (*free_checked)++;
        if (id != gen[k]) {
            fprintf(stderr, "  %s/%s: greedy step %d: got %d, want %d (margin %.4f)\n", dir, cname,
                    k, id, gen[k], margins[k]);
            break;
        }
        (*free_ok)++;
        int32_t t = id;
        CHECK(qwen2_eval(ctx, &t, 1, logits, false) == VB_OK);
    }
out:
    qwen2_ctx_free(ctx);
    vb_free(logits);
    vb_free(prompt);
    vb_free(gen);
    vb_free(margins);
    vb_free(ref_p);
    vb_free(ref_g);
}

static void check_tiny_model_tol(const char *name, struct tol tol);

static void check_tiny_model(const char *name)
{
    check_tiny_model_tol(name, tolerance_for(name));
}

static void check_tiny_model_tol(const char *name, struct tol tol)
{
    char path[1024], rel[512], why[256] = "";
    snprintf(rel, sizeof rel, REF "/models/%s.gguf", name);
    refdata_path(path, sizeof path, rel);
    if (!refdata_exists(path)) {
        char msg[1100];
        if (snprintf(msg, sizeof msg, "%s not found (set VOCERO_REFDATA)", path) < 0)
            msg[0] = 0;
        test_skip(name, msg, true);
        return;
    }
    struct qwen2_model *m = NULL;
    enum vb_err err = qwen2_load(path, &m, why, sizeof why);
    CHECK_MSG(err == VB_OK, "%s: %s", name, why);
    if (err != VB_OK)
        return;
    char dir[1024], mpath[1100];
    snprintf(rel, sizeof rel, REF "/refs/%s", name);
    refdata_path(dir, sizeof dir, rel);
    snprintf(mpath, sizeof mpath, "%s/meta.json", dir);
    size_t len;
    char *text = refdata_read(mpath, &len);
    struct vb_json *meta = NULL;
    CHECK(text && vb_json_parse(text, len, &meta, why, sizeof why) == VB_OK);
    struct cmp cmp = {0};
    int free_ok = 0, free_checked = 0;
    const struct vb_json *cases = meta ? vb_json_get(meta, "cases") : NULL;
    CHECK(cases && cases->type == VB_JSON_OBJECT);
    for (const struct vb_json *cs = cases ? cases->child : NULL; cs; cs = cs->next)
        run_case(m, dir, cs->key, cs, tol, &cmp, &free_ok, &free_checked);
    double rms = cmp.n_vals ? sqrt(cmp.sum_sq / (double)cmp.n_vals) : 0;
    double agree = cmp.n_rows ? 100.0 * (double)cmp.argmax_same / (double)cmp.n_rows : 0;
    fprintf(
        stderr,
        "  %-26s%s max|d| %.6f  rms %.6f  argmax %.1f%% of %ld rows  greedy %d/%d  (tol %.3g)\n",
        name, kv_f16_mode ? " kv-f16" : "", cmp.max_abs, rms, agree, cmp.n_rows, free_ok,
        free_checked, tol.max_abs);
    CHECK(cmp.n_rows > 0);
    CHECK_MSG(cmp.max_abs <= tol.max_abs, "%s max abs %g > %g", name, cmp.max_abs, tol.max_abs);
    CHECK_MSG(rms <= tol.rms, "%s rms %g > %g", name, rms, tol.rms);
    CHECK_MSG(cmp.argmax_required_fail == 0, "%s: %ld clear-margin argmax mismatches", name,
              cmp.argmax_required_fail);
    CHECK_MSG(agree >= 95.0, "%s argmax agreement %.1f%%", name, agree);
    CHECK_EQ_INT(free_ok, free_checked);
    vb_json_free(meta);
    vb_free(text);
    qwen2_free(m);
}

TEST(tiny_models_match_llama_cpp)
{
    for (size_t i = 0; i < VB_ARRAY_LEN(tiny_models); i++)
        check_tiny_model(tiny_models[i]);
}

/* With an f16 KV cache the float models move by about what llama.cpp's own f16 cache moves
 * them (meta.json f16_kv_max_abs_diff_prompt: 0.003-0.016): allow 0.05 max abs. */
TEST(f16_kv_cache_stays_close)
{
    static const char *const models[] = {"qwen2-tiny-tied-f32", "qwen2-tiny-untied-f16"};
    kv_f16_mode = true;
    for (size_t i = 0; i < VB_ARRAY_LEN(models); i++) {
        char path[1024], rel[512];
        snprintf(rel, sizeof rel, REF "/models/%s.gguf", models[i]);
        refdata_path(path, sizeof path, rel);
        if (!refdata_exists(path)) {
            SKIP_MISSING_DATA(f16_kv_cache_stays_close, "reference data not found");
            break;
        }
        check_tiny_model_tol(models[i], (struct tol){0.05, 0.01});
    }
    kv_f16_mode = false;
}

/* Real 151936-token vocabulary: logits of the last prompt position and the greedy ids
 * (teacher-forced against the stored top-5 of every step). */
TEST(realvocab_model_matches_llama_cpp)
{
    char path[1024], why[256] = "";
    refdata_path(path, sizeof path, REF "/models/qwen2-realvocab-q8_0.gguf");
    if (!refdata_exists(path)) {
        SKIP_MISSING_DATA(realvocab_model_matches_llama_cpp, "qwen2-realvocab-q8_0.gguf not found");
        return;
    }
    struct qwen2_model *m = NULL;
    enum vb_err err = qwen2_load(path, &m, why, sizeof why);
    CHECK_MSG(err == VB_OK, "%s", why);
    if (err != VB_OK)
        return;
    char dir[1024], p2[1100];
    refdata_path(dir, sizeof dir, REF "/refs/qwen2-realvocab-q8_0");
    snprintf(p2, sizeof p2, "%s/meta.json", dir);
    size_t len, cnt, last;
    char *text = refdata_read(p2, &len);
    struct vb_json *meta = NULL;
    CHECK(text && vb_json_parse(text, len, &meta, why, sizeof why) == VB_OK);
    snprintf(p2, sizeof p2, "%s/chat.last_logits.npy", dir);
    float *ref = refdata_npy(p2, &cnt, &last);
    int np = 0, ng = 0, nm = 0;
    int32_t *prompt = meta ? refdata_json_ints(vb_json_get(meta, "prompt_ids"), &np) : NULL;
    int32_t *gen = meta ? refdata_json_ints(vb_json_get(meta, "gen_ids"), &ng) : NULL;
    double *margins =
        meta ? refdata_json_doubles(vb_json_get(meta, "gen_top1_minus_top2"), &nm) : NULL;
    const struct vb_json *top5 = meta ? vb_json_get(meta, "gen_top5") : NULL;
    const int V = (int)m->hp.n_vocab;
    CHECK(ref && prompt && gen && margins && top5 && cnt == (size_t)V);
    struct qwen2_ctx *ctx = NULL;
    struct qwen2_ctx_params p = qwen2_ctx_default_params();
    p.n_ctx = 512;
    p.n_threads = 2;
    float *logits = vb_xmalloc((size_t)V * sizeof *logits);
    if (ref && prompt && gen && margins && top5 && qwen2_ctx_new(m, &p, &ctx) == VB_OK) {
        CHECK(qwen2_eval(ctx, prompt, np, logits, false) == VB_OK);
        double max_abs = 0;
        for (int i = 0; i < V; i++)
            max_abs = fmax(max_abs, fabs((double)logits[i] - ref[i]));
        CHECK_EQ_INT(argmax(logits, V), argmax(ref, V));
        /* teacher-forced steps: compare with the reference top-5 logits of each step */
        double max_top5 = 0;
        int step = 0, free_ok = 0;
        bool diverged = false;
        for (const struct vb_json *st = top5->child; st && step < ng; st = st->next, step++) {
            if (step > 0)
                CHECK(qwen2_eval(ctx, &gen[step - 1], 1, logits, false) == VB_OK);
            for (const struct vb_json *pair = st->child; pair; pair = pair->next) {
                int id = (int)pair->child->number;
                double want = pair->child->next->number;
                max_top5 = fmax(max_top5, fabs((double)logits[id] - want));
            }
            if (!diverged && margins[step] >= 2 * REALVOCAB_TOL) {
                if (argmax(logits, V) == gen[step])
                    free_ok++;
                else
                    diverged = true;
            } else
                diverged = true;
        }
        fprintf(stderr,
                "  qwen2-realvocab-q8_0       last-prompt max|d| %.6f  top5 max|d| %.6f  greedy "
                "prefix %d\n",
                max_abs, max_top5, free_ok);
        CHECK(max_abs <= REALVOCAB_TOL);
        CHECK(max_top5 <= REALVOCAB_TOL);
        CHECK_EQ_INT(free_ok, ng);
    }
    qwen2_ctx_free(ctx);
    vb_free(logits);
    vb_free(ref);
    vb_free(prompt);
    vb_free(gen);
    vb_free(margins);
    vb_json_free(meta);
    vb_free(text);
    qwen2_free(m);
}

int main(void)
{
    RUN(tiny_models_match_llama_cpp);
    RUN(f16_kv_cache_stays_close);
    RUN(realvocab_model_matches_llama_cpp);
    return test_summary();
}
