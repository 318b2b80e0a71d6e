/* proxies.c: TRUSTED_PROXIES networks and the client address they forward. */
#include "core/vb.h"
#include "auth/proxies.h"

#include "core/alloc.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>

#define LIST_MAX 64 /* networks */

struct net {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    int bits;
};

struct auth_proxies {
    struct net nets[LIST_MAX];
    size_t n;
};

/* An address as family + bytes; IPv4-mapped IPv6 counts as IPv4. */
static bool parse_ip(const char *s, int *family, uint8_t addr[16])
{
    struct in6_addr a6;
    if (inet_pton(AF_INET, s, addr) == 1) {
        *family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, s, &a6) != 1)
        return false;
    if (IN6_IS_ADDR_V4MAPPED(&a6)) {
        *family = AF_INET;
        memcpy(addr, a6.s6_addr + 12, 4);
    } else {
        *family = AF_INET6;
        memcpy(addr, a6.s6_addr, 16);
    }
    return true;
}

static bool parse_net(const char *item, struct net *n)
{
    char buf[AUTH_ADDR_MAX + 8];
    if (strlen(item) >= sizeof buf)
        return false;
    snprintf(buf, sizeof buf, "%s", item);
    char *slash = strchr(buf, '/');
    if (slash)
        *slash = '\0';
    if (!parse_ip(buf, &n->family, n->addr))
        return false;
    int max = n->family == AF_INET ? 32 : 128;
    n->bits = max;
    if (slash) {
        char *end;
        long bits = strtol(slash + 1, &end, 10);
        if (!slash[1] || *end || bits < 0 || bits > max)
            return false;
        n->bits = (int)bits;
    }
    return true;
}

enum vb_err auth_proxies_parse(const char *list, struct auth_proxies **out, char *why,
                               size_t why_cap)
{
    *out = NULL;
    if (!list)
        return VB_OK;
    struct auth_proxies *p = vb_xcalloc(1, sizeof *p);
    const char *s = list;
    while (*s) {
        while (*s == ' ' || *s == ',')
            s++;
        size_t len = strcspn(s, ", ");
        if (!len)
            break;
        char item[AUTH_ADDR_MAX + 8];
        snprintf(item, sizeof item, "%.*s", (int)VB_MIN(len, sizeof item - 1), s);
        if (len >= sizeof item || p->n == LIST_MAX || !parse_net(item, &p->nets[p->n])) {
            snprintf(why, why_cap,
                     "'%s' is not an IP address or network (a.b.c.d/n), or more than %d", item,
                     LIST_MAX);
            vb_free(p);
            return VB_ERR_INVALID;
        }
        p->n++;
        s += len;
    }
    if (!p->n) {
        vb_free(p);
        return VB_OK;
    }
    *out = p;
    return VB_OK;
}

void auth_proxies_free(struct auth_proxies *p)
{
    vb_free(p);
}

static bool trusted(const struct auth_proxies *p, const char *ip)
{
    int family;
    uint8_t a[16];
    if (!p || !ip || !parse_ip(ip, &family, a))
        return false;
    for (size_t i = 0; i < p->n; i++) {
        const struct net *n = &p->nets[i];
        if (n->family != family)
            continue;
        int full = n->bits / 8, rest = n->bits % 8;
        if (memcmp(n->addr, a, (size_t)full) != 0)
            continue;
        uint8_t mask = (uint8_t)(0xff << (8 - rest));
        if (rest && (n->addr[full] & mask) != (a[full] & mask))
            continue;
        return true;
    }
    return false;
}

void auth_proxies_client(const struct auth_proxies *p, const char *peer, const char *xff,
                         char out[AUTH_ADDR_MAX])
{
    snprintf(out, AUTH_ADDR_MAX, "%s", peer ? peer : "");
    if (!xff || !trusted(p, peer))
        return;
    /* From the right: skip the trusted hops, take the first other address. */
    const char *end = xff + strlen(xff);
    while (end > xff) {
        const char *e = end;
        while (e > xff && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        const char *b = e;
        while (b > xff && b[-1] != ',')
            b--;
        const char *item = b;
        while (item < e && (*item == ' ' || *item == '\t'))
            item++;
        char ip[AUTH_ADDR_MAX];
        int family;
        uint8_t a[16];
        size_t len = (size_t)(e - item);
        if (len == 0 || len >= sizeof ip)
            return; /* malformed: the peer it is */
        memcpy(ip, item, len);
        ip[len] = '\0';
        if (!parse_ip(ip, &family, a))
            return;
        if (!trusted(p, ip)) {
            snprintf(out, AUTH_ADDR_MAX, "%s", ip);
            return;
        }
        end = b > xff ? b - 1 : xff;
    }
}
