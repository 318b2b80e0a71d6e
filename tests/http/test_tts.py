"""Speech generation through HTTP: /generate-tts (every parameter, every error, 5000
characters, streaming, cloning refused on espeak-ng), the history and downloads of what it
stored, /demo, the OpenAI-compatible /v1/audio/speech, /engines, the bounded pool (503 +
Retry-After) and cancellation by a client that goes away."""
import http.client
import io
import json
import os
import struct
import threading
import time
import wave

from base import ServerTest
from harness import multipart, unique, wav_sine

HELLO = "Hello from Vocero. This is a test of speech generation."


def wav_info(data):
    """(rate, seconds) of a complete WAV file."""
    with wave.open(io.BytesIO(data), "rb") as w:
        return w.getframerate(), w.getnframes() / float(w.getframerate())


def pcm_rms(data):
    n = len(data) // 2
    if n == 0:
        return 0.0
    samples = struct.unpack("<%dh" % n, data[: n * 2])
    return (sum(s * s for s in samples) / n) ** 0.5 / 32768.0


def long_text(chars):
    words = "The committee met on Tuesday, and after a long debate it agreed on 42 points. "
    text = ""
    while len(text) + len(words) <= chars:
        text += words
    return (text + "x" * (chars - len(text)))[:chars]


MAGIC = {
    "wav": lambda b: b[:4] == b"RIFF" and b[8:12] == b"WAVE",
    "flac": lambda b: b[:4] == b"fLaC",
    "ogg": lambda b: b[:4] == b"OggS",
    "opus": lambda b: b[:4] == b"OggS" and b"OpusHead" in b[:100],
    "mp3": lambda b: b[:3] == b"ID3" or (b[0] == 0xFF and (b[1] & 0xE0) == 0xE0),
}


