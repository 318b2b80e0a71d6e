/* kernels.c: run-time selection of the per-type kernels and the other kernels of the table
 * (generic C, AVX2, AVX-512). */
#include "core/vb.h"
#include "nn/kernels.h"
#include "nn/activations.h"
#include "nn/attention.h"
#include "nn/fp16.h"
#include "nn/ops.h"

#include <pthread.h>

static struct nn_kernel table[3][NN_TYPE_COUNT];
static struct nn_op_kernels op_table[3];
static enum nn_isa chosen_isa, cpu_isa;
static bool amx_off; /* NN_ISA names a level below amx */
static pthread_once_t once = PTHREAD_ONCE_INIT;

#if defined(__x86_64__) || defined(__i386__)
#    include <cpuid.h>
/* F16C from CPUID leaf 1 (ECX bit 29): clang 14's __builtin_cpu_supports lacks "f16c". */
static bool has_f16c(void)
{
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
}
#endif

enum nn_isa nn_cpu_isa(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c();
    bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                  __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                  __builtin_cpu_supports("avx512vnni");
    return avx512 ? NN_ISA_AVX512 : avx2 ? NN_ISA_AVX2 : NN_ISA_GENERIC;
#else
    return NN_ISA_GENERIC;
#endif
}

const char *nn_isa_name(enum nn_isa isa)
{
    switch (isa) {
    case NN_ISA_GENERIC:
        return "generic";
    case NN_ISA_AVX2:
        return "avx2";
    case NN_ISA_AVX512:
        return "avx512";
    }
    return "?";
}

static void set_generic(enum nn_type t, nn_vec_dot_fn dot, nn_from_float_fn ff, enum nn_type vt)
{
    table[NN_ISA_GENERIC][t] = (struct nn_kernel){dot, NULL, ff, vt, {NULL, NULL, NULL}};
}

static void init_tables(void)
{
    nn_fp16_table_init();
    set_generic(NN_TYPE_F32, nn_vec_dot_f32_ref, NULL, NN_TYPE_F32);
    set_generic(NN_TYPE_F16, nn_vec_dot_f16_ref, nn_quantize_row_f16, NN_TYPE_F16);
    set_generic(NN_TYPE_BF16, nn_vec_dot_bf16_ref, nn_quantize_row_bf16, NN_TYPE_BF16);
    set_generic(NN_TYPE_Q4_0, nn_vec_dot_q4_0_ref, nn_quantize_row_q8_0, NN_TYPE_Q8_0);
    set_generic(NN_TYPE_Q4_1, nn_vec_dot_q4_1_ref, nn_quantize_row_q8_1, NN_TYPE_Q8_1);
    set_generic(NN_TYPE_Q5_0, nn_vec_dot_q5_0_ref, nn_quantize_row_q8_0, NN_TYPE_Q8_0);
    set_generic(NN_TYPE_Q5_1, nn_vec_dot_q5_1_ref, nn_quantize_row_q8_1, NN_TYPE_Q8_1);
    set_generic(NN_TYPE_Q8_0, nn_vec_dot_q8_0_ref, nn_quantize_row_q8_0, NN_TYPE_Q8_0);
    set_generic(NN_TYPE_Q4_K, nn_vec_dot_q4_k_ref, nn_quantize_row_q8_k, NN_TYPE_Q8_K);
    set_generic(NN_TYPE_Q5_K, nn_vec_dot_q5_k_ref, nn_quantize_row_q8_k, NN_TYPE_Q8_K);
    set_generic(NN_TYPE_Q6_K, nn_vec_dot_q6_k_ref, nn_quantize_row_q8_k, NN_TYPE_Q8_K);

    op_table[NN_ISA_GENERIC] = (struct nn_op_kernels){
        .gemm = {nn_gemm_tile_ref, nn_gemm_tile_f16_ref},
        .gemm_mr = NN_GEMM_MR,
        .snake = nn_snake_ref,
        .gelu = nn_gelu_ref,
        .swiglu = nn_swiglu_ref,
        .gelu_erf = nn_gelu_erf,
        .mish_fast = nn_mish_fast_ref,
        .softmax_row = nn_softmax_row_ref,
        .conv_tile = nn_conv_tile_ref,
    };

    enum nn_isa cpu = nn_cpu_isa();
    cpu_isa = cpu;
    op_table[NN_ISA_AVX2] = op_table[NN_ISA_GENERIC];
    if (cpu >= NN_ISA_AVX2)
        nn_avx2_op_kernels(&op_table[NN_ISA_AVX2]);
    op_table[NN_ISA_AVX512] = op_table[NN_ISA_AVX2];
    if (cpu >= NN_ISA_AVX512)
        nn_avx512_op_kernels(&op_table[NN_ISA_AVX512]);
    for (int t = 0; t < NN_TYPE_COUNT; t++) {
        table[NN_ISA_AVX2][t] = table[NN_ISA_GENERIC][t];
        table[NN_ISA_AVX512][t] = table[NN_ISA_GENERIC][t];
        if (!table[NN_ISA_GENERIC][t].vec_dot)
            continue;
        if (cpu >= NN_ISA_AVX2) {
            nn_vec_dot_fn d = nn_avx2_vec_dot((enum nn_type)t);
            nn_from_float_fn f = nn_avx2_from_float(table[NN_ISA_GENERIC][t].vec_dot_type);
            if (d)
                table[NN_ISA_AVX2][t].vec_dot = d;
            if (f)
                table[NN_ISA_AVX2][t].from_float = f;
            table[NN_ISA_AVX512][t] = table[NN_ISA_AVX2][t];
        }
        if (cpu >= NN_ISA_AVX512) {
            nn_vec_dot_fn d = nn_avx512_vec_dot((enum nn_type)t);
            nn_vec_dot_multi_fn dm = nn_avx512_vec_dot_multi((enum nn_type)t);
            if (d)
                table[NN_ISA_AVX512][t].vec_dot = d;
            if (dm)
                table[NN_ISA_AVX512][t].vec_dot_multi = dm;
            nn_from_float_fn f = nn_avx512_from_float(table[NN_ISA_GENERIC][t].vec_dot_type);
            if (f)
                table[NN_ISA_AVX512][t].from_float = f;
            struct nn_gemv g;
            if (nn_avx512_gemv((enum nn_type)t, &g))
                table[NN_ISA_AVX512][t].gemv = g;
        }
    }
    chosen_isa = cpu;
    const char *force = getenv("NN_ISA");
    if (force && *force) {
        /* amx: everything the CPU has (the default); avx512 and below: no AMX tiles */
        enum nn_isa want = cpu;
        amx_off = true;
        if (strcmp(force, "generic") == 0)
            want = NN_ISA_GENERIC;
        else if (strcmp(force, "avx2") == 0)
            want = NN_ISA_AVX2;
        else if (strcmp(force, "avx512") == 0)
            want = NN_ISA_AVX512;
        else
            amx_off = false;
        if (!amx_off && strcmp(force, "amx") != 0)
            fprintf(stderr, "NN_ISA=%s not known (generic, avx2, avx512, amx): ignored\n", force);
        if (want < chosen_isa)
            chosen_isa = want;
    }
}

