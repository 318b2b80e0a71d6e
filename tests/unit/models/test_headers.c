/* test_headers.c: response-header parsing for downloads: status lines, Content-Range (valid,
 * unsatisfiable, malformed), Content-Length, X-Linked-Etag (SHA-256 vs git SHA-1), resets
 * between the responses of a redirect chain. */
#include "core/vb.h"
#include "models/headers.h"
#include "unit/test.h"

static void feed(struct models_resp *r, const char *line)
{
    models_resp_header(r, line, strlen(line));
}

#define SHA "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

TEST(test_status_lines)
{
    static const struct {
        const char *line;
        int status;
    } cases[] = {
        {"HTTP/1.1 200 OK\r\n", 200},
        {"HTTP/2 206\r\n", 206},
        {"HTTP/1.1 416 Range Not Satisfiable", 416},
        {"HTTP/1.1 2000 OK\r\n", 0},
        {"HTTP/1.1 20 OK\r\n", 0},
        {"HTTP/1.1 abc OK\r\n", 0},
        {"HTTP/1.1\r\n", 0},
        {"HTTP/", 0},
    };
    for (size_t i = 0; i < VB_ARRAY_LEN(cases); i++) {
        struct models_resp r;
        models_resp_init(&r);
        feed(&r, cases[i].line);
        CHECK_MSG(r.status == cases[i].status, "%s -> %d", cases[i].line, r.status);
    }
}

TEST(test_content_range)
{
    static const struct {
        const char *value;
        bool have;
        uint64_t start, end, total;
    } cases[] = {
        {"Content-Range: bytes 100-999/1000\r\n", true, 100, 999, 1000},
        {"content-range:bytes 0-0/1", true, 0, 0, 1},
        {"Content-Range: bytes 5-9/*", true, 5, 9, 0},
        {"Content-Range: bytes */1000", false, 0, 0, 1000},
        {"Content-Range: bytes 100-1000/1000", false, 0, 0, 0}, /* end past the total */
        {"Content-Range: bytes 9-5/100", false, 0, 0, 0},
        {"Content-Range: bytes -5/100", false, 0, 0, 0},
        {"Content-Range: bytes 1-/100", false, 0, 0, 0},
        {"Content-Range: items 1-2/100", false, 0, 0, 0},
        {"Content-Range: bytes 1-2/-100", false, 0, 0, 0},
        {"Content-Range: bytes 1-2/99999999999999999999999", false, 0, 0, 0},
        {"Content-Range: bytes +1-2/100", false, 0, 0, 0},
        {"Content-Range: bytes 1-2", false, 0, 0, 0},
        {"Content-Range:", false, 0, 0, 0},
    };
    for (size_t i = 0; i < VB_ARRAY_LEN(cases); i++) {
        struct models_resp r;
        models_resp_init(&r);
        feed(&r, cases[i].value);
        CHECK_MSG(
            r.have_range == cases[i].have && r.range_total == cases[i].total &&
                (!r.have_range || (r.range_start == cases[i].start && r.range_end == cases[i].end)),
            "case %zu: %s", i, cases[i].value);
    }
}

TEST(test_lengths_and_etags)
{
    struct models_resp r;
    models_resp_init(&r);
    CHECK_EQ_INT(r.content_length, -1);
    feed(&r, "Content-Length: 12345\r\n");
    CHECK_EQ_INT(r.content_length, 12345);
    feed(&r, "Content-Length: 12x\r\n"); /* malformed: ignored, previous value kept */
    CHECK_EQ_INT(r.content_length, 12345);
    feed(&r, "Content-Length: 99999999999999999999\r\n");
    CHECK_EQ_INT(r.content_length, 12345);
    feed(&r, "X-Linked-Size: 4242\r\n");
    CHECK_EQ_INT(r.linked_size, 4242);
    feed(&r, "X-Linked-Etag: \"" SHA "\"\r\n");
    CHECK(strcmp(r.linked_etag, SHA) == 0);
    /* A git blob SHA-1 (non-LFS files) is not a content hash. */
    struct models_resp s;
    models_resp_init(&s);
    feed(&s, "X-Linked-Etag: \"0123456789abcdef0123456789abcdef01234567\"");
    CHECK(s.linked_etag[0] == '\0');
    feed(&s,
         "x-linked-etag: W/\"9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08\"");
    CHECK(strcmp(s.linked_etag, SHA) == 0); /* lower-cased */
    models_resp_init(&s);
    feed(&s, "X-Linked-Etag: " SHA);
    CHECK(strcmp(s.linked_etag, SHA) == 0);
    models_resp_init(&s);
    feed(&s, "X-Linked-Etag: \"" SHA);
    CHECK(s.linked_etag[0] == '\0');
    feed(&s, "X-Linked-Etag: \"\"");
    feed(&s, "X-Linked-Etag: \"");
    feed(&s, "X-Linked-Etag:");
    CHECK(s.linked_etag[0] == '\0');
    feed(&s, "no colon here");
    feed(&s, "");
    feed(&s, "\r\n");
    CHECK_EQ_INT(s.status, 0);
}

TEST(test_redirect_chain)
{
    /* huggingface.co's 302 carries the hash; the CDN's 200 has its own length. */
    struct models_resp r;
    models_resp_init(&r);
    feed(&r, "HTTP/1.1 302 Found\r\n");
    feed(&r, "Content-Length: 1234\r\n");
    feed(&r, "Content-Range: bytes 0-9/10\r\n");
    feed(&r, "X-Linked-Etag: \"" SHA "\"\r\n");
    feed(&r, "X-Linked-Size: 500\r\n");
    feed(&r, "\r\n");
    CHECK_EQ_INT(r.status, 302);
    feed(&r, "HTTP/2 200\r\n");
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(r.content_length, -1); /* reset for the new response */
    CHECK(!r.have_range && r.range_total == 0);
    CHECK(strcmp(r.linked_etag, SHA) == 0); /* kept across the chain */
    CHECK_EQ_INT(r.linked_size, 500);
    feed(&r, "content-length: 500\r\n");
    CHECK_EQ_INT(r.content_length, 500);
}

int main(void)
{
    RUN(test_status_lines);
    RUN(test_content_range);
    RUN(test_lengths_and_etags);
    RUN(test_redirect_chain);
    return test_summary();
}
