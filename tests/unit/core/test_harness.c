/* test_harness.c: the unit-test harness (tests/unit/test.h) itself. This binary runs itself
 * in small scenarios (argv[1]) and checks each one's closing line and exit status: a check
 * that fails outside any RUN fails the binary, a skipped test is never counted as passed, and
 * a missing-data skip is a failure when the data is required (CI=true). */
#include "core/vb.h"
#include "unit/test.h"

#include <stdlib.h>
#include <sys/wait.h>

static char g_self[512];

TEST(passing)
{
    CHECK(1 + 1 == 2);
}

TEST(skipping)
{
    SKIP(skipping, "scenario: nothing to test here");
}

TEST(missing_data)
{
    SKIP_MISSING_DATA(missing_data, "scenario: reference file absent");
}

/* the scenarios, run as child processes */
static int scenario(const char *name)
{
    if (strcmp(name, "stray-check") == 0) {
        CHECK(0 == 1); /* e.g. loading the reference data in main failed */
        RUN(passing);
    } else if (strcmp(name, "stray-after") == 0) {
        RUN(passing);
        CHECK_MSG(0 == 1, "a helper after the last RUN");
    } else if (strcmp(name, "skip") == 0) {
        RUN(passing);
        RUN(skipping);
    } else if (strcmp(name, "skip-outside") == 0) {
        SKIP(whole_suite, "scenario: no data for any test");
    } else if (strcmp(name, "missing-data") == 0) {
        RUN(passing);
        RUN(missing_data);
    } else {
        return 2;
    }
    return test_summary();
}

/* Runs this binary on a scenario with extra environment; its closing line into line. */
static int run_child(const char *env, const char *name, char *line, size_t cap)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "env -u CI -u VOCERO_REQUIRE_REFDATA %s '%s' %s 2>/dev/null", env,
             g_self, name);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    if (!p)
        return -1;
    line[0] = 0;
    char buf[256];
    while (fgets(buf, sizeof buf, p))
        snprintf(line, cap, "%s", buf);
    line[strcspn(line, "\n")] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void expect(const char *env, const char *name, int want_rc, const char *want_line)
{
    char line[256];
    int rc = run_child(env, name, line, sizeof line);
    CHECK_MSG(rc == want_rc, "%s %s: exit %d, want %d", env, name, rc, want_rc);
    CHECK_MSG(strcmp(line, want_line) == 0, "%s %s: \"%s\", want \"%s\"", env, name, line,
              want_line);
}

TEST(check_outside_run_fails_the_binary)
{
    expect("", "stray-check", 1, "1 passed, 1 failed, 0 skipped");
    expect("", "stray-after", 1, "1 passed, 1 failed, 0 skipped");
}

TEST(skips_are_not_passes)
{
    expect("", "skip", 0, "1 passed, 0 failed, 1 skipped");
    expect("", "skip-outside", 0, "0 passed, 0 failed, 1 skipped");
}

TEST(missing_data_fails_when_required)
{
    expect("", "missing-data", 0, "1 passed, 0 failed, 1 skipped");
    expect("CI=true", "missing-data", 1, "1 passed, 1 failed, 0 skipped");
    expect("VOCERO_REQUIRE_REFDATA=1", "missing-data", 1, "1 passed, 1 failed, 0 skipped");
    expect("CI=true", "skip", 0, "1 passed, 0 failed, 1 skipped"); /* a plain SKIP stays one */
}

int main(int argc, char **argv)
{
    if (argc > 1)
        return scenario(argv[1]);
    snprintf(g_self, sizeof g_self, "%s", argv[0]);
    if (strchr(g_self, '\'')) {
        fprintf(stderr, "test_harness: cannot run from a path with a quote\n");
        return 1;
    }
    RUN(check_outside_run_fails_the_binary);
    RUN(skips_are_not_passes);
    RUN(missing_data_fails_when_required);
    return test_summary();
}