bool nn_kernels_amx_allowed(void)
{
    pthread_once(&once, init_tables);
    return !amx_off;
}

const struct nn_kernel *nn_kernel_for_isa(enum nn_type t, enum nn_isa isa)
{
    pthread_once(&once, init_tables);
    if ((int)t < 0 || t >= NN_TYPE_COUNT || (int)isa < 0 || isa > NN_ISA_AVX512)
        return NULL;
    if (isa > cpu_isa)
        isa = cpu_isa;
    const struct nn_kernel *k = &table[isa][t];
    return k->vec_dot ? k : NULL;
}

const struct nn_kernel *nn_kernel_for(enum nn_type t)
{
    pthread_once(&once, init_tables);
    return nn_kernel_for_isa(t, chosen_isa);
}

const struct nn_op_kernels *nn_op_kernels(void)
{
    pthread_once(&once, init_tables);
    return &op_table[chosen_isa];
}

enum nn_isa nn_kernels_isa(void)
{
    pthread_once(&once, init_tables);
    return chosen_isa;
}

static void axpy_f32_ref(int n, float a, const void *vx, float *y)
{
    const float *x = vx;
    for (int i = 0; i < n; i++)
        y[i] += a * x[i];
}

static void axpy_f16_ref(int n, float a, const void *vx, float *y)
{
    const uint16_t *x = vx;
    for (int i = 0; i < n; i++)
        y[i] += a * nn_fp16_to_fp32(x[i]);
}

nn_axpy_fn nn_axpy_for(enum nn_type t)
{
    pthread_once(&once, init_tables);
    if (t != NN_TYPE_F32 && t != NN_TYPE_F16)
        return NULL;
    if (chosen_isa >= NN_ISA_AVX2) {
        nn_axpy_fn f = nn_avx2_axpy(t);
        if (f)
            return f;
    }
    return t == NN_TYPE_F32 ? axpy_f32_ref : axpy_f16_ref;
}
