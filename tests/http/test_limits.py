"""Hostile-input limits of the HTTP layer: the JSON body limit and the parser's bounds (the
server's memory stays flat), request heads that could be framed differently by a proxy,
the per-address connection limit and the request-head deadline."""
import http.client
import resource
import select
import socket
import threading
import time

from base import ServerTest
from harness import unique

MIB = 1 << 20


def vm_kib(pid, field):
    """A VmHWM/VmRSS line of /proc/PID/status, in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


def zeros_body(n_bytes):
    """{"text":"hi","x":[0,0,...]} of about n_bytes: the body that cost 50x its size."""
    n = max(1, (n_bytes - 24) // 2)
    return b'{"text":"hi","x":[' + b",".join([b"0"] * n) + b"]}"


def parse_responses(data):
    """Status codes of the HTTP responses in data (bodies framed by Content-Length)."""
    out = []
    while data.startswith(b"HTTP/"):
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.decode("latin-1").split("\r\n")
        out.append(int(lines[0].split()[1]))
        length = 0
        for line in lines[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == "content-length":
                length = int(v.strip())
        data = rest[length:]
    return out


class JsonBodyLimitTest(ServerTest):
    def send_concurrently(self, n, path, body, headers):
        results = [None] * n

        def one(i):
            results[i] = self.server.send_large("POST", path, body, headers)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results

    def test_large_json_bodies_refused_and_memory_flat(self):
        _, _, auth = self.new_user()
        pid = self.server.proc.pid
        before = vm_kib(pid, "VmHWM")
        json_h = dict(auth, **{"Content-Type": "application/json"})
        big = zeros_body(8 * MIB)  # under MAX_UPLOAD_MB: the old limit of this route
        for r in self.send_concurrently(4, "/generate-tts", big, json_h):
            err = self.assertError(r, 413, "payload_too_large")
            self.assertIn("256 KiB", err["message"])
            self.assertIn("MAX_JSON_KB", err["message"])
        reg = b'{"username":"' + unique().encode() + b'","password":"correct horse","x":[' + \
            b",".join([b"0"] * (MIB // 2 - 64)) + b"]}"
        self.assertLess(len(reg), MIB)  # under the old 1 MiB limit of the open route
        for r in self.send_concurrently(8, "/auth/register", reg, {"Content-Type": "application/json"}):
            self.assertError(r, 413, "payload_too_large")
        grown_mib = (vm_kib(pid, "VmHWM") - before) / 1024
        self.assertLess(grown_mib, 64, "server peak memory grew by %.0f MiB" % grown_mib)

    def test_chunked_json_over_limit(self):
        _, _, auth = self.new_user()
        body = zeros_body(MIB)
        head = ("POST /generate-tts HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                "Content-Type: application/json\r\nAuthorization: %s\r\nConnection: close\r\n\r\n"
                % auth["Authorization"]).encode()
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 65536]), body[i:i + 65536])
                          for i in range(0, len(body), 65536))
        out = self.server.raw(head + chunks + b"0\r\n\r\n")
        self.assertEqual(parse_responses(out), [413], out[:300])
        self.assertIn(b"MAX_JSON_KB", out)

    def test_value_count_and_depth_bounded(self):
        _, _, auth = self.new_user()
        json_h = dict(auth, **{"Content-Type": "application/json"})
        body = zeros_body(200 * 1024)  # under the size limit, ~100,000 values
        r = self.server.send_large("POST", "/generate-tts", body, json_h)
        err = self.assertError(r, 400, "bad_request")
        self.assertIn("more than 8192 values", err["message"])
        deep = b'{"text":"hi","x":' + b"[" * 30 + b"]" * 30 + b"}"
        r = self.req("POST", "/generate-tts", deep, dict(json_h))
        err = self.assertError(r, 400, "bad_request")
        self.assertIn("nesting too deep", err["message"])
        r = self.req("POST", "/auth/register", b'{"username":"a","password":"b","x":' + b"[" * 30 + b"]" * 30 + b"}",
                     {"Content-Type": "application/json"})
        self.assertError(r, 400, "bad_request")

    def test_multipart_keeps_upload_limit(self):
        """The JSON limit does not apply to multipart bodies of upload routes."""
        _, _, auth = self.new_user()
        pad = b"p" * (600 * 1024)
        body = (b"--bnd\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nhello\r\n"
                b"--bnd\r\nContent-Disposition: form-data; name=\"pad\"; filename=\"p.bin\"\r\n"
                b"Content-Type: application/octet-stream\r\n\r\n" + pad + b"\r\n--bnd--\r\n")
        h = dict(auth, **{"Content-Type": "multipart/form-data; boundary=bnd"})
        r = self.server.send_large("POST", "/generate-tts", body, h)
        self.assertNotEqual(r.status, 413, r)
        self.assertNotEqual(r.status, 0, r)


class HeadParsingTest(ServerTest):
    """Heads a proxy could frame or route differently: 400 and the connection closed."""

    def assertRefused(self, head, tail=b""):
        follow = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"  # must not be served after it
        out, closed = self.server.raw_exchange(head + tail + follow, timeout=5)
        self.assertEqual(parse_responses(out), [400], out[:400])
        self.assertIn(b'"code":"bad_request"', out)
        self.assertTrue(closed, "connection kept open after %r" % head)

    def test_duplicate_content_length(self):
        self.assertRefused(b"POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                           b"Content-Length: 2\r\nContent-Length: 40\r\n\r\n", b"{}")

    def test_content_length_with_chunked(self):
        self.assertRefused(b"POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                           b"Content-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n", b"2\r\n{}\r\n0\r\n\r\n")

    def test_unknown_transfer_coding(self):
        self.assertRefused(b"POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                           b"0\r\n\r\n")

    def test_duplicate_host(self):
        self.assertRefused(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n")

    def test_header_name_with_space(self):
        self.assertRefused(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nFoo Bar: x\r\n\r\n")
        self.assertRefused(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Foo : x\r\n\r\n")

    def test_clean_requests_keep_alive(self):
        out, _ = self.server.raw_exchange(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                               b"POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                               b"Content-Length: 2\r\n\r\n{}"
                               b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        self.assertEqual(parse_responses(out), [200, 422, 200], out[:600])


class ConnectionLimitTest(ServerTest):
    ENV = {"MAX_CONNECTIONS_PER_IP": "16", "HEADER_TIMEOUT_SECONDS": "2"}

    def get_from(self, source_ip, timeout=5):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=timeout,
                                          source_address=(source_ip, 0))
        try:
            conn.request("GET", "/")
            r = conn.getresponse()
            r.read()
            return r.status
        finally:
            conn.close()

    def test_one_address_cannot_lock_out_others(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < 2200:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
        socks = []
        try:
            for _ in range(1030):  # more than libmicrohttpd's overall cap of ~1020
                s = socket.socket()
                s.settimeout(5)
                s.connect(("127.0.0.1", self.server.port))
                socks.append(s)
            self.assertEqual(self.get_from("127.0.0.2"), 200)
            # The flooding address's surplus sockets were closed by the server.
            deadline = time.time() + 10
            while time.time() < deadline and len(socks) > 16:
                poller = select.poll()  # select() stops at descriptor 1024
                by_fd = {s.fileno(): s for s in socks}
                for fd in by_fd:
                    poller.register(fd, select.POLLIN)
                for fd, _ in poller.poll(200):
                    s = by_fd[fd]
                    try:
                        gone = s.recv(1) == b""
                    except OSError:
                        gone = True
                    if gone:
                        socks.remove(s)
                        s.close()
            self.assertLessEqual(len(socks), 16 + 4, "%d sockets still open" % len(socks))
        finally:
            for s in socks:
                s.close()
        self.assertIn("MAX_CONNECTIONS_PER_IP", self.server.log_text())
        # Once they are gone the address is served again.
        deadline = time.time() + 10
        status = None
        while time.time() < deadline and status != 200:
            try:
                status = self.get_from("127.0.0.1")
            except OSError:
                time.sleep(0.2)
        self.assertEqual(status, 200)

    def dribble(self, first, piece, rounds=20, every=0.5):
        """Sends first, then piece every `every` s; returns how many pieces went out before
        the server closed the connection (rounds when it never did)."""
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=5) as s:
            s.sendall(first)
            for i in range(rounds):
                readable, _, _ = select.select([s], [], [], every)
                if readable:
                    try:
                        if s.recv(65536) == b"":
                            return i
                    except OSError:
                        return i
                try:
                    s.sendall(piece)
                except OSError:
                    return i
            return rounds

    def test_slow_request_head_cut_at_deadline(self):
        # A header line every 0.5 s resets the idle timeout but not the head deadline (2 s).
        sent = self.dribble(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n", b"X-Slow: 1\r\n")
        self.assertLess(sent, 20, "a slow head kept the connection open for 10 s")
        # The same for a request line sent a byte at a time.
        sent = self.dribble(b"G", b"E")
        self.assertLess(sent, 20)
        self.assertIn("HEADER_TIMEOUT_SECONDS", self.server.log_text())
        # Prompt requests on a kept-alive connection are not affected.
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=5)
        try:
            for _ in range(3):
                conn.request("GET", "/")
                r = conn.getresponse()
                r.read()
                self.assertEqual(r.status, 200)
        finally:
            conn.close()


if __name__ == "__main__":
    import unittest
    unittest.main()
