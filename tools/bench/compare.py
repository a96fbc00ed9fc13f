"""Runs `tessera bench --json` and llama.cpp (llamacpp_bench.py) on the same file, alternating for several rounds
because this machine's speed drifts from minute to minute, and prints the medians and Tessera/llama.cpp ratios.

Usage: compare.py TESSERA_BINARY PYTHON_WITH_LLAMA_CPP MODEL.gguf [ROUNDS]
"""
import json
import os
import statistics
import subprocess
import sys

tessera, python, model = sys.argv[1:4]
rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 3
here = os.path.dirname(os.path.abspath(__file__))
env = dict(os.environ, TESSERA_THREADS="2")


def run(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


results = {"tessera": [], "llama.cpp": []}
for r in range(rounds):
    results["tessera"].append(run([tessera, "bench", "--json", "--model", model]))
    results["llama.cpp"].append(run([python, os.path.join(here, "llamacpp_bench.py"), model, "2"]))
    print(f"round {r + 1}/{rounds} done", file=sys.stderr)


def median(tool, key, sub=None):
    values = [x[key][sub] if sub else x[key] for x in results[tool]]
    return statistics.median(values)


rows = [("prefill 512 tokens", "prefill_tokens_per_s", None)] + [
    (f"decode, {n} sequence{'s' if n != '1' else ''}", "decode_tokens_per_s", n) for n in ("1", "8", "32")]
print(f"{'tok/s (median of ' + str(rounds) + ')':<28}{'tessera':>10}{'llama.cpp':>11}{'ratio':>8}")
summary = {}
for label, key, sub in rows:
    t, l = median("tessera", key, sub), median("llama.cpp", key, sub)
    summary[label] = {"tessera": t, "llama.cpp": l, "ratio": t / l}
    print(f"{label:<28}{t:>10.1f}{l:>11.1f}{t / l:>7.2f}x")
print(f"peak RSS (tessera): {max(x['peak_rss_bytes'] for x in results['tessera']) / 2**20:.0f} MiB, "
      f"cpu: {results['tessera'][0]['cpu']}, activations: {results['tessera'][0].get('activations', 'fp32')}")
with open(os.environ.get("BENCH_OUT", "/dev/null"), "w") as f:
    json.dump({"summary": summary, "runs": results}, f, indent=1)
