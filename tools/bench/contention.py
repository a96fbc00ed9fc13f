"""Single-stream decode with the cores quiet and with every core busy in another process, for Tessera and llama.cpp
on the same file, alternating, medians of ROUNDS: how much of its quiet speed each keeps when a trainer or a
neighbour holds the CPU (DESIGN 3.7).

Usage: contention.py TESSERA LLAMA_BENCH MODEL [ROUNDS] [THREADS]
  LLAMA_BENCH: llama.cpp's llama-bench binary (tools/bench/setup-llama builds it in .bench/llama-LEVEL/).
The load is one busy-looping process per core (plain Python, no I/O), started before and stopped after each run.
"""
import json
import os
import re
import statistics
import subprocess
import sys

TESSERA, LLAMA_BENCH, MODEL = sys.argv[1], sys.argv[2], sys.argv[3]
ROUNDS = int(sys.argv[4]) if len(sys.argv) > 4 else 3
THREADS = int(sys.argv[5]) if len(sys.argv) > 5 else os.cpu_count()
TOKENS = 128


def tessera():
    out = subprocess.run([TESSERA, "generate", "--model", MODEL, "--max-tokens", str(TOKENS), "--ignore-eos",
                          "--temperature", "0", "--stats", "Once upon a time"],
                         capture_output=True, text=True, check=True, env={**os.environ, "TESSERA_THREADS": str(THREADS)})
    return float(re.search(r"\(([\d.]+) tok/s\)", out.stderr).group(1))


def llama():
    out = subprocess.run([LLAMA_BENCH, "-m", MODEL, "-p", "0", "-n", str(TOKENS), "-t", str(THREADS), "-r", "1", "-o", "json"],
                         capture_output=True, text=True, check=True)
    return float(json.loads(out.stdout)[0]["avg_ts"])


def with_load(run):
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count())]
    try:
        return run()
    finally:
        for h in hogs:
            h.kill()
            h.wait()


results = {(name, load): [] for name in ("tessera", "llama.cpp") for load in ("quiet", "busy")}
for r in range(ROUNDS):
    for name, run in (("tessera", tessera), ("llama.cpp", llama)):
        results[(name, "quiet")].append(run())
        results[(name, "busy")].append(with_load(run))
    print(f"round {r + 1}: " + ", ".join(f"{n} {l} {v[-1]:.1f}" for (n, l), v in results.items()), flush=True)

print(f"\nsingle-stream decode, {TOKENS} tokens, {THREADS} threads, medians of {ROUNDS} (tok/s):")
print("| | quiet | every core busy elsewhere | kept |")
print("| --- | --- | --- | --- |")
for name in ("tessera", "llama.cpp"):
    q, b = statistics.median(results[(name, "quiet")]), statistics.median(results[(name, "busy")])
    print(f"| {name} | {q:.1f} | {b:.1f} | {b / q:.2f} |")
