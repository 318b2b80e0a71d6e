/* proxies.h: the client address behind trusted reverse proxies (TRUSTED_PROXIES), for the
 * failed-login limits. Only when the connection comes from a trusted proxy is
 * X-Forwarded-For read, from the right: the first address that is not itself a trusted
 * proxy is the client (what a client writes into the header lies to the left of what the
 * proxies appended, so it is never reached). Anything malformed falls back to the peer.
 *
 *   struct auth_proxies *p;
 *   if (auth_proxies_parse(cfg->trusted_proxies, &p, why, sizeof why)) -> refuse to start
 *   auth_proxies_client(p, peer_ip, http_req_header(req, "X-Forwarded-For"), addr);
 */
#ifndef VB_AUTH_PROXIES_H
#define VB_AUTH_PROXIES_H

#include "core/vb.h"
#include "core/err.h"

#define AUTH_ADDR_MAX 64 /* bytes of a textual IP address with its NUL */

struct auth_proxies;

/* Parses a comma-separated list of IPv4/IPv6 addresses and CIDR networks ("10.0.0.0/8",
 * "fd00::/8", "127.0.0.1"); NULL or "" trusts nobody. *out (free with auth_proxies_free)
 * is NULL for an empty list. VB_ERR_INVALID with the offending item in why. */
VB_WUR enum vb_err auth_proxies_parse(const char *list, struct auth_proxies **out, char *why,
                                      size_t why_cap);
void auth_proxies_free(struct auth_proxies *p);

/* Writes the client's address into out: peer itself unless peer is a trusted proxy and
 * xff (the X-Forwarded-For value, may be NULL) names an untrusted address. */
void auth_proxies_client(const struct auth_proxies *p, const char *peer, const char *xff,
                         char out[AUTH_ADDR_MAX]);

#endif
