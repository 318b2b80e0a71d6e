/* fuzz_json.c: libFuzzer target for the JSON parser. Any input must parse or fail cleanly;
 * a parsed tree re-serialised by the writer must parse again and serialise identically.
 * The same input parsed within limits taken from its first two bytes (depth, values) must
 * agree: a success within limits is a success without them, with the same tree. */
#include "core/vb.h"
#include "core/json.h"
#include "core/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *write_tree(const struct vb_json *j)
{
    struct vb_buf b;
    vb_buf_init(&b, 64u << 20);
    struct vb_jw w;
    vb_jw_init(&w, &b);
    vb_jw_value(&w, j);
    if (vb_jw_finish(&w) != VB_OK)
        abort(); /* the writer must accept every tree the parser builds */
    return vb_buf_take(&b);
}

/* Parses data within limits from its first two bytes; checks it agrees with `full` (the
 * unlimited parse of the same bytes, NULL when that failed). */
static void check_limited(const uint8_t *data, size_t size, const struct vb_json *full)
{
    if (size < 2)
        return;
    const struct vb_json_limits lim = {.max_depth = data[0] % 80, .max_values = data[1]};
    struct vb_json *j = NULL;
    char why[128];
    if (vb_json_parse_limited((const char *)data, size, &lim, &j, why, sizeof why) != VB_OK) {
        if (j || !strstr(why, " at offset "))
            abort();
        return;
    }
    if (!full)
        abort(); /* limits can only refuse more */
    char *a = write_tree(j), *b = write_tree(full);
    if (strcmp(a, b) != 0)
        abort();
    vb_free(a);
    vb_free(b);
    vb_json_free(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vb_json *j = NULL, *again = NULL;
    char why[128];
    if (vb_json_parse((const char *)data, size, &j, why, sizeof why) != VB_OK) {
        if (j || !strstr(why, " at offset "))
            abort();
        check_limited(data, size, NULL);
        return 0;
    }
    check_limited(data, size, j);
    /* Exercise lookups on whatever came out. */
    (void)vb_json_get_str(j, "a");
    char *text = write_tree(j);
    if (vb_json_parse(text, strlen(text), &again, why, sizeof why) != VB_OK) {
        fprintf(stderr, "re-parse failed: %s\n%s\n", why, text);
        abort();
    }
    char *text2 = write_tree(again);
    if (strcmp(text, text2) != 0) {
        fprintf(stderr, "not stable:\n%s\n%s\n", text, text2);
        abort();
    }
    vb_free(text);
    vb_free(text2);
    vb_json_free(again);
    vb_json_free(j);
    return 0;
}
