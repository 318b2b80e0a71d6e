/* sampler.c: penalties, temperature, top-k/top-p/min-p truncation and a xoshiro256** draw. */
#include "core/vb.h"
#include "llm/sampler.h"
#include "core/alloc.h"

#include <math.h>

struct cand {
    int32_t id;
    float logit;
};

struct llm_sampler {
    struct llm_sampler_params p;
    int32_t n_vocab;
    struct cand *c; /* n_vocab */
    int32_t *hist;  /* ring of accepted tokens (window, or growable when -1) */
    size_t hist_n, hist_cap, hist_head;
    uint32_t *count; /* n_vocab occurrence counts (scratch, zero between calls) */
    float *prob;     /* n_vocab unnormalised probabilities (scratch) */
    uint64_t rng[4];
};

struct llm_sampler_params llm_sampler_default_params(void)
{
    return (struct llm_sampler_params){
        .temperature = 0.7f,
        .top_k = 20,
        .top_p = 0.8f,
        .min_p = 0.0f,
        .repeat_penalty = 1.05f,
        .presence_penalty = 0,
        .frequency_penalty = 0,
        .penalty_last_n = -1,
        .seed = 0,
    };
}

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t next_u64(uint64_t *s)
{
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

void llm_sampler_reset(struct llm_sampler *s)
{
    uint64_t x = s->p.seed;
    for (int i = 0; i < 4; i++)
        s->rng[i] = splitmix(&x);
    s->hist_n = 0;
    s->hist_head = 0;
}

struct llm_sampler *llm_sampler_new(const struct llm_sampler_params *p, int32_t n_vocab)
{
    if (n_vocab <= 0)
        return NULL;
    struct llm_sampler *s = vb_try_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->p = *p;
    s->n_vocab = n_vocab;
    s->c = vb_try_malloc((size_t)n_vocab * sizeof *s->c);
    s->count = vb_try_calloc((size_t)n_vocab, sizeof *s->count);
    s->prob = vb_try_malloc((size_t)n_vocab * sizeof *s->prob);
    s->hist_cap = p->penalty_last_n > 0 ? (size_t)p->penalty_last_n : 256;
    s->hist = vb_try_malloc(s->hist_cap * sizeof *s->hist);
    if (!s->c || !s->count || !s->prob || !s->hist) {
        llm_sampler_free(s);
        return NULL;
    }
    llm_sampler_reset(s);
    return s;
}

void llm_sampler_free(struct llm_sampler *s)
{
    if (!s)
        return;
    vb_free(s->c);
    vb_free(s->count);
    vb_free(s->prob);
    vb_free(s->hist);
    vb_free(s);
}

void llm_sampler_accept(struct llm_sampler *s, int32_t id)
{
    if (s->p.penalty_last_n == 0 || id < 0 || id >= s->n_vocab)
        return;
    if (s->p.penalty_last_n < 0 && s->hist_n == s->hist_cap) {
        int32_t *nh = vb_try_realloc(s->hist, s->hist_cap * 2 * sizeof *nh);
        if (nh) {
            s->hist = nh;
            s->hist_cap *= 2;
        }
    }
    if (s->hist_n < s->hist_cap) {
        s->hist[(s->hist_head + s->hist_n) % s->hist_cap] = id;
        s->hist_n++;
    } else { /* full window: overwrite the oldest */
        s->hist[s->hist_head] = id;
        s->hist_head = (s->hist_head + 1) % s->hist_cap;
    }
}

int32_t llm_argmax(const float *x, int32_t n)
{
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

static int cmp_cand_desc(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->logit != y->logit)
        return x->logit > y->logit ? -1 : 1;
    return x->id - y->id;
}

/* Moves the k largest candidates to the front, sorted descending. */
static void top_k_sort(struct cand *c, int32_t n, int32_t k)
{
    if (k >= n || k > 4096) {
        qsort(c, (size_t)n, sizeof *c, cmp_cand_desc);
        return;
    }
    /* selection: keep a sorted prefix of k, insert larger ones */
    qsort(c, (size_t)k, sizeof *c, cmp_cand_desc);
    for (int32_t i = k; i < n; i++) {
        if (cmp_cand_desc(&c[i], &c[k - 1]) >= 0)
            continue;
        struct cand v = c[i];
        int32_t j = k - 1;
        while (j > 0 && cmp_cand_desc(&v, &c[j - 1]) < 0) {
            c[j] = c[j - 1];
            j--;
        }
        c[j] = v;
    }
}

int32_t llm_sampler_sample(struct llm_sampler *s, const float *logits)
{
    const struct llm_sampler_params *p = &s->p;
    int32_t n = s->n_vocab;
    /* greedy: the plain arg-max of the model's logits (no penalties) */
    if (p->temperature <= 0)
        return llm_argmax(logits, n);
    for (int32_t i = 0; i < n; i++)
        s->c[i] = (struct cand){i, logits[i]};
    /* 1. penalties over the accepted-token window */
    bool pen = p->penalty_last_n != 0 && s->hist_n > 0 &&
               (p->repeat_penalty != 1.0f || p->presence_penalty != 0 || p->frequency_penalty != 0);
    if (pen) {
        for (size_t i = 0; i < s->hist_n; i++)
            s->count[s->hist[(s->hist_head + i) % s->hist_cap]]++;
        for (size_t i = 0; i < s->hist_n; i++) {
            int32_t id = s->hist[(s->hist_head + i) % s->hist_cap];
            uint32_t cnt = s->count[id];
            if (!cnt)
                continue; /* already applied */
            float *l = &s->c[id].logit;
            if (p->repeat_penalty > 0 && p->repeat_penalty != 1.0f)
                *l = *l > 0 ? *l / p->repeat_penalty : *l * p->repeat_penalty;
            *l -= (float)cnt * p->frequency_penalty + p->presence_penalty;
            s->count[id] = 0;
        }
    }
    /* 3. temperature, 4. top-k (sorted descending) */
    for (int32_t i = 0; i < n; i++)
        s->c[i].logit /= p->temperature;
    int32_t k = p->top_k > 0 && p->top_k < n ? p->top_k : n;
    top_k_sort(s->c, n, k);
    n = k;
    /* softmax over the survivors */
    float max = s->c[0].logit;
    double sum = 0;
    float *prob = s->prob;
    for (int32_t i = 0; i < n; i++) {
        prob[i] = expf(s->c[i].logit - max);
        sum += prob[i];
    }
    /* 5. top-p: smallest prefix with cumulative probability >= p */
    if (p->top_p > 0 && p->top_p < 1) {
        double cum = 0;
        int32_t keep = n;
        for (int32_t i = 0; i < n; i++) {
            cum += prob[i] / sum;
            if (cum >= p->top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
    }
    /* 6. min-p: p_i >= min_p * p_max  (prob[0] is the max, = 1 before normalising) */
    if (p->min_p > 0) {
        int32_t keep = 1;
        while (keep < n && prob[keep] >= p->min_p * prob[0])
            keep++;
        n = keep;
    }
    sum = 0;
    for (int32_t i = 0; i < n; i++)
        sum += prob[i];
    /* 7. draw */
    double u = (double)(next_u64(s->rng) >> 11) * (1.0 / 9007199254740992.0) * sum;
    int32_t pick = n - 1;
    double acc = 0;
    for (int32_t i = 0; i < n; i++) {
        acc += prob[i];
        if (u < acc) {
            pick = i;
            break;
        }
    }
    return s->c[pick].id;
}
