"""Serving latency while a fine-tuning job trains (issue 17): the median latency of short completions on an idle
server, then while a supervised job runs on the same server, alternating idle/training rounds. The trainer child runs
at SCHED_IDLE, so the ratio should stay near 1.

Usage: training_latency.py URL ADMIN_KEY [--requests 20] [--rounds 3]
"""
import argparse
import io
import json
import random
import statistics
import time
import urllib.request

from openai import OpenAI

parser = argparse.ArgumentParser()
parser.add_argument("url")
parser.add_argument("admin")
parser.add_argument("--requests", type=int, default=20)
parser.add_argument("--rounds", type=int, default=3)
args = parser.parse_args()

req = urllib.request.Request(args.url + "/admin/tenants", data=json.dumps({"name": f"lat-{random.randrange(1 << 30)}"}).encode(),
                             method="POST", headers={"Authorization": "Bearer " + args.admin, "Content-Type": "application/json"})
client = OpenAI(base_url=args.url + "/v1", api_key=json.load(urllib.request.urlopen(req))["api_key"])
base = client.models.list().data[0].id
rng = random.Random(3)
rows = "".join(json.dumps({"messages": [{"role": "user", "content": f"What is {a} plus {b}?"},
                                        {"role": "assistant", "content": f"ANSWER: {a + b}"}]}) + "\n"
               for a, b in ((rng.randint(10, 99), rng.randint(10, 99)) for _ in range(64)))
file = client.files.create(file=("lat.jsonl", io.BytesIO(rows.encode())), purpose="fine-tune")


def latencies():
    out = []
    for i in range(args.requests):
        t = time.perf_counter()
        client.completions.create(model=base, prompt=f"Question {i}: the capital of France is", max_tokens=8, temperature=0)
        out.append(time.perf_counter() - t)
    return out


idle, busy = [], []
for r in range(args.rounds):
    idle += latencies()
    job = client.fine_tuning.jobs.create(model=base, training_file=file.id, method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 25}}})
    while client.fine_tuning.jobs.retrieve(job.id).status != "running" or not client.fine_tuning.jobs.retrieve(job.id).trained_tokens:
        time.sleep(0.2)
    busy += latencies()
    steps = [e for e in client.fine_tuning.jobs.list_events(job.id, limit=1000) if e.type == "metrics"]
    client.fine_tuning.jobs.cancel(job.id)
    time.sleep(1)
    print(f"round {r + 1}: idle median {statistics.median(idle) * 1000:.1f} ms, training median {statistics.median(busy) * 1000:.1f} ms; the job made {len(steps)} steps meanwhile")
ratio = statistics.median(busy) / statistics.median(idle)
print(json.dumps({"idle_median_ms": statistics.median(idle) * 1000, "training_median_ms": statistics.median(busy) * 1000,
                  "ratio": ratio, "requests": len(idle)}))
