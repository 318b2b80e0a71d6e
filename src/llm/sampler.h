/* sampler.h: next-token choice from logits: repetition / presence / frequency penalties over
 * a window of accepted tokens, temperature, top-k, top-p, min-p, then a seeded draw; greedy
 * (first maximum of the raw logits, penalties ignored) when the temperature is <= 0. Order (Hugging
 * Face's, specs §5.2): penalties -> temperature -> top-k -> top-p -> min-p -> draw. */
#ifndef LLM_SAMPLER_H
#define LLM_SAMPLER_H

#include "core/vb.h"

struct llm_sampler_params {
    float temperature;       /* <= 0: greedy */
    int top_k;               /* <= 0: whole vocabulary */
    float top_p;             /* >= 1: off */
    float min_p;             /* <= 0: off; keeps p >= min_p * p_max */
    float repeat_penalty;    /* 1: off; logit/pen if > 0 else logit*pen */
    float presence_penalty;  /* 0: off; subtracted once per seen token */
    float frequency_penalty; /* 0: off; subtracted per occurrence */
    int penalty_last_n;      /* window of accepted tokens; -1 = all, 0 = penalties off */
    uint64_t seed;           /* same seed + same inputs = same draws */
};

/* Qwen2.5's generation_config: temperature 0.7, top-k 20, top-p 0.8, repetition 1.05,
 * min-p 0, window = all accepted tokens, seed 0. */
struct llm_sampler_params llm_sampler_default_params(void);

struct llm_sampler;

/* n_vocab candidates; caller frees with llm_sampler_free. NULL on OOM. */
struct llm_sampler *llm_sampler_new(const struct llm_sampler_params *p, int32_t n_vocab);
void llm_sampler_free(struct llm_sampler *s);
/* Forgets the accepted tokens and reseeds. */
void llm_sampler_reset(struct llm_sampler *s);
/* Records a token (prompt or generated) for the penalties. */
void llm_sampler_accept(struct llm_sampler *s, int32_t id);
/* Picks the next token from n_vocab logits (not modified). */
int32_t llm_sampler_sample(struct llm_sampler *s, const float *logits);

/* Index of the first maximum. */
int32_t llm_argmax(const float *x, int32_t n);

#endif
