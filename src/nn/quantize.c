/* quantize.c: weight quantisers producing ggml's block layouts (for writing model files).
 * Legacy types follow llama.cpp's reference rounding; the K-quants use a simple min/max fit
 * per sub-block (no iterative search), which llama.cpp reads the same way. */
#include "core/vb.h"
#include "nn/fp16.h"
#include "nn/quant.h"

#include <math.h>

static float abs_max_signed(const float *x, int n)
{
    float amax = 0, max = 0;
    for (int j = 0; j < n; j++)
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    return max;
}

static void q8_0(const float *x, struct nn_block_q8_0 *y, int64_t n)
{
    for (int64_t i = 0; i < n / NN_QK; i++, x += NN_QK) {
        float amax = 0;
        for (int j = 0; j < NN_QK; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127, id = d ? 1.0f / d : 0.0f;
        y[i].d = nn_fp32_to_fp16(d);
        for (int j = 0; j < NN_QK; j++)
            y[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

static void q4_0(const float *x, struct nn_block_q4_0 *y, int64_t n)
{
    for (int64_t i = 0; i < n / NN_QK; i++, x += NN_QK) {
        const float d = abs_max_signed(x, NN_QK) / -8, id = d ? 1.0f / d : 0.0f;
        y[i].d = nn_fp32_to_fp16(d);
        for (int j = 0; j < 16; j++) {
            int a = VB_MIN(15, (int)(x[j] * id + 8.5f));
            int b = VB_MIN(15, (int)(x[j + 16] * id + 8.5f));
            y[i].qs[j] = (uint8_t)(a | (b << 4));
        }
    }
}

static void min_max(const float *x, int n, float *mn, float *mx)
{
    *mn = x[0];
    *mx = x[0];
    for (int j = 1; j < n; j++) {
        *mn = fminf(*mn, x[j]);
        *mx = fmaxf(*mx, x[j]);
    }
}

static void q4_1(const float *x, struct nn_block_q4_1 *y, int64_t n)
{
    for (int64_t i = 0; i < n / NN_QK; i++, x += NN_QK) {
        float mn, mx;
        min_max(x, NN_QK, &mn, &mx);
        const float d = (mx - mn) / 15, id = d ? 1.0f / d : 0.0f;
        y[i].d = nn_fp32_to_fp16(d);
        y[i].m = nn_fp32_to_fp16(mn);
        for (int j = 0; j < 16; j++) {
            int a = VB_MIN(15, (int)((x[j] - mn) * id + 0.5f));
            int b = VB_MIN(15, (int)((x[j + 16] - mn) * id + 0.5f));
            y[i].qs[j] = (uint8_t)(a | (b << 4));
        }
    }
}

static void q5_0(const float *x, struct nn_block_q5_0 *y, int64_t n)
{
    for (int64_t i = 0; i < n / NN_QK; i++, x += NN_QK) {
        const float d = abs_max_signed(x, NN_QK) / -16, id = d ? 1.0f / d : 0.0f;
        y[i].d = nn_fp32_to_fp16(d);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int a = VB_MIN(31, (int)(x[j] * id + 16.5f));
            int b = VB_MIN(31, (int)(x[j + 16] * id + 16.5f));
            y[i].qs[j] = (uint8_t)((a & 15) | ((b & 15) << 4));
            qh |= (uint32_t)(a >> 4) << j | (uint32_t)(b >> 4) << (j + 16);
        }
        memcpy(y[i].qh, &qh, 4);
    }
}

static void q5_1(const float *x, struct nn_block_q5_1 *y, int64_t n)
{
    for (int64_t i = 0; i < n / NN_QK; i++, x += NN_QK) {
        float mn, mx;
        min_max(x, NN_QK, &mn, &mx);
        const float d = (mx - mn) / 31, id = d ? 1.0f / d : 0.0f;
        y[i].d = nn_fp32_to_fp16(d);
        y[i].m = nn_fp32_to_fp16(mn);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int a = VB_MIN(31, (int)((x[j] - mn) * id + 0.5f));
            int b = VB_MIN(31, (int)((x[j + 16] - mn) * id + 0.5f));
            y[i].qs[j] = (uint8_t)((a & 15) | ((b & 15) << 4));
            qh |= (uint32_t)(a >> 4) << j | (uint32_t)(b >> 4) << (j + 16);
        }
        memcpy(y[i].qh, &qh, 4);
    }
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Packs 8 six-bit scales and mins into the 12-byte Q4_K/Q5_K layout. */
static void pack_scales_k4(const uint8_t sc[8], const uint8_t mn[8], uint8_t s[12])
{
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
        s[j + 4] = (uint8_t)((mn[j] & 63) | ((mn[j + 4] >> 4) << 6));
        s[j + 8] = (uint8_t)((sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4));
    }
}

/* Q4_K (nmax 15) and Q5_K (nmax 31): per 32-element sub-block y = d*sc*q - dmin*m. */
static void qk4(const float *x, uint16_t *d_out, uint16_t *dmin_out, uint8_t scales[12],
                uint8_t q[NN_QK_K], int nmax)
{
    float sub_scale[8], sub_min[8], max_scale = 0, max_min = 0;
    for (int s = 0; s < 8; s++) {
        float mn, mx;
        min_max(x + 32 * s, 32, &mn, &mx);
        if (mn > 0)
            mn = 0;
        sub_scale[s] = (mx - mn) / (float)nmax;
        sub_min[s] = -mn;
        max_scale = fmaxf(max_scale, sub_scale[s]);
        max_min = fmaxf(max_min, sub_min[s]);
    }
    uint8_t sc[8], mn[8];
    const float is = max_scale > 0 ? 63.f / max_scale : 0, im = max_min > 0 ? 63.f / max_min : 0;
    for (int s = 0; s < 8; s++) {
        sc[s] = (uint8_t)clampi((int)lroundf(is * sub_scale[s]), 0, 63);
        mn[s] = (uint8_t)clampi((int)lroundf(im * sub_min[s]), 0, 63);
    }
    pack_scales_k4(sc, mn, scales);
    *d_out = nn_fp32_to_fp16(max_scale / 63.f);
    *dmin_out = nn_fp32_to_fp16(max_min / 63.f);
    const float d = nn_fp16_to_fp32_calc(*d_out), dmin = nn_fp16_to_fp32_calc(*dmin_out);
    for (int s = 0; s < 8; s++) {
        const float ds = d * sc[s], dm = dmin * mn[s];
        for (int l = 0; l < 32; l++)
            q[32 * s + l] =
                (uint8_t)(ds > 0 ? clampi((int)lroundf((x[32 * s + l] + dm) / ds), 0, nmax) : 0);
    }
}

static void q4_k(const float *x, struct nn_block_q4_k *y, int64_t n)
{
    uint8_t q[NN_QK_K];
    for (int64_t i = 0; i < n / NN_QK_K; i++, x += NN_QK_K) {
        qk4(x, &y[i].d, &y[i].dmin, y[i].scales, q, 15);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                y[i].qs[32 * c + l] = (uint8_t)(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
    }
}

static void q5_k(const float *x, struct nn_block_q5_k *y, int64_t n)
{
    uint8_t q[NN_QK_K];
    for (int64_t i = 0; i < n / NN_QK_K; i++, x += NN_QK_K) {
        qk4(x, &y[i].d, &y[i].dmin, y[i].scales, q, 31);
        memset(y[i].qh, 0, sizeof y[i].qh);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                uint8_t lo = q[64 * c + l], hi = q[64 * c + 32 + l];
                y[i].qs[32 * c + l] = (uint8_t)((lo & 15) | ((hi & 15) << 4));
                y[i].qh[l] |= (uint8_t)(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
            }
    }
}

static void q6_k(const float *x, struct nn_block_q6_k *y, int64_t n)
{
    for (int64_t i = 0; i < n / NN_QK_K; i++, x += NN_QK_K) {
        float sub[16], max_abs = 0, max_scale = 0;
        for (int s = 0; s < 16; s++) {
            sub[s] = abs_max_signed(x + 16 * s, 16) / -32; /* largest magnitude -> -32 */
            if (fabsf(sub[s]) > max_abs) {
                max_abs = fabsf(sub[s]);
                max_scale = sub[s];
            }
        }
        const float iscale = max_scale != 0 ? -128.f / max_scale : 0;
        y[i].d = nn_fp32_to_fp16(iscale != 0 ? 1 / iscale : 0);
        const float d = nn_fp16_to_fp32_calc(y[i].d);
        uint8_t q[NN_QK_K];
        for (int s = 0; s < 16; s++) {
            y[i].scales[s] = (int8_t)clampi((int)lroundf(iscale * sub[s]), -128, 127);
            const float ds = d * y[i].scales[s];
            for (int l = 0; l < 16; l++)
                q[16 * s + l] =
                    (uint8_t)(ds != 0 ? clampi((int)lroundf(x[16 * s + l] / ds), -32, 31) + 32
                                      : 32);
        }
        for (int h = 0; h < 2; h++) {
            uint8_t *ql = y[i].ql + 64 * h, *qh = y[i].qh + 32 * h;
            const uint8_t *qq = q + 128 * h;
            for (int l = 0; l < 32; l++) {
                ql[l] = (uint8_t)((qq[l] & 15) | ((qq[l + 64] & 15) << 4));
                ql[l + 32] = (uint8_t)((qq[l + 32] & 15) | ((qq[l + 96] & 15) << 4));
                qh[l] = (uint8_t)((qq[l] >> 4) | ((qq[l + 32] >> 4) << 2) |
                                  ((qq[l + 64] >> 4) << 4) | ((qq[l + 96] >> 4) << 6));
            }
        }
    }
}

bool nn_quantize_row(enum nn_type t, const float *x, void *dst, int64_t n)
{
    const struct nn_type_info *ti = nn_type_info(t);
    if (!ti || n % ti->block != 0)
        return false;
    switch (t) {
    case NN_TYPE_F32:
        memcpy(dst, x, (size_t)n * 4);
        return true;
    case NN_TYPE_F16:
        nn_quantize_row_f16(x, dst, n);
        return true;
    case NN_TYPE_BF16:
        nn_quantize_row_bf16(x, dst, n);
        return true;
    case NN_TYPE_Q8_0:
        q8_0(x, dst, n);
        return true;
    case NN_TYPE_Q4_0:
        q4_0(x, dst, n);
        return true;
    case NN_TYPE_Q4_1:
        q4_1(x, dst, n);
        return true;
    case NN_TYPE_Q5_0:
        q5_0(x, dst, n);
        return true;
    case NN_TYPE_Q5_1:
        q5_1(x, dst, n);
        return true;
    case NN_TYPE_Q4_K:
        q4_k(x, dst, n);
        return true;
    case NN_TYPE_Q5_K:
        q5_k(x, dst, n);
        return true;
    case NN_TYPE_Q6_K:
        q6_k(x, dst, n);
        return true;
    default:
        return false;
    }
}
