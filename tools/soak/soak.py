"""Soak: one `tessera serve` under mixed traffic for a long time. Tenants with adapters of every kind (LoRA, LoRA
with rank/alpha patterns, DoRA, prompt tuning, P-tuning, prefix tuning) send completions and chats, streamed or not;
adapters are uploaded and deleted as traffic runs; some clients hang up mid-answer; some ask past their max_tokens
ceiling; some send broken JSON. Each minute it prints requests served, errors by kind, p50/p99 latency of the answered
requests and the server's RSS.

It fails if any request gets a 5xx, if the server dies, or if RSS after the warm-up grows past the bound: the largest
RSS seen after warm-up may exceed the RSS at the end of warm-up by at most RSS_SLACK_MIB (default 64 MiB). The
adapter cache is capped (--adapter-cache-bytes 64 MiB) and the KV cache is allocated at start, so a server that
leaks nothing stays flat.

Usage: soak.py TESSERA MINUTES [WARMUP_MINUTES] [RESULT_JSON]   (standard library only)
"""
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../lib"))
from live_server import KINDS, free_port, multipart  # noqa: E402
import live_server  # noqa: E402

TESSERA, MINUTES = sys.argv[1], float(sys.argv[2])
WARMUP = float(sys.argv[3]) if len(sys.argv) > 3 else min(5.0, MINUTES / 3)
RESULT = sys.argv[4] if len(sys.argv) > 4 else None
RSS_SLACK_MIB = float(os.environ.get("RSS_SLACK_MIB", "64"))
CLIENTS = int(os.environ.get("SOAK_CLIENTS", "6"))
ADMIN = "admin-" + uuid.uuid4().hex
CEILING = 48
data = tempfile.mkdtemp(prefix="tessera-soak-")


PORT = free_port()
BASE = f"http://127.0.0.1:{PORT}"


def call(method, path, key, body=None, ctype="application/json", timeout=120):
    return live_server.call(BASE, method, path, key, body, ctype, timeout)