class TtsTest(ServerTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = cls.server.request("POST", "/auth/register", {"username": unique(), "password": "correct horse battery"})
        assert r.status == 201, r
        name = r.json()["username"]
        r = cls.server.request("POST", "/auth/login", {"username": name, "password": "correct horse battery"})
        cls.auth = {"Authorization": "Bearer " + r.json()["access_token"]}
        cls.user = (name, "correct horse battery")

    def gen(self, body, headers=None, **kw):
        h = dict(self.auth)
        h.update(headers or {})
        return self.req("POST", "/generate-tts", body, h, **kw)

    def full_log(self):
        with open(self.server.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def outputs(self):
        return sorted(f for f in os.listdir(self.server.env["STORAGE_DIR"]) if not f.startswith("."))

    # ----- success paths -----
    def test_generate_store_download_delete(self):
        r = self.gen({"text": HELLO})
        self.assertEqual(r.status, 201, r)
        g = r.json()
        for k in ("id", "text", "voice_id", "engine", "parameters", "file_name", "download_url",
                  "signed_url", "duration_s", "sample_rate", "format", "created_at", "timings"):
            self.assertIn(k, g)
        self.assertEqual(g["text"], HELLO)
        self.assertEqual(g["engine"], "espeak-ng")
        self.assertEqual(g["format"], "wav")
        self.assertEqual(g["sample_rate"], 22050)
        self.assertIsNone(g["voice_id"])
        self.assertTrue(1.5 < g["duration_s"] < 10, g["duration_s"])
        self.assertEqual(r.header("Location"), "/history/%d" % g["id"])
        for k in ("queue_ms", "synth_ms", "post_ms", "ambience_ms", "loudness_ms", "encode_ms", "total_ms"):
            self.assertIsInstance(g["timings"][k], (int, float), k)
        self.assertGreater(g["timings"]["total_ms"], 0)
        self.assertIn(g["file_name"], self.outputs())
        # download with credentials
        d = self.req("GET", g["download_url"], headers=self.auth)
        self.assertEqual(d.status, 200, d)
        self.assertTrue(d.header("Content-Type").startswith("audio/wav"))
        self.assertEqual(len(d.body), int(d.header("Content-Length")))
        rate, secs = wav_info(d.body)
        self.assertEqual(rate, 22050)
        self.assertAlmostEqual(secs, g["duration_s"], places=2)
        self.assertGreater(pcm_rms(d.body[44:]), 0.02)  # real, loud-enough speech
        # without credentials: refused; with the signed link: fine
        self.assertEqual(self.req("GET", g["download_url"]).status, 401)
        s = self.req("GET", g["signed_url"])
        self.assertEqual(s.status, 200, s)
        self.assertEqual(s.body, d.body)
        # ranges
        p = self.req("GET", g["download_url"], headers=dict(self.auth, Range="bytes=0-99"))
        self.assertEqual(p.status, 206)
        self.assertEqual(p.body, d.body[:100])
        self.assertEqual(p.header("Content-Range"), "bytes 0-99/%d" % len(d.body))
        p = self.req("GET", g["signed_url"], headers={"Range": "bytes=-10"})
        self.assertEqual(p.status, 206)
        self.assertEqual(p.body, d.body[-10:])
        self.assertEqual(self.req("GET", g["download_url"], headers=dict(self.auth, Range="bytes=%d-" % (len(d.body) + 5))).status, 416)
        # history
        h = self.req("GET", "/history", headers=self.auth).json()
        self.assertIn(g["id"], [x["id"] for x in h["items"]])
        one = self.req("GET", "/history/%d" % g["id"], headers=self.auth)
        self.assertEqual(one.status, 200)
        self.assertEqual(one.json()["file_name"], g["file_name"])
        self.assertEqual(one.json()["parameters"], g["parameters"])
        # delete removes row and file
        self.assertEqual(self.req("DELETE", "/history/%d" % g["id"], headers=self.auth).status, 204)
        self.assertNotIn(g["file_name"], self.outputs())
        self.assertEqual(self.req("GET", "/history/%d" % g["id"], headers=self.auth).status, 404)
        self.assertEqual(self.req("GET", g["download_url"], headers=self.auth).status, 404)

    def test_every_parameter(self):
        r = self.gen({"text": HELLO, "voice_id": "en-us+f3", "language": "en-gb", "temperature": 0.7,
                      "speed": 1.25, "seed": 42, "format": "wav", "stream": False, "ambience_volume": -20})
        self.assertEqual(r.status, 201, r)
        p = r.json()["parameters"]
        self.assertEqual(p["voice"], "en-us+f3")
        self.assertEqual(p["language"], "en-gb")
        self.assertEqual(p["temperature"], 0.7)
        self.assertEqual(p["speed"], 1.25)
        self.assertEqual(p["seed"], 42)
        self.assertEqual(p["format"], "wav")
        self.assertFalse(p["stream"])
        self.assertFalse(p["cloned"])
        # other languages really change the speech
        de = self.gen({"text": "Guten Morgen, wie geht es Ihnen heute?", "language": "de"})
        self.assertEqual(de.status, 201, de)
        self.assertEqual(de.json()["parameters"]["language"], "de")

    def test_every_format(self):
        formats = self.req("GET", "/engines", headers=self.auth).json()["formats"]
        self.assertIn("wav", formats)
        for fmt in formats:
            r = self.gen({"text": "Format check.", "format": fmt.upper() if fmt == "flac" else fmt})
            self.assertEqual(r.status, 201, (fmt, r))
            g = r.json()
            self.assertEqual(g["format"], fmt)
            self.assertTrue(g["file_name"].endswith("." + ("ogg" if fmt == "opus" else fmt)) or fmt in g["file_name"], g["file_name"])
            d = self.req("GET", g["download_url"], headers=self.auth)
            self.assertEqual(d.status, 200)
            self.assertTrue(d.header("Content-Type").startswith("audio/"), d.header("Content-Type"))
            if fmt in MAGIC:
                self.assertTrue(MAGIC[fmt](d.body), (fmt, d.body[:16]))

    def test_speed_changes_duration(self):
        slow = self.gen({"text": HELLO, "speed": 0.5}).json()["duration_s"]
        normal = self.gen({"text": HELLO}).json()["duration_s"]
        fast = self.gen({"text": HELLO, "speed": 2.0}).json()["duration_s"]
        self.assertLess(fast, normal * 0.75)
        self.assertGreater(slow, normal * 1.4)

    def test_tags_are_not_spoken_by_espeak(self):
        plain = self.gen({"text": "Well, that was funny. Really funny."}).json()
        tagged = self.gen({"text": "Well, that was funny. [laugh] Really funny. [sigh]"}).json()
        self.assertEqual(tagged["text"], "Well, that was funny. [laugh] Really funny. [sigh]")
        self.assertAlmostEqual(tagged["duration_s"], plain["duration_s"], delta=0.15)
        self.assertError(self.gen({"text": "[laugh] [sigh]"}), 422, "validation_error", "text")

    def test_5000_characters(self):
        text = long_text(5000)
        self.assertEqual(len(text), 5000)
        r = self.gen({"text": text, "speed": 2.0, "format": "ogg"}, timeout=120)
        self.assertEqual(r.status, 201, r)
        g = r.json()
        self.assertEqual(len(g["text"]), 5000)
        self.assertGreater(g["duration_s"], 60)
        # multi-byte characters count as characters, not bytes
        r = self.gen({"text": "Grüße, ça va? " * 350}, timeout=120)  # 4900 characters, ~5600 bytes
        self.assertEqual(r.status, 201, r)
        self.assertError(self.gen({"text": "é" * 5001}), 422, "validation_error", "text")

    def test_multipart_request(self):
        body, h = multipart({"text": HELLO, "voice_id": "en-us+m3", "speed": "1.5", "stream": "false", "seed": "7"}, {})
        r = self.gen(body, h)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["parameters"]["speed"], 1.5)
        self.assertEqual(r.json()["parameters"]["voice"], "en-us+m3")
        body, h = multipart({"text": HELLO, "speed": "fast"}, {})
        self.assertError(self.gen(body, h), 422, "validation_error", "speed")

    def test_streaming(self):
        before = len(self.req("GET", "/history?limit=100", headers=self.auth).json()["items"])
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=60)
        body = json.dumps({"text": long_text(1200), "stream": True})
        conn.request("POST", "/generate-tts", body, dict(self.auth, **{"Content-Type": "application/json"}))
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Content-Type"), "audio/wav")
        self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
        first = r.read(44)
        self.assertEqual(first[:4], b"RIFF")
        self.assertEqual(first[4:8], b"\xff\xff\xff\xff")
        self.assertEqual(first[40:44], b"\xff\xff\xff\xff")
        self.assertEqual(struct.unpack("<I", first[24:28])[0], 22050)
        rest = r.read()
        conn.close()
        self.assertGreater(len(rest), 22050 * 2 * 10)  # over 10 s of audio
        self.assertGreater(pcm_rms(rest), 0.02)
        # the streamed generation is stored too
        items = self.req("GET", "/history?limit=100", headers=self.auth).json()["items"]
        self.assertEqual(len(items), before + 1)
        g = items[0]
        self.assertTrue(g["parameters"]["stream"])
        self.assertAlmostEqual(g["duration_s"], len(rest) / 2 / 22050.0, delta=1.0)
        d = self.req("GET", g["download_url"], headers=self.auth)
        self.assertEqual(d.status, 200)
        self.assertEqual(wav_info(d.body)[0], 22050)
        # streaming is for wav only
        self.assertError(self.gen({"text": HELLO, "stream": True, "format": "flac"}), 422, "validation_error", "stream")

    def test_disconnect_cancels(self):
        before = len(self.req("GET", "/history?limit=100", headers=self.auth).json()["items"])
        log_before = self.full_log().count("cancelling its generation")
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=60)
        conn.request("POST", "/generate-tts", json.dumps({"text": long_text(5000), "stream": True, "speed": 0.5}),
                     dict(self.auth, **{"Content-Type": "application/json"}))
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        r.read(1000)
        conn.sock.close()
        conn.close()
        deadline = time.time() + 20
        while time.time() < deadline and self.full_log().count("cancelling its generation") <= log_before:
            time.sleep(0.1)
        self.assertGreater(self.full_log().count("cancelling its generation"), log_before)
        time.sleep(0.5)
        items = self.req("GET", "/history?limit=100", headers=self.auth).json()["items"]
        self.assertEqual(len(items), before)  # nothing stored for a cancelled job
        self.assertEqual(self.gen({"text": "Still working."}).status, 201)

    def test_disconnect_cancels_buffered(self):
        before = len(self.req("GET", "/history?limit=100", headers=self.auth).json()["items"])
        log_before = self.full_log().count("cancelling its generation")
        body = json.dumps({"text": long_text(5000), "speed": 0.5, "format": "flac"}).encode()
        head = ("POST /generate-tts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                "Authorization: %s\r\nContent-Length: %d\r\n\r\n" % (self.auth["Authorization"], len(body))).encode()
        import socket
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as s:
            s.sendall(head + body)
            time.sleep(0.3)  # the job is running; now go away without reading the answer
        deadline = time.time() + 30
        while time.time() < deadline and self.full_log().count("cancelling its generation") <= log_before:
            time.sleep(0.1)
        self.assertGreater(self.full_log().count("cancelling its generation"), log_before)
        time.sleep(0.5)
        items = self.req("GET", "/history?limit=100", headers=self.auth).json()["items"]
        self.assertEqual(len(items), before)

    # ----- errors -----
    def test_validation_errors(self):
        cases = [
            ({}, "text"),
            ({"text": ""}, "text"),
            ({"text": "   \n  "}, "text"),
            ({"text": 123}, "text"),
            ({"text": "a\u0001b"}, "text"),
            ({"text": "... ?!"}, "text"),
            ({"text": "x" * 5001}, "text"),
            ({"text": HELLO, "temperature": 3}, "temperature"),
            ({"text": HELLO, "temperature": 0.01}, "temperature"),
            ({"text": HELLO, "temperature": "hot"}, "temperature"),
            ({"text": HELLO, "speed": 0.1}, "speed"),
            ({"text": HELLO, "speed": 2.5}, "speed"),
            ({"text": HELLO, "speed": None, "seed": -1}, "seed"),
            ({"text": HELLO, "seed": 1.5}, "seed"),
            ({"text": HELLO, "voice_id": "nobody"}, "voice_id"),
            ({"text": HELLO, "voice_id": "en-us+nobody"}, "voice_id"),
            ({"text": HELLO, "voice_id": 999999}, "voice_id"),
            ({"text": HELLO, "voice_id": -3}, "voice_id"),
            ({"text": HELLO, "language": "xx-nowhere"}, "language"),
            ({"text": HELLO, "engine": "nope"}, "engine"),
            ({"text": HELLO, "engine": 5}, "engine"),
            ({"text": HELLO, "format": "aac"}, "format"),
            ({"text": HELLO, "format": "pcm"}, "format"),
            ({"text": HELLO, "ambience_id": "nowhere"}, "ambience_id"),
            ({"text": HELLO, "ambience_volume": 12}, "ambience_volume"),
            ({"text": HELLO, "stream": "yes"}, "stream"),
            ({"text": HELLO, "stream": True, "format": "mp3"}, "stream"),
        ]
        for body, field in cases:
            err = self.assertError(self.gen(body), 422, "validation_error", field)
            if field == "format":
                self.assertIn("wav", err["message"])  # lists the supported formats
            if field == "engine" and body.get("engine") == "nope":
                self.assertIn("espeak-ng", err["message"])
        self.assertEqual(self.req("POST", "/generate-tts", b"{nope", dict(self.auth, **{"Content-Type": "application/json"})).status, 400)
        self.assertEqual(self.req("POST", "/generate-tts", b"text=hi", dict(self.auth, **{"Content-Type": "text/plain"})).status, 415)
        self.assertError(self.req("POST", "/generate-tts", {"text": HELLO}), 401, "unauthorized")
        self.assertError(self.req("POST", "/generate-tts", {"text": HELLO}, {"Authorization": "Bearer nope"}), 401)

    def test_cloning_refused_on_espeak(self):
        body, h = multipart({"name": "me"}, {"file": ("me.wav", wav_sine(4.0, rate=22050), "audio/wav")})
        h.update(self.auth)
        v = self.req("POST", "/voices/upload", body, h)
        self.assertEqual(v.status, 201, v)
        vid = v.json()["id"]
        for voice in (vid, str(vid)):
            err = self.assertError(self.gen({"text": HELLO, "voice_id": voice}), 422, "validation_error", "voice_id")
            self.assertIn("chatterbox-turbo", err["message"])
            self.assertIn("vocero models pull chatterbox-turbo", err["message"])
        body, h = multipart({"text": HELLO}, {"audio_prompt": ("ref.wav", wav_sine(5.0), "audio/wav")})
        err = self.assertError(self.gen(body, h), 422, "validation_error", "audio_prompt")
        self.assertIn("vocero models pull chatterbox-turbo", err["message"])
        self.assertError(self.gen({"text": HELLO, "audio_prompt": "abc"}), 422, "validation_error", "audio_prompt")

    def test_cross_user(self):
        g = self.gen({"text": "Mine only."}).json()
        _, _, other = self.new_user()
        for method, path in (("GET", "/history/%d" % g["id"]), ("DELETE", "/history/%d" % g["id"]),
                             ("GET", g["download_url"])):
            self.assertError(self.req(method, path, headers=other), 404, "not_found")
        self.assertNotIn(g["id"], [x["id"] for x in self.req("GET", "/history", headers=other).json()["items"]])
        # another user's voice id is unknown, not refused for cloning
        body, h = multipart({"name": "v"}, {"file": ("v.wav", wav_sine(3.5), "audio/wav")})
        h.update(self.auth)
        vid = self.req("POST", "/voices/upload", body, h).json()["id"]
        err = self.assertError(self.req("POST", "/generate-tts", {"text": HELLO, "voice_id": vid}, other), 422, "validation_error", "voice_id")
        self.assertIn("no voice", err["message"])
        self.assertEqual(self.req("GET", g["download_url"], headers=self.auth).status, 200)

    # ----- ambiences -----
    def test_ambience_on_and_off(self):
        lst = self.req("GET", "/ambiences", headers=self.auth)
        self.assertEqual(lst.status, 200)
        ids = [a["id"] for a in lst.json()["ambiences"]]
        for want in ("rain", "office", "cafe", "street", "wind", "ocean", "forest", "fireplace"):
            self.assertIn(want, ids)
        for a in lst.json()["ambiences"]:
            self.assertTrue(a["builtin"])
            self.assertTrue(a["description"])
        pv = self.req("GET", "/ambiences/rain/preview", headers=self.auth)
        self.assertEqual(pv.status, 200)
        rate, secs = wav_info(pv.body)
        self.assertAlmostEqual(secs, 5.0, places=2)
        self.assertGreater(pcm_rms(pv.body[44:]), 0.01)
        self.assertEqual(self.req("GET", "/ambiences/nowhere/preview", headers=self.auth).status, 404)
        self.assertEqual(self.req("GET", "/ambiences/rain/preview").status, 401)
        # the same speech with and without rain under it
        dry = self.gen({"text": HELLO, "seed": 3}).json()
        wet = self.gen({"text": HELLO, "seed": 3, "ambience_id": "rain", "ambience_volume": -15}).json()
        self.assertEqual(wet["parameters"]["ambience_id"], "rain")
        self.assertEqual(wet["parameters"]["ambience_volume"], -15)
        self.assertIsNone(dry["parameters"]["ambience_id"])
        self.assertGreater(wet["duration_s"], dry["duration_s"] + 1.0)  # lead-in and tail
        a = self.req("GET", dry["download_url"], headers=self.auth).body
        b = self.req("GET", wet["download_url"], headers=self.auth).body
        self.assertLess(pcm_rms(a[44:44 + 441]), 0.01)               # silence before the speech
        self.assertGreater(pcm_rms(b[44 + 4410:44 + 17640]), 0.005)  # rain before the speech
        # streamed with the ambience under it: rain before the first word, stored as well
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=60)
        conn.request("POST", "/generate-tts", json.dumps({"text": HELLO, "ambience_id": "rain", "stream": True}),
                     dict(self.auth, **{"Content-Type": "application/json"}))
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        body = r.read()
        conn.close()
        self.assertEqual(body[:4], b"RIFF")
        self.assertGreater(pcm_rms(body[44 + 4410:44 + 17640]), 0.003)
        g = self.req("GET", "/history?limit=1", headers=self.auth).json()["items"][0]
        self.assertEqual(g["parameters"]["ambience_id"], "rain")
        self.assertTrue(g["parameters"]["stream"])
        self.assertAlmostEqual(g["duration_s"], (len(body) - 44) / 2 / 22050.0, delta=0.7)

    def test_uploaded_ambience(self):
        _, _, auth = self.new_user()
        body, h = multipart({"name": "hum"}, {"file": ("hum.wav", wav_sine(2.0, rate=16000, freq=120.0, amplitude=0.2), "audio/wav")})
        h.update(auth)
        r = self.req("POST", "/ambiences/upload", body, h)
        self.assertEqual(r.status, 201, r)
        amb = r.json()
        self.assertTrue(amb["id"].startswith("amb_"))
        self.assertEqual(amb["name"], "hum")
        self.assertFalse(amb["builtin"])
        self.assertAlmostEqual(amb["duration_s"], 2.0, places=2)
        lst = self.req("GET", "/ambiences", headers=auth).json()["ambiences"]
        self.assertIn(amb["id"], [a["id"] for a in lst])
        pv = self.req("GET", amb["preview_url"], headers=auth)
        self.assertEqual(pv.status, 200)
        self.assertAlmostEqual(wav_info(pv.body)[1], 5.0, places=2)  # 2 s looped to 5 s
        g = self.req("POST", "/generate-tts", {"text": HELLO, "ambience_id": amb["id"]}, auth)
        self.assertEqual(g.status, 201, g)
        self.assertEqual(g.json()["parameters"]["ambience_id"], amb["id"])
        # another user cannot see or use it
        other = self.auth
        self.assertNotIn(amb["id"], [a["id"] for a in self.req("GET", "/ambiences", headers=other).json()["ambiences"]])
        self.assertEqual(self.req("GET", amb["preview_url"], headers=other).status, 404)
        self.assertEqual(self.req("DELETE", "/ambiences/" + amb["id"], headers=other).status, 404)
        self.assertError(self.gen({"text": HELLO, "ambience_id": amb["id"]}), 422, "validation_error", "ambience_id")
        # validation
        body, h = multipart({"name": "x"}, {"file": ("x.wav", b"not audio at all", "audio/wav")})
        h.update(auth)
        self.assertError(self.req("POST", "/ambiences/upload", body, h), 422, "validation_error", "file")
        body, h = multipart({}, {"file": ("x.wav", wav_sine(2.0), "audio/wav")})
        h.update(auth)
        self.assertError(self.req("POST", "/ambiences/upload", body, h), 422, "validation_error", "name")
        body, h = multipart({"name": "short"}, {"file": ("x.wav", wav_sine(0.3), "audio/wav")})
        h.update(auth)
        self.assertError(self.req("POST", "/ambiences/upload", body, h), 422, "validation_error", "file")
        self.assertEqual(self.req("POST", "/ambiences/upload", {"name": "x"}, auth).status, 415)
        # delete
        self.assertEqual(self.req("DELETE", "/ambiences/rain", headers=auth).status, 403)
        self.assertEqual(self.req("DELETE", "/ambiences/" + amb["id"], headers=auth).status, 204)
        self.assertEqual(self.req("GET", amb["preview_url"], headers=auth).status, 404)
        self.assertEqual(self.req("DELETE", "/ambiences/" + amb["id"], headers=auth).status, 404)

    # ----- /demo, /engines, OpenAI -----
    def test_demo(self):
        r = self.req("POST", "/demo", {"text": "Quick demo."}, self.auth)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), "audio/wav")
        rate, secs = wav_info(r.body)
        self.assertEqual(rate, 22050)
        self.assertGreater(secs, 0.5)
        self.assertError(self.req("POST", "/demo", {"text": "   "}, self.auth), 422, "validation_error", "text")
        self.assertError(self.req("POST", "/demo", {"text": 5}, self.auth), 422, "validation_error", "text")
        self.assertError(self.req("POST", "/demo", {"text": "hi"}), 401)

    def demo_seconds(self, r):
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), "audio/wav")
        rate, secs = wav_info(r.body)
        self.assertEqual(rate, 22050)
        return secs

    # The default sentence lasts seconds; "hola" a fraction of one (the audio is not the same
    # bytes twice, so lengths tell the texts apart).
    def test_demo_text_from_every_input_form(self):
        auth = self.basic(*self.user)  # as `curl -u user:pass`
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        body, mp = multipart({"text": "hola"}, {})
        cases = {
            "json": self.req("POST", "/demo", {"text": "hola"}, auth),
            "multipart": self.req("POST", "/demo", body, dict(auth, **mp)),
            "urlencoded": self.req("POST", "/demo", "text=hola", dict(auth, **form)),
            "query": self.req("POST", "/demo?text=hola", None, auth),
            "query, form without text": self.req("POST", "/demo?text=hola", "x=1", dict(auth, **form)),
        }
        for name, r in cases.items():
            with self.subTest(name):
                self.assertLess(self.demo_seconds(r), 1.5)
        # the body wins over the query string
        r = self.req("POST", "/demo?text=" + "long+sentence+" * 8, "text=hola", dict(auth, **form))
        self.assertLess(self.demo_seconds(r), 1.5)
        r = self.req("POST", "/demo?text=%C2%A1Hola%2C+se%C3%B1or%21+%C2%BFQu%C3%A9+tal%3F", None, auth)
        self.assertGreater(self.demo_seconds(r), 0.5)  # UTF-8 through %-escapes

    def test_demo_default_sentence(self):
        auth = self.basic(*self.user)
        default = "Hello! This is Vocero, speaking with the default voice."  # docs/API_REFERENCE.md
        said = self.demo_seconds(self.req("POST", "/demo", {"text": default}, auth))
        self.assertGreater(said, 2.0)
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        body, mp = multipart({"voice": "x"}, {})
        cases = {
            "no body": self.req("POST", "/demo", None, auth),
            "empty JSON object": self.req("POST", "/demo", {}, auth),
            "JSON null": self.req("POST", "/demo", {"text": None}, auth),
            "empty JSON string": self.req("POST", "/demo", {"text": ""}, auth),
            "empty form field": self.req("POST", "/demo", "text=", dict(auth, **form)),
            "empty query": self.req("POST", "/demo?text=", None, auth),
            "multipart without text": self.req("POST", "/demo", body, dict(auth, **mp)),
        }
        for name, r in cases.items():
            with self.subTest(name):
                self.assertAlmostEqual(self.demo_seconds(r), said, delta=0.25 * said)

    def test_demo_bad_input(self):
        auth = self.basic(*self.user)
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        self.assertError(self.req("POST", "/demo", "hola", dict(auth, **{"Content-Type": "text/plain"})), 415,
                         "unsupported_media_type")
        self.assertError(self.req("POST", "/demo", "text=%zz", dict(auth, **form)), 400, "bad_request")
        self.assertError(self.req("POST", "/demo", "text=a%00b", dict(auth, **form)), 400, "bad_request")
        self.assertError(self.req("POST", "/demo", "text=%20%20", dict(auth, **form)), 422, "validation_error", "text")
        self.assertError(self.req("POST", "/demo?text=%01", None, auth), 422, "validation_error", "text")
        self.assertError(self.req("POST", "/demo", "text=" + "a" * 5001, dict(auth, **form)), 422,
                         "validation_error", "text")
        body, mp = multipart({}, {"text": ("t.txt", b"hola", "text/plain")})
        self.assertError(self.req("POST", "/demo", body, dict(auth, **mp)), 422, "validation_error", "text")
        self.assertError(self.req("POST", "/demo", b"--x\r\n", dict(auth, **{"Content-Type": "multipart/form-data; boundary=x"})),
                         400, "bad_request")
        self.assertError(self.req("POST", "/demo?text=hola"), 401)

    def test_engines(self):
        r = self.req("GET", "/engines", headers=self.auth)
        self.assertEqual(r.status, 200)
        doc = r.json()
        self.assertEqual(doc["default"], "espeak-ng")
        e = [x for x in doc["engines"] if x["name"] == "espeak-ng"][0]
        self.assertTrue(e["loaded"])
        self.assertTrue(e["default"])
        self.assertEqual(e["sample_rate"], 22050)
        self.assertFalse(e["capabilities"]["cloning"])
        self.assertTrue(e["capabilities"]["streaming"])
        self.assertFalse(e["capabilities"]["tags"])
        for lang in ("en", "en-us", "de", "fr"):
            self.assertIn(lang, e["languages"])
        self.assertIn("f3", [v["id"] for v in e["variants"]])
        self.assertIn("en-us", [v["id"] for v in e["voices"]])
        self.assertIn("[laugh]", doc["tags"])
        self.assertTrue(e["installed"])
        cb = [x for x in doc["engines"] if x["name"] == "chatterbox-turbo"][0]
        self.assertFalse(cb["installed"])  # no model files under this server's MODELS_DIR
        self.assertFalse(doc["cloning"]["available"])
        self.assertIn("vocero models pull chatterbox-turbo", doc["cloning"]["install"])
        self.assertEqual(doc["cloning"]["install"], "vocero models pull chatterbox-turbo")
        self.assertEqual(self.req("GET", "/engines").status, 401)

    def openai(self, body, **kw):
        return self.req("POST", "/v1/audio/speech", body, self.auth, **kw)

    def test_openai_speech(self):
        formats = self.req("GET", "/engines", headers=self.auth).json()["formats"]
        # exactly what the OpenAI SDK sends
        r = self.openai({"model": "tts-1", "input": "The quick brown fox jumped over the lazy dog.", "voice": "alloy"})
        if "mp3" in formats:
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("Content-Type"), "audio/mpeg")
            self.assertTrue(MAGIC["mp3"](r.body))
        else:
            self.assertError(r, 422, "validation_error", "response_format")
        r = self.openai({"model": "gpt-4o-mini-tts", "input": "Hello.", "voice": "nova", "response_format": "wav",
                         "speed": 1.0, "instructions": "cheerful"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body[:4], b"RIFF")
        self.assertEqual(r.header("Transfer-Encoding"), "chunked")  # streamed while generated
        self.assertEqual(struct.unpack("<I", r.body[24:28])[0], 22050)
        r = self.openai({"model": "tts-1-hd", "input": "Raw audio, please.", "voice": "onyx", "response_format": "pcm"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.body) % 2, 0)
        self.assertNotEqual(r.body[:4], b"RIFF")
        self.assertGreater(len(r.body), 24000 * 2 * 0.5)  # 24 kHz s16le, over half a second
        self.assertGreater(pcm_rms(r.body), 0.02)
        for fmt in ("flac", "opus"):
            if fmt in formats:
                r = self.openai({"model": "tts-1", "input": "Hi there.", "voice": "echo", "response_format": fmt})
                self.assertEqual(r.status, 200, (fmt, r))
                self.assertTrue(MAGIC[fmt](r.body), fmt)
        # every documented OpenAI voice works; our built-in voice names too; engine as model
        for voice in ("alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse", "en-gb+f2"):
            r = self.openai({"model": "espeak-ng", "input": "Hi.", "voice": voice, "response_format": "wav"})
            self.assertEqual(r.status, 200, (voice, r))
        # speed: OpenAI's range is accepted (clamped to ours), outside it refused
        # (wav is streamed: the header carries unknown sizes, so measure the body)
        a = len(self.openai({"model": "tts-1", "input": HELLO, "voice": "alloy", "response_format": "pcm", "speed": 4.0}).body)
        b = len(self.openai({"model": "tts-1", "input": HELLO, "voice": "alloy", "response_format": "pcm", "speed": 1.0}).body)
        self.assertLess(a, b * 0.75)
        errors = [
            ({"model": "tts-1", "input": "Hi", "voice": "alloy", "response_format": "aac"}, "response_format"),
            ({"model": "tts-1", "input": "Hi", "voice": "alloy", "speed": 5}, "speed"),
            ({"model": "tts-1", "input": "Hi", "voice": "alloy", "speed": 0.1}, "speed"),
            ({"model": "dall-e", "input": "Hi", "voice": "alloy"}, "model"),
            ({"model": "tts-1", "input": "", "voice": "alloy"}, "input"),
            ({"model": "tts-1", "voice": "alloy"}, "input"),
            ({"model": "tts-1", "input": "x" * 5001, "voice": "alloy"}, "input"),
            ({"model": "tts-1", "input": "Hi", "voice": "nobody-at-all"}, "voice"),
        ]
        for body, field in errors:
            self.assertError(self.openai(body), 422, "validation_error", field)
        self.assertEqual(self.req("POST", "/v1/audio/speech", {"model": "tts-1", "input": "Hi", "voice": "alloy"}).status, 401)

    def test_openai_uploaded_voice_needs_cloning_engine(self):
        name = unique("voice")
        body, h = multipart({"name": name}, {"file": ("v.wav", wav_sine(4.0), "audio/wav")})
        h.update(self.auth)
        vid = self.req("POST", "/voices/upload", body, h).json()["id"]
        for voice in (name, vid):
            err = self.assertError(self.openai({"model": "tts-1", "input": "Hi", "voice": voice, "response_format": "wav"}),
                                   422, "validation_error", "voice")
            self.assertIn("vocero models pull chatterbox-turbo", err["message"])


class TtsQueueTest(ServerTest):
    """One worker, one queue slot: concurrent long generations get 503 + Retry-After."""
    ENV = {"WORKERS_TTS": "1", "TTS_QUEUE_MAX": "1"}

    def test_queue_full(self):
        _, _, auth = self.new_user()
        text = long_text(5000)
        results = []

        def one():
            r = self.req("POST", "/generate-tts", {"text": text, "speed": 0.5, "format": "flac"}, auth, timeout=120)
            results.append(r)

        threads = [threading.Thread(target=one) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        statuses = sorted(r.status for r in results)
        self.assertIn(201, statuses)
        busy = [r for r in results if r.status == 503]
        self.assertTrue(busy, statuses)
        for r in busy:
            self.assertError(r, 503, "unavailable")
            self.assertTrue(r.header("Retry-After").isdigit())
        # the pool recovers
        self.assertEqual(self.req("POST", "/generate-tts", {"text": "After the rush."}, auth).status, 201)
