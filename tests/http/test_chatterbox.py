"""Chatterbox-Turbo through HTTP on a tiny random-weight checkpoint that the class writes with
`vocero models make-random chatterbox-turbo DIR --tiny` (the audio is noise; the tests check
shapes, lengths, seeded determinism, cloning from an uploaded voice and from audio_prompt,
streaming in pieces within a sentence, cancel on disconnect, the English-only rule, ambience
and the OpenAI endpoint)."""
import http.client
import io
import json
import math
import os
import re
import shutil
import struct
import subprocess
import tempfile
import time
import wave

import config
from base import ServerTest
from harness import multipart, unique, wav_sine

CB = "chatterbox-turbo"
TEXT = "Hello there. [laugh] Nice to meet you!"
# one sentence long enough for several streamed pieces (first piece 10 tokens, then 20, 40)
SENTENCE = "Well hello there my dear old friend, it is so very nice to finally meet you here today"


def wav_info(data):
    with wave.open(io.BytesIO(data), "rb") as w:
        return w.getframerate(), w.getnframes() / float(w.getframerate())


def samples(data):
    n = len(data) // 2
    return struct.unpack("<%dh" % n, data[: n * 2])


def correlation(a, b):
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    ma, mb = sum(a) / n, sum(b) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    va = sum((x - ma) ** 2 for x in a)
    vb = sum((y - mb) ** 2 for y in b)
    return cov / math.sqrt(va * vb) if va > 0 and vb > 0 else 0.0


def pcm_rms(data):
    n = len(data) // 2
    if n == 0:
        return 0.0
    s = struct.unpack("<%dh" % n, data[: n * 2])
    return (sum(x * x for x in s) / n) ** 0.5 / 32768.0


