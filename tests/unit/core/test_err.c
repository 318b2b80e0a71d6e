/* test_err.c: vb_failf, the error-detail helper: it formats into the buffer, truncates at
 * its capacity, tolerates a missing buffer and returns the error it was given. */
#include "core/vb.h"
#include "core/err.h"
#include "unit/test.h"

TEST(failf_formats_and_returns_the_error)
{
    char why[64] = "";
    const char *got = why;
    CHECK(vb_failf(why, sizeof why, VB_ERR_FORMAT, "%s: tensor %s missing", "t3.safetensors",
                   "x.weight") == VB_ERR_FORMAT);
    CHECK_EQ_STR(got, "t3.safetensors: tensor x.weight missing");
    CHECK(vb_failf(why, sizeof why, VB_ERR_NOMEM, "out of memory") == VB_ERR_NOMEM);
    CHECK_EQ_STR(got, "out of memory");
}

TEST(failf_truncates_at_the_capacity)
{
    char why[8];
    const char *got = why;
    memset(why, 'x', sizeof why);
    CHECK(vb_failf(why, 5, VB_ERR_IO, "%s", "abcdefgh") == VB_ERR_IO);
    CHECK_EQ_STR(got, "abcd");
    CHECK(why[5] == 'x'); /* nothing written past cap */
}

TEST(failf_without_a_buffer_only_returns)
{
    CHECK(vb_failf(NULL, 64, VB_ERR_INVALID, "ignored %d", 1) == VB_ERR_INVALID);
    char why[4] = "abc";
    const char *got = why;
    CHECK(vb_failf(why, 0, VB_ERR_INVALID, "ignored") == VB_ERR_INVALID);
    CHECK_EQ_STR(got, "abc");
}

int main(void)
{
    RUN(failf_formats_and_returns_the_error);
    RUN(failf_truncates_at_the_capacity);
    RUN(failf_without_a_buffer_only_returns);
    return test_summary();
}
