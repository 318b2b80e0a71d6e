/* main.c: wiring only: parse the sub-command and dispatch. */
#include "core/vb.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("vocero %s\n", VB_VERSION);
        return 0;
    }
    fprintf(stderr, "usage: vocero serve|user|--help\n");
    return 2;
}
