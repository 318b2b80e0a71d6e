/* test_multipart.c: multipart/form-data boundary extraction and body parsing tables. */
#include "core/vb.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "http/multipart.h"
#include "unit/test.h"

static struct http_multipart *mp;

static enum vb_err parse(const char *body, size_t len, const char *boundary, char *why,
                         size_t why_cap)
{
    return http_multipart_parse(body, len, boundary, mp, why, why_cap);
}

TEST(boundary_table)
{
    static const struct {
        const char *ct;
        enum vb_err want;
        const char *boundary;
    } cases[] = {
        {"multipart/form-data; boundary=abc123", VB_OK, "abc123"},
        {"Multipart/Form-Data;boundary=abc", VB_OK, "abc"},
        {"multipart/form-data; charset=utf-8; boundary=\"a b:c\"", VB_OK, "a b:c"},
        {"multipart/form-data; BOUNDARY=----WebKitFormBoundary7MA4YWxkTrZu0gW", VB_OK,
         "----WebKitFormBoundary7MA4YWxkTrZu0gW"},
        {"multipart/form-data; boundary=\"quoted\" ; x=y", VB_OK, "quoted"},
        {"multipart/form-data;  boundary = spaced", VB_OK, "spaced"},
        {NULL, VB_ERR_MEDIA_TYPE, NULL},
        {"application/json", VB_ERR_MEDIA_TYPE, NULL},
        {"multipart/form-dataX; boundary=a", VB_ERR_MEDIA_TYPE, NULL},
        {"multipart/mixed; boundary=a", VB_ERR_MEDIA_TYPE, NULL},
        {"multipart/form-data", VB_ERR_INVALID, NULL},
        {"multipart/form-data;", VB_ERR_INVALID, NULL},
        {"multipart/form-data; boundary=", VB_ERR_INVALID, NULL},
        {"multipart/form-data; boundary=\"\"", VB_ERR_INVALID, NULL},
        {"multipart/form-data; boundary=\"abc", VB_ERR_INVALID, NULL},
        {"multipart/form-data; boundary=\"ends with space \"", VB_ERR_INVALID, NULL},
        {"multipart/form-data; boundary=\"bad\x01\"", VB_ERR_INVALID, NULL},
        {"multipart/form-data; boundary=\"semi;colon\"", VB_ERR_INVALID, NULL},
        {"multipart/form-data; boundary", VB_ERR_INVALID, NULL},
        {"multipart/form-data; boundary=a b", VB_ERR_INVALID, NULL},
    };
    for (size_t i = 0; i < VB_ARRAY_LEN(cases); i++) {
        char b[HTTP_MULTIPART_BOUNDARY_MAX + 1] = "";
        char why[128] = "";
        enum vb_err err = http_multipart_boundary(cases[i].ct, b, sizeof b, why, sizeof why);
        CHECK_MSG(err == cases[i].want, "case %zu (%s): got %d (%s)", i,
                  cases[i].ct ? cases[i].ct : "NULL", (int)err, why);
        if (!err) {
            const char *got = b;
            CHECK_EQ_STR(got, cases[i].boundary);
        } else {
            CHECK_MSG(why[0] != '\0', "case %zu: no reason", i);
        }
    }
    /* 70 characters is the maximum */
    char ct[200], b[HTTP_MULTIPART_BOUNDARY_MAX + 1];
    char seventy[71];
    memset(seventy, 'x', 70);
    seventy[70] = '\0';
    snprintf(ct, sizeof ct, "multipart/form-data; boundary=%s", seventy);
    CHECK(http_multipart_boundary(ct, b, sizeof b, NULL, 0) == VB_OK);
    snprintf(ct, sizeof ct, "multipart/form-data; boundary=%sx", seventy);
    CHECK(http_multipart_boundary(ct, b, sizeof b, NULL, 0) == VB_ERR_INVALID);
    snprintf(ct, sizeof ct, "multipart/form-data; boundary=\"%sx\"", seventy);
    CHECK(http_multipart_boundary(ct, b, sizeof b, NULL, 0) == VB_ERR_INVALID);
}

#define GOOD                                                                                       \
    "preamble to ignore\r\n"                                                                       \
    "--XyZ\r\n"                                                                                    \
    "Content-Disposition: form-data; name=\"name\"\r\n"                                            \
    "\r\n"                                                                                         \
    "narrator\r\n"                                                                                 \
    "--XyZ\r\n"                                                                                    \
    "content-disposition: form-data; name=\"file\"; filename=\"a \\\"b\\\".wav\"\r\n"              \
    "Content-Type: audio/wav\r\n"                                                                  \
    "\r\n"                                                                                         \
    "RIFF\r\n--XyZ-not-a-boundary\r\n\0\0\xff\r\n"                                                 \
    "--XyZ\r\n"                                                                                    \
    "Content-Disposition: form-data; name=empty\r\n"                                               \
    "\r\n"                                                                                         \
    "\r\n"                                                                                         \
    "--XyZ--\r\n"                                                                                  \
    "epilogue"

