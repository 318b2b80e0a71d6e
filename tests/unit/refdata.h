/* refdata.h: helpers for the reference-vector tests: locating ../shared/testdata (or
 * $VOCERO_REFDATA), opening reference .safetensors (absent: a missing-data skip; present but
 * unreadable: a failure), reading whole files, .npy float32 arrays and JSON int arrays. */
#ifndef TEST_REFDATA_H
#define TEST_REFDATA_H

#include "core/vb.h"
#include "core/alloc.h"
#include "core/json.h"
#include "nn/safetensors.h"
#include "unit/test.h"

#include <math.h>
#include <sys/stat.h>

static inline const char *refdata_root(void)
{
    const char *env = getenv("VOCERO_REFDATA");
    return env && *env ? env : "../shared/testdata";
}

/* Largest |a[i] - b[i]| (INFINITY if any is NaN). */
static inline double refdata_max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m))
            m = isnan(d) ? INFINITY : d;
    }
    return m;
}

/* Path under the root; static buffer per call site is the caller's. */
static inline void refdata_path(char *out, size_t cap, const char *rel)
{
    snprintf(out, cap, "%s/%s", refdata_root(), rel);
}

static inline bool refdata_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* The reference .safetensors at path for the test `name`: NULL after SKIP_MISSING_DATA when
 * the file is absent, NULL after a failed check naming the file and the problem when it is
 * there but cannot be opened (truncated, corrupt): broken data never passes as a skip. */
static inline struct nn_safetensors *refdata_open_st(const char *name, const char *path)
{
    struct nn_safetensors *st = NULL;
    char why[256] = "";
    if (!refdata_exists(path)) {
        char msg[1100];
        if (snprintf(msg, sizeof msg, "%s not found (set VOCERO_REFDATA)", path) < 0)
            msg[0] = 0;
        test_skip(name, msg, true);
        return NULL;
    }
    if (nn_st_open(path, &st, why, sizeof why) != VB_OK) {
        fprintf(stderr, "  FAIL %s: reference data broken: %s\n", name, why);
        test_checks_failed++;
        return NULL;
    }
    return st;
}

/* Whole file; caller frees with vb_free. NULL on error. */
static inline char *refdata_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? vb_try_malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        vb_free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = 0;
        *len = (size_t)n;
    }
    return buf;
}

/* Loads a little-endian float32 C-order .npy (v1/v2); returns the data (caller frees) and the
 * total element count and the last dimension. */
static inline float *refdata_npy(const char *path, size_t *count, size_t *last_dim)
{
    size_t len;
    char *buf = refdata_read(path, &len);
    if (!buf || len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0) {
        vb_free(buf);
        return NULL;
    }
    size_t hlen, hoff;
    if (buf[6] == 1) {
        hlen = (uint8_t)buf[8] | (size_t)(uint8_t)buf[9] << 8;
        hoff = 10;
    } else {
        hlen = (uint8_t)buf[8] | (size_t)(uint8_t)buf[9] << 8 | (size_t)(uint8_t)buf[10] << 16 |
               (size_t)(uint8_t)buf[11] << 24;
        hoff = 12;
    }
    if (hoff + hlen > len || !strstr(buf + hoff, "'<f4'") || strstr(buf + hoff, "True")) {
        vb_free(buf);
        return NULL;
    }
    const char *sh = strstr(buf + hoff, "'shape': (");
    size_t total = 1, last = 1;
    if (sh) {
        sh += 10;
        while (*sh && *sh != ')') {
            char *end;
            long v = strtol(sh, &end, 10);
            if (end == sh)
                break;
            total *= (size_t)v;
            last = (size_t)v;
            sh = end;
            while (*sh == ',' || *sh == ' ')
                sh++;
        }
    }
    size_t data_off = hoff + hlen;
    if (len - data_off < total * 4) {
        vb_free(buf);
        return NULL;
    }
    float *out = vb_xmalloc(total * 4 + 4);
    memcpy(out, buf + data_off, total * 4);
    vb_free(buf);
    *count = total;
    *last_dim = last;
    return out;
}

/* JSON array of integers -> int32 array (caller frees); NULL if not such an array. */
static inline int32_t *refdata_json_ints(const struct vb_json *arr, int *n)
{
    if (!arr || arr->type != VB_JSON_ARRAY)
        return NULL;
    int32_t *out = vb_xmalloc((arr->count + 1) * sizeof *out);
    int i = 0;
    for (const struct vb_json *e = arr->child; e; e = e->next) {
        if (e->type != VB_JSON_NUMBER) {
            vb_free(out);
            return NULL;
        }
        out[i++] = (int32_t)e->number;
    }
    *n = i;
    return out;
}

static inline double *refdata_json_doubles(const struct vb_json *arr, int *n)
{
    if (!arr || arr->type != VB_JSON_ARRAY)
        return NULL;
    double *out = vb_xmalloc((arr->count + 1) * sizeof *out);
    int i = 0;
    for (const struct vb_json *e = arr->child; e; e = e->next)
        out[i++] = e->type == VB_JSON_NUMBER ? e->number : 0;
    *n = i;
    return out;
}

#endif
