/* activations.h: element-wise activations the speech models need beyond nn/ops.h: Snake
 * (HiFT), ELU (F0 predictor), Mish (flow estimator), leaky ReLU, tanh, sigmoid. All f32, in
 * place or out of place. GELU (tanh approximation and exact erf) and SiLU live in nn/ops.h
 * (nn_gelu, nn_gelu_erf, nn_silu). Snake has AVX-512 and AVX2 paths chosen at run time. */
#ifndef NN_ACTIVATIONS_H
#define NN_ACTIVATIONS_H

#include "core/vb.h"

/* Snake (linear-scale alpha, as BigVGAN/HiFT): y = x + (1 / (alpha + 1e-9)) * sin(alpha*x)^2
 * over n values of one channel. y == x allowed (in place). */
void nn_snake(float *y, const float *x, int64_t n, float alpha);
/* Plain C version of nn_snake (libm sinf); the tests compare the fast path with it. */
void nn_snake_ref(float *y, const float *x, int64_t n, float alpha);

/* x = x >= 0 ? x : slope * x   (PyTorch F.leaky_relu; default slope 0.01) */
void nn_leaky_relu(float *x, int64_t n, float slope);
/* ELU: x > 0 ? x : alpha * (exp(x) - 1)   (alpha 1 in nn.ELU()) */
void nn_elu(float *x, int64_t n, float alpha);
/* Mish: x * tanh(softplus(x)), softplus linear above 20 as in PyTorch. */
void nn_mish(float *x, int64_t n);
/* Mish as x m / (m + 2), m = e^x (e^x + 2), x kept above 20 (PyTorch's threshold), on the
 * kernel table's vectorised exp (the S3 models); _ref: plain C with libm expf (tests). */
void nn_mish_fast(float *x, int64_t n);
void nn_mish_fast_ref(float *x, int64_t n);
void nn_tanh(float *x, int64_t n);
void nn_sigmoid(float *x, int64_t n);

#endif
