/* vb.h: the first include of every .c file in Vocero: feature macros, attributes and the
 * list of libc functions we ban. */
#ifndef VB_VB_H
#define VB_VB_H

#ifndef _GNU_SOURCE
#    define _GNU_SOURCE
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
/* Headers that declare banned functions come before banned.h redefines them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VB_WUR          __attribute__((warn_unused_result))
#define VB_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define VB_UNUSED       __attribute__((unused))
#define VB_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define VB_MIN(a, b)    ((a) < (b) ? (a) : (b))
#define VB_MAX(a, b)    ((a) > (b) ? (a) : (b))

#define VB_VERSION "0.1.0"

#include "core/banned.h"

#endif
