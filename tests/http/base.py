"""base.py: a TestCase that shares one server per test class and helpers to make users."""
import os
import re
import shutil
import unittest

import config
from harness import Server, basic, bearer, unique


def keep_server_log(name, path):
    """Copies a test class's server log to build/test-logs/servers/ (named after the binary's
    build folder, the database kind and the class), so a failure can be read after the run."""
    build = os.path.basename(os.path.dirname(os.path.abspath(config.BINARY)))
    db = "sqlite" if config.DATABASE == "sqlite" else "postgres"
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build",
                          "test-logs", "servers")
    try:
        os.makedirs(folder, exist_ok=True)
        shutil.copyfile(path, os.path.join(folder, re.sub(r"[^\w.-]", "_",
                                                          "%s-%s-%s.log" % (build, db, name))))
    except OSError:
        pass


class ServerTest(unittest.TestCase):
    ENV = {}
    server = None

    @classmethod
    def setUpClass(cls):
        cls.server = Server(config.BINARY, config.DATABASE, env=dict(cls.ENV)).start()

    @classmethod
    def tearDownClass(cls):
        if cls.server:
            rc = cls.server.stop()
            log = cls.server.log_text()
            keep_server_log(cls.__name__, cls.server.log_path)
            cls.server.cleanup()
            if rc != 0:
                raise AssertionError("server exit status %r\n%s" % (rc, log))

    # ----- helpers -----
    def req(self, method, path, body=None, headers=None, **kw):
        return self.server.request(method, path, body=body, headers=headers, **kw)

    def assertError(self, r, status, code=None, field=None):
        self.assertEqual(r.status, status, r)
        body = r.json()
        self.assertIn("error", body, r)
        err = body["error"]
        self.assertIsInstance(err.get("message"), str)
        self.assertTrue(err["message"])
        if code:
            self.assertEqual(err.get("code"), code, r)
        if field is not None:
            self.assertEqual(err.get("field"), field, r)
        return err

    def register(self, username=None, password="correct horse battery", email=None):
        username = username or unique()
        body = {"username": username, "password": password}
        if email:
            body["email"] = email
        r = self.req("POST", "/auth/register", body)
        self.assertEqual(r.status, 201, r)
        return username, password

    def login(self, username, password):
        r = self.req("POST", "/auth/login", {"username": username, "password": password})
        self.assertEqual(r.status, 200, r)
        return r.json()["access_token"]

    def new_user(self):
        """Registers a fresh user; returns (username, password, bearer headers)."""
        u, p = self.register()
        return u, p, bearer(self.login(u, p))

    def basic(self, u, p):
        return basic(u, p)