class ChatterboxTest(ServerTest):
    @classmethod
    def setUpClass(cls):
        cls.models = tempfile.mkdtemp(prefix="vocero-cb-models-")
        subprocess.run([config.BINARY, "models", "make-random", CB, os.path.join(cls.models, CB), "--tiny"],
                       check=True, stdout=subprocess.DEVNULL)
        cls.ENV = {"MODELS_DIR": cls.models}  # default weight types (T3 q8_0, S3Gen bf16)
        super().setUpClass()
        name = unique()
        r = cls.server.request("POST", "/auth/register", {"username": name, "password": "correct horse battery"})
        assert r.status == 201, r
        r = cls.server.request("POST", "/auth/login", {"username": name, "password": "correct horse battery"})
        cls.auth = {"Authorization": "Bearer " + r.json()["access_token"]}

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            shutil.rmtree(cls.models, ignore_errors=True)

    def gen(self, body, headers=None):
        h = dict(self.auth)
        h.update(headers or {})
        return self.req("POST", "/generate-tts", body, h)

    def download(self, g):
        d = self.req("GET", g["download_url"], headers=self.auth)
        self.assertEqual(d.status, 200, d)
        return d.body

    def upload(self, seconds=6.0, rate=22050):
        name = unique("voice")
        body, h = multipart({"name": name}, {"file": ("v.wav", wav_sine(seconds, rate=rate, freq=150.0), "audio/wav")})
        h.update(self.auth)
        r = self.req("POST", "/voices/upload", body, h)
        self.assertEqual(r.status, 201, r)
        return name, r.json()["id"]

    def test_default_voice_and_seed(self):
        r = self.gen({"text": TEXT, "engine": CB, "seed": 7})
        self.assertEqual(r.status, 201, r)
        g = r.json()
        self.assertEqual(g["engine"], CB)
        self.assertEqual(g["sample_rate"], 24000)
        self.assertFalse(g["parameters"]["cloned"])
        self.assertGreater(g["duration_s"], 0.1)
        a = self.download(g)
        rate, secs = wav_info(a)
        self.assertEqual(rate, 24000)
        self.assertAlmostEqual(secs, g["duration_s"], places=2)
        self.assertGreater(pcm_rms(a[44:]), 0.0)
        # same seed, same audio; another seed, other audio
        b = self.download(self.gen({"text": TEXT, "engine": CB, "seed": 7}).json())
        c = self.download(self.gen({"text": TEXT, "engine": CB, "seed": 8}).json())
        self.assertEqual(a[44:], b[44:])
        self.assertNotEqual(a[44:], c[44:])
        # temperature is accepted and recorded
        t = self.gen({"text": TEXT, "engine": CB, "seed": 7, "temperature": 0.5})
        self.assertEqual(t.status, 201, t)
        self.assertEqual(t.json()["parameters"]["temperature"], 0.5)

    def test_uploaded_voice(self):
        _, vid = self.upload()
        r1 = self.gen({"text": TEXT, "engine": CB, "voice_id": vid, "seed": 3})
        self.assertEqual(r1.status, 201, r1)
        g1 = r1.json()
        self.assertTrue(g1["parameters"]["cloned"])
        self.assertEqual(g1["engine"], CB)
        # the second request reuses the cached conditionals: identical audio
        g2 = self.gen({"text": TEXT, "engine": CB, "voice_id": vid, "seed": 3}).json()
        self.assertEqual(self.download(g1)[44:], self.download(g2)[44:])
        cache = os.path.join(self.models, CB, "voice-cache")
        before = set(f for f in os.listdir(cache) if f.endswith(".safetensors"))
        self.assertTrue(before)
        # another recording is another cache entry (entries are keyed by the audio content)
        body, h = multipart({"name": unique("voice")},
                            {"file": ("w.wav", wav_sine(6.0, rate=22050, freq=210.0), "audio/wav")})
        h.update(self.auth)
        vid2 = self.req("POST", "/voices/upload", body, h).json()["id"]
        r = self.gen({"text": TEXT, "engine": CB, "voice_id": vid2, "seed": 3})
        self.assertEqual(r.status, 201, r)
        after = set(f for f in os.listdir(cache) if f.endswith(".safetensors"))
        self.assertEqual(len(after - before), 1)
        self.assertNotEqual(self.download(r.json())[44:], self.download(g1)[44:])
        # a cloned voice differs from the built-in one
        g3 = self.gen({"text": TEXT, "engine": CB, "seed": 3}).json()
        self.assertNotEqual(self.download(g1)[44:], self.download(g3)[44:])

    def test_audio_prompt(self):
        body, h = multipart({"text": TEXT, "engine": CB, "seed": "5"},
                            {"audio_prompt": ("ref.wav", wav_sine(6.0, rate=16000, freq=180.0), "audio/wav")})
        r = self.gen(body, h)
        self.assertEqual(r.status, 201, r)
        self.assertTrue(r.json()["parameters"]["cloned"])
        # too short a reference: 422
        body, h = multipart({"text": TEXT, "engine": CB},
                            {"audio_prompt": ("ref.wav", wav_sine(2.0, rate=16000), "audio/wav")})
        r = self.gen(body, h)
        self.assertEqual(r.status, 422, r)

    def test_english_only(self):
        self.assertError(self.gen({"text": TEXT, "engine": CB, "language": "de"}), 422, "validation_error", "language")
        r = self.gen({"text": TEXT, "engine": CB, "language": "en"})
        self.assertEqual(r.status, 201, r)

    def log(self):
        with open(self.server.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stream(self, body):
        """POSTs a streamed request; returns the header, the audio bytes and the log line the
        pipeline writes about the pieces it streamed."""
        mark = len(self.log())
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=120)
        conn.request("POST", "/generate-tts", json.dumps(dict(body, engine=CB, stream=True)),
                     dict(self.auth, **{"Content-Type": "application/json"}))
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
        head = r.read(44)
        rest = r.read()
        conn.close()
        # a valid WAV header for a stream: sizes unknown, 24 kHz 16-bit mono
        self.assertEqual(head[:4], b"RIFF")
        self.assertEqual(head[4:8], b"\xff\xff\xff\xff")
        self.assertEqual(head[8:16], b"WAVEfmt ")
        self.assertEqual(struct.unpack("<HHII", head[20:32]), (1, 1, 24000, 48000))
        self.assertEqual(head[36:44], b"data\xff\xff\xff\xff")
        self.assertEqual(len(rest) % 2, 0)
        lines = re.findall(r"tts: streamed (\d+) chunk\(s\) from (\d+) engine pieces \((\d+) before"
                           r".*first audio after ([\d.]+) ms, synthesis done after ([\d.]+) ms",
                           self.log()[mark:])
        self.assertTrue(lines, "no streaming summary in the log")
        chunks, pieces, early, first_ms, done_ms = lines[-1]
        # the first audio bytes went out before the synthesis was done: measurable when the
        # stream had more than one piece (a one-piece stream, like TEXT's on the tiny model,
        # sends its audio as it finishes: the two times then differ by the 0.1 ms rounding
        # or not at all, which made this check flaky)
        if int(pieces) > 1:
            self.assertLess(float(first_ms), float(done_ms))
        return head, rest, (int(chunks), int(pieces), int(early))

    def test_stream(self):
        head, rest, (chunks, pieces, early) = self.stream({"text": TEXT, "seed": 9})
        self.assertGreater(len(rest), 24000 * 2 // 10)
        # the streamed audio is as long as the seeded one-shot audio (same speech tokens)
        one = self.download(self.gen({"text": TEXT, "seed": 9}).json())
        self.assertEqual(len(one) - 44, len(rest))

    def test_stream_pieces_within_a_sentence(self):
        mark = len(self.log())
        head, rest, (chunks, pieces, early) = self.stream({"text": SENTENCE, "seed": 21})
        # one sentence, handed out in several pieces while T3 was still generating
        self.assertEqual(chunks, 1)
        self.assertGreaterEqual(pieces, 3)
        self.assertGreaterEqual(early, 2)
        g = self.req("GET", "/history?limit=1", headers=self.auth).json()["items"][0]
        self.assertTrue(g["parameters"]["stream"])
        # the same length as the non-streamed audio of the same seed
        one_g = self.gen({"text": SENTENCE, "seed": 21}).json()
        one = self.download(one_g)
        self.assertEqual(len(one) - 44, len(rest))
        self.assertEqual(len(rest) // 2, round(g["duration_s"] * 24000))
        # and the same speech. Each streamed piece's flow run sees only the tokens generated so
        # far and every frame attends to every token, so the samples are not equal: on this
        # random checkpoint the synthesis test measures a relative RMS difference of about
        # 0.67 (correlation ~0.78). The vocoder's source is seeded alike and the tokens are the
        # same, so the streamed samples still correlate with the one-shot ones (the loudness
        # gains do not change a correlation) clearly more than the audio of another seed does
        # (about 0.86 against 0.46 here: random weights give every seed a similar timbre).
        other = self.download(self.gen({"text": SENTENCE, "seed": 22}).json())
        same = correlation(samples(rest), samples(one[44:]))
        diff = correlation(samples(other[44:]), samples(one[44:]))
        print("stream/one-shot correlation %.3f, other seed %.3f, pieces %d (%d early)"
              % (same, diff, pieces, early))
        self.assertGreater(same, 0.6)
        self.assertGreater(same, diff + 0.2)
        self.assertNotIn("differently at its end", self.log()[mark:])

    def test_stream_speed_and_ambience(self):
        # the pipeline's time stretch and ambience bed run across the pieces of a sentence
        head, rest, (chunks, pieces, early) = self.stream({"text": SENTENCE, "seed": 21, "speed": 1.3})
        self.assertGreaterEqual(early, 2)
        one = self.download(self.gen({"text": SENTENCE, "seed": 21, "speed": 1.3}).json())
        self.assertLess(abs(len(one) - 44 - len(rest)), 2 * 24000 // 50)  # within 20 ms
        head, wet, (chunks, pieces, early) = self.stream({"text": SENTENCE, "seed": 21, "ambience_id": "rain"})
        self.assertGreaterEqual(early, 2)
        self.assertGreater(len(wet), len(rest) + 2 * 24000)  # lead-in and tail of rain

    def test_openai_speech_streams_pieces(self):
        mark = len(self.log())
        for fmt in ("wav", "pcm"):
            r = self.req("POST", "/v1/audio/speech",
                         {"model": CB, "input": SENTENCE, "voice": "alloy", "response_format": fmt}, self.auth)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("Transfer-Encoding"), "chunked")
            lines = re.findall(r"tts: streamed 1 chunk\(s\) from (\d+) engine pieces \((\d+) before",
                               self.log()[mark:])
            self.assertTrue(lines)
            # no seed on this route: how much of the random-weight audio the joiner can send
            # before the sentence ends (it holds back quiet stretches it may trim) varies from
            # run to run, so one early piece is what is certain; the seeded /generate-tts
            # tests check the piece counts exactly
            self.assertGreaterEqual(int(lines[-1][1]), 1)
            mark = len(self.log())

    def test_stream_disconnect_cancels(self):
        before = len(self.req("GET", "/history?limit=100", headers=self.auth).json()["items"])
        log_before = self.log().count("cancelling its generation")
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=120)
        text = " ".join([SENTENCE + "."] * 12)
        conn.request("POST", "/generate-tts", json.dumps({"text": text, "engine": CB, "stream": True}),
                     dict(self.auth, **{"Content-Type": "application/json"}))
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        r.read(2000)  # the first piece is there; go away
        conn.sock.close()
        conn.close()
        deadline = time.time() + 60
        while time.time() < deadline and self.log().count("cancelling its generation") <= log_before:
            time.sleep(0.1)
        self.assertGreater(self.log().count("cancelling its generation"), log_before)
        time.sleep(0.5)
        items = self.req("GET", "/history?limit=100", headers=self.auth).json()["items"]
        self.assertEqual(len(items), before)  # nothing stored for a cancelled job
        self.assertEqual(self.gen({"text": "Still working.", "engine": CB}).status, 201)

    def test_ambience(self):
        dry = self.gen({"text": TEXT, "engine": CB, "seed": 4}).json()
        wet = self.gen({"text": TEXT, "engine": CB, "seed": 4, "ambience_id": "rain"}).json()
        self.assertEqual(wet["parameters"]["ambience_id"], "rain")
        self.assertGreater(wet["duration_s"], dry["duration_s"] + 1.0)

    def test_openai_cloned_voice(self):
        name, _ = self.upload()
        r = self.req("POST", "/v1/audio/speech",
                     {"model": CB, "input": TEXT, "voice": name, "response_format": "wav"}, self.auth)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body[:4], b"RIFF")
        rate, secs = wav_info(r.body)
        self.assertEqual(rate, 24000)
        self.assertGreater(secs, 0.1)
        # an OpenAI voice name falls back to the built-in voice
        r = self.req("POST", "/v1/audio/speech",
                     {"model": CB, "input": TEXT, "voice": "alloy", "response_format": "wav"}, self.auth)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body[:4], b"RIFF")

    def test_engines_lists_chatterbox(self):
        doc = self.req("GET", "/engines", headers=self.auth).json()
        e = [x for x in doc["engines"] if x["name"] == CB][0]
        self.assertTrue(e["capabilities"]["cloning"])
        self.assertTrue(e["capabilities"]["tags"])
        self.assertTrue(e["capabilities"]["seed"])
        self.assertTrue(e["installed"])
        self.assertTrue(doc["cloning"]["available"])

    def test_default_engine_when_installed(self):
        # TTS_ENGINE=auto (the default): chatterbox-turbo once its files are present
        doc = self.req("GET", "/engines", headers=self.auth).json()
        self.assertEqual(doc["default"], CB)
        r = self.gen({"text": TEXT, "seed": 1})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["engine"], CB)
