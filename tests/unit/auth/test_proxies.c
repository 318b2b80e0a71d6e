/* test_proxies.c: TRUSTED_PROXIES parsing (addresses, CIDR networks, errors) and the client
 * address read from X-Forwarded-For only behind a trusted proxy, from the right. */
#include "core/vb.h"
#include "auth/proxies.h"

#include "unit/test.h"

static const char *client(const struct auth_proxies *p, const char *peer, const char *xff)
{
    static char out[AUTH_ADDR_MAX];
    auth_proxies_client(p, peer, xff, out);
    return out;
}

TEST(test_parse)
{
    struct auth_proxies *p = NULL;
    char why[160];
    CHECK_EQ_INT(auth_proxies_parse(NULL, &p, why, sizeof why), VB_OK);
    CHECK(p == NULL);
    CHECK_EQ_INT(auth_proxies_parse(" , ", &p, why, sizeof why), VB_OK);
    CHECK(p == NULL);
    CHECK_EQ_INT(auth_proxies_parse("127.0.0.1, 10.0.0.0/8,fd00::/8 ,::1", &p, why, sizeof why),
                 VB_OK);
    CHECK(p != NULL);
    auth_proxies_free(p);
    const char *bad[] = {"10.0.0.0/33", "fd00::/129", "10.0.0.0/",   "10.0.0.0/x",
                         "example.com", "10.0.0",     "1.2.3.4/8/8", "-1"};
    for (size_t i = 0; i < VB_ARRAY_LEN(bad); i++) {
        why[0] = '\0';
        CHECK_EQ_INT(auth_proxies_parse(bad[i], &p, why, sizeof why), VB_ERR_INVALID);
        CHECK(p == NULL);
        CHECK(strstr(why, bad[i]) != NULL);
    }
}

TEST(test_client)
{
    struct auth_proxies *p = NULL;
    char why[160];
    CHECK_EQ_INT(auth_proxies_parse("127.0.0.2,10.1.0.0/16,fd00::/8", &p, why, sizeof why), VB_OK);
    /* not from a proxy: the header is ignored */
    CHECK_EQ_STR(client(p, "203.0.113.1", "198.51.100.1"), "203.0.113.1");
    CHECK_EQ_STR(client(NULL, "127.0.0.2", "198.51.100.1"), "127.0.0.2");
    /* from a proxy: the rightmost address that is not a proxy */
    CHECK_EQ_STR(client(p, "127.0.0.2", "198.51.100.1"), "198.51.100.1");
    CHECK_EQ_STR(client(p, "127.0.0.2", "6.6.6.6, 198.51.100.1"), "198.51.100.1");
    CHECK_EQ_STR(client(p, "127.0.0.2", "6.6.6.6,198.51.100.1, 10.1.2.3"), "198.51.100.1");
    CHECK_EQ_STR(client(p, "fd00::5", "2001:db8::1"), "2001:db8::1");
    CHECK_EQ_STR(client(p, "::ffff:127.0.0.2", "198.51.100.1"), "198.51.100.1");
    CHECK_EQ_STR(client(p, "10.1.255.255", " 198.51.100.1 "), "198.51.100.1");
    CHECK_EQ_STR(client(p, "10.2.0.1", "198.51.100.1"), "10.2.0.1"); /* outside the /16 */
    /* nothing usable: the peer */
    CHECK_EQ_STR(client(p, "127.0.0.2", NULL), "127.0.0.2");
    CHECK_EQ_STR(client(p, "127.0.0.2", ""), "127.0.0.2");
    CHECK_EQ_STR(client(p, "127.0.0.2", "unknown"), "127.0.0.2");
    CHECK_EQ_STR(client(p, "127.0.0.2", "198.51.100.1, ,10.1.0.1"), "127.0.0.2");
    CHECK_EQ_STR(client(p, "127.0.0.2", "10.1.0.1, 127.0.0.2"), "127.0.0.2");
    CHECK_EQ_STR(client(p, "127.0.0.2", "1.2.3.4:5678"), "127.0.0.2");
    auth_proxies_free(p);
}

int main(void)
{
    RUN(test_parse);
    RUN(test_client);
    return test_summary();
}
