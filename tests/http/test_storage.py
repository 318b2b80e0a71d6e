"""The server's folders: overlapping folders refused at start-up with the data untouched, one
server per DATA_DIR, the orphan sweep (start-up and periodic) removing only files the server
itself names, 507 when STORAGE_DIR or VOICES_DIR is full (tmpfs), and no server path in an
error message."""
import os
import subprocess
import tempfile
import time
import unittest

import config
from base import ServerTest
from harness import Server, bearer, multipart, unique, wav_sine

OLD = time.time() - 3600  # older than the sweep's one-minute grace for requests in flight


def age(path):
    os.utime(path, (OLD, OLD))


def snapshot(root):
    """{relative path: (size, mtime)} of every file under root."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            st = os.stat(p)
            out[os.path.relpath(p, root)] = (st.st_size, st.st_mtime)
    return out


def user(server):
    name = unique()
    r = server.request("POST", "/auth/register", {"username": name, "password": "correct horse battery"})
    assert r.status == 201, r
    r = server.request("POST", "/auth/login", {"username": name, "password": "correct horse battery"})
    return bearer(r.json()["access_token"])


def run_serve(env, cwd, timeout=15):
    """Runs `vocero serve`, which should refuse to start: (exit status, stderr). A server that
    is still running after timeout seconds is stopped and gives status None."""
    p = subprocess.Popen([config.BINARY, "serve"], env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _, err = p.communicate(timeout=timeout)
        return p.returncode, err.decode()
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
        return None, err.decode()


class OverlapTest(unittest.TestCase):
    """A server is set up normally, then restarted with folders that overlap: it must refuse
    to start and leave every file as it was (the old sweep deleted the database, its WAL and
    secret_key, or every voice)."""

    def setUp(self):
        self.s = Server(config.BINARY, config.DATABASE, env={"SECRET_KEY": ""}).start()
        auth = user(self.s)
        r = self.s.request("POST", "/generate-tts", {"text": "Hello there."}, auth)
        self.assertEqual(r.status, 201, r)
        body, h = multipart({"name": "v"}, {"file": ("v.wav", wav_sine(3.5), "audio/wav")})
        h.update(auth)
        self.assertEqual(self.s.request("POST", "/voices/upload", body, h).status, 201)
        self.assertEqual(self.s.stop(), 0)
        self.addCleanup(self.s.cleanup)
        for root in ("DATA_DIR", "STORAGE_DIR", "VOICES_DIR"):
            for d, _, files in os.walk(self.s.env[root]):
                for f in files:
                    age(os.path.join(d, f))
        self.before = snapshot(self.s.tmp)
        self.assertTrue(any(k.endswith("secret_key") for k in self.before), self.before)

    def refused(self, env, *names):
        e = dict(self.s.env)
        e.update(env)
        rc, err = run_serve(e, self.s.tmp)
        self.assertIsNotNone(rc, "the server started with %s:\n%s" % (env, err))
        self.assertNotEqual(rc, 0, err)
        for n in names:
            self.assertIn(n, err)
        self.assertEqual(snapshot(self.s.tmp), self.before)

    def test_same_folder(self):
        data, voices = self.s.env["DATA_DIR"], self.s.env["VOICES_DIR"]
        self.refused({"STORAGE_DIR": data}, "STORAGE_DIR", "DATA_DIR")
        self.refused({"STORAGE_DIR": voices}, "STORAGE_DIR", "VOICES_DIR")
        self.refused({"MODELS_DIR": voices + "/./"}, "MODELS_DIR", "VOICES_DIR")

    def test_nested_and_links(self):
        tmp = self.s.tmp
        self.refused({"VOICES_DIR": os.path.join(self.s.env["DATA_DIR"], "voices")}, "VOICES_DIR", "DATA_DIR")
        self.refused({"DATA_DIR": os.path.join(self.s.env["STORAGE_DIR"], "..", "outputs", "x", "..")},
                     "DATA_DIR", "STORAGE_DIR")
        # a link to STORAGE_DIR, and a folder not created yet under a link to it
        os.symlink(self.s.env["STORAGE_DIR"], os.path.join(tmp, "link"))
        self.before = snapshot(tmp)
        self.refused({"VOICES_DIR": os.path.join(tmp, "link")}, "VOICES_DIR", "STORAGE_DIR")
        self.refused({"MODELS_DIR": os.path.join(tmp, "link", "not", "yet")}, "MODELS_DIR", "STORAGE_DIR")
        # relative to the working directory
        self.refused({"STORAGE_DIR": "data/../data/sub"}, "STORAGE_DIR", "DATA_DIR")
        self.assertFalse(os.path.exists(os.path.join(self.s.env["DATA_DIR"], "sub")))


class SecondInstanceTest(ServerTest):
    def test_second_server_exits_without_changes(self):
        auth = user(self.server)
        r = self.req("POST", "/generate-tts", {"text": "Hello there."}, auth)
        self.assertEqual(r.status, 201, r)
        # a file of a request in flight (written, its row not yet committed) and a stale one
        out = self.server.env["STORAGE_DIR"]
        for n in ("gen_%024x.wav" % 1, ".tmp-w_%024x.part" % 2):
            with open(os.path.join(out, n), "wb") as f:
                f.write(b"RIFF....")
            age(os.path.join(out, n))
        before = snapshot(self.server.tmp)
        rc, err = run_serve(self.server.env, self.server.tmp)  # same DATA_DIR and port
        self.assertIsNotNone(rc, err)
        self.assertNotEqual(rc, 0, err)
        self.assertIn("DATA_DIR", err)
        self.assertIn("another vocero server (pid %d)" % self.server.proc.pid, err)
        self.assertNotIn("port", err)
        after = snapshot(self.server.tmp)
        after.pop("server.log", None)
        before.pop("server.log", None)
        self.assertEqual(after, before)
        # the first server is unharmed
        g = self.req("GET", "/history/%d" % r.json()["id"], headers=auth)
        self.assertEqual(g.status, 200, g)
        self.assertEqual(self.req("GET", g.json()["download_url"], headers=auth).status, 200)


class SweepTest(ServerTest):
    """Foreign files are kept; generated-style files no row references are removed at start-up
    and by the periodic sweep, without a restart."""
    ENV = {"SWEEP_INTERVAL_SECONDS": "1"}

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="vocero-sweep-")
        cls.out, cls.voices = os.path.join(cls.tmp, "outputs"), os.path.join(cls.tmp, "voices")
        os.makedirs(cls.out)
        os.makedirs(cls.voices)
        cls.ENV = dict(cls.ENV, STORAGE_DIR=cls.out, VOICES_DIR=cls.voices)
        for d, names in ((cls.out, ("notes.txt", "gen_%024x.wav" % 3, "gen_old.wav", "Gen_%024x.wav" % 4)),
                         (cls.voices, ("my voice.wav", "voice_%024x.mp3" % 5, "voice_%024x" % 6))):
            for n in names:
                with open(os.path.join(d, n), "wb") as f:
                    f.write(b"x" * 100)
                age(os.path.join(d, n))
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        subprocess.run(["rm", "-rf", cls.tmp])

    def wait_gone(self, path, timeout=20):
        deadline = time.time() + timeout
        while os.path.exists(path) and time.time() < deadline:
            time.sleep(0.1)
        return not os.path.exists(path)

    def test_start_up_and_periodic(self):
        # start-up: only the generated-style orphans went
        self.assertEqual(sorted(os.listdir(self.out)), sorted(["Gen_%024x.wav" % 4, "gen_old.wav", "notes.txt"]))
        self.assertEqual(sorted(os.listdir(self.voices)), sorted(["my voice.wav", "voice_%024x" % 6]))
        # periodic: a referenced file stays, an old orphan and a stale temporary go, a young
        # orphan (a request in flight) stays
        auth = user(self.server)
        r = self.req("POST", "/generate-tts", {"text": "Hello there."}, auth)
        self.assertEqual(r.status, 201, r)
        kept = os.path.join(self.out, r.json()["file_name"])
        age(kept)
        orphan = os.path.join(self.out, "gen_%024x.ogg" % 7)
        young = os.path.join(self.out, "gen_%024x.ogg" % 8)
        temp = os.path.join(self.voices, ".tmp-w_%024x.part" % 9)
        for p in (orphan, young, temp):
            with open(p, "wb") as f:
                f.write(b"y" * 10)
        age(orphan)
        age(temp)
        self.assertTrue(self.wait_gone(orphan), os.listdir(self.out))
        self.assertTrue(self.wait_gone(temp), os.listdir(self.voices))
        for p in (kept, young, os.path.join(self.out, "notes.txt"), os.path.join(self.voices, "my voice.wav")):
            self.assertTrue(os.path.exists(p), p)
        self.assertEqual(self.req("GET", r.json()["download_url"], headers=auth).status, 200)
        self.assertIn("orphan", self.server.log_text())


class DiskFullTest(ServerTest):
    """STORAGE_DIR and VOICES_DIR on tiny tmpfs mounts, nearly full: a generation and a voice
    upload answer 507 naming the folder's setting, log it, and leave no file and no row."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="vocero-full-")
        cls.mounts = []
        for name in ("outputs", "voices"):
            d = os.path.join(cls.tmp, name)
            os.makedirs(d)
            p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", d], capture_output=True)
            if p.returncode != 0:
                cls.cleanup_mounts()
                raise unittest.SkipTest("cannot mount a tmpfs (needs root): %s" % p.stderr.decode().strip())
            cls.mounts.append(d)
            # fill it, then free 16 KiB: a write starts and fails part way
            with open(os.path.join(d, "filler"), "wb", buffering=0) as f:
                try:
                    while True:
                        f.write(b"\0" * 4096)
                except OSError:
                    pass
            os.truncate(os.path.join(d, "filler"), os.path.getsize(os.path.join(d, "filler")) - 16384)
        cls.ENV = {"STORAGE_DIR": cls.mounts[0], "VOICES_DIR": cls.mounts[1]}
        try:
            super().setUpClass()
        except Exception:
            cls.cleanup_mounts()
            raise

    @classmethod
    def cleanup_mounts(cls):
        for d in cls.mounts:
            subprocess.run(["umount", d])
        subprocess.run(["rm", "-rf", cls.tmp])

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.cleanup_mounts()

    def check_full(self, r, setting, folder):
        err = self.assertError(r, 507, "insufficient_storage")
        self.assertIn(setting, err["message"])
        self.assertNotIn(self.tmp, err["message"])
        self.assertEqual(os.listdir(folder), ["filler"])
        log = self.server.log_text()
        self.assertIn("%s (%s) is full" % (setting, folder), log)

    def test_generation_and_upload(self):
        auth = user(self.server)
        self.check_full(self.req("POST", "/generate-tts", {"text": "Hello there. " * 20}, auth),
                        "STORAGE_DIR", self.mounts[0])
        self.assertEqual(self.req("GET", "/history", headers=auth).json()["items"], [])
        body, h = multipart({"name": "big"}, {"file": ("v.wav", wav_sine(5.0), "audio/wav")})
        h.update(auth)
        self.check_full(self.req("POST", "/voices/upload", body, h), "VOICES_DIR", self.mounts[1])
        self.assertEqual(self.req("GET", "/voices", headers=auth).json()["voices"], [])
        # a small voice still fits: the server goes on working
        os.truncate(os.path.join(self.mounts[1], "filler"), 0)
        self.assertEqual(self.req("POST", "/voices/upload", body, h).status, 201)


