"""PostgreSQL outage: while the database is down every API route answers 503
`database_unavailable` with Retry-After and the log gets a few lines, not one per request;
health says the database is down; after a restart of PostgreSQL the first request on each
stale pooled connection succeeds. Runs its own throwaway cluster (it stops and starts it),
so only in the PostgreSQL run of the suite."""
import os
import subprocess
import tempfile
import threading
import time
import unittest

import config
from base import ServerTest
from harness import Server, bearer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
POOL_SIZE = 4  # PG_POOL_SIZE in src/db/postgres.c


def as_pg(args):
    if os.getuid() == 0:
        args = ["runuser", "-u", "postgres", "--"] + args
    return subprocess.run(args, check=True, capture_output=True, text=True)


@unittest.skipIf(config.DATABASE == "sqlite", "PostgreSQL outage: runs with --database postgresql://")
@unittest.skipUnless(os.path.exists(os.path.join(PG_BIN, "pg_ctl")), "PostgreSQL binaries not installed")
class DatabaseOutageTest(ServerTest):
    @classmethod
    def setUpClass(cls):
        cls.state = tempfile.mktemp(prefix="vocero-pg-outage-", suffix=".state")
        env = dict(os.environ, PG_TEST_STATE=cls.state)
        env.pop("TEST_DATABASE_URL", None)
        cls.pg_env = env
        url = subprocess.run([os.path.join(ROOT, "scripts", "pg-test-server.sh"), "start"], env=env,
                             check=True, capture_output=True, text=True).stdout.strip()
        with open(cls.state) as f:
            cls.pg_dir = f.read().split()[0]
        cls.url = url
        cls.server = Server(config.BINARY, url).start()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            subprocess.run([os.path.join(ROOT, "scripts", "pg-test-server.sh"), "stop"], env=cls.pg_env,
                           check=False, capture_output=True)

    # ----- PostgreSQL control -----
    def pg_ctl(self, *args):
        as_pg([os.path.join(PG_BIN, "pg_ctl"), "-D", os.path.join(self.pg_dir, "data"), "-w"] + list(args))

    def pg_stop(self):
        self.pg_ctl("-m", "fast", "stop")

    def pg_start(self):
        self.pg_ctl("-l", os.path.join(self.pg_dir, "server.log"), "start")

    def server_backends(self):
        """Connections the server holds (everything but our own psql session)."""
        out = as_pg(["psql", "-X", "-At", self.url, "-c",
                     "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                     " AND pid <> pg_backend_pid()"]).stdout
        return int(out.strip())

    # ----- helpers -----
    def burst(self, headers, n_threads=12, per_thread=6):
        """Concurrent GETs on light DB-backed routes; returns every response."""
        paths = ["/voices", "/history", "/chat/threads", "/auth/me"]
        out, lock = [], threading.Lock()
        start = threading.Barrier(n_threads)

        def run(k):
            start.wait()
            for i in range(per_thread):
                r = self.req("GET", paths[(k + i) % len(paths)], headers=headers)
                with lock:
                    out.append(r)
        threads = [threading.Thread(target=run, args=(k,)) for k in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return out

    def fill_pool(self, headers):
        """Bursts until the server holds every pooled connection; asserts all succeeded."""
        for _ in range(20):
            for r in self.burst(headers):
                self.assertEqual(r.status, 200, r)
            if self.server_backends() >= POOL_SIZE:
                return
        self.fail("the pool never opened %d connections" % POOL_SIZE)

    def wait_health(self, status):
        for _ in range(200):
            r = self.req("GET", "/")
            if r.status == status:
                return r
            time.sleep(0.05)
        self.fail("health never answered %d" % status)

    def log_since(self, since):
        with open(self.server.log_path, "rb") as f:
            return f.read()[since:].decode("utf-8", "replace")

    def error_lines(self, since):
        return [ln for ln in self.log_since(since).splitlines() if " ERROR " in ln]

    # ----- tests -----
    def test_restart_stale_pooled_connections_succeed(self):
        _, _, h = self.new_user()
        self.fill_pool(h)
        self.pg_stop()
        self.pg_start()
        # No request in between: every pooled connection is now stale. The first use of
        # each must succeed (validated and replaced, or a read retried once).
        self.fill_pool(h)

    def test_outage_answers_503_with_retry_after_and_logs_little(self):
        u, p, h = self.new_user()
        self.fill_pool(h)
        log_start = os.path.getsize(self.server.log_path)
        self.pg_stop()
        try:
            rs = self.burst(h)
            rs.append(self.req("POST", "/chat/threads", {"title": "t"}, headers=h))
            rs.append(self.req("GET", "/voices", headers=self.basic(u, p)))
            rs.append(self.req("POST", "/auth/login", {"username": u, "password": p}))
            for r in rs:
                self.assertError(r, 503, "database_unavailable")
                self.assertEqual(r.header("Retry-After"), "5", r)
            health = self.req("GET", "/")
            self.assertEqual(health.status, 503, health)
            self.assertEqual(health.json()["status"], "degraded")
            self.assertNotEqual(health.json()["database"]["status"], "ok")
            lines = self.error_lines(log_start)
            self.assertLessEqual(len(lines), 3, "\n".join(lines[:20]))
            self.assertTrue(any("database unavailable" in ln for ln in lines), lines)
        finally:
            self.pg_start()
        self.wait_health(200)
        self.fill_pool(h)
        # The login that failed during the outage did not count as a failed attempt.
        self.assertEqual(self.req("POST", "/auth/login", {"username": u, "password": p}).status, 200)
        self.assertIn("database reachable again", self.log_since(log_start))
