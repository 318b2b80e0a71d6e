/* test_sampler.c: the one sampler of nn/sampler.h draws, for a given seed, the very tokens its
 * two former copies drew: the Qwen2 sampler (llm/sampler.c, now the HF chain) and T3's logit
 * processors and draw (tts/chatterbox/t3.c, now the TURBO chain). The expected ids were
 * recorded from those copies on the same logits before they were merged. Then greedy,
 * truncation, penalties, seeded reproducibility and the drawn distribution. */
#include "core/vb.h"
#include "nn/sampler.h"
#include "unit/test.h"

#include <math.h>
#include <stdio.h>

enum { STEPS = 40, V_TURBO = 6563, V_HF = 1000 };

/* a fixed landscape (a hash of i) plus a little noise per step, so the penalties change the
 * draws; integer arithmetic only, the same on every machine */
static float unit_hash(uint32_t h)
{
    h ^= h >> 15;
    h *= 0x2c1b3c6du;
    h ^= h >> 12;
    return (float)(h >> 8) * (1.0f / 16777216.0f);
}

static void logits_at(float *l, int n, int step)
{
    for (int i = 0; i < n; i++)
        l[i] = 8.0f * unit_hash((uint32_t)i * 2654435761u) +
               0.5f * unit_hash((uint32_t)i * 2654435761u ^ (uint32_t)(step + 1) * 40503u);
}

/* Draws STEPS tokens from logits_at, accepting `first` before the first draw and each draw
 * after it (forget: the first draw's history is `first` only), against expected. */
static void check_draws(struct nn_sampler *s, int n_vocab, int32_t first, bool forget,
                        const int32_t *expected, const char *label)
{
    static float l[V_TURBO];
    nn_sampler_accept(s, first);
    for (int step = 0; step < STEPS; step++) {
        logits_at(l, n_vocab, step);
        const int32_t t = nn_sampler_sample(s, l);
        CHECK_MSG(t == expected[step], "%s step %d: %d, expected %d", label, step, (int)t,
                  (int)expected[step]);
        if (step == 0 && forget)
            nn_sampler_forget(s);
        nn_sampler_accept(s, t);
    }
}

/* T3's recorded draws: (temperature, top_k, top_p, repetition, seed) per row; the first draw
 * has START (6561) as its penalty history, later draws every earlier token. */
static const struct {
    float temperature;
    int top_k;
    float top_p, rep;
    uint64_t seed;
} turbo_cases[] = {
    {0.8f, 1000, 0.95f, 1.2f, 3},
    {1.0f, 0, 1.0f, 1.0f, 7},
    {0.5f, 50, 0.8f, 2.0f, 11},
    {0.0f, 1000, 0.95f, 1.2f, 1},
};
static const int32_t turbo_expected[][STEPS] = {
    {749,  4555, 4039, 400,  1512, 4232, 913,  5749, 3179, 5780, 4538, 4649, 3119, 2178,
     4662, 5202, 2054, 678,  1201, 3863, 5293, 6055, 4395, 1300, 4082, 5782, 1478, 800,
     4229, 5647, 4483, 4662, 1246, 5815, 2716, 1487, 3074, 4403, 2422, 2362},
    {2496, 121,  5842, 3779, 2954, 1656, 3058, 2152, 881,  2664, 678,  6293, 5952, 5694,
     5649, 3605, 5730, 2125, 4082, 4958, 4414, 712,  2221, 2719, 5851, 6293, 450,  2603,
     5851, 2651, 6375, 319,  2464, 1867, 3632, 3957, 457,  6100, 1391, 1189},
    {2041, 1996, 3853, 3278, 850,  3581, 391,  5078, 2162, 6001, 644,  1858, 6185, 5743,
     6395, 2208, 3484, 5319, 4632, 4605, 2200, 5079, 5094, 3033, 4430, 5606, 5313, 4701,
     2721, 5990, 3371, 922,  2781, 3969, 2556, 5882, 1058, 1714, 2632, 1211},
    {1316, 5606, 4268, 885,  322,  4336, 1244, 4632, 3632, 6395, 1858, 3484, 268,  2267,
     2632, 4403, 1714, 922,  5313, 2615, 2721, 3716, 5319, 2556, 5230, 5126, 3853, 5007,
     391,  644,  3033, 2781, 3954, 3371, 5094, 3554, 4701, 6185, 2269, 5573}};

