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
kinds = os.environ.get("TRAIN_KINDS", "lora,dora,prompt,dpo,distill").split(",")
ours = {k: [] for k in kinds}
theirs = {k: [] for k in kinds}
for r in range(rounds):
    for k in kinds:  # one process per kind on both sides, so each peak RSS is its own
        out = subprocess.run([tessera, "bench", "--train", "--json", "--model", model, "--train-kinds", k],
                             check=True, capture_output=True, text=True, env=env).stdout
        ours[k].append(json.loads(out.strip().splitlines()[-1]))
        out = subprocess.run([python, os.path.join(root, "tools", "bench", "train_reference.py"), model, k, "8", "256",
                              "3", "2"], check=True, capture_output=True, text=True).stdout
        theirs[k].append(json.loads(out.strip().splitlines()[-1]))
    print(f"round {r + 1}/{rounds}: " + ", ".join(f"{k} {ours[k][-1]['tokens_per_s']:.1f} vs {theirs[k][-1]['tokens_per_s']:.1f}"
                                                for k in kinds) + " tokens/s", file=sys.stderr)
print(f"\n{os.path.basename(model)}: batch 8 x 256 tokens, AdamW, 2 threads (medians of {rounds}); Tessera at its "
      f"default precision ({ours[kinds[0]][0]['precision']} forward products), transformers + peft in fp32; each kind in its own process")
print(f"{'':<28}{'tessera':>10}{'transformers+peft':>20}{'ratio':>8}")
for k in kinds:
    t = statistics.median(x["tokens_per_s"] for x in ours[k])
    p = statistics.median(x["tokens_per_s"] for x in theirs[k])
    tm = max(x["peak_rss_bytes"] for x in ours[k]) / 2**20
    pm = max(x["peak_rss_bytes"] for x in theirs[k]) / 2**20
    print(f"{k + ' tokens/s':<28}{t:>10.1f}{p:>20.1f}{t / p:>7.2f}x")
    print(f"{k + ' peak RSS (MiB)':<28}{tm:>10.0f}{pm:>20.0f}{tm / pm:>7.2f}x")
