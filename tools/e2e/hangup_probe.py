"""Clients that hang up must leave nothing running: for each way of asking (chat or completions, streamed or not,
n > 1, echo scoring, no max_tokens), open a raw connection, send the request, go away mid-answer, then time how long
the server takes to report no running and no waiting requests, and how long the next short request takes.

Usage: hangup_probe.py BASE_URL API_KEY   (standard library only; the base model is the first of /v1/models; exits 1
on any failure)
"""
import json
import socket
import sys
import time
import urllib.parse
import urllib.request

URL, KEY = sys.argv[1], sys.argv[2]
host, port = urllib.parse.urlsplit(URL).hostname, urllib.parse.urlsplit(URL).port
failures = []
MODEL = json.load(urllib.request.urlopen(urllib.request.Request(
    URL + "/v1/models", headers={"Authorization": f"Bearer {KEY}"}), timeout=10))["data"][0]["id"]


def gauges():
    text = urllib.request.urlopen(URL + "/metrics", timeout=5).read().decode()
    values = {}
    for line in text.splitlines():
        for name in ("vllm:num_requests_running", "vllm:num_requests_waiting"):
            if line.startswith(name + " "):
                values[name] = float(line.split()[1])
    return values.get("vllm:num_requests_running", -1), values.get("vllm:num_requests_waiting", -1)


def hang_up(path, body, after, read_first=0):
    """Sends the request on its own connection; after `after` seconds (or once `read_first` bytes of the answer
    arrived) closes the socket without reading the rest."""
    data = json.dumps(body).encode()
    s = socket.create_connection((host, port))
    s.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {KEY}\r\n"
              f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
    got = b""
    s.settimeout(after)
    try:
        while len(got) < read_first:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
        if not read_first:
            time.sleep(after)
    except socket.timeout:
        pass
    s.close()
    return got


def settle(label, limit=1.0):
    start = time.monotonic()
    while True:
        running, waiting = gauges()
        if running == 0 and waiting == 0:
            return time.monotonic() - start
        if time.monotonic() - start > 3.0:
            failures.append(f"{label}: {running:.0f} running, {waiting:.0f} waiting 3 s after the client left")
            return None
        time.sleep(0.02)


def short_request():
    start = time.monotonic()
    req = urllib.request.Request(URL + "/v1/completions", data=json.dumps(
        {"model": MODEL, "prompt": "Hello", "max_tokens": 4}).encode(),
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).read()
    return time.monotonic() - start


story = [{"role": "user", "content": "Write a very long story about a dragon who learns to bake bread."}]
long_prompt = " ".join(f"item {i} is on the shelf;" for i in range(300))
cases = [
    ("chat, not streamed, no max_tokens", "/v1/chat/completions", {"model": MODEL, "messages": story, "ignore_eos": True}, 0.5, 0),
    ("chat, streamed, no max_tokens", "/v1/chat/completions", {"model": MODEL, "messages": story, "ignore_eos": True, "stream": True}, 2.0, 600),
    ("completions, not streamed, n=4", "/v1/completions", {"model": MODEL, "prompt": "Once upon a time", "n": 4, "max_tokens": 1500, "ignore_eos": True}, 0.5, 0),
    ("completions, streamed, n=3", "/v1/completions", {"model": MODEL, "prompt": "Once upon a time", "n": 3, "max_tokens": 1500, "ignore_eos": True, "stream": True}, 2.0, 600),
    ("completions, echo scoring of a long prompt", "/v1/completions", {"model": MODEL, "prompt": long_prompt, "echo": True, "logprobs": 5, "max_tokens": 1000, "ignore_eos": True}, 0.3, 0),
    ("completions, 12 prompts at once (some queued)", "/v1/completions", {"model": MODEL, "prompt": [long_prompt] * 12, "max_tokens": 1000, "ignore_eos": True}, 0.3, 0),
]
for label, path, body, after, read_first in cases:
    hang_up(path, body, after, read_first)
    took = settle(label)
    if took is not None:
        answer = short_request()
        print(f"hangup probe: {label}: idle {took:.2f} s after the hang-up; next short request {answer:.2f} s")
        if took > 1.0:
            failures.append(f"{label}: took {took:.2f} s to go idle (1 s allowed)")
        if answer > 3.0:
            failures.append(f"{label}: the next short request took {answer:.2f} s")

for f in failures:
    print("hangup probe FAILED:", f)
sys.exit(1 if failures else 0)
