/* sampler.c: the HF chain (penalties, temperature, top-k/top-p/min-p truncation and a
 * xoshiro256** draw) and the TURBO chain (temperature, top-k, top-p, repetition penalty and a
 * splitmix64 draw); see sampler.h. */
#include "core/vb.h"
#include "nn/sampler.h"
#include "core/alloc.h"

#include <math.h>
#include <stdlib.h>

struct cand {
    int32_t id;
    float logit;
};

struct nn_sampler {
    struct nn_sampler_params p;
    int32_t n_vocab;
    struct cand *c; /* n_vocab */
    int32_t *hist;  /* ring of accepted tokens (window, or growable when -1) */
    size_t hist_n, hist_cap, hist_head;
    uint32_t *count; /* n_vocab occurrence counts (scratch, zero between calls) */
    float *prob;     /* n_vocab unnormalised probabilities (HF) / processed logits (TURBO) */
    float *work;     /* TURBO: n_vocab + hist_cap floats of processor scratch */
    int32_t *idx;    /* TURBO: n_vocab ints of draw scratch */
    uint64_t rng[4]; /* HF: xoshiro256** state; TURBO: rng[0] is the splitmix64 state */
};

struct nn_sampler_params nn_sampler_default_params(void)
{
    return (struct nn_sampler_params){
        .temperature = 0.7f,
        .top_k = 20,
        .top_p = 0.8f,
        .min_p = 0.0f,
        .repeat_penalty = 1.05f,
        .presence_penalty = 0,
        .frequency_penalty = 0,
        .penalty_last_n = -1,
        .seed = 0,
        .chain = NN_SAMPLER_HF,
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

void nn_sampler_forget(struct nn_sampler *s)
{
    s->hist_n = 0;
    s->hist_head = 0;
}

void nn_sampler_reset(struct nn_sampler *s)
{
    uint64_t x = s->p.seed;
    if (s->p.chain == NN_SAMPLER_TURBO)
        s->rng[0] = x;
    else
        for (int i = 0; i < 4; i++)
            s->rng[i] = splitmix(&x);
    nn_sampler_forget(s);
}

struct nn_sampler *nn_sampler_new(const struct nn_sampler_params *p, int32_t n_vocab)
{
    if (n_vocab <= 0)
        return NULL;
    struct nn_sampler *s = vb_try_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->p = *p;
    s->n_vocab = n_vocab;
    s->c = vb_try_malloc((size_t)n_vocab * sizeof *s->c);
    s->count = vb_try_calloc((size_t)n_vocab, sizeof *s->count);
    s->prob = vb_try_malloc((size_t)n_vocab * sizeof *s->prob);
    s->hist_cap = p->penalty_last_n > 0 ? (size_t)p->penalty_last_n : 256;
    s->hist = vb_try_malloc(s->hist_cap * sizeof *s->hist);
    if (p->chain == NN_SAMPLER_TURBO) {
        s->work = vb_try_malloc(((size_t)n_vocab + s->hist_cap) * sizeof *s->work);
        s->idx = vb_try_malloc((size_t)n_vocab * sizeof *s->idx);
        if (!s->work || !s->idx) {
            nn_sampler_free(s);
            return NULL;
        }
    }
    if (!s->c || !s->count || !s->prob || !s->hist) {
        nn_sampler_free(s);
        return NULL;
    }
    nn_sampler_reset(s);
    return s;
}

void nn_sampler_free(struct nn_sampler *s)
{
    if (!s)
        return;
    vb_free(s->c);
    vb_free(s->count);
    vb_free(s->prob);
    vb_free(s->hist);
    vb_free(s->work);
    vb_free(s->idx);
    vb_free(s);
}

void nn_sampler_accept(struct nn_sampler *s, int32_t id)
{
    if (s->p.penalty_last_n == 0 || id < 0 || id >= s->n_vocab)
        return;
    if (s->p.penalty_last_n < 0 && s->hist_n == s->hist_cap) {
        /* TURBO's processor scratch grows with the history (n_vocab + hist_cap floats) */
        float *nw =
            s->work ? vb_try_realloc(s->work, ((size_t)s->n_vocab + s->hist_cap * 2) * sizeof *nw)
                    : NULL;
        if (nw)
            s->work = nw;
        int32_t *nh = !s->work || nw ? vb_try_realloc(s->hist, s->hist_cap * 2 * sizeof *nh) : NULL;
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

int32_t nn_argmax(const float *x, int32_t n)
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

static int32_t sample_turbo(struct nn_sampler *s, const float *logits);

int32_t nn_sampler_sample(struct nn_sampler *s, const float *logits)
{
    const struct nn_sampler_params *p = &s->p;
    if (p->chain == NN_SAMPLER_TURBO)
        return sample_turbo(s, logits);
    int32_t n = s->n_vocab;
    /* greedy: the plain arg-max of the model's logits (no penalties) */
    if (p->temperature <= 0)
        return nn_argmax(logits, n);
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

/* ===== TURBO chain ===== */

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

void nn_sampler_turbo_process(float *l, int n, const struct nn_sampler_params *gp,
                              const int32_t *hist, int n_hist, float *work)
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
    if (gp->repeat_penalty != 1.0f && n_hist > 0) {
        float *g = work + n;
        const float p = gp->repeat_penalty;
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
    double u = (double)(splitmix(rng) >> 11) * (1.0 / 9007199254740992.0) * sum, acc = 0;
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

static int32_t sample_turbo(struct nn_sampler *s, const float *logits)
{
    const int n = s->n_vocab;
    memcpy(s->prob, logits, (size_t)n * sizeof *s->prob);
    /* the history is the ring's first hist_n entries (the penalty only needs the set) */
    nn_sampler_turbo_process(s->prob, n, &s->p, s->hist, (int)s->hist_n, s->work);
    return pick(s->prob, n, s->p.temperature <= 0, &s->rng[0], s->idx);
}
