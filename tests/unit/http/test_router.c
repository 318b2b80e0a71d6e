/* test_router.c: path decoding, route matching, query parsing and Range parsing tables. */
#include "core/vb.h"
#include "http/range.h"
#include "http/router.h"
#include "unit/test.h"

static enum vb_err dummy(struct http_request *req)
{
    (void)req;
    return VB_OK;
}

static const struct http_route routes[] = {
    {"GET", "/", dummy, HTTP_ROUTE_PUBLIC, "health"},
    {"GET", "/voices", dummy, 0, "list"},
    {"POST", "/voices/upload", dummy, HTTP_ROUTE_UPLOAD, "upload"},
    {"GET", "/voices/{id}", dummy, 0, "get"},
    {"DELETE", "/voices/{id}", dummy, 0, "delete"},
    {"GET", "/voices/{id}/audio", dummy, 0, "audio"},
    {"GET", "/voices/upload", dummy, 0, "literal beats param"},
    {"GET", "/a/{x}/b/{y}", dummy, 0, "two params"},
    {"GET", "/download/{filename}", dummy, HTTP_ROUTE_OPTIONAL_AUTH, "download"},
};

TEST(path_decode_table)
{
    static const struct {
        const char *raw;
        enum vb_err want;
        const char *decoded;
    } cases[] = {
        {"/", VB_OK, "/"},
        {"/voices", VB_OK, "/voices"},
        {"/voices/3/audio", VB_OK, "/voices/3/audio"},
        {"/a%20b", VB_OK, "/a b"},
        {"/caf%C3%A9", VB_OK, "/caf\xC3\xA9"},
        {"/x%2e", VB_OK, "/x."},
        {"/..x", VB_OK, "/..x"},
        {"/%252F", VB_OK, "/%2F"},         /* double encoding stays literal */
        {"/%252e%252e", VB_OK, "/%2e%2e"}, /* ditto */
        {"/a//b", VB_OK, "/a//b"},         /* decodes; no route will match */
        {"", VB_ERR_NOT_FOUND, NULL},
        {"voices", VB_ERR_NOT_FOUND, NULL},
        {"http://evil/x", VB_ERR_NOT_FOUND, NULL},
        {"*", VB_ERR_NOT_FOUND, NULL},
        {"/..", VB_ERR_NOT_FOUND, NULL},
        {"/../etc/passwd", VB_ERR_NOT_FOUND, NULL},
        {"/download/../x", VB_ERR_NOT_FOUND, NULL},
        {"/download/..", VB_ERR_NOT_FOUND, NULL},
        {"/download/.", VB_ERR_NOT_FOUND, NULL},
        {"/./voices", VB_ERR_NOT_FOUND, NULL},
        {"/%2e%2e/x", VB_ERR_NOT_FOUND, NULL},
        {"/%2E%2e", VB_ERR_NOT_FOUND, NULL},
        {"/.%2e/", VB_ERR_NOT_FOUND, NULL},
        {"/download/a%2Fb", VB_ERR_NOT_FOUND, NULL},
        {"/download/a%2fb", VB_ERR_NOT_FOUND, NULL},
        {"/download/%2F..%2Fetc", VB_ERR_NOT_FOUND, NULL},
        {"/x%00y", VB_ERR_NOT_FOUND, NULL},
        {"/x%0ay", VB_ERR_NOT_FOUND, NULL},
        {"/x%7f", VB_ERR_NOT_FOUND, NULL},
        {"/x\ty", VB_ERR_NOT_FOUND, NULL},
        {"/x%", VB_ERR_NOT_FOUND, NULL},
        {"/x%4", VB_ERR_NOT_FOUND, NULL},
        {"/x%G1", VB_ERR_NOT_FOUND, NULL},
        {"/x%1G", VB_ERR_NOT_FOUND, NULL},
        {"/x%%41", VB_ERR_NOT_FOUND, NULL},
    };
    for (size_t i = 0; i < VB_ARRAY_LEN(cases); i++) {
        char out[HTTP_PATH_MAX + 1];
        enum vb_err err = http_path_decode(cases[i].raw, strlen(cases[i].raw), out, sizeof out);
        CHECK_MSG(err == cases[i].want, "case %zu (%s): got %d", i, cases[i].raw, (int)err);
        if (!err && cases[i].decoded) {
            const char *got = out;
            CHECK_EQ_STR(got, cases[i].decoded);
        }
    }
    CHECK(http_path_decode(NULL, 0, NULL, 0) == VB_ERR_NOT_FOUND);
}

