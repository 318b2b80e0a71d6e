/* test_paths.c: canonical folder paths (existing, not yet created, through links, relative,
 * ".." and repeated slashes) and the overlap test; generated file names. */
#include "core/vb.h"
#include "core/fsutil.h"
#include "core/paths.h"
#include "unit/test.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[VB_PATH_MAX]; /* a fresh temporary folder, resolved */

static const char *at(const char *rel)
{
    static char buf[2][2 * VB_PATH_MAX];
    static int k;
    k ^= 1;
    snprintf(buf[k], sizeof buf[k], "%s/%s", root, rel);
    return buf[k];
}

static void check_resolves(const char *in, const char *want)
{
    char out[VB_PATH_MAX];
    const char *got = out;
    CHECK_MSG(vb_path_resolve(in, out) == VB_OK, "%s", in);
    CHECK_EQ_STR(got, want);
}

TEST(test_resolve)
{
    char want[VB_PATH_MAX];
    CHECK(mkdir(at("real"), 0700) == 0);
    CHECK(symlink(at("real"), at("link")) == 0);
    check_resolves(at("real"), at("real"));
    check_resolves(at("link"), at("real"));
    check_resolves(at("link/not/yet"), at("real/not/yet"));
    check_resolves(at("link//not/./yet/"), at("real/not/yet"));
    check_resolves(at("link/not/../yet"), at("real/yet"));
    check_resolves(at("real/../link/x"), at("real/x"));
    check_resolves("/", "/");
    check_resolves("/..//..", "/");
    /* relative to the working directory */
    CHECK(chdir(at("link")) == 0);
    check_resolves("a/b", at("real/a/b"));
    snprintf(want, sizeof want, "%s", at("real"));
    check_resolves(".", want);
    check_resolves("..", root);
    char out[VB_PATH_MAX];
    CHECK(vb_path_resolve("", out) == VB_ERR_INVALID);
    CHECK(vb_path_resolve(NULL, out) == VB_ERR_INVALID);
}

TEST(test_overlap)
{
    CHECK(vb_path_overlap("/a/b", "/a/b"));
    CHECK(vb_path_overlap("/a/b", "/a/b/c"));
    CHECK(vb_path_overlap("/a/b/c", "/a/b"));
    CHECK(vb_path_overlap("/", "/a"));
    CHECK(!vb_path_overlap("/a/b", "/a/bc"));
    CHECK(!vb_path_overlap("/a/bc", "/a/b"));
    CHECK(!vb_path_overlap("/a/b", "/a/c"));
}

TEST(test_generated_names)
{
    char name[VB_NAME_MAX];
    CHECK(vb_random_file_name("gen", "wav", name) == VB_OK);
    CHECK(vb_file_name_generated(name, "gen"));
    CHECK(!vb_file_name_generated(name, "voice"));
    CHECK(!vb_file_name_generated(name, "ge"));
    CHECK(vb_file_name_generated("voice_0123456789abcdef01234567.mp3", "voice"));
    CHECK(!vb_file_name_generated("voice_0123456789abcdef0123456.mp3", "voice"));   /* 23 */
    CHECK(!vb_file_name_generated("voice_0123456789abcdef012345678.mp3", "voice")); /* 25 */
    CHECK(!vb_file_name_generated("voice_0123456789ABCDEF01234567.mp3", "voice"));  /* upper */
    CHECK(!vb_file_name_generated("voice_0123456789abcdef01234567", "voice"));      /* no ext */
    CHECK(!vb_file_name_generated("voice_0123456789abcdef01234567.", "voice"));
    CHECK(!vb_file_name_generated("voice_0123456789abcdef01234567.toolongext", "voice"));
    CHECK(!vb_file_name_generated("voice_0123456789abcdef01234567.w-v", "voice"));
    CHECK(!vb_file_name_generated("vocero.db", "gen"));
    CHECK(!vb_file_name_generated("secret_key", "gen"));
    CHECK(!vb_file_name_generated("", "gen"));
    CHECK(vb_file_name_generated(".tmp-w_0123456789abcdef01234567.part", VB_TMP_PREFIX "w"));
}

TEST(test_redact)
{
    const char *dirs[] = {"/srv/models", "data"};
    const char *names[] = {"MODELS_DIR", "DATA_DIR"};
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"", ""},
        {"no path here: 1/2 and f32/f16", "no path here: 1/2 and f32/f16"},
        {"missing (/srv/models/cb/t3.bin) (run x)", "missing (MODELS_DIR/cb/t3.bin) (run x)"},
        {"/srv/models", "MODELS_DIR"},
        {"/srv/models/", "MODELS_DIR/"},
        {"/srv/modelsX/a", "a"}, /* not under the folder: the last component only */
        {"cannot open /etc/vocero/x.conf: denied", "cannot open x.conf: denied"},
        {"at data/ambiences/1 and 'data'", "at DATA_DIR/ambiences/1 and 'data'"},
        {"metadata/x", "metadata/x"},     /* "data" inside a word is no path */
        {"no data here", "no data here"}, /* nor the bare word */
        {"path=/a/b/c.gguf;", "path=c.gguf;"},
        {"/", ""},
    };
    for (size_t i = 0; i < VB_ARRAY_LEN(cases); i++) {
        char out[256];
        const char *got = out;
        vb_path_redact(cases[i].in, dirs, names, 2, out, sizeof out);
        CHECK_EQ_STR(got, cases[i].want);
    }
    /* truncated to cap, always terminated */
    char small[8];
    const char *got = small;
    vb_path_redact("abcdefghijkl", dirs, names, 2, small, sizeof small);
    CHECK_EQ_STR(got, "abcdefg");
    vb_path_redact("/srv/models/abc", dirs, names, 2, small, sizeof small);
    CHECK_EQ_INT(strlen(small), 7);
}

int main(void)
{
    char tmpl[] = "/tmp/vocero-paths-XXXXXX";
    if (!mkdtemp(tmpl) || !realpath(tmpl, root))
        return 1;
    RUN(test_resolve);
    RUN(test_overlap);
    RUN(test_generated_names);
    RUN(test_redact);
    char cmd[VB_PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", root);
    return test_summary();
}
