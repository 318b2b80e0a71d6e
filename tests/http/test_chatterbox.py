"""Chatterbox-Turbo through HTTP on a tiny random-weight checkpoint that the class writes with
`vocero models make-random chatterbox-turbo DIR --tiny` (the audio is noise; the tests check
shapes, lengths, seeded determinism, cloning from an uploaded voice and from audio_prompt,
streaming, the English-only rule, ambience and the OpenAI endpoint)."""
import http.client
import io
import json
import os
import shutil
import struct
import subprocess
import tempfile
import wave

import config
from base import ServerTest
from harness import multipart, unique, wav_sine

CB = "chatterbox-turbo"
TEXT = "Hello there. [laugh] Nice to meet you!"


def wav_info(data):
    with wave.open(io.BytesIO(data), "rb") as w:
        return w.getframerate(), w.getnframes() / float(w.getframerate())


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

    def test_stream(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=120)
        conn.request("POST", "/generate-tts", json.dumps({"text": TEXT, "engine": CB, "stream": True, "seed": 9}),
                     dict(self.auth, **{"Content-Type": "application/json"}))
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
        head = r.read(44)
        self.assertEqual(head[:4], b"RIFF")
        self.assertEqual(struct.unpack("<I", head[24:28])[0], 24000)
        rest = r.read()
        conn.close()
        self.assertGreater(len(rest), 24000 * 2 // 10)
        # the streamed audio is the seeded one-shot audio
        one = self.download(self.gen({"text": TEXT, "engine": CB, "seed": 9}).json())
        self.assertEqual(len(one) - 44, len(rest))

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