def rss_mib(pid, field="VmRSS"):
    """VmRSS, or RssAnon (heap) / RssFile (the mapped model's pages touched so far)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


class Minute:
    def __init__(self):
        self.served = 0
        self.errors = {}
        self.latencies = []


lock = threading.Lock()
minutes = [Minute()]
fivexx = []


def record(status, latency=None, kind=None):
    with lock:
        m = minutes[-1]
        if status is not None and 200 <= status < 300:
            m.served += 1
            if latency is not None:
                m.latencies.append(latency)
        else:
            label = kind or str(status)
            m.errors[label] = m.errors.get(label, 0) + 1
        if status is not None and status >= 500:
            fivexx.append((time.strftime("%H:%M:%S"), status, kind))


def stream_error(answer):
    """An SSE event in the error shape (a generated token may well be the word "error")."""
    for line in answer.split(b"\n"):
        if line.startswith(b"data: {"):
            try:
                if "error" in json.loads(line[6:]):
                    return True
            except ValueError:
                return True
    return False


def hang_up(key, body):
    data = json.dumps(body).encode()
    s = socket.create_connection(("127.0.0.1", PORT))
    s.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
              f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
    time.sleep(random.uniform(0.05, 0.6))
    s.close()
    record(None, kind="hung up (by design)")


def client(tenants, adapters, stop, rng):
    while not stop.is_set():
        tenant = rng.choice(tenants)
        key = tenant["key"]
        with lock:
            names = list(adapters[tenant["name"]])
        model = rng.choice(names + [BASE_MODEL])
        op = rng.random()
        try:
            if op < 0.08:
                hang_up(key, {"model": model, "messages": [{"role": "user", "content": "Tell me a long story."}], "ignore_eos": True})
            elif op < 0.12:
                status, _ = call("POST", "/v1/chat/completions", key, json.dumps(
                    {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": CEILING + 1}).encode())
                record(status, kind="over max_tokens ceiling (400 by design)" if status == 400 else None)
            elif op < 0.14:
                status, _ = call("POST", "/v1/completions", key, b'{"model": "x", "prompt": ')
                record(status, kind="broken JSON (400 by design)" if status == 400 else None)
            elif op < 0.17:
                name = f"soak-{uuid.uuid4().hex[:8]}"
                body, ctype = multipart(name, rng.choice(KINDS))
                status, _ = call("POST", "/v1/adapters", key, body, ctype)
                record(status)
                if status == 201:
                    with lock:
                        adapters[tenant["name"]].add(name)
            elif op < 0.20 and len(names) > 6:  # as many deletes as uploads: the adapter population holds steady
                name = rng.choice(names)
                with lock:
                    adapters[tenant["name"]].discard(name)
                status, _ = call("DELETE", f"/v1/adapters/{name}", key)
                record(status)
            else:
                stream = rng.random() < 0.5
                chat = rng.random() < 0.5
                n = rng.choice([1, 1, 1, 2])
                mt = rng.randint(4, 40)
                if chat:
                    path, body = "/v1/chat/completions", {"model": model, "messages": [{"role": "user", "content": f"Question {rng.randint(0, 999)}: what is new?"}]}
                else:
                    path, body = "/v1/completions", {"model": model, "prompt": f"Item {rng.randint(0, 999)} of the list is"}
                body.update({"max_tokens": mt, "stream": stream, "n": n, "temperature": 0.7})
                start = time.monotonic()
                status, answer = call("POST", path, key, json.dumps(body).encode())
                latency = time.monotonic() - start
                if status == 404 and model != BASE_MODEL:
                    record(status, kind="adapter deleted meanwhile (404 by design)")
                elif stream and status == 200 and b"data: [DONE]" not in answer:
                    record(None, kind="stream without [DONE]")
                elif stream and status == 200 and stream_error(answer):
                    record(None, kind="error inside a stream")
                else:
                    record(status, latency)
        except (urllib.error.URLError, ConnectionError, OSError) as e:
            record(None, kind=f"connection: {type(e).__name__}")


log = open(os.path.join(data, "serve.log"), "wb")
proc = subprocess.Popen([TESSERA, "serve", "--data-dir", data, "--port", str(PORT), "--adapter-cache-bytes", str(64 << 20),
                         "--kv-cache-bytes", str(256 << 20)], stdout=log, stderr=log, env={**os.environ, "TESSERA_ADMIN_KEY": ADMIN})
for _ in range(600):
    try:
        if urllib.request.urlopen(BASE + "/ready", timeout=1).status == 200:
            break
    except Exception:
        time.sleep(0.1)
tenants = []
for i, weight in enumerate([1, 2, 1]):
    status, answer = call("POST", "/admin/tenants", ADMIN, json.dumps({"name": f"soak{i}", "weight": weight, "max_tokens": CEILING}).encode())
    assert status == 201, answer
    tenants.append({"name": f"soak{i}", "key": json.loads(answer)["api_key"]})
BASE_MODEL = json.loads(call("GET", "/v1/models", tenants[0]["key"])[1])["data"][0]["id"]
adapters = {t["name"]: set() for t in tenants}
for t in tenants:
    for kind in KINDS:
        body, ctype = multipart(kind.replace("_", "-"), kind)
        status, answer = call("POST", "/v1/adapters", t["key"], body, ctype)
        assert status == 201, answer
        adapters[t["name"]].add(kind.replace("_", "-"))

stop = threading.Event()
threads = [threading.Thread(target=client, args=(tenants, adapters, stop, random.Random(i)), daemon=True) for i in range(CLIENTS)]
for th in threads:
    th.start()
rows = []
started = time.monotonic()
print("| minute | served | errors by kind | p50 s | p99 s | RSS MiB | anon MiB | file MiB |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |", flush=True)
died = False
while time.monotonic() - started < MINUTES * 60:
    time.sleep(max(0.0, 60 * (len(rows) + 1) - (time.monotonic() - started)))
    if proc.poll() is not None:
        died = True
        break
    rss, anon, mapped = rss_mib(proc.pid), rss_mib(proc.pid, "RssAnon"), rss_mib(proc.pid, "RssFile")
    with lock:
        m = minutes[-1]
        minutes.append(Minute())
    lat = sorted(m.latencies)
    p50 = statistics.median(lat) if lat else 0
    p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat else 0
    rows.append({"minute": len(rows) + 1, "served": m.served, "errors": m.errors, "p50_s": p50, "p99_s": p99, "rss_mib": rss,
                 "anon_mib": anon, "file_mib": mapped})
    errors = ", ".join(f"{k}: {v}" for k, v in sorted(m.errors.items())) or "none"
    print(f"| {len(rows)} | {m.served} | {errors} | {p50:.2f} | {p99:.2f} | {rss:.0f} | {anon:.0f} | {mapped:.0f} |", flush=True)
stop.set()
for th in threads:
    th.join(timeout=130)

failures = []
if died:
    failures.append(f"the server exited ({proc.returncode}); see {data}/serve.log")
if fivexx:
    failures.append(f"{len(fivexx)} responses were 5xx: {fivexx[:5]}")
warm = [r for r in rows if r["minute"] <= WARMUP]
after = [r for r in rows if r["minute"] > WARMUP]
if warm and after:
    base, peak = warm[-1]["rss_mib"], max(r["rss_mib"] for r in after)
    print(f"\nRSS at the end of warm-up (minute {warm[-1]['minute']}): {base:.0f} MiB; largest after: {peak:.0f} MiB "
          f"(bound {base + RSS_SLACK_MIB:.0f} MiB)")
    if peak > base + RSS_SLACK_MIB:
        failures.append(f"RSS grew from {base:.0f} to {peak:.0f} MiB after warm-up (bound +{RSS_SLACK_MIB:.0f} MiB)")
total = sum(r["served"] for r in rows)
errors = {}
for r in rows:
    for k, v in r["errors"].items():
        errors[k] = errors.get(k, 0) + v
print(f"served {total} requests in {len(rows)} minutes; errors by kind: {errors or 'none'}")
if RESULT:
    with open(RESULT, "w") as f:
        json.dump({"minutes": rows, "served": total, "errors": errors, "fivexx": fivexx, "warmup_minutes": WARMUP,
                   "rss_slack_mib": RSS_SLACK_MIB, "failures": failures}, f, indent=1)
if proc.poll() is None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
for f in failures:
    print("soak FAILED:", f)
if not failures:
    subprocess.run(["rm", "-rf", data])
sys.exit(1 if failures else 0)
