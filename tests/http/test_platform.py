"""Platform behaviour: health, request ids, Host and CORS checks, errors, OpenAPI, docs,
configuration, shutdown."""
import json
import os
import signal
import subprocess
import threading
import time

import config
from base import ServerTest
from harness import Server, unique

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class PlatformTest(ServerTest):
    ENV = {"ALLOWED_HOSTS": "localhost,127.0.0.1,vocero.example", "CORS_ORIGINS": "http://app.example"}

    def test_health(self):
        r = self.req("GET", "/")
        self.assertEqual(r.status, 200, r)
        h = r.json()
        self.assertEqual(h["status"], "ok")
        self.assertEqual(h["database"]["status"], "ok")
        self.assertEqual(h["database"]["backend"], "sqlite" if config.DATABASE == "sqlite" else "postgresql")
        self.assertIsInstance(h["version"], str)
        self.assertIsInstance(h["uptime_s"], (int, float))
        self.assertIn("espeak-ng", h["engines"])
        names = {m["name"]: m for m in h["models"]["items"]}
        self.assertFalse(h["models"]["auto_download"])
        self.assertEqual(names["qwen2.5-3b-instruct"]["state"], "missing")
        self.assertEqual(names["chatterbox-turbo"]["state"], "missing")

    def test_request_id(self):
        a = self.req("GET", "/").header("X-Request-Id")
        b = self.req("GET", "/").header("X-Request-Id")
        self.assertTrue(a and b and a != b)
        self.assertEqual(self.req("GET", "/", headers={"X-Request-Id": "abc-123"}).header("X-Request-Id"), "abc-123")
        bad = self.req("GET", "/", headers={"X-Request-Id": "x" * 200}).header("X-Request-Id")
        self.assertTrue(bad and bad != "x" * 200)
        self.assertTrue(self.req("GET", "/nope").header("X-Request-Id"))

    def test_not_found_and_method(self):
        self.assertError(self.req("GET", "/no/such/route"), 404, "not_found")
        r = self.req("PUT", "/auth/login", {})
        self.assertError(r, 405, "method_not_allowed")
        self.assertIn("POST", r.header("Allow") or "")

    def test_allowed_hosts(self):
        self.assertEqual(self.req("GET", "/", host="vocero.example:8000").status, 200)
        r = self.req("GET", "/", host="evil.example")
        self.assertError(r, 400, field="Host")

    def test_cors(self):
        r = self.req("OPTIONS", "/auth/login", headers={"Origin": "http://app.example",
                                                        "Access-Control-Request-Method": "POST",
                                                        "Access-Control-Request-Headers": "content-type, authorization"})
        self.assertIn(r.status, (200, 204))
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "http://app.example")
        self.assertIn("POST", r.header("Access-Control-Allow-Methods") or "")
        r = self.req("GET", "/", headers={"Origin": "http://app.example"})
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "http://app.example")
        r = self.req("GET", "/", headers={"Origin": "http://evil.example"})
        self.assertIsNone(r.header("Access-Control-Allow-Origin"))

    def test_openapi_matches_routes(self):
        r = self.req("GET", "/openapi.json")
        self.assertEqual(r.status, 200)
        doc = r.json()
        self.assertTrue(doc["openapi"].startswith("3.1"))
        documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops
                      if m in ("get", "post", "put", "patch", "delete")}
        out = subprocess.run([config.BINARY, "routes"], capture_output=True, check=True).stdout.decode()
        table = {tuple(line.split()[:2]) for line in out.splitlines() if line.strip()}
        self.assertTrue(table)
        self.assertEqual(documented, table)
        with open(os.path.join(ROOT, "docs", "openapi.json")) as f:
            self.assertEqual(json.load(f), doc)

    def test_openapi_has_no_duplicate_keys(self):
        # A JSON object with a key twice parses (the last one wins) but Swagger UI refuses
        # the whole document; merges of the OpenAPI file have produced such keys.
        dups = []

        def no_dups(pairs):
            keys = [k for k, _ in pairs]
            dups.extend(sorted({k for k in keys if keys.count(k) > 1}))
            return dict(pairs)

        json.loads(self.req("GET", "/openapi.json").body, object_pairs_hook=no_dups)
        self.assertEqual(dups, [], "duplicate keys in /openapi.json")

    def test_docs_page(self):
        r = self.req("GET", "/docs")
        self.assertEqual(r.status, 200)
        self.assertIn(b"swagger", r.body.lower())
        self.assertTrue(r.header("Content-Type").startswith("text/html"))

    def test_header_limit(self):
        r = self.req("GET", "/", headers={"X-Big": "a" * (64 * 1024)})
        self.assertIn(r.status, (400, 413, 431))

    def test_raw_garbage(self):
        out = self.server.raw(b"\x00\x01\x02 garbage\r\n\r\n")
        self.assertTrue(out == b"" or out.startswith(b"HTTP/1.1 400"), out[:100])
        self.assertEqual(self.req("GET", "/").status, 200)


