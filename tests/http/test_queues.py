"""Requests that wait for a model: health and light routes still answer while the speech and
chat queues are full, LLM_QUEUE_MAX counts waiting requests only, a refused chat turn stores
nothing, and a reply cut off by a client that went away is stored marked incomplete. Uses
espeak-ng and the random-weight Qwen2 model with the real vocabulary (VOCERO_REFDATA)."""
import json
import os
import socket
import threading
import time
import unittest

from base import ServerTest
from test_chat_llm import MODEL, sse_events

LONG_TEXT = ("The quick brown fox jumps over the lazy dog, again and again. " * 80)[:4900]


def raw_post(server, path, body, auth):
    """Sends a JSON POST on a socket of its own and returns the socket without reading the
    reply (the caller closes it: the server then cancels the work)."""
    data = json.dumps(body).encode()
    head = "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" % path
    for k, v in auth.items():
        head += "%s: %s\r\n" % (k, v)
    head += "Content-Length: %d\r\n\r\n" % len(data)
    s = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    s.sendall(head.encode() + data)
    return s


def wait_for(cond, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


def read_until(sock, marker, limit=1 << 20):
    got = b""
    while marker not in got and len(got) < limit:
        chunk = sock.recv(4096)
        if not chunk:
            break
        got += chunk
    return got


@unittest.skipUnless(os.path.exists(MODEL), "SKIPPED: reference model %s absent" % MODEL)
class BusyModelsTest(ServerTest):
    # Few request workers, so that before the fix the waiting generations took them all.
    ENV = {"LLM_MODEL": MODEL, "LLM_CONTEXT": "4096", "LLM_THREADS": "1", "WORKERS": "4",
           "WORKERS_TTS": "1", "TTS_QUEUE_MAX": "4", "LLM_QUEUE_MAX": "4"}

    def thread(self, auth):
        r = self.req("POST", "/chat/threads", {}, auth)
        self.assertEqual(r.status, 201, r)
        return r.json()["id"]

    def test_health_answers_while_models_are_busy(self):
        _, _, auth = self.new_user()
        socks = []
        try:
            for _ in range(5):  # one generating, four waiting for the chat model
                tid = self.thread(auth)
                socks.append(raw_post(self.server, "/chat/threads/%d/messages" % tid,
                                      {"content": "Tell me everything", "max_tokens": 4000,
                                       "temperature": 1.0, "seed": 1}, auth))
            for _ in range(5):  # one speaking, four waiting for the speech worker
                socks.append(raw_post(self.server, "/generate-tts",
                                      {"text": LONG_TEXT, "engine": "espeak-ng"}, auth))
            # Let them reach their queues. (Not by polling through the API: before the fix that
            # polling stalled behind them exactly like the health check below.)
            time.sleep(1.5)
            # Before, each of them held one of the 4 request workers and these waited
            # behind them for many seconds.
            for _ in range(3):
                r = self.req("GET", "/", timeout=5)
                self.assertEqual(r.status, 200, r)
                me = self.req("GET", "/auth/me", headers=auth, timeout=5)
                self.assertEqual(me.status, 200, me)
                self.assertEqual(self.req("GET", "/history", headers=auth, timeout=5).status, 200)
        finally:
            for s in socks:
                s.close()


@unittest.skipUnless(os.path.exists(MODEL), "SKIPPED: reference model %s absent" % MODEL)
class ChatAdmissionTest(ServerTest):
    ENV = {"LLM_MODEL": MODEL, "LLM_CONTEXT": "4096", "LLM_THREADS": "1", "LLM_QUEUE_MAX": "1"}

    def thread(self, auth):
        r = self.req("POST", "/chat/threads", {}, auth)
        self.assertEqual(r.status, 201, r)
        return r.json()["id"]

    def messages(self, auth, tid):
        r = self.req("GET", "/chat/threads/%d" % tid, headers=auth)
        self.assertEqual(r.status, 200, r)
        return r.json()["messages"]

    def test_queue_counts_waiting_only_and_refusal_stores_nothing(self):
        _, _, auth = self.new_user()
        ta, tb, tc = self.thread(auth), self.thread(auth), self.thread(auth)
        # A generates (streamed: its first token shows that it holds the model).
        a = raw_post(self.server, "/chat/threads/%d/messages" % ta,
                     {"content": "Talk for a long time", "max_tokens": 4000, "temperature": 1.0,
                      "seed": 3, "stream": True}, auth)
        b_result = {}
        try:
            head = read_until(a, b"event: token")
            self.assertIn(b"event: token", head, head[:300])

            # B waits behind A: LLM_QUEUE_MAX=1 leaves room for exactly one waiting request.
            def run_b():
                b_result["r"] = self.req("POST", "/chat/threads/%d/messages" % tb,
                                         {"content": "Short one", "max_tokens": 3,
                                          "temperature": 0}, auth, timeout=120)
            b = threading.Thread(target=run_b)
            b.start()
            # B stores its message once admitted
            self.assertTrue(wait_for(lambda: self.messages(auth, tb)))
            # C finds the queue full: 503 + Retry-After, and its message is not stored.
            c = self.req("POST", "/chat/threads/%d/messages" % tc, {"content": "Refused?"}, auth)
            self.assertError(c, 503, "unavailable")
            self.assertTrue(c.header("Retry-After"), c)
            self.assertEqual(self.messages(auth, tc), [])
        finally:
            a.close()  # A's client goes away mid-reply
        b.join(120)
        self.assertEqual(b_result["r"].status, 201, b_result["r"])
        msgs = self.messages(auth, tb)
        self.assertEqual([m["role"] for m in msgs], ["user", "assistant"])
        self.assertEqual([m["incomplete"] for m in msgs], [False, False])
        # A's cut-off reply is kept, marked incomplete.
        deadline = time.time() + 30
        while time.time() < deadline and len(self.messages(auth, ta)) < 2:
            time.sleep(0.1)
        msgs = self.messages(auth, ta)
        self.assertEqual([m["role"] for m in msgs], ["user", "assistant"], msgs)
        self.assertTrue(msgs[1]["incomplete"], msgs[1])
        self.assertLess(msgs[1]["completion_tokens"], 4000)


if __name__ == "__main__":
    unittest.main()
