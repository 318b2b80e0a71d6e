"""The LLM command line on a model written by our own GGUF writer: make-random, generate,
tokenize; and the server answering chat with that model (no downloaded weights needed)."""
import os
import re
import subprocess
import tempfile
import unittest

import config
from base import ServerTest


def make_model(path, type_="q8_0"):
    p = subprocess.run([config.BINARY, "models", "make-random", "qwen2", path, "--shape", "tiny",
                        "--type", type_], capture_output=True, timeout=300)
    if p.returncode != 0:
        raise AssertionError(p.stderr.decode())


class LlmCliTest(unittest.TestCase):
    def test_make_random_generate_tokenize(self):
        with tempfile.TemporaryDirectory() as d:
            for t in ("f16", "q8_0", "q4_k_m"):
                path = os.path.join(d, "m-%s.gguf" % t)
                make_model(path, t)
                p = subprocess.run([config.BINARY, "generate", "--model", path, "--prompt", "Hello",
                                    "--max-tokens", "6", "--temperature", "0", "--print-ids"],
                                   capture_output=True, timeout=300)
                self.assertEqual(p.returncode, 0, p.stderr)
                ids = re.search(rb"ids:((?: \d+)+)", p.stdout + p.stderr)
                self.assertIsNotNone(ids, p.stdout)
                self.assertEqual(len(ids.group(1).split()), 6)
                again = subprocess.run([config.BINARY, "generate", "--model", path, "--prompt", "Hello",
                                        "--max-tokens", "6", "--temperature", "0", "--print-ids"],
                                       capture_output=True, timeout=300)
                self.assertEqual(again.stdout, p.stdout)  # greedy is deterministic
            p = subprocess.run([config.BINARY, "tokenize", "--model", path, "Hello world"],
                               capture_output=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertTrue(re.search(rb"\d", p.stdout))
            p = subprocess.run([config.BINARY, "generate", "--model", os.path.join(d, "nope.gguf"),
                                "--prompt", "x"], capture_output=True, timeout=60)
            self.assertNotEqual(p.returncode, 0)
            bad = os.path.join(d, "bad.gguf")
            with open(path, "rb") as f, open(bad, "wb") as g:
                g.write(f.read()[:5000])  # truncated
            p = subprocess.run([config.BINARY, "generate", "--model", bad, "--prompt", "x"],
                               capture_output=True, timeout=60)
            self.assertNotEqual(p.returncode, 0)
            self.assertTrue(p.stderr.strip())


class ChatOwnModelTest(ServerTest):
    @classmethod
    def setUpClass(cls):
        cls.tmpdir = tempfile.mkdtemp(prefix="vocero-llm-")
        cls.model = os.path.join(cls.tmpdir, "tiny.gguf")
        make_model(cls.model)
        cls.ENV = {"LLM_MODEL": cls.model, "LLM_CONTEXT": "256"}
        super().setUpClass()

    def test_chat_turn(self):
        _, _, auth = self.new_user()
        tid = self.req("POST", "/chat/threads", {}, auth).json()["id"]
        r = self.req("POST", "/chat/threads/%d/messages" % tid,
                     {"content": "Hi", "max_tokens": 4, "temperature": 0}, auth, timeout=120)
        self.assertEqual(r.status, 201, r)
        self.assertGreaterEqual(r.json()["usage"]["completion_tokens"], 1)

    def test_speak_errors_before_anything_is_stored(self):
        _, _, auth = self.new_user()
        tid = self.req("POST", "/chat/threads", {}, auth).json()["id"]
        for body, field in (({"content": "Hi", "speak": True, "engine": "nope"}, "engine"),
                            ({"content": "Hi", "speak": True, "voice_id": 99999}, "voice_id"),
                            ({"content": "Hi", "speak": "yes"}, "speak")):
            r = self.req("POST", "/chat/threads/%d/messages" % tid, body, auth)
            self.assertError(r, 422, "validation_error", field)
        self.assertEqual(self.req("GET", "/chat/threads/%d" % tid, headers=auth).json()["messages"], [])
