"""Teacher-forced per-token logprobs of several texts: from transformers in fp32 on the same GGUF (the reference),
and from llama.cpp on the same file (the bar Tessera must meet, DESIGN 5 and 6). Token ids come from llama.cpp.

Usage: logprob_fixtures.py MODEL.gguf OUT.json
"""
import json
import os
import sys

import numpy as np
import torch
from llama_cpp import Llama
from transformers import AutoModelForCausalLM

TEXTS = [
    "The capital of France is Paris. It is known for the Eiffel Tower, the Louvre museum, and its cafés.",
    "<|im_start|>user\nWhat is 17 times 23?<|im_end|>\n<|im_start|>assistant\n17 times 23 is 391.<|im_end|>\n",
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n\nprint(fibonacci(10))\n",
    "In 1969, Neil Armstrong became the first person to walk on the Moon. Millions watched the landing on television.",
    "Photosynthesis converts light energy into chemical energy: 6CO2 + 6H2O -> C6H12O6 + 6O2.",
    "Xin chào! Hôm nay trời đẹp quá. 今天天气很好。 Привет, как дела? 😀🎉",
    "Once upon a time, in a small village by the sea, there lived an old fisherman who told stories every evening. "
    "The children gathered around him, listening to tales of storms, lost ships, and the strange lights that "
    "sometimes danced on the water at night.",
    '{"name": "Tessera", "version": "0.1.0", "features": ["lora", "dora", "prefix"], "cpu": true}',
]

model_path, out = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
vocab = Llama(model_path=model_path, vocab_only=True, verbose=False)
hf = AutoModelForCausalLM.from_pretrained(
    os.path.dirname(os.path.abspath(model_path)), gguf_file=os.path.basename(model_path), dtype=torch.float32)
hf.eval()
cpp = Llama(model_path=model_path, n_ctx=1024, n_threads=2, logits_all=True, verbose=False)


def logprobs_from_logits(logits, ids):
    logits = np.asarray(logits, dtype=np.float64)
    m = logits.max(axis=-1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(logits - m).sum(axis=-1))
    return [float(logits[i, ids[i + 1]] - lse[i]) for i in range(len(ids) - 1)]


cases = []
for text in TEXTS:
    ids = vocab.tokenize(text.encode("utf-8"), add_bos=False, special=True)
    with torch.no_grad():
        ref = hf(torch.tensor([ids])).logits[0].double().numpy()
    cpp.reset()
    cpp.eval(ids)
    lc = np.array(cpp.scores[: len(ids)])
    ref_lp = logprobs_from_logits(ref, ids)
    cpp_lp = logprobs_from_logits(lc, ids)
    err = np.abs(np.array(ref_lp) - np.array(cpp_lp))
    print(f"{len(ids):4d} tokens  llama.cpp vs reference: mean {err.mean():.4f} max {err.max():.4f}")
    cases.append({"text": text, "tokens": ids, "reference": ref_lp, "llamacpp": cpp_lp})

with open(out, "w", encoding="utf-8") as f:
    json.dump({"model": os.path.basename(model_path), "cases": cases}, f, ensure_ascii=False)
