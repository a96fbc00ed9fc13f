"""Crash consistency: SIGKILL `tessera serve` at random points of a scripted workload (adapter uploads and
re-uploads, deletes, key rotations, tenant creation, two clients at once), restart it on the same data directory, and
check after every restart that
  - the start succeeds (the server becomes ready);
  - no temporary file is left and every adapter file has its registry row and every row its file;
  - every adapter acknowledged (201) and not deleted since is listed and served; every acknowledged delete is gone;
  - every adapter the registry lists, acknowledged or not, is served (no half-written file is visible);
  - after an acknowledged key rotation only the new key works; after one cut short, exactly one of the two does.

Usage: kill_test.py TESSERA_BINARY KILLS [SEED]   (standard library only; exits 1 on the first broken invariant)
"""
import json
import os
import random
import signal
import sqlite3
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

TESSERA, KILLS = sys.argv[1], int(sys.argv[2])
rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 13)
ADMIN = "admin-" + uuid.uuid4().hex
data = tempfile.mkdtemp(prefix="tessera-kill-")


def call(port, method, path, key, body=None, content_type="application/json"):
    return live_server.call(f"http://127.0.0.1:{port}", method, path, key, body, content_type)


class World:
    """What clients were told, and what is still in doubt because the server died before it answered."""

    def __init__(self, key):
        self.lock = threading.Lock()
        self.rotating = threading.Lock()  # one rotation in flight, so answers cannot arrive out of commit order
        self.keys = [key]          # the tenant's key; two candidates while a rotation is in doubt
        self.acked = set()         # adapters acknowledged and not deleted since
        self.deleted = set()       # deletes acknowledged (and no upload of the name since)
        self.doubt = set()         # names whose last operation got no answer
        self.busy = set()          # names with an operation in flight: one at a time, so answers follow commits
        self.next_name = 0
        self.tenants = 0


def start(port):
    log = open(os.path.join(data, "serve.log"), "ab")
    proc = subprocess.Popen([TESSERA, "serve", "--data-dir", data, "--port", str(port), "--kv-cache-bytes", str(64 << 20)],
                            stdout=log, stderr=log, env={**os.environ, "TESSERA_ADMIN_KEY": ADMIN})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            fail(f"the server did not start (exit {proc.returncode}); see {data}/serve.log")
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1).status == 200:
                return proc
        except Exception:
            pass
        time.sleep(0.05)
    fail("the server was not ready within 60 s")


def fail(message):
    print("kill test FAILED:", message)
    print("data directory kept at", data)
    sys.exit(1)


def workload(port, world, stop):
    while not stop.is_set():
        op = rng.random()
        with world.lock:
            key = world.keys[-1] or world.keys[0]
        try:
            with world.lock:
                idle = sorted(world.acked - world.busy)
            # Uploads outweigh deletes until ~20 adapters exist, then the population holds steady.
            if op < (0.5 if len(idle) < 20 else 0.25) or not idle:
                with world.lock:
                    # A new name, or a new version of one that exists.
                    if idle and rng.random() < 0.3:
                        name = rng.choice(idle)
                    else:
                        world.next_name += 1
                        name = f"ad{world.next_name}"
                    world.doubt.add(name)
                    world.busy.add(name)
                body, ctype = multipart(name, rng.choice(KINDS))
                status, _ = call(port, "POST", "/v1/adapters", key, body, ctype)
                with world.lock:
                    world.busy.discard(name)
                    if status == 201:
                        world.doubt.discard(name)
                        world.acked.add(name)
                        world.deleted.discard(name)
            elif op < 0.75:
                with world.lock:
                    name = rng.choice(idle)
                    world.acked.discard(name)
                    world.doubt.add(name)
                    world.busy.add(name)
                status, _ = call(port, "DELETE", f"/v1/adapters/{name}", key)
                with world.lock:
                    world.busy.discard(name)
                    if status == 200:
                        world.doubt.discard(name)
                        world.deleted.add(name)
            elif op < 0.9:
                if not world.rotating.acquire(blocking=False):
                    continue
                try:
                    with world.lock:
                        world.keys = [world.keys[-1], None]  # in doubt until answered
                    status, answer = call(port, "POST", "/admin/tenants/kill/rotate_key", ADMIN)
                    with world.lock:
                        if status == 200:
                            world.keys = [json.loads(answer)["api_key"]]
                finally:
                    world.rotating.release()
            else:
                with world.lock:
                    world.tenants += 1
                    name = f"t{world.tenants}-{uuid.uuid4().hex[:6]}"
                call(port, "POST", "/admin/tenants", ADMIN, json.dumps({"name": name, "max_tokens": 64}).encode())
        except (urllib.error.URLError, ConnectionError, OSError, json.JSONDecodeError):
            return  # the server is gone


