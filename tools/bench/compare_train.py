"""`make bench-train`: Tessera's training throughput and peak memory against transformers + peft on the same file,
same configuration (tools/bench/train_reference.py), alternating rounds because this machine's speed drifts; medians.

Usage: compare_train.py TESSERA_BINARY MODEL.gguf [ROUNDS]
"""
import json
import os
import statistics
import subprocess
import sys

tessera, model = sys.argv[1:3]
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 2
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
python = os.path.join(root, ".bench", "train-venv", "bin", "python")
env = dict(os.environ, TESSERA_THREADS="2")
ours, theirs = [], []
for r in range(rounds):
    out = subprocess.run([tessera, "bench", "--train", "--json", "--model", model], check=True, capture_output=True,
                         text=True, env=env).stdout
    ours.append(json.loads(out.strip().splitlines()[-1]))
    out = subprocess.run([python, os.path.join(root, "tools", "bench", "train_reference.py"), model, "lora", "8", "256",
                          "3", "2"], check=True, capture_output=True, text=True).stdout
    theirs.append(json.loads(out.strip().splitlines()[-1]))
    print(f"round {r + 1}/{rounds} done", file=sys.stderr)
t = statistics.median(x["tokens_per_s"] for x in ours)
p = statistics.median(x["tokens_per_s"] for x in theirs)
tm = max(x["peak_rss_bytes"] for x in ours) / 2**20
pm = max(x["peak_rss_bytes"] for x in theirs) / 2**20
print(f"\n{os.path.basename(model)}: LoRA r16 all-linear, batch 8 x 256 tokens, fp32, 2 threads (medians of {rounds})")
print(f"{'':<22}{'tessera':>10}{'transformers+peft':>20}{'ratio':>8}")
print(f"{'tokens/s':<22}{t:>10.1f}{p:>20.1f}{t / p:>7.2f}x")
print(f"{'peak RSS (MiB)':<22}{tm:>10.0f}{pm:>20.0f}{tm / pm:>7.2f}x")