TEST(parse_good)
{
    static const char body[] = GOOD;
    char why[128] = "";
    /* "--XyZ-not..." inside the data: delimiter followed by '-' is not "--" + CRLF, so the
     * parser must treat it as malformed... unless it is data. RFC: the boundary must not
     * occur in the data, so this is an error for a strict parser. */
    enum vb_err err = parse(body, sizeof body - 1, "XyZ", why, sizeof why);
    CHECK_MSG(err == VB_ERR_INVALID, "%s", why);

    static const char body2[] =
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"name\"\r\n"
        "\r\n"
        "narrator\r\n"
        "--XyZ   \r\n" /* transport padding */
        "content-disposition: form-data; name=\"file\"; filename=\"a \\\"b\\\".wav\"\r\n"
        "Content-Type: audio/wav\r\n"
        "X-Ignored: yes\r\n"
        "\r\n"
        "RIFF\r\n\r\n--XyY\r\n\0\0\xff\r\n"
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=empty\r\n"
        "\r\n"
        "\r\n"
        "--XyZ--\r\n"
        "epilogue";
    err = parse(body2, sizeof body2 - 1, "XyZ", why, sizeof why);
    CHECK_MSG(err == VB_OK, "%s", why);
    CHECK_EQ_INT(mp->n_parts, 3);
    const struct http_part *p = http_multipart_get(mp, "name");
    CHECK(p && p->len == 8 && memcmp(p->data, "narrator", 8) == 0 && !p->has_filename);
    CHECK(p && p->data >= body2 && p->data < body2 + sizeof body2); /* no copy */
    p = http_multipart_get(mp, "file");
    CHECK(p != NULL);
    if (p) {
        const char *fn = p->filename, *ct = p->content_type;
        CHECK_EQ_STR(fn, "a \"b\".wav");
        CHECK(p->has_filename);
        CHECK_EQ_STR(ct, "audio/wav");
        static const char want[] = "RIFF\r\n\r\n--XyY\r\n\0\0\xff";
        CHECK_EQ_INT(p->len, sizeof want - 1);
        CHECK(memcmp(p->data, want, sizeof want - 1) == 0);
    }
    p = http_multipart_get(mp, "empty");
    CHECK(p && p->len == 0);
    CHECK(http_multipart_get(mp, "missing") == NULL);
    CHECK(http_multipart_get(NULL, "x") == NULL);
}

TEST(parse_zero_parts_and_preamble)
{
    char why[128];
    CHECK(parse("--b--", 5, "b", why, sizeof why) == VB_OK);
    CHECK_EQ_INT(mp->n_parts, 0);
    static const char body[] =
        "junk\r\n--b\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--b--";
    CHECK(parse(body, sizeof body - 1, "b", why, sizeof why) == VB_OK);
    CHECK_EQ_INT(mp->n_parts, 1);
}

TEST(parse_errors_table)
{
    static const struct {
        const char *body;
        const char *boundary;
        const char *reason; /* substring of why */
    } cases[] = {
        {"", "b", "no opening boundary"},
        {"hello", "b", "no opening boundary"},
        {"--b", "b", "truncated"},
        {"--b\r", "b", "truncated"},
        {"--bX\r\n", "b", "malformed"},
        {"--b\r\nContent-Disposition: form-data; name=a\r\n\r\ndata", "b", "truncated"},
        {"--b\r\nContent-Disposition: form-data; name=a\r\n\r\ndata\r\n--b", "b", "truncated"},
        {"--b\r\nContent-Disposition: form-data; name=a\r\n", "b", "truncated headers"},
        {"--b\r\n\r\nx\r\n--b--", "b", "missing Content-Disposition"},
        {"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--", "b", "missing Content-Disposition"},
        {"--b\r\nContent-Disposition: attachment; name=a\r\n\r\nx\r\n--b--", "b", "not form-data"},
        {"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--", "b", "no name"},
        {"--b\r\nContent-Disposition: form-data; filename=a\r\n\r\nx\r\n--b--", "b", "no name"},
        {"--b\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n--b--", "b", "name"},
        {"--b\r\nContent-Disposition: form-data; name=\r\n\r\nx\r\n--b--", "b", "name"},
        {"--b\r\nContent-Disposition: form-data; name=a; name2\r\n\r\nx\r\n--b--", "b",
         "malformed"},
        {"--b\r\nno colon here\r\n\r\nx\r\n--b--", "b", "malformed header"},
        {"--b\r\n: empty name\r\n\r\nx\r\n--b--", "b", "malformed header"},
        {"--b\r\nContent-Disposition: form-data;\r\n name=a\r\n\r\nx\r\n--b--", "b", "folded"},
        {"--b\r\nBad Name: x\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--b--", "b",
         "header name"},
        {"--b\r\nContent-Disposition: form-data; name=a\r\nContent-Disposition: form-data; "
         "name=b\r\n\r\nx\r\n--b--",
         "b", "duplicate"},
        {"--b\r\nContent-Disposition: form-data; name=a\x01\r\n\r\nx\r\n--b--", "b", "control"},
    };
    for (size_t i = 0; i < VB_ARRAY_LEN(cases); i++) {
        char why[160] = "";
        enum vb_err err =
            parse(cases[i].body, strlen(cases[i].body), cases[i].boundary, why, sizeof why);
        CHECK_MSG(err == VB_ERR_INVALID, "case %zu: got %d", i, (int)err);
        CHECK_MSG(strstr(why, cases[i].reason) != NULL, "case %zu: reason \"%s\"", i, why);
    }
    char why[64];
    CHECK(parse("--b--", 5, "", why, sizeof why) == VB_ERR_INVALID);
    CHECK(parse("--b--", 5, NULL, why, sizeof why) == VB_ERR_INVALID);
    CHECK(parse(NULL, 10, "b", why, sizeof why) == VB_ERR_INVALID);
}

