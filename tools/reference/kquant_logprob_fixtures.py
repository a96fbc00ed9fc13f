"""Teacher-forced per-token logprobs from transformers in fp32 (the reference, DESIGN 5) on llama.cpp's standard
mixes of the default model (Q4_K_M, Q5_K_M, Q6_K, made by tools/bench/setup-llama with llama-quantize), over the token
ids of the default file's fixture (the same tokenizer: llama-quantize copies the vocabulary).

Usage: kquant_logprob_fixtures.py MODELS_DIR logprobs.json OUT.json
"""
import json
import os
import sys

import numpy as np
import torch
from transformers import AutoModelForCausalLM

models_dir, base_fixture, out = sys.argv[1:4]
with open(base_fixture, encoding="utf-8") as f:
    cases = json.load(f)["cases"]


def logprobs(logits, ids):
    logits = np.asarray(logits, dtype=np.float64)
    m = logits.max(axis=-1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(logits - m).sum(axis=-1))
    return [float(logits[i, ids[i + 1]] - lse[i]) for i in range(len(ids) - 1)]


files = {}
for kind in ("Q4_K_M", "Q5_K_M", "Q6_K"):
    name = f"SmolLM2-135M-Instruct.{kind}.gguf"
    hf = AutoModelForCausalLM.from_pretrained(models_dir, gguf_file=name, dtype=torch.float32)
    hf.eval()
    rows = []
    for c in cases:
        with torch.no_grad():
            ref = hf(torch.tensor([c["tokens"]])).logits[0].double().numpy()
        rows.append({"tokens": c["tokens"], "reference": logprobs(ref, c["tokens"])})
    files[kind] = {"model": name, "cases": rows}
    print(f"{kind}: {sum(len(r['reference']) for r in rows)} tokens")

with open(out, "w", encoding="utf-8") as f:
    json.dump({"files": files}, f)