def check(port, world):
    adapters_dir = os.path.join(data, "adapters")
    names = os.listdir(adapters_dir)
    temporaries = [n for n in names if n.endswith(".tmp")]
    if temporaries:
        fail(f"temporaries left after start: {temporaries}")
    files = {n[: -len(".tsa.zst")] for n in names if n.endswith(".tsa.zst")}
    db = sqlite3.connect(f"file:{os.path.join(data, 'registry.sqlite')}?mode=ro", uri=True)
    rows = {r[0] for r in db.execute("SELECT storeID FROM adapter")}
    db.close()
    if rows - files:
        fail(f"registry rows without files: {sorted(rows - files)}")
    if files - rows:
        fail(f"files without registry rows: {sorted(files - rows)}")
    # The key: the acknowledged one works; of two in doubt exactly one does (and becomes the key).
    candidates = [k for k in world.keys if k]
    working = [k for k in candidates if call(port, "GET", "/v1/models", k)[0] == 200]
    if len(world.keys) == 1 and working != candidates:
        fail("the acknowledged key does not work after the restart")
    if len(world.keys) == 2 and len(working) > 1:
        fail("both the old and the rotated key work")
    if not working:
        # A rotation cut short after its commit: the new key was never told to anyone. Take a fresh one.
        status, answer = call(port, "POST", "/admin/tenants/kill/rotate_key", ADMIN)
        if status != 200:
            fail(f"key rotation after restart failed: {status}")
        working = [json.loads(answer)["api_key"]]
    world.keys = working
    key = working[0]
    status, listing = call(port, "GET", "/v1/adapters", key)
    listed = {a["id"] for a in json.loads(listing)["data"]}
    if not world.acked <= listed:
        fail(f"acknowledged adapters missing after the restart: {sorted(world.acked - listed)}")
    if world.deleted & listed:
        fail(f"deleted adapters back after the restart: {sorted(world.deleted & listed)}")
    for name in sorted(listed):
        status, answer = call(port, "POST", "/v1/completions", key,
                              json.dumps({"model": name, "prompt": "Hi", "max_tokens": 1}).encode())
        if status != 200:
            fail(f"listed adapter {name} is not served: {status} {answer[:200]!r}")
    # What is in doubt is now settled by what the server has.
    world.acked = listed
    world.deleted -= listed
    world.doubt.clear()
    world.busy.clear()
    return len(listed), len(rows)


port = free_port()
key = subprocess.run([TESSERA, "tenants", "create", "kill", "--data-dir", data], capture_output=True, text=True,
                     check=True).stdout.split()[-1]
world = World(key)
started = time.monotonic()
for i in range(KILLS):
    proc = start(port)
    served, rows = check(port, world)
    stop = threading.Event()
    clients = [threading.Thread(target=workload, args=(port, world, stop)) for _ in range(2)]
    for c in clients:
        c.start()
    time.sleep(rng.uniform(0.02, 1.5))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stop.set()
    for c in clients:
        c.join()
    print(f"kill {i + 1}/{KILLS}: {served} adapters served after the last restart ({rows} versions); killed mid-workload")
proc = start(port)
served, rows = check(port, world)
proc.send_signal(signal.SIGTERM)
proc.wait()
print(f"kill test: {KILLS} kills, every invariant held after each restart ({served} adapters at the end, "
      f"{time.monotonic() - started:.0f} s)")
subprocess.run(["rm", "-rf", data])
