/* test_buf.c: the capped byte buffer: appends, printf, the ceiling (exact fit, one over,
 * overflow of size arithmetic), release on error, take/reset/str. */
#include "core/vb.h"
#include "core/buf.h"
#include "core/alloc.h"
#include "unit/test.h"

TEST(test_empty)
{
    struct vb_buf b;
    vb_buf_init(&b, 16);
    CHECK(b.data == NULL && b.len == 0);
    CHECK_EQ_STR(vb_buf_str(&b), "");
    CHECK(vb_buf_append(&b, NULL, 0) == VB_OK);
    CHECK(vb_buf_puts(&b, "") == VB_OK);
    CHECK_EQ_STR(vb_buf_str(&b), "");
    char *s = vb_buf_take(&b);
    CHECK_EQ_STR(s, "");
    vb_free(s);
    CHECK(b.data == NULL && b.len == 0);
    vb_buf_reset(&b); /* on empty */
    vb_buf_release(&b);
    vb_buf_release(&b);
}

TEST(test_append_and_printf)
{
    struct vb_buf b;
    vb_buf_init(&b, 1 << 20);
    CHECK(vb_buf_puts(&b, "abc") == VB_OK);
    CHECK(vb_buf_putc(&b, '-') == VB_OK);
    CHECK(vb_buf_append(&b, "x\0y", 3) == VB_OK);
    CHECK_EQ_INT(b.len, 7);
    CHECK(memcmp(b.data, "abc-x\0y", 8) == 0); /* NUL-terminated after the data */
    CHECK(vb_buf_printf(&b, "[%d|%s|%5.2f]", -42, "str", 3.14159) == VB_OK);
    CHECK(strcmp(b.data + 7, "[-42|str| 3.14]") == 0);
    vb_buf_reset(&b);
    CHECK(b.len == 0 && b.data && b.data[0] == '\0');
    /* Growth over many appends keeps the content. */
    for (int i = 0; i < 10000; i++)
        CHECK(vb_buf_printf(&b, "%04d", i % 10000) == VB_OK);
    CHECK_EQ_INT(b.len, 40000);
    CHECK(strncmp(b.data + 4 * 1234, "1234", 4) == 0);
    CHECK(b.cap > b.len);
    vb_buf_release(&b);
}

TEST(test_ceiling)
{
    struct vb_buf b;
    vb_buf_init(&b, 8);
    CHECK(vb_buf_puts(&b, "12345678") == VB_OK); /* exactly the ceiling */
    CHECK_EQ_INT(b.len, 8);
    CHECK(vb_buf_putc(&b, '9') == VB_ERR_TOO_LARGE);
    CHECK(b.data == NULL && b.len == 0); /* released, never truncated */
    CHECK(b.max == 8);                   /* ceiling kept */
    CHECK(vb_buf_puts(&b, "after") == VB_OK);
    CHECK_EQ_STR(vb_buf_str(&b), "after");
    CHECK(vb_buf_printf(&b, "%s", "toolong") == VB_ERR_TOO_LARGE);
    CHECK(b.data == NULL);
    /* A length that would overflow size_t arithmetic. */
    vb_buf_init(&b, SIZE_MAX);
    CHECK(vb_buf_puts(&b, "x") == VB_OK);
    CHECK(vb_buf_append(&b, "y", SIZE_MAX) == VB_ERR_TOO_LARGE);
    CHECK(b.data == NULL);
    /* Zero ceiling: only empty appends succeed. */
    vb_buf_init(&b, 0);
    CHECK(vb_buf_append(&b, "", 0) == VB_OK);
    CHECK(vb_buf_putc(&b, 'a') == VB_ERR_TOO_LARGE);
    vb_buf_release(&b);
}

TEST(test_huge)
{
    /* 16 MiB in 64 KiB pieces under a 16 MiB ceiling, then one byte more fails. */
    struct vb_buf b;
    size_t piece = 64 * 1024, total = 16u << 20;
    char *chunk = vb_xmalloc(piece);
    memset(chunk, 'z', piece);
    vb_buf_init(&b, total);
    for (size_t n = 0; n < total; n += piece)
        CHECK(vb_buf_append(&b, chunk, piece) == VB_OK);
    CHECK(b.len == total && b.data[total] == '\0' && b.data[total - 1] == 'z');
    CHECK(vb_buf_putc(&b, 'z') == VB_ERR_TOO_LARGE);
    vb_buf_release(&b);
    vb_free(chunk);
}

TEST(test_take)
{
    struct vb_buf b;
    vb_buf_init(&b, 64);
    CHECK(vb_buf_puts(&b, "owned") == VB_OK);
    char *s = vb_buf_take(&b);
    CHECK_EQ_STR(s, "owned");
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
    CHECK(vb_buf_puts(&b, "again") == VB_OK); /* usable after take */
    CHECK_EQ_STR(vb_buf_str(&b), "again");
    vb_free(s);
    vb_buf_release(&b);
}

int main(void)
{
    RUN(test_empty);
    RUN(test_append_and_printf);
    RUN(test_ceiling);
    RUN(test_huge);
    RUN(test_take);
    return test_summary();
}
