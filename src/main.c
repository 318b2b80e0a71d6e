/* main.c: wiring only: the allocation fault injection (tests), then the sub-command. */
#include "core/vb.h"
#include "cli/cli.h"
#include "core/alloc.h"

int main(int argc, char **argv)
{
    vb_alloc_fault_init();
    return cli_main(argc, argv);
}