TEST(parse_limits)
{
    char why[160];
    struct vb_buf b;
    vb_buf_init(&b, 1 << 20);
    /* huge header block */
    CHECK(vb_buf_puts(&b, "--b\r\nContent-Disposition: form-data; name=a\r\nX-Pad: ") == VB_OK);
    for (int i = 0; i < HTTP_MULTIPART_HEADER_MAX; i++)
        CHECK(vb_buf_putc(&b, 'p') == VB_OK);
    CHECK(vb_buf_puts(&b, "\r\n\r\nx\r\n--b--") == VB_OK);
    CHECK(parse(b.data, b.len, "b", why, sizeof why) == VB_ERR_INVALID);
    CHECK(strstr(why, "headers over") != NULL);
    vb_buf_reset(&b);

    /* long name / filename */
    char big[HTTP_MULTIPART_FILENAME_MAX + 10];
    memset(big, 'n', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK(vb_buf_printf(&b,
                        "--b\r\nContent-Disposition: form-data; name=\"%.*s\"\r\n\r\nx\r\n--b--",
                        HTTP_MULTIPART_NAME_MAX + 1, big) == VB_OK);
    CHECK(parse(b.data, b.len, "b", why, sizeof why) == VB_ERR_INVALID);
    vb_buf_reset(&b);
    CHECK(vb_buf_printf(&b,
                        "--b\r\nContent-Disposition: form-data; name=\"%.*s\"\r\n\r\nx\r\n--b--",
                        HTTP_MULTIPART_NAME_MAX, big) == VB_OK);
    CHECK(parse(b.data, b.len, "b", why, sizeof why) == VB_OK);
    vb_buf_reset(&b);
    CHECK(vb_buf_printf(&b,
                        "--b\r\nContent-Disposition: form-data; name=f; filename=\"%s\"\r\n\r\n"
                        "x\r\n--b--",
                        big) == VB_OK);
    CHECK(parse(b.data, b.len, "b", why, sizeof why) == VB_ERR_INVALID);
    vb_buf_reset(&b);

    /* part count: the maximum parses, one more fails */
    for (int i = 0; i < HTTP_MULTIPART_MAX_PARTS; i++)
        CHECK(vb_buf_printf(&b, "--b\r\nContent-Disposition: form-data; name=p%d\r\n\r\n%d\r\n", i,
                            i) == VB_OK);
    size_t at_max = b.len;
    CHECK(vb_buf_puts(&b, "--b--") == VB_OK);
    CHECK(parse(b.data, b.len, "b", why, sizeof why) == VB_OK);
    CHECK_EQ_INT(mp->n_parts, HTTP_MULTIPART_MAX_PARTS);
    b.len = at_max;
    CHECK(vb_buf_puts(&b, "--b\r\nContent-Disposition: form-data; name=extra\r\n\r\nx\r\n--b--") ==
          VB_OK);
    CHECK(parse(b.data, b.len, "b", why, sizeof why) == VB_ERR_INVALID);
    CHECK(strstr(why, "more than") != NULL);
    vb_buf_release(&b);
}

TEST(parse_binary)
{
    /* every byte value, CRLFs and partial boundaries inside the data */
    struct vb_buf b;
    vb_buf_init(&b, 1 << 20);
    char data[600];
    for (int i = 0; i < 512; i++)
        data[i] = (char)(i & 0xff);
    memcpy(data + 512, "\r\n--bound\r\r\n-\r\n--boun", 22);
    size_t dlen = 534;
    CHECK(vb_buf_puts(&b, "--boundary\r\nContent-Disposition: form-data; name=\"file\"; "
                          "filename=\"x.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n") ==
          VB_OK);
    CHECK(vb_buf_append(&b, data, dlen) == VB_OK);
    CHECK(vb_buf_puts(&b, "\r\n--boundary--") == VB_OK);
    char why[128] = "";
    CHECK_MSG(parse(b.data, b.len, "boundary", why, sizeof why) == VB_OK, "%s", why);
    const struct http_part *p = http_multipart_get(mp, "file");
    CHECK(p && p->len == dlen && memcmp(p->data, data, dlen) == 0);
    vb_buf_release(&b);
}

int main(void)
{
    mp = vb_xmalloc(sizeof *mp);
    RUN(boundary_table);
    RUN(parse_good);
    RUN(parse_zero_parts_and_preamble);
    RUN(parse_errors_table);
    RUN(parse_limits);
    RUN(parse_binary);
    vb_free(mp);
    return test_summary();
}
