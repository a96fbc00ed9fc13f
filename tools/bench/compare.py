"""Tessera against llama.cpp's own benchmark programs on the same file, 2 threads, at each CPU level: `tessera bench
--json` with TESSERA_CPU=LEVEL against llama-bench (pp512, tg128) and llama-batched-bench (8 and 32 sequences,
128-token prompts, 128 new tokens each) built for that level (tools/bench/setup-llama), alternating for several
rounds because this machine's speed drifts from minute to minute; medians and Tessera/llama.cpp ratios.

Levels: avx2, and avx512 when the CPU has it (BENCH_LEVELS="avx2 avx512" chooses). With MIXED=1 (the default file's
run), also Tessera's decode of 32 requests with distinct adapters against its own base batch.

Usage: compare.py TESSERA_BINARY MODEL.gguf [ROUNDS]
"""
import json
import os
import statistics
import subprocess
import sys

tessera, model = sys.argv[1:3]
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
mixed = os.environ.get("MIXED", "0") == "1"
with open("/proc/cpuinfo") as f:
    has_avx512 = " avx512bw" in f.read()
levels = os.environ.get("BENCH_LEVELS", "avx2 avx512" if has_avx512 else "avx2").split()


def run(cmd, env=None):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout


def tessera_round(level):
    env = dict(os.environ, TESSERA_THREADS="2", TESSERA_CPU=level)
    cmd = [tessera, "bench", "--json", "--model", model, "--adapters", "0"]
    if not mixed:
        cmd += ["--mixed-sequences", "0"]
    r = json.loads(run(cmd, env).strip().splitlines()[-1])
    out = {"prefill 512 tokens": r["prefill_tokens_per_s"]}
    for n in ("1", "8", "32"):
        out[f"decode, {n} sequence{'s' if n != '1' else ''}"] = r["decode_tokens_per_s"][n]
    if mixed:
        m = r["mixed_adapter_decode_tokens_per_s"]
        out["r8 q/v LoRAs / base (32)"] = m["distinct_lora_r8_qv"] / m["base"]
        out["r16 all-linear LoRAs / base (32)"] = m["distinct_lora_r16_all"] / m["base"]
    return out, r["cpu"], r["activations"]


def llama_round(level):
    bin_dir = os.path.join(root, ".bench", f"llama-{level}")
    bench = json.loads(run([os.path.join(bin_dir, "llama-bench"), "-m", model, "-t", "2", "-p", "512", "-n", "128",
                            "-r", "2", "-o", "json"]))
    out = {}
    for row in bench:
        if row["n_prompt"] == 512:
            out["prefill 512 tokens"] = row["avg_ts"]
        elif row["n_gen"] == 128:
            out["decode, 1 sequence"] = row["avg_ts"]
    lines = run([os.path.join(bin_dir, "llama-batched-bench"), "-m", model, "-t", "2", "-c", "8448", "-b", "2048",
                 "-ub", "512", "-npp", "128", "-ntg", "128", "-npl", "8,32", "--output-format", "jsonl"])
    for line in lines.splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            out[f"decode, {row['pl']} sequences"] = row["speed_tg"]
    return out


summary = {}
for level in levels:
    tessera_runs, llama_runs = [], []
    for r in range(rounds):
        result, cpu, activations = tessera_round(level)
        tessera_runs.append(result)
        llama_runs.append(llama_round(level))
        print(f"{level}: round {r + 1}/{rounds} done", file=sys.stderr)
    print(f"\n{os.path.basename(model)}, tessera at {cpu} with {activations} activations against llama.cpp built "
          f"for {level} (2 threads, medians of {rounds})")
    print(f"{'tok/s':<34}{'tessera':>10}{'llama.cpp':>11}{'ratio':>8}")
    rows = {}
    for key in tessera_runs[0]:
        t = statistics.median(x[key] for x in tessera_runs)
        if key in llama_runs[0]:
            l = statistics.median(x[key] for x in llama_runs)
            rows[key] = {"tessera": t, "llama.cpp": l, "ratio": t / l}
            print(f"{key:<34}{t:>10.1f}{l:>11.1f}{t / l:>7.2f}x")
        else:
            rows[key] = {"tessera": t}
            print(f"{key:<34}{t:>10.2f}")
    summary[level] = {"cpu": cpu, "activations": activations, "figures": rows,
                      "runs": {"tessera": tessera_runs, "llama.cpp": llama_runs}}
with open(os.environ.get("BENCH_OUT", "/dev/null"), "w") as f:
    json.dump({"model": model, "levels": summary}, f, indent=1)
