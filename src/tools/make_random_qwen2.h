/* make_random_qwen2.h: writes a qwen2 GGUF with random weights in the exact shapes of Qwen2.5
 * models (or small test shapes), quantised by our own quantiser with llama.cpp's per-tensor
 * type rules (specs/gguf-qwen2.md §2.5), for tests and benchmarks without downloads
 * (src/tools: writers that the server itself never calls). `vocero models make-random qwen2`. */
#ifndef VB_TOOLS_MAKE_RANDOM_QWEN2_H
#define VB_TOOLS_MAKE_RANDOM_QWEN2_H

#include "core/vb.h"
#include "core/err.h"

enum llm_ftype {
    LLM_FTYPE_F32 = 0,
    LLM_FTYPE_F16 = 1,
    LLM_FTYPE_Q8_0 = 7,
    LLM_FTYPE_Q4_K_M = 15,
    LLM_FTYPE_Q5_K_M = 17,
};

struct llm_random_params {
    const char *shape; /* "micro", "tiny", "0.5b", "1.5b", "3b" */
    enum llm_ftype ftype;
    int64_t n_vocab;        /* 0 = the shape's default (151936 except micro: 600) */
    const char *vocab_path; /* NULL, or a GGUF whose tokenizer.* keys are copied */
    uint64_t seed;
    int n_threads; /* 0 = default */
};

/* Writes `out`. Errors (unknown shape, I/O) are described in `why`. */
VB_WUR enum vb_err llm_make_random(const struct llm_random_params *p, const char *out, char *why,
                                   size_t why_cap);
/* "f32", "f16", "q8_0", "q4_k_m", "q5_k_m" -> ftype; false if unknown. */
bool llm_ftype_parse(const char *s, enum llm_ftype *out);

#endif