class OfflineDownloadTest(ServerTest):
    """First start with no network: the background download fails with a clear state, and
    everything else keeps working."""
    ENV = {"MODELS_AUTO_DOWNLOAD": "true", "HF_ENDPOINT": "http://127.0.0.1:9"}

    def test_health_reports_failure(self):
        deadline = time.time() + 30
        while time.time() < deadline:
            h = self.req("GET", "/").json()
            states = {m["name"]: m["state"] for m in h["models"]["items"]}
            if all(v == "failed" for v in states.values()):
                break
            time.sleep(0.2)
        self.assertEqual(h["status"], "ok")
        self.assertTrue(h["models"]["auto_download"])
        self.assertEqual(set(states.values()), {"failed"}, h)
        self.assertTrue(all(m["error"] for m in h["models"]["items"]))
        self.register()


class ShutdownTest(ServerTest):
    def test_sigterm_finishes_in_flight(self):
        import socket
        u, p = self.register()
        body = json.dumps({"username": u, "password": p}).encode()
        head = ("POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                "Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)).encode()
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=20)
        s.sendall(head + body[:5])  # the request is now in flight, its body half sent
        time.sleep(0.3)
        self.server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        s.sendall(body[5:])
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        s.close()
        self.assertTrue(out.startswith(b"HTTP/1.1 200"), out[:200])
        self.assertIn(b"access_token", out)
        rc = self.server.stop(signal.SIGTERM)
        self.assertEqual(rc, 0, self.server.log_text())
        self.assertIn("stopped", self.server.log_text())
        self.server.cleanup()
        type(self).server = None  # already stopped; tearDownClass has nothing left to do


class ConfigTest(ServerTest):
    server = None

    @classmethod
    def setUpClass(cls):
        pass

    def test_production_requires_secret(self):
        s = Server(config.BINARY, config.DATABASE, env={"VOCERO_ENV": "production", "SECRET_KEY": ""})
        try:
            p = subprocess.run([s.binary, "serve"], env=s.env, cwd=s.tmp, capture_output=True, timeout=30)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn(b"SECRET_KEY", p.stderr)
            s.env["SECRET_KEY"] = "short"
            p = subprocess.run([s.binary, "serve"], env=s.env, cwd=s.tmp, capture_output=True, timeout=30)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn(b"SECRET_KEY", p.stderr)
        finally:
            s.cleanup()

    def test_development_generates_secret_once(self):
        s = Server(config.BINARY, config.DATABASE, env={"SECRET_KEY": ""})
        try:
            s.start()
            u = unique()
            s.request("POST", "/auth/register", {"username": u, "password": "password-123"})
            tok = json.loads(s.request("POST", "/auth/login", {"username": u, "password": "password-123"}).body)["access_token"]
            self.assertEqual(s.stop(), 0)
            key_file = os.path.join(s.env["DATA_DIR"], "secret_key")
            self.assertTrue(os.path.exists(key_file))
            self.assertEqual(os.stat(key_file).st_mode & 0o777, 0o600)
            self.assertIn("SECRET_KEY", s.log_text())
            s.start()  # same key again: the old token still works
            r = s.request("GET", "/auth/me", headers={"Authorization": "Bearer " + tok})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(s.stop(), 0)
        finally:
            s.cleanup()

    def test_env_file_and_override(self):
        s = Server(config.BINARY, config.DATABASE)
        try:
            port = s.port
            del s.env["PORT"]
            with open(os.path.join(s.tmp, ".env"), "w") as f:
                f.write("# comment\nPORT=%d\nALLOWED_HOSTS=\"only.example\"\n" % port)
            s.env["ALLOWED_HOSTS"] = "127.0.0.1"  # environment wins over .env
            s.start()
            self.assertEqual(s.request("GET", "/").status, 200)
            self.assertEqual(s.request("GET", "/", host="only.example").status, 400)
            self.assertEqual(s.stop(), 0)
        finally:
            s.cleanup()

    def test_bad_config(self):
        s = Server(config.BINARY, config.DATABASE, env={"PORT": "notaport"})
        try:
            p = subprocess.run([s.binary, "serve"], env=s.env, cwd=s.tmp, capture_output=True, timeout=30)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn(b"PORT", p.stderr)
        finally:
            s.cleanup()

    def test_help(self):
        p = subprocess.run([config.BINARY, "--help"], capture_output=True, timeout=10)
        self.assertEqual(p.returncode, 0)
        p = subprocess.run([config.BINARY, "serve", "--help"], capture_output=True, timeout=10)
        self.assertEqual(p.returncode, 0)
        text = p.stdout + p.stderr
        for name in (b"SECRET_KEY", b"DATABASE_URL", b"STORAGE_DIR", b"VOICES_DIR", b"MODELS_DIR", b"HF_TOKEN",
                     b"ALLOWED_HOSTS", b"PORT", b"CORS_ORIGINS", b"MAX_UPLOAD_MB", b"LOG_LEVEL", b"VOCERO_ENV"):
            self.assertIn(name, text)