TEST(turbo_chain_draws_t3s_tokens)
{
    for (size_t c = 0; c < VB_ARRAY_LEN(turbo_cases); c++) {
        struct nn_sampler_params p = {
            .temperature = turbo_cases[c].temperature,
            .top_k = turbo_cases[c].top_k,
            .top_p = turbo_cases[c].top_p,
            .repeat_penalty = turbo_cases[c].rep,
            .penalty_last_n = -1,
            .seed = turbo_cases[c].seed,
            .chain = NN_SAMPLER_TURBO,
        };
        struct nn_sampler *s = nn_sampler_new(&p, V_TURBO);
        CHECK(s != NULL);
        if (!s)
            return;
        char label[32];
        snprintf(label, sizeof label, "turbo case %zu", c);
        check_draws(s, V_TURBO, 6561, true, turbo_expected[c], label);
        nn_sampler_free(s);
    }
}

/* Qwen2's recorded draws: defaults (seed 5); min-p with presence/frequency penalties over a
 * window of 8 (seed 9); top-k 200, top-p 0.5, repetition 1.5 (seed 13); greedy. Token 17 is
 * accepted first, then every draw. */
static const int32_t hf_expected[][STEPS] = {
    {329, 917, 459, 644, 118, 718, 117, 922, 678, 213, 378, 367, 243, 913,
     322, 121, 139, 209, 400, 173, 624, 26,  391, 972, 876, 165, 450, 486,
     343, 839, 178, 326, 475, 831, 260, 141, 247, 879, 948, 771},
    {322, 936, 666, 398, 878, 207, 899, 291, 26,  223, 772, 4,   637, 224,
     987, 938, 644, 530, 150, 530, 274, 853, 165, 178, 56,  387, 769, 850,
     609, 223, 802, 748, 367, 113, 795, 173, 289, 666, 24,  165},
    {644, 749, 356, 367, 674, 450, 322, 850, 771, 121, 447, 831, 378, 400,
     459, 118, 913, 839, 948, 329, 117, 124, 747, 530, 247, 326, 245, 220,
     876, 268, 917, 769, 885, 139, 694, 590, 391, 243, 234, 666},
    {322, 922, 922, 885, 322, 247, 391, 885, 391, 644, 268, 322, 268, 117,
     391, 922, 922, 922, 885, 391, 391, 268, 391, 885, 268, 322, 885, 367,
     391, 644, 644, 391, 247, 885, 922, 922, 644, 391, 268, 948}};

TEST(hf_chain_draws_qwen2s_tokens)
{
    struct nn_sampler_params p[4];
    for (int c = 0; c < 4; c++)
        p[c] = nn_sampler_default_params();
    p[0].seed = 5;
    p[1].top_k = 0;
    p[1].top_p = 1.0f;
    p[1].min_p = 0.05f;
    p[1].temperature = 1.3f;
    p[1].presence_penalty = 0.5f;
    p[1].frequency_penalty = 0.25f;
    p[1].penalty_last_n = 8;
    p[1].seed = 9;
    p[2].top_k = 200;
    p[2].top_p = 0.5f;
    p[2].repeat_penalty = 1.5f;
    p[2].seed = 13;
    p[3].temperature = 0;
    for (int c = 0; c < 4; c++) {
        struct nn_sampler *s = nn_sampler_new(&p[c], V_HF);
        CHECK(s != NULL);
        if (!s)
            return;
        char label[32];
        snprintf(label, sizeof label, "hf case %d", c);
        check_draws(s, V_HF, 17, false, hf_expected[c], label);
        nn_sampler_free(s);
    }
}

/* TURBO: every candidate removed (all -inf) gives -1; a reset replays the same draws. */
TEST(turbo_empty_and_reset)
{
    float l[8];
    struct nn_sampler_params p = {.temperature = 1.0f,
                                  .top_p = 1.0f,
                                  .repeat_penalty = 1.0f,
                                  .penalty_last_n = -1,
                                  .seed = 4,
                                  .chain = NN_SAMPLER_TURBO};
    struct nn_sampler *s = nn_sampler_new(&p, 8);
    CHECK(s != NULL);
    if (!s)
        return;
    for (int i = 0; i < 8; i++)
        l[i] = -INFINITY;
    CHECK_EQ_INT(nn_sampler_sample(s, l), -1);
    for (int i = 0; i < 8; i++)
        l[i] = (float)(i % 3);
    int32_t first[16];
    nn_sampler_reset(s);
    for (int k = 0; k < 16; k++)
        first[k] = nn_sampler_sample(s, l);
    nn_sampler_reset(s);
    for (int k = 0; k < 16; k++)
        CHECK_EQ_INT(nn_sampler_sample(s, l), first[k]);
    nn_sampler_free(s);
}

static struct nn_sampler_params plain(void)
{
    struct nn_sampler_params p = nn_sampler_default_params();
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0;
    p.repeat_penalty = 1.0f;
    p.penalty_last_n = -1;
    return p;
}

