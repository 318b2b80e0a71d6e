/* sampler.h: next-token choice from logits, shared by the language model and T3. Two chains,
 * chosen by nn_sampler_params.chain:
 *   NN_SAMPLER_HF (Qwen2; Hugging Face's order, specs §5.2): repetition / presence / frequency
 *     penalties over a window of accepted tokens -> temperature -> top-k -> top-p (smallest
 *     prefix with cumulative probability >= p) -> min-p -> a draw from a xoshiro256** stream;
 *     greedy (first maximum of the raw logits, penalties ignored) when temperature <= 0.
 *   NN_SAMPLER_TURBO (Chatterbox-Turbo's logit processors): temperature -> top-k (values tied
 *     with the k-th kept) -> top-p (ascending, drop while the cumulative probability <= 1 - p)
 *     -> repetition penalty over the distinct accepted ids -> a draw from a splitmix64 stream;
 *     greedy (first maximum of the processed logits) when temperature <= 0. Presence,
 *     frequency, min-p and the window do not apply (every accepted token counts).
 *
 *   struct nn_sampler *s = nn_sampler_new(&params, n_vocab);
 *   nn_sampler_accept(s, prompt_token);   // penalty history
 *   int32_t id = nn_sampler_sample(s, logits);
 *   nn_sampler_free(s);
 */
#ifndef NN_SAMPLER_H
#define NN_SAMPLER_H

#include "core/vb.h"

enum nn_sampler_chain {
    NN_SAMPLER_HF = 0,
    NN_SAMPLER_TURBO = 1,
};

struct nn_sampler_params {
    float temperature;       /* <= 0: greedy */
    int top_k;               /* <= 0: whole vocabulary */
    float top_p;             /* >= 1: off */
    float min_p;             /* <= 0: off; keeps p >= min_p * p_max (HF only) */
    float repeat_penalty;    /* 1: off; logit/pen if > 0 else logit*pen */
    float presence_penalty;  /* 0: off; subtracted once per seen token (HF only) */
    float frequency_penalty; /* 0: off; subtracted per occurrence (HF only) */
    int penalty_last_n;      /* window of accepted tokens; -1 = all, 0 = penalties off */
    uint64_t seed;           /* same seed + same inputs = same draws */
    enum nn_sampler_chain chain;
};

/* Qwen2.5's generation_config: HF chain, temperature 0.7, top-k 20, top-p 0.8, repetition
 * 1.05, min-p 0, window = all accepted tokens, seed 0. */
struct nn_sampler_params nn_sampler_default_params(void);

struct nn_sampler;

/* n_vocab candidates; caller frees with nn_sampler_free. NULL on OOM. */
struct nn_sampler *nn_sampler_new(const struct nn_sampler_params *p, int32_t n_vocab);
void nn_sampler_free(struct nn_sampler *s);
/* Forgets the accepted tokens and reseeds. */
void nn_sampler_reset(struct nn_sampler *s);
/* Forgets the accepted tokens, keeping the random stream where it is. */
void nn_sampler_forget(struct nn_sampler *s);
/* Records a token (prompt or generated) for the penalties. */
void nn_sampler_accept(struct nn_sampler *s, int32_t id);
/* Picks the next token from n_vocab logits (not modified); -1 only with the TURBO chain when
 * the processors removed every candidate. */
int32_t nn_sampler_sample(struct nn_sampler *s, const float *logits);

/* The TURBO chain's processors on l[0..n) in place, with hist[0..n_hist) as the penalty
 * history; work: n + n_hist floats. */
void nn_sampler_turbo_process(float *l, int n, const struct nn_sampler_params *p,
                              const int32_t *hist, int n_hist, float *work);

/* Index of the first maximum. */
int32_t nn_argmax(const float *x, int32_t n);

#endif