TEST(path_decode_long)
{
    static char raw[HTTP_PATH_MAX + 2];
    char out[HTTP_PATH_MAX + 1];
    raw[0] = '/';
    memset(raw + 1, 'a', HTTP_PATH_MAX - 1);
    CHECK(http_path_decode(raw, HTTP_PATH_MAX, out, sizeof out) == VB_OK);
    CHECK_EQ_INT(strlen(out), HTTP_PATH_MAX);
    raw[HTTP_PATH_MAX] = 'a';
    CHECK(http_path_decode(raw, HTTP_PATH_MAX + 1, out, sizeof out) == VB_ERR_NOT_FOUND);
    /* output buffer too small is refused, never overrun */
    CHECK(http_path_decode("/abc", 4, out, 4) == VB_ERR_NOT_FOUND);
}

TEST(route_match_table)
{
    static const struct {
        const char *method, *path;
        enum vb_err want;
        const char *summary; /* expected route */
        const char *allow;
    } cases[] = {
        {"GET", "/", VB_OK, "health", "GET, HEAD, OPTIONS"},
        {"HEAD", "/", VB_OK, "health", NULL},
        {"POST", "/", VB_ERR_METHOD, NULL, "GET, HEAD, OPTIONS"},
        {"GET", "/voices", VB_OK, "list", NULL},
        {"GET", "/voices/", VB_ERR_NOT_FOUND, NULL, NULL},
        {"GET", "/voices/7", VB_OK, "get", NULL},
        {"DELETE", "/voices/7", VB_OK, "delete", NULL},
        {"PUT", "/voices/7", VB_ERR_METHOD, NULL, "GET, HEAD, DELETE, OPTIONS"},
        {"GET", "/voices/7/audio", VB_OK, "audio", NULL},
        {"GET", "/voices/7/audio/x", VB_ERR_NOT_FOUND, NULL, NULL},
        {"GET", "/voices//audio", VB_ERR_NOT_FOUND, NULL, NULL},
        {"POST", "/voices/upload", VB_OK, "upload", NULL},
        {"GET", "/voices/upload", VB_OK, "literal beats param", NULL},
        {"GET", "/a/1/b/2", VB_OK, "two params", NULL},
        {"GET", "/a/1/c/2", VB_ERR_NOT_FOUND, NULL, NULL},
        {"GET", "/nope", VB_ERR_NOT_FOUND, NULL, NULL},
        {"GET", "", VB_ERR_NOT_FOUND, NULL, NULL},
        {"GET", "/download/gen_1.wav", VB_OK, "download", NULL},
    };
    for (size_t i = 0; i < VB_ARRAY_LEN(cases); i++) {
        struct http_route_match m;
        enum vb_err err =
            http_route_find(routes, VB_ARRAY_LEN(routes), cases[i].method, cases[i].path, &m);
        CHECK_MSG(err == cases[i].want, "case %zu %s %s: got %d", i, cases[i].method, cases[i].path,
                  (int)err);
        if (cases[i].summary) {
            CHECK_MSG(m.route && strcmp(m.route->summary, cases[i].summary) == 0, "case %zu", i);
        }
        if (cases[i].allow) {
            const char *got = m.allow;
            CHECK_EQ_STR(got, cases[i].allow);
        }
    }
}

TEST(route_params)
{
    struct http_route_match m;
    CHECK(http_route_find(routes, VB_ARRAY_LEN(routes), "GET", "/a/x y/b/%2F", &m) == VB_OK);
    CHECK_EQ_STR(http_route_param(&m, "x"), "x y");
    CHECK_EQ_STR(http_route_param(&m, "y"), "%2F");
    CHECK(http_route_param(&m, "z") == NULL);
    CHECK(http_route_param(&m, "") == NULL);
    CHECK(http_route_find(routes, VB_ARRAY_LEN(routes), "GET", "/voices/42", &m) == VB_OK);
    CHECK_EQ_STR(http_route_param(&m, "id"), "42");
    /* no routes at all */
    CHECK(http_route_find(NULL, 0, "GET", "/", &m) == VB_ERR_NOT_FOUND);
    /* very long path with one param */
    static char path[HTTP_PATH_MAX + 1];
    memcpy(path, "/voices/", 8);
    memset(path + 8, '9', HTTP_PATH_MAX - 8);
    path[HTTP_PATH_MAX] = '\0';
    CHECK(http_route_find(routes, VB_ARRAY_LEN(routes), "GET", path, &m) == VB_OK);
    CHECK_EQ_INT(strlen(http_route_param(&m, "id")), HTTP_PATH_MAX - 8);
}

