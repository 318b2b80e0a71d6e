"""Authentication under abuse: signed links in one canonical spelling, the Basic credential
cache (dropped when the account changes behind it), failed-login throttling per address and
per (user, address), and password checks kept off the request workers."""
import re

from base import ServerTest


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