TEST(greedy_is_first_argmax)
{
    float l[5] = {0.5f, 2.0f, -1.0f, 2.0f, 1.0f};
    struct nn_sampler_params p = plain();
    p.temperature = 0;
    p.repeat_penalty = 2.0f; /* ignored when greedy */
    struct nn_sampler *s = nn_sampler_new(&p, 5);
    CHECK(s != NULL);
    nn_sampler_accept(s, 1);
    CHECK_EQ_INT(nn_sampler_sample(s, l), 1);
    CHECK_EQ_INT(nn_argmax(l, 5), 1);
    nn_sampler_free(s);
    CHECK(nn_sampler_new(&p, 0) == NULL);
}

TEST(top_k_one_and_min_p_keep_only_the_best)
{
    float l[6] = {0.1f, 0.2f, 3.0f, 0.3f, 2.9f, -5.0f};
    struct nn_sampler_params p = plain();
    p.top_k = 1;
    struct nn_sampler *s = nn_sampler_new(&p, 6);
    for (int i = 0; i < 50; i++) {
        int32_t id = nn_sampler_sample(s, l);
        CHECK_EQ_INT(id, 2);
    }
    nn_sampler_free(s);
    p = plain();
    p.min_p = 0.95f; /* p(4)/p(2) = e^-0.1 = 0.905 < 0.95 */
    s = nn_sampler_new(&p, 6);
    for (int i = 0; i < 50; i++) {
        int32_t id = nn_sampler_sample(s, l);
        CHECK_EQ_INT(id, 2);
    }
    nn_sampler_free(s);
    p = plain();
    p.top_p = 0.4f; /* token 2 alone has p = 0.47 > 0.4 */
    s = nn_sampler_new(&p, 6);
    for (int i = 0; i < 50; i++) {
        int32_t id = nn_sampler_sample(s, l);
        CHECK_EQ_INT(id, 2);
    }
    nn_sampler_free(s);
}

TEST(distribution_and_seed)
{
    float l[2] = {logf(0.25f), logf(0.75f)};
    struct nn_sampler_params p = plain();
    p.seed = 42;
    struct nn_sampler *a = nn_sampler_new(&p, 2), *b = nn_sampler_new(&p, 2);
    int ones = 0, same = 0;
    for (int i = 0; i < 4000; i++) {
        int x = nn_sampler_sample(a, l), y = nn_sampler_sample(b, l);
        ones += x == 1;
        same += x == y;
    }
    CHECK_EQ_INT(same, 4000);
    CHECK_MSG(ones > 2850 && ones < 3150, "token 1 drawn %d/4000 times, want ~3000", ones);
    nn_sampler_free(a);
    nn_sampler_free(b);
    /* temperature flattens: at T=100 both tokens come out about equally often */
    p.temperature = 100;
    a = nn_sampler_new(&p, 2);
    ones = 0;
    for (int i = 0; i < 4000; i++)
        ones += nn_sampler_sample(a, l) == 1;
    CHECK_MSG(ones > 1800 && ones < 2200, "T=100: token 1 drawn %d/4000 times", ones);
    nn_sampler_free(a);
}

TEST(penalties)
{
    float l[3] = {2.0f, 1.9f, -3.0f};
    struct nn_sampler_params p = plain();
    p.top_k = 1;
    p.repeat_penalty = 1.2f; /* 2.0 / 1.2 = 1.67 < 1.9 */
    struct nn_sampler *s = nn_sampler_new(&p, 3);
    CHECK_EQ_INT(nn_sampler_sample(s, l), 0);
    nn_sampler_accept(s, 0);
    CHECK_EQ_INT(nn_sampler_sample(s, l), 1);
    nn_sampler_free(s);
    p = plain();
    p.top_k = 1;
    p.presence_penalty = 0.05f;
    p.frequency_penalty = 0.03f;
    s = nn_sampler_new(&p, 3);
    nn_sampler_accept(s, 0);
    CHECK_EQ_INT(nn_sampler_sample(s, l), 0); /* 2.0 - 0.08 = 1.92 > 1.9 */
    nn_sampler_accept(s, 0);
    CHECK_EQ_INT(nn_sampler_sample(s, l), 1); /* 2.0 - 0.11 = 1.89 < 1.9 */
    nn_sampler_free(s);
    /* a window of 1 forgets older tokens */
    p = plain();
    p.top_k = 1;
    p.repeat_penalty = 1.2f;
    p.penalty_last_n = 1;
    s = nn_sampler_new(&p, 3);
    nn_sampler_accept(s, 0);
    nn_sampler_accept(s, 2);
    CHECK_EQ_INT(nn_sampler_sample(s, l), 0);
    nn_sampler_free(s);
}

int main(void)
{
    RUN(turbo_chain_draws_t3s_tokens);
    RUN(hf_chain_draws_qwen2s_tokens);
    RUN(turbo_empty_and_reset);
    RUN(greedy_is_first_argmax);
    RUN(top_k_one_and_min_p_keep_only_the_best);
    RUN(distribution_and_seed);
    RUN(penalties);
    return test_summary();
}