TEST(query_table)
{
    struct http_query q;
    const char *s = "limit=20&cursor=abc%3D%3D&flag&text=hello+world%21&&empty=&limit=99";
    CHECK(http_query_parse(s, strlen(s), &q) == VB_OK);
    CHECK_EQ_INT(q.n, 6);
    CHECK_EQ_STR(http_query_get(&q, "limit"), "20"); /* first wins */
    CHECK_EQ_STR(http_query_get(&q, "cursor"), "abc==");
    CHECK_EQ_STR(http_query_get(&q, "flag"), "");
    CHECK_EQ_STR(http_query_get(&q, "text"), "hello world!");
    CHECK_EQ_STR(http_query_get(&q, "empty"), "");
    CHECK(http_query_get(&q, "missing") == NULL);
    http_query_release(&q);

    CHECK(http_query_parse("", 0, &q) == VB_OK);
    CHECK_EQ_INT(q.n, 0);
    http_query_release(&q);
    CHECK(http_query_parse(NULL, 5, &q) == VB_OK);
    http_query_release(&q);

    static const char *bad[] = {"a=%", "a=%4", "a=%zz", "a=%00", "%00=1", "x%G0=1"};
    for (size_t i = 0; i < VB_ARRAY_LEN(bad); i++) {
        CHECK_MSG(http_query_parse(bad[i], strlen(bad[i]), &q) == VB_ERR_INVALID, "%s", bad[i]);
        CHECK(q.n == 0 && q.store == NULL);
        http_query_release(&q);
    }
    /* too many pairs */
    char many[HTTP_QUERY_MAX_ARGS * 4 + 8] = "";
    size_t o = 0;
    for (int i = 0; i <= HTTP_QUERY_MAX_ARGS; i++)
        o += (size_t)snprintf(many + o, sizeof many - o, "a&");
    CHECK(http_query_parse(many, o, &q) == VB_ERR_INVALID);
    http_query_release(&q);
    /* exactly the maximum is fine */
    CHECK(http_query_parse(many, o - 2, &q) == VB_OK);
    CHECK_EQ_INT(q.n, HTTP_QUERY_MAX_ARGS);
    http_query_release(&q);
}

TEST(range_table)
{
    static const struct {
        const char *h;
        uint64_t size;
        enum http_range_result want;
        uint64_t start, len;
    } cases[] = {
        {NULL, 100, HTTP_RANGE_NONE, 0, 100},
        {"bytes=0-9", 100, HTTP_RANGE_OK, 0, 10},
        {"bytes=10-", 100, HTTP_RANGE_OK, 10, 90},
        {"bytes=-10", 100, HTTP_RANGE_OK, 90, 10},
        {"bytes=-1000", 100, HTTP_RANGE_OK, 0, 100},
        {"bytes=90-1000", 100, HTTP_RANGE_OK, 90, 10},
        {"bytes=99-99", 100, HTTP_RANGE_OK, 99, 1},
        {"Bytes = 5 - 6", 100, HTTP_RANGE_OK, 5, 2},
        {"bytes=100-", 100, HTTP_RANGE_UNSATISFIABLE, 0, 0},
        {"bytes=100-200", 100, HTTP_RANGE_UNSATISFIABLE, 0, 0},
        {"bytes=-0", 100, HTTP_RANGE_UNSATISFIABLE, 0, 0},
        {"bytes=0-", 0, HTTP_RANGE_UNSATISFIABLE, 0, 0},
        {"bytes=-5", 0, HTTP_RANGE_UNSATISFIABLE, 0, 0},
        {"bytes=9-1", 100, HTTP_RANGE_NONE, 0, 100},
        {"bytes=0-1,5-6", 100, HTTP_RANGE_NONE, 0, 100},
        {"bytes=", 100, HTTP_RANGE_NONE, 0, 100},
        {"bytes=-", 100, HTTP_RANGE_NONE, 0, 100},
        {"items=0-1", 100, HTTP_RANGE_NONE, 0, 100},
        {"bytes=a-b", 100, HTTP_RANGE_NONE, 0, 100},
        {"bytes=99999999999999999999999-", 100, HTTP_RANGE_NONE, 0, 100},
    };
    for (size_t i = 0; i < VB_ARRAY_LEN(cases); i++) {
        uint64_t start = 1234, len = 1234;
        enum http_range_result r = http_range_parse(cases[i].h, cases[i].size, &start, &len);
        CHECK_MSG(r == cases[i].want, "case %zu (%s): got %d", i, cases[i].h ? cases[i].h : "-",
                  (int)r);
        if (r != HTTP_RANGE_UNSATISFIABLE) {
            CHECK_EQ_INT(start, cases[i].start);
            CHECK_EQ_INT(len, cases[i].len);
        }
    }
}

int main(void)
{
    RUN(path_decode_table);
    RUN(path_decode_long);
    RUN(route_match_table);
    RUN(route_params);
    RUN(query_table);
    RUN(range_table);
    return test_summary();
}
