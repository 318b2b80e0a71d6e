/* refcase.h: locating one case of ../shared/testdata/chatterbox-ref (or $VOCERO_REFDATA) and
 * opening its safetensors files, for the component tests. */
#ifndef VB_TEST_CHATTERBOX_REFCASE_H
#define VB_TEST_CHATTERBOX_REFCASE_H

#include "unit/refdata.h"
#include "nn/safetensors.h"

#include <stdio.h>

static char g_dir[512]; /* the case's directory, set by ref_case */

/* true when chatterbox-ref/<name>/weights.safetensors is present. */
static bool ref_case(const char *name)
{
    char p[600];
    snprintf(g_dir, sizeof g_dir, "%s/chatterbox-ref/%s", refdata_root(), name);
    snprintf(p, sizeof p, "%s/weights.safetensors", g_dir);
    return refdata_exists(p);
}

/* Opens g_dir/name (caller closes with nn_st_close); NULL, with the reason printed. */
static struct nn_safetensors *open_st(const char *name)
{
    char p[600], why[256];
    struct nn_safetensors *st = NULL;
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    if (nn_st_open(p, &st, why, sizeof why) != VB_OK) {
        fprintf(stderr, "  open %s: %s\n", p, why);
        return NULL;
    }
    return st;
}

#endif
