"""Authentication under abuse: signed links in one canonical spelling, the Basic credential
cache (dropped when the account changes behind it), failed-login throttling per address and
per (user, address), and password checks kept off the request workers."""
import re
import subprocess
import threading
import time
import unittest

import config
from base import ServerTest
from harness import Server, basic, unique


class SignedUrlTest(ServerTest):
    def test_upper_case_signature_refused(self):
        _, _, auth = self.new_user()
        g = self.req("POST", "/generate-tts", {"text": "Hi."}, auth)
        self.assertEqual(g.status, 201, g)
        url = g.json()["signed_url"]
        sig = re.search(r"[?&]sig=([0-9a-f]{64})(&|$)", url)
        self.assertIsNotNone(sig, url)
        self.assertEqual(self.req("GET", url).status, 200)
        upper = url.replace(sig.group(1), sig.group(1).upper())
        self.assertNotEqual(upper, url)
        self.assertError(self.req("GET", upper), 403, "forbidden", "sig")
        # one letter digit in upper case is refused as well
        i = next(k for k, c in enumerate(sig.group(1)) if c in "abcdef")
        one = sig.group(1)[:i] + sig.group(1)[i].upper() + sig.group(1)[i + 1:]
        self.assertError(self.req("GET", url.replace(sig.group(1), one)), 403, "forbidden", "sig")


def run_sql(server, statement):
    """Runs one SQL statement on the server's PostgreSQL database behind its back, as an
    administrator or a second server would."""
    subprocess.run(["psql", "-v", "ON_ERROR_STOP=1", "-q", server.database, "-c", statement],
                   check=True, capture_output=True, timeout=60)


# A running server holds its SQLite database exclusively (no other process can change it), so
# an account changes behind its back only on PostgreSQL.
behind_the_back = unittest.skipIf(config.DATABASE == "sqlite",
                                  "SQLite: the server holds the database exclusively")


class BasicCacheAccountTest(ServerTest):
    """Cached Basic credentials stand only for the account as it is now."""

    @behind_the_back
    def test_deleted_user_refused_at_once(self):
        u, p = self.register()
        for _ in range(2):  # the second is answered from the cache
            self.assertEqual(self.req("GET", "/auth/me", headers=basic(u, p)).status, 200)
        run_sql(self.server, "DELETE FROM users WHERE username = '%s'" % u)
        self.assertError(self.req("GET", "/auth/me", headers=basic(u, p)), 401, "unauthorized")
        self.assertError(self.req("GET", "/voices", headers=basic(u, p)), 401, "unauthorized")

    @behind_the_back
    def test_password_changed_elsewhere_refused_at_once(self):
        u, p = self.register()
        other, other_p = self.register(password="other password 2")
        self.assertEqual(self.req("GET", "/auth/me", headers=basic(u, p)).status, 200)
        self.assertEqual(self.req("GET", "/auth/me", headers=basic(u, p)).status, 200)
        # u's password becomes other_p (the same bcrypt hash), as a tool or a second server would
        run_sql(self.server, "UPDATE users SET password_hash = (SELECT password_hash FROM users "
                "WHERE username = '%s') WHERE username = '%s'" % (other, u))
        self.assertError(self.req("GET", "/auth/me", headers=basic(u, p)), 401, "unauthorized")
        r = self.req("GET", "/auth/me", headers=basic(u, other_p))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["username"], u)

    def test_password_change_through_api_drops_cache(self):
        u, p = self.register()
        self.assertEqual(self.req("GET", "/auth/me", headers=basic(u, p)).status, 200)
        r = self.req("POST", "/auth/password", {"current_password": p, "new_password": "brand new pass"},
                     basic(u, p))
        self.assertEqual(r.status, 204, r)
        self.assertError(self.req("GET", "/auth/me", headers=basic(u, p)), 401)
        self.assertEqual(self.req("GET", "/auth/me", headers=basic(u, "brand new pass")).status, 200)


class BasicCacheStampedeTest(ServerTest):
    """Many Basic requests miss the cache together (cold, then when their entries expire).
    Each credential is checked by one request at a time while the others wait for its
    answer, the checks run on the auth workers, and a Bearer request of another user is
    answered meanwhile. Before, with one request worker, the Bearer request queued behind
    every user's bcrypt check (4 x cost 13: seconds)."""
    TTL = 8
    ENV = {"WORKERS": "1", "AUTH_WORKERS": "2", "BCRYPT_COST": "13", "LOG_LEVEL": "debug",
           "BASIC_AUTH_CACHE_SECONDS": str(TTL)}
    USERS = 4
    REQUESTS = 32

    def checks(self):
        """{user: number of password checks}; fails if two checks of one user overlapped."""
        with open(self.server.log_path, "rb") as f:
            log = f.read().decode("utf-8", "replace")
        running, done = set(), {}
        for m in re.finditer(r"basic: (checking|checked) the password of '([^']+)'", log):
            what, user = m.groups()
            if what == "checking":
                self.assertNotIn(user, running, "two checks of %s at once" % user)
                running.add(user)
            else:
                running.discard(user)
                done[user] = done.get(user, 0) + 1
        return done

    def burst(self, users, bearer_auth):
        """REQUESTS Basic requests of `users` at once, and meanwhile one Bearer request."""
        results = []
        lock = threading.Lock()

        def call(u, p):
            try:
                status = self.req("GET", "/auth/me", headers=basic(u, p), timeout=120).status
            except OSError as e:
                status = repr(e)
            with lock:
                results.append(status)

        threads = [threading.Thread(target=call, args=users[i % len(users)])
                   for i in range(self.REQUESTS)]
        for t in threads:
            t.start()
        time.sleep(0.3)  # the burst is queued on the server
        try:
            r = self.req("GET", "/auth/me", headers=bearer_auth, timeout=1.5)
        finally:
            for t in threads:
                t.join()
        self.assertEqual(r.status, 200, r)
        self.assertEqual(results, [200] * self.REQUESTS)

    def test_misses_under_load(self):
        users = [self.register() for _ in range(self.USERS)]
        _, _, bearer_auth = self.new_user()
        self.burst(users, bearer_auth)  # nothing cached yet: all miss together
        first = self.checks()
        time.sleep(self.TTL + 1.2)  # every entry has expired
        self.burst(users, bearer_auth)
        second = self.checks()
        # One check per user and burst, unless the machine is so slow that an entry expired
        # while the burst was still queued; far fewer than one per request either way.
        for u, _ in users:
            self.assertGreaterEqual(first.get(u, 0), 1, u)
            self.assertGreater(second.get(u, 0), first[u], u)
        self.assertLess(sum(second.values()), self.REQUESTS)


