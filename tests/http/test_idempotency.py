"""Idempotency-Key on the generation routes: a retry with the same key by the same user gets
the first reply again without a second generation or row; 409 while the first still runs;
422 for a malformed key or a key reused for a different request."""
import json
import os
import unittest

from base import ServerTest
from harness import unique
from test_chat_llm import MODEL, sse_events
from test_queues import raw_post, read_until


def key():
    return unique("idem-")


class SpeechIdempotencyTest(ServerTest):
    def test_generate_tts_replays(self):
        _, _, auth = self.new_user()
        h = dict(auth, **{"Idempotency-Key": key()})
        body = {"text": "Only once, please.", "engine": "espeak-ng"}
        first = self.req("POST", "/generate-tts", body, h)
        self.assertEqual(first.status, 201, first)
        again = self.req("POST", "/generate-tts", body, h)
        self.assertEqual(again.status, 201, again)
        self.assertEqual(again.header("Idempotent-Replayed"), "true")
        self.assertEqual(again.json()["id"], first.json()["id"])
        items = self.req("GET", "/history", headers=auth).json()["items"]
        self.assertEqual([g["id"] for g in items], [first.json()["id"]])
        # the same key with another body, or on another route: refused
        other = self.req("POST", "/generate-tts", {"text": "Something else."}, h)
        self.assertError(other, 422, "validation_error", "Idempotency-Key")
        self.assertError(self.req("POST", "/demo", {"text": "x"}, h), 422, "validation_error",
                         "Idempotency-Key")
        # another user's identical key is theirs alone
        _, _, auth2 = self.new_user()
        h2 = dict(auth2, **{"Idempotency-Key": h["Idempotency-Key"]})
        mine = self.req("POST", "/generate-tts", body, h2)
        self.assertEqual(mine.status, 201, mine)
        self.assertNotEqual(mine.json()["id"], first.json()["id"])
        self.assertIsNone(mine.header("Idempotent-Replayed"))
        # without a key each request generates
        self.assertEqual(self.req("POST", "/generate-tts", body, auth).status, 201)
        self.assertEqual(len(self.req("GET", "/history", headers=auth).json()["items"]), 2)

    def test_streamed_generation_replays_the_audio(self):
        _, _, auth = self.new_user()
        h = dict(auth, **{"Idempotency-Key": key()})
        body = {"text": "Streamed once.", "engine": "espeak-ng", "stream": True}
        first = self.req("POST", "/generate-tts", body, h)
        self.assertEqual(first.status, 200, first)
        again = self.req("POST", "/generate-tts", body, h)
        self.assertEqual(again.status, 200, again)
        self.assertEqual(again.header("Idempotent-Replayed"), "true")
        self.assertEqual(again.body[:4], b"RIFF")
        self.assertEqual(len(self.req("GET", "/history", headers=auth).json()["items"]), 1)
        g = self.req("GET", "/history", headers=auth).json()["items"][0]
        self.assertEqual(again.body, self.req("GET", g["download_url"], headers=auth).body)

    def test_audio_routes_replay_the_bytes(self):
        _, _, auth = self.new_user()
        for path, body in (("/demo", {"text": "Demo once."}),
                           ("/v1/audio/speech", {"model": "tts-1", "input": "Speech once.",
                                                 "voice": "alloy", "response_format": "mp3"})):
            h = dict(auth, **{"Idempotency-Key": key()})
            first = self.req("POST", path, body, h)
            self.assertEqual(first.status, 200, first)
            again = self.req("POST", path, body, h)
            self.assertEqual(again.status, 200, again)
            self.assertEqual(again.header("Idempotent-Replayed"), "true")
            self.assertEqual(again.header("Content-Type"), first.header("Content-Type"))
            self.assertEqual(again.body, first.body)

    def test_bad_keys(self):
        _, _, auth = self.new_user()
        for bad in ("x" * 256, "has space", "caf\u00e9".encode("utf-8").decode("latin-1")):
            r = self.req("POST", "/generate-tts", {"text": "hi"}, dict(auth, **{"Idempotency-Key": bad}))
            self.assertError(r, 422, "validation_error", "Idempotency-Key")
        self.assertEqual(self.req("GET", "/history", headers=auth).json()["items"], [])


@unittest.skipUnless(os.path.exists(MODEL), "SKIPPED: reference model %s absent" % MODEL)
class ChatIdempotencyTest(ServerTest):
    ENV = {"LLM_MODEL": MODEL, "LLM_CONTEXT": "4096", "LLM_THREADS": "1"}

    def thread(self, auth):
        return self.req("POST", "/chat/threads", {}, auth).json()["id"]

    def messages(self, auth, tid):
        return self.req("GET", "/chat/threads/%d" % tid, headers=auth).json()["messages"]

    def test_message_replays(self):
        _, _, auth = self.new_user()
        tid = self.thread(auth)
        h = dict(auth, **{"Idempotency-Key": key()})
        body = {"content": "Hello once", "max_tokens": 5, "temperature": 1.0}
        path = "/chat/threads/%d/messages" % tid
        first = self.req("POST", path, body, h, timeout=120)
        self.assertEqual(first.status, 201, first)
        again = self.req("POST", path, body, h, timeout=120)
        self.assertEqual(again.status, 201, again)
        self.assertEqual(again.json(), first.json())
        self.assertEqual(len(self.messages(auth, tid)), 2)
        # streamed: the retry is a stream of the first reply's final event
        hs = dict(auth, **{"Idempotency-Key": key()})
        body = dict(body, stream=True)
        s1 = self.req("POST", path, body, hs, timeout=120)
        final1 = [json.loads(d) for e, d in sse_events(s1.body) if e == "message"]
        s2 = self.req("POST", path, body, hs, timeout=120)
        self.assertEqual(s2.status, 200, s2)
        self.assertTrue(s2.header("Content-Type").startswith("text/event-stream"))
        self.assertEqual([(e, json.loads(d)) for e, d in sse_events(s2.body)], [("message", final1[0])])
        self.assertEqual(len(self.messages(auth, tid)), 4)

    def test_openai_chat_replays(self):
        _, _, auth = self.new_user()
        body = {"model": "x", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 6,
                "temperature": 1.0}
        for stream in (False, True):
            h = dict(auth, **{"Idempotency-Key": key()})
            b = dict(body, stream=stream)
            first = self.req("POST", "/v1/chat/completions", b, h, timeout=120)
            self.assertEqual(first.status, 200, first)
            again = self.req("POST", "/v1/chat/completions", b, h, timeout=120)
            self.assertEqual(again.status, 200, again)
            self.assertEqual(again.header("Idempotent-Replayed"), "true")
            self.assertEqual(again.body, first.body)  # same id, same text, same events
            self.assertEqual(again.header("Content-Type").split(";")[0],
                             first.header("Content-Type").split(";")[0])

    def test_conflict_while_running(self):
        _, _, auth = self.new_user()
        tid = self.thread(auth)
        k = key()
        body = {"content": "A long answer please", "max_tokens": 4000, "temperature": 1.0,
                "seed": 5, "stream": True}
        path = "/chat/threads/%d/messages" % tid
        a = raw_post(self.server, path, body, dict(auth, **{"Idempotency-Key": k}))
        try:
            self.assertIn(b"event: token", read_until(a, b"event: token"))
            r = self.req("POST", path, body, dict(auth, **{"Idempotency-Key": k}))
            self.assertError(r, 409, "conflict", "Idempotency-Key")
        finally:
            a.close()
        self.assertEqual(len([m for m in self.messages(auth, tid) if m["role"] == "user"]), 1)


if __name__ == "__main__":
    unittest.main()
