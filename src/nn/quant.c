/* quant.c: portable C reference for dequantisation, activation quantisation and the
 * integer block dot products, mirroring ggml's numerics (see specs/gguf-qwen2.md §2). */
#include "core/vb.h"
#include "nn/quant.h"
#include "nn/fp16.h"

#include <math.h>
#include <pthread.h>

float nn_fp16_table[65536];
static pthread_once_t fp16_once = PTHREAD_ONCE_INIT;

static void fp16_table_fill(void)
{
    for (uint32_t i = 0; i < 65536; i++)
        nn_fp16_table[i] = nn_fp16_to_fp32_calc((uint16_t)i);
}

void nn_fp16_table_init(void)
{
    pthread_once(&fp16_once, fp16_table_fill);
}

static uint32_t load_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ===== dequantisation ===== */

static void dequant_q4_0(const void *src, float *y, int64_t n)
{
    const struct nn_block_q4_0 *b = src;
    for (int64_t i = 0; i < n / NN_QK; i++, y += NN_QK) {
        float d = nn_fp16_to_fp32(b[i].d);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)((b[i].qs[j] & 15) - 8) * d;
            y[j + 16] = (float)((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void dequant_q4_1(const void *src, float *y, int64_t n)
{
    const struct nn_block_q4_1 *b = src;
    for (int64_t i = 0; i < n / NN_QK; i++, y += NN_QK) {
        float d = nn_fp16_to_fp32(b[i].d), m = nn_fp16_to_fp32(b[i].m);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)(b[i].qs[j] & 15) * d + m;
            y[j + 16] = (float)(b[i].qs[j] >> 4) * d + m;
        }
    }
}

static void dequant_q5_0(const void *src, float *y, int64_t n)
{
    const struct nn_block_q5_0 *b = src;
    for (int64_t i = 0; i < n / NN_QK; i++, y += NN_QK) {
        float d = nn_fp16_to_fp32(b[i].d);
        uint32_t qh = load_u32le(b[i].qh);
        for (int j = 0; j < 16; j++) {
            int h0 = (int)((qh >> j) & 1) << 4, h1 = (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = (float)(((b[i].qs[j] & 15) | h0) - 16) * d;
            y[j + 16] = (float)(((b[i].qs[j] >> 4) | h1) - 16) * d;
        }
    }
}

static void dequant_q5_1(const void *src, float *y, int64_t n)
{
    const struct nn_block_q5_1 *b = src;
    for (int64_t i = 0; i < n / NN_QK; i++, y += NN_QK) {
        float d = nn_fp16_to_fp32(b[i].d), m = nn_fp16_to_fp32(b[i].m);
        uint32_t qh = load_u32le(b[i].qh);
        for (int j = 0; j < 16; j++) {
            int h0 = (int)((qh >> j) & 1) << 4, h1 = (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = (float)((b[i].qs[j] & 15) | h0) * d + m;
            y[j + 16] = (float)((b[i].qs[j] >> 4) | h1) * d + m;
        }
    }
}

static void dequant_q8_0(const void *src, float *y, int64_t n)
{
    const struct nn_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / NN_QK; i++, y += NN_QK) {
        float d = nn_fp16_to_fp32(b[i].d);
        for (int j = 0; j < NN_QK; j++)
            y[j] = (float)b[i].qs[j] * d;
    }
}

static void dequant_q4_k(const void *src, float *y, int64_t n)
{
    const struct nn_block_q4_k *b = src;
    for (int64_t i = 0; i < n / NN_QK_K; i++) {
        float d = nn_fp16_to_fp32(b[i].d), dmin = nn_fp16_to_fp32(b[i].dmin);
        uint8_t sc[8], mn[8];
        nn_unpack_scales_k4(b[i].scales, sc, mn);
        for (int c = 0; c < 4; c++) {
            const uint8_t *q = b[i].qs + 32 * c;
            float d1 = d * sc[2 * c], m1 = dmin * mn[2 * c];
            float d2 = d * sc[2 * c + 1], m2 = dmin * mn[2 * c + 1];
            for (int l = 0; l < 32; l++)
                *y++ = d1 * (float)(q[l] & 15) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

static void dequant_q5_k(const void *src, float *y, int64_t n)
{
    const struct nn_block_q5_k *b = src;
    for (int64_t i = 0; i < n / NN_QK_K; i++) {
        float d = nn_fp16_to_fp32(b[i].d), dmin = nn_fp16_to_fp32(b[i].dmin);
        uint8_t sc[8], mn[8];
        nn_unpack_scales_k4(b[i].scales, sc, mn);
        for (int c = 0; c < 4; c++) {
            const uint8_t *q = b[i].qs + 32 * c;
            float d1 = d * sc[2 * c], m1 = dmin * mn[2 * c];
            float d2 = d * sc[2 * c + 1], m2 = dmin * mn[2 * c + 1];
            for (int l = 0; l < 32; l++)
                *y++ = d1 * (float)((q[l] & 15) + (((b[i].qh[l] >> (2 * c)) & 1) << 4)) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * (float)((q[l] >> 4) + (((b[i].qh[l] >> (2 * c + 1)) & 1) << 4)) - m2;
        }
    }
}

static void dequant_q6_k(const void *src, float *y, int64_t n)
{
    const struct nn_block_q6_k *b = src;
    for (int64_t i = 0; i < n / NN_QK_K; i++) {
        float d = nn_fp16_to_fp32(b[i].d);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = b[i].ql + 64 * h, *qh = b[i].qh + 32 * h;
            const int8_t *sc = b[i].scales + 8 * h;
            float *o = y + 128 * h;
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = (int)((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = (int)((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = (int)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = (int)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                o[l] = d * sc[is + 0] * (float)q1;
                o[l + 32] = d * sc[is + 2] * (float)q2;
                o[l + 64] = d * sc[is + 4] * (float)q3;
                o[l + 96] = d * sc[is + 6] * (float)q4;
            }
        }
        y += NN_QK_K;
    }
}

bool nn_dequantize_row(enum nn_type t, const void *src, float *dst, int64_t n)
{
    nn_fp16_table_init();
    switch (t) {
    case NN_TYPE_F32:
        memcpy(dst, src, (size_t)n * 4);
        return true;
    case NN_TYPE_F16: {
        const uint8_t *p = src;
        for (int64_t i = 0; i < n; i++)
            dst[i] = nn_load_fp16(p + 2 * i);
        return true;
    }
    case NN_TYPE_BF16: {
        const uint8_t *p = src;
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = nn_bf16_to_fp32(h);
        }
        return true;
    }
    case NN_TYPE_Q4_0:
        dequant_q4_0(src, dst, n);
        return true;
    case NN_TYPE_Q4_1:
        dequant_q4_1(src, dst, n);
        return true;
    case NN_TYPE_Q5_0:
        dequant_q5_0(src, dst, n);
        return true;
    case NN_TYPE_Q5_1:
        dequant_q5_1(src, dst, n);
        return true;
    case NN_TYPE_Q8_0:
        dequant_q8_0(src, dst, n);
        return true;
    case NN_TYPE_Q4_K:
        dequant_q4_k(src, dst, n);
        return true;
    case NN_TYPE_Q5_K:
        dequant_q5_k(src, dst, n);
        return true;
    case NN_TYPE_Q6_K:
        dequant_q6_k(src, dst, n);
        return true;
    default:
        return false;
    }
}

/* ===== activation quantisation ===== */

/* Round half to even through the float adder (ggml's nearest_int), valid for |f| < 2^22. */
static int nearest_int(float f)
{
    float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

void nn_quantize_row_q8_0(const float *x, void *dst, int64_t n)
{
    struct nn_block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / NN_QK; i++, x += NN_QK) {
        float amax = 0.0f;
        for (int j = 0; j < NN_QK; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.f;
        float id = amax != 0.0f ? 127.f / amax : 0.0f;
        b[i].d = nn_fp32_to_fp16(d);
        for (int j = 0; j < NN_QK; j++)
            b[i].qs[j] = (int8_t)nearbyintf(x[j] * id);
    }
}

void nn_quantize_row_q8_1(const float *x, void *dst, int64_t n)
{
    struct nn_block_q8_1 *b = dst;
    for (int64_t i = 0; i < n / NN_QK; i++, x += NN_QK) {
        float amax = 0.0f;
        for (int j = 0; j < NN_QK; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.f;
        float id = amax != 0.0f ? 127.f / amax : 0.0f;
        b[i].d = nn_fp32_to_fp16(d);
        int sum = 0;
        for (int j = 0; j < NN_QK; j++) {
            b[i].qs[j] = (int8_t)nearbyintf(x[j] * id);
            sum += b[i].qs[j];
        }
        b[i].s = nn_fp32_to_fp16(d * (float)sum);
    }
}

void nn_quantize_row_q8_k(const float *x, void *dst, int64_t n)
{
    struct nn_block_q8_k *b = dst;
    for (int64_t i = 0; i < n / NN_QK_K; i++, x += NN_QK_K) {
        float max = 0, amax = 0;
        for (int j = 0; j < NN_QK_K; j++) {
            float ax = fabsf(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        if (amax == 0.0f) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < NN_QK_K; j++) {
            int v = nearest_int(iscale * x[j]);
            b[i].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int g = 0; g < NN_QK_K / 16; g++) {
            int s = 0;
            for (int l = 0; l < 16; l++)
                s += b[i].qs[16 * g + l];
            b[i].bsums[g] = (int16_t)s;
        }
        b[i].d = 1 / iscale;
    }
}

void nn_quantize_row_f16(const float *x, void *dst, int64_t n)
{
    uint16_t *o = dst;
    for (int64_t i = 0; i < n; i++)
        o[i] = nn_fp32_to_fp16(x[i]);
}

void nn_quantize_row_bf16(const float *x, void *dst, int64_t n)
{
    uint16_t *o = dst;
    for (int64_t i = 0; i < n; i++)
        o[i] = nn_fp32_to_bf16(x[i]);
}

/* ===== dot products (weights x activations) ===== */

void nn_vec_dot_f32_ref(int n, float *s, const void *vx, const void *vy)
{
    const float *x = vx, *y = vy;
    float sum = 0;
    for (int i = 0; i < n; i++)
        sum += x[i] * y[i];
    *s = sum;
}

void nn_vec_dot_f16_ref(int n, float *s, const void *vx, const void *vy)
{
    const uint16_t *x = vx, *y = vy;
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += (double)(nn_fp16_to_fp32(x[i]) * nn_fp16_to_fp32(y[i]));
    *s = (float)sum;
}

void nn_vec_dot_bf16_ref(int n, float *s, const void *vx, const void *vy)
{
    const uint16_t *x = vx, *y = vy;
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += (double)(nn_bf16_to_fp32(x[i]) * nn_bf16_to_fp32(y[i]));
    *s = (float)sum;
}

void nn_vec_dot_q4_0_ref(int n, float *s, const void *vx, const void *vy)
{
    const struct nn_block_q4_0 *x = vx;
    const struct nn_block_q8_0 *y = vy;
    float sumf = 0;
    for (int i = 0; i < n / NN_QK; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            sumi += ((x[i].qs[j] & 15) - 8) * y[i].qs[j];
            sumi += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
        }
        sumf += (float)sumi * (nn_fp16_to_fp32(x[i].d) * nn_fp16_to_fp32(y[i].d));
    }
    *s = sumf;
}

void nn_vec_dot_q4_1_ref(int n, float *s, const void *vx, const void *vy)
{
    const struct nn_block_q4_1 *x = vx;
    const struct nn_block_q8_1 *y = vy;
    float sumf = 0;
    for (int i = 0; i < n / NN_QK; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            sumi += (x[i].qs[j] & 15) * y[i].qs[j];
            sumi += (x[i].qs[j] >> 4) * y[i].qs[j + 16];
        }
        sumf += (nn_fp16_to_fp32(x[i].d) * nn_fp16_to_fp32(y[i].d)) * (float)sumi +
                nn_fp16_to_fp32(x[i].m) * nn_fp16_to_fp32(y[i].s);
    }
    *s = sumf;
}

void nn_vec_dot_q5_0_ref(int n, float *s, const void *vx, const void *vy)
{
    const struct nn_block_q5_0 *x = vx;
    const struct nn_block_q8_0 *y = vy;
    float sumf = 0;
    for (int i = 0; i < n / NN_QK; i++) {
        uint32_t qh = load_u32le(x[i].qh);
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            int h0 = (int)((qh >> j) & 1) << 4, h1 = (int)((qh >> (j + 16)) & 1) << 4;
            sumi += (((x[i].qs[j] & 15) | h0) - 16) * y[i].qs[j];
            sumi += (((x[i].qs[j] >> 4) | h1) - 16) * y[i].qs[j + 16];
        }
        sumf += (float)sumi * (nn_fp16_to_fp32(x[i].d) * nn_fp16_to_fp32(y[i].d));
    }
    *s = sumf;
}

void nn_vec_dot_q5_1_ref(int n, float *s, const void *vx, const void *vy)
{
    const struct nn_block_q5_1 *x = vx;
    const struct nn_block_q8_1 *y = vy;
    float sumf = 0;
    for (int i = 0; i < n / NN_QK; i++) {
        uint32_t qh = load_u32le(x[i].qh);
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            int h0 = (int)((qh >> j) & 1) << 4, h1 = (int)((qh >> (j + 16)) & 1) << 4;
            sumi += ((x[i].qs[j] & 15) | h0) * y[i].qs[j];
            sumi += ((x[i].qs[j] >> 4) | h1) * y[i].qs[j + 16];
        }
        sumf += (nn_fp16_to_fp32(x[i].d) * nn_fp16_to_fp32(y[i].d)) * (float)sumi +
                nn_fp16_to_fp32(x[i].m) * nn_fp16_to_fp32(y[i].s);
    }
    *s = sumf;
}

void nn_vec_dot_q8_0_ref(int n, float *s, const void *vx, const void *vy)
{
    const struct nn_block_q8_0 *x = vx;
    const struct nn_block_q8_0 *y = vy;
    float sumf = 0;
    for (int i = 0; i < n / NN_QK; i++) {
        int sumi = 0;
        for (int j = 0; j < NN_QK; j++)
            sumi += x[i].qs[j] * y[i].qs[j];
        sumf += (float)sumi * (nn_fp16_to_fp32(x[i].d) * nn_fp16_to_fp32(y[i].d));
    }
    *s = sumf;
}

void nn_vec_dot_q4_k_ref(int n, float *s, const void *vx, const void *vy)
{
    const struct nn_block_q4_k *x = vx;
    const struct nn_block_q8_k *y = vy;
    float sumf = 0;
    for (int i = 0; i < n / NN_QK_K; i++) {
        uint8_t sc[8], mn[8];
        nn_unpack_scales_k4(x[i].scales, sc, mn);
        int summs = 0;
        for (int g = 0; g < 16; g++)
            summs += y[i].bsums[g] * mn[g / 2];
        int sumi = 0;
        for (int c = 0; c < 4; c++) {
            const uint8_t *q = x[i].qs + 32 * c;
            const int8_t *a = y[i].qs + 64 * c;
            int s1 = 0, s2 = 0;
            for (int l = 0; l < 32; l++) {
                s1 += (q[l] & 15) * a[l];
                s2 += (q[l] >> 4) * a[l + 32];
            }
            sumi += sc[2 * c] * s1 + sc[2 * c + 1] * s2;
        }
        sumf += nn_fp16_to_fp32(x[i].d) * y[i].d * (float)sumi -
                nn_fp16_to_fp32(x[i].dmin) * y[i].d * (float)summs;
    }
    *s = sumf;
}

void nn_vec_dot_q5_k_ref(int n, float *s, const void *vx, const void *vy)
{
    const struct nn_block_q5_k *x = vx;
    const struct nn_block_q8_k *y = vy;
    float sumf = 0;
    for (int i = 0; i < n / NN_QK_K; i++) {
        uint8_t sc[8], mn[8];
        nn_unpack_scales_k4(x[i].scales, sc, mn);
        int summs = 0;
        for (int g = 0; g < 16; g++)
            summs += y[i].bsums[g] * mn[g / 2];
        int sumi = 0;
        for (int c = 0; c < 4; c++) {
            const uint8_t *q = x[i].qs + 32 * c;
            const int8_t *a = y[i].qs + 64 * c;
            int s1 = 0, s2 = 0;
            for (int l = 0; l < 32; l++) {
                int h1 = ((x[i].qh[l] >> (2 * c)) & 1) << 4;
                int h2 = ((x[i].qh[l] >> (2 * c + 1)) & 1) << 4;
                s1 += ((q[l] & 15) + h1) * a[l];
                s2 += ((q[l] >> 4) + h2) * a[l + 32];
            }
            sumi += sc[2 * c] * s1 + sc[2 * c + 1] * s2;
        }
        sumf += nn_fp16_to_fp32(x[i].d) * y[i].d * (float)sumi -
                nn_fp16_to_fp32(x[i].dmin) * y[i].d * (float)summs;
    }
    *s = sumf;
}

void nn_vec_dot_q6_k_ref(int n, float *s, const void *vx, const void *vy)
{
    const struct nn_block_q6_k *x = vx;
    const struct nn_block_q8_k *y = vy;
    double sumf = 0; /* block terms exact, rows whose blocks cancel keep their low digits */
    for (int i = 0; i < n / NN_QK_K; i++) {
        int sub[16] = {0};
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x[i].ql + 64 * h, *qh = x[i].qh + 32 * h;
            const int8_t *a = y[i].qs + 128 * h;
            for (int l = 0; l < 32; l++) {
                int q1 = (int)((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = (int)((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = (int)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = (int)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                int is = 8 * h + l / 16;
                sub[is + 0] += q1 * a[l];
                sub[is + 2] += q2 * a[l + 32];
                sub[is + 4] += q3 * a[l + 64];
                sub[is + 6] += q4 * a[l + 96];
            }
        }
        int sumi = 0;
        for (int k = 0; k < 16; k++)
            sumi += x[i].scales[k] * sub[k];
        sumf += (double)(nn_fp16_to_fp32(x[i].d) * y[i].d) * sumi;
    }
    *s = (float)sumf;
}
