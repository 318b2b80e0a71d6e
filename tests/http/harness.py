"""harness.py: starts a real vocero server on a free port with a temporary data set and
talks HTTP to it. Used by every test module in tests/http/."""
import base64
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<%d %r>" % (self.status, self.body[:300])


class Server:
    """One server process. `env` overrides the defaults below."""

    SECRET = "test-secret-key-0123456789abcdef-0123456789"

    def __init__(self, binary, database, env=None, args=None):
        self.binary = os.path.abspath(binary)
        self.tmp = tempfile.mkdtemp(prefix="vocero-http-")
        self.port = free_port()
        self.database = database
        db_url = database
        if database == "sqlite":
            db_url = "sqlite://" + os.path.join(self.tmp, "data", "vocero.db")
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "DATABASE_URL": db_url,
            "SECRET_KEY": self.SECRET,
            "STORAGE_DIR": os.path.join(self.tmp, "outputs"),
            "VOICES_DIR": os.path.join(self.tmp, "voices"),
            "MODELS_DIR": os.path.join(self.tmp, "models"),
            "DATA_DIR": os.path.join(self.tmp, "data"),
            "PORT": str(self.port),
            "HOST": "127.0.0.1",
            "LOG_LEVEL": "info",
            "BCRYPT_COST": "4",
            "MODELS_AUTO_DOWNLOAD": "false",
            "SWAGGER_UI_DIR": os.path.join(os.getcwd(), "node_modules", "swagger-ui-dist"),
        }
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "VOCERO_REFDATA"):
            if k in os.environ:
                self.env[k] = os.environ[k]
        self.env.update(env or {})
        self.args = args or []
        self.proc = None
        self.log_path = os.path.join(self.tmp, "server.log")

    def start(self, wait=True):
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [self.binary, "serve"] + self.args,
            env=self.env, cwd=self.tmp, stdout=self.log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited with %d:\n%s" % (self.proc.returncode, self.log_text()))
            try:
                r = self.request("GET", "/")
                if r.status in (200, 503):
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("server did not become ready:\n" + self.log_text())

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-6000:]
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Stops the server; returns its exit status."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError("server did not stop within %ds" % timeout)
        self.log.close()
        return self.proc.returncode

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ----- HTTP -----
    def request(self, method, path, body=None, headers=None, timeout=60, host=None, source=None):
        """`source`: a local address to connect from (127.0.0.2, ...), to act as another client."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout,
                                          source_address=(source, 0) if source else None)
        try:
            h = dict(headers or {})
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
                h.setdefault("Content-Type", "application/json")
            elif isinstance(body, str):
                body = body.encode()
            if host is not None:
                conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
                conn.putheader("Host", host)
                for k, v in h.items():
                    conn.putheader(k, v)
                if body is not None:
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body)
            else:
                conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            data = r.read()
            return Response(r.status, r.getheaders(), data)
        finally:
            conn.close()

    def send_large(self, method, path, body, headers, timeout=60):
        """Sends a request whose body the server may refuse before reading it all (413):
        ignores a broken pipe while sending and parses whatever response arrives."""
        head = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\nConnection: close\r\n" % (
            method, path, len(body))
        for k, v in headers.items():
            head += "%s: %s\r\n" % (k, v)
        out = b""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            try:
                s.sendall(head.encode() + b"\r\n")
                for i in range(0, len(body), 65536):
                    s.sendall(body[i:i + 65536])
            except (BrokenPipeError, ConnectionResetError):
                pass
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    out += chunk
            except (ConnectionResetError, socket.timeout):
                pass
        head, _, rest = out.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1]) if lines and lines[0].startswith("HTTP/") else 0
        hdrs = [tuple(x.split(": ", 1)) for x in lines[1:] if ": " in x]
        return Response(status, hdrs, rest)

    def raw(self, data, timeout=10):
        """Sends raw bytes on a new connection; returns all bytes read until close."""
        return self.raw_exchange(data, timeout)[0]

    def raw_exchange(self, data, timeout=10):
        """Sends raw bytes on a new connection; returns (bytes read, whether the server
        closed the connection before `timeout` seconds of silence)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(data)
            out = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        return out, True
                    out += chunk
            except socket.timeout:
                return out, False
            except ConnectionResetError:
                return out, True


def unique(prefix="u"):
    return prefix + uuid.uuid4().hex[:10]


def basic(username, password):
    return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (username, password)).encode()).decode()}


def bearer(token):
    return {"Authorization": "Bearer " + token}


def multipart(fields, files):
    """fields: {name: str}; files: {name: (filename, bytes, content_type)}."""
    boundary = "----vocero" + uuid.uuid4().hex
    out = b""
    for k, v in fields.items():
        out += ("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n" % (boundary, k)).encode()
        out += v.encode() + b"\r\n"
    for k, (fn, data, ct) in files.items():
        out += ("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                "Content-Type: %s\r\n\r\n" % (boundary, k, fn, ct)).encode()
        out += data + b"\r\n"
    out += ("--%s--\r\n" % boundary).encode()
    return out, {"Content-Type": "multipart/form-data; boundary=" + boundary}


def wav_sine(seconds, rate=24000, freq=220.0, channels=1, amplitude=0.5):
    import io
    import math
    import struct
    import wave
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        n = int(seconds * rate)
        frames = bytearray()
        for i in range(n):
            v = int(amplitude * 32767 * math.sin(2 * math.pi * freq * i / rate))
            frames += struct.pack("<h", v) * channels
        w.writeframes(bytes(frames))
    return buf.getvalue()


def jwt_hs256(payload, secret, header=None):
    import hashlib
    import hmac

    def b64(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    h = header or {"alg": "HS256", "typ": "JWT"}
    signing = b64(json.dumps(h).encode()) + "." + b64(json.dumps(payload).encode())
    if h.get("alg") == "none":
        return signing + "."
    sig = hmac.new(secret.encode(), signing.encode(), hashlib.sha256).digest()
    return signing + "." + b64(sig)
