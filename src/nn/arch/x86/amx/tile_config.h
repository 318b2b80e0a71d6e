/* tile_config.h: the Intel AMX tile configuration shared by the AMX kernels (GEMM, matmul, conv):
 * the 64-byte LDTILECFG block and the one layout they use, 8 tiles of 16 rows x 64 bytes. */
#ifndef NN_ARCH_AMX_TILE_CONFIG_H
#define NN_ARCH_AMX_TILE_CONFIG_H

#include "core/vb.h"

#define NN_AMX_TILES 8 /* tmm0..tmm7 */

/* Palette-1 tile configuration, as LDTILECFG reads it (64 bytes). */
struct nn_amx_cfg {
    uint8_t palette, start_row;
    uint8_t reserved[14];
    uint16_t colsb[16]; /* bytes per row of each tile */
    uint8_t rows[16];
};
_Static_assert(sizeof(struct nn_amx_cfg) == 64, "LDTILECFG block");

/* Every tile 16 rows x 64 bytes: a 16x16 F32/I32 accumulator, 16x32 BF16 or 16x64 INT8
 * operands. Load it with _tile_loadconfig in each thread that runs tile instructions. */
static inline void nn_amx_cfg_full(struct nn_amx_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->palette = 1;
    for (int t = 0; t < NN_AMX_TILES; t++) {
        c->rows[t] = 16;
        c->colsb[t] = 64;
    }
}

#endif