class NoServerPathTest(ServerTest):
    """Nothing installed under MODELS_DIR: the 503s for the speech engine and the chat model
    say what is missing and how to install it, without a path on the server."""

    def check(self, r, *wanted):
        err = self.assertError(r, 503, "unavailable")
        for folder in (self.server.tmp, os.path.realpath(self.server.tmp), "/tmp/"):
            self.assertNotIn(folder, err["message"])
        for w in wanted:
            self.assertIn(w, err["message"])

    def test_unavailable_engine_and_model(self):
        auth = user(self.server)
        self.check(self.req("POST", "/generate-tts", {"text": "Hello.", "engine": "chatterbox-turbo"}, auth),
                   "chatterbox-turbo", "vocero models pull chatterbox-turbo")
        tid = self.req("POST", "/chat/threads", {}, auth).json()["id"]
        self.check(self.req("POST", "/chat/threads/%d/messages" % tid, {"content": "hi"}, auth),
                   ".gguf", "vocero models pull")
        self.check(self.req("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}, auth),
                   ".gguf")
        # the log keeps the full path for the operator
        self.assertIn(os.path.join(self.server.env["MODELS_DIR"], ""), self.server.log_text())


class SqliteFaultTest(unittest.TestCase):
    """The SQLite database's WAL index is not a memory-mapped "-shm" file (which killed the
    server with SIGBUS when it was truncated or its disk failed): damage to DATA_DIR gives
    errors per request and log lines, and the server keeps running."""

    def setUp(self):
        if config.DATABASE != "sqlite":
            self.skipTest("SQLite only")
        self.s = Server(config.BINARY, config.DATABASE)
        self.addCleanup(self.s.cleanup)
        self.data = self.s.env["DATA_DIR"]

    def register(self, status=201):
        try:
            r = self.s.request("POST", "/auth/register", {"username": unique(), "password": "correct horse battery"})
        except OSError as e:
            self.fail("the server died (%r, exit status %r):\n%s" % (e, self.s.proc.wait(5), self.s.log_text()))
        self.assertEqual(r.status, status, r)
        return r

    def test_shm_truncated(self):
        self.s.start()
        self.addCleanup(self.s.stop)
        self.register()
        # what another program does to a WAL index file under a running server
        shm = os.path.join(self.data, "vocero.db-shm")
        with open(shm, "ab"):
            pass
        os.truncate(shm, 0)
        for _ in range(10):
            self.register()
        self.assertEqual(self.s.stop(), 0)

    def mount(self, size):
        os.makedirs(self.data)
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", self.data], capture_output=True)
        if p.returncode != 0:
            self.skipTest("cannot mount a tmpfs (needs root): %s" % p.stderr.decode().strip())
        self.addCleanup(subprocess.run, ["umount", "-l", self.data])

    def test_data_dir_full(self):
        self.mount("2m")
        self.s.start()
        self.addCleanup(self.s.stop)
        self.register()
        filler = os.path.join(self.data, "filler")
        with open(filler, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError:
                pass
        for _ in range(5):
            err = self.register(507).json()["error"]
            self.assertEqual(err["code"], "insufficient_storage")
            self.assertNotIn(self.s.tmp, err["message"])
        self.assertIn("the disk of the database is full", self.s.log_text())
        self.assertFalse(os.path.exists(os.path.join(self.data, "vocero.db-shm")))
        os.remove(filler)
        self.register()
        self.assertEqual(self.s.stop(), 0)


class HealthNoPathTest(ServerTest):
    """The public health answer shows why a model download failed, without the server's path:
    MODELS_DIR lies under a regular file, so creating the model's folder fails."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="vocero-blocked-")
        with open(os.path.join(cls.tmp, "blocker"), "wb"):
            pass
        cls.ENV = {"MODELS_AUTO_DOWNLOAD": "true", "HF_ENDPOINT": "http://127.0.0.1:9",
                   "MODELS_DIR": os.path.join(cls.tmp, "blocker", "models")}
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        subprocess.run(["rm", "-rf", cls.tmp])

    def test_download_error_without_path(self):
        deadline = time.time() + 30
        while time.time() < deadline:
            items = self.req("GET", "/").json()["models"]["items"]
            if items and all(m["state"] == "failed" for m in items):
                break
            time.sleep(0.2)
        self.assertTrue(items and all(m["error"] for m in items), items)
        for m in items:
            self.assertNotIn(self.tmp, m["error"])
            self.assertIn("MODELS_DIR/", m["error"])
        self.assertIn(os.path.join(self.tmp, "blocker", "models"), self.server.log_text())
