/* json.h: strict RFC 8259 JSON parser into a small tree, and a streaming writer over a
 * vb_buf. The parser limits nesting depth and rejects trailing garbage, invalid UTF-8,
 * lone surrogates and control characters in strings.
 *
 *   struct vb_json *doc; char why[128];
 *   if (vb_json_parse(body, len, &doc, why, sizeof why)) -> 400 with `why`
 *   const char *name = vb_json_get_str(doc, "name");   // NULL if absent or not a string
 *   vb_json_free(doc);
 */
#ifndef VB_JSON_H
#define VB_JSON_H

#include "core/vb.h"
#include "core/buf.h"
#include "core/err.h"

#define VB_JSON_MAX_DEPTH 64

enum vb_json_type {
    VB_JSON_NULL,
    VB_JSON_BOOL,
    VB_JSON_NUMBER,
    VB_JSON_STRING,
    VB_JSON_ARRAY,
    VB_JSON_OBJECT,
};

struct vb_json {
    enum vb_json_type type;
    bool boolean;          /* VB_JSON_BOOL */
    double number;         /* VB_JSON_NUMBER */
    bool is_integer;       /* VB_JSON_NUMBER written without fraction/exponent and fits int64 */
    int64_t integer;       /* VB_JSON_NUMBER when is_integer */
    char *string;          /* VB_JSON_STRING: UTF-8, NUL-terminated (may contain U+0000) */
    size_t string_len;     /* bytes, excluding the NUL */
    char *key;             /* member name when inside an object, else NULL */
    struct vb_json *child; /* first element/member (ARRAY/OBJECT) */
    struct vb_json *next;  /* next sibling */
    size_t count;          /* number of children (ARRAY/OBJECT) */
};

/* Bounds for untrusted documents (request bodies). The tree costs about 100 bytes per
 * value whatever its text, so `[0,0,...]` grows fifty-fold: max_values caps that cost
 * before it is paid (the parser stops at the first value over the limit). */
struct vb_json_limits {
    int max_depth;     /* nesting levels of arrays/objects; 0 or > VB_JSON_MAX_DEPTH = that */
    size_t max_values; /* values in the document (every scalar, array and object); 0 = no cap */
};

/* Parses `len` bytes of `text`. On success *out is a new tree (caller frees with
 * vb_json_free). On failure returns VB_ERR_INVALID (or VB_ERR_NOMEM) and writes a short
 * reason with the byte offset into `why` (may be NULL). Limits: VB_JSON_MAX_DEPTH levels,
 * no cap on the number of values (for our own and model files). */
VB_WUR enum vb_err vb_json_parse(const char *text, size_t len, struct vb_json **out, char *why,
                                 size_t why_cap);
/* vb_json_parse within `lim` (NULL = vb_json_parse's limits). Over a limit: VB_ERR_INVALID
 * with "nesting too deep" or "more than N values" in `why`. */
VB_WUR enum vb_err vb_json_parse_limited(const char *text, size_t len,
                                         const struct vb_json_limits *lim, struct vb_json **out,
                                         char *why, size_t why_cap);
void vb_json_free(struct vb_json *j);

/* Member lookup on an object (last duplicate wins); NULL if j is not an object or has no
 * such member. All returned pointers are borrowed from the tree. */
const struct vb_json *vb_json_get(const struct vb_json *j, const char *key);
/* String member or NULL (absent or not a string). */
const char *vb_json_get_str(const struct vb_json *j, const char *key);
/* Integer member (a number written without fraction/exponent that fits int64): true and
 * *out set, else false and *out untouched. */
bool vb_json_get_int(const struct vb_json *j, const char *key, int64_t *out);
/* Boolean member: true and *out set, else false and *out untouched. */
bool vb_json_get_bool(const struct vb_json *j, const char *key, bool *out);
/* "null", "boolean", "number", "string", "array", "object"; static storage. */
const char *vb_json_type_name(enum vb_json_type t);

/* ===== Writer ===== */
struct vb_jw {
    struct vb_buf *buf;
    enum vb_err err; /* first error; later calls do nothing */
    int depth;
    bool first[VB_JSON_MAX_DEPTH + 1]; /* no element written yet at this depth */
    bool after_key;
};

void vb_jw_init(struct vb_jw *w, struct vb_buf *buf);
void vb_jw_obj_begin(struct vb_jw *w);
void vb_jw_obj_end(struct vb_jw *w);
void vb_jw_arr_begin(struct vb_jw *w);
void vb_jw_arr_end(struct vb_jw *w);
void vb_jw_key(struct vb_jw *w, const char *key);
void vb_jw_str(struct vb_jw *w, const char *s); /* NULL writes null */
void vb_jw_strn(struct vb_jw *w, const char *s, size_t len);
void vb_jw_int(struct vb_jw *w, int64_t v);
void vb_jw_double(struct vb_jw *w, double v); /* NaN/Inf write null */
void vb_jw_bool(struct vb_jw *w, bool v);
void vb_jw_null(struct vb_jw *w);
/* Inserts already-serialised JSON as one value (caller guarantees validity). */
void vb_jw_raw(struct vb_jw *w, const char *json, size_t len);
/* Writes a parsed tree (borrowed) as one value; NULL writes null. */
void vb_jw_value(struct vb_jw *w, const struct vb_json *j);
/* key + value shorthands */
void vb_jw_kstr(struct vb_jw *w, const char *key, const char *s);
void vb_jw_kint(struct vb_jw *w, const char *key, int64_t v);
void vb_jw_kdouble(struct vb_jw *w, const char *key, double v);
void vb_jw_kbool(struct vb_jw *w, const char *key, bool v);
/* The first error seen, or VB_OK. */
VB_WUR enum vb_err vb_jw_finish(struct vb_jw *w);

/* Appends `s` as a quoted, escaped JSON string to b. */
VB_WUR enum vb_err vb_json_quote(struct vb_buf *b, const char *s, size_t len);

#endif
