"""Per-user quotas (QUOTA_* settings): chat threads, voices, stored bytes and generations
per hour. A count or size over its quota is 403 quota_exceeded, the hourly rate 429
rate_limited with Retry-After; the message names the setting; nothing is stored; another
user is not affected; deleting frees the quota again."""
import os
import unittest

from base import ServerTest
from harness import multipart, wav_sine

MIB = 1 << 20


class QuotaTest(ServerTest):
    ENV = {"QUOTA_CHAT_THREADS": "2", "QUOTA_VOICES": "2", "QUOTA_STORAGE_MB": "1",
           "QUOTA_GENERATIONS_PER_HOUR": "2", "TTS_ENGINE": "espeak-ng"}

    def upload(self, headers, name, seconds, rate=24000):
        body, h = multipart({"name": name}, {"file": ("clip.wav", wav_sine(seconds, rate=rate), "audio/wav")})
        h.update(headers)
        return self.req("POST", "/voices/upload", body, h)

    def gen(self, headers, text="Hello there, this is a quota test."):
        return self.req("POST", "/generate-tts", {"text": text, "format": "wav"}, headers)

    def files(self, setting):
        d = self.server.env[setting]
        return sorted(f for f in os.listdir(d) if not f.startswith("."))

    def assertQuota(self, r, status, code, setting):
        err = self.assertError(r, status, code)
        self.assertIsNone(err["field"])
        self.assertIn(setting, err["message"])
        self.assertIn("quota exceeded", err["message"])

    def test_chat_threads(self):
        _, _, a = self.new_user()
        _, _, b = self.new_user()
        ids = []
        for i in range(2):
            r = self.req("POST", "/chat/threads", {"title": "t%d" % i}, a)
            self.assertEqual(r.status, 201, r)
            ids.append(r.json()["id"])
        self.assertQuota(self.req("POST", "/chat/threads", {"title": "t2"}, a), 403, "quota_exceeded",
                         "QUOTA_CHAT_THREADS")
        self.assertEqual(len(self.req("GET", "/chat/threads", headers=a).json()["items"]), 2)
        # Another user has a quota of their own.
        self.assertEqual(self.req("POST", "/chat/threads", {"title": "b"}, b).status, 201)
        # Deleting one frees a place.
        self.assertEqual(self.req("DELETE", "/chat/threads/%d" % ids[0], headers=a).status, 204)
        self.assertEqual(self.req("POST", "/chat/threads", {"title": "t3"}, a).status, 201)

    def test_voices(self):
        _, _, a = self.new_user()
        before = self.files("VOICES_DIR")
        for i in range(2):
            r = self.upload(a, "v%d" % i, 3.0, rate=8000)
            self.assertEqual(r.status, 201, r)
        stored = self.files("VOICES_DIR")
        self.assertEqual(len(stored), len(before) + 2)
        self.assertQuota(self.upload(a, "v2", 3.0, rate=8000), 403, "quota_exceeded", "QUOTA_VOICES")
        self.assertEqual(self.files("VOICES_DIR"), stored)  # nothing written for the refused one
        self.assertEqual(len(self.req("GET", "/voices", headers=a).json()["voices"]), 2)

    def test_storage(self):
        _, _, a = self.new_user()
        # 1 MiB: one voice of 21 s (1,008,044 bytes of 16-bit 24 kHz WAV) fits...
        r = self.upload(a, "big", 21.0)
        self.assertEqual(r.status, 201, r)
        big = r.json()
        self.assertLess(big["size_bytes"], MIB)
        # ...a second one that would go over does not, and nothing is written.
        voices = self.files("VOICES_DIR")
        self.assertQuota(self.upload(a, "small", 3.0), 403, "quota_exceeded", "QUOTA_STORAGE_MB")
        self.assertEqual(self.files("VOICES_DIR"), voices)
        # A generation still fits under the limit (its size is not known beforehand) and is
        # stored; it takes the user over, so the next one is refused before generating.
        r = self.gen(a, "A sentence long enough to push this account over its storage quota. " * 2)
        self.assertEqual(r.status, 201, r)
        outputs = self.files("STORAGE_DIR")
        self.assertQuota(self.gen(a), 403, "quota_exceeded", "QUOTA_STORAGE_MB")
        self.assertEqual(self.files("STORAGE_DIR"), outputs)
        # Deleting the voice frees the space.
        self.assertEqual(self.req("DELETE", "/voices/%d" % big["id"], headers=a).status, 204)
        self.assertEqual(self.gen(a).status, 201)

    def test_generations_per_hour(self):
        _, _, a = self.new_user()
        _, _, b = self.new_user()
        ids = []
        for _ in range(2):
            r = self.gen(a)
            self.assertEqual(r.status, 201, r)
            ids.append(r.json()["id"])
        outputs = self.files("STORAGE_DIR")
        r = self.gen(a)
        self.assertQuota(r, 429, "rate_limited", "QUOTA_GENERATIONS_PER_HOUR")
        retry = int(r.header("Retry-After"))
        self.assertTrue(1 <= retry <= 3600, retry)
        self.assertEqual(self.files("STORAGE_DIR"), outputs)
        # Another user is not limited by a's generations.
        self.assertEqual(self.gen(b).status, 201)
        # The rate counts generations made in the hour, not those still kept.
        self.assertEqual(self.req("DELETE", "/history/%d" % ids[0], headers=a).status, 204)
        self.assertQuota(self.gen(a), 429, "rate_limited", "QUOTA_GENERATIONS_PER_HOUR")


REFDATA = os.environ.get("VOCERO_REFDATA", os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "..", "shared", "testdata"))
LLM_MODEL = os.path.join(os.path.abspath(REFDATA), "qwen2-ref", "models", "qwen2-realvocab-q8_0.gguf")


@unittest.skipUnless(os.path.exists(LLM_MODEL), "SKIPPED: reference model %s absent" % LLM_MODEL)
class ChatSpeakQuotaTest(ServerTest):
    """A chat message with speak=true is checked against the generation quotas before the
    model runs: refused, it stores nothing (no user message, no reply, no generation)."""
    ENV = {"LLM_MODEL": LLM_MODEL, "LLM_CONTEXT": "256", "LLM_THREADS": "2", "TTS_ENGINE": "espeak-ng",
           "QUOTA_GENERATIONS_PER_HOUR": "1"}

    def test_speak_over_hourly_quota(self):
        _, _, a = self.new_user()
        self.assertEqual(self.req("POST", "/generate-tts", {"text": "One."}, a).status, 201)
        tid = self.req("POST", "/chat/threads", {}, a).json()["id"]
        r = self.req("POST", "/chat/threads/%d/messages" % tid,
                     {"content": "Hi", "max_tokens": 4, "speak": True}, a, timeout=120)
        self.assertError(r, 429, "rate_limited")
        self.assertIn("QUOTA_GENERATIONS_PER_HOUR", r.json()["error"]["message"])
        self.assertTrue(r.header("Retry-After"))
        self.assertEqual(self.req("GET", "/chat/threads/%d" % tid, headers=a).json()["messages"], [])
        # Without speech the same message goes through.
        r = self.req("POST", "/chat/threads/%d/messages" % tid, {"content": "Hi", "max_tokens": 4}, a, timeout=120)
        self.assertEqual(r.status, 201, r)
