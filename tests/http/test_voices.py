"""Voice uploads: validation, listing, ownership, deletion."""
import os

from base import ServerTest
from harness import multipart, wav_sine


class VoicesTest(ServerTest):
    ENV = {"MAX_UPLOAD_MB": "4"}

    def upload(self, headers, name, data, filename="clip.wav", ct="audio/wav"):
        body, h = multipart({"name": name} if name is not None else {}, {"file": (filename, data, ct)} if data is not None else {})
        h.update(headers)
        return self.req("POST", "/voices/upload", body, h)

    def test_upload_list_get_delete(self):
        _, _, auth = self.new_user()
        r = self.upload(auth, "narrator", wav_sine(4.0, rate=22050))
        self.assertEqual(r.status, 201, r)
        v = r.json()
        self.assertEqual(v["name"], "narrator")
        self.assertAlmostEqual(v["duration_s"], 4.0, places=2)
        self.assertEqual(v["sample_rate"], 22050)
        self.assertEqual(v["channels"], 1)
        self.assertEqual(v["format"], "wav")
        vdir = self.server.env["VOICES_DIR"]
        files = set(os.listdir(vdir))
        lst = self.req("GET", "/voices", headers=auth)
        self.assertEqual(lst.status, 200)
        self.assertEqual([x["id"] for x in lst.json()["voices"]], [v["id"]])
        g = self.req("GET", "/voices/%d" % v["id"], headers=auth)
        self.assertEqual(g.status, 200)
        self.assertEqual(g.json()["name"], "narrator")
        a = self.req("GET", "/voices/%d/audio" % v["id"], headers=auth)
        self.assertEqual(a.status, 200)
        self.assertEqual(a.body[:4], b"RIFF")
        self.assertTrue(a.header("Content-Type").startswith("audio/"))
        d = self.req("DELETE", "/voices/%d" % v["id"], headers=auth)
        self.assertEqual(d.status, 204, d)
        self.assertError(self.req("GET", "/voices/%d" % v["id"], headers=auth), 404, "not_found")
        self.assertError(self.req("DELETE", "/voices/%d" % v["id"], headers=auth), 404)
        self.assertEqual(self.req("GET", "/voices", headers=auth).json()["voices"], [])
        gone = files - set(os.listdir(vdir))
        self.assertEqual(len(gone), 1, gone)  # exactly the voice's file was removed

    def test_duplicate_name(self):
        _, _, auth = self.new_user()
        self.assertEqual(self.upload(auth, "same", wav_sine(3.5)).status, 201)
        self.assertError(self.upload(auth, "same", wav_sine(3.5)), 409, "conflict", "name")
        # another user may use the same name
        _, _, auth2 = self.new_user()
        self.assertEqual(self.upload(auth2, "same", wav_sine(3.5)).status, 201)

    def test_cross_user(self):
        _, _, a = self.new_user()
        _, _, b = self.new_user()
        v = self.upload(a, "mine", wav_sine(3.2)).json()
        for method, path in (("GET", "/voices/%d" % v["id"]), ("GET", "/voices/%d/audio" % v["id"]),
                             ("DELETE", "/voices/%d" % v["id"])):
            self.assertError(self.req(method, path, headers=b), 404, "not_found")
        self.assertEqual(self.req("GET", "/voices", headers=b).json()["voices"], [])
        self.assertEqual(self.req("GET", "/voices/%d" % v["id"], headers=a).status, 200)

    def test_invalid_uploads(self):
        _, _, auth = self.new_user()
        good = wav_sine(4.0)
        self.assertError(self.upload(auth, "short", wav_sine(2.0)), 422, "validation_error", "file")
        self.assertError(self.upload(auth, "text", b"hello, this is not audio at all" * 100, "a.wav"),
                         422, "validation_error", "file")
        self.assertError(self.upload(auth, "trunc", good[:60]), 422, "validation_error", "file")
        self.assertError(self.upload(auth, "empty", b""), 422, "validation_error", "file")
        self.assertError(self.upload(auth, None, good), 422, "validation_error", "name")
        self.assertError(self.upload(auth, "nofile", None), 422, "validation_error", "file")
        self.assertError(self.upload(auth, "", good), 422, "validation_error", "name")
        self.assertError(self.upload(auth, "n" * 65, good), 422, "validation_error", "name")
        self.assertError(self.upload(auth, "bad\x01name", good), 422, "validation_error", "name")
        # a truncated data chunk whose header claims more than is there still decodes the
        # part that exists: 4 s claimed, ~1.5 s present -> too short
        self.assertError(self.upload(auth, "cut", good[:44 + 2 * 24000 * 3 // 2]), 422, "validation_error", "file")
        self.assertEqual(self.req("GET", "/voices", headers=auth).json()["voices"], [])

    def test_too_long(self):
        _, _, auth = self.new_user()
        self.assertError(self.upload(auth, "long", wav_sine(61.0, rate=8000)), 422, "validation_error", "file")

    def test_oversize(self):
        _, _, auth = self.new_user()
        body, h = multipart({"name": "big"}, {"file": ("big.wav", wav_sine(40.0, rate=48000, channels=2), "audio/wav")})
        h.update(auth)
        r = self.server.send_large("POST", "/voices/upload", body, h)  # ~7.7 MB > 4 MB
        self.assertError(r, 413, "payload_too_large")

    def test_not_multipart(self):
        _, _, auth = self.new_user()
        r = self.req("POST", "/voices/upload", {"name": "x"}, auth)
        self.assertError(r, 415, "unsupported_media_type")

    def test_malformed_multipart(self):
        _, _, auth = self.new_user()
        h = dict(auth)
        h["Content-Type"] = "multipart/form-data; boundary=XYZ"
        for body in (b"garbage", b"--XYZ\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nabc",
                     b"--XYZ\r\n\r\n\r\n--XYZ--\r\n"):
            r = self.req("POST", "/voices/upload", body, h)
            self.assertIn(r.status, (400, 422), (body, r))
            self.assertIn("error", r.json())
        h["Content-Type"] = "multipart/form-data"
        self.assertError(self.req("POST", "/voices/upload", b"x", h), 400)
