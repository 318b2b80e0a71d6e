/* isa_level.c: prints the instruction-set level the nn kernels run at in this process
 * (generic, avx2, avx512 or amx), after NN_ISA from the environment. scripts/run-isa-tests.sh
 * runs it with NN_ISA=LEVEL to learn whether this machine has LEVEL: a level the CPU lacks
 * comes back lower. */
#include "core/vb.h"
#include "nn/gemm.h"
#include "nn/kernels.h"

#include <stdio.h>

int main(void)
{
    printf("%s\n", nn_gemm_amx_available() ? "amx" : nn_isa_name(nn_kernels_isa()));
    return 0;
}