class LoginThrottleTest(ServerTest):
    """Failed logins are limited per (username, address), per address and per username, so
    that failing on purpose from one address does not lock the user out. Clients connect from
    127.0.0.x source addresses to act as different machines."""

    def login_from(self, source, username, password):
        return self.req("POST", "/auth/login", {"username": username, "password": password},
                        source=source)

    def assertThrottled(self, r):
        self.assertError(r, 429, "rate_limited")
        self.assertGreater(int(r.header("Retry-After")), 0)

    def test_attacker_cannot_lock_out_the_user(self):
        u, p = self.register()
        for _ in range(5):
            self.assertError(self.login_from("127.0.0.2", u, "wrong password!"), 401)
        # the attacker's address is held back for this user, even with the right password
        self.assertThrottled(self.login_from("127.0.0.2", u, "wrong password!"))
        self.assertThrottled(self.login_from("127.0.0.2", u, p))
        self.assertThrottled(self.req("GET", "/auth/me", headers=basic(u, "wrong password!"),
                                      source="127.0.0.2"))
        # the user, from another address, logs in with the right password
        r = self.login_from("127.0.0.3", u, p)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.req("GET", "/auth/me", headers=basic(u, p), source="127.0.0.3").status,
                         200)

    def test_address_throttled_across_usernames(self):
        victim, vp = self.register()
        for i in range(20):
            self.assertError(self.login_from("127.0.0.4", unique("nobody"), "wrong password!"), 401)
        self.assertThrottled(self.login_from("127.0.0.4", unique("nobody"), "wrong password!"))
        self.assertThrottled(self.login_from("127.0.0.4", victim, vp))
        self.assertEqual(self.login_from("127.0.0.5", victim, vp).status, 200)

    def test_many_addresses_one_user(self):
        u, p = self.register()
        # 10 failures for one user from three addresses (each pair under its limit of 5)
        for source, n in (("127.0.0.10", 4), ("127.0.0.11", 4), ("127.0.0.12", 2)):
            for _ in range(n):
                self.assertError(self.login_from(source, u, "wrong password!"), 401)
        # those addresses are held back for this user, even with the right password...
        self.assertThrottled(self.login_from("127.0.0.10", u, p))
        # ...but not for others, and an address that has not failed gets in
        other, op = self.register()
        self.assertEqual(self.login_from("127.0.0.11", other, op).status, 200)
        self.assertEqual(self.login_from("127.0.0.13", u, p).status, 200)


class TrustedProxyTest(ServerTest):
    """Behind a reverse proxy every client shares its address: with TRUSTED_PROXIES the
    failed-login limits count the client its X-Forwarded-For names, else one attacker would
    hold back every login through the proxy."""
    ENV = {"TRUSTED_PROXIES": "127.0.0.2"}

    def login_via(self, source, client, username, password):
        headers = {"X-Forwarded-For": client} if client else None
        return self.req("POST", "/auth/login", {"username": username, "password": password},
                        headers=headers, source=source)

    def test_clients_behind_the_proxy_apart(self):
        u, p = self.register()
        for _ in range(5):
            self.assertError(self.login_via("127.0.0.2", "203.0.113.66", u, "wrong password!"), 401)
        self.assertError(self.login_via("127.0.0.2", "203.0.113.66", u, p), 429, "rate_limited")
        # what the attacker writes to the left of the proxy's entry changes nothing
        self.assertError(self.login_via("127.0.0.2", "198.51.100.7, 203.0.113.66", u, p), 429)
        # the user, another client of the same proxy, logs in
        self.assertEqual(self.login_via("127.0.0.2", "198.51.100.7", u, p).status, 200)

    def test_header_ignored_from_others(self):
        u, p = self.register()
        for i in range(5):
            self.assertError(self.login_via("127.0.0.3", "192.0.2.%d" % i, u, "wrong password!"), 401)
        # 127.0.0.3 is no proxy: its X-Forwarded-For is not believed
        self.assertError(self.login_via("127.0.0.3", "198.51.100.8", u, p), 429, "rate_limited")
        self.assertEqual(self.login_via("127.0.0.4", None, u, p).status, 200)

    def test_bad_setting_refused(self):
        s = Server(config.BINARY, config.DATABASE, env={"TRUSTED_PROXIES": "10.0.0.0/33"})
        try:
            with self.assertRaises(RuntimeError) as e:
                s.start()
            self.assertIn("TRUSTED_PROXIES", str(e.exception))
        finally:
            s.stop()
            s.cleanup()
