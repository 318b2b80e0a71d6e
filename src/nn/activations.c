/* activations.c: Snake, ELU, Mish, leaky ReLU, tanh, sigmoid; Snake runs the kernel table's
 * (AVX2 and AVX-512 in nn/arch/x86: a Cody-Waite reduced polynomial sine). */
#include "core/vb.h"
#include "nn/activations.h"
#include "nn/kernels.h"

#include <math.h>

void nn_snake_ref(float *y, const float *x, int64_t n, float alpha)
{
    const float inv = 1.0f / (alpha + 1e-9f);
    for (int64_t i = 0; i < n; i++) {
        float s = sinf(x[i] * alpha);
        y[i] = x[i] + inv * (s * s);
    }
}

void nn_snake(float *y, const float *x, int64_t n, float alpha)
{
    nn_op_kernels()->snake(y, x, n, alpha);
}

void nn_leaky_relu(float *x, int64_t n, float slope)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = x[i] >= 0.0f ? x[i] : slope * x[i];
}

void nn_elu(float *x, int64_t n, float alpha)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = x[i] > 0.0f ? x[i] : alpha * expm1f(x[i]);
}

void nn_mish(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float sp = x[i] > 20.0f ? x[i] : log1pf(expf(x[i]));
        x[i] = x[i] * tanhf(sp);
    }
}

void nn_tanh(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = tanhf(x[i]);
}

void nn_sigmoid(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = 1.0f / (1.0f + expf(-x[i]));
}

void nn_mish_fast_ref(float *x, int64_t n)
{
    /* x tanh(ln(1 + e^x)) = x m / (m + 2) with m = e^x (e^x + 2); linear above 20 as PyTorch */
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        if (v > 20.0f)
            continue;
        float e = expf(v), m = e * (e + 2.0f);
        x[i] = v * m / (m + 2.0f);
    }
}

void nn_mish_fast(float *x, int64_t n)
{
    nn_op_kernels()->mish_fast(x, n);
}
