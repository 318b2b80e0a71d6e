#!/usr/bin/env python3
"""soak.py: the `make bench` soak (bench/sections/soak.sh runs it): 64 connections on loopback
for a bounded time, mixing light routes with speech and chat that keep their queues full.

  - 16 connections: GET / (wrk)                       -> the health p99 this reports
  - 32 connections: GET /auth/me and GET /history (wrk, Bearer token, alternating)
    (each of these 48 connections pauses SOAK_DELAY_MS between requests: steady traffic of
    some thousands of requests a second, not saturation, so latency measures how fast the
    server answers while the models work rather than how long the load generator queues)
  - 16 connections: 8 chat clients (POST /chat/threads/{id}/messages on a random-weight tiny
    Qwen2 model) and 8 speech clients (POST /generate-tts with espeak-ng, each generation
    deleted again), retrying at once on 503 so both queues stay full

It starts its own server (temporary SQLite database and folders, LLM_QUEUE_MAX=4,
WORKERS_TTS=2, TTS_QUEUE_MAX=4) and samples the server's RSS when idle after warm-up, then
under load 10 s in (start), halfway (middle), every ~5 s and at the end. Memory counts as
flat when it does not grow over the second half (end within 5% of middle): the first seconds
under load fill per-thread malloc arenas, the chat model's KV sessions and SQLite's caches
(with MALLOC_ARENA_MAX=2 the RSS is flat from 10 s on). Prints a table and one line "SOAK_RESULT key=value ...". Exits 1 when a
light request fails, a generation answers anything but success or 503, or the server dies
or exits non-zero on SIGTERM (BENCH_BIN may be an ASan build: its leak report fails it).

Environment: BENCH_BIN (build/vocero), SOAK_DURATION_S (60), SOAK_WRK_THREADS (2),
SOAK_DELAY_MS (10; 0 = saturate)."""
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.abspath(os.environ.get("BENCH_BIN", os.path.join(ROOT, "build", "vocero")))
DURATION_S = int(os.environ.get("SOAK_DURATION_S", "60"))
WRK_THREADS = os.environ.get("SOAK_WRK_THREADS", "2")
DELAY_MS = os.environ.get("SOAK_DELAY_MS", "10")
HEALTH_CONNS, LIGHT_CONNS, CHAT_CLIENTS, SPEECH_CLIENTS = 16, 32, 8, 8
SPEECH_TEXT = ("A soak test keeps the speech queue busy while health checks keep coming. "
               "Every sentence here is spoken and then thrown away again. ")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Client:
    def __init__(self, port, token=None):
        self.port, self.token = port, token
        self.conn = None

    def request(self, method, path, body=None, timeout=120):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        data = json.dumps(body).encode() if body is not None else None
        try:
            self.conn.request(method, path, body=data, headers=headers)
            r = self.conn.getresponse()
            payload = r.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            raise
        if r.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        return r.status, payload


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.errors = []

    def add(self, kind, status):
        with self.lock:
            self.counts[(kind, status)] = self.counts.get((kind, status), 0) + 1

    def fail(self, msg):
        with self.lock:
            if len(self.errors) < 20:
                self.errors.append(msg)


def run_client(kind, step, port, token, stop, tally):
    """Runs step(client) until stop: step sends one generation request (handling a success
    itself) and returns (status, body); a 503 (queue full) is retried almost at once."""
    c = Client(port, token)
    while not stop.is_set():
        try:
            st, body = step(c, tally)
        except (OSError, http.client.HTTPException) as e:
            tally.fail("%s: %r" % (kind, e))
            time.sleep(0.1)
            continue
        tally.add(kind, st)
        if st == 503:
            time.sleep(0.02)
        elif st not in (200, 201):
            tally.fail("%s: %d %s" % (kind, st, body[:200]))


class ChatStep:
    """One chat turn; a new thread every 4 turns keeps the prompts short."""

    def __init__(self):
        self.tid, self.turns = None, 0

    def __call__(self, c, tally):
        if self.tid is None or self.turns >= 4:
            st, body = c.request("POST", "/chat/threads", {"title": "soak"})
            if st != 201:
                return st, body
            self.tid, self.turns = json.loads(body)["id"], 0
        st, body = c.request("POST", "/chat/threads/%d/messages" % self.tid,
                             {"content": "Tell me something %d" % random.randrange(1000),
                              "max_tokens": 48, "temperature": 0.8})
        self.turns += st == 201
        return st, body


def speech_step(c, tally):
    """One espeak-ng generation, deleted again so the disk stays bounded."""
    st, body = c.request("POST", "/generate-tts", {"text": SPEECH_TEXT, "engine": "espeak-ng"})
    if st == 201:
        dst, _ = c.request("DELETE", "/history/%d" % json.loads(body)["id"])
        if dst != 204:
            tally.fail("DELETE /history: %d" % dst)
    return st, body


