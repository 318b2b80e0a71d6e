/* make_random_chatterbox.h: random-weight Chatterbox-Turbo checkpoint sets in the official
 * file layout and tensor names (t3_turbo_v1.safetensors, s3gen_meanflow.safetensors,
 * ve.safetensors, tokenizer files, a built-in voice as conds.safetensors), full size or a tiny
 * config, for tests and benchmarks (src/tools: writers that the server itself never calls).
 * `vocero models make-random chatterbox-turbo DIR [--tiny] [--seed N]`.
 *
 *   char why[256];
 *   if (cb_make_random(dir, true, 1, why, sizeof why)) -> error
 */
#ifndef VB_TOOLS_MAKE_RANDOM_CHATTERBOX_H
#define VB_TOOLS_MAKE_RANDOM_CHATTERBOX_H

#include "core/vb.h"
#include "core/err.h"

/* Writes every file into dir (created if missing). tiny: T3 2 x 128, flow 1+1 layers of 128,
 * HiFT 64 channels, S3Tokenizer 1 x 128, CAMPPlus (2,2,2), a ~500-id tokenizer; full: the real
 * shapes (~3 GB of files). Same seed = same files. */
VB_WUR enum vb_err cb_make_random(const char *dir, bool tiny, uint64_t seed, char *why,
                                  size_t why_cap);

#endif