def stop_server(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def wrk(args, out):
    return subprocess.Popen(["wrk"] + args, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)


def wrk_result(path):
    text = open(path).read()
    m = [l for l in text.splitlines() if l.startswith("WRK_RESULT")]
    if not m:
        return None, text
    return dict(kv.split("=", 1) for kv in m[-1].split()[1:]), text


def main():
    for tool in ("wrk",):
        if not shutil.which(tool):
            print("soak: %s not found" % tool, file=sys.stderr)
            return 1
    tmp = tempfile.mkdtemp(prefix="vocero-soak-")
    proc = None
    try:
        model = os.path.join(tmp, "tiny-q8_0.gguf")
        subprocess.run([BIN, "models", "make-random", "qwen2", model, "--shape", "tiny",
                        "--type", "q8_0"], check=True, stdout=subprocess.DEVNULL)
        port = free_port()
        for d in ("data", "outputs", "voices", "models"):
            os.makedirs(os.path.join(tmp, d))
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp,
               "SECRET_KEY": "soak-" + "%032x" % random.getrandbits(128),
               "DATABASE_URL": "sqlite://" + os.path.join(tmp, "data", "vocero.db"),
               "DATA_DIR": os.path.join(tmp, "data"), "STORAGE_DIR": os.path.join(tmp, "outputs"),
               "VOICES_DIR": os.path.join(tmp, "voices"), "MODELS_DIR": os.path.join(tmp, "models"),
               "HOST": "127.0.0.1", "PORT": str(port), "LOG_LEVEL": "warn",
               "MODELS_AUTO_DOWNLOAD": "false", "BCRYPT_COST": "4", "LLM_MODEL": model,
               "LLM_CONTEXT": "1024", "LLM_THREADS": "1", "LLM_QUEUE_MAX": "4",
               "WORKERS_TTS": "2", "TTS_QUEUE_MAX": "4"}
        env.update({k: v for k, v in os.environ.items() if k.startswith(("MALLOC_", "ASAN_", "LSAN_"))})
        empty_env = os.path.join(tmp, "empty.env")
        open(empty_env, "w").close()
        log = open(os.path.join(tmp, "server.log"), "wb")
        proc = subprocess.Popen([BIN, "serve", "--env-file", empty_env], env=env, cwd=tmp,
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        anon = Client(port)
        for _ in range(300):
            try:
                if anon.request("GET", "/", timeout=2)[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("server did not start")
        user = {"username": "soak_user", "password": "soak-password-%d" % random.randrange(10**9)}
        assert anon.request("POST", "/auth/register", user)[0] == 201
        st, body = anon.request("POST", "/auth/login", user)
        token = json.loads(body)["access_token"]

        # warm-up: load the chat model and espeak-ng once, so "start" is the steady state
        warm = Client(port, token)
        tid = json.loads(warm.request("POST", "/chat/threads", {})[1])["id"]
        st, body = warm.request("POST", "/chat/threads/%d/messages" % tid,
                                {"content": "hi", "max_tokens": 8})
        if st != 201:
            raise RuntimeError("warm-up chat: %d %s" % (st, body[:300]))
        st, body = warm.request("POST", "/generate-tts", {"text": SPEECH_TEXT})
        if st != 201:
            raise RuntimeError("warm-up speech: %d %s" % (st, body[:300]))

        stop, tally = threading.Event(), Tally()
        heavy = [threading.Thread(target=run_client, args=("chat", ChatStep(), port, token, stop, tally))
                 for _ in range(CHAT_CLIENTS)]
        heavy += [threading.Thread(target=run_client, args=("speech", speech_step, port, token, stop, tally))
                  for _ in range(SPEECH_CLIENTS)]
        rss = {"idle": rss_kib(proc.pid)}
        for t in heavy:
            t.start()
        time.sleep(10)  # queues fill, sessions and caches reach their size before measuring
        rss["start"] = rss_kib(proc.pid)
        base = "http://127.0.0.1:%d" % port
        dur = "%ds" % DURATION_S
        hout, lout = os.path.join(tmp, "wrk-health.txt"), os.path.join(tmp, "wrk-light.txt")
        w1 = wrk(["-t" + WRK_THREADS, "-c%d" % HEALTH_CONNS, "-d" + dur, "--latency",
                  "--timeout", "5s", "-s", "bench/soak.lua", base + "/", "--", DELAY_MS, "/"],
                 open(hout, "w"))
        w2 = wrk(["-t" + WRK_THREADS, "-c%d" % LIGHT_CONNS, "-d" + dur, "--latency",
                  "--timeout", "5s", "-s", "bench/soak.lua", "-H", "Authorization: Bearer " + token,
                  base + "/auth/me", "--", DELAY_MS, "/auth/me", "/history?limit=20"],
                 open(lout, "w"))
        timeline, t0 = [], time.time()
        while time.time() - t0 < DURATION_S / 2:
            time.sleep(min(5, max(0.1, DURATION_S / 2 - (time.time() - t0))))
            timeline.append(rss_kib(proc.pid))
        rss["middle"] = timeline[-1]
        while w1.poll() is None and time.time() - t0 < DURATION_S + 30:
            time.sleep(min(5, max(0.1, DURATION_S - (time.time() - t0))))
            timeline.append(rss_kib(proc.pid))
        w1.wait(DURATION_S + 30)
        w2.wait(DURATION_S + 30)
        rss["end"] = rss_kib(proc.pid)
        stop.set()
        for t in heavy:
            t.join(120)
        alive = proc.poll() is None
        rc = stop_server(proc) if alive else proc.returncode
        health, htext = wrk_result(hout)
        light, ltext = wrk_result(lout)

        failures = list(tally.errors)
        if not alive:
            failures.append("the server died")
        elif rc != 0:
            failures.append("the server exited with status %r after SIGTERM (leak report?)" % rc)
        for name, res, text in (("health", health, htext), ("light", light, ltext)):
            if res is None:
                failures.append("%s: no WRK_RESULT\n%s" % (name, text[-500:]))
                continue
            bad = int(res["non2xx"]) + sum(int(res[k]) for k in ("connect", "read", "write", "timeout"))
            if bad:
                failures.append("%s: %d failed requests" % (name, bad))
        c = tally.counts
        chat_ok, chat_busy = c.get(("chat", 201), 0), c.get(("chat", 503), 0)
        sp_ok, sp_busy = c.get(("speech", 201), 0), c.get(("speech", 503), 0)
        if not chat_ok or not sp_ok:
            failures.append("no chat or speech request succeeded")
        if not chat_busy or not sp_busy:
            print("soak: note: a queue never overflowed (chat 503s %d, speech 503s %d)" % (chat_busy, sp_busy))

        growth_mid_end = (rss["end"] - rss["middle"]) / rss["middle"] * 100
        growth = (rss["end"] - rss["start"]) / rss["start"] * 100
        print()
        print("soak: %d s, %d connections (%d health, %d light with %s ms pauses, %d chat, %d speech)"
              " on loopback, SQLite, %d cores" % (DURATION_S, HEALTH_CONNS + LIGHT_CONNS + CHAT_CLIENTS
                                                 + SPEECH_CLIENTS, HEALTH_CONNS, LIGHT_CONNS, DELAY_MS,
                                                 CHAT_CLIENTS, SPEECH_CLIENTS, os.cpu_count()))
        if health and light:
            print("%-28s %10s %9s %9s %9s %9s" % ("", "requests", "req/s", "p50 ms", "p99 ms", "max ms"))
            for name, r in (("GET / (health)", health), ("GET /auth/me + /history", light)):
                print("%-28s %10s %9s %9s %9s %9s" % (name, r["requests"], r["rps"], r["p50_ms"],
                                                      r["p99_ms"], r["max_ms"]))
        print("chat turns: %d answered, %d refused 503 (queue full)" % (chat_ok, chat_busy))
        print("speech generations: %d answered, %d refused 503 (queue full)" % (sp_ok, sp_busy))
        print("server RSS: idle %.1f MiB; under load: start %.1f MiB, middle %.1f MiB, end %.1f MiB "
              "(end vs start %+.1f%%, end vs middle %+.1f%%)"
              % (rss["idle"] / 1024, rss["start"] / 1024, rss["middle"] / 1024, rss["end"] / 1024,
                 growth, growth_mid_end))
        hp99 = float(health["p99_ms"]) if health else -1
        print("SOAK_RESULT health_p99_ms=%.2f health_rps=%s light_p99_ms=%s chat_ok=%d chat_503=%d "
              "speech_ok=%d speech_503=%d rss_idle_kib=%d rss_start_kib=%d rss_middle_kib=%d rss_end_kib=%d"
              % (hp99, health["rps"] if health else "-", light["p99_ms"] if light else "-",
                 chat_ok, chat_busy, sp_ok, sp_busy, rss["idle"], rss["start"], rss["middle"],
                 rss["end"]))
        print("RSS every ~5 s (MiB): " + " ".join("%.1f" % (k / 1024) for k in timeline))
        print("goal health p99 < 50 ms: %s; memory flat over the second half (end within 5%% of "
              "middle): %s" % ("met" if 0 <= hp99 < 50 else "MISSED",
                               "yes" if growth_mid_end <= 5 else "NO"))
        for f in failures:
            print("soak: FAIL " + f)
        if failures:
            print(open(os.path.join(tmp, "server.log"), errors="replace").read()[-2000:])
        return 1 if failures else 0
    finally:
        if proc and proc.poll() is None:
            stop_server(proc)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
